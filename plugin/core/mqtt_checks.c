/* mqtt_checks.c — stateless rule checks of one decoded packet
 * (see mqtt_checks.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_checks.h"

#include <string.h>

typedef struct {
    wmem_allocator_t *scope;
    mqtt_pkt_t *pkt;
    enum mqtt_dir dir;
    bool dir_known;
} check_t;

static void add(check_t *c, enum mqtt_rule rule, mqtt_span_t span, const char *detail)
{
    mqtt_finding_add(c->scope, &c->pkt->findings, rule, span, detail);
}

static void add_ref(check_t *c, enum mqtt_rule rule, mqtt_span_t span, const char *detail, const char *ref)
{
    mqtt_finding_add_ref(c->scope, &c->pkt->findings, rule, span, detail, ref);
}

/* The section that defines a property in a packet, as the reference of a
 * finding about it. */
static const char *prop_ref(check_t *c, unsigned context, uint32_t id)
{
    char buf[32];
    return wmem_strdup(c->scope, mqtt_prop_section(context, id, buf, sizeof buf));
}

static bool is_v5(const check_t *c)
{
    return c->pkt->version == MQTT_V5;
}

static unsigned qos_of(const mqtt_pkt_t *pkt)
{
    return MQTT_PUBLISH_QOS(pkt->flags);
}

static mqtt_span_t byte0(void)
{
    return (mqtt_span_t){0, 1};
}

/* ---- topic names and filters ------------------------------------------------ */

bool mqtt_topic_has_wildcard(const uint8_t *t, uint32_t len, uint32_t *off)
{
    for (uint32_t i = 0; i < len; i++) {
        if (t[i] == '+' || t[i] == '#') {
            *off = i;
            return true;
        }
    }
    return false;
}

/* The ShareName of a 5.0 Shared Subscription: at least one character, none
 * of '/', '+', '#', then '/' and a Topic Filter ([MQTT-4.8.2-1],
 * [MQTT-4.8.2-2]).  On success *rest points past the ShareName's '/'. */
static enum mqtt_rule share_name(const uint8_t *f, uint32_t len, uint32_t *rest, uint32_t *bad_off)
{
    uint32_t i = MQTT_SHARE_PREFIX_LEN;
    if (i >= len || f[i] == '/') {
        *bad_off = i < len ? i : len;
        return MQTT_R_SHARE_NAME_EMPTY;
    }
    for (; i < len && f[i] != '/'; i++) {
        if (f[i] == '+' || f[i] == '#') {
            *bad_off = i;
            return MQTT_R_SHARE_NAME_INVALID;
        }
    }
    if (i + 1 >= len) { /* no '/', or nothing after it */
        *bad_off = i;
        return MQTT_R_SHARE_NAME_INVALID;
    }
    *rest = i + 1;
    return MQTT_RULE_COUNT;
}

enum mqtt_rule mqtt_filter_syntax(const uint8_t *f, uint32_t len, bool v5, uint32_t *bad_off)
{
    uint32_t start = 0;
    *bad_off = 0;
    if (len == 0)
        return MQTT_R_FILTER_EMPTY;
    if (v5 && mqtt_filter_is_shared(f, len)) {
        enum mqtt_rule r = share_name(f, len, &start, bad_off);
        if (r != MQTT_RULE_COUNT)
            return r;
    }
    /* Level by level: '#' only as a whole last level, '+' only as a whole
     * level ([MQTT-4.7.1-2]/[MQTT-4.7.1-3] in 3.1.1, [MQTT-4.7.1-1]/
     * [MQTT-4.7.1-2] in 5.0). */
    uint32_t level = start;
    for (uint32_t i = start; i <= len; i++) {
        if (i < len && f[i] != '/')
            continue;
        uint32_t n = i - level;
        for (uint32_t k = level; k < i; k++) {
            if (f[k] == '#' && (n != 1 || i != len)) {
                *bad_off = k;
                return MQTT_R_FILTER_HASH;
            }
            if (f[k] == '+' && n != 1) {
                *bad_off = k;
                return MQTT_R_FILTER_PLUS;
            }
        }
        level = i + 1;
    }
    return MQTT_RULE_COUNT;
}

/* ---- strings -------------------------------------------------------------- */

static void check_string(check_t *c, const mqtt_str_t *s, const char *name)
{
    if (!(s->flags & MQTT_STR_PRESENT) || (s->flags & MQTT_STR_TRUNCATED))
        return;
    if (s->utf8 & MQTT_UTF8_BAD)
        add(c, MQTT_R_UTF8_INVALID, s->data, name);
    if (s->utf8 & MQTT_UTF8_NUL)
        add(c, MQTT_R_UTF8_NUL, s->data, name);
    if (s->utf8 & MQTT_UTF8_CONTROL)
        add(c, MQTT_R_UTF8_CONTROL, s->data, name);
}

static bool str_present(const mqtt_str_t *s)
{
    return (s->flags & MQTT_STR_PRESENT) && !(s->flags & MQTT_STR_TRUNCATED);
}

/* ---- properties ---------------------------------------------------------- */

static void check_pair(check_t *c, const mqtt_prop_t *p)
{
    const mqtt_str_t *halves[2] = {&p->str, &p->str2};
    for (unsigned i = 0; i < 2; i++) {
        if (str_present(halves[i]) && (halves[i]->utf8 & (MQTT_UTF8_BAD | MQTT_UTF8_NUL)))
            add(c, MQTT_R_USER_PROPERTY_UTF8, halves[i]->data, i ? "value" : "name");
        else if (str_present(halves[i]) && (halves[i]->utf8 & MQTT_UTF8_CONTROL))
            add(c, MQTT_R_UTF8_CONTROL, halves[i]->data, "User Property");
    }
}

static void check_prop_value(check_t *c, const mqtt_prop_t *p, unsigned context)
{
    switch (p->spec->range) {
    case MQTT_PR_BOOL:
        if (p->num > 1)
            add_ref(c, MQTT_R_PROP_NOT_BOOLEAN, p->value_span,
                    wmem_strdup_printf(c->scope, "%s is %u", p->spec->name, p->num),
                    prop_ref(c, context, p->id));
        break;
    case MQTT_PR_NONZERO:
        if (p->num == 0 && p->id == MQTT_PROP_TOPIC_ALIAS)
            add(c, MQTT_R_TOPIC_ALIAS_ZERO, p->value_span, NULL);
        else if (p->num == 0)
            add_ref(c, MQTT_R_PROP_ZERO, p->value_span, p->spec->name, prop_ref(c, context, p->id));
        break;
    case MQTT_PR_ANY:
        break;
    }
}

/* Placement, repetition, value range and string validity of every property
 * of one block.  `context` is the packet type or MQTT_WILL_CONTEXT. */
static void check_props(check_t *c, const mqtt_props_t *props, unsigned context)
{
    uint8_t seen[256 / 8] = {0};
    for (uint32_t i = 0; i < props->count; i++) {
        const mqtt_prop_t *p = &props->items[i];
        const mqtt_prop_spec_t *spec = p->spec;
        if (!(spec->allowed & MQTT_BIT(context))) {
            add_ref(c, MQTT_R_PROP_NOT_ALLOWED, p->span,
                    wmem_strdup_printf(c->scope, "%s in %s", spec->name,
                                       context == MQTT_WILL_CONTEXT ? "Will Properties"
                                                                    : mqtt_type_name(context)),
                    wmem_strdup_printf(c->scope, "§2.2.2.2, %s", prop_ref(c, context, p->id)));
        } else if ((seen[spec->id / 8] >> (spec->id % 8)) & 1) {
            if (!(spec->repeatable & MQTT_BIT(context)))
                add_ref(c, MQTT_R_PROP_DUPLICATE, p->span, spec->name, prop_ref(c, context, p->id));
        }
        seen[spec->id / 8] |= (uint8_t)(1u << (spec->id % 8));
        check_prop_value(c, p, context);
        if (spec->type == MQTT_PT_UTF8)
            check_string(c, &p->str, spec->name);
        else if (spec->type == MQTT_PT_PAIR)
            check_pair(c, p);
    }
}

/* Payload Format Indicator 1 promises UTF-8 (§3.3.2.3.2, §3.1.3.2.3). */
static bool breaks_payload_format(const mqtt_pkt_t *pkt, const mqtt_props_t *props,
                                  const uint8_t *data, uint32_t len)
{
    const mqtt_prop_t *pfi = mqtt_props_find(props, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR);
    if (!pfi || pfi->num != 1 || pkt->capture_short)
        return false;
    return (mqtt_utf8_check(data, len) & MQTT_UTF8_BAD) != 0;
}

/* ---- fixed header ------------------------------------------------------------ */

static enum mqtt_rule flags_rule(unsigned type)
{
    return (enum mqtt_rule)mqtt_type_spec(type)->flags_rule;
}

static void check_fixed_header(check_t *c)
{
    mqtt_pkt_t *pkt = c->pkt;
    const mqtt_type_spec_t *ts = mqtt_type_spec(pkt->type);
    bool allowed = is_v5(c) ? ts->dir_v5 != 0 : ts->dir_v3 != 0;
    if (!allowed) {
        add(c, MQTT_R_TYPE_RESERVED, byte0(), ts->name);
        return;
    }
    if (c->dir_known && !((is_v5(c) ? ts->dir_v5 : ts->dir_v3) & MQTT_DIR_BIT(c->dir)))
        add(c, MQTT_R_WRONG_DIRECTION, byte0(),
            wmem_strdup_printf(c->scope, "%s sent by the %s", ts->name,
                               c->dir == MQTT_C2S ? "client" : "server"));
    if (ts->fixed_flags == MQTT_FLAGS_VARIABLE) {
        if (qos_of(pkt) == 3)
            add(c, MQTT_R_QOS_3, byte0(), NULL);
        else if (qos_of(pkt) == 0 && (pkt->flags & MQTT_PUBLISH_DUP))
            add(c, MQTT_R_DUP_QOS0, byte0(), NULL);
        return;
    }
    if (pkt->flags == ts->fixed_flags)
        return;
    /* MQTT 3.1 gave every packet type DUP, QoS and RETAIN bits; 3.1.1 made
     * the nibble packet-specific.  Deviations on a 3.1 connection are only
     * remarkable, not errors; the reference is the 3.1.1 rule they would
     * break. */
    if (pkt->version == MQTT_V31)
        add_ref(c, MQTT_R_FLAGS_V31, byte0(),
                wmem_strdup_printf(c->scope, "0x%x instead of 0x%x", pkt->flags, ts->fixed_flags),
                wmem_strdup_printf(c->scope, "3.1.1 %s", mqtt_rule_ref(flags_rule(pkt->type), MQTT_V311)));
    else
        add(c, flags_rule(pkt->type), byte0(),
            wmem_strdup_printf(c->scope, "0x%x instead of 0x%x", pkt->flags, ts->fixed_flags));
}

/* ---- packet types ---------------------------------------------------------------- */

static void check_packet_id(check_t *c)
{
    /* 5.0 states the rule for each sender: client [MQTT-2.2.1-3], server
     * [MQTT-2.2.1-4]. */
    if (c->pkt->has_packet_id && c->pkt->packet_id == 0)
        add_ref(c, MQTT_R_PACKET_ID_ZERO, c->pkt->packet_id_span, NULL,
                is_v5(c) && c->dir_known && c->dir == MQTT_S2C ? "MQTT-2.2.1-4" : NULL);
}

static void check_protocol_name(check_t *c)
{
    mqtt_pkt_t *pkt = c->pkt;
    unsigned level = pkt->level & 0x7F;
    if (!str_present(&pkt->protocol_name) || !pkt->level_span.len)
        return;
    const char *expect = level == MQTT_V31 ? "MQIsdp" : "MQTT";
    size_t n = strlen(expect);
    if (level < MQTT_V31 || level > MQTT_V5) {
        add(c, MQTT_R_PROTOCOL_LEVEL, pkt->level_span,
            wmem_strdup_printf(c->scope, "level %u", pkt->level));
        return;
    }
    if (pkt->protocol_name.data.len != n || memcmp(pkt->protocol_name.bytes, expect, n) != 0)
        add(c, MQTT_R_PROTOCOL_NAME, pkt->protocol_name.field,
            wmem_strdup_printf(c->scope, "level %u expects \"%s\"", level, expect));
    /* mosquitto's bridges (try_private) mark their CONNECT so; a server
     * that does not support the level answers 0x01 [MQTT-3.1.2-2]. */
    if (pkt->level & 0x80)
        add(c, MQTT_R_PROTOCOL_LEVEL, pkt->level_span,
            wmem_strdup_printf(c->scope,
                               "0x%02x is level %u (%s) with bit 7 set: the bridge flag, which mosquitto's bridges "
                               "(try_private) set on 3.1 and 3.1.1; no specification defines it, a server that does not support it refuses the "
                               "connection with return code 0x01",
                               pkt->level, level, mqtt_version_name(level)));
}

static void check_will(check_t *c)
{
    mqtt_pkt_t *pkt = c->pkt;
    uint8_t f = pkt->connect_flags;
    unsigned will_qos = (f & MQTT_CF_WILL_QOS) >> 3;
    if (will_qos == 3)
        add(c, MQTT_R_WILL_QOS_3, pkt->connect_flags_span, NULL);
    else if (!(f & MQTT_CF_WILL) && will_qos)
        add(c, MQTT_R_WILL_QOS_NO_WILL, pkt->connect_flags_span, NULL);
    if (!(f & MQTT_CF_WILL) && (f & MQTT_CF_WILL_RETAIN))
        add(c, MQTT_R_WILL_RETAIN_NO_WILL, pkt->connect_flags_span, NULL);
    if (!(f & MQTT_CF_WILL))
        return;
    check_props(c, &pkt->will_props, MQTT_WILL_CONTEXT);
    check_string(c, &pkt->will_topic, "Will Topic");
    uint32_t off;
    if (str_present(&pkt->will_topic) &&
        mqtt_topic_has_wildcard(pkt->will_topic.bytes, pkt->will_topic.data.len, &off))
        add(c, MQTT_R_WILL_TOPIC_WILDCARD, pkt->will_topic.data, NULL);
    if (str_present(&pkt->will_payload) &&
        breaks_payload_format(pkt, &pkt->will_props, pkt->will_payload.bytes,
                              pkt->will_payload.data.len))
        add(c, MQTT_R_WILL_PAYLOAD_NOT_UTF8, pkt->will_payload.data, NULL);
}

static void check_connect(check_t *c)
{
    mqtt_pkt_t *pkt = c->pkt;
    uint8_t f = pkt->connect_flags;
    check_string(c, &pkt->protocol_name, "Protocol Name");
    check_protocol_name(c);
    if (!pkt->connect_flags_span.len)
        return;
    if (f & MQTT_CF_RESERVED)
        add(c, MQTT_R_CONNECT_RESERVED, pkt->connect_flags_span, NULL);
    if (pkt->version != MQTT_V5 && (f & MQTT_CF_PASSWORD) && !(f & MQTT_CF_USERNAME))
        add(c, MQTT_R_PASSWORD_NO_USERNAME, pkt->connect_flags_span, NULL);
    check_props(c, &pkt->props, MQTT_CONNECT);
    if (mqtt_props_find(&pkt->props, MQTT_PROP_AUTHENTICATION_DATA) &&
        !mqtt_props_find(&pkt->props, MQTT_PROP_AUTHENTICATION_METHOD))
        add(c, MQTT_R_AUTH_DATA_WITHOUT_METHOD,
            mqtt_props_find(&pkt->props, MQTT_PROP_AUTHENTICATION_DATA)->span, NULL);
    check_string(c, &pkt->client_id, "Client Identifier");
    if (str_present(&pkt->client_id)) {
        uint32_t n = pkt->client_id.data.len;
        if (pkt->version == MQTT_V311 && n == 0 && !(f & MQTT_CF_CLEAN))
            add(c, MQTT_R_EMPTY_CLIENTID_PERSISTENT, pkt->client_id.field, NULL);
        if (pkt->version == MQTT_V31 && (n == 0 || n > 23))
            add(c, MQTT_R_V31_CLIENTID_LENGTH, pkt->client_id.field,
                wmem_strdup_printf(c->scope, "%u bytes", n));
    }
    check_will(c);
    check_string(c, &pkt->username, "User Name");
}

static void check_connack(check_t *c)
{
    mqtt_pkt_t *pkt = c->pkt;
    if (!pkt->ack_flags_span.len)
        return;
    /* MQTT 3.1 had no Session Present: the byte was unused. */
    if (pkt->version != MQTT_V31 && (pkt->ack_flags & 0xFE))
        add(c, MQTT_R_CONNACK_RESERVED, pkt->ack_flags_span, NULL);
    if (!pkt->has_reason)
        return;
    bool refused = is_v5(c) ? mqtt_reason_is_failure(pkt->reason) : pkt->reason != 0;
    if (is_v5(c) && !mqtt_reason_allowed(pkt->reason, MQTT_CONNACK, MQTT_S2C))
        add(c, MQTT_R_REASON_CONNACK, pkt->reason_span,
            wmem_strdup_printf(c->scope, "0x%02x", pkt->reason));
    if (!is_v5(c) && !mqtt_v3_connack_name(pkt->reason))
        add(c, MQTT_R_CONNACK_RETURN_CODE, pkt->reason_span,
            wmem_strdup_printf(c->scope, "%u", pkt->reason));
    if (pkt->version != MQTT_V31 && refused && (pkt->ack_flags & 0x01))
        add(c, MQTT_R_SESSION_PRESENT_REFUSED, pkt->ack_flags_span, NULL);
    check_props(c, &pkt->props, MQTT_CONNACK);
}

static void check_publish(check_t *c)
{
    mqtt_pkt_t *pkt = c->pkt;
    uint32_t off;
    check_packet_id(c);
    check_string(c, &pkt->topic, "Topic Name");
    if (str_present(&pkt->topic)) {
        if (mqtt_topic_has_wildcard(pkt->topic.bytes, pkt->topic.data.len, &off))
            add(c, MQTT_R_TOPIC_WILDCARD, pkt->topic.data, NULL);
        /* 5.0: an empty Topic Name is how a Topic Alias is used (§3.3.2.1). */
        if (pkt->topic.data.len == 0 &&
            !(is_v5(c) && mqtt_props_find(&pkt->props, MQTT_PROP_TOPIC_ALIAS)))
            add(c, MQTT_R_TOPIC_EMPTY, pkt->topic.field, NULL);
    }
    check_props(c, &pkt->props, MQTT_PUBLISH);
    const mqtt_prop_t *sid = mqtt_props_find(&pkt->props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER);
    if (sid && c->dir_known && c->dir == MQTT_C2S)
        add(c, MQTT_R_SUB_ID_FROM_CLIENT, sid->span, NULL);
    const mqtt_prop_t *rt = mqtt_props_find(&pkt->props, MQTT_PROP_RESPONSE_TOPIC);
    if (rt && str_present(&rt->str) && mqtt_topic_has_wildcard(rt->str.bytes, rt->str.data.len, &off))
        add(c, MQTT_R_RESPONSE_TOPIC_WILDCARD, rt->value_span, NULL);
    if (breaks_payload_format(pkt, &pkt->props, pkt->raw + pkt->payload.off, pkt->payload.len))
        add(c, MQTT_R_PAYLOAD_NOT_UTF8, pkt->payload, NULL);
}

static enum mqtt_rule reason_rule(unsigned type)
{
    return (enum mqtt_rule)mqtt_type_spec(type)->reason_rule;
}

/* A 5.0 reason code must be listed for its packet and, where the tables
 * say who may send it, for its sender. */
static void check_reason(check_t *c, uint8_t code, mqtt_span_t span)
{
    unsigned type = c->pkt->type;
    bool ok = c->dir_known ? mqtt_reason_allowed(code, type, c->dir)
                           : mqtt_reason_allowed_any(code, type);
    if (ok)
        return;
    if (type == MQTT_DISCONNECT && code == 0x8C) {
        add_ref(c, MQTT_R_REASON_DISCONNECT_8C, span, NULL, "Table 2-6 vs Table 3-10 of MQTT-3.14.2-1");
        return;
    }
    const char *name = mqtt_reason_name(code, type);
    add(c, reason_rule(type), span,
        wmem_strdup_printf(c->scope, "0x%02x%s%s%s", code, name ? " (" : "", name ? name : "",
                           name ? ")" : ""));
}

static void check_ack(check_t *c)
{
    mqtt_pkt_t *pkt = c->pkt;
    if (is_v5(c) && pkt->has_reason)
        check_reason(c, pkt->reason, pkt->reason_span);
    check_props(c, &pkt->props, pkt->type);
}

/* "#" receives every topic except $-topics; "$SYS/#" everything the broker
 * reveals about itself. */
static bool is_wide_filter(const mqtt_str_t *f)
{
    static const char *const wide[] = {"#", "$SYS/#", "+/#"};
    for (unsigned i = 0; i < G_N_ELEMENTS(wide); i++)
        if (f->data.len == strlen(wide[i]) && memcmp(f->bytes, wide[i], f->data.len) == 0)
            return true;
    return false;
}

static void check_filters(check_t *c)
{
    mqtt_pkt_t *pkt = c->pkt;
    bool subscribe = pkt->type == MQTT_SUBSCRIBE;
    check_packet_id(c);
    check_props(c, &pkt->props, pkt->type);
    if (pkt->filter_count == 0 && pkt->has_packet_id && !pkt->capture_short)
        add(c, subscribe ? MQTT_R_SUBSCRIBE_EMPTY : MQTT_R_UNSUBSCRIBE_EMPTY,
            (mqtt_span_t){0, pkt->total_len}, NULL);
    for (uint32_t i = 0; i < pkt->filter_count; i++) {
        const mqtt_filter_t *f = &pkt->filters[i];
        uint32_t off;
        check_string(c, &f->filter, "Topic Filter");
        if (!str_present(&f->filter))
            continue;
        enum mqtt_rule r = mqtt_filter_syntax(f->filter.bytes, f->filter.data.len, is_v5(c), &off);
        if (r != MQTT_RULE_COUNT)
            add(c, r, r == MQTT_R_FILTER_EMPTY ? f->filter.field : f->filter.data, NULL);
        if (subscribe && is_wide_filter(&f->filter))
            add(c, MQTT_R_WIDE_SUBSCRIPTION, f->filter.data,
                wmem_strdup_printf(c->scope, "\"%.*s\"", (int)f->filter.data.len, f->filter.bytes));
        if (!f->has_options)
            continue;
        unsigned qos = MQTT_SO_QOS(f->options);
        if (f->options & (is_v5(c) ? MQTT_SO_RESERVED_MASK : MQTT_SO_RESERVED_V311_MASK))
            add(c, MQTT_R_SUB_OPTIONS_RESERVED, f->options_span,
                wmem_strdup_printf(c->scope, "0x%02x", f->options));
        if (qos == 3)
            add(c, MQTT_R_SUB_QOS_3, f->options_span, NULL);
        if (is_v5(c) && (MQTT_SO_RETAIN_HANDLING(f->options)) == 3)
            add(c, MQTT_R_SUB_RETAIN_HANDLING_3, f->options_span, NULL);
        if (is_v5(c) && (f->options & MQTT_SO_NO_LOCAL) && mqtt_filter_is_shared(f->filter.bytes, f->filter.data.len))
            add(c, MQTT_R_SHARE_NO_LOCAL, f->options_span, NULL);
    }
}

static void check_codes(check_t *c)
{
    mqtt_pkt_t *pkt = c->pkt;
    check_props(c, &pkt->props, pkt->type);
    for (uint32_t i = 0; i < pkt->code_count; i++) {
        mqtt_code_t code = pkt->codes[i];
        mqtt_span_t s = {code.off, 1};
        if (is_v5(c))
            check_reason(c, code.code, s);
        else if (pkt->type == MQTT_SUBACK && !mqtt_v3_suback_name(code.code))
            add(c, MQTT_R_REASON_SUBACK, s, wmem_strdup_printf(c->scope, "0x%02x", code.code));
    }
}

static void check_disconnect(check_t *c)
{
    mqtt_pkt_t *pkt = c->pkt;
    if (!is_v5(c))
        return;
    if (pkt->has_reason)
        check_reason(c, pkt->reason, pkt->reason_span);
    check_props(c, &pkt->props, MQTT_DISCONNECT);
    const mqtt_prop_t *sei = mqtt_props_find(&pkt->props, MQTT_PROP_SESSION_EXPIRY_INTERVAL);
    if (sei && c->dir_known && c->dir == MQTT_S2C)
        add(c, MQTT_R_SERVER_DISCONNECT_SESSION_EXPIRY, sei->span, NULL);
}

static void check_auth(check_t *c)
{
    mqtt_pkt_t *pkt = c->pkt;
    if (!is_v5(c))
        return;
    if (pkt->has_reason)
        check_reason(c, pkt->reason, pkt->reason_span);
    check_props(c, &pkt->props, MQTT_AUTH);
    /* §3.15.2.1 allows Remaining Length 0, yet [MQTT-4.12.0-5] wants the
     * method in every AUTH: the abbreviated form is only remarkable. */
    if (pkt->remaining_length == 0)
        add(c, MQTT_R_AUTH_ABBREVIATED, byte0(), NULL);
    else if (!mqtt_props_find(&pkt->props, MQTT_PROP_AUTHENTICATION_METHOD) && !pkt->capture_short)
        add(c, MQTT_R_AUTH_NO_METHOD, (mqtt_span_t){0, pkt->total_len}, NULL);
}

void mqtt_check_packet(wmem_allocator_t *scope, mqtt_pkt_t *pkt, enum mqtt_dir dir, bool dir_known)
{
    check_t c = {scope, pkt, dir, dir_known};
    if (!pkt->framed)
        return;
    check_fixed_header(&c);
    switch (pkt->type) {
    case MQTT_CONNECT: check_connect(&c); break;
    case MQTT_CONNACK: check_connack(&c); break;
    case MQTT_PUBLISH: check_publish(&c); break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP: check_ack(&c); break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE: check_filters(&c); break;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK: check_codes(&c); break;
    case MQTT_DISCONNECT: check_disconnect(&c); break;
    case MQTT_AUTH: check_auth(&c); break;
    default: break;
    }
}
