/* test_journey.c — unit tests of the message journeys (plugin/core/mqtt_journey.c)
 * on hand-built conversations of several clients with one broker, fed
 * through the entry points the dissector uses: mqtt_core_first_pass() for
 * every packet, mqtt_core_journey() to read (with the capture seen: what
 * the end of the capture decides). */
#include "build.h"
#include "unit.h"

#include "mqtt_conn.h"
#include "mqtt_core.h"

#define HOST "127.0.0.1"
#define BROKER_PORT 1883u

static mqtt_capture_t *CAP;
static uint32_t frame_no;
static double clock_s;

typedef struct {
    mqtt_conn_t *conn;
    uint32_t port;   /* the client's, on HOST */
    unsigned level;
} client_t;

static void reset(void)
{
    CAP = mqtt_capture_new(unit_pool);
    frame_no = 0;
    clock_s = 100.0;
}

static client_t client(uint32_t port, unsigned level)
{
    client_t c = {mqtt_conn_new(unit_pool), port, level};
    return c;
}

/* One packet, 0.1 ms after the previous one unless `after` says more. */
static mqtt_snapshot_t *feed_after(client_t *c, enum mqtt_dir dir, const buf_t *p, double after)
{
    clock_s += after;
    mqtt_snapshot_t *snap = wmem_new0(unit_pool, mqtt_snapshot_t);
    mqtt_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.frame = ++frame_no;
    ev.time.secs = (time_t)clock_s;
    ev.time.nsecs = (int)((clock_s - (double)(time_t)clock_s) * 1e9 + 0.5);
    ev.saw_connection_start = true;
    ev.endpoint = (uint8_t)dir;
    ev.client_by_port = dir == MQTT_C2S;
    ev.src_address = HOST;
    ev.dst_address = HOST;
    ev.src_port = dir == MQTT_C2S ? c->port : BROKER_PORT;
    ev.dst_port = dir == MQTT_C2S ? BROKER_PORT : c->port;
    mqtt_core_first_pass(CAP, c->conn, unit_pool, p->b, p->n, &ev, c->level, snap);
    CHECK_EQ(snap->dir, dir);
    return snap;
}

static mqtt_snapshot_t *feed(client_t *c, enum mqtt_dir dir, const buf_t *p)
{
    return feed_after(c, dir, p, 0.0001);
}

/* What the journeys say about a packet so far.  An origin nobody has
 * received yet has no record (mqtt_journey_of() is NULL until something is
 * said about it); it reads here as the empty record it stands for. */
static const mqtt_journey_t *jof(const mqtt_snapshot_t *s)
{
    static const mqtt_journey_t nothing;
    const mqtt_journey_t *j = mqtt_core_journey(CAP, s, false).journey;
    return j ? j : &nothing;
}

/* The end of the capture: the first packet shown again. */
static void capture_seen(void)
{
    (void)mqtt_core_journey(CAP, NULL, true);
}

/* ---- packet builders ------------------------------------------------------------- */

typedef struct {
    const char *topic;
    const char *payload;
} will_t;

/* A CONNECT; `kept`: Clean Session 0 before 5.0, a Session Expiry
 * Interval of an hour in 5.0 (with Clean Start 0). */
static buf_t connect_session_pkt(unsigned level, const char *id, const will_t *will, uint8_t will_qos, bool kept)
{
    buf_t body = {{0}, 0};
    putstr(&body, "MQTT");
    put8(&body, (uint8_t)level);
    put8(&body, (uint8_t)((kept ? 0 : MQTT_CF_CLEAN) | (will ? MQTT_CF_WILL | (will_qos << 3) : 0)));
    put16(&body, 60);
    if (level == MQTT_V5) {
        putvbi(&body, kept ? 8 : 3);
        put8(&body, 0x22); /* Topic Alias Maximum */
        put16(&body, 10);
        if (kept) {
            put8(&body, 0x11); /* Session Expiry Interval */
            put16(&body, 0);
            put16(&body, 3600);
        }
    }
    putstr(&body, id);
    if (will) {
        if (level == MQTT_V5)
            putvbi(&body, 0);
        putstr(&body, will->topic);
        putstr(&body, will->payload);
    }
    return pkt_finish(0x10, &body);
}

static buf_t connect_pkt(unsigned level, const char *id, const will_t *will, uint8_t will_qos)
{
    return connect_session_pkt(level, id, will, will_qos, false);
}

static buf_t connack_pkt(unsigned level)
{
    buf_t body = {{0}, 0};
    put8(&body, 0);
    put8(&body, 0);
    if (level == MQTT_V5) {
        putvbi(&body, 3);
        put8(&body, 0x22);
        put16(&body, 10);
    }
    return pkt_finish(0x20, &body);
}

typedef struct {
    unsigned qos;
    bool retain;
    uint16_t id;
    uint16_t alias; /* 5.0 Topic Alias, 0 for none */
} pubopt_t;

static buf_t publish_pkt(unsigned level, const char *topic, const char *payload, pubopt_t o)
{
    buf_t body = {{0}, 0};
    putstr(&body, topic);
    if (o.qos)
        put16(&body, o.id);
    if (level == MQTT_V5) {
        putvbi(&body, o.alias ? 3 : 0);
        if (o.alias) {
            put8(&body, 0x23);
            put16(&body, o.alias);
        }
    }
    putn(&body, payload, (uint32_t)strlen(payload));
    return pkt_finish((uint8_t)(0x30 | (o.qos << 1) | (o.retain ? 1 : 0)), &body);
}

static buf_t subscribe_pkt(unsigned level, uint16_t id, const char *filter, uint8_t options)
{
    buf_t body = {{0}, 0};
    put16(&body, id);
    if (level == MQTT_V5)
        putvbi(&body, 0);
    putstr(&body, filter);
    put8(&body, options);
    return pkt_finish(0x82, &body);
}

static buf_t suback_pkt(unsigned level, uint16_t id, uint8_t code)
{
    buf_t body = {{0}, 0};
    put16(&body, id);
    if (level == MQTT_V5)
        putvbi(&body, 0);
    put8(&body, code);
    return pkt_finish(0x90, &body);
}

static buf_t unsubscribe_pkt(unsigned level, uint16_t id, const char *filter)
{
    buf_t body = {{0}, 0};
    put16(&body, id);
    if (level == MQTT_V5)
        putvbi(&body, 0);
    putstr(&body, filter);
    return pkt_finish(0xA2, &body);
}

static buf_t simple(uint8_t byte1)
{
    buf_t body = {{0}, 0};
    return pkt_finish(byte1, &body);
}

/* CONNECT/CONNACK, and a granted subscription when `filter` is given;
 * `kept`: a session that outlives the connection. */
static void session_kept(client_t *c, const char *id, bool kept, const char *filter, uint8_t options,
                         uint8_t granted)
{
    buf_t p = connect_session_pkt(c->level, id, NULL, 0, kept);
    feed(c, MQTT_C2S, &p);
    p = connack_pkt(c->level);
    feed(c, MQTT_S2C, &p);
    if (!filter)
        return;
    p = subscribe_pkt(c->level, 1, filter, options);
    feed(c, MQTT_C2S, &p);
    p = suback_pkt(c->level, 1, granted);
    feed(c, MQTT_S2C, &p);
}

static void session(client_t *c, const char *id, const char *filter, uint8_t options, uint8_t granted)
{
    session_kept(c, id, false, filter, options, granted);
}

/* TCP's FIN or RST of the connection, `after` seconds after the previous
 * event, as the dissector reports it. */
static void tcp_closes(client_t *c, double after)
{
    clock_s += after;
    nstime_t t = {(time_t)clock_s, (int)((clock_s - (double)(time_t)clock_s) * 1e9 + 0.5)};
    mqtt_core_transport_closed(CAP, c->conn, t);
}

/* A PINGREQ of `c`, `after` seconds later: it moves the broker's clock on. */
static void ping_after(client_t *c, double after)
{
    buf_t p = simple(0xC0);
    feed_after(c, MQTT_C2S, &p, after);
}

static mqtt_snapshot_t *publish(client_t *c, enum mqtt_dir dir, const char *topic, const char *payload,
                                pubopt_t o)
{
    buf_t p = publish_pkt(c->level, topic, payload, o);
    return feed(c, dir, &p);
}

static bool delivered_to(const mqtt_journey_t *j, uint32_t frame, const char *client)
{
    for (uint32_t i = 0; j && i < j->delivery_count; i++)
        if (j->deliveries[i].frame == frame && strcmp(j->deliveries[i].to_client, client) == 0)
            return true;
    return false;
}

/* ---- tests ------------------------------------------------------------------------- */

TEST(fan_out_and_downgrade)
{
    reset();
    client_t pub = client(40001, MQTT_V311), s1 = client(40002, MQTT_V311),
             s2 = client(40003, MQTT_V311);
    session(&pub, "pub", NULL, 0, 0);
    session(&s1, "sub1", "a/#", 1, 1);
    session(&s2, "sub2", "a/+", 0, 0);
    mqtt_snapshot_t *o = publish(&pub, MQTT_C2S, "a/b", "hello", (pubopt_t){1, false, 5, 0});
    mqtt_snapshot_t *d1 = publish(&s1, MQTT_S2C, "a/b", "hello", (pubopt_t){1, false, 1, 0});
    mqtt_snapshot_t *d2 = publish(&s2, MQTT_S2C, "a/b", "hello", (pubopt_t){0, false, 0, 0});
    const mqtt_journey_t *j1 = jof(d1), *j2 = jof(d2), *jo = jof(o);
    CHECK(j1 && j2 && jo);
    CHECK_EQ(j1->kind, MQTT_JK_FORWARDED);
    CHECK_EQ(j1->origin, o->frame);
    CHECK_STR(j1->from_client, "pub");
    CHECK_EQ(j1->latency_ns, 100000);
    CHECK_EQ(j2->origin, o->frame); /* QoS 1 downgraded to 0 */
    CHECK_EQ(j2->latency_ns, 200000);
    CHECK_EQ(jo->deliveries_total, 2);
    CHECK(delivered_to(jo, d1->frame, "sub1"));
    CHECK(delivered_to(jo, d2->frame, "sub2"));
    CHECK_EQ(jo->missed_count, 0);
    CHECK(mqtt_journey_broker_seen(jo));
    /* A copy with a higher QoS than the PUBLISH cannot be of it. */
    mqtt_snapshot_t *up = publish(&s1, MQTT_S2C, "a/b", "hello", (pubopt_t){2, false, 2, 0});
    CHECK_EQ(jof(up)->kind, MQTT_JK_NONE);
    CHECK_EQ(jof(up)->origin, 0);
    /* Other payload bytes, other topic: no link. */
    mqtt_snapshot_t *other = publish(&s1, MQTT_S2C, "a/b", "hellO", (pubopt_t){0, false, 0, 0});
    CHECK_EQ(jof(other)->origin, 0);
    mqtt_snapshot_t *other2 = publish(&s1, MQTT_S2C, "a/c", "hello", (pubopt_t){0, false, 0, 0});
    CHECK_EQ(jof(other2)->origin, 0);
    /* Deliveries linked to nothing share one record, which says so. */
    const mqtt_journey_t *none = mqtt_core_journey(CAP, other2, false).journey;
    CHECK(none != NULL && none == mqtt_core_journey(CAP, other, false).journey &&
          none == mqtt_core_journey(CAP, up, false).journey);
    CHECK(none->is_delivery);
    CHECK_EQ(none->kind, MQTT_JK_NONE);
    CHECK(j1 != none && j2 != none && j1 != j2);
}

static int has_rule(const mqtt_snapshot_t *s, enum mqtt_rule rule)
{
    int n = 0;
    const mqtt_findings_t *fs = &mqtt_snapshot_extra(s)->findings;
    for (uint32_t i = 0; i < fs->count; i++)
        n += fs->items[i].rule == rule;
    return n;
}

/* A second granted subscription of a session. */
static void subscribe_more(client_t *c, uint16_t id, const char *filter, uint8_t options, uint8_t granted)
{
    buf_t p = subscribe_pkt(c->level, id, filter, options);
    feed(c, MQTT_C2S, &p);
    p = suback_pkt(c->level, id, granted);
    feed(c, MQTT_S2C, &p);
}

static bool qos_below(const mqtt_snapshot_t *s)
{
    const mqtt_journey_t *j = jof(s);
    return j && j->qos_finding && j->qos_finding->rule == MQTT_R_DELIVERY_QOS_BELOW_MAXIMUM;
}

/* 3.1.1: overlapping subscriptions granted 2 and 1 get a QoS 2 message at
 * QoS 2 ([MQTT-3.3.5-1]); at QoS 1 only it breaks the rule, at the
 * origin's own lower QoS it does not.  Judged over every copy once the
 * window is over or the subscriber is gone, on the highest copy: never
 * while the copies arrive (hindsight, two passes). */
TEST(overlapping_subscriptions_max_qos)
{
    reset();
    client_t pub = client(40001, MQTT_V311), sub = client(40002, MQTT_V311);
    session(&pub, "pub", NULL, 0, 0);
    session(&sub, "sub", "a/#", 2, 2);
    subscribe_more(&sub, 2, "a/+", 1, 1);
    publish(&pub, MQTT_C2S, "a/b", "two", (pubopt_t){2, false, 5, 0});
    mqtt_snapshot_t *low = publish(&sub, MQTT_S2C, "a/b", "two", (pubopt_t){1, false, 1, 0});
    CHECK_EQ(jof(low)->origin, low->frame - 1);
    CHECK(!qos_below(low)); /* a copy at QoS 2 may follow */
    publish(&pub, MQTT_C2S, "a/c", "three", (pubopt_t){2, false, 6, 0});
    mqtt_snapshot_t *ok = publish(&sub, MQTT_S2C, "a/c", "three", (pubopt_t){2, false, 2, 0});
    publish(&pub, MQTT_C2S, "a/d", "one", (pubopt_t){1, false, 7, 0});
    mqtt_snapshot_t *own = publish(&sub, MQTT_S2C, "a/d", "one", (pubopt_t){1, false, 3, 0});
    /* Origin not in the capture: silent. */
    mqtt_snapshot_t *orphan = publish(&sub, MQTT_S2C, "a/e", "unseen", (pubopt_t){0, false, 0, 0});
    ping_after(&pub, 3.0); /* the window is over */
    CHECK(qos_below(low));
    CHECK_EQ(has_rule(low, MQTT_R_DELIVERY_QOS_BELOW_MAXIMUM), 0); /* not a finding of the first pass */
    CHECK(strstr(jof(low)->qos_finding->detail, "(same topic+payload)") != NULL);
    CHECK(!qos_below(ok));
    CHECK(!qos_below(own));
    CHECK(!qos_below(orphan));

    client_t pub5 = client(40003, MQTT_V5), sub5 = client(40004, MQTT_V5);
    session(&pub5, "pub5", NULL, 0, 0);
    session(&sub5, "sub5", "a/#", 2, 2);
    subscribe_more(&sub5, 2, "a/+", 1, 1);
    publish(&pub5, MQTT_C2S, "a/b", "five", (pubopt_t){2, false, 5, 0});
    mqtt_snapshot_t *copy = publish(&sub5, MQTT_S2C, "a/b", "five", (pubopt_t){1, false, 1, 0});
    ping_after(&pub5, 3.0);
    CHECK(!qos_below(copy));
}

/* 3.1.1 lets the server send a further copy per other matching
 * subscription, at that subscription's QoS (§3.3.5); mosquitto sends the
 * QoS 0 copy of a/# before the QoS 2 copy of a/b.  The rule holds when
 * any copy reached the maximum, whatever the order; with the low copy
 * only, it is raised on it when the subscriber leaves. */
TEST(further_copies_per_subscription)
{
    reset();
    client_t pub = client(40001, MQTT_V311), sub = client(40002, MQTT_V311);
    session(&pub, "pub", NULL, 0, 0);
    session(&sub, "sub", "a/#", 0, 0);
    subscribe_more(&sub, 2, "a/b", 2, 2);
    publish(&pub, MQTT_C2S, "a/b", "low first", (pubopt_t){2, false, 1, 0});
    mqtt_snapshot_t *l1 = publish(&sub, MQTT_S2C, "a/b", "low first", (pubopt_t){0, false, 0, 0});
    mqtt_snapshot_t *h1 = publish(&sub, MQTT_S2C, "a/b", "low first", (pubopt_t){2, false, 1, 0});
    publish(&pub, MQTT_C2S, "a/b", "max first", (pubopt_t){2, false, 2, 0});
    mqtt_snapshot_t *h2 = publish(&sub, MQTT_S2C, "a/b", "max first", (pubopt_t){2, false, 2, 0});
    mqtt_snapshot_t *l2 = publish(&sub, MQTT_S2C, "a/b", "max first", (pubopt_t){0, false, 0, 0});
    publish(&pub, MQTT_C2S, "a/b", "low only", (pubopt_t){2, false, 3, 0});
    mqtt_snapshot_t *l3 = publish(&sub, MQTT_S2C, "a/b", "low only", (pubopt_t){0, false, 0, 0});
    CHECK_EQ(jof(h1)->origin, jof(l1)->origin);
    CHECK_EQ(jof(l2)->origin, jof(h2)->origin);
    CHECK(!qos_below(l3));
    buf_t p = simple(0xE0); /* the subscriber's DISCONNECT: no more copies */
    feed(&sub, MQTT_C2S, &p);
    CHECK(!qos_below(l1) && !qos_below(h1));
    CHECK_EQ(has_rule(l1, MQTT_R_DELIVERY_QOS_BELOW_MAXIMUM) + has_rule(l2, MQTT_R_DELIVERY_QOS_BELOW_MAXIMUM), 0);
    CHECK(!qos_below(h2) && !qos_below(l2));
    CHECK(qos_below(l3));
    CHECK(strstr(jof(l3)->qos_finding->detail, "best of 1 copy at QoS 0") != NULL);
}

/* Two low copies, no maximum one: the finding is on the higher of them;
 * at the end of the capture, a subscriber still connected within the
 * window is not judged (its maximum copy may come after the end). */
TEST(further_copies_capture_end)
{
    reset();
    client_t pub = client(40001, MQTT_V311), sub = client(40002, MQTT_V311);
    session(&pub, "pub", NULL, 0, 0);
    session(&sub, "sub", "a/#", 0, 0);
    subscribe_more(&sub, 2, "a/+", 1, 1);
    subscribe_more(&sub, 3, "a/b", 2, 2);
    publish(&pub, MQTT_C2S, "a/b", "m", (pubopt_t){2, false, 1, 0});
    mqtt_snapshot_t *c0 = publish(&sub, MQTT_S2C, "a/b", "m", (pubopt_t){0, false, 0, 0});
    mqtt_snapshot_t *c1 = publish(&sub, MQTT_S2C, "a/b", "m", (pubopt_t){1, false, 1, 0});
    ping_after(&pub, 2.5);
    CHECK(qos_below(c1)); /* the window is over */
    publish(&pub, MQTT_C2S, "a/b", "late", (pubopt_t){2, false, 2, 0});
    mqtt_snapshot_t *young = publish(&sub, MQTT_S2C, "a/b", "late", (pubopt_t){0, false, 0, 0});
    capture_seen();
    CHECK(!qos_below(c0));
    CHECK(qos_below(c1));
    CHECK(strstr(jof(c1)->qos_finding->detail, "best of 2 copies at QoS 1") != NULL);
    CHECK(!qos_below(young));
}

TEST(identical_payloads)
{
    reset();
    client_t a = client(40001, MQTT_V311), b = client(40002, MQTT_V311),
             s = client(40003, MQTT_V311);
    session(&a, "pubA", NULL, 0, 0);
    session(&b, "pubB", NULL, 0, 0);
    session(&s, "sub", "t", 0, 0);
    /* One publisher twice: its messages keep their order. */
    mqtt_snapshot_t *a1 = publish(&a, MQTT_C2S, "t", "same", (pubopt_t){0});
    mqtt_snapshot_t *a2 = publish(&a, MQTT_C2S, "t", "same", (pubopt_t){0});
    mqtt_snapshot_t *d1 = publish(&s, MQTT_S2C, "t", "same", (pubopt_t){0});
    mqtt_snapshot_t *d2 = publish(&s, MQTT_S2C, "t", "same", (pubopt_t){0});
    CHECK_EQ(jof(d1)->origin, a1->frame);
    CHECK_EQ(jof(d2)->origin, a2->frame);
    /* Two publishers before either copy: ambiguous, both named. */
    mqtt_snapshot_t *x = publish(&a, MQTT_C2S, "t", "twin", (pubopt_t){0});
    mqtt_snapshot_t *y = publish(&b, MQTT_C2S, "t", "twin", (pubopt_t){0});
    mqtt_snapshot_t *e1 = publish(&s, MQTT_S2C, "t", "twin", (pubopt_t){0});
    mqtt_snapshot_t *e2 = publish(&s, MQTT_S2C, "t", "twin", (pubopt_t){0});
    const mqtt_journey_t *je = jof(e1);
    CHECK_EQ(je->kind, MQTT_JK_AMBIGUOUS);
    CHECK_EQ(je->origin, 0);
    CHECK_EQ(je->candidate_count, 2);
    CHECK(je->candidates[0] == x->frame || je->candidates[1] == x->frame);
    CHECK(je->candidates[0] == y->frame || je->candidates[1] == y->frame);
    CHECK_EQ(jof(e2)->kind, MQTT_JK_AMBIGUOUS);
    CHECK_EQ(jof(x)->delivery_count, 2);
    CHECK(jof(x)->deliveries[0].ambiguous);
    /* The second publisher after the first copy: time order decides. */
    mqtt_snapshot_t *p = publish(&a, MQTT_C2S, "t", "late", (pubopt_t){0});
    mqtt_snapshot_t *f1 = publish(&s, MQTT_S2C, "t", "late", (pubopt_t){0});
    mqtt_snapshot_t *q = publish(&b, MQTT_C2S, "t", "late", (pubopt_t){0});
    mqtt_snapshot_t *f2 = publish(&s, MQTT_S2C, "t", "late", (pubopt_t){0});
    CHECK_EQ(jof(f1)->origin, p->frame);
    CHECK_EQ(jof(f2)->origin, q->frame);
}

TEST(retained_on_subscribe)
{
    reset();
    client_t pub = client(40001, MQTT_V311), s = client(40002, MQTT_V311);
    session(&pub, "pub", NULL, 0, 0);
    mqtt_snapshot_t *r = publish(&pub, MQTT_C2S, "state", "on", (pubopt_t){1, true, 1, 0});
    /* Long after the window: only the retained store can explain it. */
    session(&s, "late", NULL, 0, 0);
    buf_t p = subscribe_pkt(MQTT_V311, 1, "state", 1);
    feed_after(&s, MQTT_C2S, &p, 10.0);
    p = suback_pkt(MQTT_V311, 1, 1);
    feed(&s, MQTT_S2C, &p);
    mqtt_snapshot_t *d = publish(&s, MQTT_S2C, "state", "on", (pubopt_t){1, true, 1, 0});
    CHECK_EQ(jof(d)->kind, MQTT_JK_RETAINED);
    CHECK_EQ(jof(d)->origin, r->frame);
    CHECK(delivered_to(jof(r), d->frame, "late"));
    /* An empty retained message clears it. */
    publish(&pub, MQTT_C2S, "state", "", (pubopt_t){0, true, 0, 0});
    mqtt_snapshot_t *d2 = publish(&s, MQTT_S2C, "state", "on", (pubopt_t){0, true, 0, 0});
    CHECK_EQ(jof(d2)->origin, 0);
}

TEST(will_message)
{
    reset();
    client_t dying = client(40001, MQTT_V311), polite = client(40004, MQTT_V311),
             s = client(40002, MQTT_V311);
    will_t w = {"status/dying", "gone"};
    buf_t p = connect_pkt(MQTT_V311, "dying", &w, 1);
    mqtt_snapshot_t *c = feed(&dying, MQTT_C2S, &p);
    p = connack_pkt(MQTT_V311);
    feed(&dying, MQTT_S2C, &p);
    will_t w2 = {"status/polite", "gone"};
    p = connect_pkt(MQTT_V311, "polite", &w2, 0);
    feed(&polite, MQTT_C2S, &p);
    p = connack_pkt(MQTT_V311);
    feed(&polite, MQTT_S2C, &p);
    p = simple(0xE0); /* DISCONNECT: the Will is discarded */
    feed(&polite, MQTT_C2S, &p);
    session(&s, "watcher", "status/#", 1, 1);
    mqtt_snapshot_t *d = publish(&s, MQTT_S2C, "status/dying", "gone", (pubopt_t){1, false, 1, 0});
    CHECK_EQ(jof(d)->kind, MQTT_JK_WILL);
    CHECK_EQ(jof(d)->origin, c->frame);
    CHECK_STR(jof(d)->from_client, "dying");
    CHECK(delivered_to(jof(c), d->frame, "watcher"));
    mqtt_snapshot_t *d2 = publish(&s, MQTT_S2C, "status/polite", "gone", (pubopt_t){0});
    CHECK_EQ(jof(d2)->kind, MQTT_JK_NONE);
}

TEST(missed_delivery)
{
    reset();
    client_t pub = client(40001, MQTT_V5), s = client(40002, MQTT_V311),
             shared = client(40003, MQTT_V311), self = client(40004, MQTT_V5);
    session(&pub, "pub", NULL, 0, 0);
    session(&s, "sub", "m/#", 0, 0);
    session(&shared, "member", "$share/g/m/#", 0, 0);
    session(&self, "self", "m/#", 0x04, 0); /* No Local */
    mqtt_snapshot_t *o = publish(&pub, MQTT_C2S, "m/x", "lost", (pubopt_t){0});
    mqtt_snapshot_t *own = publish(&self, MQTT_C2S, "m/y", "mine", (pubopt_t){0});
    mqtt_snapshot_t *d = publish(&s, MQTT_S2C, "m/y", "mine", (pubopt_t){0});
    CHECK_EQ(jof(d)->origin, own->frame);
    /* Nothing judged before the window is over. */
    CHECK_EQ(jof(o)->missed_count, 0);
    buf_t p = simple(0xC0);
    feed_after(&pub, MQTT_C2S, &p, 3.0);
    const mqtt_journey_t *jo = jof(o);
    CHECK_EQ(jo->missed_count, 2); /* sub and self; not the shared subscription */
    CHECK_STR(jo->missed[0].filter, "m/#");
    CHECK(strcmp(jo->missed[0].client, "sub") == 0 || strcmp(jo->missed[1].client, "sub") == 0);
    /* Its own message is not expected back through No Local. */
    CHECK_EQ(jof(own)->missed_count, 0);
    /* A disconnected subscriber is not expected any more. */
    p = simple(0xE0);
    feed(&s, MQTT_C2S, &p);
    feed(&self, MQTT_C2S, &p);
    mqtt_snapshot_t *o2 = publish(&pub, MQTT_C2S, "m/z", "nobody", (pubopt_t){0});
    p = simple(0xC0);
    feed_after(&pub, MQTT_C2S, &p, 3.0);
    CHECK_EQ(jof(o2)->missed_count, 0);
}

/* A 5.0 subscriber that announced a Maximum Packet Size smaller than the
 * message is not expected to get it: the server must discard the copy
 * [MQTT-3.1.2-25] (lab/max-packet-size-v5 frame 25). */
TEST(subscriber_maximum_packet_size)
{
    reset();
    client_t pub = client(40101, MQTT_V5), s = client(40102, MQTT_V5);
    session(&pub, "pub", NULL, 0, 0);
    buf_t body = {{0}, 0};
    putstr(&body, "MQTT");
    put8(&body, MQTT_V5);
    put8(&body, MQTT_CF_CLEAN);
    put16(&body, 60);
    putvbi(&body, 5);
    put8(&body, 0x27); /* Maximum Packet Size */
    put16(&body, 0);
    put16(&body, 64);
    putstr(&body, "small");
    buf_t p = pkt_finish(0x10, &body);
    feed(&s, MQTT_C2S, &p);
    p = connack_pkt(MQTT_V5);
    feed(&s, MQTT_S2C, &p);
    p = subscribe_pkt(MQTT_V5, 1, "m/#", 1);
    feed(&s, MQTT_C2S, &p);
    p = suback_pkt(MQTT_V5, 1, 1);
    feed(&s, MQTT_S2C, &p);
    mqtt_snapshot_t *big = publish(&pub, MQTT_C2S, "m/big",
                                   "a payload of more than sixty-four bytes, which the subscriber refuses to take",
                                   (pubopt_t){0});
    mqtt_snapshot_t *lost = publish(&pub, MQTT_C2S, "m/small", "fits", (pubopt_t){0});
    ping_after(&pub, 3.0);
    CHECK_EQ(jof(big)->missed_count, 0);
    CHECK_EQ(jof(lost)->missed_count, 1); /* a copy that fits is still expected */
}

/* A QoS 1 PUBLISH the broker never acknowledged before the publisher's
 * connection ended may have been discarded (ownership passes with the
 * PUBACK, §4.3.2): nobody is expected to get it (lab/max-packet-size-v5
 * frame 45, mosquitto closing a 3.1.1 connection over max_packet_size).
 * One it acknowledged is still expected. */
TEST(unacknowledged_when_the_publisher_leaves)
{
    reset();
    client_t pub = client(40201, MQTT_V311), pub2 = client(40202, MQTT_V311), s = client(40203, MQTT_V311);
    session(&s, "sub", "m/#", 1, 1);
    session(&pub, "pub", NULL, 0, 0);
    session(&pub2, "pub2", NULL, 0, 0);
    mqtt_snapshot_t *cut = publish(&pub, MQTT_C2S, "m/a", "never acknowledged", (pubopt_t){1, false, 7, 0});
    tcp_closes(&pub, 0.001);
    mqtt_snapshot_t *kept = publish(&pub2, MQTT_C2S, "m/b", "acknowledged", (pubopt_t){1, false, 8, 0});
    buf_t body = {{0}, 0};
    put16(&body, 8);
    buf_t p = pkt_finish(0x40, &body);
    feed(&pub2, MQTT_S2C, &p);
    tcp_closes(&pub2, 0.001);
    ping_after(&s, 3.0);
    CHECK_EQ(jof(cut)->missed_count, 0);
    CHECK_EQ(jof(kept)->missed_count, 1);
}

TEST(refused_and_capture_end)
{
    reset();
    client_t pub = client(40001, MQTT_V5), s = client(40002, MQTT_V311),
             open_sub = client(40003, MQTT_V311);
    session(&pub, "pub", NULL, 0, 0);
    session(&s, "sub", "r/#", 0, 0);
    session(&open_sub, "stays", "r/#", 0, 0);
    /* PUBACK 0x87 Not authorized: refused, nobody misses it. */
    mqtt_snapshot_t *o = publish(&pub, MQTT_C2S, "r/secret", "x", (pubopt_t){1, false, 9, 0});
    buf_t body = {{0}, 0};
    put16(&body, 9);
    put8(&body, 0x87);
    putvbi(&body, 0);
    buf_t p = pkt_finish(0x40, &body);
    mqtt_snapshot_t *ack = feed(&pub, MQTT_S2C, &p);
    CHECK_EQ(jof(o)->refused_in, ack->frame);
    /* The capture ends within the window: the subscriber that left within
     * the grace could not receive it any more, and the one still connected
     * may get its copy after the end: nobody missed it. */
    mqtt_snapshot_t *o2 = publish(&pub, MQTT_C2S, "r/open", "y", (pubopt_t){0});
    p = simple(0xE0);
    feed(&s, MQTT_C2S, &p);
    capture_seen();
    CHECK_EQ(jof(o2)->missed_count, 0);
    CHECK_EQ(jof(o)->missed_count, 0);
}

TEST(capture_end_after_a_late_leave)
{
    /* The capture ends within the window, but the subscriber stayed 0.5 s
     * after the message before it left (past the 100 ms grace): it is
     * judged at the end and missed it; the one still connected is not. */
    reset();
    client_t pub = client(40001, MQTT_V311), s = client(40002, MQTT_V311), open_sub = client(40003, MQTT_V311);
    session(&pub, "pub", NULL, 0, 0);
    session(&s, "left-late", "l/#", 0, 0);
    session(&open_sub, "stays", "l/#", 0, 0);
    mqtt_snapshot_t *o = publish(&pub, MQTT_C2S, "l/1", "dropped", (pubopt_t){0});
    buf_t p = simple(0xE0);
    feed_after(&s, MQTT_C2S, &p, 0.5);
    capture_seen();
    CHECK_EQ(jof(o)->missed_count, 1);
    CHECK_STR(jof(o)->missed[0].client, "left-late");
}

TEST(capture_end_after_the_window)
{
    /* The last packets of the capture are on another broker, 3 s after the
     * message: its window was over before the capture ended, so the
     * subscriber that stayed connected is judged at the end. */
    reset();
    client_t pub = client(40001, MQTT_V311), s = client(40002, MQTT_V311), other = client(40003, MQTT_V311);
    session(&pub, "pub", NULL, 0, 0);
    session(&s, "stays", "e/#", 0, 0);
    mqtt_snapshot_t *o = publish(&pub, MQTT_C2S, "e/1", "z", (pubopt_t){0});
    other.port = 40003;
    buf_t p = connect_pkt(MQTT_V311, "elsewhere", NULL, 0);
    clock_s += 3.0;
    mqtt_snapshot_t *snap = wmem_new0(unit_pool, mqtt_snapshot_t);
    mqtt_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.frame = ++frame_no;
    ev.time.secs = (time_t)clock_s;
    ev.saw_connection_start = true;
    ev.client_by_port = true;
    ev.src_address = HOST;
    ev.dst_address = "10.0.0.9"; /* another broker */
    ev.src_port = other.port;
    ev.dst_port = BROKER_PORT;
    mqtt_core_first_pass(CAP, other.conn, unit_pool, p.b, p.n, &ev, MQTT_V311, snap);
    CHECK_EQ(jof(o)->missed_count, 0);
    capture_seen();
    CHECK_EQ(jof(o)->missed_count, 1);
    CHECK_STR(jof(o)->missed[0].client, "stays");
    capture_seen(); /* once only */
    CHECK_EQ(jof(o)->missed_count, 1);
}

TEST(transport_close_silences)
{
    /* A subscriber whose TCP connection closed (FIN or RST) without
     * DISCONNECT cannot receive: before the message it is not expected,
     * within the grace after it (100 ms: this broker delivered nothing yet)
     * it is excused; one that stayed longer, or past the window, had its
     * chance. */
    reset();
    client_t pub = client(40001, MQTT_V311), before = client(40002, MQTT_V311), within = client(40003, MQTT_V311),
             qos0 = client(40005, MQTT_V311), late = client(40006, MQTT_V311), after = client(40004, MQTT_V311);
    session(&pub, "pub", NULL, 0, 0);
    session(&before, "gone-before", "f/#", 0, 0);
    session(&within, "gone-within", "f/#", 1, 1);
    session(&qos0, "left-within", "f/#", 0, 0);
    session(&late, "gone-late", "f/#", 0, 0);
    session(&after, "gone-after", "f/#", 0, 0);
    tcp_closes(&before, 0.1);
    mqtt_snapshot_t *o = publish(&pub, MQTT_C2S, "f/x", "v", (pubopt_t){1, false, 3, 0});
    tcp_closes(&within, 0.05);
    buf_t p = simple(0xE0);
    feed(&qos0, MQTT_C2S, &p); /* DISCONNECT within the grace */
    tcp_closes(&late, 0.5);    /* 0.55 s after it: past the grace, within the window */
    tcp_closes(&after, 2.5);   /* judged first, while still connected */
    const mqtt_journey_t *jo = jof(o);
    CHECK_EQ(jo->missed_count, 2);
    /* In the order the journey lists its misses. */
    CHECK_STR(jo->missed[0].client, "gone-after");
    CHECK_STR(jo->missed[1].client, "gone-late");
    CHECK(strstr(jo->missed[0].finding.detail, "while its connection stayed open") != NULL);
    /* A closed connection gets nothing expected any more. */
    mqtt_snapshot_t *o2 = publish(&pub, MQTT_C2S, "f/y", "w", (pubopt_t){0});
    ping_after(&pub, 3.0);
    CHECK_EQ(jof(o2)->missed_count, 0);
}

TEST(persistent_session_gets_it_later)
{
    /* A session that outlives its connection: the broker queues the
     * message and sends it on the next connection with the same client id,
     * long after the window; that copy is the delivery.  A Clean Session
     * reconnection discards what was queued. */
    reset();
    client_t pub = client(40001, MQTT_V311), s = client(40002, MQTT_V311), s5 = client(40003, MQTT_V5);
    session(&pub, "pub", NULL, 0, 0);
    session_kept(&s, "durable", true, "q/#", 1, 1);
    session_kept(&s5, "durable5", true, "q/#", 1, 1);
    mqtt_snapshot_t *o = publish(&pub, MQTT_C2S, "q/1", "kept", (pubopt_t){1, false, 4, 0});
    mqtt_snapshot_t *o5 = publish(&pub, MQTT_C2S, "q/5", "kept", (pubopt_t){1, false, 5, 0});
    tcp_closes(&s, 0.05);
    buf_t p = simple(0xE0);
    feed(&s5, MQTT_C2S, &p);
    ping_after(&pub, 3.0);
    CHECK_EQ(jof(o)->missed_count, 0);
    CHECK_EQ(jof(o5)->missed_count, 0);
    client_t back = client(40012, MQTT_V311), back5 = client(40013, MQTT_V5);
    p = connect_session_pkt(MQTT_V311, "durable", NULL, 0, true);
    feed_after(&back, MQTT_C2S, &p, 5.0);
    p = connack_pkt(MQTT_V311);
    feed(&back, MQTT_S2C, &p);
    mqtt_snapshot_t *d = publish(&back, MQTT_S2C, "q/1", "kept", (pubopt_t){1, false, 1, 0});
    CHECK_EQ(jof(d)->kind, MQTT_JK_FORWARDED);
    CHECK_EQ(jof(d)->origin, o->frame);
    CHECK_STR(jof(d)->from_client, "pub");
    CHECK(jof(d)->latency_ns > 8 * (int64_t)1000000000);
    CHECK(delivered_to(jof(o), d->frame, "durable"));
    /* Linked once: a second identical copy is not of it. */
    mqtt_snapshot_t *d2 = publish(&back, MQTT_S2C, "q/1", "kept", (pubopt_t){1, false, 2, 0});
    CHECK_EQ(jof(d2)->origin, 0);
    /* Clean Start 1 on the way back: the queued message is gone. */
    p = connect_pkt(MQTT_V5, "durable5", NULL, 0);
    feed(&back5, MQTT_C2S, &p);
    p = connack_pkt(MQTT_V5);
    feed(&back5, MQTT_S2C, &p);
    mqtt_snapshot_t *d5 = publish(&back5, MQTT_S2C, "q/5", "kept", (pubopt_t){1, false, 1, 0});
    CHECK_EQ(jof(d5)->origin, 0);
    CHECK_EQ(jof(o5)->delivery_count, 0);
}

TEST(grace_follows_the_broker)
{
    /* A broker that took 50 ms for a copy gets ten times that: a
     * subscriber gone 0.3 s after the message is excused, one gone 0.7 s
     * after it missed it. */
    reset();
    client_t pub = client(40001, MQTT_V311), got = client(40002, MQTT_V311), soon = client(40003, MQTT_V311),
             later = client(40004, MQTT_V311);
    session(&pub, "pub", NULL, 0, 0);
    session(&got, "gets-it", "g/#", 0, 0);
    session(&soon, "gone-soon", "g/#", 0, 0);
    session(&later, "gone-later", "g/#", 0, 0);
    mqtt_snapshot_t *o = publish(&pub, MQTT_C2S, "g/1", "slow", (pubopt_t){0});
    buf_t p = publish_pkt(MQTT_V311, "g/1", "slow", (pubopt_t){0});
    feed_after(&got, MQTT_S2C, &p, 0.05);
    tcp_closes(&soon, 0.25);
    tcp_closes(&later, 0.4);
    ping_after(&pub, 3.0);
    const mqtt_journey_t *jo = jof(o);
    CHECK_EQ(jo->delivery_count, 1);
    CHECK_EQ(jo->missed_count, 1);
    CHECK_STR(jo->missed[0].client, "gone-later");
}

TEST(reconnect_within_the_window)
{
    /* The session's next connection gets the copy within the window: it
     * counts for the connection that left. */
    reset();
    client_t pub = client(40001, MQTT_V311), s = client(40002, MQTT_V311), back = client(40012, MQTT_V311);
    session(&pub, "pub", NULL, 0, 0);
    session_kept(&s, "durable", true, "r/#", 1, 1);
    mqtt_snapshot_t *o = publish(&pub, MQTT_C2S, "r/1", "soon", (pubopt_t){1, false, 4, 0});
    tcp_closes(&s, 0.2);
    buf_t p = connect_session_pkt(MQTT_V311, "durable", NULL, 0, true);
    feed_after(&back, MQTT_C2S, &p, 0.3);
    p = connack_pkt(MQTT_V311);
    feed(&back, MQTT_S2C, &p);
    mqtt_snapshot_t *d = publish(&back, MQTT_S2C, "r/1", "soon", (pubopt_t){1, false, 1, 0});
    ping_after(&pub, 3.0);
    CHECK_EQ(jof(d)->origin, o->frame);
    CHECK_EQ(jof(o)->missed_count, 0);
    CHECK_EQ(jof(o)->delivery_count, 1);
}

TEST(unsubscribed_or_refused_subscription)
{
    /* UNSUBSCRIBE within the grace after the message removes the
     * expectation; one after it does not.  A SUBACK failure grants nothing. */
    reset();
    client_t pub = client(40001, MQTT_V311), early = client(40002, MQTT_V311), late = client(40003, MQTT_V311),
             denied = client(40004, MQTT_V311);
    session(&pub, "pub", NULL, 0, 0);
    session(&early, "unsub-early", "u/#", 0, 0);
    session(&late, "unsub-late", "u/#", 0, 0);
    session(&denied, "denied", "u/#", 0, 0x80);
    mqtt_snapshot_t *o = publish(&pub, MQTT_C2S, "u/1", "x", (pubopt_t){0});
    buf_t p = unsubscribe_pkt(MQTT_V311, 2, "u/#");
    feed_after(&early, MQTT_C2S, &p, 0.05);
    feed_after(&late, MQTT_C2S, &p, 1.0);
    ping_after(&pub, 1.0);
    const mqtt_journey_t *jo = jof(o);
    CHECK_EQ(jo->missed_count, 1);
    CHECK_STR(jo->missed[0].client, "unsub-late");
}

TEST(aliases_on_both_sides)
{
    reset();
    client_t pub = client(40001, MQTT_V5), s = client(40002, MQTT_V5);
    session(&pub, "pub", NULL, 0, 0);
    session(&s, "sub", "long/topic/#", 0, 0);
    mqtt_snapshot_t *o1 = publish(&pub, MQTT_C2S, "long/topic/name", "1", (pubopt_t){0, false, 0, 3});
    mqtt_snapshot_t *d1 = publish(&s, MQTT_S2C, "long/topic/name", "1", (pubopt_t){0, false, 0, 7});
    mqtt_snapshot_t *o2 = publish(&pub, MQTT_C2S, "", "2", (pubopt_t){0, false, 0, 3});
    mqtt_snapshot_t *d2 = publish(&s, MQTT_S2C, "", "2", (pubopt_t){0, false, 0, 7});
    CHECK_EQ(jof(d1)->origin, o1->frame);
    CHECK_EQ(jof(d2)->origin, o2->frame);
}

TEST(no_publisher_no_journey)
{
    reset();
    client_t s = client(40002, MQTT_V311);
    session(&s, "sub", "#", 0, 0);
    mqtt_snapshot_t *d = publish(&s, MQTT_S2C, "a", "x", (pubopt_t){0});
    CHECK(mqtt_core_journey(CAP, d, false).journey == NULL);
}

TEST(publisher_side_capture)
{
    /* Only a publisher's connection: no delivery, no subscription, so its
     * journeys are not worth showing ("0 deliveries" would mislead). */
    reset();
    client_t pub = client(40001, MQTT_V311);
    session(&pub, "pub", NULL, 0, 0);
    mqtt_snapshot_t *o = publish(&pub, MQTT_C2S, "a", "x", (pubopt_t){0});
    capture_seen();
    mqtt_journey_view_t v = mqtt_core_journey(CAP, o, true);
    CHECK(v.journey != NULL);
    CHECK(!mqtt_journey_broker_seen(v.journey));
    CHECK(!v.origin_shown);
}

/* Messages nobody received share their broker's empty record once their
 * window is over or the capture ends: "0 deliveries" when the capture shows
 * the broker deliver something else, and a record of their own as soon as
 * something is said about them. */
TEST(origins_nobody_received)
{
    reset();
    client_t pub = client(40001, MQTT_V311), s = client(40002, MQTT_V311);
    session(&pub, "pub", NULL, 0, 0);
    session(&s, "sub", "news", 0, 0);
    mqtt_snapshot_t *early = publish(&pub, MQTT_C2S, "other", "1", (pubopt_t){0});
    CHECK(mqtt_core_journey(CAP, early, false).journey == NULL); /* nothing said yet */
    mqtt_snapshot_t *o = publish(&pub, MQTT_C2S, "news", "2", (pubopt_t){0});
    mqtt_snapshot_t *d = publish(&s, MQTT_S2C, "news", "2", (pubopt_t){0});
    buf_t p = publish_pkt(MQTT_V311, "other", "3", (pubopt_t){0});
    mqtt_snapshot_t *late = feed_after(&pub, MQTT_C2S, &p, 3.0); /* past the window of the first two */
    capture_seen();
    mqtt_journey_view_t ve = mqtt_core_journey(CAP, early, true), vl = mqtt_core_journey(CAP, late, true);
    mqtt_journey_view_t vo = mqtt_core_journey(CAP, o, true);
    CHECK(ve.journey != NULL && vl.journey != NULL);
    CHECK(ve.journey == vl.journey); /* the broker's record of nothing */
    CHECK(ve.origin_shown && vl.origin_shown);
    CHECK_EQ(ve.journey->deliveries_total, 0);
    CHECK_EQ(ve.journey->missed_count, 0);
    CHECK(vo.journey != ve.journey);
    CHECK_EQ(vo.journey->deliveries_total, 1);
    CHECK_EQ(vo.journey->deliveries[0].frame, d->frame);
    CHECK_EQ(ve.journey->deliveries_total, 0); /* unchanged by the delivery of another */
}

TEST(pending_bound)
{
    reset();
    client_t pub = client(40001, MQTT_V311), s = client(40002, MQTT_V311);
    session(&pub, "pub", NULL, 0, 0);
    session(&s, "sub", "#", 0, 0);
    mqtt_snapshot_t *first = NULL, *last = NULL;
    for (unsigned i = 0; i <= MQTT_JOURNEY_MAX_PENDING; i++) {
        buf_t p = publish_pkt(MQTT_V311, "flood", "x", (pubopt_t){0});
        last = feed_after(&pub, MQTT_C2S, &p, 0.0000001);
        if (!first)
            first = last;
    }
    CHECK(jof(last)->limit != NULL);
    /* The oldest was dropped unjudged: no missed note for it. */
    buf_t p = simple(0xC0);
    feed_after(&pub, MQTT_C2S, &p, 3.0);
    CHECK_EQ(jof(first)->missed_count, 0);
    CHECK_EQ(jof(last)->missed_count, 1);
}

UNIT_MAIN("journey", fan_out_and_downgrade, overlapping_subscriptions_max_qos, further_copies_per_subscription,
          further_copies_capture_end, identical_payloads,
          retained_on_subscribe, will_message, missed_delivery, subscriber_maximum_packet_size,
          unacknowledged_when_the_publisher_leaves, refused_and_capture_end, capture_end_after_a_late_leave,
          capture_end_after_the_window, transport_close_silences, persistent_session_gets_it_later,
          grace_follows_the_broker, reconnect_within_the_window, unsubscribed_or_refused_subscription,
          aliases_on_both_sides, no_publisher_no_journey, publisher_side_capture, origins_nobody_received, pending_bound)
