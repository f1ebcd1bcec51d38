/* test_conn.c — unit tests of the connection analysis
 * (plugin/core/mqtt_conn.c, plugin/core/mqtt_subs.c) on hand-built conversations. */
#include "build.h"
#include "unit.h"

#include "mqtt_checks.h"
#include "mqtt_conn.h"
#include "mqtt_core.h"
#include "mqtt_subs.h"

/* A conversation: packets are fed in order, one per frame, 10 ms apart,
 * through the core's entry points, as the dissector feeds them.  Several
 * conversations may share a capture (and so a client address). */
typedef struct {
    mqtt_capture_t *cap;
    mqtt_conn_t *conn;
    uint32_t frame;
    bool from_start;
    const char *client;  /* the client's address */
} conv_t;

static conv_t conv_in(mqtt_capture_t *cap, bool from_start, const char *client)
{
    conv_t c = {cap, mqtt_conn_new(unit_pool), 3, from_start, client};
    return c;
}

static conv_t conv_new(bool from_start)
{
    return conv_in(mqtt_capture_new(unit_pool), from_start, "192.0.2.1");
}

static const char *const server_address = "192.0.2.100";

static mqtt_event_t event_at(const conv_t *c, enum mqtt_dir dir, double seconds)
{
    mqtt_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.frame = c->frame;
    ev.time.secs = (time_t)seconds;
    ev.time.nsecs = (int)((seconds - (double)(time_t)seconds) * 1e9 + 0.5);
    ev.saw_connection_start = c->from_start;
    ev.endpoint = (uint8_t)dir;
    ev.client_by_port = dir == MQTT_C2S;
    ev.src_address = dir == MQTT_C2S ? c->client : server_address;
    ev.dst_address = dir == MQTT_C2S ? server_address : c->client;
    return ev;
}

static mqtt_snapshot_t *feed_at(conv_t *c, enum mqtt_dir dir, const buf_t *p, double seconds)
{
    mqtt_snapshot_t *snap = wmem_new0(unit_pool, mqtt_snapshot_t);
    ++c->frame;
    mqtt_event_t ev = event_at(c, dir, seconds);
    mqtt_core_first_pass(c->cap, c->conn, unit_pool, p->b, p->n, &ev, MQTT_V311, snap);
    return snap;
}

static mqtt_snapshot_t *feed(conv_t *c, enum mqtt_dir dir, const buf_t *p)
{
    return feed_at(c, dir, p, c->frame * 0.01);
}

static int has(const mqtt_snapshot_t *s, enum mqtt_rule rule)
{
    int n = 0;
    const mqtt_findings_t *fs = &mqtt_snapshot_extra(s)->findings;
    for (uint32_t i = 0; i < fs->count; i++)
        n += fs->items[i].rule == rule;
    return n;
}

static uint32_t nfindings(const mqtt_snapshot_t *s)
{
    return mqtt_snapshot_extra(s)->findings.count;
}

/* ---- packet builders ------------------------------------------------------- */

static buf_t connect_pkt(unsigned level, const char *id, uint16_t keepalive, const buf_t *props)
{
    buf_t body = {{0}, 0};
    putstr(&body, level == MQTT_V31 ? "MQIsdp" : "MQTT");
    put8(&body, (uint8_t)level);
    put8(&body, MQTT_CF_CLEAN);
    put16(&body, keepalive);
    if (level == MQTT_V5) {
        putvbi(&body, props ? props->n : 0);
        if (props)
            putn(&body, props->b, props->n);
    }
    putstr(&body, id);
    return pkt_finish(0x10, &body);
}

/* A CONNECT of a 5.0 or 3.1.1 client that keeps its session (Clean Start /
 * Clean Session 0). */
static buf_t connect_keep_session(unsigned level, const char *id)
{
    buf_t body = {{0}, 0};
    putstr(&body, "MQTT");
    put8(&body, (uint8_t)level);
    put8(&body, 0);
    put16(&body, 60);
    if (level == MQTT_V5) {
        /* Session Expiry Interval 3600: without it a 5.0 session ends with
         * its connection (§3.1.2.11.2). */
        putvbi(&body, 5);
        put8(&body, 0x11);
        put16(&body, 0);
        put16(&body, 3600);
    }
    putstr(&body, id);
    return pkt_finish(0x10, &body);
}

static buf_t connack_session(unsigned level, bool present)
{
    buf_t body = {{0}, 0};
    put8(&body, present ? 1 : 0);
    put8(&body, 0);
    if (level == MQTT_V5)
        putvbi(&body, 0);
    return pkt_finish(0x20, &body);
}

static buf_t connack_pkt(unsigned level, uint8_t code, const buf_t *props)
{
    buf_t body = {{0}, 0};
    put8(&body, 0);
    put8(&body, code);
    if (level == MQTT_V5) {
        putvbi(&body, props ? props->n : 0);
        if (props)
            putn(&body, props->b, props->n);
    }
    return pkt_finish(0x20, &body);
}

static buf_t publish_pkt(unsigned level, unsigned qos, bool dup, uint16_t id, const char *topic, const buf_t *props)
{
    buf_t body = {{0}, 0};
    putstr(&body, topic);
    if (qos)
        put16(&body, id);
    if (level == MQTT_V5) {
        putvbi(&body, props ? props->n : 0);
        if (props)
            putn(&body, props->b, props->n);
    }
    putn(&body, "x", 1);
    return pkt_finish((uint8_t)(0x30 | (dup ? 0x08 : 0) | (qos << 1)), &body);
}

static buf_t ack_pkt(uint8_t byte1, uint16_t id)
{
    buf_t body = {{0}, 0};
    put16(&body, id);
    return pkt_finish(byte1, &body);
}

/* A 5.0 acknowledgement with a Reason Code and no properties. */
static buf_t ack_rc_pkt(uint8_t byte1, uint16_t id, uint8_t code)
{
    buf_t body = {{0}, 0};
    put16(&body, id);
    put8(&body, code);
    return pkt_finish(byte1, &body);
}

static buf_t simple(uint8_t byte1)
{
    buf_t body = {{0}, 0};
    return pkt_finish(byte1, &body);
}

static buf_t subscribe_pkt(uint16_t id, const char *filter, uint8_t qos)
{
    buf_t body = {{0}, 0};
    put16(&body, id);
    putstr(&body, filter);
    put8(&body, qos);
    return pkt_finish(0x82, &body);
}

static buf_t suback_pkt(uint16_t id, uint8_t code)
{
    buf_t body = {{0}, 0};
    put16(&body, id);
    put8(&body, code);
    return pkt_finish(0x90, &body);
}

/* A 3.1.1 SUBSCRIBE of `n` filters (`filters[i]` at QoS `qos[i]`), or of
 * the filters "<prefix><first + i>" at QoS `qos[0]` when `filters` is NULL. */
static buf_t subscribe_list(uint16_t id, const char *const *filters, const char *prefix, unsigned first, unsigned n,
                            const uint8_t *qos)
{
    buf_t body = {{0}, 0};
    put16(&body, id);
    for (unsigned i = 0; i < n; i++) {
        char name[32];
        if (!filters)
            snprintf(name, sizeof name, "%s%u", prefix, first + i);
        putstr(&body, filters ? filters[i] : name);
        put8(&body, filters ? qos[i] : qos[0]);
    }
    return pkt_finish(0x82, &body);
}

static buf_t suback_codes(uint16_t id, const uint8_t *codes, unsigned n)
{
    buf_t body = {{0}, 0};
    put16(&body, id);
    putn(&body, codes, n);
    return pkt_finish(0x90, &body);
}

static void connect_v(conv_t *c, unsigned level, const buf_t *connack_props)
{
    buf_t p = connect_pkt(level, "sensor-1", 60, NULL);
    feed(c, MQTT_C2S, &p);
    p = connack_pkt(level, 0, connack_props);
    feed(c, MQTT_S2C, &p);
}

/* ---- tests -------------------------------------------------------------------- */

TEST(connect_links_and_identity)
{
    conv_t c = conv_new(true);
    buf_t p = connect_pkt(MQTT_V311, "sensor-1", 60, NULL);
    mqtt_snapshot_t *req = feed(&c, MQTT_C2S, &p);
    p = connack_pkt(MQTT_V311, 0, NULL);
    mqtt_snapshot_t *resp = feed(&c, MQTT_S2C, &p);
    CHECK_EQ(req->response_in, resp->frame);
    CHECK_EQ(resp->response_to, req->frame);
    CHECK_STR(resp->who->client_id, "sensor-1");
    CHECK_EQ(resp->version, MQTT_V311);
    CHECK_EQ(resp->version_source, MQTT_VS_CONNECT);
    CHECK_EQ(mqtt_snapshot_version_frame(resp), req->frame);
    p = simple(0xC0);
    mqtt_snapshot_t *ping = feed(&c, MQTT_C2S, &p);
    CHECK_STR(ping->who->client_id, "sensor-1");
    CHECK_EQ(ping->prev_client_frame, req->frame);
}

TEST(qos2_chain)
{
    conv_t c = conv_new(true);
    connect_v(&c, MQTT_V311, NULL);
    buf_t p = publish_pkt(MQTT_V311, 2, false, 7, "a/b", NULL);
    mqtt_snapshot_t *pub = feed(&c, MQTT_C2S, &p);
    p = ack_pkt(0x50, 7);
    mqtt_snapshot_t *rec = feed(&c, MQTT_S2C, &p);
    p = ack_pkt(0x62, 7);
    mqtt_snapshot_t *rel = feed(&c, MQTT_C2S, &p);
    p = ack_pkt(0x70, 7);
    mqtt_snapshot_t *comp = feed(&c, MQTT_S2C, &p);
    CHECK_EQ(pub->response_in, rec->frame);
    CHECK_EQ(rec->response_to, pub->frame);
    CHECK_EQ(rec->response_in, rel->frame);
    CHECK_EQ(rel->response_to, rec->frame);
    CHECK_EQ(rel->response_in, comp->frame);
    CHECK_EQ(comp->response_to, rel->frame);
    CHECK_EQ(mqtt_snapshot_extra(comp)->flow_start, pub->frame);
    CHECK_EQ(nfindings(comp), 0);
}

TEST(identifier_reuse_and_separate_spaces)
{
    conv_t c = conv_new(true);
    connect_v(&c, MQTT_V311, NULL);
    buf_t p = publish_pkt(MQTT_V311, 1, false, 1, "a", NULL);
    mqtt_snapshot_t *first = feed(&c, MQTT_C2S, &p);
    /* The server's own id 1 is another space. */
    p = publish_pkt(MQTT_V311, 1, false, 1, "b", NULL);
    mqtt_snapshot_t *server = feed(&c, MQTT_S2C, &p);
    CHECK_EQ(has(server, MQTT_R_ID_IN_USE), 0);
    p = ack_pkt(0x40, 1);
    mqtt_snapshot_t *ack1 = feed(&c, MQTT_S2C, &p);
    p = ack_pkt(0x40, 1);
    mqtt_snapshot_t *ack2 = feed(&c, MQTT_C2S, &p);
    CHECK_EQ(ack1->response_to, first->frame);
    CHECK_EQ(ack2->response_to, server->frame);
    /* Completed: the identifier starts a new transaction. */
    p = publish_pkt(MQTT_V311, 1, false, 1, "a", NULL);
    mqtt_snapshot_t *again = feed(&c, MQTT_C2S, &p);
    CHECK_EQ(has(again, MQTT_R_ID_IN_USE), 0);
    p = ack_pkt(0x40, 1);
    mqtt_snapshot_t *ack3 = feed(&c, MQTT_S2C, &p);
    CHECK_EQ(ack3->response_to, again->frame);
    CHECK_EQ(first->response_in, ack1->frame);
    /* Reused while open: a violation. */
    p = publish_pkt(MQTT_V311, 1, false, 5, "a", NULL);
    feed(&c, MQTT_C2S, &p);
    p = publish_pkt(MQTT_V311, 1, false, 5, "a", NULL);
    CHECK_EQ(has(feed(&c, MQTT_C2S, &p), MQTT_R_ID_IN_USE), 1);
}

/* The open flows are found by identifier however many are open and in
 * whatever order they open and close: every identifier open at once, then
 * a few hundred opening and closing in between (the table grows through
 * every size and shifts entries back when one closes). */
static void open_and_ack(conv_t *c, uint16_t first_id, uint32_t n, uint32_t stride, mqtt_snapshot_t **pubs)
{
    for (uint32_t k = 0; k < n; k++) {
        uint16_t id = (uint16_t)(first_id + (k * stride) % n);
        buf_t p = publish_pkt(MQTT_V311, 1, false, id, "a", NULL);
        pubs[id] = feed(c, MQTT_C2S, &p);
        CHECK_EQ(has(pubs[id], MQTT_R_ID_IN_USE), 0);
    }
}

static void ack_each(conv_t *c, uint16_t first_id, uint32_t n, uint32_t stride, uint32_t parity,
                     mqtt_snapshot_t **pubs)
{
    uint32_t linked = 0, expected = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint16_t id = (uint16_t)(first_id + (k * stride) % n);
        if (parity < 2 && id % 2 != parity)
            continue;
        expected++;
        buf_t p = ack_pkt(0x40, id);
        mqtt_snapshot_t *ack = feed(c, MQTT_S2C, &p);
        linked += ack->response_to == pubs[id]->frame && pubs[id]->response_in == ack->frame &&
                  !has(ack, MQTT_R_ACK_UNKNOWN_ID);
    }
    CHECK_EQ(linked, expected);
}

TEST(open_flows_by_identifier)
{
    static mqtt_snapshot_t *pubs[65536];
    conv_t c = conv_new(true);
    connect_v(&c, MQTT_V311, NULL);
    open_and_ack(&c, 1, 65535, 7919, pubs);        /* every identifier open */
    ack_each(&c, 1, 65535, 40499, 0, pubs);        /* the even ones close */
    ack_each(&c, 1, 65535, 12343, 1, pubs);        /* then the odd ones */
    buf_t p = publish_pkt(MQTT_V311, 1, false, 65535, "a", NULL);
    CHECK_EQ(has(feed(&c, MQTT_C2S, &p), MQTT_R_ID_IN_USE), 0);

    conv_t d = conv_new(true);
    connect_v(&d, MQTT_V311, NULL);
    for (uint32_t round = 0; round < 8; round++) {  /* half of each round stays open */
        open_and_ack(&d, (uint16_t)(1 + 600 * round), 600, 37, pubs);
        ack_each(&d, (uint16_t)(1 + 600 * round), 600, 101, round % 2, pubs);
    }
    for (uint32_t round = 0; round < 8; round++)
        ack_each(&d, (uint16_t)(1 + 600 * round), 600, 1, 1 - round % 2, pubs);
}

TEST(unsolicited_acks)
{
    conv_t c = conv_new(true);
    connect_v(&c, MQTT_V311, NULL);
    buf_t p = ack_pkt(0x40, 99);
    CHECK_EQ(has(feed(&c, MQTT_S2C, &p), MQTT_R_ACK_UNKNOWN_ID), 1);
    /* Without the connection's start, only a note. */
    conv_t mid = conv_new(false);
    p = ack_pkt(0x40, 99);
    mqtt_snapshot_t *s = feed(&mid, MQTT_S2C, &p);
    CHECK_EQ(has(s, MQTT_R_ACK_UNKNOWN_ID), 0);
    CHECK_EQ(has(s, MQTT_R_UNSOLICITED), 1);
    CHECK_EQ(has(s, MQTT_R_MID_CONNECTION), 1);
}

TEST(dup_retransmission)
{
    conv_t c = conv_new(true);
    connect_v(&c, MQTT_V311, NULL);
    buf_t p = publish_pkt(MQTT_V311, 1, false, 3, "t", NULL);
    mqtt_snapshot_t *orig = feed(&c, MQTT_C2S, &p);
    p = publish_pkt(MQTT_V311, 1, true, 3, "t", NULL);
    mqtt_snapshot_t *dup = feed(&c, MQTT_C2S, &p);
    p = ack_pkt(0x40, 3);
    mqtt_snapshot_t *ack = feed(&c, MQTT_S2C, &p);
    CHECK_EQ(mqtt_snapshot_extra(dup)->retransmission_of, orig->frame);
    CHECK_EQ(has(dup, MQTT_R_RETRANSMISSION), 1);
    CHECK_EQ(has(dup, MQTT_R_DUP_RETRANSMISSION_V5), 0); /* legal in 3.1.1 */
    CHECK(!dup->expects_response);
    CHECK_EQ(ack->response_to, orig->frame);
}

/* [MQTT-4.3.3-4] asks for a PUBREL after a PUBREC below 0x80 only: a
 * PUBREL after a failed PUBREC breaks no MUST, it is only noted, and the
 * PUBCOMP 0x92 that answers it is linked to it. */
TEST(pubrel_after_failed_pubrec)
{
    conv_t c = conv_new(true);
    connect_v(&c, MQTT_V5, NULL);
    buf_t p = publish_pkt(MQTT_V5, 2, false, 1, "t", NULL);
    feed(&c, MQTT_C2S, &p);
    p = ack_rc_pkt(0x50, 1, 0x80);
    mqtt_snapshot_t *rec = feed(&c, MQTT_S2C, &p);
    CHECK(!rec->expects_response);
    p = ack_pkt(0x62, 1);
    mqtt_snapshot_t *rel = feed(&c, MQTT_C2S, &p);
    CHECK_EQ(has(rel, MQTT_R_PUBREL_AFTER_ERROR), 1);
    CHECK_EQ(nfindings(rel), 1);
    CHECK_EQ(mqtt_rule_specs[MQTT_R_PUBREL_AFTER_ERROR].family, MQTT_F_ANALYSIS);
    CHECK_EQ(mqtt_rule_specs[MQTT_R_PUBREL_AFTER_ERROR].severity, MQTT_S_NOTE);
    CHECK(mqtt_rule_ref(MQTT_R_PUBREL_AFTER_ERROR, MQTT_V5) == NULL);
    p = ack_rc_pkt(0x70, 1, 0x92);
    mqtt_snapshot_t *comp = feed(&c, MQTT_S2C, &p);
    CHECK_EQ(comp->response_to, rel->frame);
    CHECK_EQ(nfindings(comp), 0);
}

/* One connection of a session that keeps its state: CONNECT with Clean
 * Start 0, CONNACK with Session Present `present`. */
static void session_open(conv_t *c, unsigned level, bool present)
{
    buf_t p = connect_keep_session(level, "car-7");
    feed(c, MQTT_C2S, &p);
    p = connack_session(level, present);
    feed(c, MQTT_S2C, &p);
}

/* A resumed session re-sends what the previous connection left
 * unacknowledged with DUP 1 ([MQTT-4.4.0-1]), in both directions: every
 * copy is linked to its original on the earlier connection, none is a
 * first transmission with DUP or a retransmission within the connection;
 * a queued message the server sends with DUP for the first time gets
 * nothing. */
TEST(dup_across_session_resumption)
{
    mqtt_capture_t *cap = mqtt_capture_new(unit_pool);
    conv_t a = conv_in(cap, true, "192.0.2.1"), b = conv_in(cap, true, "192.0.2.1");
    b.frame = 40;
    session_open(&a, MQTT_V5, false);
    buf_t p = publish_pkt(MQTT_V5, 1, false, 1, "t/1", NULL);
    mqtt_snapshot_t *o1 = feed(&a, MQTT_C2S, &p);
    p = publish_pkt(MQTT_V5, 2, false, 2, "t/2", NULL);
    mqtt_snapshot_t *o2 = feed(&a, MQTT_C2S, &p);
    p = publish_pkt(MQTT_V5, 1, false, 3, "t/3", NULL);
    feed(&a, MQTT_C2S, &p);
    p = ack_pkt(0x40, 3); /* acknowledged: never re-sent */
    feed(&a, MQTT_S2C, &p);
    p = publish_pkt(MQTT_V5, 1, false, 10, "d/1", NULL);
    mqtt_snapshot_t *o10 = feed(&a, MQTT_S2C, &p);

    session_open(&b, MQTT_V5, true);
    mqtt_snapshot_t *r[4];
    p = publish_pkt(MQTT_V5, 1, true, 1, "t/1", NULL);
    r[0] = feed(&b, MQTT_C2S, &p);
    p = publish_pkt(MQTT_V5, 2, true, 2, "t/2", NULL);
    r[1] = feed(&b, MQTT_C2S, &p);
    p = publish_pkt(MQTT_V5, 1, true, 10, "d/1", NULL);
    r[2] = feed(&b, MQTT_S2C, &p);
    p = publish_pkt(MQTT_V5, 1, true, 11, "d/2", NULL); /* queued, never sent before */
    r[3] = feed(&b, MQTT_S2C, &p);
    const mqtt_snapshot_t *want[3] = {o1, o2, o10};
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(mqtt_snapshot_extra(r[i])->retransmission_of, want[i]->frame);
        CHECK_EQ(has(r[i], MQTT_R_RETRANSMISSION), 1);
        CHECK_EQ(nfindings(r[i]), 1);
        CHECK(r[i]->expects_response);
    }
    CHECK_EQ(mqtt_snapshot_extra(r[3])->retransmission_of, 0);
    CHECK_EQ(nfindings(r[3]), 0);
    /* The copies' acknowledgements answer them on this connection. */
    p = ack_pkt(0x40, 1);
    CHECK_EQ(feed(&b, MQTT_S2C, &p)->response_to, r[0]->frame);
    /* A DUP 0 PUBLISH of id 1 after that is a new message; a DUP copy of
     * id 3 (acknowledged on the earlier connection) links to nothing. */
    p = publish_pkt(MQTT_V5, 1, true, 3, "t/3", NULL);
    mqtt_snapshot_t *late = feed(&b, MQTT_C2S, &p);
    CHECK_EQ(mqtt_snapshot_extra(late)->retransmission_of, 0);
    CHECK_EQ(nfindings(late), 0);

    /* A new session (Session Present 0) forgets the old one's state: on
     * this fresh session a DUP first transmission is a violation again. */
    conv_t n = conv_in(cap, true, "192.0.2.1");
    n.frame = 80;
    session_open(&n, MQTT_V5, false);
    p = publish_pkt(MQTT_V5, 2, true, 2, "t/2", NULL);
    mqtt_snapshot_t *fresh = feed(&n, MQTT_C2S, &p);
    CHECK_EQ(has(fresh, MQTT_R_FIRST_DUP), 1);
    CHECK_EQ(mqtt_snapshot_extra(fresh)->retransmission_of, 0);
}

/* DUP 0 on an identifier the resumed session still has in flight from an
 * earlier connection (no acknowledgement seen): a re-delivery without DUP
 * ([MQTT-3.3.1-1]) or a new message on an identifier in use; the same
 * identifier after its acknowledgement is a new message. */
TEST(dup_missing_across_session_resumption)
{
    mqtt_capture_t *cap = mqtt_capture_new(unit_pool);
    conv_t a = conv_in(cap, true, "192.0.2.1"), b = conv_in(cap, true, "192.0.2.1");
    b.frame = 40;
    session_open(&a, MQTT_V311, false);
    buf_t p = publish_pkt(MQTT_V311, 1, false, 5, "t/5", NULL);
    mqtt_snapshot_t *o5 = feed(&a, MQTT_C2S, &p);
    p = publish_pkt(MQTT_V311, 1, false, 6, "t/6", NULL);
    feed(&a, MQTT_C2S, &p);
    p = ack_pkt(0x40, 6);
    feed(&a, MQTT_S2C, &p);

    session_open(&b, MQTT_V311, true);
    p = publish_pkt(MQTT_V311, 1, false, 5, "t/5", NULL);
    mqtt_snapshot_t *again = feed(&b, MQTT_C2S, &p);
    CHECK_EQ(has(again, MQTT_R_ID_IN_USE), 1);
    CHECK_EQ(mqtt_snapshot_extra(again)->retransmission_of, 0);
    CHECK(o5->frame < again->frame);
    p = publish_pkt(MQTT_V311, 1, false, 6, "t/6", NULL);
    mqtt_snapshot_t *fresh = feed(&b, MQTT_C2S, &p);
    CHECK_EQ(nfindings(fresh), 0);
}

/* Another client id, or the same at another broker, is another session. */
TEST(dup_session_key)
{
    mqtt_capture_t *cap = mqtt_capture_new(unit_pool);
    conv_t a = conv_in(cap, true, "192.0.2.1"), b = conv_in(cap, true, "192.0.2.1");
    b.frame = 40;
    session_open(&a, MQTT_V311, false);
    buf_t p = publish_pkt(MQTT_V311, 1, false, 1, "t/1", NULL);
    feed(&a, MQTT_C2S, &p);
    p = connect_keep_session(MQTT_V311, "car-8");
    feed(&b, MQTT_C2S, &p);
    p = connack_session(MQTT_V311, true);
    feed(&b, MQTT_S2C, &p);
    p = publish_pkt(MQTT_V311, 1, true, 1, "t/1", NULL);
    mqtt_snapshot_t *other = feed(&b, MQTT_C2S, &p);
    CHECK_EQ(mqtt_snapshot_extra(other)->retransmission_of, 0);
    CHECK_EQ(nfindings(other), 0);
}

/* A session that ends with its connection (Clean Session 1) keeps
 * nothing for a later one: a DUP copy on a connection that claims to
 * resume it is not linked to a PUBLISH of the clean one. */
TEST(dup_clean_session_kept_nothing)
{
    mqtt_capture_t *cap = mqtt_capture_new(unit_pool);
    conv_t a = conv_in(cap, true, "192.0.2.1"), b = conv_in(cap, true, "192.0.2.1");
    b.frame = 40;
    buf_t p = connect_pkt(MQTT_V311, "car-7", 60, NULL);
    feed(&a, MQTT_C2S, &p);
    p = connack_session(MQTT_V311, false);
    feed(&a, MQTT_S2C, &p);
    p = publish_pkt(MQTT_V311, 1, false, 1, "t/1", NULL);
    feed(&a, MQTT_C2S, &p);
    session_open(&b, MQTT_V311, true);
    p = publish_pkt(MQTT_V311, 1, true, 1, "t/1", NULL);
    mqtt_snapshot_t *copy = feed(&b, MQTT_C2S, &p);
    CHECK_EQ(mqtt_snapshot_extra(copy)->retransmission_of, 0);
}

TEST(pings_in_order)
{
    conv_t c = conv_new(true);
    connect_v(&c, MQTT_V311, NULL);
    buf_t req = simple(0xC0), resp = simple(0xD0);
    mqtt_snapshot_t *a = feed(&c, MQTT_C2S, &req);
    mqtt_snapshot_t *b = feed(&c, MQTT_C2S, &req);
    mqtt_snapshot_t *ra = feed(&c, MQTT_S2C, &resp);
    mqtt_snapshot_t *rb = feed(&c, MQTT_S2C, &resp);
    CHECK_EQ(ra->response_to, a->frame);
    CHECK_EQ(rb->response_to, b->frame);
    mqtt_snapshot_t *extra = feed(&c, MQTT_S2C, &resp);
    CHECK_EQ(has(extra, MQTT_R_UNSOLICITED), 1);
    /* More awaiting than are kept: the oldest are forgotten, the rest
     * answered in order. */
    mqtt_snapshot_t *reqs[MQTT_MAX_PENDING_PINGS + 6];
    for (unsigned i = 0; i < MQTT_MAX_PENDING_PINGS + 6; i++)
        reqs[i] = feed(&c, MQTT_C2S, &req);
    CHECK_EQ(has(reqs[MQTT_MAX_PENDING_PINGS], MQTT_R_STATE_CAP), 1);
    unsigned in_order = 0;
    for (unsigned i = 6; i < MQTT_MAX_PENDING_PINGS + 6; i++)
        in_order += feed(&c, MQTT_S2C, &resp)->response_to == reqs[i]->frame;
    CHECK_EQ(in_order, MQTT_MAX_PENDING_PINGS);
    CHECK_EQ(has(feed(&c, MQTT_S2C, &resp), MQTT_R_UNSOLICITED), 1);
}

TEST(topic_aliases_per_direction)
{
    conv_t c = conv_new(true);
    buf_t props = {{0}, 0};
    put8(&props, MQTT_PROP_TOPIC_ALIAS_MAXIMUM);
    put16(&props, 5);
    buf_t p = connect_pkt(MQTT_V5, "c", 60, &props);
    feed(&c, MQTT_C2S, &p);
    p = connack_pkt(MQTT_V5, 0, &props);
    feed(&c, MQTT_S2C, &p);

    buf_t a1 = {{0}, 0};
    put8(&a1, MQTT_PROP_TOPIC_ALIAS);
    put16(&a1, 1);
    p = publish_pkt(MQTT_V5, 0, false, 0, "up/one", &a1);
    mqtt_snapshot_t *set_c = feed(&c, MQTT_C2S, &p);
    p = publish_pkt(MQTT_V5, 0, false, 0, "down/one", &a1);
    mqtt_snapshot_t *set_s = feed(&c, MQTT_S2C, &p);
    p = publish_pkt(MQTT_V5, 0, false, 0, "", &a1);
    mqtt_snapshot_t *use_c = feed(&c, MQTT_C2S, &p);
    mqtt_snapshot_t *use_s = feed(&c, MQTT_S2C, &p);
    CHECK_STR(mqtt_snapshot_extra(use_c)->alias_topic, "up/one");
    CHECK_EQ(mqtt_snapshot_extra(use_c)->alias_frame, set_c->frame);
    CHECK_STR(mqtt_snapshot_extra(use_s)->alias_topic, "down/one");
    CHECK_EQ(mqtt_snapshot_extra(use_s)->alias_frame, set_s->frame);
    /* Remap, then use: the new topic, the old snapshot unchanged. */
    p = publish_pkt(MQTT_V5, 0, false, 0, "up/two", &a1);
    feed(&c, MQTT_C2S, &p);
    p = publish_pkt(MQTT_V5, 0, false, 0, "", &a1);
    CHECK_STR(mqtt_snapshot_extra(feed(&c, MQTT_C2S, &p))->alias_topic, "up/two");
    CHECK_STR(mqtt_snapshot_extra(use_c)->alias_topic, "up/one");

    buf_t a9 = {{0}, 0};
    put8(&a9, MQTT_PROP_TOPIC_ALIAS);
    put16(&a9, 9);
    p = publish_pkt(MQTT_V5, 0, false, 0, "", &a9);
    mqtt_snapshot_t *bad = feed(&c, MQTT_C2S, &p);
    CHECK_EQ(has(bad, MQTT_R_ALIAS_ABOVE_MAXIMUM_CLIENT), 1);
    CHECK_EQ(has(bad, MQTT_R_ALIAS_UNKNOWN), 1);
}

TEST(keepalive)
{
    conv_t c = conv_new(true);
    buf_t p = connect_pkt(MQTT_V311, "k", 5, NULL);
    feed_at(&c, MQTT_C2S, &p, 0.0);
    p = connack_pkt(MQTT_V311, 0, NULL);
    feed_at(&c, MQTT_S2C, &p, 0.01);
    buf_t ping = simple(0xC0), pong = simple(0xD0);
    mqtt_snapshot_t *ok = feed_at(&c, MQTT_C2S, &ping, 5.0); /* exactly Keep Alive */
    CHECK_EQ(has(ok, MQTT_R_KEEPALIVE_EXCEEDED), 0);
    CHECK_EQ(ok->prev_client_frame, ok->frame - 2);
    feed_at(&c, MQTT_S2C, &pong, 5.02);
    mqtt_snapshot_t *late = feed_at(&c, MQTT_C2S, &ping, 13.0); /* 8 s > 1.5 x 5 s */
    CHECK_EQ(has(late, MQTT_R_KEEPALIVE_EXCEEDED), 1);
    mqtt_snapshot_t *answer = feed_at(&c, MQTT_S2C, &pong, 13.02);
    CHECK_EQ(has(answer, MQTT_R_KEEPALIVE_NOT_ENFORCED), 1);
}

TEST(version_inferred_mid_connection)
{
    conv_t c = conv_new(false);
    buf_t p = publish_pkt(MQTT_V5, 1, false, 4, "t", NULL);
    mqtt_snapshot_t *pub = feed(&c, MQTT_C2S, &p); /* fits both: the preference decides */
    CHECK_EQ(pub->version_source, MQTT_VS_DEFAULT);
    const uint8_t v5ack[] = {0x40, 0x04, 0x00, 0x04, 0x10, 0x00};
    buf_t ack = {{0}, 0};
    putn(&ack, v5ack, sizeof v5ack);
    mqtt_snapshot_t *a = feed(&c, MQTT_S2C, &ack);
    CHECK_EQ(a->version, MQTT_V5);
    CHECK_EQ(a->version_source, MQTT_VS_THIS);
    CHECK_EQ(has(a, MQTT_R_VERSION_INFERRED), 1);
    p = simple(0xC0);
    mqtt_snapshot_t *next = feed(&c, MQTT_C2S, &p);
    CHECK_EQ(next->version, MQTT_V5);
    CHECK_EQ(next->version_source, MQTT_VS_INFERRED);
    CHECK_EQ(mqtt_snapshot_version_frame(next), a->frame);

    /* An inference gives way to bytes that clearly say otherwise. */
    conv_t d = conv_new(false);
    p = publish_pkt(MQTT_V311, 1, false, 4, "t", NULL); /* "x" is no 5.0 Property Length */
    CHECK_EQ(feed(&d, MQTT_C2S, &p)->version, MQTT_V311);
    CHECK_EQ(feed(&d, MQTT_S2C, &ack)->version, MQTT_V5);
}

TEST(sequence_rules)
{
    conv_t c = conv_new(true);
    buf_t p = simple(0xC0);
    CHECK_EQ(has(feed(&c, MQTT_C2S, &p), MQTT_R_FIRST_NOT_CONNECT), 1);
    conv_t d = conv_new(true);
    connect_v(&d, MQTT_V311, NULL);
    p = connect_pkt(MQTT_V311, "x", 60, NULL);
    CHECK_EQ(has(feed(&d, MQTT_C2S, &p), MQTT_R_SECOND_CONNECT), 1);
    p = simple(0xE0);
    feed(&d, MQTT_C2S, &p);
    p = simple(0xC0);
    CHECK_EQ(has(feed(&d, MQTT_C2S, &p), MQTT_R_AFTER_DISCONNECT), 1);
    conv_t e = conv_new(true);
    p = connect_pkt(MQTT_V311, "x", 60, NULL);
    feed(&e, MQTT_C2S, &p);
    p = suback_pkt(1, 0);
    CHECK_EQ(has(feed(&e, MQTT_S2C, &p), MQTT_R_SERVER_BEFORE_CONNACK), 1);
}

TEST(receive_maximum)
{
    conv_t c = conv_new(true);
    buf_t props = {{0}, 0};
    put8(&props, MQTT_PROP_RECEIVE_MAXIMUM);
    put16(&props, 2);
    connect_v(&c, MQTT_V5, &props);
    buf_t p;
    for (uint16_t id = 1; id <= 2; id++) {
        p = publish_pkt(MQTT_V5, 1, false, id, "t", NULL);
        CHECK_EQ(has(feed(&c, MQTT_C2S, &p), MQTT_R_RECEIVE_MAXIMUM_CLIENT), 0);
    }
    p = publish_pkt(MQTT_V5, 1, false, 3, "t", NULL);
    CHECK_EQ(has(feed(&c, MQTT_C2S, &p), MQTT_R_RECEIVE_MAXIMUM_CLIENT), 1);
}

TEST(subscriptions_and_delivery)
{
    conv_t c = conv_new(true);
    connect_v(&c, MQTT_V311, NULL);
    buf_t p = subscribe_pkt(1, "home/+/temp", 1);
    mqtt_snapshot_t *sub = feed(&c, MQTT_C2S, &p);
    p = suback_pkt(1, 2); /* granted 2 > requested 1 */
    mqtt_snapshot_t *ack = feed(&c, MQTT_S2C, &p);
    CHECK_EQ(ack->response_to, sub->frame);
    CHECK_EQ(has(ack, MQTT_R_GRANTED_ABOVE_REQUESTED), 1);
    p = publish_pkt(MQTT_V311, 1, false, 1, "home/kitchen/temp", NULL);
    CHECK_EQ(nfindings(feed(&c, MQTT_S2C, &p)), 0);
    p = publish_pkt(MQTT_V311, 0, false, 0, "office/temp", NULL);
    CHECK_EQ(has(feed(&c, MQTT_S2C, &p), MQTT_R_DELIVERY_UNSUBSCRIBED), 1);
}

/* A server PUBLISH that crosses the client's UNSUBSCRIBE (sent before the
 * server read it) is legal; after the UNSUBACK the subscription is gone
 * ([MQTT-3.10.4-2]: the server stops adding messages once it has the
 * UNSUBSCRIBE). */
TEST(unsubscribe_takes_effect_at_unsuback)
{
    conv_t c = conv_new(true);
    connect_v(&c, MQTT_V311, NULL);
    buf_t p = subscribe_pkt(1, "home/#", 1);
    feed(&c, MQTT_C2S, &p);
    p = suback_pkt(1, 1);
    feed(&c, MQTT_S2C, &p);
    buf_t body = {{0}, 0};
    put16(&body, 2);
    putstr(&body, "home/#");
    p = pkt_finish(0xA2, &body);
    feed(&c, MQTT_C2S, &p);
    p = publish_pkt(MQTT_V311, 0, false, 0, "home/door", NULL);
    CHECK_EQ(nfindings(feed(&c, MQTT_S2C, &p)), 0);
    p = ack_pkt(0xB0, 2);
    feed(&c, MQTT_S2C, &p);
    p = publish_pkt(MQTT_V311, 0, false, 0, "home/door", NULL);
    CHECK_EQ(has(feed(&c, MQTT_S2C, &p), MQTT_R_DELIVERY_UNSUBSCRIBED), 1);
}

/* The n-th SUBACK code is for the n-th filter of its SUBSCRIBE (§3.9.3),
 * even past 256 filters. */
TEST(suback_codes_past_256_filters)
{
    conv_t c = conv_new(true);
    connect_v(&c, MQTT_V311, NULL);
    uint8_t one = 1, codes[300];
    buf_t p = subscribe_list(1, NULL, "f/", 0, 300, &one);
    feed(&c, MQTT_C2S, &p);
    memset(codes, 1, sizeof codes);
    codes[0] = 0x80; /* refused: no subscription */
    codes[299] = 2;  /* above the requested 1 */
    p = suback_codes(1, codes, 300);
    mqtt_snapshot_t *ack = feed(&c, MQTT_S2C, &p);
    CHECK_EQ(has(ack, MQTT_R_GRANTED_ABOVE_REQUESTED), 1);
    const mqtt_findings_t *fs = &mqtt_snapshot_extra(ack)->findings;
    CHECK(fs->count == 1 && strstr(fs->items[0].detail, "\"f/299\"") != NULL);
    CHECK(fs->count == 1 && fs->items[0].span.off == p.n - 1);
    p = publish_pkt(MQTT_V311, 0, false, 0, "f/0", NULL);
    CHECK_EQ(has(feed(&c, MQTT_S2C, &p), MQTT_R_DELIVERY_UNSUBSCRIBED), 1);
    p = publish_pkt(MQTT_V311, 1, false, 1, "f/256", NULL);
    CHECK_EQ(nfindings(feed(&c, MQTT_S2C, &p)), 0);
}

/* A filter repeated in one SUBSCRIBE replaces the earlier subscription
 * ([MQTT-3.8.4-3]); the codes of the other filters do not shift. */
TEST(suback_codes_repeated_filter)
{
    conv_t c = conv_new(true);
    connect_v(&c, MQTT_V311, NULL);
    const char *const filters[] = {"a", "b", "a"};
    const uint8_t qos[] = {2, 0, 0}, codes[] = {2, 0, 0};
    buf_t p = subscribe_list(1, filters, NULL, 0, 3, qos);
    feed(&c, MQTT_C2S, &p);
    p = suback_codes(1, codes, 3);
    CHECK_EQ(nfindings(feed(&c, MQTT_S2C, &p)), 0);
    /* "b" was granted 0: a QoS 1 delivery on it is above. */
    p = publish_pkt(MQTT_V311, 1, false, 1, "b", NULL);
    CHECK_EQ(has(feed(&c, MQTT_S2C, &p), MQTT_R_DELIVERY_QOS), 1);
}

/* Filters the full table does not keep leave their codes unmatched. */
TEST(suback_codes_full_table)
{
    conv_t c = conv_new(true);
    connect_v(&c, MQTT_V311, NULL);
    uint8_t zero = 0, codes[410];
    memset(codes, 0, sizeof codes);
    for (unsigned k = 0; k < 10; k++) {
        buf_t p = subscribe_list((uint16_t)(k + 1), NULL, "g/", k * 410, k == 9 ? 406 : 410, &zero);
        feed(&c, MQTT_C2S, &p);
        p = suback_codes((uint16_t)(k + 1), codes, k == 9 ? 406 : 410);
        CHECK_EQ(nfindings(feed(&c, MQTT_S2C, &p)), 0);
    }
    /* Full (4,096): "new" is not kept, "g/5" replaces itself at position 1. */
    const char *const filters[] = {"new", "g/5"};
    const uint8_t qos[] = {0, 0}, two[] = {2, 0};
    buf_t p = subscribe_list(20, filters, NULL, 0, 2, qos);
    mqtt_snapshot_t *sub = feed(&c, MQTT_C2S, &p);
    CHECK_EQ(has(sub, MQTT_R_STATE_CAP), 1);
    p = suback_codes(20, two, 2);
    CHECK_EQ(has(feed(&c, MQTT_S2C, &p), MQTT_R_GRANTED_ABOVE_REQUESTED), 0);
}

static bool matches(const char *f, const char *t)
{
    return mqtt_topic_matches((const uint8_t *)f, (uint32_t)strlen(f), (const uint8_t *)t, (uint32_t)strlen(t));
}

TEST(topic_matching)
{
    CHECK(matches("sport/tennis/player1/#", "sport/tennis/player1"));
    CHECK(matches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
    CHECK(matches("sport/#", "sport"));
    CHECK(matches("#", "a/b/c"));
    CHECK(matches("sport/+", "sport/"));
    CHECK(!matches("sport/+", "sport"));
    CHECK(matches("+/+", "/finance"));
    CHECK(matches("/+", "/finance"));
    CHECK(!matches("+", "/finance"));
    CHECK(!matches("#", "$SYS/uptime"));
    CHECK(!matches("+/monitor/Clients", "$SYS/monitor/Clients"));
    CHECK(matches("$SYS/#", "$SYS/uptime"));
    CHECK(matches("$share/grp/a/+", "a/b"));
    CHECK(!matches("a/b", "a/b/c"));
}

/* ---- what the core settles when a packet is shown --------------------------------- */

/* The findings mqtt_core_settle() adds for the packet `p` of `snap`:
 * during the first pass (seen false) or once the capture is known. */
static mqtt_findings_t settled_until(const conv_t *c, const mqtt_snapshot_t *snap, const buf_t *p, bool seen,
                                     bool closed, double end, int closed_by)
{
    mqtt_pkt_t *pkt = mqtt_core_decode(unit_pool, p->b, p->n, snap);
    mqtt_event_t ev = event_at(c, (enum mqtt_dir)snap->dir, 0);
    mqtt_settle_facts_t facts = {seen, closed, ev.src_address, ev.dst_address, (int64_t)(end * 1e9 + 0.5),
                                 (int8_t)closed_by};
    mqtt_findings_t out = {NULL, 0, 0};
    mqtt_core_settle(c->cap, c->conn, snap, pkt, &facts, unit_pool, &out);
    return out;
}

static mqtt_findings_t settled(const conv_t *c, const mqtt_snapshot_t *snap, const buf_t *p, bool seen, bool closed)
{
    return settled_until(c, snap, p, seen, closed, 0, -1);
}

static int count_rule(const mqtt_findings_t *fs, enum mqtt_rule rule)
{
    int n = 0;
    for (uint32_t i = 0; i < fs->count; i++)
        n += fs->items[i].rule == rule;
    return n;
}

static const mqtt_finding_t *find_rule(const mqtt_findings_t *fs, enum mqtt_rule rule)
{
    for (uint32_t i = 0; i < fs->count; i++)
        if (fs->items[i].rule == rule)
            return &fs->items[i];
    return NULL;
}

TEST(hindsight_unanswered)
{
    conv_t c = conv_new(true);
    connect_v(&c, MQTT_V311, NULL);
    buf_t pub = publish_pkt(MQTT_V311, 1, false, 7, "t", NULL);
    mqtt_snapshot_t *req = feed(&c, MQTT_C2S, &pub);
    /* During the first pass nothing is known about the answer. */
    mqtt_findings_t fs = settled(&c, req, &pub, false, false);
    CHECK_EQ(fs.count, 0);
    /* Unanswered at the end of the capture: only a remark. */
    fs = settled(&c, req, &pub, true, false);
    CHECK_EQ(count_rule(&fs, MQTT_R_NO_RESPONSE), 1);
    CHECK_STR(find_rule(&fs, MQTT_R_NO_RESPONSE)->detail, "no PUBACK");
    /* The server sending a PUBLISH of its own (it may have been on its way
     * before the request arrived) answers nothing later: still a remark. */
    buf_t down = publish_pkt(MQTT_V311, 0, false, 0, "d", NULL);
    feed(&c, MQTT_S2C, &down);
    fs = settled(&c, req, &pub, true, false);
    CHECK_EQ(count_rule(&fs, MQTT_R_RESPONSE_MISSING), 0);
    CHECK_EQ(count_rule(&fs, MQTT_R_NO_RESPONSE), 1);
    /* Unanswered while the server answered a later request: the rule is broken. */
    buf_t ping = simple(0xC0), pong = simple(0xD0);
    feed(&c, MQTT_C2S, &ping);
    feed(&c, MQTT_S2C, &pong);
    fs = settled(&c, req, &pub, true, false);
    CHECK_EQ(count_rule(&fs, MQTT_R_NO_RESPONSE), 0);
    const mqtt_finding_t *f = find_rule(&fs, MQTT_R_RESPONSE_MISSING);
    CHECK(f != NULL);
    if (f)
        CHECK_STR(f->ref, "MQTT-3.3.4-1");
    /* A QoS 2 flow left after PUBREC is incomplete, not unanswered. */
    buf_t pub2 = publish_pkt(MQTT_V311, 2, false, 8, "t", NULL), rec = ack_pkt(0x50, 8);
    feed(&c, MQTT_C2S, &pub2);
    mqtt_snapshot_t *prec = feed(&c, MQTT_S2C, &rec);
    fs = settled(&c, prec, &rec, true, false);
    CHECK_EQ(count_rule(&fs, MQTT_R_QOS2_INCOMPLETE), 1);
    CHECK_STR(find_rule(&fs, MQTT_R_QOS2_INCOMPLETE)->detail, "no PUBREL");
}

TEST(hindsight_mismatched_answer)
{
    conv_t c = conv_new(true);
    connect_v(&c, MQTT_V311, NULL);
    buf_t pub = publish_pkt(MQTT_V311, 1, false, 7, "t", NULL), ack = ack_pkt(0x40, 9);
    mqtt_snapshot_t *req = feed(&c, MQTT_C2S, &pub);
    mqtt_snapshot_t *wrong = feed(&c, MQTT_S2C, &ack);
    /* The answer with another id is a back-link on the request. */
    CHECK_EQ(mqtt_snapshot_extra(req)->mismatched_in, wrong->frame);
    mqtt_findings_t fs = settled(&c, req, &pub, true, false);
    CHECK_EQ(count_rule(&fs, MQTT_R_RESPONSE_MISSING), 0);
    const mqtt_finding_t *f = find_rule(&fs, MQTT_R_NO_RESPONSE);
    CHECK(f != NULL);
    if (f)
        CHECK(strstr(f->detail, "with this Packet Identifier") != NULL);
}

TEST(hindsight_closed_and_anonymous)
{
    conv_t c = conv_new(true);
    buf_t conn = connect_pkt(MQTT_V311, "sensor-1", 60, NULL), ack = connack_pkt(MQTT_V311, 0, NULL);
    feed(&c, MQTT_C2S, &conn);
    mqtt_snapshot_t *accepted = feed(&c, MQTT_S2C, &ack);
    /* Kept as a flag, reported on every pass. */
    mqtt_findings_t fs = settled(&c, accepted, &ack, false, false);
    CHECK_EQ(count_rule(&fs, MQTT_R_ANONYMOUS_ACCEPTED), 1);
    buf_t ping = simple(0xC0);
    mqtt_snapshot_t *last = feed(&c, MQTT_C2S, &ping);
    fs = settled(&c, last, &ping, true, true);
    CHECK_EQ(count_rule(&fs, MQTT_R_CLOSED_WITHOUT_DISCONNECT), 1);
    /* Not before the capture is known, nor without FIN / RST, nor on an
     * earlier packet. */
    fs = settled(&c, last, &ping, false, true);
    CHECK_EQ(count_rule(&fs, MQTT_R_CLOSED_WITHOUT_DISCONNECT), 0);
    fs = settled(&c, last, &ping, true, false);
    CHECK_EQ(count_rule(&fs, MQTT_R_CLOSED_WITHOUT_DISCONNECT), 0);
    fs = settled(&c, accepted, &ack, true, true);
    CHECK_EQ(count_rule(&fs, MQTT_R_CLOSED_WITHOUT_DISCONNECT), 0);
    /* A DISCONNECT ends the connection properly. */
    buf_t bye = simple(0xE0);
    mqtt_snapshot_t *end = feed(&c, MQTT_C2S, &bye);
    fs = settled(&c, end, &bye, true, true);
    CHECK_EQ(count_rule(&fs, MQTT_R_CLOSED_WITHOUT_DISCONNECT), 0);
}

/* Keep Alive judged when the connection closes or the capture ends with
 * the client silent: over Keep Alive the client broke it, open over 1.5 x
 * Keep Alive the server did not enforce it; the CONNACK's Server Keep
 * Alive replaces the client's value; Keep Alive 0 turns it off. */
static mqtt_snapshot_t *silent_client(conv_t *c, unsigned level, uint16_t keepalive, const buf_t *connack_props,
                                      buf_t *last)
{
    buf_t p = connect_pkt(level, "quiet", keepalive, NULL);
    feed_at(c, MQTT_C2S, &p, 0.0);
    p = connack_pkt(level, 0, connack_props);
    feed_at(c, MQTT_S2C, &p, 0.01);
    *last = publish_pkt(level, 0, false, 0, "t", NULL);
    return feed_at(c, MQTT_C2S, last, 1.0);
}

TEST(keepalive_at_close_and_end)
{
    buf_t last;
    conv_t c = conv_new(true);
    mqtt_snapshot_t *s = silent_client(&c, MQTT_V311, 5, NULL, &last);
    /* The server closes 7.6 s later: the client broke Keep Alive, the
     * server enforced it (who closed is this packet's receiver). */
    mqtt_findings_t fs = settled_until(&c, s, &last, true, true, 8.6, 1);
    const mqtt_finding_t *f = find_rule(&fs, MQTT_R_KEEPALIVE_EXCEEDED);
    CHECK(f != NULL);
    if (f)
        CHECK_STR(f->detail, "7.600 s after frame 6 until the server closed the connection; Keep Alive 5 s, "
                             "assuming no client packet is missing");
    CHECK_EQ(count_rule(&fs, MQTT_R_KEEPALIVE_NOT_ENFORCED), 0);
    /* Not in one pass, not on an earlier packet. */
    fs = settled_until(&c, s, &last, false, true, 8.6, 1);
    CHECK_EQ(count_rule(&fs, MQTT_R_KEEPALIVE_EXCEEDED), 0);
    /* Closed in time: nothing. */
    fs = settled_until(&c, s, &last, true, true, 5.4, 0);
    CHECK_EQ(count_rule(&fs, MQTT_R_KEEPALIVE_EXCEEDED), 0);
    /* Still open 20 s later at the end of the capture: both. */
    fs = settled_until(&c, s, &last, true, false, 21.0, -1);
    CHECK_EQ(count_rule(&fs, MQTT_R_KEEPALIVE_EXCEEDED), 1);
    CHECK_EQ(count_rule(&fs, MQTT_R_KEEPALIVE_NOT_ENFORCED), 1);
    /* The capture ends before Keep Alive elapsed: nothing. */
    fs = settled_until(&c, s, &last, true, false, 4.0, -1);
    CHECK_EQ(nfindings(s) + fs.count, 0);

    /* Server Keep Alive 2 s overrides the client's 60 s. */
    conv_t v5 = conv_new(true);
    buf_t props = {{0}, 0};
    put8(&props, 0x13);
    put16(&props, 2);
    s = silent_client(&v5, MQTT_V5, 60, &props, &last);
    fs = settled_until(&v5, s, &last, true, true, 4.5, 1);
    f = find_rule(&fs, MQTT_R_KEEPALIVE_EXCEEDED);
    CHECK(f != NULL);
    if (f)
        CHECK_STR(f->ref, "MQTT-3.1.2-21 / MQTT-3.2.2-21");
    CHECK_EQ(count_rule(&fs, MQTT_R_KEEPALIVE_NOT_ENFORCED), 1);

    /* Keep Alive 0: off. */
    conv_t off = conv_new(true);
    s = silent_client(&off, MQTT_V311, 0, NULL, &last);
    fs = settled_until(&off, s, &last, true, true, 500.0, 1);
    CHECK_EQ(count_rule(&fs, MQTT_R_KEEPALIVE_EXCEEDED) + count_rule(&fs, MQTT_R_KEEPALIVE_NOT_ENFORCED), 0);
    CHECK_EQ(count_rule(&fs, MQTT_R_CLOSED_WITHOUT_DISCONNECT), 1);

    /* A DISCONNECT ends the connection properly: nothing. */
    conv_t bye = conv_new(true);
    silent_client(&bye, MQTT_V311, 5, NULL, &last);
    buf_t d = simple(0xE0);
    s = feed_at(&bye, MQTT_C2S, &d, 1.5);
    fs = settled_until(&bye, s, &d, true, true, 30.0, 0);
    CHECK_EQ(count_rule(&fs, MQTT_R_KEEPALIVE_EXCEEDED) + count_rule(&fs, MQTT_R_KEEPALIVE_NOT_ENFORCED), 0);
}

/* A refused login (3.1.1 "not authorized") on a connection of its own. */
static mqtt_snapshot_t *failed_login(conv_t *c, buf_t *ack)
{
    buf_t p = connect_pkt(MQTT_V311, "guesser", 60, NULL);
    feed(c, MQTT_C2S, &p);
    *ack = connack_pkt(MQTT_V311, 5, NULL);
    mqtt_snapshot_t *snap = feed(c, MQTT_S2C, ack);
    CHECK_EQ(has(snap, MQTT_R_AUTH_FAILED), 1);
    return snap;
}

TEST(repeated_failures_per_address)
{
    mqtt_capture_t *cap = mqtt_capture_new(unit_pool);
    conv_t a1 = conv_in(cap, true, "198.51.100.7"), a2 = conv_in(cap, true, "198.51.100.7");
    conv_t a3 = conv_in(cap, true, "198.51.100.7"), other = conv_in(cap, true, "198.51.100.8");
    a2.frame = 20;
    other.frame = 30;
    a3.frame = 40;
    buf_t ack1, ack2, ack3, ack_other;
    mqtt_snapshot_t *f1 = failed_login(&a1, &ack1);
    /* One pass: the first failure is no pattern yet ... */
    mqtt_findings_t fs = settled(&a1, f1, &ack1, false, false);
    CHECK_EQ(count_rule(&fs, MQTT_R_REPEATED_AUTH_FAILURES), 0);
    /* ... the second from the same address is, at the moment it is seen. */
    mqtt_snapshot_t *f2 = failed_login(&a2, &ack2);
    fs = settled(&a2, f2, &ack2, false, false);
    const mqtt_finding_t *f = find_rule(&fs, MQTT_R_REPEATED_AUTH_FAILURES);
    CHECK(f != NULL);
    if (f)
        CHECK_STR(f->detail, "2 failed logins from 198.51.100.7 so far, frames 5 to 22");
    /* Another address counts on its own. */
    mqtt_snapshot_t *fo = failed_login(&other, &ack_other);
    fs = settled(&other, fo, &ack_other, false, false);
    CHECK_EQ(count_rule(&fs, MQTT_R_REPEATED_AUTH_FAILURES), 0);
    mqtt_snapshot_t *f3 = failed_login(&a3, &ack3);
    /* With hindsight: only on the last failure, with the total. */
    fs = settled(&a2, f2, &ack2, true, false);
    CHECK_EQ(count_rule(&fs, MQTT_R_REPEATED_AUTH_FAILURES), 0);
    fs = settled(&a3, f3, &ack3, true, false);
    f = find_rule(&fs, MQTT_R_REPEATED_AUTH_FAILURES);
    CHECK(f != NULL);
    if (f)
        CHECK_STR(f->detail, "3 failed logins from 198.51.100.7, frames 5 to 42");
}

TEST(framing_findings)
{
    mqtt_finding_t f = mqtt_core_unfinished_packet(true, 300, unit_pool);
    CHECK_EQ(f.rule, MQTT_R_INCOMPLETE_PACKET);
    CHECK_STR(f.detail, "300 bytes announced");
    f = mqtt_core_unfinished_packet(false, 300, unit_pool);
    CHECK_EQ(f.rule, MQTT_R_CAPTURE_ENDS_MID_PACKET);
    f = mqtt_core_unframed(12, unit_pool);
    CHECK_EQ(f.rule, MQTT_R_UNFRAMED);
    CHECK_STR(f.detail, "since frame 12");
    /* WebSocket: a packet whose Remaining Length never completes, the
     * largest packet a Remaining Length can announce, the rest of a
     * message after a Remaining Length error. */
    f = mqtt_core_unfinished_packet(false, 0, unit_pool);
    CHECK_EQ(f.rule, MQTT_R_CAPTURE_ENDS_MID_PACKET);
    CHECK_STR(f.detail, "its Remaining Length is incomplete");
    f = mqtt_core_unfinished_packet(true, 268435460ull, unit_pool);
    CHECK_STR(f.detail, "268435460 bytes announced");
    f = mqtt_core_unframed_message();
    CHECK_EQ(f.rule, MQTT_R_UNFRAMED);
    CHECK_STR(f.detail, "Remaining Length longer than 4 bytes; framing resumes with the next WebSocket message");
}

UNIT_MAIN("conn", connect_links_and_identity, qos2_chain, identifier_reuse_and_separate_spaces, open_flows_by_identifier, unsolicited_acks,
          dup_retransmission, pubrel_after_failed_pubrec, dup_across_session_resumption, dup_missing_across_session_resumption,
          dup_session_key,
          dup_clean_session_kept_nothing, pings_in_order, topic_aliases_per_direction, keepalive,
          version_inferred_mid_connection, sequence_rules, receive_maximum, subscriptions_and_delivery,
          unsubscribe_takes_effect_at_unsuback, suback_codes_past_256_filters, suback_codes_repeated_filter, suback_codes_full_table, topic_matching, hindsight_unanswered, hindsight_mismatched_answer, hindsight_closed_and_anonymous,
          keepalive_at_close_and_end, repeated_failures_per_address, framing_findings)
