/* mqtt_wire.c — stateless decoding of MQTT control packets (see mqtt_wire.h).
 *
 * The decoder is purely structural: it finds where each field is and what
 * value it holds, and reports only what keeps it from doing so (truncation,
 * surplus bytes, over-long or non-minimal Variable Byte Integers, unknown
 * property identifiers).  Whether the values are allowed is decided by
 * mqtt_checks.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_wire.h"

#include <string.h>

/* ---- primitives ------------------------------------------------------------ */

enum mqtt_vbi_status mqtt_vbi_decode(const uint8_t *p, uint32_t avail, mqtt_vbi_t *out)
{
    uint32_t value = 0;
    out->value = 0;
    out->nbytes = 0;
    out->minimal = true;
    for (unsigned i = 0; i < 4; i++) {
        if (i >= avail) {
            out->nbytes = (uint8_t)i;
            return MQTT_VBI_TRUNCATED;
        }
        value |= (uint32_t)(p[i] & 0x7F) << (7 * i);
        if (!(p[i] & 0x80)) {
            out->value = value;
            out->nbytes = (uint8_t)(i + 1);
            /* A last byte of 0 after at least one byte means the value
             * would have fitted in fewer bytes ([MQTT-1.5.5-1]). */
            out->minimal = i == 0 || p[i] != 0;
            return MQTT_VBI_OK;
        }
    }
    out->nbytes = 4;
    return MQTT_VBI_TOO_LONG;
}

unsigned mqtt_vbi_size(uint32_t value)
{
    if (value < 128u)
        return 1;
    if (value < 16384u)
        return 2;
    if (value < 2097152u)
        return 3;
    if (value <= MQTT_MAX_REMAINING_LENGTH)
        return 4;
    return 0;
}

static bool is_noncharacter(uint32_t cp)
{
    return (cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE;
}

/* Eight bytes at a time: each word multiplied and mixed in, the last
 * (short) word padded with zeros and the length mixed in first, so that
 * trailing zeros still count; then the finaliser of MurmurHash3 (fmix64)
 * spreads every input bit over the result.  The value depends on the
 * machine's byte order; it is never shown nor stored in a file. */
static uint64_t hash_mix(uint64_t h, uint64_t w)
{
    h ^= w * 0xC2B2AE3D27D4EB4Fu;
    h = (h << 31) | (h >> 33);
    return h * 0x9E3779B97F4A7C15u;
}

uint64_t mqtt_hash64(const uint8_t *p, uint32_t len)
{
    uint64_t h = hash_mix(0x27D4EB2F165667C5u, len);
    uint32_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = hash_mix(h, w);
    }
    if (i < len) {
        uint64_t w = 0;
        memcpy(&w, p + i, len - i);
        h = hash_mix(h, w);
    }
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDu;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53u;
    h ^= h >> 33;
    return h;
}

/* Strict RFC 3629 check: no overlong forms, no surrogates, nothing above
 * U+10FFFF ([MQTT-1.5.4-1] / [MQTT-1.5.3-1]). */
unsigned mqtt_utf8_check(const uint8_t *p, uint32_t len)
{
    return mqtt_utf8_scan(p, len, 0);
}

unsigned mqtt_utf8_scan(const uint8_t *p, uint32_t len, unsigned stop)
{
    unsigned result = 0;
    uint32_t i = 0;
    while (i < len && !(result & stop)) {
        uint8_t b = p[i];
        uint32_t cp;
        unsigned extra;
        uint32_t min;
        if (b < 0x80) {
            if (b == 0)
                result |= MQTT_UTF8_NUL;
            else if (b < 0x20 || b == 0x7F)
                result |= MQTT_UTF8_CONTROL;
            i++;
            continue;
        }
        if (b >= 0xC2 && b <= 0xDF) {
            cp = b & 0x1F; extra = 1; min = 0x80;
        } else if (b >= 0xE0 && b <= 0xEF) {
            cp = b & 0x0F; extra = 2; min = 0x800;
        } else if (b >= 0xF0 && b <= 0xF4) {
            cp = b & 0x07; extra = 3; min = 0x10000;
        } else {
            result |= MQTT_UTF8_BAD;
            i++;
            continue;
        }
        if (len - i <= extra) {
            result |= MQTT_UTF8_BAD;
            break;
        }
        bool ok = true;
        for (unsigned k = 1; k <= extra; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                ok = false;
                break;
            }
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (!ok || cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            result |= MQTT_UTF8_BAD;
            i++;
            continue;
        }
        if ((cp >= 0x80 && cp <= 0x9F) || is_noncharacter(cp))
            result |= MQTT_UTF8_CONTROL;
        i += extra + 1;
    }
    return result;
}

char *mqtt_str_text(wmem_allocator_t *mem, const mqtt_str_t *s)
{
    if (!(s->flags & MQTT_STR_CHECKED) || (s->flags & MQTT_STR_TRUNCATED) ||
        (s->utf8 & (MQTT_UTF8_BAD | MQTT_UTF8_NUL)))
        return NULL;
    return wmem_strndup(mem, (const char *)s->bytes, s->data.len);
}

void mqtt_finding_add_ref(wmem_allocator_t *scope, mqtt_findings_t *list, enum mqtt_rule rule,
                          mqtt_span_t span, const char *detail, const char *ref)
{
    if (list->count == list->capacity) {
        uint32_t cap = list->capacity ? list->capacity * 2 : 1;
        list->items = wmem_realloc(scope, list->items, cap * sizeof *list->items);
        list->capacity = cap;
    }
    list->items[list->count++] = (mqtt_finding_t){(uint16_t)rule, span, detail, ref};
}

void mqtt_finding_add(wmem_allocator_t *scope, mqtt_findings_t *list, enum mqtt_rule rule,
                      mqtt_span_t span, const char *detail)
{
    mqtt_finding_add_ref(scope, list, rule, span, detail, NULL);
}

enum mqtt_frame_status mqtt_frame(const uint8_t *p, uint32_t avail, mqtt_frame_t *out)
{
    mqtt_vbi_t vbi;
    memset(out, 0, sizeof *out);
    if (avail < 2)
        return MQTT_FRAME_NEED_MORE;
    switch (mqtt_vbi_decode(p + 1, avail - 1, &vbi)) {
    case MQTT_VBI_TRUNCATED:
        return MQTT_FRAME_NEED_MORE;
    case MQTT_VBI_TOO_LONG:
        out->header_len = 5;
        return MQTT_FRAME_BAD;
    case MQTT_VBI_OK:
        break;
    }
    out->header_len = (uint8_t)(1 + vbi.nbytes);
    out->remaining_length = vbi.value;
    out->total_len = (uint64_t)out->header_len + vbi.value;
    return MQTT_FRAME_OK;
}

/* ---- the cursor ---------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    uint32_t pos;
    uint32_t end;          /* end of the current scope (packet or property block) */
    mqtt_pkt_t *pkt;
    wmem_allocator_t *scope;
} cursor_t;

static mqtt_span_t span(uint32_t off, uint32_t len)
{
    return (mqtt_span_t){off, len};
}

static uint32_t left(const cursor_t *c)
{
    return c->end - c->pos;
}

static void finding(cursor_t *c, enum mqtt_rule rule, mqtt_span_t s, const char *detail)
{
    mqtt_finding_add(c->scope, &c->pkt->findings, rule, s, detail);
}

/* Reports that `what` is missing because the bytes ran out.  When the
 * capture holds fewer bytes than the packet has, that is the reason, and it
 * is said only once. */
static void missing_as(cursor_t *c, const char *what, enum mqtt_rule rule)
{
    mqtt_pkt_t *pkt = c->pkt;
    if (pkt->capture_short) {
        for (uint32_t i = 0; i < pkt->findings.count; i++)
            if (pkt->findings.items[i].rule == MQTT_R_CAPTURE_TRUNCATED)
                return;
        finding(c, MQTT_R_CAPTURE_TRUNCATED, span(c->pos, 0), NULL);
        return;
    }
    finding(c, rule, span(c->pos, left(c)), wmem_strdup_printf(c->scope, "%s is missing", what));
}

static void missing(cursor_t *c, const char *what)
{
    missing_as(c, what, MQTT_R_TRUNCATED);
}

/* A big-endian Two/Four Byte Integer or a Byte (§1.5.1, §1.5.2) of `n`
 * bytes; `s`, when given, gets its span. */
static bool rd_uint(cursor_t *c, unsigned n, uint32_t *v, mqtt_span_t *s, const char *what)
{
    if (left(c) < n) {
        missing(c, what);
        return false;
    }
    uint32_t x = 0;
    for (unsigned i = 0; i < n; i++)
        x = (x << 8) | c->p[c->pos + i];
    *v = x;
    if (s)
        *s = span(c->pos, n);
    c->pos += n;
    return true;
}

static bool rd_u8(cursor_t *c, uint8_t *v, mqtt_span_t *s, const char *what)
{
    uint32_t x;
    bool ok = rd_uint(c, 1, &x, s, what);
    if (ok)
        *v = (uint8_t)x;
    return ok;
}

static bool rd_u16(cursor_t *c, uint16_t *v, mqtt_span_t *s, const char *what)
{
    uint32_t x;
    bool ok = rd_uint(c, 2, &x, s, what);
    if (ok)
        *v = (uint16_t)x;
    return ok;
}

/* A Variable Byte Integer inside the packet (5.0 only: Property Length,
 * Property Identifier, Subscription Identifier). */
static bool rd_vbi(cursor_t *c, uint32_t *v, mqtt_span_t *s, const char *what)
{
    mqtt_vbi_t vbi;
    switch (mqtt_vbi_decode(c->p + c->pos, left(c), &vbi)) {
    case MQTT_VBI_TRUNCATED:
        missing(c, what);
        return false;
    case MQTT_VBI_TOO_LONG:
        finding(c, MQTT_R_VBI_TOO_LONG, span(c->pos, 4), what);
        return false;
    case MQTT_VBI_OK:
        break;
    }
    if (!vbi.minimal)
        finding(c, MQTT_R_VBI_NOT_MINIMAL, span(c->pos, vbi.nbytes), what);
    *v = vbi.value;
    if (s)
        *s = span(c->pos, vbi.nbytes);
    c->pos += vbi.nbytes;
    return true;
}

/* A UTF-8 Encoded String (utf8 = true) or Binary Data: 2-byte length and
 * that many bytes.  `rule` is what its absence or truncation breaks. */
static bool rd_str_as(cursor_t *c, mqtt_str_t *out, const char *what, bool utf8, enum mqtt_rule rule)
{
    uint16_t len;
    uint32_t start = c->pos;
    memset(out, 0, sizeof *out);
    if (left(c) < 2) {
        missing_as(c, what, rule);
        return false;
    }
    rd_u16(c, &len, NULL, what);
    out->flags = MQTT_STR_PRESENT;
    if (left(c) < len) {
        out->flags |= MQTT_STR_TRUNCATED;
        out->data = span(c->pos, left(c));
        out->field = span(start, c->end - start);
        out->bytes = c->p + c->pos;
        c->pos = c->end;
        if (c->pkt->capture_short) {
            missing(c, what);
        } else {
            finding(c, rule, out->field,
                    wmem_strdup_printf(c->scope, "%s claims %u bytes, only %u remain", what, len,
                                       out->data.len));
        }
        return false;
    }
    out->data = span(c->pos, len);
    out->field = span(start, 2u + len);
    out->bytes = c->p + c->pos;
    if (utf8) {
        out->utf8 = (uint8_t)mqtt_utf8_check(out->bytes, len);
        out->flags |= MQTT_STR_CHECKED;
    }
    c->pos += len;
    return true;
}

static bool rd_str(cursor_t *c, mqtt_str_t *out, const char *what, bool utf8)
{
    return rd_str_as(c, out, what, utf8, MQTT_R_TRUNCATED);
}

/* Bytes after the last field.  For packets whose Remaining Length the
 * specification fixes, that is a length error rather than surplus data. */
static void rd_end(cursor_t *c, const char *fixed_rule_detail)
{
    if (left(c) == 0)
        return;
    if (fixed_rule_detail)
        finding(c, MQTT_R_FIXED_LENGTH, span(c->pos, left(c)), fixed_rule_detail);
    else
        finding(c, MQTT_R_TRAILING, span(c->pos, left(c)), NULL);
    c->pos = c->end;
}

/* ---- properties ---------------------------------------------------------- */

static void props_push(cursor_t *c, mqtt_props_t *props, const mqtt_prop_t *prop, uint32_t *cap)
{
    if (props->count == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        props->items = wmem_realloc(c->scope, props->items, *cap * sizeof *props->items);
    }
    props->items[props->count++] = *prop;
}

static bool rd_prop_value(cursor_t *c, mqtt_prop_t *prop)
{
    const char *name = prop->spec->name;
    uint8_t u8;
    uint16_t u16;
    switch (prop->spec->type) {
    case MQTT_PT_BYTE:
        if (!rd_u8(c, &u8, NULL, name))
            return false;
        prop->num = u8;
        return true;
    case MQTT_PT_TWO:
        if (!rd_u16(c, &u16, NULL, name))
            return false;
        prop->num = u16;
        return true;
    case MQTT_PT_FOUR:
        return rd_uint(c, 4, &prop->num, NULL, name);
    case MQTT_PT_VBI:
        return rd_vbi(c, &prop->num, NULL, name);
    case MQTT_PT_UTF8:
        return rd_str(c, &prop->str, name, true);
    case MQTT_PT_BINARY:
        return rd_str(c, &prop->str, name, false);
    case MQTT_PT_PAIR:
        return rd_str(c, &prop->str, "User Property name", true) &&
               rd_str(c, &prop->str2, "User Property value", true);
    }
    return false;
}

/* A Property Length and the properties it covers (5.0 §2.2.2).  Truncation
 * inside the block is reported as such rather than as a missing field of
 * the packet. */
static void rd_props_as(cursor_t *c, mqtt_props_t *props, const char *what, enum mqtt_rule absent)
{
    uint32_t cap = 0;
    memset(props, 0, sizeof *props);
    if (left(c) == 0) {
        if (c->pkt->capture_short)
            missing(c, what);
        else
            finding(c, absent, span(c->pos, 0), what);
        return;
    }
    if (!rd_vbi(c, &props->length, &props->len_span, what)) {
        c->pos = c->end;
        return;
    }
    props->present = true;
    uint32_t block_end = c->pos + props->length;
    if (props->length > left(c)) {
        if (c->pkt->capture_short)
            missing(c, what);
        else
            finding(c, MQTT_R_PROPS_OVERRUN, props->len_span,
                    wmem_strdup_printf(c->scope, "%s is %u, only %u bytes remain", what,
                                       props->length, left(c)));
        block_end = c->end;
    }
    props->span = span(c->pos, block_end - c->pos);

    cursor_t b = *c;
    b.end = block_end;
    while (left(&b) > 0) {
        mqtt_prop_t prop;
        memset(&prop, 0, sizeof prop);
        uint32_t start = b.pos;
        uint32_t reported = c->pkt->findings.count;
        if (!rd_vbi(&b, &prop.id, &prop.id_span, "Property Identifier")) {
            props->stopped = true;
            break;
        }
        prop.spec = mqtt_prop_spec(prop.id);
        if (!prop.spec) {
            finding(&b, MQTT_R_PROP_UNKNOWN, prop.id_span,
                    wmem_strdup_printf(c->scope, "identifier 0x%02x", prop.id));
            props->stopped = true;
            b.pos = start;
            break;
        }
        uint32_t value_start = b.pos;
        bool ok = rd_prop_value(&b, &prop);
        /* Running out of bytes inside the block means the value is longer
         * than the Property Length allowed. */
        for (uint32_t i = reported; i < c->pkt->findings.count; i++)
            if (c->pkt->findings.items[i].rule == MQTT_R_TRUNCATED)
                c->pkt->findings.items[i].rule = MQTT_R_PROP_TRUNCATED;
        prop.value_span = span(value_start, b.pos - value_start);
        prop.span = span(start, b.pos - start);
        if (!ok) {
            props->stopped = true;
            b.pos = start;
            break;
        }
        props_push(c, props, &prop, &cap);
    }
    if (props->stopped)
        props->undecoded = span(b.pos, block_end - b.pos);
    c->pos = block_end;
}

static void rd_props(cursor_t *c, mqtt_props_t *props, const char *what)
{
    rd_props_as(c, props, what, MQTT_R_PROPS_MISSING);
}

const mqtt_prop_t *mqtt_props_find(const mqtt_props_t *props, uint32_t id)
{
    for (uint32_t i = 0; i < props->count; i++)
        if (props->items[i].id == id)
            return &props->items[i];
    return NULL;
}

/* ---- the control packets --------------------------------------------------------- */

static bool v5(const cursor_t *c)
{
    return c->pkt->version == MQTT_V5;
}

static void rd_connect(cursor_t *c)
{
    mqtt_pkt_t *pkt = c->pkt;
    if (!rd_str(c, &pkt->protocol_name, "Protocol Name", true))
        return;
    if (!rd_u8(c, &pkt->level, &pkt->level_span, "Protocol Level"))
        return;
    /* The level byte decides how the rest is laid out.  Bridges mark their
     * connections by setting bit 7 (not in any specification). */
    unsigned level = pkt->level & 0x7F;
    if (level >= MQTT_V31 && level <= MQTT_V5)
        pkt->version = (uint8_t)level;
    if (!rd_u8(c, &pkt->connect_flags, &pkt->connect_flags_span, "Connect Flags"))
        return;
    if (!rd_u16(c, &pkt->keepalive, &pkt->keepalive_span, "Keep Alive"))
        return;
    if (v5(c))
        rd_props(c, &pkt->props, "Property Length");
    /* Payload order: [MQTT-3.1.3-1]; each field is present exactly when
     * its flag says so. */
    if (!rd_str_as(c, &pkt->client_id, "Client Identifier", true, MQTT_R_CONNECT_CLIENTID_MISSING))
        return;
    uint8_t f = pkt->connect_flags;
    if (f & MQTT_CF_WILL) {
        if (v5(c)) {
            rd_props_as(c, &pkt->will_props, "Will Properties Length", MQTT_R_CONNECT_WILL_MISSING);
            if (!pkt->will_props.present)
                return;
        }
        if (!rd_str_as(c, &pkt->will_topic, "Will Topic", true, MQTT_R_CONNECT_WILL_MISSING))
            return;
        if (!rd_str_as(c, &pkt->will_payload, v5(c) ? "Will Payload" : "Will Message", false,
                       MQTT_R_CONNECT_WILL_MISSING))
            return;
    }
    if ((f & MQTT_CF_USERNAME) &&
        !rd_str_as(c, &pkt->username, "User Name", true, MQTT_R_CONNECT_USERNAME_MISSING))
        return;
    if ((f & MQTT_CF_PASSWORD) &&
        !rd_str_as(c, &pkt->password, "Password", false, MQTT_R_CONNECT_PASSWORD_MISSING))
        return;
    if (left(c) == 0)
        return;
    /* Surplus bytes: the first field whose flag is clear is what they are
     * most likely to be. */
    enum mqtt_rule rule = !(f & MQTT_CF_USERNAME) ? MQTT_R_CONNECT_USERNAME_UNFLAGGED
                          : !(f & MQTT_CF_PASSWORD) ? MQTT_R_CONNECT_PASSWORD_UNFLAGGED
                                                    : MQTT_R_CONNECT_SURPLUS;
    finding(c, rule, span(c->pos, left(c)), NULL);
    c->pos = c->end;
}

static void rd_reason(cursor_t *c, const char *what)
{
    mqtt_pkt_t *pkt = c->pkt;
    pkt->has_reason = rd_u8(c, &pkt->reason, &pkt->reason_span, what);
}

static void rd_connack(cursor_t *c)
{
    mqtt_pkt_t *pkt = c->pkt;
    if (!rd_u8(c, &pkt->ack_flags, &pkt->ack_flags_span, "Connect Acknowledge Flags"))
        return;
    rd_reason(c, v5(c) ? "Connect Reason Code" : "Connect Return code");
    if (!pkt->has_reason)
        return;
    if (v5(c))
        rd_props(c, &pkt->props, "Property Length");
    rd_end(c, v5(c) ? NULL : "CONNACK Remaining Length must be 2 (3.1.1 §3.2.1)");
}

static void rd_packet_id(cursor_t *c)
{
    mqtt_pkt_t *pkt = c->pkt;
    pkt->has_packet_id = rd_u16(c, &pkt->packet_id, &pkt->packet_id_span, "Packet Identifier");
}

static void rd_publish(cursor_t *c)
{
    mqtt_pkt_t *pkt = c->pkt;
    if (!rd_str(c, &pkt->topic, "Topic Name", true))
        return;
    /* QoS 3 is malformed; its packet is read as if it had an identifier. */
    if (MQTT_PUBLISH_QOS(pkt->flags)) {
        rd_packet_id(c);
        if (!pkt->has_packet_id)
            return;
    }
    if (v5(c)) {
        rd_props(c, &pkt->props, "Property Length");
        if (!pkt->props.present)
            return;
    }
    pkt->payload = span(c->pos, left(c));
    c->pos = c->end;
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP.  5.0 may leave out the Reason Code
 * (meaning 0x00) and the Property Length (meaning none) (§3.4.2.1). */
static void rd_ack(cursor_t *c)
{
    rd_packet_id(c);
    if (!c->pkt->has_packet_id)
        return;
    if (!v5(c)) {
        rd_end(c, "Remaining Length must be 2 (3.1.1 §3.4-§3.7)");
        return;
    }
    if (left(c) == 0)
        return;
    rd_reason(c, "Reason Code");
    if (left(c) > 0)
        rd_props(c, &c->pkt->props, "Property Length");
    rd_end(c, NULL);
}

static void push_filter(cursor_t *c, const mqtt_filter_t *f, uint32_t *cap)
{
    mqtt_pkt_t *pkt = c->pkt;
    if (pkt->filter_count == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        pkt->filters = wmem_realloc(c->scope, pkt->filters, *cap * sizeof *pkt->filters);
    }
    pkt->filters[pkt->filter_count++] = *f;
}

/* SUBSCRIBE (with_options) and UNSUBSCRIBE. */
static void rd_filters(cursor_t *c, bool with_options)
{
    mqtt_pkt_t *pkt = c->pkt;
    uint32_t cap = 0;
    rd_packet_id(c);
    if (!pkt->has_packet_id)
        return;
    if (v5(c)) {
        rd_props(c, &pkt->props, "Property Length");
        if (!pkt->props.present)
            return;
    }
    while (left(c) > 0) {
        mqtt_filter_t f;
        memset(&f, 0, sizeof f);
        bool ok = rd_str(c, &f.filter, "Topic Filter", true);
        if (ok && with_options) {
            ok = rd_u8(c, &f.options, &f.options_span,
                       v5(c) ? "Subscription Options" : "Requested QoS");
            f.has_options = ok;
        }
        if (f.filter.flags & MQTT_STR_PRESENT)
            push_filter(c, &f, &cap);
        if (!ok)
            return;
    }
}

/* SUBACK and UNSUBACK: one code per filter. */
static void rd_codes(cursor_t *c)
{
    mqtt_pkt_t *pkt = c->pkt;
    rd_packet_id(c);
    if (!pkt->has_packet_id)
        return;
    if (pkt->type == MQTT_UNSUBACK && !v5(c)) {
        rd_end(c, "UNSUBACK Remaining Length must be 2 (3.1.1 §3.11.1)");
        return;
    }
    if (v5(c)) {
        rd_props(c, &pkt->props, "Property Length");
        if (!pkt->props.present)
            return;
    }
    pkt->code_count = left(c);
    pkt->codes = wmem_alloc_array(c->scope, mqtt_code_t, pkt->code_count ? pkt->code_count : 1);
    for (uint32_t i = 0; i < pkt->code_count; i++)
        pkt->codes[i] = (mqtt_code_t){c->p[c->pos + i], c->pos + i};
    c->pos = c->end;
}

/* DISCONNECT and AUTH in 5.0: Reason Code and properties may be left out
 * (§3.14.2.1, §3.15.2.1). */
static void rd_reason_props(cursor_t *c)
{
    if (left(c) == 0)
        return;
    rd_reason(c, "Reason Code");
    if (left(c) > 0)
        rd_props(c, &c->pkt->props, "Property Length");
    rd_end(c, NULL);
}

static void rd_body(cursor_t *c)
{
    switch (c->pkt->type) {
    case MQTT_CONNECT: rd_connect(c); break;
    case MQTT_CONNACK: rd_connack(c); break;
    case MQTT_PUBLISH: rd_publish(c); break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP: rd_ack(c); break;
    case MQTT_SUBSCRIBE: rd_filters(c, true); break;
    case MQTT_UNSUBSCRIBE: rd_filters(c, false); break;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK: rd_codes(c); break;
    case MQTT_PINGREQ:
    case MQTT_PINGRESP: rd_end(c, "Remaining Length must be 0 (§3.12.1, §3.13.1)"); break;
    case MQTT_DISCONNECT:
        if (v5(c))
            rd_reason_props(c);
        else
            rd_end(c, "DISCONNECT Remaining Length must be 0 (3.1.1 §3.14.1)");
        break;
    case MQTT_AUTH:
        if (v5(c))
            rd_reason_props(c);
        break;
    default:
        break; /* Reserved: nothing is known about the bytes */
    }
}

mqtt_pkt_t *mqtt_decode(wmem_allocator_t *scope, const uint8_t *p, uint32_t avail, unsigned version)
{
    mqtt_pkt_t *pkt = wmem_new0(scope, mqtt_pkt_t);
    mqtt_frame_t fr;
    pkt->version = (uint8_t)(version >= MQTT_V31 && version <= MQTT_V5 ? version : MQTT_V311);
    pkt->raw = p;
    if (avail == 0)
        return pkt;
    pkt->type = p[0] >> 4;
    pkt->flags = p[0] & 0x0F;

    cursor_t c = {p, 1, avail, pkt, scope};
    enum mqtt_frame_status st = mqtt_frame(p, avail, &fr);
    if (st != MQTT_FRAME_OK) {
        pkt->rl_span = span(1, avail - 1 < 4 ? avail - 1 : 4);
        finding(&c, st == MQTT_FRAME_BAD ? MQTT_R_RL_TOO_LONG : MQTT_R_TRUNCATED, pkt->rl_span,
                st == MQTT_FRAME_BAD ? NULL : "Remaining Length is incomplete");
        pkt->total_len = avail;
        return pkt;
    }
    pkt->framed = true;
    pkt->remaining_length = fr.remaining_length;
    pkt->rl_span = span(1, fr.header_len - 1u);
    pkt->total_len = (uint32_t)fr.total_len;
    pkt->capture_short = fr.total_len > avail;
    mqtt_vbi_t rl;
    mqtt_vbi_decode(p + 1, avail - 1, &rl);
    if (!rl.minimal)
        finding(&c, pkt->version == MQTT_V5 ? MQTT_R_VBI_NOT_MINIMAL : MQTT_R_RL_NOT_MINIMAL,
                pkt->rl_span, "Remaining Length");

    c.pos = fr.header_len;
    c.end = pkt->capture_short ? avail : (uint32_t)fr.total_len;
    rd_body(&c);
    return pkt;
}

bool mqtt_pkt_is_malformed(const mqtt_pkt_t *pkt)
{
    for (uint32_t i = 0; i < pkt->findings.count; i++)
        if (mqtt_rule_specs[pkt->findings.items[i].rule].group == MQTT_G_MALFORMED)
            return true;
    return false;
}

bool mqtt_pkt_reason_implied(const mqtt_pkt_t *pkt)
{
    const mqtt_type_mask may_omit = MQTT_ACKS | MQTT_BIT(MQTT_DISCONNECT) | MQTT_BIT(MQTT_AUTH);
    return pkt->version == MQTT_V5 && (may_omit & MQTT_BIT(pkt->type)) && !pkt->has_reason && pkt->framed &&
           !pkt->capture_short && !mqtt_pkt_is_malformed(pkt);
}

unsigned mqtt_guess_version(wmem_allocator_t *scope, const uint8_t *p, uint32_t len)
{
    if (len == 0)
        return 0;
    unsigned type = p[0] >> 4;
    if (type == MQTT_AUTH)
        return MQTT_V5; /* reserved before 5.0 */
    mqtt_pkt_t *as5 = mqtt_decode(scope, p, len, MQTT_V5);
    if (type == MQTT_CONNECT) {
        unsigned level = as5->level & 0x7F;
        return level >= MQTT_V31 && level <= MQTT_V5 ? level : 0;
    }
    bool bad5 = mqtt_pkt_is_malformed(as5);
    bool bad3 = mqtt_pkt_is_malformed(mqtt_decode(scope, p, len, MQTT_V311));
    if (bad5 == bad3)
        return 0;
    return bad5 ? MQTT_V311 : MQTT_V5;
}
