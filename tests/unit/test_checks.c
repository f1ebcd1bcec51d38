/* test_checks.c — unit tests of the stateless rule checks
 * (plugin/core/mqtt_checks.c) and of the specification tables they read. */
#include "build.h"
#include "unit.h"

#include "mqtt_checks.h"

static enum mqtt_rule filter(const char *f, bool v5)
{
    uint32_t off;
    return mqtt_filter_syntax((const uint8_t *)f, (uint32_t)strlen(f), v5, &off);
}

#define OK MQTT_RULE_COUNT

TEST(topic_filter_syntax)
{
    CHECK_EQ(filter("sport/tennis/player1", false), OK);
    CHECK_EQ(filter("#", false), OK);
    CHECK_EQ(filter("sport/#", false), OK);
    CHECK_EQ(filter("+", false), OK);
    CHECK_EQ(filter("+/tennis/#", false), OK);
    CHECK_EQ(filter("sport/+/player1", false), OK);
    CHECK_EQ(filter("/+", false), OK);
    CHECK_EQ(filter("+/+", false), OK);
    CHECK_EQ(filter("sport//x", false), OK); /* empty levels are allowed */
    CHECK_EQ(filter("sport/tennis#", false), MQTT_R_FILTER_HASH);
    CHECK_EQ(filter("sport/#/ranking", false), MQTT_R_FILTER_HASH);
    CHECK_EQ(filter("#/a", false), MQTT_R_FILTER_HASH);
    CHECK_EQ(filter("##", false), MQTT_R_FILTER_HASH);
    CHECK_EQ(filter("sport+", false), MQTT_R_FILTER_PLUS);
    CHECK_EQ(filter("+x/y", false), MQTT_R_FILTER_PLUS);
    CHECK_EQ(filter("a/b+", false), MQTT_R_FILTER_PLUS);
    CHECK_EQ(filter("", false), MQTT_R_FILTER_EMPTY);
}

TEST(shared_subscriptions)
{
    CHECK_EQ(filter("$share/grp/a/#", true), OK);
    CHECK_EQ(filter("$share/grp/+", true), OK);
    CHECK_EQ(filter("$share//x", true), MQTT_R_SHARE_NAME_EMPTY);
    CHECK_EQ(filter("$share/", true), MQTT_R_SHARE_NAME_EMPTY);
    CHECK_EQ(filter("$share/grp", true), MQTT_R_SHARE_NAME_INVALID);
    CHECK_EQ(filter("$share/grp/", true), MQTT_R_SHARE_NAME_INVALID);
    CHECK_EQ(filter("$share/a+b/x", true), MQTT_R_SHARE_NAME_INVALID);
    CHECK_EQ(filter("$share/grp/a#", true), MQTT_R_FILTER_HASH);
    /* In 3.1.1 "$share" is an ordinary first level. */
    CHECK_EQ(filter("$share/grp", false), OK);
}

TEST(topic_names)
{
    uint32_t off = 0;
    CHECK(!mqtt_topic_has_wildcard((const uint8_t *)"a/b", 3, &off));
    CHECK(mqtt_topic_has_wildcard((const uint8_t *)"a/+/c", 5, &off));
    CHECK_EQ(off, 2);
    CHECK(mqtt_topic_has_wildcard((const uint8_t *)"a/#", 3, &off));
    CHECK_EQ(off, 2);
}

/* ---- whole packets ------------------------------------------------------------- */

static int count_rule(const mqtt_pkt_t *pkt, enum mqtt_rule rule)
{
    int n = 0;
    for (uint32_t i = 0; i < pkt->findings.count; i++)
        n += pkt->findings.items[i].rule == rule;
    return n;
}

static mqtt_pkt_t *checked(const buf_t *p, unsigned version, enum mqtt_dir dir)
{
    mqtt_pkt_t *pkt = mqtt_decode(unit_pool, p->b, p->n, version);
    mqtt_check_packet(unit_pool, pkt, dir, true);
    return pkt;
}

TEST(fixed_header_flags)
{
    const uint8_t pubrel_bad[] = {0x60, 0x02, 0x00, 0x01};
    const uint8_t sub_ok[] = {0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00};
    const uint8_t qos3[] = {0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01};
    const uint8_t dup0[] = {0x38, 0x03, 0x00, 0x01, 'a'};
    buf_t p = {{0}, 0};
    putn(&p, pubrel_bad, sizeof pubrel_bad);
    CHECK_EQ(count_rule(checked(&p, MQTT_V311, MQTT_C2S), MQTT_R_FLAGS_PUBREL), 1);
    /* MQTT 3.1 gave the nibble other meanings: only remarkable there. */
    CHECK_EQ(count_rule(checked(&p, MQTT_V31, MQTT_C2S), MQTT_R_FLAGS_PUBREL), 0);
    CHECK_EQ(count_rule(checked(&p, MQTT_V31, MQTT_C2S), MQTT_R_FLAGS_V31), 1);
    p.n = 0;
    putn(&p, sub_ok, sizeof sub_ok);
    CHECK_EQ(checked(&p, MQTT_V311, MQTT_C2S)->findings.count, 0);
    CHECK_EQ(count_rule(checked(&p, MQTT_V311, MQTT_S2C), MQTT_R_WRONG_DIRECTION), 1);
    p.n = 0;
    putn(&p, qos3, sizeof qos3);
    CHECK_EQ(count_rule(checked(&p, MQTT_V311, MQTT_C2S), MQTT_R_QOS_3), 1);
    p.n = 0;
    putn(&p, dup0, sizeof dup0);
    CHECK_EQ(count_rule(checked(&p, MQTT_V311, MQTT_C2S), MQTT_R_DUP_QOS0), 1);
}

/* A mosquitto bridge's CONNECT (try_private): level 0x84 is 3.1.1 with the
 * bridge flag, decoded as 3.1.1 and remarked with what it is, not as an
 * unknown level (lab/bridge-v311 frame 4). */
TEST(bridge_protocol_level)
{
    buf_t body = {{0}, 0};
    putstr(&body, "MQTT");
    put8(&body, 0x84);
    put8(&body, 0x00);
    put16(&body, 60);
    putstr(&body, "bridge");
    buf_t p = pkt_finish(0x10, &body);
    mqtt_pkt_t *pkt = checked(&p, 0, MQTT_C2S);
    CHECK_EQ(pkt->version, MQTT_V311);
    CHECK_EQ(pkt->findings.count, 1);
    CHECK_EQ(count_rule(pkt, MQTT_R_PROTOCOL_LEVEL), 1);
    CHECK(strstr(pkt->findings.items[0].detail, "level 4 (3.1.1) with bit 7 set: the bridge flag") != NULL);
    CHECK_STR(mqtt_level_name(0x84), "3.1.1, bridge flag (bit 7) set");
    CHECK_STR(mqtt_level_name(MQTT_V5), "5.0");
}

TEST(publish_rules)
{
    buf_t body = {{0}, 0};
    putstr(&body, "a/+/c");
    put16(&body, 0);
    buf_t p = pkt_finish(0x32, &body);
    mqtt_pkt_t *pkt = checked(&p, MQTT_V311, MQTT_C2S);
    CHECK_EQ(count_rule(pkt, MQTT_R_TOPIC_WILDCARD), 1);
    CHECK_EQ(count_rule(pkt, MQTT_R_PACKET_ID_ZERO), 1);

    /* 5.0: an empty topic is fine with a Topic Alias, not without. */
    body.n = 0;
    putstr(&body, "");
    put8(&body, 3);
    put8(&body, MQTT_PROP_TOPIC_ALIAS);
    put16(&body, 4);
    p = pkt_finish(0x30, &body);
    CHECK_EQ(checked(&p, MQTT_V5, MQTT_C2S)->findings.count, 0);
    body.n = 0;
    putstr(&body, "");
    put8(&body, 0);
    p = pkt_finish(0x30, &body);
    CHECK_EQ(count_rule(checked(&p, MQTT_V5, MQTT_C2S), MQTT_R_TOPIC_EMPTY), 1);
}

TEST(publish_property_rules)
{
    buf_t body = {{0}, 0}, props = {{0}, 0};
    put8(&props, MQTT_PROP_TOPIC_ALIAS);
    put16(&props, 0);
    put8(&props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER);
    putvbi(&props, 3);
    put8(&props, MQTT_PROP_RESPONSE_TOPIC);
    putstr(&props, "reply/#");
    put8(&props, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR);
    put8(&props, 1);
    put8(&props, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR);
    put8(&props, 1);
    put8(&props, MQTT_PROP_SERVER_KEEP_ALIVE); /* CONNACK only */
    put16(&props, 5);
    putstr(&body, "t");
    putvbi(&body, props.n);
    putn(&body, props.b, props.n);
    put8(&body, 0xFF); /* not UTF-8 despite the indicator */
    buf_t p = pkt_finish(0x30, &body);
    mqtt_pkt_t *pkt = checked(&p, MQTT_V5, MQTT_C2S);
    CHECK_EQ(count_rule(pkt, MQTT_R_TOPIC_ALIAS_ZERO), 1);
    CHECK_EQ(count_rule(pkt, MQTT_R_SUB_ID_FROM_CLIENT), 1);
    CHECK_EQ(count_rule(pkt, MQTT_R_RESPONSE_TOPIC_WILDCARD), 1);
    CHECK_EQ(count_rule(pkt, MQTT_R_PROP_DUPLICATE), 1);
    CHECK_EQ(count_rule(pkt, MQTT_R_PROP_NOT_ALLOWED), 1);
    CHECK_EQ(count_rule(pkt, MQTT_R_PAYLOAD_NOT_UTF8), 1);
    /* From the server the Subscription Identifier is legitimate, and may
     * repeat. */
    pkt = checked(&p, MQTT_V5, MQTT_S2C);
    CHECK_EQ(count_rule(pkt, MQTT_R_SUB_ID_FROM_CLIENT), 0);
}

TEST(property_placement_table)
{
    /* Spot checks of 5.0 §4.2 of the rules sheet. */
    CHECK(mqtt_prop_spec(MQTT_PROP_WILL_DELAY_INTERVAL)->allowed == MQTT_BIT(MQTT_WILL_CONTEXT));
    CHECK(mqtt_prop_spec(MQTT_PROP_TOPIC_ALIAS)->allowed == MQTT_BIT(MQTT_PUBLISH));
    CHECK(mqtt_prop_spec(MQTT_PROP_REASON_STRING)->allowed & MQTT_BIT(MQTT_AUTH));
    CHECK(!(mqtt_prop_spec(MQTT_PROP_REASON_STRING)->allowed & MQTT_BIT(MQTT_PUBLISH)));
    CHECK(mqtt_prop_spec(MQTT_PROP_USER_PROPERTY)->repeatable & MQTT_BIT(MQTT_CONNECT));
    CHECK(mqtt_prop_spec(MQTT_PROP_SUBSCRIPTION_IDENTIFIER)->repeatable == MQTT_BIT(MQTT_PUBLISH));
    CHECK(mqtt_prop_spec(0x00) == NULL);
    CHECK(mqtt_prop_spec(0x2B) == NULL);
    CHECK_EQ(mqtt_props_count, 27);
    for (unsigned i = 0; i < mqtt_props_count; i++)
        CHECK(mqtt_props[i].allowed != 0);
}

TEST(reason_code_tables)
{
    CHECK_STR(mqtt_reason_name(0x00, MQTT_SUBACK), "Granted QoS 0");
    CHECK_STR(mqtt_reason_name(0x00, MQTT_DISCONNECT), "Normal disconnection");
    CHECK_STR(mqtt_reason_name(0x86, MQTT_CONNACK), "Bad User Name or Password");
    CHECK(mqtt_reason_allowed(0x10, MQTT_PUBACK, MQTT_S2C));
    CHECK(!mqtt_reason_allowed(0x10, MQTT_PUBACK, MQTT_C2S));
    CHECK(mqtt_reason_allowed(0x04, MQTT_DISCONNECT, MQTT_C2S));
    CHECK(!mqtt_reason_allowed(0x04, MQTT_DISCONNECT, MQTT_S2C));
    CHECK(!mqtt_reason_allowed(0x8B, MQTT_DISCONNECT, MQTT_C2S));
    CHECK(mqtt_reason_allowed(0x19, MQTT_AUTH, MQTT_C2S));
    CHECK(!mqtt_reason_allowed(0x00, MQTT_AUTH, MQTT_C2S));
    CHECK(!mqtt_reason_allowed_any(0x8B, MQTT_CONNACK));
    CHECK(mqtt_reason_name(0x03, MQTT_CONNACK) == NULL);
    CHECK_STR(mqtt_v3_connack_name(5), "Connection Refused: not authorized");
    CHECK(mqtt_v3_connack_name(6) == NULL);
}

TEST(connect_rules)
{
    buf_t body = {{0}, 0};
    putstr(&body, "MQTT");
    put8(&body, 4);
    put8(&body, 0x40 | 0x08 | 0x01); /* password w/o user, will QoS w/o will, reserved */
    put16(&body, 10);
    putstr(&body, "");
    putstr(&body, "pw");
    buf_t p = pkt_finish(0x10, &body);
    mqtt_pkt_t *pkt = checked(&p, MQTT_V311, MQTT_C2S);
    CHECK_EQ(count_rule(pkt, MQTT_R_PASSWORD_NO_USERNAME), 1);
    CHECK_EQ(count_rule(pkt, MQTT_R_WILL_QOS_NO_WILL), 1);
    CHECK_EQ(count_rule(pkt, MQTT_R_CONNECT_RESERVED), 1);
    CHECK_EQ(count_rule(pkt, MQTT_R_EMPTY_CLIENTID_PERSISTENT), 1);

    body.n = 0;
    putstr(&body, "MQTT");
    put8(&body, 3); /* 3.1 wants MQIsdp */
    put8(&body, 0x02);
    put16(&body, 10);
    putstr(&body, "c");
    p = pkt_finish(0x10, &body);
    CHECK_EQ(count_rule(checked(&p, MQTT_V311, MQTT_C2S), MQTT_R_PROTOCOL_NAME), 1);
}

TEST(string_rules)
{
    buf_t body = {{0}, 0};
    put16(&body, 3);
    putn(&body, "a\0b", 3);
    put16(&body, 1);
    buf_t p = pkt_finish(0x32, &body);
    CHECK_EQ(count_rule(checked(&p, MQTT_V311, MQTT_C2S), MQTT_R_UTF8_NUL), 1);
    body.n = 0;
    put16(&body, 2);
    putn(&body, "\xC0\xAF", 2);
    p = pkt_finish(0x30, &body);
    CHECK_EQ(count_rule(checked(&p, MQTT_V311, MQTT_C2S), MQTT_R_UTF8_INVALID), 1);
}

TEST(suback_and_disconnect_codes)
{
    const uint8_t suback3[] = {0x90, 0x03, 0x00, 0x01, 0x03};
    const uint8_t suback5[] = {0x90, 0x04, 0x00, 0x01, 0x00, 0x87};
    const uint8_t disc[] = {0xE0, 0x01, 0x8B};
    buf_t p = {{0}, 0};
    putn(&p, suback3, sizeof suback3);
    CHECK_EQ(count_rule(checked(&p, MQTT_V311, MQTT_S2C), MQTT_R_REASON_SUBACK), 1);
    p.n = 0;
    putn(&p, suback5, sizeof suback5);
    CHECK_EQ(checked(&p, MQTT_V5, MQTT_S2C)->findings.count, 0);
    p.n = 0;
    putn(&p, disc, sizeof disc);
    CHECK_EQ(count_rule(checked(&p, MQTT_V5, MQTT_C2S), MQTT_R_REASON_DISCONNECT), 1);
    CHECK_EQ(checked(&p, MQTT_V5, MQTT_S2C)->findings.count, 0);
}

TEST(subscribe_option_rules)
{
    buf_t body = {{0}, 0};
    put16(&body, 1);
    put8(&body, 0);
    putstr(&body, "$share/g/x");
    put8(&body, 0xC4 | 0x30 | 0x03); /* reserved, RH 3, NL on shared, QoS 3 */
    buf_t p = pkt_finish(0x82, &body);
    mqtt_pkt_t *pkt = checked(&p, MQTT_V5, MQTT_C2S);
    CHECK_EQ(count_rule(pkt, MQTT_R_SUB_OPTIONS_RESERVED), 1);
    CHECK_EQ(count_rule(pkt, MQTT_R_SUB_RETAIN_HANDLING_3), 1);
    CHECK_EQ(count_rule(pkt, MQTT_R_SHARE_NO_LOCAL), 1);
    CHECK_EQ(count_rule(pkt, MQTT_R_SUB_QOS_3), 1);

    const uint8_t empty[] = {0x82, 0x02, 0x00, 0x01};
    p.n = 0;
    putn(&p, empty, sizeof empty);
    CHECK_EQ(count_rule(checked(&p, MQTT_V311, MQTT_C2S), MQTT_R_SUBSCRIBE_EMPTY), 1);
}

TEST(rule_catalogue)
{
    for (unsigned i = 0; i < MQTT_RULE_COUNT; i++) {
        const mqtt_rule_spec_t *r = &mqtt_rule_specs[i];
        CHECK(r->abbrev && r->summary);
        for (unsigned j = 0; j < i; j++)
            CHECK(strcmp(r->abbrev, mqtt_rule_specs[j].abbrev) != 0);
    }
    CHECK_STR(mqtt_rule_ref(MQTT_R_PACKET_ID_ZERO, MQTT_V311), "MQTT-2.3.1-1");
    CHECK_STR(mqtt_rule_ref(MQTT_R_PACKET_ID_ZERO, MQTT_V5), "MQTT-2.2.1-3");
    CHECK(mqtt_rule_ref(MQTT_R_PASSWORD_NO_USERNAME, MQTT_V5) == NULL);
}

UNIT_MAIN("checks", topic_filter_syntax, shared_subscriptions, topic_names, fixed_header_flags, bridge_protocol_level,
          publish_rules, publish_property_rules, property_placement_table, reason_code_tables,
          connect_rules, string_rules, suback_and_disconnect_codes, subscribe_option_rules,
          rule_catalogue)
