/* test_wire.c — unit tests of the decoding primitives and the packet
 * decoder (plugin/core/mqtt_wire.c). */
#include "build.h"
#include "unit.h"

#include "mqtt_wire.h"

static int count_rule(const mqtt_pkt_t *pkt, enum mqtt_rule rule)
{
    int n = 0;
    for (uint32_t i = 0; i < pkt->findings.count; i++)
        n += pkt->findings.items[i].rule == rule;
    return n;
}

/* ---- Variable Byte Integer ------------------------------------------------ */

static void vbi_roundtrip(uint32_t value, unsigned nbytes)
{
    buf_t b = {{0}, 0};
    putvbi(&b, value);
    CHECK_EQ(b.n, nbytes);
    mqtt_vbi_t v;
    CHECK_EQ(mqtt_vbi_decode(b.b, b.n, &v), MQTT_VBI_OK);
    CHECK_EQ(v.value, value);
    CHECK_EQ(v.nbytes, nbytes);
    CHECK(v.minimal);
    CHECK_EQ(mqtt_vbi_size(value), nbytes);
    /* One byte short is truncated, never a wrong value. */
    CHECK_EQ(mqtt_vbi_decode(b.b, b.n - 1, &v), MQTT_VBI_TRUNCATED);
}

TEST(vbi_boundaries)
{
    vbi_roundtrip(0, 1);
    vbi_roundtrip(127, 1);
    vbi_roundtrip(128, 2);
    vbi_roundtrip(16383, 2);
    vbi_roundtrip(16384, 3);
    vbi_roundtrip(2097151, 3);
    vbi_roundtrip(2097152, 4);
    vbi_roundtrip(268435455, 4);
    CHECK_EQ(mqtt_vbi_size(268435456), 0);
}

TEST(vbi_exact_encodings)
{
    static const struct { uint8_t b[4]; unsigned n; uint32_t v; } rows[] = {
        {{0x7F}, 1, 127},
        {{0x80, 0x01}, 2, 128},
        {{0xFF, 0x7F}, 2, 16383},
        {{0x80, 0x80, 0x01}, 3, 16384},
        {{0xFF, 0xFF, 0x7F}, 3, 2097151},
        {{0x80, 0x80, 0x80, 0x01}, 4, 2097152},
        {{0xFF, 0xFF, 0xFF, 0x7F}, 4, 268435455},
    };
    for (unsigned i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        mqtt_vbi_t v;
        CHECK_EQ(mqtt_vbi_decode(rows[i].b, rows[i].n, &v), MQTT_VBI_OK);
        CHECK_EQ(v.value, rows[i].v);
    }
}

TEST(vbi_five_bytes_and_truncation)
{
    const uint8_t five[] = {0xFF, 0xFF, 0xFF, 0xFF, 0x7F};
    const uint8_t cont4[] = {0x80, 0x80, 0x80, 0x80};
    mqtt_vbi_t v;
    CHECK_EQ(mqtt_vbi_decode(five, sizeof five, &v), MQTT_VBI_TOO_LONG);
    CHECK_EQ(mqtt_vbi_decode(cont4, sizeof cont4, &v), MQTT_VBI_TOO_LONG);
    CHECK_EQ(mqtt_vbi_decode(five, 0, &v), MQTT_VBI_TRUNCATED);
    CHECK_EQ(mqtt_vbi_decode(five, 3, &v), MQTT_VBI_TRUNCATED);
}

TEST(vbi_not_minimal)
{
    const uint8_t zero2[] = {0x80, 0x00};
    const uint8_t one3[] = {0x81, 0x80, 0x00};
    mqtt_vbi_t v;
    CHECK_EQ(mqtt_vbi_decode(zero2, 2, &v), MQTT_VBI_OK);
    CHECK_EQ(v.value, 0);
    CHECK(!v.minimal);
    CHECK_EQ(mqtt_vbi_decode(one3, 3, &v), MQTT_VBI_OK);
    CHECK_EQ(v.value, 1);
    CHECK(!v.minimal);
}

TEST(frame_header)
{
    mqtt_frame_t fr;
    const uint8_t ok[] = {0x30, 0x80, 0x01};
    const uint8_t split[] = {0x30, 0x80};
    const uint8_t bad[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    CHECK_EQ(mqtt_frame(ok, 3, &fr), MQTT_FRAME_OK);
    CHECK_EQ(fr.header_len, 3);
    CHECK_EQ(fr.total_len, 131);
    CHECK_EQ(mqtt_frame(split, 2, &fr), MQTT_FRAME_NEED_MORE);
    CHECK_EQ(mqtt_frame(ok, 1, &fr), MQTT_FRAME_NEED_MORE);
    CHECK_EQ(mqtt_frame(bad, sizeof bad, &fr), MQTT_FRAME_BAD);
    CHECK_EQ(fr.header_len, 5);
}

/* ---- UTF-8 ------------------------------------------------------------------- */

static unsigned utf8(const char *s, size_t n)
{
    return mqtt_utf8_check((const uint8_t *)s, (uint32_t)n);
}

TEST(utf8_validity)
{
    CHECK_EQ(utf8("sensor/1", 8), 0);
    CHECK_EQ(utf8("caf\xC3\xA9", 5), 0);                  /* U+00E9 */
    CHECK_EQ(utf8("\xE2\x82\xAC", 3), 0);                 /* U+20AC */
    CHECK_EQ(utf8("\xF0\x9D\x84\x9E", 4), 0);             /* U+1D11E */
    CHECK_EQ(utf8("\xEF\xBB\xBF" "a", 4), 0);             /* BOM is data [MQTT-1.5.4-3] */
    CHECK_EQ(utf8("\xC0\xAF", 2), MQTT_UTF8_BAD);         /* overlong '/' */
    CHECK_EQ(utf8("\xE0\x80\xAF", 3), MQTT_UTF8_BAD);     /* overlong */
    CHECK_EQ(utf8("\xED\xA0\x80", 3), MQTT_UTF8_BAD);     /* surrogate U+D800 */
    CHECK_EQ(utf8("\xF4\x90\x80\x80", 4), MQTT_UTF8_BAD); /* above U+10FFFF */
    CHECK_EQ(utf8("\xE2\x82", 2), MQTT_UTF8_BAD);         /* truncated sequence */
    CHECK_EQ(utf8("\xC3\x28", 2), MQTT_UTF8_BAD);         /* bad continuation */
    CHECK_EQ(utf8("\x80", 1), MQTT_UTF8_BAD);             /* lone continuation */
    CHECK_EQ(utf8("\xFF", 1), MQTT_UTF8_BAD);
}

TEST(utf8_nul_and_controls)
{
    CHECK_EQ(utf8("a\0b", 3), MQTT_UTF8_NUL);
    CHECK_EQ(utf8("a\x01", 2), MQTT_UTF8_CONTROL);
    CHECK_EQ(utf8("\x7F", 1), MQTT_UTF8_CONTROL);
    CHECK_EQ(utf8("\xC2\x85", 2), MQTT_UTF8_CONTROL);     /* U+0085 */
    CHECK_EQ(utf8("\xEF\xBF\xBF", 3), MQTT_UTF8_CONTROL); /* U+FFFF non-character */
    CHECK_EQ(utf8("\xEF\xB7\x90", 3), MQTT_UTF8_CONTROL); /* U+FDD0 non-character */
    CHECK_EQ(utf8("\xC2\xA0", 2), 0);                     /* U+00A0 is fine */
}

TEST(utf8_scan_stops_at_the_first_problem_asked_for)
{
    const uint8_t bad_then_nul[] = {0xFF, 0x00, 'a'};
    CHECK_EQ(mqtt_utf8_check(bad_then_nul, 3), MQTT_UTF8_BAD | MQTT_UTF8_NUL);
    CHECK_EQ(mqtt_utf8_scan(bad_then_nul, 3, MQTT_UTF8_BAD), MQTT_UTF8_BAD);
    CHECK_EQ(mqtt_utf8_scan(bad_then_nul, 3, MQTT_UTF8_BAD | MQTT_UTF8_NUL), MQTT_UTF8_BAD);
    /* a problem not asked for does not stop it */
    const uint8_t control_then_bad[] = {'a', 0x01, 0xC3, 0x28};
    CHECK_EQ(mqtt_utf8_scan(control_then_bad, 4, MQTT_UTF8_NUL), MQTT_UTF8_CONTROL | MQTT_UTF8_BAD);
    CHECK_EQ(mqtt_utf8_scan((const uint8_t *)"caf\xC3\xA9", 5, MQTT_UTF8_BAD | MQTT_UTF8_NUL), 0);
}

/* The topic of a QoS 0 PUBLISH (3.1.1) of `n` topic bytes, decoded. */
static const mqtt_str_t *publish_topic(const char *topic, uint8_t n)
{
    uint8_t *b = wmem_alloc(unit_pool, 4u + n);
    b[0] = 0x30;
    b[1] = (uint8_t)(2 + n);
    b[2] = 0;
    b[3] = n;
    memcpy(b + 4, topic, n);
    return &mqtt_decode(unit_pool, b, 4u + n, MQTT_V311)->topic;
}

TEST(str_text_copies_only_well_formed_checked_strings)
{
    CHECK_STR(mqtt_str_text(unit_pool, publish_topic("a/b", 3)), "a/b");
    CHECK_STR(mqtt_str_text(unit_pool, publish_topic("caf\xC3\xA9/\x01", 7)), "caf\xC3\xA9/\x01");
    CHECK(mqtt_str_text(unit_pool, publish_topic("a\0b", 3)) == NULL);     /* U+0000 */
    CHECK(mqtt_str_text(unit_pool, publish_topic("a\xC3\x28", 3)) == NULL); /* not UTF-8 */
    /* the length claims more than the packet holds */
    const uint8_t cut[] = {0x30, 0x04, 0x00, 0x09, 'a', 'b'};
    CHECK(mqtt_str_text(unit_pool, &mqtt_decode(unit_pool, cut, sizeof cut, MQTT_V311)->topic) == NULL);
    /* Binary Data is never checked as text */
    mqtt_str_t bin = {{0, 3}, {2, 1}, (const uint8_t *)"a", MQTT_STR_PRESENT, 0};
    CHECK(mqtt_str_text(unit_pool, &bin) == NULL);
}

/* ---- packets ------------------------------------------------------------------ */

static mqtt_pkt_t *decode(const buf_t *b, unsigned version)
{
    return mqtt_decode(unit_pool, b->b, b->n, version);
}

TEST(connect_v311_full)
{
    buf_t body = {{0}, 0};
    putstr(&body, "MQTT");
    put8(&body, 4);
    put8(&body, 0xEE); /* user, pass, will retain, will QoS 1, will, clean */
    put16(&body, 60);
    putstr(&body, "sensor-1");
    putstr(&body, "will/topic");
    putstr(&body, "gone");
    putstr(&body, "alice");
    putstr(&body, "secret");
    buf_t p = pkt_finish(0x10, &body);
    mqtt_pkt_t *pkt = decode(&p, MQTT_V5); /* the level byte overrides */
    CHECK_EQ(pkt->type, MQTT_CONNECT);
    CHECK_EQ(pkt->version, MQTT_V311);
    CHECK_EQ(pkt->keepalive, 60);
    CHECK_EQ(pkt->client_id.data.len, 8);
    CHECK(memcmp(pkt->client_id.bytes, "sensor-1", 8) == 0);
    CHECK_EQ(pkt->will_topic.data.len, 10);
    CHECK_EQ(pkt->will_payload.data.len, 4);
    CHECK_EQ(pkt->username.data.len, 5);
    CHECK_EQ(pkt->password.data.len, 6);
    CHECK_EQ(pkt->findings.count, 0);
    CHECK(!pkt->props.present);
}

TEST(connect_v5_with_will_properties)
{
    buf_t body = {{0}, 0}, props = {{0}, 0}, will = {{0}, 0};
    put8(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL);
    put32(&props, 3600);
    put8(&props, MQTT_PROP_USER_PROPERTY);
    putstr(&props, "k");
    putstr(&props, "v");
    put8(&will, MQTT_PROP_WILL_DELAY_INTERVAL);
    put32(&will, 5);
    putstr(&body, "MQTT");
    put8(&body, 5);
    put8(&body, 0x04 | 0x02);
    put16(&body, 30);
    putvbi(&body, props.n);
    putn(&body, props.b, props.n);
    putstr(&body, "c5");
    putvbi(&body, will.n);
    putn(&body, will.b, will.n);
    putstr(&body, "w");
    putstr(&body, "bye");
    buf_t p = pkt_finish(0x10, &body);
    mqtt_pkt_t *pkt = decode(&p, MQTT_V311);
    CHECK_EQ(pkt->version, MQTT_V5);
    CHECK_EQ(pkt->props.count, 2);
    CHECK_EQ(pkt->props.items[0].num, 3600);
    CHECK_EQ(pkt->props.items[1].str.data.len, 1);
    CHECK_EQ(pkt->props.items[1].str2.data.len, 1);
    CHECK_EQ(pkt->will_props.count, 1);
    CHECK_EQ(pkt->will_props.items[0].id, MQTT_PROP_WILL_DELAY_INTERVAL);
    CHECK_EQ(pkt->will_payload.data.len, 3);
    CHECK_EQ(pkt->findings.count, 0);
}

TEST(connect_missing_and_surplus_fields)
{
    buf_t body = {{0}, 0};
    putstr(&body, "MQTT");
    put8(&body, 4);
    put8(&body, 0x80 | 0x02); /* user name flag, but no user name follows */
    put16(&body, 10);
    putstr(&body, "id");
    buf_t p = pkt_finish(0x10, &body);
    mqtt_pkt_t *pkt = decode(&p, MQTT_V311);
    CHECK_EQ(count_rule(pkt, MQTT_R_CONNECT_USERNAME_MISSING), 1);
    CHECK(!(pkt->username.flags & MQTT_STR_PRESENT));

    body.n = 0;
    putstr(&body, "MQTT");
    put8(&body, 4);
    put8(&body, 0x02); /* no user name flag, yet one follows */
    put16(&body, 10);
    putstr(&body, "id");
    putstr(&body, "bob");
    p = pkt_finish(0x10, &body);
    pkt = decode(&p, MQTT_V311);
    CHECK_EQ(count_rule(pkt, MQTT_R_CONNECT_USERNAME_UNFLAGGED), 1);

    /* Will Flag set, payload ends after the Client Identifier. */
    body.n = 0;
    putstr(&body, "MQTT");
    put8(&body, 5);
    put8(&body, 0x04);
    put16(&body, 10);
    put8(&body, 0);
    putstr(&body, "id");
    p = pkt_finish(0x10, &body);
    pkt = decode(&p, MQTT_V5);
    CHECK_EQ(count_rule(pkt, MQTT_R_CONNECT_WILL_MISSING), 1);
    CHECK_EQ(pkt->findings.count, 1);
}

TEST(string_longer_than_packet)
{
    buf_t body = {{0}, 0};
    put16(&body, 50); /* topic claims 50 bytes */
    putn(&body, "abc", 3);
    buf_t p = pkt_finish(0x30, &body);
    mqtt_pkt_t *pkt = decode(&p, MQTT_V311);
    CHECK_EQ(count_rule(pkt, MQTT_R_TRUNCATED), 1);
    CHECK(pkt->topic.flags & MQTT_STR_TRUNCATED);
    CHECK_EQ(pkt->topic.data.len, 3);
}

TEST(connack_versions)
{
    buf_t body = {{0}, 0};
    put8(&body, 0);
    put8(&body, 5);
    buf_t p = pkt_finish(0x20, &body);
    mqtt_pkt_t *pkt = decode(&p, MQTT_V311);
    CHECK(pkt->has_reason);
    CHECK_EQ(pkt->reason, 5);
    CHECK_EQ(pkt->findings.count, 0);
    /* The same bytes lack the Property Length of 5.0. */
    pkt = decode(&p, MQTT_V5);
    CHECK_EQ(count_rule(pkt, MQTT_R_PROPS_MISSING), 1);
    CHECK_EQ(mqtt_guess_version(unit_pool, p.b, p.n), MQTT_V311);

    put8(&body, 3);
    put8(&body, MQTT_PROP_TOPIC_ALIAS_MAXIMUM);
    put16(&body, 10);
    p = pkt_finish(0x20, &body);
    pkt = decode(&p, MQTT_V5);
    CHECK_EQ(pkt->props.count, 1);
    CHECK_EQ(pkt->props.items[0].num, 10);
    CHECK_EQ(pkt->findings.count, 0);
    CHECK_EQ(count_rule(decode(&p, MQTT_V311), MQTT_R_FIXED_LENGTH), 1);
    CHECK_EQ(mqtt_guess_version(unit_pool, p.b, p.n), MQTT_V5);
}

TEST(publish_v5_properties_and_payload)
{
    buf_t body = {{0}, 0}, props = {{0}, 0};
    put8(&props, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR);
    put8(&props, 1);
    put8(&props, MQTT_PROP_CONTENT_TYPE);
    putstr(&props, "application/json");
    put8(&props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER);
    putvbi(&props, 200);
    put8(&props, MQTT_PROP_CORRELATION_DATA);
    put16(&props, 2);
    put8(&props, 0xCA);
    put8(&props, 0xFE);
    putstr(&body, "a/b");
    put16(&body, 7);
    putvbi(&body, props.n);
    putn(&body, props.b, props.n);
    putn(&body, "{}", 2);
    buf_t p = pkt_finish(0x32, &body);
    mqtt_pkt_t *pkt = decode(&p, MQTT_V5);
    CHECK(pkt->has_packet_id);
    CHECK_EQ(pkt->packet_id, 7);
    CHECK_EQ(pkt->props.count, 4);
    CHECK_EQ(pkt->props.items[2].num, 200);
    CHECK_EQ(pkt->props.items[3].str.data.len, 2);
    CHECK_EQ(pkt->payload.len, 2);
    CHECK(memcmp(p.b + pkt->payload.off, "{}", 2) == 0);
    CHECK_EQ(pkt->findings.count, 0);
}

TEST(unknown_property_stops_block_only)
{
    buf_t body = {{0}, 0}, props = {{0}, 0};
    put8(&props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL);
    put32(&props, 10);
    put8(&props, 0x05); /* not defined */
    put8(&props, 0xAA);
    put8(&props, MQTT_PROP_CONTENT_TYPE);
    putstr(&props, "x");
    putstr(&body, "t");
    putvbi(&body, props.n);
    putn(&body, props.b, props.n);
    putn(&body, "hello", 5);
    buf_t p = pkt_finish(0x30, &body);
    mqtt_pkt_t *pkt = decode(&p, MQTT_V5);
    CHECK_EQ(count_rule(pkt, MQTT_R_PROP_UNKNOWN), 1);
    CHECK(pkt->props.stopped);
    CHECK_EQ(pkt->props.count, 1);
    CHECK_EQ(pkt->props.undecoded.len, 6); /* 05 AA 03 00 01 'x' */
    CHECK_EQ(pkt->payload.len, 5);         /* decoding went on after the block */
}

TEST(property_block_errors)
{
    buf_t body = {{0}, 0};
    putstr(&body, "t");
    putvbi(&body, 100); /* more than remains */
    put8(&body, MQTT_PROP_TOPIC_ALIAS);
    put16(&body, 1);
    buf_t p = pkt_finish(0x30, &body);
    mqtt_pkt_t *pkt = decode(&p, MQTT_V5);
    CHECK_EQ(count_rule(pkt, MQTT_R_PROPS_OVERRUN), 1);
    CHECK_EQ(pkt->props.count, 1);

    body.n = 0;
    putstr(&body, "t");
    putvbi(&body, 2); /* the alias needs 3 bytes */
    put8(&body, MQTT_PROP_TOPIC_ALIAS);
    put16(&body, 1);
    p = pkt_finish(0x30, &body);
    pkt = decode(&p, MQTT_V5);
    CHECK_EQ(count_rule(pkt, MQTT_R_PROP_TRUNCATED), 1);
    CHECK_EQ(pkt->props.count, 0);
    CHECK_EQ(pkt->payload.len, 1); /* the byte after the block */

    body.n = 0;
    putstr(&body, "t");
    put8(&body, 0x80); /* Property Length 0 in two bytes */
    put8(&body, 0x00);
    p = pkt_finish(0x30, &body);
    pkt = decode(&p, MQTT_V5);
    CHECK_EQ(count_rule(pkt, MQTT_R_VBI_NOT_MINIMAL), 1);
}

TEST(acks_v3_and_v5_forms)
{
    const uint8_t v3[] = {0x40, 0x02, 0x00, 0x09};
    const uint8_t v5_reason[] = {0x50, 0x03, 0x00, 0x09, 0x10};
    const uint8_t v5_props[] = {0x62, 0x04, 0x00, 0x09, 0x92, 0x00};
    const uint8_t v3_long[] = {0x70, 0x03, 0x00, 0x09, 0x00};
    mqtt_pkt_t *pkt = mqtt_decode(unit_pool, v3, sizeof v3, MQTT_V311);
    CHECK_EQ(pkt->packet_id, 9);
    CHECK(!pkt->has_reason);
    CHECK_EQ(pkt->findings.count, 0);
    CHECK_EQ(mqtt_guess_version(unit_pool, v3, sizeof v3), 0);
    pkt = mqtt_decode(unit_pool, v5_reason, sizeof v5_reason, MQTT_V5);
    CHECK(pkt->has_reason);
    CHECK_EQ(pkt->reason, 0x10);
    CHECK(!pkt->props.present);
    pkt = mqtt_decode(unit_pool, v5_props, sizeof v5_props, MQTT_V5);
    CHECK_EQ(pkt->reason, 0x92);
    CHECK(pkt->props.present);
    CHECK_EQ(pkt->findings.count, 0);
    CHECK_EQ(mqtt_guess_version(unit_pool, v5_props, sizeof v5_props), MQTT_V5);
    pkt = mqtt_decode(unit_pool, v3_long, sizeof v3_long, MQTT_V311);
    CHECK_EQ(count_rule(pkt, MQTT_R_FIXED_LENGTH), 1);
}

TEST(subscribe_and_suback)
{
    buf_t body = {{0}, 0};
    put16(&body, 3);
    put8(&body, 0); /* no properties */
    putstr(&body, "a/+");
    put8(&body, 0x2D); /* RH 2, RAP, NL, QoS 1 */
    putstr(&body, "#");
    put8(&body, 0x02);
    buf_t p = pkt_finish(0x82, &body);
    mqtt_pkt_t *pkt = decode(&p, MQTT_V5);
    CHECK_EQ(pkt->filter_count, 2);
    CHECK_EQ(pkt->filters[0].options, 0x2D);
    CHECK_EQ(pkt->filters[1].filter.data.len, 1);
    CHECK_EQ(pkt->findings.count, 0);

    const uint8_t suback[] = {0x90, 0x04, 0x00, 0x03, 0x01, 0x80};
    pkt = mqtt_decode(unit_pool, suback, sizeof suback, MQTT_V311);
    CHECK_EQ(pkt->code_count, 2);
    CHECK_EQ(pkt->codes[1].code, 0x80);
    CHECK_EQ(pkt->codes[1].off, 5);
}

TEST(subscribe_filter_without_options)
{
    buf_t body = {{0}, 0};
    put16(&body, 1);
    putstr(&body, "x");
    buf_t p = pkt_finish(0x82, &body);
    mqtt_pkt_t *pkt = decode(&p, MQTT_V311);
    CHECK_EQ(pkt->filter_count, 1);
    CHECK(!pkt->filters[0].has_options);
    CHECK_EQ(count_rule(pkt, MQTT_R_TRUNCATED), 1);
}

TEST(unsuback_versions)
{
    const uint8_t v3[] = {0xB0, 0x02, 0x00, 0x04};
    const uint8_t v5[] = {0xB0, 0x05, 0x00, 0x04, 0x00, 0x00, 0x11};
    CHECK_EQ(mqtt_guess_version(unit_pool, v3, sizeof v3), MQTT_V311);
    CHECK_EQ(mqtt_guess_version(unit_pool, v5, sizeof v5), MQTT_V5);
    mqtt_pkt_t *pkt = mqtt_decode(unit_pool, v5, sizeof v5, MQTT_V5);
    CHECK_EQ(pkt->code_count, 2);
}

TEST(disconnect_and_auth)
{
    const uint8_t disc[] = {0xE0, 0x02, 0x04, 0x00};
    const uint8_t disc0[] = {0xE0, 0x00};
    const uint8_t auth[] = {0xF0, 0x08, 0x18, 0x06, 0x15, 0x00, 0x03, 'S', 'C', 'R'};
    mqtt_pkt_t *pkt = mqtt_decode(unit_pool, disc, sizeof disc, MQTT_V5);
    CHECK_EQ(pkt->reason, 0x04);
    CHECK(pkt->props.present);
    pkt = mqtt_decode(unit_pool, disc0, sizeof disc0, MQTT_V5);
    CHECK(!pkt->has_reason);
    CHECK_EQ(pkt->findings.count, 0);
    CHECK_EQ(count_rule(mqtt_decode(unit_pool, disc, sizeof disc, MQTT_V311), MQTT_R_FIXED_LENGTH), 1);
    pkt = mqtt_decode(unit_pool, auth, sizeof auth, MQTT_V5);
    CHECK_EQ(pkt->reason, 0x18);
    CHECK_EQ(pkt->props.count, 1);
    CHECK_EQ(pkt->props.items[0].str.data.len, 3);
    CHECK_EQ(mqtt_guess_version(unit_pool, auth, sizeof auth), MQTT_V5);
}

TEST(reason_implied_only_where_5_0_lets_it_be_left_out)
{
    const uint8_t puback[] = {0x40, 0x02, 0x00, 0x07};
    const uint8_t puback_rc[] = {0x40, 0x03, 0x00, 0x07, 0x10};
    const uint8_t disc0[] = {0xE0, 0x00};
    const uint8_t auth0[] = {0xF0, 0x00};
    const uint8_t connack_short[] = {0x20, 0x01, 0x00};
    CHECK(mqtt_pkt_reason_implied(mqtt_decode(unit_pool, puback, sizeof puback, MQTT_V5)));
    CHECK(mqtt_pkt_reason_implied(mqtt_decode(unit_pool, disc0, sizeof disc0, MQTT_V5)));
    CHECK(mqtt_pkt_reason_implied(mqtt_decode(unit_pool, auth0, sizeof auth0, MQTT_V5)));
    /* on the wire, or no reason code in this version, or malformed, or cut short */
    CHECK(!mqtt_pkt_reason_implied(mqtt_decode(unit_pool, puback_rc, sizeof puback_rc, MQTT_V5)));
    CHECK(!mqtt_pkt_reason_implied(mqtt_decode(unit_pool, puback, sizeof puback, MQTT_V311)));
    CHECK(!mqtt_pkt_reason_implied(mqtt_decode(unit_pool, disc0, sizeof disc0, MQTT_V311)));
    CHECK(!mqtt_pkt_reason_implied(mqtt_decode(unit_pool, connack_short, sizeof connack_short, MQTT_V5)));
    CHECK(!mqtt_pkt_reason_implied(mqtt_decode(unit_pool, puback, 3, MQTT_V5)));
}

TEST(ping_with_payload)
{
    const uint8_t ping[] = {0xC0, 0x01, 0x00};
    mqtt_pkt_t *pkt = mqtt_decode(unit_pool, ping, sizeof ping, MQTT_V311);
    CHECK_EQ(count_rule(pkt, MQTT_R_FIXED_LENGTH), 1);
}

TEST(remaining_length_problems)
{
    const uint8_t five[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00};
    const uint8_t nonmin[] = {0xC0, 0x80, 0x00};
    mqtt_pkt_t *pkt = mqtt_decode(unit_pool, five, sizeof five, MQTT_V5);
    CHECK_EQ(count_rule(pkt, MQTT_R_RL_TOO_LONG), 1);
    pkt = mqtt_decode(unit_pool, nonmin, sizeof nonmin, MQTT_V5);
    CHECK_EQ(count_rule(pkt, MQTT_R_VBI_NOT_MINIMAL), 1);
    pkt = mqtt_decode(unit_pool, nonmin, sizeof nonmin, MQTT_V311);
    CHECK_EQ(count_rule(pkt, MQTT_R_RL_NOT_MINIMAL), 1);
}

TEST(capture_cut_short)
{
    buf_t body = {{0}, 0};
    putstr(&body, "topic");
    for (int i = 0; i < 100; i++)
        put8(&body, 'x');
    buf_t p = pkt_finish(0x30, &body);
    mqtt_pkt_t *pkt = mqtt_decode(unit_pool, p.b, 4, MQTT_V311);
    CHECK(pkt->capture_short);
    CHECK_EQ(count_rule(pkt, MQTT_R_CAPTURE_TRUNCATED), 1);
    CHECK_EQ(count_rule(pkt, MQTT_R_TRUNCATED), 0);
}

TEST(reserved_types_decode_nothing)
{
    const uint8_t t0[] = {0x00, 0x02, 0xAB, 0xCD};
    const uint8_t t15[] = {0xF0, 0x01, 0x00};
    mqtt_pkt_t *pkt = mqtt_decode(unit_pool, t0, sizeof t0, MQTT_V311);
    CHECK_EQ(pkt->type, 0);
    CHECK_EQ(pkt->remaining_length, 2);
    pkt = mqtt_decode(unit_pool, t15, sizeof t15, MQTT_V311);
    CHECK_EQ(pkt->type, MQTT_AUTH);
    CHECK(!pkt->has_reason);
}

/* mqtt_hash64: the same bytes hash the same wherever they lie in memory;
 * a change of one bit anywhere, or of the length (even by a zero byte),
 * changes the hash. */
TEST(hash_of_bytes)
{
    uint8_t a[80], b[88];
    for (unsigned i = 0; i < sizeof a; i++)
        a[i] = (uint8_t)(i * 37 + 11);
    unsigned same = 0, flips = 0, flipped = 0, lengths = 0;
    for (uint32_t len = 0; len <= 64; len++) {
        for (unsigned shift = 1; shift < 8; shift++) {
            memcpy(b + shift, a, len);
            same += mqtt_hash64(b + shift, len) == mqtt_hash64(a, len);
        }
        for (uint32_t at = 0; at < len; at++)
            for (unsigned bit = 0; bit < 8; bit++) {
                memcpy(b, a, len);
                b[at] ^= (uint8_t)(1u << bit);
                flips++;
                flipped += mqtt_hash64(b, len) != mqtt_hash64(a, len);
            }
        memcpy(b, a, len);
        b[len] = 0;
        lengths += mqtt_hash64(b, len + 1) != mqtt_hash64(a, len);
    }
    CHECK_EQ(same, 65 * 7);
    CHECK_EQ(flipped, flips);
    CHECK_EQ(lengths, 65);
    CHECK(mqtt_hash64(NULL, 0) == mqtt_hash64(a, 0));
}

UNIT_MAIN("wire", hash_of_bytes, vbi_boundaries, vbi_exact_encodings, vbi_five_bytes_and_truncation, vbi_not_minimal,
          frame_header, utf8_validity, utf8_nul_and_controls, utf8_scan_stops_at_the_first_problem_asked_for,
          str_text_copies_only_well_formed_checked_strings, connect_v311_full,
          connect_v5_with_will_properties, connect_missing_and_surplus_fields, string_longer_than_packet,
          connack_versions, publish_v5_properties_and_payload, unknown_property_stops_block_only,
          property_block_errors, acks_v3_and_v5_forms, subscribe_and_suback,
          subscribe_filter_without_options, unsuback_versions, disconnect_and_auth,
          reason_implied_only_where_5_0_lets_it_be_left_out, ping_with_payload,
          remaining_length_problems, capture_cut_short, reserved_types_decode_nothing)
