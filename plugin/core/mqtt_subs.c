/* mqtt_subs.c — subscriptions and delivery checks (see mqtt_subs.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_subs.h"

#include <string.h>

#define PENDING 0xFF

typedef struct sub {
    struct sub *next;
    struct sub *prev;
    char *filter;
    uint32_t len;
    uint8_t options;     /* 5.0 Subscription Options, 3.1.1 requested QoS */
    uint8_t granted;     /* from the SUBACK; PENDING until then */
    uint16_t request_id; /* the SUBSCRIBE's Packet Identifier while pending */
    uint32_t request_frame; /* and its frame */
    uint32_t pos;        /* the filter's position in it: the SUBACK's code for it is the pos-th (§3.9.3) */
    uint32_t sub_id;     /* 5.0 Subscription Identifier, 0 for none */
    uint32_t leaving;    /* frame of the UNSUBSCRIBE waiting for its UNSUBACK, 0 for none */
    uint16_t leaving_id; /* and its Packet Identifier */
} sub_t;

typedef struct {
    bool used;
    bool retain;
    uint32_t topic_hash;        /* the low half of mqtt_hash64() */
    uint32_t payload_hash;
} recent_t;

struct mqtt_subs {
    wmem_allocator_t *scope;
    sub_t *head;
    wmem_map_t *by_filter;  /* filter -> its sub_t: replacing one costs no scan */
    uint32_t count;
    bool full;
    bool wild_first;        /* a filter starts with a wildcard level ("+", "#") */
    uint64_t first_levels;  /* mqtt_topic_first_level_bit() of every other filter's first level, never cleared */
    unsigned version;
    recent_t recent[MQTT_RECENT_PUBLISHES];
    unsigned next_recent;
};

/* Filters are compared as bytes: one may hold U+0000 (a rule violation
 * reported elsewhere, yet still a subscription). */
static guint filter_hash(gconstpointer key)
{
    const sub_t *s = (const sub_t *)key;
    guint h = 2166136261u;
    for (uint32_t i = 0; i < s->len; i++)
        h = (h ^ (uint8_t)s->filter[i]) * 16777619u;
    return h;
}

static gboolean filter_equal(gconstpointer a, gconstpointer b)
{
    const sub_t *x = (const sub_t *)a, *y = (const sub_t *)b;
    return x->len == y->len && (x->len == 0 || memcmp(x->filter, y->filter, x->len) == 0);
}

mqtt_subs_t *mqtt_subs_new(wmem_allocator_t *scope)
{
    mqtt_subs_t *subs = wmem_new0(scope, mqtt_subs_t);
    subs->scope = scope;
    subs->by_filter = wmem_map_new(scope, filter_hash, filter_equal);
    return subs;
}

bool mqtt_subs_full(const mqtt_subs_t *subs)
{
    return subs->full;
}

/* ---- topic matching ------------------------------------------------------- */

bool mqtt_topic_matches(const uint8_t *f, uint32_t flen, const uint8_t *t, uint32_t tlen)
{
    uint32_t fi = 0, ti = 0;
    /* A Shared Subscription matches like the filter after its ShareName
     * (a filter that is only the prefix matches literally). */
    if (flen > MQTT_SHARE_PREFIX_LEN && mqtt_filter_is_shared(f, flen)) {
        const uint8_t *slash = memchr(f + MQTT_SHARE_PREFIX_LEN, '/', flen - MQTT_SHARE_PREFIX_LEN);
        if (!slash)
            return false;
        fi = (uint32_t)(slash - f) + 1;
    }
    /* Topics starting with '$' are not matched by a leading wildcard. */
    if (tlen > 0 && t[0] == '$' && fi < flen && (f[fi] == '+' || f[fi] == '#'))
        return false;
    for (;;) {
        if (fi < flen && f[fi] == '#')
            return true; /* matches this level and all below, even none */
        uint32_t fe = fi, te = ti;
        while (fe < flen && f[fe] != '/')
            fe++;
        while (te < tlen && t[te] != '/')
            te++;
        bool plus = fe - fi == 1 && f[fi] == '+';
        if (!plus && (fe - fi != te - ti || memcmp(f + fi, t + ti, fe - fi) != 0))
            return false;
        bool fend = fe >= flen, tend = te >= tlen;
        if (fend && tend)
            return true;
        if (tend)
            /* "a/#" also matches "a" itself. */
            return fe + 2 == flen && f[fe + 1] == '#';
        if (fend)
            return false;
        fi = fe + 1;
        ti = te + 1;
    }
}

/* ---- the table -------------------------------------------------------------- */

/* A filter's bytes with a NUL after them; never NULL, even when empty. */
static char *copy_filter(wmem_allocator_t *scope, const mqtt_str_t *f)
{
    char *copy = (char *)wmem_alloc(scope, f->data.len + 1);
    if (f->data.len)
        memcpy(copy, f->bytes, f->data.len);
    copy[f->data.len] = '\0';
    return copy;
}

static void remove_filter(mqtt_subs_t *subs, const uint8_t *f, uint32_t len)
{
    sub_t key = {.filter = (char *)f, .len = len};
    sub_t *s = (sub_t *)wmem_map_remove(subs->by_filter, &key);
    if (!s)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else
        subs->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    subs->count--;
}

static bool str_ok(const mqtt_str_t *s)
{
    return (s->flags & MQTT_STR_PRESENT) && !(s->flags & MQTT_STR_TRUNCATED);
}

uint64_t mqtt_topic_first_level_bit(const uint8_t *t, uint32_t len)
{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < len && t[i] != '/'; i++)
        h = (h ^ t[i]) * 16777619u;
    return (uint64_t)1 << (h % 64);
}

/* The summary mqtt_subs_may_match() reads: a superset (removing a filter
 * leaves its bit), so it only ever spares a scan that could find nothing. */
static void note_first_level(mqtt_subs_t *subs, const sub_t *s)
{
    if (s->len && (s->filter[0] == '+' || s->filter[0] == '#'))
        subs->wild_first = true;
    else
        subs->first_levels |= mqtt_topic_first_level_bit((const uint8_t *)s->filter, s->len);
}

bool mqtt_subs_may_match(const mqtt_subs_t *subs, uint64_t level_bit)
{
    return subs->wild_first || (subs->first_levels & level_bit);
}

void mqtt_subs_subscribe(mqtt_subs_t *subs, const mqtt_pkt_t *pkt, unsigned version, uint32_t frame)
{
    const mqtt_prop_t *sid = mqtt_props_find(&pkt->props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER);
    subs->version = version;
    for (uint32_t i = 0; i < pkt->filter_count; i++) {
        const mqtt_filter_t *f = &pkt->filters[i];
        if (!str_ok(&f->filter) || !f->has_options)
            continue;
        /* An identical filter replaces the existing subscription, also
         * one earlier in this SUBSCRIBE ([MQTT-3.8.4-3]); the SUBACK still
         * has a code for each position. */
        remove_filter(subs, f->filter.bytes, f->filter.data.len);
        if (subs->count >= MQTT_MAX_SUBSCRIPTIONS) {
            subs->full = true;
            continue;
        }
        sub_t *s = wmem_new0(subs->scope, sub_t);
        s->filter = copy_filter(subs->scope, &f->filter);
        s->len = f->filter.data.len;
        s->options = f->options;
        s->granted = PENDING;
        s->request_id = pkt->packet_id;
        s->request_frame = frame;
        s->pos = i;
        s->sub_id = sid ? sid->num : 0;
        note_first_level(subs, s);
        s->next = subs->head;
        if (subs->head)
            subs->head->prev = s;
        subs->head = s;
        wmem_map_insert(subs->by_filter, s, s);
        subs->count++;
    }
}

/* Each filter of the SUBSCRIBE still waiting gets the code at its position
 * in the SUBSCRIBE: filters not kept (malformed, replaced by a repeat, or
 * over the table's limit) leave their code unmatched rather than shift the
 * others. */
void mqtt_subs_suback(mqtt_subs_t *subs, const mqtt_pkt_t *pkt, uint32_t request_frame, wmem_allocator_t *scope,
                      mqtt_findings_t *out)
{
    sub_t *next;
    for (sub_t *s = subs->head; s; s = next) {
        next = s->next;
        if (s->granted != PENDING || s->request_frame != request_frame || s->request_id != pkt->packet_id ||
            s->pos >= pkt->code_count)
            continue;
        const mqtt_code_t *c = &pkt->codes[s->pos];
        if (c->code >= 0x80) {
            remove_filter(subs, (const uint8_t *)s->filter, s->len);
            continue;
        }
        s->granted = c->code;
        if (c->code <= 2 && c->code > MQTT_SO_QOS(s->options))
            mqtt_finding_add(scope, out, MQTT_R_GRANTED_ABOVE_REQUESTED, (mqtt_span_t){c->off, 1},
                             wmem_strdup_printf(scope, "granted QoS %u, requested %u for \"%.*s\"", c->code,
                                                MQTT_SO_QOS(s->options), (int)s->len, s->filter));
    }
}

/* The filters of an UNSUBSCRIBE leave at its UNSUBACK: until the server
 * has read the UNSUBSCRIBE it may still send on them ([MQTT-3.10.4-2]
 * stops new messages from then on), so a PUBLISH crossing the request
 * matches them. */
void mqtt_subs_unsubscribe(mqtt_subs_t *subs, const mqtt_pkt_t *pkt, uint32_t frame)
{
    for (uint32_t i = 0; i < pkt->filter_count; i++) {
        const mqtt_str_t *f = &pkt->filters[i].filter;
        if (!str_ok(f))
            continue;
        sub_t key = {.filter = (char *)f->bytes, .len = f->data.len};
        sub_t *s = (sub_t *)wmem_map_lookup(subs->by_filter, &key);
        if (s) {
            s->leaving = frame;
            s->leaving_id = pkt->packet_id;
        }
    }
}

void mqtt_subs_unsuback(mqtt_subs_t *subs, uint32_t request_frame, uint16_t packet_id)
{
    sub_t *next;
    for (sub_t *s = subs->head; s; s = next) {
        next = s->next;
        if (s->leaving == request_frame && s->leaving_id == packet_id)
            remove_filter(subs, (const uint8_t *)s->filter, s->len);
    }
}

/* ---- echoes of the client's own publications -------------------------------- */

void mqtt_subs_client_publish(mqtt_subs_t *subs, const mqtt_pkt_t *pkt)
{
    if (!str_ok(&pkt->topic) || pkt->topic.data.len == 0 || pkt->capture_short)
        return;
    recent_t *r = &subs->recent[subs->next_recent++ % MQTT_RECENT_PUBLISHES];
    r->used = true;
    r->retain = pkt->flags & 1;
    r->topic_hash = (uint32_t)mqtt_hash64(pkt->topic.bytes, pkt->topic.data.len);
    r->payload_hash = (uint32_t)mqtt_hash64(pkt->raw + pkt->payload.off, pkt->payload.len);
}

static const recent_t *echo_of(const mqtt_subs_t *subs, const mqtt_pkt_t *pkt, const char *topic, uint32_t tlen)
{
    uint32_t th = (uint32_t)mqtt_hash64((const uint8_t *)topic, tlen);
    uint32_t ph = (uint32_t)mqtt_hash64(pkt->raw + pkt->payload.off, pkt->payload.len);
    for (unsigned i = 0; i < MQTT_RECENT_PUBLISHES; i++) {
        const recent_t *r = &subs->recent[i];
        if (r->used && r->topic_hash == th && r->payload_hash == ph)
            return r;
    }
    return NULL;
}

/* ---- deliveries -------------------------------------------------------------- */

typedef struct {
    unsigned matched;
    unsigned max_qos;
    bool all_no_local;
    bool all_rap;
    bool any_rap;
    bool all_rh2;
    bool all_have_sub_id;   /* every matching subscription has an identifier */
    uint32_t some_sub_id;
} match_t;



static match_t match(const mqtt_subs_t *subs, const char *topic, uint32_t tlen)
{
    match_t m = {0, 0, true, true, false, true, true, 0};
    bool v5 = subs->version == MQTT_V5;
    for (const sub_t *s = subs->head; s; s = s->next) {
        if (!mqtt_topic_matches((const uint8_t *)s->filter, s->len, (const uint8_t *)topic, tlen))
            continue;
        unsigned qos = s->granted == PENDING ? MQTT_SO_QOS(s->options) : s->granted;
        m.matched++;
        if (qos > m.max_qos)
            m.max_qos = qos;
        m.all_no_local &= v5 && (s->options & MQTT_SO_NO_LOCAL);
        m.all_rap &= v5 && (s->options & MQTT_SO_RETAIN_AS_PUBLISHED);
        m.any_rap |= v5 && (s->options & MQTT_SO_RETAIN_AS_PUBLISHED);
        m.all_rh2 &= v5 && (MQTT_SO_RETAIN_HANDLING(s->options)) == 2 && !(s->options & MQTT_SO_RETAIN_AS_PUBLISHED);
        m.all_have_sub_id &= v5 && s->sub_id != 0;
        if (s->sub_id)
            m.some_sub_id = s->sub_id;
    }
    return m;
}

const char *mqtt_subs_expecting(const mqtt_subs_t *subs, const uint8_t *topic, uint32_t tlen, bool own)
{
    if (subs->full)
        return NULL;
    bool v5 = subs->version == MQTT_V5;
    for (const sub_t *s = subs->head; s; s = s->next) {
        if (s->granted == PENDING || s->leaving ||
            (s->len > MQTT_SHARE_PREFIX_LEN && mqtt_filter_is_shared((const uint8_t *)s->filter, s->len)))
            continue;
        if (own && v5 && (s->options & MQTT_SO_NO_LOCAL))
            continue;
        if (mqtt_topic_matches((const uint8_t *)s->filter, s->len, topic, tlen))
            return s->filter;
    }
    return NULL;
}

bool mqtt_subs_holds(const mqtt_subs_t *subs, const char *filter)
{
    sub_t key = {.filter = (char *)filter, .len = (uint32_t)strlen(filter)};
    const sub_t *s = (const sub_t *)wmem_map_lookup(subs->by_filter, &key);
    return s && !s->leaving;
}

bool mqtt_subs_max_granted(const mqtt_subs_t *subs, const uint8_t *topic, uint32_t tlen, unsigned *max)
{
    bool any = false;
    *max = 0;
    if (subs->full)
        return false;
    for (const sub_t *s = subs->head; s; s = s->next) {
        /* A shared subscription's group gets the message once, maybe
         * through another member (§4.8.2). */
        if ((s->len > MQTT_SHARE_PREFIX_LEN && mqtt_filter_is_shared((const uint8_t *)s->filter, s->len)) ||
            !mqtt_topic_matches((const uint8_t *)s->filter, s->len, topic, tlen))
            continue;
        if (s->granted == PENDING || s->leaving)
            return false;
        any = true;
        if (s->granted > *max)
            *max = s->granted;
    }
    return any;
}

/* A topic that only wildcard-first filters would match if '$' were not
 * special. */
static bool dollar_match(const mqtt_subs_t *subs, const char *topic, uint32_t tlen)
{
    if (tlen == 0 || topic[0] != '$')
        return false;
    char *plain = g_strndup(topic, tlen);
    plain[0] = '_';
    bool hit = false;
    for (const sub_t *s = subs->head; s && !hit; s = s->next)
        hit = mqtt_topic_matches((const uint8_t *)s->filter, s->len, (const uint8_t *)plain, tlen);
    g_free(plain);
    return hit;
}

static void retain_rules(const mqtt_subs_t *subs, const mqtt_pkt_t *pkt, const match_t *m, const recent_t *echo,
                         wmem_allocator_t *scope, mqtt_findings_t *out)
{
    bool retain = pkt->flags & 1;
    mqtt_span_t first = {0, 1};
    if (echo && m->all_rap && retain != echo->retain)
        mqtt_finding_add(scope, out, MQTT_R_RETAIN_NOT_PRESERVED, first,
                         "Retain As Published is 1 but RETAIN differs from the client's PUBLISH");
    else if (echo && !m->any_rap && retain && echo->retain)
        mqtt_finding_add(scope, out, MQTT_R_RETAIN_NOT_CLEARED, first,
                         "the client's own PUBLISH comes back on its existing subscription with RETAIN 1");
    else if (!echo && retain && m->all_rh2 && subs->version == MQTT_V5)
        mqtt_finding_add(scope, out, MQTT_R_RETAIN_HANDLING_2, first, NULL);
}

void mqtt_subs_server_publish(mqtt_subs_t *subs, const mqtt_pkt_t *pkt, const char *topic, uint32_t tlen,
                              wmem_allocator_t *scope, mqtt_findings_t *out)
{
    if (subs->full || !topic)
        return;
    mqtt_span_t where = pkt->topic.data.len ? pkt->topic.data : (mqtt_span_t){0, 1};
    match_t m = match(subs, topic, tlen);
    if (m.matched == 0) {
        bool dollar = dollar_match(subs, topic, tlen);
        mqtt_finding_add(scope, out, dollar ? MQTT_R_DOLLAR_WILDCARD : MQTT_R_DELIVERY_UNSUBSCRIBED, where,
                         wmem_strdup_printf(scope, "\"%.*s\"", (int)tlen, topic));
        return;
    }
    unsigned qos = MQTT_PUBLISH_QOS(pkt->flags);
    if (qos != 3 && qos > m.max_qos)
        mqtt_finding_add(scope, out, MQTT_R_DELIVERY_QOS, (mqtt_span_t){0, 1},
                         wmem_strdup_printf(scope, "QoS %u, granted at most %u", qos, m.max_qos));
    /* A server may send one copy per matching subscription, each with its
     * own identifier, so only a copy with none at all, when every match
     * has one, is wrong ([MQTT-3.3.4-3], [MQTT-3.3.4-4], [MQTT-3.3.4-5]). */
    if (m.all_have_sub_id && !mqtt_props_find(&pkt->props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER))
        mqtt_finding_add(scope, out, MQTT_R_DELIVERY_SUB_ID, where,
                         wmem_strdup_printf(scope, "e.g. identifier %u", m.some_sub_id));
    const recent_t *echo = echo_of(subs, pkt, topic, tlen);
    if (echo && m.all_no_local)
        mqtt_finding_add(scope, out, MQTT_R_NO_LOCAL_ECHO, where, NULL);
    retain_rules(subs, pkt, &m, echo, scope, out);
}
