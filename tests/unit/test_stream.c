/* test_stream.c — unit tests of the per-direction stream reassembler
 * (plugin/core/mqtt_stream.c) and the transport checks
 * (plugin/core/mqtt_transport.c). */
#include "unit.h"

#include "mqtt_stream.h"
#include "mqtt_transport.h"

/* A stream of packets: CONNECT (1-byte RL), a PUBLISH with a 2-byte RL,
 * PINGREQ (RL 0), a PUBLISH with a 3-byte RL. */
static uint8_t stream[16700];
static uint32_t stream_len;
static uint32_t ends[4];

static void put_publish(uint32_t payload)
{
    uint32_t rl = 2 + 1 + payload; /* topic "t" */
    stream[stream_len++] = 0x30;
    do {
        uint8_t b = rl & 0x7F;
        rl >>= 7;
        stream[stream_len++] = (uint8_t)(b | (rl ? 0x80 : 0));
    } while (rl);
    stream[stream_len++] = 0;
    stream[stream_len++] = 1;
    stream[stream_len++] = 't';
    memset(stream + stream_len, 'p', payload);
    stream_len += payload;
}

static void build_stream(void)
{
    static const uint8_t connect[] = {0x10, 0x10, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 4, 'l', 'e', 'n', 's'};
    stream_len = 0;
    memcpy(stream, connect, sizeof connect);
    stream_len = sizeof connect;
    ends[0] = stream_len;
    put_publish(200);
    ends[1] = stream_len;
    stream[stream_len++] = 0xC0;
    stream[stream_len++] = 0;
    ends[2] = stream_len;
    put_publish(16400);
    ends[3] = stream_len;
}

/* Feeds the stream cut at `cuts` (sorted offsets) and collects the end
 * offset of every packet the reassembler reports, in order. */
static int replay(const uint32_t *cuts, int ncuts, uint32_t *got, int max)
{
    mqtt_stream_t *s = mqtt_stream_new(unit_pool);
    int n = 0;
    uint32_t start = 0;
    for (int i = 0; i <= ncuts; i++) {
        uint32_t end = i < ncuts ? cuts[i] : stream_len;
        mqtt_stream_msg_t m;
        mqtt_stream_feed(s, stream + start, end - start, (uint32_t)i, &m);
        CHECK_EQ(m.bad_off, MQTT_STREAM_NONE);
        if (m.head) {
            /* the assembled packet is the stream's bytes that end here */
            uint32_t at = start + (m.body_off);
            CHECK(at >= m.head_len && memcmp(m.head, stream + at - m.head_len, m.head_len) == 0);
            if (n < max)
                got[n++] = at;
        }
        uint32_t off = m.body_off;
        while (off < m.tail_off) {
            uint64_t size = mqtt_stream_whole(stream + start + off, m.tail_off - off);
            CHECK(size > 0);
            if (!size)
                break;
            off += (uint32_t)size;
            if (n < max)
                got[n++] = start + off;
        }
        start = end;
    }
    uint32_t pend_start;
    uint64_t announced;
    CHECK(!mqtt_stream_pending(s, &pend_start, &announced));
    return n;
}

TEST(every_single_cut)
{
    build_stream();
    for (uint32_t cut = 1; cut < stream_len; cut++) {
        uint32_t got[8];
        int n = replay(&cut, 1, got, 8);
        CHECK_EQ(n, 4);
        for (int i = 0; i < 4 && i < n; i++)
            CHECK_EQ(got[i], ends[i]);
    }
}

TEST(byte_by_byte_header_and_two_cuts)
{
    build_stream();
    /* pairs of cuts through the CONNECT, the 2-byte RL PUBLISH and the
     * PINGREQ, then a cut inside the 3-byte Remaining Length */
    for (uint32_t a = 1; a < ends[2] + 1; a++) {
        for (uint32_t b = a + 1; b < ends[2] + 2; b += 7) {
            uint32_t cuts[3] = {a, b, ends[2] + 2};
            uint32_t got[8];
            int n = replay(cuts, 3, got, 8);
            CHECK_EQ(n, 4);
            for (int i = 0; i < 4 && i < n; i++)
                CHECK_EQ(got[i], ends[i]);
        }
    }
}

TEST(pending_and_unframeable)
{
    /* A packet announcing more than arrives stays pending, with its size
     * and first message. */
    static const uint8_t claim[] = {0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0, 1, 't'};
    mqtt_stream_t *s = mqtt_stream_new(unit_pool);
    mqtt_stream_msg_t m;
    mqtt_stream_feed(s, claim, sizeof claim, 7, &m);
    CHECK_EQ(m.tail_off, 0);
    CHECK_EQ(m.tail_size, 268435460u);
    uint32_t start;
    uint64_t announced;
    CHECK(mqtt_stream_pending(s, &start, &announced));
    CHECK_EQ(start, 7);
    CHECK_EQ(announced, 268435460u);
    mqtt_stream_feed(s, claim, sizeof claim, 8, &m);
    CHECK_EQ(m.cont_start, 7);

    /* A fifth Remaining Length byte, split between messages: the rest of
     * that message is unframed, the next message is framed again. */
    static const uint8_t bad1[] = {0x30, 0x80, 0x80};
    static const uint8_t bad2[] = {0x80, 0x80, 0x01, 0xC0, 0x00};
    static const uint8_t ping[] = {0xC0, 0x00};
    s = mqtt_stream_new(unit_pool);
    mqtt_stream_feed(s, bad1, sizeof bad1, 1, &m);
    CHECK_EQ(m.tail_off, 0);
    mqtt_stream_feed(s, bad2, sizeof bad2, 2, &m);
    CHECK_EQ(m.bad_off, 0);
    CHECK(!m.head);
    CHECK(!mqtt_stream_pending(s, &start, &announced));
    mqtt_stream_feed(s, ping, sizeof ping, 3, &m);
    CHECK_EQ(m.bad_off, MQTT_STREAM_NONE);
    CHECK_EQ(m.body_off, 0);
    CHECK_EQ(m.tail_off, 2);
}

TEST(connect_recognition)
{
    static const uint8_t v311[] = {0x10, 0x10, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 4, 'l', 'e', 'n', 's'};
    static const uint8_t v5[] = {0x10, 0x11, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60, 0, 0, 4, 'l', 'e', 'n', 's'};
    static const uint8_t v31[] = {0x10, 0x12, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 2, 0, 60, 0, 4, 'l', 'e', 'n', 's'};
    CHECK(mqtt_looks_like_connect(v311, sizeof v311));
    CHECK(mqtt_looks_like_connect(v5, sizeof v5));
    CHECK(mqtt_looks_like_connect(v31, sizeof v31));
    CHECK(mqtt_looks_like_connect(v311, 9));  /* cut after the level */
    CHECK(!mqtt_looks_like_connect(v311, 8)); /* not even the level */
    CHECK(mqtt_is_v31_connect(v31, sizeof v31));
    CHECK(!mqtt_is_v31_connect(v311, sizeof v311));
    uint8_t b[sizeof v311];
    memcpy(b, v311, sizeof b);
    b[9] = 0x03; /* reserved connect flag */
    CHECK(!mqtt_looks_like_connect(b, sizeof b));
    memcpy(b, v311, sizeof b);
    b[9] = 0x1E; /* Will QoS 3 */
    CHECK(!mqtt_looks_like_connect(b, sizeof b));
    memcpy(b, v311, sizeof b);
    b[8] = 6; /* level */
    CHECK(!mqtt_looks_like_connect(b, sizeof b));
    memcpy(b, v311, sizeof b);
    b[13] = 40; /* client id longer than the Remaining Length */
    CHECK(!mqtt_looks_like_connect(b, sizeof b));
    memcpy(b, v311, sizeof b);
    b[0] = 0x11; /* CONNECT flags must be 0 */
    CHECK(!mqtt_looks_like_connect(b, sizeof b));
    memcpy(b, v311, sizeof b);
    b[1] = 0x08; /* Remaining Length too short for the variable header */
    CHECK(!mqtt_looks_like_connect(b, sizeof b));
}

TEST(websocket_subprotocol)
{
    static const uint8_t v311[] = {0x10, 0x10, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 4, 'l', 'e', 'n', 's'};
    static const uint8_t v31[] = {0x10, 0x12, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 2, 0, 60, 0, 4, 'l', 'e', 'n', 's'};
    CHECK(mqtt_ws_subprotocol_allowed("mqtt", v311, sizeof v311));
    CHECK(mqtt_ws_subprotocol_allowed("mqtt", v31, sizeof v31));
    CHECK(mqtt_ws_subprotocol_allowed("mqttv3.1", v31, sizeof v31));
    CHECK(!mqtt_ws_subprotocol_allowed("mqttv3.1", v311, sizeof v311));
    CHECK(!mqtt_ws_subprotocol_allowed(NULL, v311, sizeof v311));
    CHECK(!mqtt_ws_subprotocol_allowed("chat", v311, sizeof v311));
    mqtt_finding_t f = mqtt_ws_subprotocol_finding("chat", unit_pool);
    CHECK_EQ(f.rule, MQTT_R_WS_SUBPROTOCOL);
    CHECK_STR(f.detail, "the server selected \"chat\"");
    f = mqtt_ws_subprotocol_finding(NULL, unit_pool);
    CHECK_STR(f.detail, "the server selected no subprotocol");
}

TEST(well_formed_runs)
{
    static const uint8_t acks[] = {0x40, 0x02, 0x00, 0x01, 0xC0, 0x00, 0xD0, 0x00};
    CHECK_EQ(mqtt_count_well_formed(unit_pool, acks, sizeof acks), 3);
    CHECK_EQ(mqtt_count_well_formed(unit_pool, acks, sizeof acks - 1), 0); /* a partial packet */
    static const uint8_t type0[] = {0x00, 0x00};
    CHECK_EQ(mqtt_count_well_formed(unit_pool, type0, sizeof type0), 0);
    static const uint8_t ping_bad_flags[] = {0xC1, 0x00};
    CHECK_EQ(mqtt_count_well_formed(unit_pool, ping_bad_flags, sizeof ping_bad_flags), 0);
}

TEST(websocket_offer_and_handshake)
{
    static const uint8_t v311[] = {0x10, 0x10, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 4, 'l', 'e', 'n', 's'};
    static const uint8_t v31[] = {0x10, 0x12, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 2, 0, 60, 0, 4, 'l', 'e', 'n', 's'};
    CHECK(mqtt_ws_list_has("mqtt", "mqtt"));
    CHECK(mqtt_ws_list_has("chat,  mqtt ,x", "mqtt"));
    CHECK(mqtt_ws_list_has("mqttv3.1, mqtt", "mqtt"));
    CHECK(!mqtt_ws_list_has("mqttv3.1", "mqtt"));
    CHECK(!mqtt_ws_list_has("MQTT", "mqtt")); /* subprotocol names are compared exactly */
    CHECK(!mqtt_ws_list_has("mqtts, xmqtt", "mqtt"));
    CHECK(!mqtt_ws_list_has(NULL, "mqtt"));
    CHECK(!mqtt_ws_list_has("", "mqtt"));
    CHECK(mqtt_ws_offer_allowed("mqtt", v311, sizeof v311));
    CHECK(mqtt_ws_offer_allowed("mqttv3.1", v31, sizeof v31));
    CHECK(!mqtt_ws_offer_allowed("mqttv3.1", v311, sizeof v311));
    CHECK(!mqtt_ws_offer_allowed(NULL, v311, sizeof v311));
    mqtt_finding_t f = mqtt_ws_offer_finding("chat", unit_pool);
    CHECK_EQ(f.rule, MQTT_R_WS_OFFER);
    CHECK_STR(f.detail, "the client offered \"chat\"");

    mqtt_finding_t out[2];
    mqtt_ws_handshake_t all_bad = {true, NULL, true, "chat"};
    CHECK_EQ(mqtt_ws_judge_handshake(&all_bad, v311, sizeof v311, unit_pool, out), 2);
    CHECK_EQ(out[0].rule, MQTT_R_WS_OFFER);
    CHECK_EQ(out[1].rule, MQTT_R_WS_SUBPROTOCOL);
    mqtt_ws_handshake_t unseen = {false, NULL, false, NULL}; /* capture starts after the upgrade */
    CHECK_EQ(mqtt_ws_judge_handshake(&unseen, v311, sizeof v311, unit_pool, out), 0);
    mqtt_ws_handshake_t good = {true, "mqtt", true, "mqtt"};
    CHECK_EQ(mqtt_ws_judge_handshake(&good, v311, sizeof v311, unit_pool, out), 0);
    mqtt_ws_handshake_t v31_names = {true, "mqttv3.1", true, "mqttv3.1"};
    CHECK_EQ(mqtt_ws_judge_handshake(&v31_names, v31, sizeof v31, unit_pool, out), 0);
    CHECK_EQ(mqtt_ws_judge_handshake(&v31_names, v311, sizeof v311, unit_pool, out), 2);

    CHECK(mqtt_ws_message_finding(MQTT_WS_OPCODE_TEXT, &f));
    CHECK_EQ(f.rule, MQTT_R_WS_TEXT_FRAME);
    CHECK(!mqtt_ws_message_finding(MQTT_WS_OPCODE_BINARY, &f));
    CHECK(!mqtt_ws_message_finding(0, &f)); /* not known */
}

TEST(run_senders)
{
    static const uint8_t pub_ack[] = {0x30, 0x03, 0x00, 0x01, 'a', 0x40, 0x02, 0x00, 0x01};
    CHECK_EQ(mqtt_run_senders(pub_ack, sizeof pub_ack), 0); /* both sides send these */
    static const uint8_t pub_ping[] = {0x30, 0x03, 0x00, 0x01, 'a', 0xC0, 0x00};
    CHECK_EQ(mqtt_run_senders(pub_ping, sizeof pub_ping), MQTT_FROM_CLIENT);
    static const uint8_t suback[] = {0x90, 0x03, 0x00, 0x01, 0x00, 0xD0, 0x00};
    CHECK_EQ(mqtt_run_senders(suback, sizeof suback), MQTT_FROM_SERVER);
    static const uint8_t both[] = {0xC0, 0x00, 0xD0, 0x00};
    CHECK_EQ(mqtt_run_senders(both, sizeof both), MQTT_FROM_BOTH);
    CHECK_EQ(mqtt_run_senders(pub_ping, 3), 0); /* a partial packet tells nothing */
}

UNIT_MAIN("stream", every_single_cut, byte_by_byte_header_and_two_cuts, pending_and_unframeable, connect_recognition,
          websocket_subprotocol, websocket_offer_and_handshake, well_formed_runs, run_senders)
