/* mqtt_payload.c — what a PUBLISH payload is, and who decodes it.
 *
 * In order: a user rule matching the topic (a table of topic filters with
 * MQTT's '+' and '#', each naming a dissector, optionally a protobuf
 * message type, optionally zlib inflation); a rule of the built-in MQTT
 * dissector's own "Message Decoding" table, which the user may have filled
 * for the built-in; the 5.0 Content Type through
 * Wireshark's media-type table; the heuristic dissectors registered on
 * the built-in MQTT dissector's "mqtt.topic" list (SparkplugB, ...), as
 * the built-in offers them; JSON when the payload is valid JSON.
 * Valid UTF-8 text is always shown as mqttlens.payload_text as well.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_payload.h"

#include <string.h>

#include <epan/expert.h>
#include <epan/tap.h>
#include <epan/uat.h>
#include <epan/uat-int.h>
#include <wsutil/str_util.h>
#include <wsutil/wsjson.h>

#include "mqtt_expert.h"
#include "mqtt_subs.h"
#include "ws_compat.h"

typedef struct {
    char *filter;       /* topic filter, with '+' and '#' */
    char *dissector;    /* a dissector name: json, protobuf, cbor, xml, ... */
    char *message_type; /* protobuf: the message type, e.g. "pkg.Message" */
    gboolean inflate;   /* the payload is zlib/deflate compressed */
} payload_rule_t;

static payload_rule_t *rules;
static guint nrules;
static dissector_handle_t json_handle;
static int proto_json = -1;
static int hf_frame_protocols = -1;
static int expert_tap = -1;
static dissector_table_t media_types;
static heur_dissector_list_t topic_heuristics;
static uat_t *builtin_decodings;
static int hf_inflated = -1;
static int hf_decoded_as = -1;
static gint ett_payload = -1;

UAT_CSTRING_CB_DEF(payload_rule, filter, payload_rule_t)
UAT_CSTRING_CB_DEF(payload_rule, dissector, payload_rule_t)
UAT_CSTRING_CB_DEF(payload_rule, message_type, payload_rule_t)
UAT_BOOL_CB_DEF(payload_rule, inflate, payload_rule_t)

static void *rule_copy(void *dst, const void *src, size_t len _U_)
{
    const payload_rule_t *s = (const payload_rule_t *)src;
    payload_rule_t *d = (payload_rule_t *)dst;
    d->filter = g_strdup(s->filter);
    d->dissector = g_strdup(s->dissector);
    d->message_type = g_strdup(s->message_type);
    d->inflate = s->inflate;
    return d;
}

static ws_compat_bool rule_check(void *r, char **error)
{
    payload_rule_t *rule = (payload_rule_t *)r;
    if (!rule->filter || !rule->filter[0]) {
        *error = g_strdup("the topic filter is empty");
        return FALSE;
    }
    if (!rule->dissector || !find_dissector(rule->dissector)) {
        *error = g_strdup_printf("no dissector is named \"%s\"", rule->dissector ? rule->dissector : "");
        return FALSE;
    }
    return TRUE;
}

static void rule_free(void *r)
{
    payload_rule_t *rule = (payload_rule_t *)r;
    g_free(rule->filter);
    g_free(rule->dissector);
    g_free(rule->message_type);
}

void mqtt_payload_register(int proto, module_t *module)
{
    static uat_field_t fields[] = {
        UAT_FLD_CSTRING(payload_rule, filter, "Topic filter", "Topic filter; '+' matches one level, '#' the rest"),
        UAT_FLD_CSTRING(payload_rule, dissector, "Dissector", "Name of the dissector for the payload (json, protobuf, cbor, ...)"),
        UAT_FLD_CSTRING(payload_rule, message_type, "Message type", "protobuf only: the message type, e.g. pkg.Message"),
        UAT_FLD_BOOL(payload_rule, inflate, "zlib", "Inflate the payload (zlib or deflate) first"),
        UAT_END_FIELDS,
    };
    static hf_register_info hf[] = {
        {&hf_decoded_as, {"Payload decoded as", "mqttlens.payload_decoded_as", FT_STRING, BASE_NONE, NULL, 0,
                          "The dissector the payload was handed to, and why", HFILL}},
        {&hf_inflated, {"Inflated payload", "mqttlens.payload_inflated", FT_BYTES, BASE_NONE, NULL, 0,
                        "The payload after zlib inflation", HFILL}},
    };
    static gint *ett[] = {&ett_payload};
    uat_t *uat = uat_new("MQTT payload dissectors (mqttlens)", sizeof(payload_rule_t), "mqttlens_payload", TRUE,
                         &rules, &nrules, UAT_AFFECTS_DISSECTION, NULL, rule_copy, rule_check, rule_free, NULL,
                         NULL, fields);
    prefs_register_uat_preference(module, "payload_rules", "Payload dissectors by topic",
                                  "A table of topic filters and the dissector that decodes the payloads of "
                                  "their topics (the first matching rule wins)",
                                  uat);
    proto_register_field_array(proto, hf, array_length(hf));
    proto_register_subtree_array(ett, array_length(ett));
}

/* The built-in dissector's "Message Decoding" table (Preferences ›
 * Protocols › MQTT), found by its file name. */
static void find_builtin_decodings(void *table, void *data _U_)
{
    uat_t *uat = (uat_t *)table;
    if (uat->filename && strcmp(uat->filename, "mqtt_message_decoding") == 0)
        builtin_decodings = uat;
}

void mqtt_payload_handoff(void)
{
    json_handle = find_dissector("json");
    proto_json = proto_get_id_by_filter_name("json");
    hf_frame_protocols = proto_registrar_get_id_byname("frame.protocols");
    expert_tap = find_tap_id("expert");
    media_types = find_dissector_table("media_type");
    /* Registered by the built-in MQTT dissector (packet-mqtt.c), which is
     * compiled into every Wireshark; it stays there when that dissector is
     * disabled or mqttlens owns its ports. */
    topic_heuristics = find_heur_dissector_list("mqtt.topic");
    builtin_decodings = NULL;
    uat_foreach_table(find_builtin_decodings, NULL);
}

static const payload_rule_t *rule_for(const char *topic)
{
    for (guint i = 0; topic && i < nrules; i++)
        if (mqtt_topic_matches((const uint8_t *)rules[i].filter, (uint32_t)strlen(rules[i].filter),
                               (const uint8_t *)topic, (uint32_t)strlen(topic)))
            return &rules[i];
    return NULL;
}

static void decoded_as(tvbuff_t *tvb, packet_info *pinfo _U_, proto_tree *tree, const char *how)
{
    proto_item *item = proto_tree_add_string(tree, hf_decoded_as, tvb, 0, 0, how);
    proto_item_set_generated(item);
}

/* The payload inflated (zlib or raw deflate), shown as its own data source;
 * NULL, with the expert item, when it does not inflate. */
static tvbuff_t *inflated(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree)
{
    tvbuff_t *plain = ws_compat_tvb_child_uncompress(tvb, tvb, 0, tvb_captured_length(tvb));
    if (!plain) {
        proto_tree_add_expert(tree, pinfo, mqtt_expert_field(MQTT_R_PAYLOAD_NOT_INFLATED), tvb, 0, -1);
        return NULL;
    }
    add_new_data_source(pinfo, plain, "Inflated MQTT payload");
    proto_tree_add_item(tree, hf_inflated, plain, 0, -1, ENC_NA);
    return plain;
}

static bool by_rule(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const payload_rule_t *rule)
{
    dissector_handle_t handle = find_dissector(rule->dissector);
    if (!handle) {
        proto_tree_add_expert_format(tree, pinfo, mqtt_expert_field(MQTT_R_PAYLOAD_DISSECTOR_MISSING), tvb, 0, 0,
                                     "Payload rule names \"%s\", which is not available", rule->dissector);
        return false;
    }
    if (rule->inflate && !(tvb = inflated(tvb, pinfo, tree)))
        return false;
    char *data = rule->message_type && rule->message_type[0]
                     ? wmem_strdup_printf(pinfo->pool, "message,%s", rule->message_type)
                     : NULL;
    decoded_as(tvb, pinfo, tree,
               wmem_strdup_printf(pinfo->pool, "%s (payload rule for \"%s\")", rule->dissector, rule->filter));
    call_dissector_with_data(handle, tvb, pinfo, tree, data);
    return true;
}

/* One field of a record of the built-in's table, as its text (g_free it);
 * the record's layout is the built-in's own, its fields' text is not. */
static char *builtin_field(const void *record, const char *name)
{
    for (guint i = 0; i < builtin_decodings->ncols; i++) {
        const uat_field_t *f = &builtin_decodings->fields[i];
        if (strcmp(f->name, name) == 0 && f->cb.tostr) {
            char *text = NULL;
            unsigned len = 0;
            f->cb.tostr((void *)record, &text, &len, f->cbdata.tostr, f->fld_data);
            return text;
        }
    }
    return NULL;
}

/* The built-in's criteria: the topic equals, contains, starts or ends with
 * the pattern, or the pattern is a regular expression matching it. */
static bool builtin_matches(const char *criteria, const char *pattern, const char *topic)
{
    size_t tl = strlen(topic), pl = strlen(pattern);
    if (g_ascii_strncasecmp(criteria, "Equal", 5) == 0)
        return strcmp(topic, pattern) == 0;
    if (g_ascii_strncasecmp(criteria, "Contains", 8) == 0)
        return strstr(topic, pattern) != NULL;
    if (g_ascii_strncasecmp(criteria, "Starts", 6) == 0)
        return tl >= pl && strncmp(topic, pattern, pl) == 0;
    if (g_ascii_strncasecmp(criteria, "Ends", 4) == 0)
        return tl >= pl && strcmp(topic + tl - pl, pattern) == 0;
    if (g_ascii_strncasecmp(criteria, "Regular", 7) == 0)
        return g_regex_match_simple(pattern, topic, (GRegexCompileFlags)0, (GRegexMatchFlags)0);
    return false;
}

static bool builtin_decode(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, dissector_handle_t handle,
                           bool inflate, const char *how)
{
    if (inflate && !(tvb = inflated(tvb, pinfo, tree)))
        return false;
    decoded_as(tvb, pinfo, tree, how);
    call_dissector(handle, tvb, pinfo, tree);
    return true;
}

/* A rule of the built-in's "Message Decoding" table matching the topic, the
 * first one as the built-in takes it: the payload goes to its dissector. */
static bool by_builtin_rule(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const char *topic)
{
    GArray *records = builtin_decodings ? builtin_decodings->user_data : NULL;
    if (!records || records->len == 0 || !topic)
        return false;
    for (guint i = 0; i < records->len; i++) {
        const void *record = records->data + i * builtin_decodings->record_size;
        char *criteria = builtin_field(record, "match_criteria");
        char *pattern = builtin_field(record, "topic_pattern");
        char *proto = builtin_field(record, "payload_proto");
        /* "compressed" (zlib) or "none"; the table has no such column before 4.2. */
        char *decoding = builtin_field(record, "msg_decoding");
        bool match = criteria && pattern && proto && builtin_matches(criteria, pattern, topic);
        dissector_handle_t handle = match ? find_dissector(proto) : NULL;
        bool inflate = decoding && strcmp(decoding, "compressed") == 0;
        const char *how = handle ? wmem_strdup_printf(pinfo->pool, "%s (the built-in MQTT dissector's Message "
                                                      "Decoding: topic %s \"%s\"%s)", proto, criteria, pattern,
                                                      inflate ? ", compressed" : "")
                                 : NULL;
        g_free(criteria);
        g_free(pattern);
        g_free(proto);
        g_free(decoding);
        if (match)
            return handle && builtin_decode(tvb, pinfo, tree, handle, inflate, how);
    }
    return false;
}

/* The built-in MQTT dissector offers a payload that neither its own rules
 * nor the Content Type decoded to the heuristic dissectors of its
 * "mqtt.topic" list, with the topic (the resolved one for an alias) as
 * their data; Wireshark's SparkplugB is one (topics "spBv1.0/...").  The
 * same here, so that what the built-in decodes in a payload mqttlens
 * decodes too; each heuristic can be turned off in Enabled Protocols. */
static bool by_topic_heuristic(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const char *topic)
{
    heur_dtbl_entry_t *entry = NULL;
    if (!topic_heuristics || !topic)
        return false;
    if (!dissector_try_heuristic(topic_heuristics, tvb, pinfo, tree, &entry, wmem_strdup(pinfo->pool, topic)))
        return false;
    const char *proto = entry && entry->protocol ? proto_get_protocol_filter_name(proto_get_id(entry->protocol)) : "?";
    decoded_as(tvb, pinfo, tree,
               wmem_strdup_printf(pinfo->pool, "%s (heuristic on the topic: %s)", proto,
                                  entry && entry->display_name ? entry->display_name : "mqtt.topic"));
    return true;
}

/* The media type without parameters, lower case ("application/json"). */
static char *bare_media_type(wmem_allocator_t *pool, const char *content_type)
{
    char *t = wmem_strdup(pool, content_type);
    char *semi = strchr(t, ';');
    if (semi)
        *semi = '\0';
    return ascii_strdown_inplace(g_strstrip(t));
}

static bool is_json_document(tvbuff_t *tvb, guint len)
{
    const guint8 *p = tvb_get_ptr(tvb, 0, len);
    guint i = 0;
    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    return i < len && (p[i] == '{' || p[i] == '[') && json_validate(p, len);
}

/* Whether an item of field `hf` under `tree` keeps its value (see kept()
 * in mqtt_tree.c): the tree is shown, the tree is the root, or a filter or
 * field extraction refers to the field. */
static bool field_kept(proto_tree *tree, int hf)
{
    if (!tree)
        return false;
    if (PTREE_DATA(tree)->visible || !PTREE_FINFO(tree))
        return true;
    return proto_registrar_get_nth((guint)hf)->ref_type != HF_REF_TYPE_NONE;
}

/* Whether nothing would see what the JSON dissector makes of a valid
 * document: no column is written (JSON names itself in Protocol and Info),
 * the tree is not shown, and no filter or field extraction refers to a json
 * field or to the frame's list of protocols, where JSON names itself too
 * (proto_field_is_referenced() covers the tree and the references).  tshark
 * -T fields fills the columns on 4.0 whatever the fields, on 4.4 and later
 * only for a column field, so the list of protocols must be asked for
 * itself.  Parsing the document then costs more than all of MQTT; the
 * payload is only marked as decoded as JSON. */
static bool json_unseen(packet_info *pinfo, proto_tree *tree)
{
    if (pinfo->cinfo && col_get_writable(pinfo->cinfo, -1))
        return false;
    if (hf_frame_protocols != -1 && proto_field_is_referenced(tree, hf_frame_protocols))
        return false;
    return proto_json == -1 || !proto_field_is_referenced(tree, proto_json);
}

bool mqtt_payload_dissect(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const char *topic,
                          const char *content_type)
{
    guint len = tvb_captured_length(tvb);
    const payload_rule_t *rule = rule_for(topic);
    if (len == 0)
        return false;
    if (rule)
        return by_rule(tvb, pinfo, tree, rule);
    if (by_builtin_rule(tvb, pinfo, tree, topic))
        return true;
    if (content_type && media_types) {
        char *type = bare_media_type(pinfo->pool, content_type);
        dissector_handle_t handle = dissector_get_string_handle(media_types, type);
        if (handle) {
            decoded_as(tvb, pinfo, tree, wmem_strdup_printf(pinfo->pool, "%s (Content Type)", type));
            /* With no tree at all and no expert tap, not even an invalid
             * document's expert item could be seen: no check then. */
            if (handle == json_handle && json_unseen(pinfo, tree) &&
                ((!tree && !have_tap_listener(expert_tap)) || is_json_document(tvb, len)))
                return true;
            if (ws_compat_dissector_try_string(media_types, type, tvb, pinfo, tree, NULL))
                return true;
        }
    }
    if (by_topic_heuristic(tvb, pinfo, tree, topic))
        return true;
    /* Only objects and arrays: a bare number or string is better read as
     * text than as a one-node JSON tree.  Whether it is one is not worked
     * out when nothing would see the answer. */
    if (json_handle && json_unseen(pinfo, tree) && !field_kept(tree, hf_decoded_as))
        return false;
    if (json_handle && is_json_document(tvb, len)) {
        decoded_as(tvb, pinfo, tree, "json (the payload is valid JSON)");
        if (!json_unseen(pinfo, tree))
            call_dissector(json_handle, tvb, pinfo, tree);
        return true;
    }
    return false;
}

/* ---- what a payload is, for a file of it ------------------------------------------ */

static const struct {
    const char *media_type; /* without parameters; a trailing '/' matches the whole top-level type */
    const char *extension;
} extensions[] = {
    {"application/json", ".json"}, {"text/plain", ".txt"}, {"application/cbor", ".cbor"},
    {"application/xml", ".xml"}, {"text/xml", ".xml"}, {"text/csv", ".csv"}, {"text/html", ".html"},
    {"application/x-protobuf", ".pb"}, {"application/protobuf", ".pb"}, {"application/zlib", ".zlib"},
    {"application/gzip", ".gz"}, {"application/octet-stream", ".bin"}, {"image/jpeg", ".jpg"},
    {"image/png", ".png"}, {"image/gif", ".gif"}, {"text/", ".txt"},
};

/* The extension of a media type: the table's, "+json" and "+xml" suffixes
 * (RFC 6839), else ".bin". */
static const char *extension_of(const char *type)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(extensions); i++) {
        const char *t = extensions[i].media_type;
        size_t n = strlen(t);
        if (t[n - 1] == '/' ? strncmp(type, t, n) == 0 : strcmp(type, t) == 0)
            return extensions[i].extension;
    }
    if (g_str_has_suffix(type, "+json"))
        return ".json";
    if (g_str_has_suffix(type, "+xml"))
        return ".xml";
    return ".bin";
}

/* The media type that a payload rule's dissector reads, if it names one. */
static const char *rule_media_type(const payload_rule_t *rule)
{
    static const struct {
        const char *dissector;
        const char *media_type;
    } known[] = {{"json", "application/json"}, {"protobuf", "application/x-protobuf"},
                 {"cbor", "application/cbor"}, {"xml", "application/xml"}};
    for (unsigned i = 0; i < G_N_ELEMENTS(known); i++)
        if (g_ascii_strcasecmp(rule->dissector, known[i].dissector) == 0)
            return known[i].media_type;
    return "application/octet-stream";
}

/* UTF-8 text without control characters other than tab, CR and LF. */
static bool is_text(const guint8 *p, guint len)
{
    for (guint i = 0; i < len; i++)
        if ((p[i] < 0x20 && p[i] != '\t' && p[i] != '\r' && p[i] != '\n') || p[i] == 0x7F)
            return false;
    return len > 0 && g_utf8_validate((const char *)p, (gssize)len, NULL);
}

/* A zlib stream (RFC 1950): deflate with a window of at most 32 KiB, the
 * header's check bits right, no preset dictionary, and it inflates. */
static bool is_zlib(tvbuff_t *tvb, const guint8 *p, guint len)
{
    if (len < 6 || (p[0] & 0x0F) != 8 || (p[0] >> 4) > 7 || ((p[0] << 8) | p[1]) % 31 != 0 || (p[1] & 0x20))
        return false;
    tvbuff_t *plain = ws_compat_tvb_uncompress(tvb, 0, (int)len);
    if (!plain)
        return false;
    tvb_free(plain);
    return true;
}

mqtt_payload_kind_t mqtt_payload_kind(wmem_allocator_t *pool, tvbuff_t *tvb, const char *topic,
                                      const char *content_type, int format)
{
    guint len = tvb_captured_length(tvb);
    const guint8 *p = tvb_get_ptr(tvb, 0, len);
    const payload_rule_t *rule = rule_for(topic);
    if (content_type && content_type[0]) {
        const char *type = bare_media_type(pool, content_type);
        return (mqtt_payload_kind_t){content_type, extension_of(type)};
    }
    if (format == 1)
        return (mqtt_payload_kind_t){"text/plain; charset=utf-8", ".txt"};
    if (rule && rule->inflate)
        return (mqtt_payload_kind_t){"application/zlib",
                                     wmem_strconcat(pool, extension_of(rule_media_type(rule)), ".zlib", NULL)};
    if (rule)
        return (mqtt_payload_kind_t){rule_media_type(rule), extension_of(rule_media_type(rule))};
    if (len && is_json_document(tvb, len))
        return (mqtt_payload_kind_t){"application/json", ".json"};
    if (is_text(p, len))
        return (mqtt_payload_kind_t){"text/plain", ".txt"};
    if (is_zlib(tvb, p, len))
        return (mqtt_payload_kind_t){"application/zlib", ".zlib"};
    return (mqtt_payload_kind_t){"application/octet-stream", ".bin"};
}
