/* mqtt_journey.c — message journeys across connections (see mqtt_journey.h).
 *
 * Per broker endpoint: the origins younger than the window (a list in
 * capture order), the retained message of each topic, the Will Messages
 * that may still be published, the connections that hold granted
 * subscriptions, and the messages queued for sessions whose connection
 * ended.  Topics and payloads are compared by their length and a
 * 64-bit hash of their bytes.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_journey.h"

#include <string.h>

#include "mqtt_subs.h"

typedef struct broker broker_t;

/* A connection as the journeys know it. */
typedef struct {
    broker_t *broker;
    const mqtt_identity_t *who; /* the latest identity seen (conn scope) */
    const char *addr;           /* the client's endpoint (file scope) */
    bool closed;                /* DISCONNECT seen from either side, or TCP's FIN or RST */
    int64_t closed_ns;          /* when */
    bool session_kept;          /* the session outlives the connection (see session_outlives) */
    int64_t unsubscribed_ns;    /* its latest packet that can remove a subscription, INT64_MIN for none */
    bool subscriber;            /* in the broker's subscriber list */
    const mqtt_conn_t *conn;
    wmem_map_t *got;            /* serials of the origins in the window it received (made when needed) */
    wmem_map_t *copy_sets;      /* origin's mqtt_journey_t -> copy_set_t still open (made when needed) */
} jconn_t;

/* The copies of one origin one 3.1/3.1.1 subscriber got, for
 * rule.delivery_qos_below_matching_maximum: the server MUST deliver at the
 * maximum QoS of the matching subscriptions ([MQTT-3.3.5-1]) and MAY send
 * further copies, one per other matching subscription at its own QoS, so
 * the rule is judged over all of them, once no more can come. */
typedef struct copy_set {
    struct copy_set *next;      /* the broker's list, in the order they were opened */
    jconn_t *to;
    const mqtt_journey_t *origin;
    uint32_t origin_frame;
    uint8_t origin_qos;
    int64_t first_ns;           /* the first copy */
    mqtt_journey_t *best;       /* the (first) copy at the highest QoS */
    uint8_t best_qos, best_granted;
    uint32_t copies;
    bool reached;               /* a copy came at the QoS expected, or one could not be judged */
    bool judged;
} copy_set_t;

/* What identifies a message. */
typedef struct {
    uint64_t topic_hash;
    uint64_t payload_hash;
    uint32_t topic_len;
    uint32_t payload_len;
} msgkey_t;

/* A subscriber expected to receive an origin. */
typedef struct {
    jconn_t *who;
    const char *filter;
} expected_t;

/* An origin still within the window (or a Will that may be published). */
typedef struct origin {
    struct origin *next;
    struct origin *next_same;   /* the next origin of the same message */
    uint64_t serial;            /* never reused */
    mqtt_journey_t *rec;        /* NULL until something is said about it (rec_of) */
    jconn_t *from;
    uint32_t frame;
    int64_t ns;
    msgkey_t key;
    uint8_t qos;
    uint8_t kind;               /* FORWARDED or WILL */
    const mqtt_snapshot_t *snap; /* the PUBLISH's: its response_in tells whether the broker answered */
    uint32_t expected_count;
    uint32_t expected_capacity; /* kept, with the array, when the origin is recycled */
    expected_t *expected;       /* grows to at most MQTT_JOURNEY_MAX_EXPECTED */
} origin_t;

typedef struct {
    uint32_t frame;
    msgkey_t key;
    jconn_t *from;
    mqtt_journey_t *rec;
} retained_t;

/* A message an expected subscriber did not get before its connection
 * ended, while its session lives on: the broker keeps it for the
 * session's next connection (§4.1). */
typedef struct {
    const jconn_t *session;     /* the connection that ended; its client id names the session */
    const jconn_t *from;
    mqtt_journey_t *rec;
    uint32_t frame;
    int64_t ns;
    msgkey_t key;
    uint8_t qos;
} queued_t;

enum limit_bit { LIM_PENDING = 1, LIM_RETAINED = 2, LIM_WILLS = 4, LIM_SUBSCRIBERS = 8, LIM_EXPECTED = 16,
                 LIM_DELIVERIES = 32, LIM_QUEUED = 64, LIM_COPY_SETS = 128 };

/* The pending origins of one message, oldest first. */
typedef struct {
    uint64_t key;
    origin_t *head, *tail;
} chain_t;

struct broker {
    origin_t *head, *tail;      /* pending origins, oldest first */
    wmem_map_t *by_message;     /* message hash -> chain_t */
    uint32_t pending;
    wmem_map_t *retained;       /* topic hash -> retained_t */
    uint32_t retained_count;
    origin_t **wills;
    uint32_t will_count, will_capacity;
    jconn_t **subscribers;
    uint32_t subscriber_count, subscriber_capacity;
    queued_t *queued;           /* in the order they were queued */
    uint32_t queued_count, queued_capacity;
    wmem_map_t *queued_for;     /* client id -> how many of them are its (made when needed) */
    copy_set_t *sets_head, *sets_tail; /* copy sets, oldest first (judged ones until they leave) */
    uint32_t set_count;
    uint32_t origins_seen;      /* client PUBLISH packets seen at all */
    int64_t slowest_ns;         /* the longest broker latency of a delivery seen so far */
    bool seen;                  /* a delivery or a granted subscription seen */
    mqtt_journey_t nothing;     /* the record of its origins that nobody received (never changed) */
    mqtt_journey_t unlinked;    /* the record of its deliveries whose origin is not in the capture (never changed) */
    unsigned limits;            /* enum limit_bit: reported once each */
};

struct mqtt_journeys {
    wmem_allocator_t *scope;
    wmem_map_t *brokers;        /* "address:port" -> broker_t */
    wmem_map_t *conns;          /* mqtt_conn_t * -> jconn_t */
    wmem_map_t *records;        /* mqtt_snapshot_t * -> mqtt_journey_t */
    origin_t *free_origins;
    uint64_t serial;
    int64_t last_ns;            /* the latest packet or connection end seen: where the capture ends */
    bool finished;
};

mqtt_journeys_t *mqtt_journeys_new(wmem_allocator_t *scope)
{
    mqtt_journeys_t *j = wmem_new0(scope, mqtt_journeys_t);
    j->scope = scope;
    j->brokers = wmem_map_new(scope, g_str_hash, g_str_equal);
    j->conns = wmem_map_new(scope, g_direct_hash, g_direct_equal);
    j->records = wmem_map_new(scope, g_direct_hash, g_direct_equal);
    return j;
}

bool mqtt_journey_broker_seen(const mqtt_journey_t *j)
{
    return j && (j->is_delivery || (j->broker_seen && *j->broker_seen));
}

const mqtt_journey_t *mqtt_journey_of(const mqtt_journeys_t *j, const mqtt_snapshot_t *snap)
{
    return j && snap ? (const mqtt_journey_t *)wmem_map_lookup(j->records, snap) : NULL;
}

/* ---- helpers ------------------------------------------------------------------ */

static bool same_message(const msgkey_t *a, const msgkey_t *b)
{
    return a->topic_len == b->topic_len && a->payload_len == b->payload_len && a->topic_hash == b->topic_hash &&
           a->payload_hash == b->payload_hash;
}

static uint64_t message_hash(const msgkey_t *k)
{
    return k->topic_hash ^ (k->payload_hash * 0x9E3779B97F4A7C15u) ^ ((uint64_t)k->payload_len << 32);
}

static msgkey_t key_of(const uint8_t *topic, uint32_t tlen, const uint8_t *payload, uint32_t plen)
{
    msgkey_t k = {mqtt_hash64(topic, tlen), mqtt_hash64(payload, plen), tlen, plen};
    return k;
}

/* A PUBLISH's topic: its Topic Name, or the one its alias stood for. */
static const uint8_t *publish_topic(const mqtt_pkt_t *pkt, const mqtt_snapshot_t *snap, uint32_t *len)
{
    const char *alias = mqtt_snapshot_extra(snap)->alias_topic;
    if (alias) {
        *len = (uint32_t)strlen(alias);
        return (const uint8_t *)alias;
    }
    if (!(pkt->topic.flags & MQTT_STR_PRESENT) || (pkt->topic.flags & MQTT_STR_TRUNCATED) || !pkt->topic.data.len)
        return NULL;
    *len = pkt->topic.data.len;
    return pkt->topic.bytes;
}

static const char *client_name(const jconn_t *c)
{
    if (c->who && c->who->client_id && c->who->client_id[0])
        return c->who->client_id;
    return c->addr;
}

static void *grow(wmem_allocator_t *scope, void *array, uint32_t *capacity, size_t item)
{
    uint32_t cap = *capacity ? *capacity * 2 : 4;
    *capacity = cap;
    return wmem_realloc(scope, array, cap * item);
}

static mqtt_journey_t *record(mqtt_journeys_t *j, const mqtt_snapshot_t *snap)
{
    mqtt_journey_t *rec = (mqtt_journey_t *)wmem_map_lookup(j->records, snap);
    if (!rec || rec->shared) {
        mqtt_journey_t *own = wmem_new0(j->scope, mqtt_journey_t);
        if (rec)
            *own = *rec; /* a broker's record of nothing is never changed */
        own->shared = false;
        wmem_map_insert(j->records, snap, own);
        rec = own;
    }
    return rec;
}

/* Reports a bound once per broker, on the packet that reached it. */
static void limit_reached_at(mqtt_journeys_t *j, broker_t *b, enum limit_bit bit, mqtt_journey_t *rec,
                             const char *text)
{
    if (b->limits & bit)
        return;
    b->limits |= bit;
    rec->limit = rec->limit ? wmem_strdup_printf(j->scope, "%s; %s", rec->limit, text) : text;
}

static void limit_reached(mqtt_journeys_t *j, broker_t *b, enum limit_bit bit, const mqtt_snapshot_t *snap,
                          const char *text)
{
    if (!(b->limits & bit))
        limit_reached_at(j, b, bit, record(j, snap), text);
}

/* ---- brokers and connections ------------------------------------------------------------ */

static broker_t *broker_get(mqtt_journeys_t *j, const char *name)
{
    broker_t *b = (broker_t *)wmem_map_lookup(j->brokers, name);
    if (!b) {
        b = wmem_new0(j->scope, broker_t);
        b->retained = wmem_map_new(j->scope, g_int64_hash, g_int64_equal);
        b->by_message = wmem_map_new(j->scope, g_int64_hash, g_int64_equal);
        b->nothing.broker_seen = &b->seen;
        b->nothing.shared = true;
        b->unlinked.is_delivery = true;
        b->unlinked.shared = true;
        wmem_map_insert(j->brokers, wmem_strdup(j->scope, name), b);
    }
    return b;
}

static jconn_t *conn_get(mqtt_journeys_t *j, const mqtt_journey_ctx_t *ctx, const mqtt_snapshot_t *snap)
{
    jconn_t *c = (jconn_t *)wmem_map_lookup(j->conns, ctx->conn);
    if (!c) {
        c = wmem_new0(j->scope, jconn_t);
        c->conn = ctx->conn;
        c->broker = broker_get(j, ctx->broker);
        c->addr = wmem_strdup(j->scope, ctx->client_addr);
        c->unsubscribed_ns = INT64_MIN;
        wmem_map_insert(j->conns, (void *)ctx->conn, c);
    }
    if (snap->who)
        c->who = snap->who;
    return c;
}

static void add_subscriber(mqtt_journeys_t *j, jconn_t *c, const mqtt_snapshot_t *snap)
{
    broker_t *b = c->broker;
    if (c->subscriber || c->closed)
        return;
    if (b->subscriber_count >= MQTT_JOURNEY_MAX_SUBSCRIBERS) {
        limit_reached(j, b, LIM_SUBSCRIBERS, snap,
                      "message journeys: more than 256 subscribing connections on this broker; "
                      "later ones are not checked for missed deliveries");
        return;
    }
    if (b->subscriber_count == b->subscriber_capacity)
        b->subscribers = (jconn_t **)grow(j->scope, b->subscribers, &b->subscriber_capacity, sizeof(jconn_t *));
    b->subscribers[b->subscriber_count++] = c;
    c->subscriber = true;
}

static void remove_subscriber(jconn_t *c)
{
    broker_t *b = c->broker;
    for (uint32_t i = 0; c->subscriber && i < b->subscriber_count; i++) {
        if (b->subscribers[i] == c) {
            b->subscribers[i] = b->subscribers[--b->subscriber_count];
            c->subscriber = false;
        }
    }
}

/* ---- origins --------------------------------------------------------------------------------- */

static origin_t *origin_alloc(mqtt_journeys_t *j)
{
    origin_t *o = j->free_origins;
    if (o)
        j->free_origins = o->next;
    else
        o = wmem_new0(j->scope, origin_t);
    expected_t *expected = o->expected;
    uint32_t capacity = o->expected_capacity;
    memset(o, 0, sizeof *o);
    o->expected = expected;
    o->expected_capacity = capacity;
    return o;
}

/* The record of an origin, made when something is first said about it
 * (a delivery, a subscriber that missed it, a refusal, a bound, a retained
 * or queued copy). Most origins of ordinary traffic reach nobody in the
 * capture: they never get one of their own and, once out of the window,
 * share their broker's record of nothing (origin_leaves). */
static mqtt_journey_t *rec_of(mqtt_journeys_t *j, origin_t *o)
{
    if (!o->rec) {
        o->rec = record(j, o->snap);
        o->rec->broker_seen = &o->from->broker->seen;
    }
    return o->rec;
}

static uint32_t deliveries_total(const origin_t *o)
{
    return o->rec ? o->rec->deliveries_total : 0;
}

/* An origin out of the window (or still in it at the end of the capture):
 * one with no record shows its broker's record of nothing, which says what
 * an empty one said (no deliveries; whether the broker delivered anything). */
static void origin_leaves(mqtt_journeys_t *j, broker_t *b, origin_t *o)
{
    if (o->rec || o->kind != MQTT_JK_FORWARDED)
        return;
    if (wmem_map_contains(j->records, o->snap)) {
        rec_of(j, o); /* a bound was reported on its packet */
        return;
    }
    wmem_map_insert(j->records, o->snap, &b->nothing);
}

/* Whether two connections belong to one session: the same connection, or
 * the same client id on the same broker (a session is named by its client
 * id, §4.1). */
static const char *client_id(const jconn_t *c)
{
    return c->who && c->who->client_id && c->who->client_id[0] ? c->who->client_id : NULL;
}

static bool same_session(const jconn_t *a, const jconn_t *b)
{
    if (a == b)
        return true;
    const char *x = client_id(a), *y = client_id(b);
    return a->broker == b->broker && x && y && strcmp(x, y) == 0;
}

/* Whether a delivery of the origin went to this connection or to a later
 * connection of its session. */
static bool listed_for(const mqtt_journey_t *rec, const jconn_t *c)
{
    for (uint32_t i = 0; rec && i < rec->delivery_count; i++)
        if (same_session((const jconn_t *)rec->deliveries[i].to_conn, c))
            return true;
    return false;
}

/* A subscriber that missed an origin, and the finding that says so: what
 * the heuristic assumed is in its text. */
static mqtt_journey_missed_t missed(mqtt_journeys_t *j, const char *client, const char *filter)
{
    const char *detail = wmem_strdup_printf(
        j->scope,
        "none to %s (subscribed to \"%s\") within %u s, while its connection stayed open and subscribed "
        "for longer than the broker took to deliver (%u x its slowest delivery, at least %u ms); "
        "assumes the broker sends every message to every matching subscription: an ACL denial, No Local, "
        "a full queue or an overloaded broker would explain it",
        client, filter, (unsigned)(MQTT_JOURNEY_WINDOW_NS / 1000000000), (unsigned)MQTT_JOURNEY_GRACE_FACTOR,
        (unsigned)(MQTT_JOURNEY_MIN_GRACE_NS / 1000000));
    mqtt_journey_missed_t m = {client, filter, {MQTT_R_DELIVERY_MISSED, {0, 1}, detail, NULL}};
    return m;
}

/* How many queued messages a session has: a delivery to a session with
 * none is not looked up in the list. */
static uint32_t queued_count_of(const broker_t *b, const jconn_t *c)
{
    const char *id = client_id(c);
    return id && b->queued_for ? GPOINTER_TO_UINT(wmem_map_lookup(b->queued_for, id)) : 0;
}

static void count_queued(mqtt_journeys_t *j, broker_t *b, const jconn_t *c, int step)
{
    const char *id = client_id(c);
    gpointer key = NULL, value = NULL;
    if (!b->queued_for)
        b->queued_for = wmem_map_new(j->scope, g_str_hash, g_str_equal);
    uint32_t n = wmem_map_lookup_extended(b->queued_for, id, (const void **)&key, &value) ? GPOINTER_TO_UINT(value)
                                                                                          : 0;
    n = (uint32_t)((int)n + step);
    if (n) {
        wmem_map_insert(b->queued_for, key ? key : wmem_strdup(j->scope, id), GUINT_TO_POINTER(n));
    } else if (key) {
        wmem_map_remove(b->queued_for, id);
        wmem_free(j->scope, key);
    }
}

/* The broker keeps the origin for the session of a connection that ended
 * before it got it; a later connection with the same client id may get it. */
static void queue_for_session(mqtt_journeys_t *j, origin_t *o, const jconn_t *s)
{
    broker_t *b = s->broker;
    if (!client_id(s))
        return; /* a session without a client id cannot be resumed */
    if (b->queued_count >= MQTT_JOURNEY_MAX_QUEUED) {
        limit_reached_at(j, b, LIM_QUEUED, rec_of(j, o),
                         "message journeys: more than 4096 messages queued for sessions whose connection ended; "
                         "the new ones are not linked to their later delivery");
        return;
    }
    if (b->queued_count == b->queued_capacity)
        b->queued = (queued_t *)grow(j->scope, b->queued, &b->queued_capacity, sizeof(queued_t));
    b->queued[b->queued_count++] = (queued_t){s, o->from, rec_of(j, o), o->frame, o->ns, o->key, o->qos};
    count_queued(j, b, s, 1);
}

static void forget_queued(mqtt_journeys_t *j, broker_t *b, uint32_t i)
{
    count_queued(j, b, b->queued[i].session, -1);
    memmove(&b->queued[i], &b->queued[i + 1], (b->queued_count - i - 1) * sizeof(queued_t));
    b->queued_count--;
}

/* How long after an origin a subscriber must still have been there for
 * its missing copy to count: the broker's slowest delivery seen so far,
 * MQTT_JOURNEY_GRACE_FACTOR times, at least MQTT_JOURNEY_MIN_GRACE_NS and
 * at most the window.  A subscriber that left sooner may have left before
 * the broker got to it; one that stayed longer saw other copies go out in
 * far less time (an ACL denial is the usual reason, as in lab/auth-v311). */
static int64_t grace_ns(const broker_t *b)
{
    int64_t g = b->slowest_ns > MQTT_JOURNEY_WINDOW_NS / MQTT_JOURNEY_GRACE_FACTOR
                    ? MQTT_JOURNEY_WINDOW_NS
                    : b->slowest_ns * MQTT_JOURNEY_GRACE_FACTOR;
    return g < MQTT_JOURNEY_MIN_GRACE_NS ? MQTT_JOURNEY_MIN_GRACE_NS : g;
}

/* The subscriber's connection ended (DISCONNECT, FIN or RST) before the
 * origin or within the grace after it: it could not receive it. */
static bool ended_within(const origin_t *o, const jconn_t *s)
{
    return s->closed && s->closed_ns <= o->ns + grace_ns(s->broker);
}

/* The subscription that matched was removed (UNSUBSCRIBE, a failed SUBACK)
 * before the origin or within the grace after it: the broker may have
 * removed it before it forwarded the origin. */
static bool unsubscribed_within(const origin_t *o, const expected_t *e)
{
    const mqtt_subs_t *subs = mqtt_conn_subs(e->who->conn);
    return !subs ||
           (!mqtt_subs_holds(subs, e->filter) && e->who->unsubscribed_ns <= o->ns + grace_ns(e->who->broker));
}

/* An origin leaves the window: every expected subscriber that got no
 * copy of it (not even an ambiguous one), and was not excused, missed it.
 * At the end of the capture, an origin whose window was not over when
 * the capture ended is judged only for the subscribers that had left by
 * then: one still connected may have got its copy after the capture. */
static void judge(mqtt_journeys_t *j, origin_t *o, bool at_end)
{
    bool young = at_end && j->last_ns - o->ns <= MQTT_JOURNEY_WINDOW_NS;
    for (uint32_t i = 0; i < o->expected_count; i++) {
        jconn_t *s = o->expected[i].who;
        if (listed_for(o->rec, s) || (o->rec && o->rec->deliveries_total > o->rec->delivery_count))
            continue;
        if (ended_within(o, s)) {
            if (s->session_kept)
                queue_for_session(j, o, s); /* the session's next connection gets it */
            continue;
        }
        if (young && (!s->closed || s->session_kept))
            continue;
        if (unsubscribed_within(o, &o->expected[i]))
            continue;
        mqtt_journey_t *rec = rec_of(j, o);
        rec->missed = (mqtt_journey_missed_t *)wmem_realloc(j->scope, rec->missed,
                                                            (rec->missed_count + 1) * sizeof *rec->missed);
        rec->missed[rec->missed_count++] = missed(j, client_name(s), o->expected[i].filter);
    }
}

/* Whether an origin was delivered to a connection already: looked up
 * in the connection's table for the origins of the window (every
 * delivery is checked against every pending copy of its message). */
static bool delivered_to(const origin_t *o, const jconn_t *c)
{
    if (o->kind == MQTT_JK_WILL)
        return listed_for(o->rec, c);
    return c->got && wmem_map_contains(c->got, GSIZE_TO_POINTER((gsize)o->serial));
}

static void chain_add(mqtt_journeys_t *j, broker_t *b, origin_t *o)
{
    uint64_t key = message_hash(&o->key);
    chain_t *ch = (chain_t *)wmem_map_lookup(b->by_message, &key);
    if (!ch) {
        ch = wmem_new0(j->scope, chain_t);
        ch->key = key;
        wmem_map_insert(b->by_message, &ch->key, ch);
    }
    if (ch->tail)
        ch->tail->next_same = o;
    else
        ch->head = o;
    ch->tail = o;
}

/* The oldest origin of the broker is the oldest of its message's chain. */
static void chain_remove_oldest(mqtt_journeys_t *j, broker_t *b, origin_t *o)
{
    uint64_t key = message_hash(&o->key);
    chain_t *ch = (chain_t *)wmem_map_lookup(b->by_message, &key);
    ch->head = o->next_same;
    if (!ch->head) {
        wmem_map_remove(b->by_message, &key);
        wmem_free(j->scope, ch);
    }
}

static void pop_oldest(mqtt_journeys_t *j, broker_t *b, bool judged)
{
    origin_t *o = b->head;
    b->head = o->next;
    if (!b->head)
        b->tail = NULL;
    b->pending--;
    chain_remove_oldest(j, b, o);
    for (uint32_t i = 0; o->rec && i < o->rec->delivery_count; i++) {
        jconn_t *to = (jconn_t *)(uintptr_t)o->rec->deliveries[i].to_conn;
        if (to->got)
            wmem_map_remove(to->got, GSIZE_TO_POINTER((gsize)o->serial));
    }
    if (judged)
        judge(j, o, false);
    origin_leaves(j, b, o);
    o->next = j->free_origins;
    j->free_origins = o;
}

static void expire_copies(mqtt_journeys_t *j, broker_t *b, int64_t now);
static void judge_copies(mqtt_journeys_t *j, struct copy_set *cs);

/* The broker's clock: origins older than the window are judged. */
static void expire(mqtt_journeys_t *j, broker_t *b, int64_t now)
{
    while (b->head && now - b->head->ns > MQTT_JOURNEY_WINDOW_NS)
        pop_oldest(j, b, true);
    expire_copies(j, b, now);
}

/* At the end of the capture, a set whose window outlasts the capture, of
 * a subscriber still connected, is not judged: its copy at the QoS
 * expected may have come after the end. */
static void finish_broker(gpointer key _U_, gpointer value, gpointer data)
{
    mqtt_journeys_t *j = (mqtt_journeys_t *)data;
    broker_t *b = (broker_t *)value;
    for (origin_t *o = b->head; o; o = o->next) {
        judge(j, o, true);
        origin_leaves(j, b, o);
    }
    for (copy_set_t *cs = b->sets_head; cs; cs = cs->next)
        if (cs->to->closed || j->last_ns - cs->first_ns > MQTT_JOURNEY_WINDOW_NS)
            judge_copies(j, cs);
}

void mqtt_journey_finish(mqtt_journeys_t *j)
{
    if (!j || j->finished)
        return;
    j->finished = true;
    wmem_map_foreach(j->brokers, finish_broker, j);
}

/* The broker refuses a message of this connection: nobody is expected
 * to receive it. */
static void refuse(mqtt_journeys_t *j, origin_t *o, uint32_t frame)
{
    o->expected_count = 0;
    rec_of(j, o)->refused_in = frame;
}

/* The broker refuses the PUBLISH in `publish_frame` of this connection,
 * or (0) the latest that nobody received yet. */
static void refused(mqtt_journeys_t *j, jconn_t *c, uint32_t publish_frame, uint32_t frame)
{
    origin_t *latest = NULL;
    for (origin_t *o = c->broker->head; o; o = o->next) {
        if (o->from != c)
            continue;
        if (publish_frame && o->frame == publish_frame) {
            refuse(j, o, frame);
            return;
        }
        if (!publish_frame && deliveries_total(o) == 0)
            latest = o;
    }
    if (latest)
        refuse(j, latest, frame);
}

/* The subscribers that should receive a message on this topic.  A 5.0
 * subscriber whose Maximum Packet Size is below the size of the PUBLISH
 * that brought the message is not: the server discards a copy too large
 * to send [MQTT-3.1.2-25] (the copy is at least as large, short of a
 * property the broker drops). */
static void expect(mqtt_journeys_t *j, origin_t *o, const uint8_t *topic, uint32_t tlen, uint32_t size,
                   const mqtt_snapshot_t *snap)
{
    broker_t *b = o->from->broker;
    /* Only the tables with a filter that can match the topic's first level
     * are scanned: a PUBLISH costs little more with many subscribers. */
    uint64_t level = mqtt_topic_first_level_bit(topic, tlen);
    for (uint32_t i = 0; i < b->subscriber_count; i++) {
        jconn_t *s = b->subscribers[i];
        const mqtt_subs_t *subs = mqtt_conn_subs(s->conn);
        const char *filter = subs && mqtt_subs_may_match(subs, level)
                                 ? mqtt_subs_expecting(subs, topic, tlen, s == o->from)
                                 : NULL;
        uint32_t maximum = mqtt_conn_client_maximum_packet_size(s->conn);
        if (!filter || (maximum && size > maximum))
            continue;
        if (o->expected_count == MQTT_JOURNEY_MAX_EXPECTED) {
            limit_reached(j, b, LIM_EXPECTED, snap,
                          "message journeys: a message for more than 32 subscribers; "
                          "the others are not checked for missed deliveries");
            return;
        }
        if (o->expected_count == o->expected_capacity)
            o->expected = (expected_t *)grow(j->scope, o->expected, &o->expected_capacity, sizeof(expected_t));
        o->expected[o->expected_count++] = (expected_t){s, filter};
    }
}

static void retain(mqtt_journeys_t *j, broker_t *b, const msgkey_t *key, origin_t *o, const mqtt_snapshot_t *snap)
{
    retained_t *r = (retained_t *)wmem_map_lookup(b->retained, &key->topic_hash);
    if (key->payload_len == 0) {
        /* A retained message with no payload removes the topic's ([MQTT-3.3.1-6]). */
        if (r)
            r->frame = 0;
        return;
    }
    if (!r) {
        if (b->retained_count >= MQTT_JOURNEY_MAX_RETAINED) {
            limit_reached(j, b, LIM_RETAINED, snap,
                          "message journeys: retained messages on more than 4096 topics; "
                          "the new ones are not linked");
            return;
        }
        r = wmem_new0(j->scope, retained_t);
        uint64_t *k = wmem_new(j->scope, uint64_t);
        *k = key->topic_hash;
        wmem_map_insert(b->retained, k, r);
        b->retained_count++;
    }
    *r = (retained_t){o->frame, *key, o->from, rec_of(j, o)};
}

static void on_origin(mqtt_journeys_t *j, jconn_t *c, const mqtt_journey_ctx_t *ctx, const mqtt_pkt_t *pkt,
                      const mqtt_snapshot_t *snap, const uint8_t *topic, uint32_t tlen)
{
    broker_t *b = c->broker;
    b->origins_seen++;
    if (b->pending >= MQTT_JOURNEY_MAX_PENDING) {
        limit_reached(j, b, LIM_PENDING, snap,
                      "message journeys: more than 4096 messages within 2 s on this broker; "
                      "the oldest are no longer matched nor checked for missed deliveries");
        pop_oldest(j, b, false);
    }
    origin_t *o = origin_alloc(j);
    o->serial = ++j->serial;
    o->from = c;
    o->frame = ctx->frame;
    o->ns = ctx->ns;
    o->key = key_of(topic, tlen, pkt->raw + pkt->payload.off, pkt->payload.len);
    o->qos = (uint8_t)MQTT_PUBLISH_QOS(pkt->flags);
    o->kind = MQTT_JK_FORWARDED;
    o->snap = snap;
    expect(j, o, topic, tlen, pkt->total_len, snap);
    if (pkt->flags & MQTT_PUBLISH_RETAIN)
        retain(j, b, &o->key, o, snap);
    if (b->tail)
        b->tail->next = o;
    else
        b->head = o;
    b->tail = o;
    b->pending++;
    chain_add(j, b, o);
}

/* ---- deliveries ------------------------------------------------------------------------------- */

typedef struct {
    origin_t *best[MQTT_JOURNEY_MAX_CANDIDATES]; /* earliest per publisher, of the best tier */
    uint32_t count;                              /* publishers with a candidate (may exceed the list) */
    int tier;                                    /* 1: not yet delivered to this subscriber; 2: already */
} choice_t;

static void consider(choice_t *ch, origin_t *o, const jconn_t *to)
{
    int tier = delivered_to(o, to) ? 2 : 1;
    if (ch->count && tier > ch->tier)
        return;
    if (!ch->count || tier < ch->tier) {
        ch->count = 0;
        ch->tier = tier;
    }
    uint32_t listed = MIN(ch->count, MQTT_JOURNEY_MAX_CANDIDATES);
    for (uint32_t i = 0; i < listed; i++)
        if (ch->best[i]->from == o->from)
            return; /* an earlier one of this publisher is already the candidate */
    if (ch->count < MQTT_JOURNEY_MAX_CANDIDATES)
        ch->best[ch->count] = o;
    ch->count++;
}

static bool fits(const origin_t *o, const msgkey_t *key, unsigned qos)
{
    return same_message(&o->key, key) && qos <= o->qos;
}

static void candidates(const broker_t *b, const jconn_t *to, const msgkey_t *key, unsigned qos, int64_t now,
                       choice_t *ch)
{
    uint64_t h = message_hash(key);
    const chain_t *same = (const chain_t *)wmem_map_lookup(b->by_message, &h);
    for (origin_t *o = same ? same->head : NULL; o; o = o->next_same)
        if (fits(o, key, qos) && o->ns <= now)
            consider(ch, o, to);
    for (uint32_t i = 0; i < b->will_count; i++) {
        origin_t *w = b->wills[i];
        if (fits(w, key, qos) && w->from != to)
            consider(ch, w, to);
    }
}

static bool add_delivery(mqtt_journeys_t *j, broker_t *b, mqtt_journey_t *origin, const mqtt_journey_delivery_t *d,
                         const mqtt_snapshot_t *snap)
{
    origin->deliveries_total++;
    if (origin->delivery_count >= MQTT_JOURNEY_MAX_DELIVERIES) {
        limit_reached(j, b, LIM_DELIVERIES, snap,
                      "message journeys: a message delivered more than 256 times; "
                      "later deliveries are not listed on it");
        return false;
    }
    if (origin->delivery_count == origin->delivery_capacity)
        origin->deliveries = (mqtt_journey_delivery_t *)grow(j->scope, origin->deliveries,
                                                             &origin->delivery_capacity, sizeof *d);
    origin->deliveries[origin->delivery_count++] = *d;
    return true;
}

/* A listed delivery of an origin of the window, in the subscriber's table. */
static void delivered(mqtt_journeys_t *j, jconn_t *to, const origin_t *o, bool listed)
{
    if (!listed || !o || o->kind != MQTT_JK_FORWARDED)
        return;
    if (!to->got)
        to->got = wmem_map_new(j->scope, g_direct_hash, g_direct_equal);
    wmem_map_insert(to->got, GSIZE_TO_POINTER((gsize)o->serial), to);
}

static void link_one(mqtt_journeys_t *j, broker_t *b, jconn_t *to, mqtt_journey_t *rec, mqtt_journey_t *origin_rec,
                     uint32_t origin_frame, const jconn_t *from, uint8_t kind, int64_t latency,
                     const mqtt_journey_ctx_t *ctx, const mqtt_snapshot_t *snap, const origin_t *o)
{
    rec->kind = kind;
    rec->origin = origin_frame;
    rec->origin_qos = o ? o->qos : 0;
    rec->from_client = client_name(from);
    rec->latency_ns = latency;
    if (latency > b->slowest_ns)
        b->slowest_ns = latency;
    mqtt_journey_delivery_t d = {ctx->frame, false, kind, client_name(to), latency, to};
    delivered(j, to, o, add_delivery(j, b, origin_rec, &d, snap));
}

static void link_ambiguous(mqtt_journeys_t *j, broker_t *b, jconn_t *to, mqtt_journey_t *rec, const choice_t *ch,
                           const mqtt_journey_ctx_t *ctx, const mqtt_snapshot_t *snap)
{
    rec->kind = MQTT_JK_AMBIGUOUS;
    rec->candidate_count = ch->count;
    for (uint32_t i = 0; i < MIN(ch->count, MQTT_JOURNEY_MAX_CANDIDATES); i++) {
        origin_t *o = ch->best[i];
        rec->candidates[i] = o->frame;
        mqtt_journey_delivery_t d = {ctx->frame, true, o->kind, client_name(to),
                                     o->kind == MQTT_JK_FORWARDED ? ctx->ns - o->ns : 0, to};
        delivered(j, to, o, add_delivery(j, b, rec_of(j, o), &d, snap));
    }
}

/* A delivery with RETAIN 1 of the message the broker retains for its topic. */
static bool link_retained(mqtt_journeys_t *j, broker_t *b, jconn_t *to, mqtt_journey_t *rec, const msgkey_t *key,
                          const mqtt_journey_ctx_t *ctx, const mqtt_snapshot_t *snap)
{
    retained_t *r = (retained_t *)wmem_map_lookup(b->retained, &key->topic_hash);
    if (!r || !r->frame || !same_message(&r->key, key))
        return false;
    link_one(j, b, to, rec, r->rec, r->frame, r->from, MQTT_JK_RETAINED, 0, ctx, snap, NULL);
    return true;
}

/* A delivery on a later connection of a session, of a message queued for
 * it when its earlier connection ended: the earliest that fits. */
static bool link_queued(mqtt_journeys_t *j, broker_t *b, jconn_t *to, mqtt_journey_t *rec, const msgkey_t *key,
                        unsigned qos, const mqtt_journey_ctx_t *ctx, const mqtt_snapshot_t *snap)
{
    if (!queued_count_of(b, to))
        return false;
    for (uint32_t i = 0; i < b->queued_count; i++) {
        const queued_t *q = &b->queued[i];
        if (q->session == to || !same_session(q->session, to) || !same_message(&q->key, key) || qos > q->qos)
            continue;
        link_one(j, b, to, rec, q->rec, q->frame, q->from, MQTT_JK_FORWARDED, ctx->ns - q->ns, ctx, snap, NULL);
        forget_queued(j, b, i);
        return true;
    }
    return false;
}

/* ---- the QoS of the copies a subscriber got (3.1, 3.1.1) ------------------------------------ */

/* No more copies of the origin can come to the subscriber: when none came
 * at the QoS expected, the rule is raised on the copy at the highest QoS.
 * Its text says what it assumed: the origin is the earlier client PUBLISH
 * with the same topic and payload (expert texts are cut at 240 bytes). */
static void judge_copies(mqtt_journeys_t *j, copy_set_t *cs)
{
    if (cs->judged)
        return;
    cs->judged = true;
    if (cs->reached || !cs->best)
        return;
    mqtt_finding_t *f = wmem_new(j->scope, mqtt_finding_t);
    const char *detail = wmem_strdup_printf(
        j->scope,
        "best of %u cop%s at QoS %u; origin frame %u (same topic+payload) at QoS %u, subscriptions granted up to %u",
        cs->copies, cs->copies == 1 ? "y" : "ies", cs->best_qos, cs->origin_frame, cs->origin_qos, cs->best_granted);
    *f = (mqtt_finding_t){MQTT_R_DELIVERY_QOS_BELOW_MAXIMUM, {0, 1}, detail, NULL};
    cs->best->qos_finding = f;
}

/* Copy sets older than the window (or judged already) leave the broker's list. */
static void expire_copies(mqtt_journeys_t *j, broker_t *b, int64_t now)
{
    copy_set_t *cs;
    while ((cs = b->sets_head) != NULL && (cs->judged || now - cs->first_ns > MQTT_JOURNEY_WINDOW_NS)) {
        judge_copies(j, cs);
        if (cs->to->copy_sets && wmem_map_lookup(cs->to->copy_sets, cs->origin) == cs)
            wmem_map_remove(cs->to->copy_sets, cs->origin);
        b->sets_head = cs->next;
        if (!b->sets_head)
            b->sets_tail = NULL;
        b->set_count--;
        wmem_free(j->scope, cs);
    }
}

static void judge_set(gpointer key _U_, gpointer value, gpointer data)
{
    judge_copies((mqtt_journeys_t *)data, (copy_set_t *)value);
}

/* The subscriber's connection ended: it gets no more copies. */
static void judge_copies_of(mqtt_journeys_t *j, jconn_t *c)
{
    if (!c->copy_sets)
        return;
    wmem_map_foreach(c->copy_sets, judge_set, j);
    c->copy_sets = NULL; /* the sets leave the broker's list as it moves on */
}

static copy_set_t *copy_set(mqtt_journeys_t *j, jconn_t *to, const origin_t *o, int64_t ns,
                            const mqtt_snapshot_t *snap)
{
    copy_set_t *cs = to->copy_sets ? (copy_set_t *)wmem_map_lookup(to->copy_sets, o->rec) : NULL;
    broker_t *b = to->broker;
    if (cs)
        return cs;
    if (b->set_count >= MQTT_JOURNEY_MAX_COPY_SETS) {
        limit_reached(j, b, LIM_COPY_SETS, snap,
                      "message journeys: copies of more than 4096 messages to subscribers within 2 s on this "
                      "broker; the new ones are not judged for their QoS");
        return NULL;
    }
    cs = wmem_new0(j->scope, copy_set_t);
    *cs = (copy_set_t){NULL, to, o->rec, o->frame, o->qos, ns, NULL, 0, 0, 0, false, false};
    if (b->sets_tail)
        b->sets_tail->next = cs;
    else
        b->sets_head = cs;
    b->sets_tail = cs;
    b->set_count++;
    if (!to->copy_sets)
        to->copy_sets = wmem_map_new(j->scope, g_direct_hash, g_direct_equal);
    wmem_map_insert(to->copy_sets, (void *)o->rec, cs);
    return cs;
}

/* A copy linked to one origin (forwarded, or a Will).  It is expected at
 * the lower of the origin's QoS and the highest QoS granted to the
 * subscriber's matching non-shared subscriptions ([MQTT-3.3.5-1],
 * [MQTT-3.8.4-6]), read when it arrives.  One that cannot be judged (a
 * retained copy, a session resumed or not seen from its start, a matching
 * subscription without its SUBACK, a full table) leaves the set unjudged.
 * 5.0 may send one copy per matching subscription, each at that
 * subscription's QoS, and does not say which must be the maximum
 * (§3.3.4): not judged. */
static void copy_qos(mqtt_journeys_t *j, jconn_t *to, mqtt_journey_t *rec, const origin_t *o, const mqtt_pkt_t *pkt,
                     const mqtt_snapshot_t *snap, const uint8_t *topic, uint32_t tlen, int64_t ns)
{
    if (snap->version == MQTT_V5)
        return;
    copy_set_t *cs = copy_set(j, to, o, ns, snap);
    if (!cs || cs->judged)
        return;
    const mqtt_subs_t *subs = mqtt_conn_subs(to->conn);
    unsigned max, qos = MQTT_PUBLISH_QOS(pkt->flags);
    cs->copies++;
    if (!subs || (pkt->flags & MQTT_PUBLISH_RETAIN) || !mqtt_conn_fresh_session(to->conn) ||
        !mqtt_subs_max_granted(subs, topic, tlen, &max)) {
        cs->reached = true;
        return;
    }
    if (qos >= MIN(max, o->qos))
        cs->reached = true;
    if (!cs->best || qos > cs->best_qos) {
        cs->best = rec;
        cs->best_qos = (uint8_t)qos;
        cs->best_granted = (uint8_t)max;
    }
}

/* An ambiguous copy may be the one at the QoS expected: the sets of its
 * candidates are not judged. */
static void copy_ambiguous(jconn_t *to, const choice_t *ch)
{
    for (uint32_t i = 0; to->copy_sets && i < MIN(ch->count, MQTT_JOURNEY_MAX_CANDIDATES); i++) {
        copy_set_t *cs = (copy_set_t *)wmem_map_lookup(to->copy_sets, ch->best[i]->rec);
        if (cs)
            cs->reached = true;
    }
}

/* A delivery linked to no origin, with nothing else said about it, shows
 * its broker's record of deliveries whose origin is not in the capture
 * instead of a record of its own (a broker's own messages, or a capture
 * of the subscribers' side only, would keep one per PUBLISH).  Linked to
 * nothing, only a bound reported on its packet can be in its record. */
static void share_unlinked(mqtt_journeys_t *j, broker_t *b, const mqtt_snapshot_t *snap, mqtt_journey_t *rec)
{
    if (rec->limit)
        return;
    wmem_map_insert(j->records, snap, &b->unlinked);
    wmem_free(j->scope, rec);
}

static void on_delivery(mqtt_journeys_t *j, jconn_t *to, const mqtt_journey_ctx_t *ctx, const mqtt_pkt_t *pkt,
                        const mqtt_snapshot_t *snap, const uint8_t *topic, uint32_t tlen)
{
    broker_t *b = to->broker;
    b->seen = true;
    msgkey_t key = key_of(topic, tlen, pkt->raw + pkt->payload.off, pkt->payload.len);
    unsigned qos = MQTT_PUBLISH_QOS(pkt->flags);
    if (!b->origins_seen && !b->will_count)
        return; /* no publisher of this broker in the capture: nothing to say */
    mqtt_journey_t *rec = record(j, snap);
    rec->is_delivery = true;
    if ((pkt->flags & MQTT_PUBLISH_RETAIN) && link_retained(j, b, to, rec, &key, ctx, snap))
        return;
    choice_t ch = {{NULL}, 0, 0};
    candidates(b, to, &key, qos, ctx->ns, &ch);
    if (ch.count == 1) {
        origin_t *o = ch.best[0];
        link_one(j, b, to, rec, rec_of(j, o), o->frame, o->from, o->kind,
                 o->kind == MQTT_JK_FORWARDED ? ctx->ns - o->ns : 0, ctx, snap, o);
        copy_qos(j, to, rec, o, pkt, snap, topic, tlen, ctx->ns);
    } else if (ch.count > 1) {
        link_ambiguous(j, b, to, rec, &ch, ctx, snap);
        copy_ambiguous(to, &ch);
    } else if (!link_queued(j, b, to, rec, &key, qos, ctx, snap)) {
        share_unlinked(j, b, snap, rec);
    }
}

/* ---- Wills, subscriptions, ends ------------------------------------------------------------- */

static void forget_will(jconn_t *c)
{
    broker_t *b = c->broker;
    for (uint32_t i = 0; i < b->will_count; i++) {
        if (b->wills[i]->from == c) {
            b->wills[i] = b->wills[--b->will_count];
            return;
        }
    }
}

/* Whether a session outlives its connection, and the broker keeps the
 * messages for it: in 5.0 while its Session Expiry Interval is not 0
 * ([MQTT-3.1.2-23]; the CONNECT's, replaced by the CONNACK's or the
 * client's DISCONNECT's), before 5.0 when Clean Session is 0
 * ([MQTT-3.1.2-5]). */
static void session_outlives(jconn_t *c, const mqtt_pkt_t *pkt)
{
    const mqtt_prop_t *sei = mqtt_props_find(&pkt->props, MQTT_PROP_SESSION_EXPIRY_INTERVAL);
    if (pkt->version == MQTT_V5) {
        if (sei)
            c->session_kept = sei->num != 0;
        else if (pkt->type == MQTT_CONNECT)
            c->session_kept = false;
    } else if (pkt->type == MQTT_CONNECT) {
        c->session_kept = !(pkt->connect_flags & MQTT_CF_CLEAN);
    }
}

/* A CONNECT with Clean Session / Clean Start 1 discards the session
 * ([MQTT-3.1.2-6], [MQTT-3.1.2-4] in 5.0), and what was queued for it. */
static void discard_session(mqtt_journeys_t *j, broker_t *b, const jconn_t *c)
{
    for (uint32_t i = b->queued_count; queued_count_of(b, c) && i-- > 0;)
        if (same_session(b->queued[i].session, c))
            forget_queued(j, b, i);
}

static void on_connect(mqtt_journeys_t *j, jconn_t *c, const mqtt_journey_ctx_t *ctx, const mqtt_pkt_t *pkt,
                       const mqtt_snapshot_t *snap)
{
    const mqtt_str_t *t = &pkt->will_topic, *p = &pkt->will_payload;
    broker_t *b = c->broker;
    session_outlives(c, pkt);
    if (pkt->connect_flags & MQTT_CF_CLEAN)
        discard_session(j, b, c);
    forget_will(c); /* a second CONNECT is a protocol error, but the latest Will would count */
    if (!(pkt->connect_flags & MQTT_CF_WILL) || !(t->flags & MQTT_STR_PRESENT) || !(p->flags & MQTT_STR_PRESENT) ||
        ((t->flags | p->flags) & MQTT_STR_TRUNCATED) || !t->data.len)
        return;
    if (b->will_count >= MQTT_JOURNEY_MAX_WILLS) {
        limit_reached(j, b, LIM_WILLS, snap,
                      "message journeys: more than 4096 Will Messages on this broker; the new ones are not linked");
        return;
    }
    origin_t *w = wmem_new0(j->scope, origin_t);
    w->rec = record(j, snap);
    w->rec->broker_seen = &b->seen;
    w->from = c;
    w->frame = ctx->frame;
    w->ns = ctx->ns;
    w->key = key_of(t->bytes, t->data.len, p->bytes, p->data.len);
    w->qos = (pkt->connect_flags & MQTT_CF_WILL_QOS) >> 3;
    w->kind = MQTT_JK_WILL;
    if (b->will_count == b->will_capacity)
        b->wills = (origin_t **)grow(j->scope, b->wills, &b->will_capacity, sizeof(origin_t *));
    b->wills[b->will_count++] = w;
}

static bool grants_any(const mqtt_pkt_t *pkt)
{
    for (uint32_t i = 0; i < pkt->code_count; i++)
        if (pkt->codes[i].code < 0x80)
            return true;
    return false;
}

/* The connection is over: it receives nothing more. */
/* The publisher's connection ended with a QoS 1/2 PUBLISH the broker never
 * acknowledged and nobody received: the broker accepts ownership of a
 * message when it sends PUBACK (3.1.1 §4.3.2, 5.0 §4.3.2) or PUBREC
 * (§4.3.3), so it may have discarded this one (mosquitto closes a 3.1.1
 * connection whose packet exceeds its max_packet_size, lab/max-packet-size-v5
 * frame 45).  Nobody is expected to receive it; a session that resumes
 * re-sends it with DUP [MQTT-4.4.0-1]. */
static void drop_unacknowledged(jconn_t *c)
{
    for (origin_t *o = c->broker->head; o; o = o->next)
        if (o->from == c && o->kind == MQTT_JK_FORWARDED && o->qos && o->snap && !o->snap->response_in &&
            deliveries_total(o) == 0)
            o->expected_count = 0;
}

static void connection_ends(mqtt_journeys_t *j, jconn_t *c, int64_t ns)
{
    remove_subscriber(c);
    if (c->closed)
        return;
    drop_unacknowledged(c);
    c->closed = true;
    c->closed_ns = ns;
    judge_copies_of(j, c);
}

/* DISCONNECT, from either side: the connection is over.  The client's
 * discards its Will unless a 5.0 client asks for it with Reason Code 0x04
 * ([MQTT-3.14.4-3]); after the server's, the Will is published
 * ([MQTT-3.1.2-8]). */
static void on_disconnect(mqtt_journeys_t *j, jconn_t *c, const mqtt_journey_ctx_t *ctx, const mqtt_pkt_t *pkt,
                          const mqtt_snapshot_t *snap)
{
    bool keep_will = pkt->version == MQTT_V5 && pkt->has_reason && pkt->reason == 0x04;
    /* A server that ends the connection with a failure refuses what the
     * client sent last and nobody received yet (a wrong alias, a packet
     * too large...). */
    if (snap->dir == MQTT_S2C && pkt->has_reason && pkt->reason >= 0x80)
        refused(j, c, 0, ctx->frame);
    if (snap->dir == MQTT_C2S)
        session_outlives(c, pkt);
    connection_ends(j, c, ctx->ns);
    if (snap->dir == MQTT_C2S && !keep_will)
        forget_will(c);
}

/* An UNSUBSCRIBE, or a SUBACK with a failure (it removes the filter it
 * refuses, see mqtt_subs_suback). */
static bool removes_subscriptions(const mqtt_pkt_t *pkt, const mqtt_snapshot_t *snap)
{
    if (pkt->type == MQTT_UNSUBSCRIBE)
        return snap->dir == MQTT_C2S;
    if (pkt->type != MQTT_SUBACK || snap->dir != MQTT_S2C)
        return false;
    for (uint32_t i = 0; i < pkt->code_count; i++)
        if (pkt->codes[i].code >= 0x80)
            return true;
    return false;
}

void mqtt_journey_packet(mqtt_journeys_t *j, const mqtt_journey_ctx_t *ctx, const mqtt_pkt_t *pkt,
                         const mqtt_snapshot_t *snap)
{
    if (!j || !ctx->broker || !snap->dir_known)
        return;
    jconn_t *c = conn_get(j, ctx, snap);
    j->last_ns = MAX(j->last_ns, ctx->ns);
    if (removes_subscriptions(pkt, snap))
        c->unsubscribed_ns = ctx->ns; /* before judging: the table has changed already */
    expire(j, c->broker, ctx->ns);
    uint32_t tlen = 0;
    const uint8_t *topic;
    switch (pkt->type) {
    case MQTT_CONNECT:
        if (snap->dir == MQTT_C2S)
            on_connect(j, c, ctx, pkt, snap);
        break;
    case MQTT_PUBLISH:
        /* A retransmission (DUP) is the same message again, not a new one. */
        topic = publish_topic(pkt, snap, &tlen);
        if (!topic || pkt->capture_short || mqtt_snapshot_extra(snap)->retransmission_of)
            break;
        if (snap->dir == MQTT_C2S)
            on_origin(j, c, ctx, pkt, snap, topic, tlen);
        else
            on_delivery(j, c, ctx, pkt, snap, topic, tlen);
        break;
    case MQTT_SUBACK:
        if (snap->dir == MQTT_S2C && grants_any(pkt)) {
            c->broker->seen = true;
            add_subscriber(j, c, snap);
        }
        break;
    case MQTT_CONNACK:
        if (snap->dir == MQTT_S2C)
            session_outlives(c, pkt);
        break;
    case MQTT_DISCONNECT:
        on_disconnect(j, c, ctx, pkt, snap);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
        /* A failure Reason Code: the broker did not accept the message (§3.4.2.1). */
        if (snap->dir == MQTT_S2C && pkt->has_reason && pkt->reason >= 0x80 && snap->response_to)
            refused(j, c, snap->response_to, ctx->frame);
        break;
    default:
        break;
    }
}

void mqtt_journey_closed(mqtt_journeys_t *j, const mqtt_conn_t *conn, int64_t ns)
{
    jconn_t *c = j ? (jconn_t *)wmem_map_lookup(j->conns, conn) : NULL;
    if (!c)
        return;
    j->last_ns = MAX(j->last_ns, ns);
    expire(j, c->broker, ns); /* what was over before the end is judged with the connection open */
    connection_ends(j, c, ns);
}
