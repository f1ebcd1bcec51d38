/* mqtt_tree.c — presentation of a decoded MQTT packet (see mqtt_tree.h).
 *
 * The tree shows every field of the model at its bytes.  Findings are put
 * on the item that holds the offending bytes when there is one, otherwise
 * on an expert item of their own covering those bytes.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_tree.h"

#include <string.h>

#include <epan/expert.h>
#include <epan/strutil.h>
#include <epan/unit_strings.h>
#include <wsutil/to_str.h>

#include "mqtt_expert.h"
#include "mqtt_journey_tree.h"
#include "mqtt_payload.h"
#include "ws_compat.h"

static int proto_mqttlens = -1;

static int hf_hdrflags = -1;
static int hf_type = -1;
static int hf_dup = -1;
static int hf_qos = -1;
static int hf_retain = -1;
static int hf_flags = -1;
static int hf_length = -1;
static int hf_protocol_name = -1;
static int hf_version = -1;
static int hf_version_frame = -1;
static int hf_connect_flags = -1;
static int hf_cf_username = -1;
static int hf_cf_password = -1;
static int hf_cf_will_retain = -1;
static int hf_cf_will_qos = -1;
static int hf_cf_will = -1;
static int hf_cf_clean = -1;
static int hf_cf_reserved = -1;
static int hf_keepalive = -1;
static int hf_properties = -1;
static int hf_will_properties = -1;
static int hf_prop_length = -1;
static int hf_prop_id = -1;
static int hf_prop_undecoded = -1;
static int hf_user_property_key = -1;
static int hf_user_property_value = -1;
static int hf_clientid = -1;
static int hf_will_topic = -1;
static int hf_will_payload = -1;
static int hf_will_payload_text = -1;
static int hf_username = -1;
static int hf_password = -1;
static int hf_password_bytes = -1;
static int hf_string_length = -1;
static int hf_connack_flags = -1;
static int hf_session_present = -1;
static int hf_connack_reserved = -1;
static int hf_reason_code = -1;
static int hf_reason_name = -1;
/* mqttlens.reason_code once more per packet type that has codes, in 5.0
 * and in 3.1/3.1.1, each with the names its table gives the codes. */
static int hf_reason_v5[16];
static int hf_reason_v3[16];
static int hf_topic = -1;
static int hf_id = -1;
static int hf_payload = -1;
static int hf_payload_text = -1;
static int hf_filter = -1;
static int hf_sub_options = -1;
static int hf_sub_requested_qos = -1;
static int hf_sub_qos = -1;
static int hf_sub_no_local = -1;
static int hf_sub_rap = -1;
static int hf_sub_retain_handling = -1;
static int hf_sub_reserved = -1;
static int hf_sub_reserved_v311 = -1;
static int hf_undecoded = -1;
static int hf_response_in = -1;
static int hf_response_to = -1;
static int hf_response_time = -1;
static int hf_flow_start = -1;
static int hf_flow_time = -1;
static int hf_retransmission_of = -1;
static int hf_alias_frame = -1;
static int hf_client_idle = -1;

/* One typed field per 5.0 property, indexed like mqtt_props[]. */
static int *hf_prop;

static gint ett_mqtt = -1;
static gint ett_hdrflags = -1;
static gint ett_connect_flags = -1;
static gint ett_connack_flags = -1;
static gint ett_props = -1;
static gint ett_prop = -1;
static gint ett_string = -1;
static gint ett_filter = -1;
static gint ett_sub_options = -1;
static gint ett_will = -1;

/* Filled in from the specification's tables at registration. */
static value_string type_vals[16 + 1];
static value_string version_vals[5 + 1];

static const value_string qos_vals[] = {
    {0, "At most once delivery (QoS 0)"},
    {1, "At least once delivery (QoS 1)"},
    {2, "Exactly once delivery (QoS 2)"},
    {3, "Reserved (QoS 3)"},
    {0, NULL}};

static const value_string retain_handling_vals[] = {
    {0, "Send retained messages at subscribe"},
    {1, "Send retained messages only for a new subscription"},
    {2, "Do not send retained messages"},
    {3, "Reserved"},
    {0, NULL}};

/* ---- the context of one packet's presentation ---------------------------- */

typedef struct {
    mqtt_span_t span;
    proto_item *item;
} placed_t;

typedef struct {
    tvbuff_t *tvb;
    packet_info *pinfo;
    const mqtt_pkt_t *pkt;
    const mqtt_snapshot_t *snap;
    const mqtt_view_t *view;
    const mqtt_tree_prefs_t *prefs;
    placed_t *placed;
    unsigned nplaced;
    unsigned capplaced;
} ctx_t;

/* Remembers that `item` shows the bytes of `span`, so that a finding about
 * exactly those bytes can be put on it. */
static void place(ctx_t *c, mqtt_span_t span, proto_item *item)
{
    if (!item)
        return;
    if (c->nplaced == c->capplaced) {
        c->capplaced = c->capplaced ? c->capplaced * 2 : 8;
        c->placed = wmem_realloc(c->view->scratch, c->placed, c->capplaced * sizeof *c->placed);
    }
    c->placed[c->nplaced++] = (placed_t){span, item};
}

static proto_item *placed_item(const ctx_t *c, mqtt_span_t span)
{
    for (unsigned i = c->nplaced; i-- > 0;)
        if (c->placed[i].span.off == span.off && c->placed[i].span.len == span.len)
            return c->placed[i].item;
    return NULL;
}

/* Whether item labels are shown (-V, the GUI's details): Wireshark keeps
 * labels only then, so text made only for a label is not made otherwise. */
static bool labels_shown(const proto_tree *tree)
{
    return tree && PTREE_DATA(tree)->visible;
}

/* Whether an item of field `hf` added under `tree` keeps its value: the
 * tree is shown, a filter or a field extraction refers to the field, or
 * the tree is the root (whose children Wireshark never fakes).  Otherwise
 * proto_tree_add_*() ignores the value, so it need not be made. */
static bool kept(const proto_tree *tree, int hf)
{
    if (!tree)
        return false;
    if (PTREE_DATA(tree)->visible || !PTREE_FINFO(tree))
        return true;
    return proto_registrar_get_nth((guint)hf)->ref_type != HF_REF_TYPE_NONE;
}

static bool present(const mqtt_str_t *s)
{
    return (s->flags & MQTT_STR_PRESENT) != 0;
}

char *mqtt_str_value(wmem_allocator_t *mem, tvbuff_t *tvb, const mqtt_str_t *s)
{
    char *text = mqtt_str_text(mem, s);
    if (text)
        return text;
    return (char *)tvb_get_string_enc(mem, tvb, (int)s->data.off, (int)s->data.len, ENC_UTF_8);
}

static char *str_value(const ctx_t *c, const mqtt_str_t *s)
{
    return mqtt_str_value(c->view->scratch, c->tvb, s);
}

/* A string's value with unprintable characters escaped, for labels. */
static const char *printable(const ctx_t *c, const mqtt_str_t *s)
{
    const char *v = str_value(c, s);
    return ws_compat_format_text(c->view->scratch, v, strlen(v));
}

/* A UTF-8 Encoded String: one item over length and data, the length below. */
static proto_item *add_str(ctx_t *c, proto_tree *tree, int hf, const mqtt_str_t *s, const char *shown)
{
    if (!present(s))
        return NULL;
    proto_item *item = proto_tree_add_string(tree, hf, c->tvb, (int)s->field.off, (int)s->field.len,
                                             shown ? shown : kept(tree, hf) ? str_value(c, s) : "");
    proto_tree *sub = proto_item_add_subtree(item, ett_string);
    proto_tree_add_item(sub, hf_string_length, c->tvb, (int)s->field.off, 2, ENC_BIG_ENDIAN);
    place(c, s->field, item);
    place(c, s->data, item);
    return item;
}

/* Binary Data: the value is the data, the item spans length and data. */
static proto_item *add_bin(ctx_t *c, proto_tree *tree, int hf, const mqtt_str_t *s)
{
    if (!present(s))
        return NULL;
    proto_item *item = proto_tree_add_bytes_with_length(tree, hf, c->tvb, (int)s->field.off,
                                                        (int)s->field.len, s->bytes, (int)s->data.len);
    proto_tree *sub = proto_item_add_subtree(item, ett_string);
    proto_tree_add_item(sub, hf_string_length, c->tvb, (int)s->field.off, 2, ENC_BIG_ENDIAN);
    place(c, s->field, item);
    place(c, s->data, item);
    return item;
}

/* Whether bytes read as text: well-formed UTF-8 without U+0000 (the scan
 * stops at the first byte that is not). */
static bool is_text(const uint8_t *p, uint32_t len)
{
    return !(mqtt_utf8_scan(p, len, MQTT_UTF8_BAD | MQTT_UTF8_NUL) & (MQTT_UTF8_BAD | MQTT_UTF8_NUL));
}

/* A text view of bytes that are well-formed UTF-8. */
static void add_text_view(ctx_t *c, proto_tree *tree, int hf, mqtt_span_t data)
{
    if (data.len == 0 || c->pkt->capture_short || !kept(tree, hf))
        return;
    if (!is_text(c->pkt->raw + data.off, data.len))
        return;
    proto_tree_add_item(tree, hf, c->tvb, (int)data.off, (int)data.len, ENC_UTF_8);
}

/* ---- properties ---------------------------------------------------------- */

static int prop_hf(const mqtt_prop_spec_t *spec)
{
    return hf_prop[spec - mqtt_props];
}

static const char *prop_value_text(ctx_t *c, const mqtt_prop_t *p)
{
    wmem_allocator_t *pool = c->view->scratch;
    switch (p->spec->type) {
    case MQTT_PT_UTF8:
        return wmem_strdup_printf(pool, "\"%s\"", printable(c, &p->str));
    case MQTT_PT_BINARY:
        return wmem_strdup_printf(pool, "%u bytes: %s", p->str.data.len,
                                  bytes_to_str_maxlen(pool, p->str.bytes, p->str.data.len, 24));
    case MQTT_PT_PAIR:
        return wmem_strdup_printf(pool, "\"%s\" = \"%s\"",
                                  printable(c, &p->str), printable(c, &p->str2));
    default:
        if (p->id == MQTT_PROP_SESSION_EXPIRY_INTERVAL && p->num == 0xFFFFFFFFu)
            return "4294967295 (never expires)";
        if (p->id == MQTT_PROP_PAYLOAD_FORMAT_INDICATOR)
            return wmem_strdup_printf(pool, "%u (%s)", p->num,
                                      p->num == 0 ? "unspecified bytes"
                                      : p->num == 1 ? "UTF-8 encoded character data" : "undefined");
        return wmem_strdup_printf(pool, "%u", p->num);
    }
}

static proto_item *add_prop_value(ctx_t *c, proto_tree *tree, const mqtt_prop_t *p)
{
    int hf = prop_hf(p->spec);
    int off = (int)p->span.off, len = (int)p->span.len;
    switch (p->spec->type) {
    case MQTT_PT_UTF8:
        return proto_tree_add_string(tree, hf, c->tvb, off, len, kept(tree, hf) ? str_value(c, &p->str) : "");
    case MQTT_PT_BINARY:
        return proto_tree_add_bytes_with_length(tree, hf, c->tvb, off, len, p->str.bytes,
                                                (int)p->str.data.len);
    case MQTT_PT_PAIR:
        return proto_tree_add_item(tree, hf, c->tvb, off, len, ENC_NA);
    default:
        return proto_tree_add_uint(tree, hf, c->tvb, off, len, p->num);
    }
}

static void add_prop(ctx_t *c, proto_tree *tree, const mqtt_prop_t *p)
{
    proto_item *item = add_prop_value(c, tree, p);
    if (labels_shown(tree))
        proto_item_set_text(item, "%s (0x%02x): %s", p->spec->name, p->id, prop_value_text(c, p));
    proto_tree *sub = proto_item_add_subtree(item, ett_prop);
    proto_tree_add_uint(sub, hf_prop_id, c->tvb, (int)p->id_span.off, (int)p->id_span.len, p->id);
    if (p->spec->type == MQTT_PT_PAIR) {
        add_str(c, sub, hf_user_property_key, &p->str, NULL);
        add_str(c, sub, hf_user_property_value, &p->str2, NULL);
    } else if (p->spec->type == MQTT_PT_UTF8 || p->spec->type == MQTT_PT_BINARY) {
        proto_tree_add_item(sub, hf_string_length, c->tvb, (int)p->str.field.off, 2, ENC_BIG_ENDIAN);
    }
    place(c, p->span, item);
    place(c, p->value_span, item);
}

static void add_props(ctx_t *c, proto_tree *tree, int hf, const mqtt_props_t *props)
{
    if (!props->present)
        return;
    mqtt_span_t all = {props->len_span.off, props->len_span.len + props->span.len};
    proto_item *item = proto_tree_add_item(tree, hf, c->tvb, (int)all.off, (int)all.len, ENC_NA);
    proto_item_append_text(item, " (%u)", props->count);
    proto_tree *sub = proto_item_add_subtree(item, ett_props);
    proto_item *len_item = proto_tree_add_uint(sub, hf_prop_length, c->tvb, (int)props->len_span.off,
                                               (int)props->len_span.len, props->length);
    place(c, props->len_span, len_item);
    for (uint32_t i = 0; i < props->count; i++)
        add_prop(c, sub, &props->items[i]);
    if (props->stopped && props->undecoded.len)
        place(c, props->undecoded,
              proto_tree_add_item(sub, hf_prop_undecoded, c->tvb, (int)props->undecoded.off,
                                  (int)props->undecoded.len, ENC_NA));
}

/* ---- reason codes ------------------------------------------------------------ */

/* The name of a code in packet `type` at protocol level `version`, NULL
 * when its table has none. */
static const char *reason_name(unsigned version, unsigned type, uint8_t code)
{
    if (version == MQTT_V5)
        return mqtt_reason_name(code, type);
    if (type == MQTT_CONNACK)
        return mqtt_v3_connack_name(code);
    return type == MQTT_SUBACK ? mqtt_v3_suback_name(code) : NULL;
}

const char *mqtt_reason_text(unsigned version, unsigned type, uint8_t code)
{
    const char *name = reason_name(version, type, code);
    return name ? name : "Unknown";
}

/* 3.1.1's return code names say "Connection Refused" themselves (Table
 * 3.1): after "refused:" only the rest of the name is said. */
const char *mqtt_refusal_text(unsigned version, uint8_t code)
{
    static const char said[] = "Connection Refused: ";
    const char *name = mqtt_reason_text(version, MQTT_CONNACK, code);
    return version != MQTT_V5 && g_str_has_prefix(name, said) ? name + strlen(said) : name;
}

/* The registration of mqttlens.reason_code whose value names are the
 * packet's type's, at its version. */
static int reason_field(unsigned version, unsigned type)
{
    int hf = (version == MQTT_V5 ? hf_reason_v5 : hf_reason_v3)[type & 0x0F];
    return hf > 0 ? hf : hf_reason_code;
}

/* The code's name as a hidden field, for -T fields and filters (a custom
 * column of mqttlens.reason_code shows it too). */
static void add_reason_name(ctx_t *c, proto_tree *tree, uint8_t code, uint32_t off, uint32_t len)
{
    if (!kept(tree, hf_reason_name))
        return;
    const mqtt_pkt_t *pkt = c->pkt;
    proto_item *item = proto_tree_add_string(tree, hf_reason_name, c->tvb, (int)off, (int)len,
                                             mqtt_reason_text(pkt->version, pkt->type, code));
    proto_item_set_hidden(item);
    if (!len)
        proto_item_set_generated(item);
}

static proto_item *add_reason(ctx_t *c, proto_tree *tree, uint8_t code, uint32_t off)
{
    const mqtt_pkt_t *pkt = c->pkt;
    const char *label = pkt->version == MQTT_V5 ? "Reason Code"
                        : pkt->type == MQTT_CONNACK ? "Return Code"
                                                    : "Granted QoS / Return Code";
    proto_item *item = proto_tree_add_uint_format(tree, reason_field(pkt->version, pkt->type), c->tvb, (int)off, 1,
                                                  code, "%s: %s (0x%02x)", label,
                                                  mqtt_reason_text(pkt->version, pkt->type, code), code);
    place(c, (mqtt_span_t){off, 1}, item);
    add_reason_name(c, tree, code, off, 1);
    return item;
}

/* ---- packet types ---------------------------------------------------------------- */

static void add_fixed_header(ctx_t *c, proto_tree *tree)
{
    const mqtt_pkt_t *pkt = c->pkt;
    proto_item *item = proto_tree_add_item(tree, hf_hdrflags, c->tvb, 0, 1, ENC_NA);
    proto_tree *sub = proto_item_add_subtree(item, ett_hdrflags);
    proto_tree_add_item(sub, hf_type, c->tvb, 0, 1, ENC_NA);
    if (pkt->type == MQTT_PUBLISH) {
        proto_tree_add_item(sub, hf_dup, c->tvb, 0, 1, ENC_NA);
        proto_tree_add_item(sub, hf_qos, c->tvb, 0, 1, ENC_NA);
        proto_tree_add_item(sub, hf_retain, c->tvb, 0, 1, ENC_NA);
    } else {
        proto_tree_add_item(sub, hf_flags, c->tvb, 0, 1, ENC_NA);
    }
    place(c, (mqtt_span_t){0, 1}, item);
    if (pkt->rl_span.len && pkt->total_len > pkt->rl_span.len) {
        proto_item *rl = proto_tree_add_uint(tree, hf_length, c->tvb, (int)pkt->rl_span.off,
                                             (int)pkt->rl_span.len, pkt->remaining_length);
        place(c, pkt->rl_span, rl);
    }
}

static void add_connect_flags(ctx_t *c, proto_tree *tree)
{
    static int *const bits[] = {&hf_cf_username, &hf_cf_password, &hf_cf_will_retain,
                                &hf_cf_will_qos, &hf_cf_will, &hf_cf_clean, &hf_cf_reserved, NULL};
    const mqtt_pkt_t *pkt = c->pkt;
    if (!pkt->connect_flags_span.len)
        return;
    proto_item *item = proto_tree_add_bitmask(tree, c->tvb, (int)pkt->connect_flags_span.off,
                                              hf_connect_flags, ett_connect_flags, bits, ENC_NA);
    place(c, pkt->connect_flags_span, item);
}

static void add_password(ctx_t *c, proto_tree *tree)
{
    const mqtt_str_t *pw = &c->pkt->password;
    if (!present(pw))
        return;
    bool text = is_text(pw->bytes, pw->data.len);
    if (c->prefs->mask_passwords) {
        add_str(c, tree, hf_password, pw, "********");
        return;
    }
    add_str(c, tree, hf_password, pw, NULL);
    if (!text)
        add_bin(c, tree, hf_password_bytes, pw);
}

static void add_connect(ctx_t *c, proto_tree *tree)
{
    const mqtt_pkt_t *pkt = c->pkt;
    add_str(c, tree, hf_protocol_name, &pkt->protocol_name, NULL);
    if (pkt->level_span.len)
        place(c, pkt->level_span,
              proto_tree_add_uint(tree, hf_version, c->tvb, (int)pkt->level_span.off, 1, pkt->level));
    add_connect_flags(c, tree);
    if (pkt->keepalive_span.len)
        place(c, pkt->keepalive_span,
              proto_tree_add_uint(tree, hf_keepalive, c->tvb, (int)pkt->keepalive_span.off, 2,
                                  pkt->keepalive));
    add_props(c, tree, hf_properties, &pkt->props);
    add_str(c, tree, hf_clientid, &pkt->client_id, NULL);
    if (pkt->connect_flags & MQTT_CF_WILL) {
        add_props(c, tree, hf_will_properties, &pkt->will_props);
        add_str(c, tree, hf_will_topic, &pkt->will_topic, NULL);
        proto_item *wp = add_bin(c, tree, hf_will_payload, &pkt->will_payload);
        if (wp)
            add_text_view(c, proto_item_get_subtree(wp), hf_will_payload_text, pkt->will_payload.data);
    }
    add_str(c, tree, hf_username, &pkt->username, NULL);
    add_password(c, tree);
}

static void add_connack(ctx_t *c, proto_tree *tree)
{
    static int *const bits[] = {&hf_connack_reserved, &hf_session_present, NULL};
    const mqtt_pkt_t *pkt = c->pkt;
    if (pkt->ack_flags_span.len)
        place(c, pkt->ack_flags_span,
              proto_tree_add_bitmask(tree, c->tvb, (int)pkt->ack_flags_span.off, hf_connack_flags,
                                     ett_connack_flags, bits, ENC_NA));
    if (pkt->has_reason)
        add_reason(c, tree, pkt->reason, pkt->reason_span.off);
    add_props(c, tree, hf_properties, &pkt->props);
}

static void add_packet_id(ctx_t *c, proto_tree *tree)
{
    const mqtt_pkt_t *pkt = c->pkt;
    if (pkt->has_packet_id)
        place(c, pkt->packet_id_span,
              proto_tree_add_uint(tree, hf_id, c->tvb, (int)pkt->packet_id_span.off, 2, pkt->packet_id));
}

static void add_publish(ctx_t *c, proto_tree *tree)
{
    const mqtt_pkt_t *pkt = c->pkt;
    add_str(c, tree, hf_topic, &pkt->topic, NULL);
    add_packet_id(c, tree);
    add_props(c, tree, hf_properties, &pkt->props);
    if (!pkt->topic.field.len || (pkt->version == MQTT_V5 && !pkt->props.present))
        return;
    if (pkt->payload.len == 0) {
        proto_tree_add_bytes_format_value(tree, hf_payload, c->tvb, (int)pkt->payload.off, 0, NULL,
                                          "(empty)");
        return;
    }
    proto_item *item = proto_tree_add_item(tree, hf_payload, c->tvb, (int)pkt->payload.off,
                                           (int)pkt->payload.len, ENC_NA);
    place(c, pkt->payload, item);
    add_text_view(c, tree, hf_payload_text, pkt->payload);
    if (!pkt->capture_short)
        mqtt_payload_dissect(tvb_new_subset_length(c->tvb, (int)pkt->payload.off, (int)pkt->payload.len), c->pinfo,
                             tree, c->view->topic, c->view->content_type);
}

/* 5.0 lets acks, DISCONNECT and AUTH leave the Reason Code out when it is
 * 0x00 (§3.4.2.1, §3.14.2.1, §3.15.2.1): show the value it stands for. */
static void add_omitted_reason(ctx_t *c, proto_tree *tree)
{
    const mqtt_pkt_t *pkt = c->pkt;
    if (!mqtt_pkt_reason_implied(pkt))
        return;
    proto_item *item = proto_tree_add_uint_format(tree, reason_field(MQTT_V5, pkt->type), c->tvb, 0, 0, 0,
                                                  "Reason Code: %s (0x00) (omitted, implied by the "
                                                  "Remaining Length)",
                                                  mqtt_reason_text(MQTT_V5, pkt->type, 0));
    proto_item_set_generated(item);
    add_reason_name(c, tree, 0, 0, 0);
}

static void add_ack(ctx_t *c, proto_tree *tree)
{
    const mqtt_pkt_t *pkt = c->pkt;
    add_packet_id(c, tree);
    if (pkt->has_reason)
        add_reason(c, tree, pkt->reason, pkt->reason_span.off);
    else
        add_omitted_reason(c, tree);
    add_props(c, tree, hf_properties, &pkt->props);
}

/* 5.0: the Subscription Options byte (§3.8.3.1); 3.1 and 3.1.1: the
 * Requested QoS byte, whose upper 6 bits are reserved [MQTT-3.8.3-4].
 * Both are mqttlens.sub.options and mqttlens.sub.reserved, labelled as
 * their version names them. */
static void add_sub_options(ctx_t *c, proto_tree *tree, const mqtt_filter_t *f)
{
    bool v5 = c->pkt->version == MQTT_V5;
    int off = (int)f->options_span.off;
    proto_item *item = proto_tree_add_item(tree, v5 ? hf_sub_options : hf_sub_requested_qos, c->tvb, off, 1, ENC_NA);
    proto_tree *sub = proto_item_add_subtree(item, ett_sub_options);
    proto_tree_add_item(sub, hf_sub_qos, c->tvb, off, 1, ENC_NA);
    if (v5) {
        proto_tree_add_item(sub, hf_sub_no_local, c->tvb, off, 1, ENC_NA);
        proto_tree_add_item(sub, hf_sub_rap, c->tvb, off, 1, ENC_NA);
        proto_tree_add_item(sub, hf_sub_retain_handling, c->tvb, off, 1, ENC_NA);
    }
    proto_tree_add_uint(sub, v5 ? hf_sub_reserved : hf_sub_reserved_v311, c->tvb, off, 1,
                        f->options & (v5 ? MQTT_SO_RESERVED_MASK : MQTT_SO_RESERVED_V311_MASK));
    place(c, f->options_span, item);
}

static void add_filters(ctx_t *c, proto_tree *tree)
{
    const mqtt_pkt_t *pkt = c->pkt;
    add_packet_id(c, tree);
    add_props(c, tree, hf_properties, &pkt->props);
    for (uint32_t i = 0; i < pkt->filter_count; i++) {
        const mqtt_filter_t *f = &pkt->filters[i];
        proto_item *item = add_str(c, tree, hf_filter, &f->filter, NULL);
        if (f->has_options) {
            proto_item_set_len(item, (int)(f->filter.field.len + 1));
            proto_item_append_text(item, " (QoS %u)", MQTT_SO_QOS(f->options));
            add_sub_options(c, proto_item_get_subtree(item), f);
        }
    }
}

static void add_codes(ctx_t *c, proto_tree *tree)
{
    const mqtt_pkt_t *pkt = c->pkt;
    add_packet_id(c, tree);
    add_props(c, tree, hf_properties, &pkt->props);
    for (uint32_t i = 0; i < pkt->code_count; i++)
        add_reason(c, tree, pkt->codes[i].code, pkt->codes[i].off);
}

static void add_reason_props(ctx_t *c, proto_tree *tree)
{
    const mqtt_pkt_t *pkt = c->pkt;
    if (pkt->has_reason)
        add_reason(c, tree, pkt->reason, pkt->reason_span.off);
    else
        add_omitted_reason(c, tree);
    add_props(c, tree, hf_properties, &pkt->props);
}

static void add_body(ctx_t *c, proto_tree *tree)
{
    switch (c->pkt->type) {
    case MQTT_CONNECT: add_connect(c, tree); break;
    case MQTT_CONNACK: add_connack(c, tree); break;
    case MQTT_PUBLISH: add_publish(c, tree); break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP: add_ack(c, tree); break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE: add_filters(c, tree); break;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK: add_codes(c, tree); break;
    case MQTT_DISCONNECT:
    case MQTT_AUTH: add_reason_props(c, tree); break;
    default: break;
    }
}

/* Bytes no field covers: reserved packet types, or what follows a field
 * that could not be decoded. */
static void add_undecoded(ctx_t *c, proto_tree *tree)
{
    const mqtt_pkt_t *pkt = c->pkt;
    uint32_t header = 1 + pkt->rl_span.len;
    int captured = tvb_captured_length(c->tvb);
    const mqtt_type_spec_t *ts = mqtt_type_spec(pkt->type);
    bool reserved = pkt->version == MQTT_V5 ? !ts->dir_v5 : !ts->dir_v3;
    if (reserved && captured > (int)header)
        proto_tree_add_item(tree, hf_undecoded, c->tvb, (int)header, captured - (int)header, ENC_NA);
}

/* ---- connection context ---------------------------------------------------------- */

static const char *version_source_text(wmem_allocator_t *pool, const mqtt_snapshot_t *snap)
{
    switch ((enum mqtt_version_source)snap->version_source) {
    case MQTT_VS_CONNECT:
        return wmem_strdup_printf(pool, "from the CONNECT in frame %u", mqtt_snapshot_version_frame(snap));
    case MQTT_VS_INFERRED:
        return wmem_strdup_printf(pool, "inferred from the bytes of frame %u", mqtt_snapshot_version_frame(snap));
    case MQTT_VS_THIS:
        return "inferred from this packet's bytes";
    case MQTT_VS_DEFAULT:
        break;
    }
    return "CONNECT not seen; assumed from the \"Default version\" preference";
}

static proto_item *add_generated_frame(ctx_t *c, proto_tree *tree, int hf, uint32_t frame)
{
    proto_item *item = proto_tree_add_uint(tree, hf, c->tvb, 0, 0, frame);
    proto_item_set_generated(item);
    return item;
}

static proto_item *add_generated_time(ctx_t *c, proto_tree *tree, int hf, const nstime_t *t)
{
    proto_item *item = proto_tree_add_time(tree, hf, c->tvb, 0, 0, t);
    proto_item_set_generated(item);
    return item;
}

/* Who the connection is: version, client id, user name, repeated on every
 * packet so that a filter on them selects the whole conversation. */
static void add_identity(ctx_t *c, proto_tree *tree)
{
    const mqtt_snapshot_t *snap = c->snap;
    proto_item *item;
    if (c->pkt->type == MQTT_CONNECT)
        return;
    item = proto_tree_add_uint(tree, hf_version, c->tvb, 0, 0, snap->version);
    if (labels_shown(tree))
        proto_item_append_text(item, " (%s)", version_source_text(c->view->scratch, snap));
    proto_item_set_generated(item);
    if (mqtt_snapshot_version_frame(snap))
        add_generated_frame(c, tree, hf_version_frame, mqtt_snapshot_version_frame(snap));
    if (snap->who && snap->who->client_id) {
        item = proto_tree_add_string(tree, hf_clientid, c->tvb, 0, 0, ws_compat_utf8_value(c->view->scratch, snap->who->client_id));
        proto_item_set_generated(item);
    }
    if (snap->who && snap->who->username) {
        item = proto_tree_add_string(tree, hf_username, c->tvb, 0, 0, ws_compat_utf8_value(c->view->scratch, snap->who->username));
        proto_item_set_generated(item);
    }
}

/* Which packet this one answers, which answers it, and how long it took. */
static void add_links(ctx_t *c, proto_tree *tree)
{
    const mqtt_snapshot_t *snap = c->snap;
    const mqtt_snapshot_extra_t *x = mqtt_snapshot_extra(snap);
    if (x->retransmission_of)
        add_generated_frame(c, tree, hf_retransmission_of, x->retransmission_of);
    if (snap->response_in)
        add_generated_frame(c, tree, hf_response_in, snap->response_in);
    if (snap->response_to) {
        add_generated_frame(c, tree, hf_response_to, snap->response_to);
        add_generated_time(c, tree, hf_response_time, &c->view->response_time);
    }
    if (x->flow_start) {
        add_generated_frame(c, tree, hf_flow_start, x->flow_start);
        add_generated_time(c, tree, hf_flow_time, &c->view->flow_time);
    }
}

static void add_alias(ctx_t *c, proto_tree *tree)
{
    const mqtt_snapshot_t *snap = c->snap;
    const mqtt_snapshot_extra_t *x = mqtt_snapshot_extra(snap);
    if (x->alias_topic) {
        proto_item *item = proto_tree_add_string(tree, hf_topic, c->tvb, 0, 0, ws_compat_utf8_value(c->view->scratch, x->alias_topic));
        proto_item_append_text(item, " (Topic Alias %u)", x->alias);
        proto_item_set_generated(item);
    }
    if (x->alias_frame && x->alias_frame != snap->frame)
        add_generated_frame(c, tree, hf_alias_frame, x->alias_frame);
}

static void add_context(ctx_t *c, proto_tree *tree)
{
    add_alias(c, tree);
    add_links(c, tree);
    if (c->snap->prev_client_frame)
        add_generated_time(c, tree, hf_client_idle, &c->view->client_idle);
    add_identity(c, tree);
}

/* ---- entry points ------------------------------------------------------------------ */

/* Findings about a login name the client; the connection's identity is
 * in the snapshot, so the detail is written here rather than stored. */
static const char *identity_detail(ctx_t *c, enum mqtt_rule rule)
{
    const mqtt_identity_t *who = c->snap->who;
    const char *id = who && who->client_id ? who->client_id : "?";
    if (rule == MQTT_R_ANONYMOUS_ACCEPTED)
        return wmem_strdup_printf(c->view->scratch, "client id \"%s\"", id);
    if (who && who->username)
        return wmem_strdup_printf(c->view->scratch, "client id \"%s\", user name \"%s\"", id, who->username);
    return wmem_strdup_printf(c->view->scratch, "client id \"%s\", user name (none)", id);
}

static void report_list(ctx_t *c, proto_tree *tree, const mqtt_findings_t *fs)
{
    for (uint32_t i = 0; i < fs->count; i++) {
        mqtt_finding_t f = fs->items[i];
        if (!f.detail && (f.rule == MQTT_R_AUTH_FAILED || f.rule == MQTT_R_ANONYMOUS_ACCEPTED))
            f.detail = identity_detail(c, (enum mqtt_rule)f.rule);
        mqtt_expert_report(c->pinfo, tree, placed_item(c, f.span), c->tvb, 0, &f, c->pkt->version);
    }
}

static void report_findings(ctx_t *c, proto_tree *tree)
{
    report_list(c, tree, &c->pkt->findings);
    report_list(c, tree, &mqtt_snapshot_extra(c->snap)->findings);
    if (c->view->settled)
        report_list(c, tree, c->view->settled);
}

void mqtt_tree_add(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const mqtt_pkt_t *pkt,
                   const mqtt_view_t *view, const mqtt_tree_prefs_t *tree_prefs)
{
    ctx_t c = {tvb, pinfo, pkt, view->snap, view, tree_prefs, NULL, 0, 0};
    proto_item *ti = proto_tree_add_item(tree, proto_mqttlens, tvb, 0, -1, ENC_NA);
    if (labels_shown(tree))
        proto_item_append_text(ti, ", %s", view->info ? view->info : mqtt_info_line(view->scratch, pkt, view->snap, tree_prefs));
    proto_tree *sub = proto_item_add_subtree(ti, ett_mqtt);
    add_fixed_header(&c, sub);
    add_body(&c, sub);
    add_undecoded(&c, sub);
    add_context(&c, sub);
    mqtt_journey_tree_add(tvb, pinfo, sub, &view->journey, pkt->version);
    report_findings(&c, sub);
}

/* ---- Info column ----------------------------------------------------------------- */

static void info_str(wmem_strbuf_t *b, const mqtt_str_t *s)
{
    if (!present(s)) {
        wmem_strbuf_append(b, "?");
        return;
    }
    wmem_strbuf_append_c(b, '"');
    for (uint32_t i = 0; i < s->data.len && i < 64; i++) {
        uint8_t ch = s->bytes[i];
        if (ch >= 0x20 && ch != 0x7F && ch != '"' && ch != '\\')
            wmem_strbuf_append_c(b, (char)ch);
        else
            wmem_strbuf_append_printf(b, "\\x%02x", ch);
    }
    if (s->data.len > 64)
        wmem_strbuf_append(b, "...");
    wmem_strbuf_append_c(b, '"');
}

static void info_reason(wmem_strbuf_t *b, const mqtt_pkt_t *pkt, uint8_t code)
{
    wmem_strbuf_append_printf(b, "%s (0x%02x)", mqtt_reason_text(pkt->version, pkt->type, code), code);
}

static void info_filters(wmem_strbuf_t *b, const mqtt_pkt_t *pkt)
{
    wmem_strbuf_append(b, " [");
    for (uint32_t i = 0; i < pkt->filter_count && i < 8; i++) {
        if (i)
            wmem_strbuf_append(b, ", ");
        info_str(b, &pkt->filters[i].filter);
        if (pkt->filters[i].has_options)
            wmem_strbuf_append_printf(b, " QoS %u", MQTT_SO_QOS(pkt->filters[i].options));
    }
    if (pkt->filter_count > 8)
        wmem_strbuf_append_printf(b, ", ... %u filters", pkt->filter_count);
    wmem_strbuf_append_c(b, ']');
}

static void info_codes(wmem_strbuf_t *b, const mqtt_pkt_t *pkt)
{
    if (!pkt->code_count)
        return;
    wmem_strbuf_append(b, " [");
    for (uint32_t i = 0; i < pkt->code_count && i < 8; i++) {
        uint8_t code = pkt->codes[i].code;
        if (i)
            wmem_strbuf_append(b, ", ");
        if (code < 0x80 && pkt->type == MQTT_SUBACK)
            wmem_strbuf_append_printf(b, "QoS %u", code);
        else if (code == 0 && pkt->type == MQTT_UNSUBACK)
            wmem_strbuf_append(b, "Success");
        else
            info_reason(b, pkt, code);
    }
    if (pkt->code_count > 8)
        wmem_strbuf_append_printf(b, ", ... %u codes", pkt->code_count);
    wmem_strbuf_append_c(b, ']');
}

static void info_publish(wmem_strbuf_t *b, const mqtt_pkt_t *pkt, const mqtt_snapshot_t *snap)
{
    unsigned qos = MQTT_PUBLISH_QOS(pkt->flags);
    wmem_strbuf_append_printf(b, " QoS %u", qos);
    if (pkt->has_packet_id)
        wmem_strbuf_append_printf(b, " id=%u", pkt->packet_id);
    if (pkt->flags & MQTT_PUBLISH_DUP)
        wmem_strbuf_append(b, " DUP");
    if (pkt->flags & 0x01)
        wmem_strbuf_append(b, " RETAIN");
    wmem_strbuf_append(b, " ");
    info_str(b, &pkt->topic);
    const mqtt_prop_t *alias = mqtt_props_find(&pkt->props, MQTT_PROP_TOPIC_ALIAS);
    const char *resolved = snap ? mqtt_snapshot_extra(snap)->alias_topic : NULL;
    if (alias && resolved)
        wmem_strbuf_append_printf(b, " (alias %u = \"%s\")", alias->num, resolved);
    else if (alias)
        wmem_strbuf_append_printf(b, " (alias %u)", alias->num);
}

const char *mqtt_info_line(wmem_allocator_t *pool, const mqtt_pkt_t *pkt, const mqtt_snapshot_t *snap,
                           const mqtt_tree_prefs_t *tree_prefs)
{
    (void)tree_prefs;
    wmem_strbuf_t *b = wmem_strbuf_new(pool, mqtt_type_name(pkt->type));
    switch (pkt->type) {
    case MQTT_CONNECT:
        wmem_strbuf_append(b, " client_id=");
        info_str(b, &pkt->client_id);
        if (present(&pkt->username)) {
            wmem_strbuf_append(b, " user=");
            info_str(b, &pkt->username);
        }
        break;
    case MQTT_CONNACK:
        if (pkt->has_reason && pkt->reason != 0) {
            wmem_strbuf_append_printf(b, " refused: %s (0x%02x)", mqtt_refusal_text(pkt->version, pkt->reason),
                                      pkt->reason);
        } else if (pkt->has_reason) {
            wmem_strbuf_append(b, " accepted");
        }
        break;
    case MQTT_PUBLISH:
        info_publish(b, pkt, snap);
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        if (pkt->has_packet_id)
            wmem_strbuf_append_printf(b, " id=%u", pkt->packet_id);
        info_filters(b, pkt);
        break;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        if (pkt->has_packet_id)
            wmem_strbuf_append_printf(b, " id=%u", pkt->packet_id);
        info_codes(b, pkt);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        if (pkt->has_packet_id)
            wmem_strbuf_append_printf(b, " id=%u", pkt->packet_id);
        /* fall through */
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        if (pkt->has_reason && (pkt->reason != 0 || pkt->type == MQTT_AUTH)) {
            wmem_strbuf_append_c(b, ' ');
            info_reason(b, pkt, pkt->reason);
        }
        break;
    default:
        break;
    }
    return ws_compat_valid_text(pool, wmem_strbuf_finalize(b));
}

/* ---- registration ------------------------------------------------------------------ */

static void register_prop_fields(int proto)
{
    hf_register_info *hf = g_new0(hf_register_info, mqtt_props_count);
    hf_prop = g_new(int, mqtt_props_count);
    for (unsigned i = 0; i < mqtt_props_count; i++) {
        const mqtt_prop_spec_t *spec = &mqtt_props[i];
        enum ftenum ft = FT_UINT32;
        switch (spec->type) {
        case MQTT_PT_BYTE: ft = FT_UINT8; break;
        case MQTT_PT_TWO: ft = FT_UINT16; break;
        case MQTT_PT_FOUR:
        case MQTT_PT_VBI: ft = FT_UINT32; break;
        case MQTT_PT_UTF8: ft = FT_STRING; break;
        case MQTT_PT_BINARY: ft = FT_BYTES; break;
        case MQTT_PT_PAIR: ft = FT_NONE; break;
        }
        int display = (ft == FT_STRING || ft == FT_BYTES || ft == FT_NONE) ? BASE_NONE : BASE_DEC;
        hf_prop[i] = -1;
        hf_register_info row = {&hf_prop[i],
                                {spec->name, g_strconcat("mqttlens.prop.", spec->field, NULL), ft, display, NULL, 0,
                                 g_strdup_printf("5.0 property 0x%02x", spec->id), HFILL}};
        hf[i] = row;
    }
    proto_register_field_array(proto, hf, (int)mqtt_props_count);
}

/* The value names of one packet type's codes at one version, from the
 * specification's tables (the names the tree's labels use). */
static const value_string *reason_vals(unsigned version, unsigned type)
{
    value_string *vals = g_new0(value_string, 256 + 1);
    unsigned n = 0;
    for (unsigned code = 0; code < 256; code++) {
        const char *name = reason_name(version, type, (uint8_t)code);
        if (name)
            vals[n++] = (value_string){code, name};
    }
    return vals;
}

/* mqttlens.reason_code once per packet type with codes and version, each
 * with that table's names: a code's name depends on both (0x00 is
 * Success, Normal disconnection or Granted QoS 0; 0x04 is "Connection
 * Refused: bad user name or password" in a 3.1.1 CONNACK). */
static void register_reason_fields(int proto)
{
    static const unsigned v5_types[] = {MQTT_CONNACK, MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP,
                                        MQTT_SUBACK, MQTT_UNSUBACK, MQTT_DISCONNECT, MQTT_AUTH};
    static const unsigned v3_types[] = {MQTT_CONNACK, MQTT_SUBACK};
    const unsigned n5 = G_N_ELEMENTS(v5_types), n3 = G_N_ELEMENTS(v3_types);
    hf_register_info *hf = g_new0(hf_register_info, n5 + n3);
    for (unsigned i = 0; i < n5 + n3; i++) {
        bool v5 = i < n5;
        unsigned type = v5 ? v5_types[i] : v3_types[i - n5];
        int *id = v5 ? &hf_reason_v5[type] : &hf_reason_v3[type];
        *id = -1;
        hf_register_info row = {id,
                                {"Reason Code", "mqttlens.reason_code", FT_UINT8, BASE_HEX,
                                 VALS(reason_vals(v5 ? MQTT_V5 : MQTT_V311, type)), 0,
                                 g_strdup_printf("%s %s: reason / return code, named as in its table",
                                                 v5 ? "5.0" : "3.1/3.1.1", mqtt_type_name(type)),
                                 HFILL}};
        hf[i] = row;
    }
    proto_register_field_array(proto, hf, (int)(n5 + n3));
}

static const value_string *prop_id_vals(void)
{
    value_string *vals = g_new0(value_string, mqtt_props_count + 1);
    for (unsigned i = 0; i < mqtt_props_count; i++) {
        vals[i].value = mqtt_props[i].id;
        vals[i].strptr = mqtt_props[i].name;
    }
    return vals;
}

int mqtt_tree_password_field(void)
{
    return hf_password;
}

/* The value names of the packet type and version fields, from mqtt_spec.c. */
static void fill_names(void)
{
    for (unsigned t = 0; t < 16; t++)
        type_vals[t] = (value_string){t, mqtt_type_name(t)};
    static const unsigned levels[] = {MQTT_V31, MQTT_V311, MQTT_V5, 0x80 | MQTT_V31, 0x80 | MQTT_V311};
    G_STATIC_ASSERT(G_N_ELEMENTS(levels) + 1 == G_N_ELEMENTS(version_vals));
    for (unsigned i = 0; i < G_N_ELEMENTS(levels); i++)
        version_vals[i] = (value_string){levels[i], mqtt_level_name(levels[i])};
}

void mqtt_tree_register(int proto)
{
    fill_names();
    static hf_register_info hf[] = {
        {&hf_hdrflags, {"Header Flags", "mqttlens.hdrflags", FT_UINT8, BASE_HEX, NULL, 0, "First byte of the fixed header: packet type and flags", HFILL}},
        {&hf_type, {"Message Type", "mqttlens.type", FT_UINT8, BASE_DEC, VALS(type_vals), 0xF0, "Control packet type (1 CONNECT ... 15 AUTH)", HFILL}},
        {&hf_dup, {"DUP Flag", "mqttlens.dup", FT_BOOLEAN, 8, NULL, MQTT_PUBLISH_DUP, "PUBLISH: this is a re-delivery", HFILL}},
        {&hf_qos, {"QoS Level", "mqttlens.qos", FT_UINT8, BASE_DEC, VALS(qos_vals), MQTT_PUBLISH_QOS_MASK, "PUBLISH: Quality of Service level", HFILL}},
        {&hf_retain, {"Retain", "mqttlens.retain", FT_BOOLEAN, 8, NULL, MQTT_PUBLISH_RETAIN, "PUBLISH: the server keeps the message for future subscribers", HFILL}},
        {&hf_flags, {"Flags", "mqttlens.flags", FT_UINT8, BASE_HEX, NULL, 0x0F,
                     "Low nibble of the fixed header (fixed per packet type)", HFILL}},
        {&hf_length, {"Remaining Length", "mqttlens.length", FT_UINT32, BASE_DEC, NULL, 0, "Bytes after the fixed header (Variable Byte Integer)", HFILL}},
        {&hf_protocol_name, {"Protocol Name", "mqttlens.protocol_name", FT_STRING, BASE_NONE, NULL, 0, "CONNECT: \"MQTT\" (3.1.1, 5.0) or \"MQIsdp\" (3.1)", HFILL}},
        {&hf_version, {"Version", "mqttlens.version", FT_UINT8, BASE_DEC, VALS(version_vals), 0,
                       "Protocol Level (3 = 3.1, 4 = 3.1.1, 5 = 5.0)", HFILL}},
        {&hf_version_frame, {"Version decided in", "mqttlens.version_frame", FT_FRAMENUM, BASE_NONE, NULL, 0,
                             "The frame whose packet decided the protocol version", HFILL}},
        {&hf_connect_flags, {"Connect Flags", "mqttlens.connect_flags", FT_UINT8, BASE_HEX, NULL, 0, "CONNECT: flags byte", HFILL}},
        {&hf_cf_username, {"User Name Flag", "mqttlens.connect_flags.username", FT_BOOLEAN, 8, NULL, MQTT_CF_USERNAME, "CONNECT: a User Name is in the payload", HFILL}},
        {&hf_cf_password, {"Password Flag", "mqttlens.connect_flags.password", FT_BOOLEAN, 8, NULL, MQTT_CF_PASSWORD, "CONNECT: a Password is in the payload", HFILL}},
        {&hf_cf_will_retain, {"Will Retain", "mqttlens.connect_flags.will_retain", FT_BOOLEAN, 8, NULL, MQTT_CF_WILL_RETAIN, "CONNECT: the Will Message is published retained", HFILL}},
        {&hf_cf_will_qos, {"Will QoS", "mqttlens.connect_flags.will_qos", FT_UINT8, BASE_DEC, VALS(qos_vals), MQTT_CF_WILL_QOS, "CONNECT: QoS of the Will Message", HFILL}},
        {&hf_cf_will, {"Will Flag", "mqttlens.connect_flags.will", FT_BOOLEAN, 8, NULL, MQTT_CF_WILL, "CONNECT: a Will Message is in the payload", HFILL}},
        {&hf_cf_clean, {"Clean Session / Clean Start", "mqttlens.connect_flags.clean_session", FT_BOOLEAN, 8, NULL, MQTT_CF_CLEAN, "CONNECT: Clean Session (3.1.1) / Clean Start (5.0)", HFILL}},
        {&hf_cf_reserved, {"Reserved", "mqttlens.connect_flags.reserved", FT_UINT8, BASE_DEC, NULL, MQTT_CF_RESERVED, "CONNECT: reserved bit, must be 0", HFILL}},
        {&hf_keepalive, {"Keep Alive", "mqttlens.keepalive", FT_UINT16, BASE_DEC | BASE_UNIT_STRING, &units_second_seconds, 0, "CONNECT: longest silence the client promises, 0 = off", HFILL}},
        {&hf_properties, {"Properties", "mqttlens.properties", FT_NONE, BASE_NONE, NULL, 0, "5.0: the packet's property block", HFILL}},
        {&hf_will_properties, {"Will Properties", "mqttlens.will.properties", FT_NONE, BASE_NONE, NULL, 0, "5.0 CONNECT: the Will Message's property block", HFILL}},
        {&hf_prop_length, {"Property Length", "mqttlens.prop_length", FT_UINT32, BASE_DEC, NULL, 0, "5.0: length of a property block", HFILL}},
        {&hf_prop_id, {"Property Identifier", "mqttlens.prop.id", FT_UINT8, BASE_HEX, NULL, 0, "5.0: identifier of a property", HFILL}},
        {&hf_prop_undecoded, {"Undecoded properties", "mqttlens.prop.undecoded", FT_BYTES, BASE_NONE, NULL, 0, "5.0: property bytes after an unknown identifier", HFILL}},
        {&hf_user_property_key, {"Name", "mqttlens.prop.user_property.key", FT_STRING, BASE_NONE, NULL, 0, "5.0 User Property: name", HFILL}},
        {&hf_user_property_value, {"Value", "mqttlens.prop.user_property.value", FT_STRING, BASE_NONE, NULL, 0, "5.0 User Property: value", HFILL}},
        {&hf_clientid, {"Client ID", "mqttlens.clientid", FT_STRING, BASE_NONE, NULL, 0, "CONNECT Client Identifier; on every other packet of the connection, generated", HFILL}},
        {&hf_will_topic, {"Will Topic", "mqttlens.will.topic", FT_STRING, BASE_NONE, NULL, 0, "CONNECT: topic of the Will Message", HFILL}},
        {&hf_will_payload, {"Will Payload", "mqttlens.will.payload", FT_BYTES, BASE_NONE, NULL, 0, "CONNECT: the Will Message (bytes)", HFILL}},
        {&hf_will_payload_text, {"Will Payload (UTF-8 text)", "mqttlens.will.payload_text", FT_STRING, BASE_NONE, NULL, 0, "CONNECT: the Will Message, when it is valid UTF-8", HFILL}},
        {&hf_username, {"User Name", "mqttlens.username", FT_STRING, BASE_NONE, NULL, 0, "CONNECT User Name; on every other packet of the connection, generated", HFILL}},
        {&hf_password, {"Password", "mqttlens.password", FT_STRING, BASE_NONE, NULL, 0, "CONNECT Password (shown masked with the \"Mask passwords\" preference)", HFILL}},
        {&hf_password_bytes, {"Password (bytes)", "mqttlens.password_bytes", FT_BYTES, BASE_NONE, NULL, 0,
                              "The password's bytes when they are not UTF-8 text", HFILL}},
        {&hf_string_length, {"Length", "mqttlens.string_length", FT_UINT16, BASE_DEC, NULL, 0,
                             "Length prefix of a UTF-8 string or binary data field", HFILL}},
        {&hf_connack_flags, {"Acknowledge Flags", "mqttlens.connack_flags", FT_UINT8, BASE_HEX, NULL, 0, "CONNACK: Connect Acknowledge Flags", HFILL}},
        {&hf_session_present, {"Session Present", "mqttlens.session_present", FT_BOOLEAN, 8, NULL, 0x01, "CONNACK: the server resumed a stored session", HFILL}},
        {&hf_connack_reserved, {"Reserved", "mqttlens.connack_flags.reserved", FT_UINT8, BASE_HEX, NULL, 0xFE, "CONNACK: reserved bits, must be 0", HFILL}},
        {&hf_reason_code, {"Reason Code", "mqttlens.reason_code", FT_UINT8, BASE_HEX, NULL, 0,
                           "CONNACK return code, 5.0 reason code, or a SUBACK/UNSUBACK entry", HFILL}},
        {&hf_reason_name, {"Reason Code name", "mqttlens.reason_name", FT_STRING, BASE_NONE, NULL, 0,
                           "Hidden: the name of each mqttlens.reason_code as the packet's type and version "
                           "define it (for -T fields and filters)", HFILL}},
        {&hf_topic, {"Topic", "mqttlens.topic", FT_STRING, BASE_NONE, NULL, 0, "PUBLISH Topic Name; generated with the resolved topic when a 5.0 Topic Alias stands for it", HFILL}},
        {&hf_id, {"Packet Identifier", "mqttlens.id", FT_UINT16, BASE_DEC, NULL, 0, "Packet Identifier", HFILL}},
        {&hf_payload, {"Payload", "mqttlens.payload", FT_BYTES, BASE_NONE, NULL, 0, "PUBLISH: the Application Message (bytes)", HFILL}},
        {&hf_payload_text, {"Payload (UTF-8 text)", "mqttlens.payload_text", FT_STRING, BASE_NONE, NULL, 0, "PUBLISH: the Application Message, when it is valid UTF-8", HFILL}},
        {&hf_filter, {"Topic Filter", "mqttlens.filter", FT_STRING, BASE_NONE, NULL, 0, "SUBSCRIBE/UNSUBSCRIBE: a Topic Filter", HFILL}},
        {&hf_sub_options, {"Subscription Options", "mqttlens.sub.options", FT_UINT8, BASE_HEX, NULL, 0,
                           "5.0 Subscription Options, or the 3.1.1 Requested QoS byte", HFILL}},
        {&hf_sub_requested_qos, {"Requested QoS", "mqttlens.sub.options", FT_UINT8, BASE_HEX, NULL, 0,
                                 "3.1 / 3.1.1 SUBSCRIBE: the Requested QoS byte (bits 1-0; bits 7-2 reserved)", HFILL}},
        {&hf_sub_qos, {"QoS", "mqttlens.sub.qos", FT_UINT8, BASE_DEC, VALS(qos_vals), MQTT_SO_QOS_MASK,
                       "Requested (maximum) QoS", HFILL}},
        {&hf_sub_no_local, {"No Local", "mqttlens.sub.no_local", FT_BOOLEAN, 8, NULL, MQTT_SO_NO_LOCAL, "5.0 SUBSCRIBE: do not send the client its own publications", HFILL}},
        {&hf_sub_rap, {"Retain As Published", "mqttlens.sub.retain_as_published", FT_BOOLEAN, 8, NULL, MQTT_SO_RETAIN_AS_PUBLISHED, "5.0 SUBSCRIBE: keep the RETAIN flag of forwarded messages", HFILL}},
        {&hf_sub_retain_handling, {"Retain Handling", "mqttlens.sub.retain_handling", FT_UINT8, BASE_DEC,
                                   VALS(retain_handling_vals), MQTT_SO_RETAIN_HANDLING_MASK,
                                   "5.0 SUBSCRIBE: when the server sends retained messages", HFILL}},
        {&hf_sub_reserved, {"Reserved bits", "mqttlens.sub.reserved", FT_UINT8, BASE_HEX, NULL, 0,
                            "Bits 7-6 (5.0) or 7-2 (3.1.1) of the options byte", HFILL}},
        {&hf_sub_reserved_v311, {"Reserved bits (7-2)", "mqttlens.sub.reserved", FT_UINT8, BASE_HEX, NULL, 0,
                                 "3.1 / 3.1.1 SUBSCRIBE: the upper 6 bits of the Requested QoS byte, must be 0 "
                                 "[MQTT-3.8.3-4]", HFILL}},
        {&hf_undecoded, {"Undecoded bytes", "mqttlens.undecoded", FT_BYTES, BASE_NONE, NULL, 0, "Bytes of a reserved packet type", HFILL}},
        {&hf_response_in, {"Response In", "mqttlens.response_in", FT_FRAMENUM, BASE_NONE,
                           FRAMENUM_TYPE(FT_FRAMENUM_RESPONSE), 0, "The frame that answers this packet", HFILL}},
        {&hf_response_to, {"Response To", "mqttlens.response_to", FT_FRAMENUM, BASE_NONE,
                           FRAMENUM_TYPE(FT_FRAMENUM_REQUEST), 0, "The frame this packet answers", HFILL}},
        {&hf_response_time, {"Response Time", "mqttlens.response_time", FT_RELATIVE_TIME, BASE_NONE, NULL, 0,
                             "Time since the packet this one answers", HFILL}},
        {&hf_flow_start, {"QoS 2 flow started in", "mqttlens.flow_start", FT_FRAMENUM, BASE_NONE,
                          FRAMENUM_TYPE(FT_FRAMENUM_REQUEST), 0, "The PUBLISH that began this QoS 2 flow", HFILL}},
        {&hf_flow_time, {"QoS 2 flow time", "mqttlens.flow_time", FT_RELATIVE_TIME, BASE_NONE, NULL, 0,
                         "Time from the PUBLISH to this PUBCOMP", HFILL}},
        {&hf_retransmission_of, {"Retransmission of", "mqttlens.retransmission_of", FT_FRAMENUM, BASE_NONE,
                                 FRAMENUM_TYPE(FT_FRAMENUM_DUP_ACK), 0,
                                 "The original of this DUP PUBLISH", HFILL}},
        {&hf_alias_frame, {"Topic Alias set in", "mqttlens.alias_frame", FT_FRAMENUM, BASE_NONE, NULL, 0,
                           "The frame whose PUBLISH mapped this Topic Alias", HFILL}},
        {&hf_client_idle, {"Time since client's previous packet", "mqttlens.client_idle", FT_RELATIVE_TIME,
                           BASE_NONE, NULL, 0, "Generated on client packets", HFILL}},
    };
    static gint *ett[] = {&ett_mqtt, &ett_hdrflags, &ett_connect_flags, &ett_connack_flags, &ett_props,
                          &ett_prop, &ett_string, &ett_filter, &ett_sub_options, &ett_will};
    proto_mqttlens = proto;
    proto_register_field_array(proto, hf, array_length(hf));
    proto_register_subtree_array(ett, array_length(ett));
    register_prop_fields(proto);
    register_reason_fields(proto);
    mqtt_journey_tree_register(proto);
    /* The identifier field gets the property names once they exist. */
    header_field_info *id_info = proto_registrar_get_nth(hf_prop_id);
    id_info->strings = prop_id_vals();
    mqtt_expert_register(proto);
}
