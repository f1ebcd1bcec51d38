/* mqtt_spec.c — the tables of the MQTT specifications (see mqtt_spec.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_spec.h"

#include "mqtt_rules.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define C MQTT_FROM_CLIENT
#define S MQTT_FROM_SERVER
#define CS MQTT_FROM_BOTH
#define V MQTT_FLAGS_VARIABLE

#define R(rule) MQTT_R_##rule
#define T(type) MQTT_##type
#define NONE {NULL, NULL}
/* An acknowledgement for an unknown Packet Identifier (sheet sections 6.2
 * and 6.5): the generic rule of each version and the flow's own. */
#define UNKNOWN_ID(v311, v5) {"MQTT-2.3.1-6 / " v311, "MQTT-2.2.1-5 / " v5}

/* 3.1.1 §2.2 Table 2.1/2.2, 5.0 §2.1.2 Table 2-1 and §2.1.3 Table 2-2.
 * Type 15 is reserved before 5.0; DISCONNECT is client-only before 5.0.
 * A PUBLISH sent by the server must also be answered because the client
 * must acknowledge every PUBLISH it receives [MQTT-4.5.0-2]; PUBREL is
 * answered by PUBCOMP under a statement id each version numbers its own. */
static const mqtt_type_spec_t type_table[16] = {
    [MQTT_RESERVED0] = {"Reserved", 0, 0, 0, false, R(FLAGS_RESERVED), R(REASON_CONNACK), 0, MQTT_FLOW_NONE,
                        MQTT_X_NONE, false, NONE, NONE, NONE},
    [MQTT_CONNECT] = {"CONNECT", 0x0, C, C, false, R(FLAGS_RESERVED), R(REASON_CONNACK), T(CONNACK), MQTT_FLOW_NONE,
                      MQTT_X_NONE, false, NONE, NONE, NONE},
    [MQTT_CONNACK] = {"CONNACK", 0x0, S, S, false, R(FLAGS_RESERVED), R(REASON_CONNACK), 0, MQTT_FLOW_NONE,
                      MQTT_X_CONNECT, false, NONE, NONE, NONE},
    [MQTT_PUBLISH] = {"PUBLISH", V, CS, CS, false, R(FLAGS_RESERVED), R(REASON_CONNACK), T(PUBACK), MQTT_FLOW_NONE,
                      MQTT_X_NONE, false, NONE, {"MQTT-3.3.4-1", "MQTT-3.3.4-1"},
                      {"MQTT-3.3.4-1 / MQTT-4.5.0-2", "MQTT-3.3.4-1 / MQTT-4.5.0-2"}},
    [MQTT_PUBACK] = {"PUBACK", 0x0, CS, CS, true, R(FLAGS_RESERVED), R(REASON_PUBACK), 0, MQTT_FLOW_PUB1,
                     MQTT_X_PUB1, false, UNKNOWN_ID("MQTT-4.3.2-2", "MQTT-4.3.2-4"), NONE, NONE},
    [MQTT_PUBREC] = {"PUBREC", 0x0, CS, CS, true, R(FLAGS_RESERVED), R(REASON_PUBREC), T(PUBREL), MQTT_FLOW_PUB2,
                     MQTT_X_NONE, true, UNKNOWN_ID("MQTT-4.3.3-2", "MQTT-4.3.3-8"), NONE, NONE},
    [MQTT_PUBREL] = {"PUBREL", 0x2, CS, CS, true, R(FLAGS_PUBREL), R(REASON_PUBREL), T(PUBCOMP), MQTT_FLOW_NONE,
                     MQTT_X_NONE, true, UNKNOWN_ID("MQTT-4.3.3-1", "MQTT-4.3.3-4"),
                     {"MQTT-4.3.3-2", "MQTT-4.3.3-11"}, {"MQTT-4.3.3-2", "MQTT-4.3.3-11"}},
    [MQTT_PUBCOMP] = {"PUBCOMP", 0x0, CS, CS, true, R(FLAGS_RESERVED), R(REASON_PUBCOMP), 0, MQTT_FLOW_PUB2,
                      MQTT_X_PUB2, false, UNKNOWN_ID("MQTT-4.3.3-2", "MQTT-4.3.3-11"), NONE, NONE},
    [MQTT_SUBSCRIBE] = {"SUBSCRIBE", 0x2, C, C, true, R(FLAGS_SUBSCRIBE), R(REASON_CONNACK), T(SUBACK),
                        MQTT_FLOW_NONE, MQTT_X_NONE, false, NONE, {"MQTT-3.8.4-1", "MQTT-3.8.4-1"}, NONE},
    [MQTT_SUBACK] = {"SUBACK", 0x0, S, S, true, R(FLAGS_RESERVED), R(REASON_SUBACK), 0, MQTT_FLOW_SUB,
                     MQTT_X_SUBSCRIBE, false, NONE, NONE, NONE},
    [MQTT_UNSUBSCRIBE] = {"UNSUBSCRIBE", 0x2, C, C, true, R(FLAGS_UNSUBSCRIBE), R(REASON_CONNACK), T(UNSUBACK),
                          MQTT_FLOW_NONE, MQTT_X_NONE, false, NONE,
                          {"MQTT-3.10.4-4 / MQTT-3.10.4-5", "MQTT-3.10.4-4 / MQTT-3.10.4-5"}, NONE},
    [MQTT_UNSUBACK] = {"UNSUBACK", 0x0, S, S, true, R(FLAGS_RESERVED), R(REASON_UNSUBACK), 0, MQTT_FLOW_UNSUB,
                       MQTT_X_UNSUBSCRIBE, false, NONE, NONE, NONE},
    [MQTT_PINGREQ] = {"PINGREQ", 0x0, C, C, false, R(FLAGS_RESERVED), R(REASON_CONNACK), T(PINGRESP),
                      MQTT_FLOW_NONE, MQTT_X_NONE, false, NONE, {"MQTT-3.12.4-1", "MQTT-3.12.4-1"}, NONE},
    [MQTT_PINGRESP] = {"PINGRESP", 0x0, S, S, false, R(FLAGS_RESERVED), R(REASON_CONNACK), 0, MQTT_FLOW_NONE,
                       MQTT_X_PINGREQ, false, NONE, NONE, NONE},
    [MQTT_DISCONNECT] = {"DISCONNECT", 0x0, C, CS, false, R(FLAGS_DISCONNECT), R(REASON_DISCONNECT), 0,
                         MQTT_FLOW_NONE, MQTT_X_NONE, false, NONE, NONE, NONE},
    [MQTT_AUTH] = {"AUTH", 0x0, 0, CS, false, R(FLAGS_AUTH), R(REASON_AUTH), T(AUTH), MQTT_FLOW_NONE, MQTT_X_AUTH,
                   false, NONE, NONE, NONE},
};

#undef R
#undef T
#undef NONE
#undef UNKNOWN_ID

const mqtt_type_spec_t *mqtt_type_spec(unsigned type)
{
    return type < 16 ? &type_table[type] : NULL;
}

const char *mqtt_type_name(unsigned type)
{
    return type < 16 ? type_table[type].name : "Unknown";
}

bool mqtt_filter_is_shared(const uint8_t *f, uint32_t len)
{
    return len >= MQTT_SHARE_PREFIX_LEN && memcmp(f, MQTT_SHARE_PREFIX, MQTT_SHARE_PREFIX_LEN) == 0;
}

const char *mqtt_ids_for(const mqtt_ids_t *ids, unsigned version)
{
    return version == MQTT_V5 ? ids->v5 : ids->v311;
}

const char *mqtt_awaited_response(unsigned type, unsigned qos)
{
    const mqtt_type_spec_t *ts = mqtt_type_spec(type);
    if (!ts || !ts->awaits)
        return "response";
    /* QoS 2 starts with PUBREC (§4.3.3). */
    return mqtt_type_name(type == MQTT_PUBLISH && qos != 1 ? MQTT_PUBREC : ts->awaits);
}

/* Packet-set shorthands for the property and reason tables. */
#define B(t) MQTT_BIT(MQTT_##t)
#define WILL MQTT_BIT(MQTT_WILL_CONTEXT)
#define ACKS MQTT_ACKS
#define REASON_STRING_IN (B(CONNACK) | ACKS | B(SUBACK) | B(UNSUBACK) | B(DISCONNECT) | B(AUTH))
#define USER_PROPERTY_IN                                                                      \
    (B(CONNECT) | B(CONNACK) | B(PUBLISH) | WILL | ACKS | B(SUBSCRIBE) | B(SUBACK) |          \
     B(UNSUBSCRIBE) | B(UNSUBACK) | B(DISCONNECT) | B(AUTH))

/* 5.0 §2.2.2.2 Table 2-4, with the packet sets of chapter 3.  Every property
 * except User Property, and Subscription Identifier in PUBLISH, may appear
 * at most once (stated in each property's own subsection). */
const mqtt_prop_spec_t mqtt_props[] = {
    {0x01, "Payload Format Indicator", "payload_format_indicator", MQTT_PT_BYTE, B(PUBLISH) | WILL, 0, MQTT_PR_BOOL},
    {0x02, "Message Expiry Interval", "message_expiry_interval", MQTT_PT_FOUR, B(PUBLISH) | WILL, 0, MQTT_PR_ANY},
    {0x03, "Content Type", "content_type", MQTT_PT_UTF8, B(PUBLISH) | WILL, 0, MQTT_PR_ANY},
    {0x08, "Response Topic", "response_topic", MQTT_PT_UTF8, B(PUBLISH) | WILL, 0, MQTT_PR_ANY},
    {0x09, "Correlation Data", "correlation_data", MQTT_PT_BINARY, B(PUBLISH) | WILL, 0, MQTT_PR_ANY},
    {0x0B, "Subscription Identifier", "subscription_identifier", MQTT_PT_VBI, B(PUBLISH) | B(SUBSCRIBE), B(PUBLISH), MQTT_PR_NONZERO},
    {0x11, "Session Expiry Interval", "session_expiry_interval", MQTT_PT_FOUR, B(CONNECT) | B(CONNACK) | B(DISCONNECT), 0, MQTT_PR_ANY},
    {0x12, "Assigned Client Identifier", "assigned_client_identifier", MQTT_PT_UTF8, B(CONNACK), 0, MQTT_PR_ANY},
    {0x13, "Server Keep Alive", "server_keep_alive", MQTT_PT_TWO, B(CONNACK), 0, MQTT_PR_ANY},
    {0x15, "Authentication Method", "authentication_method", MQTT_PT_UTF8, B(CONNECT) | B(CONNACK) | B(AUTH), 0, MQTT_PR_ANY},
    {0x16, "Authentication Data", "authentication_data", MQTT_PT_BINARY, B(CONNECT) | B(CONNACK) | B(AUTH), 0, MQTT_PR_ANY},
    {0x17, "Request Problem Information", "request_problem_information", MQTT_PT_BYTE, B(CONNECT), 0, MQTT_PR_BOOL},
    {0x18, "Will Delay Interval", "will_delay_interval", MQTT_PT_FOUR, WILL, 0, MQTT_PR_ANY},
    {0x19, "Request Response Information", "request_response_information", MQTT_PT_BYTE, B(CONNECT), 0, MQTT_PR_BOOL},
    {0x1A, "Response Information", "response_information", MQTT_PT_UTF8, B(CONNACK), 0, MQTT_PR_ANY},
    {0x1C, "Server Reference", "server_reference", MQTT_PT_UTF8, B(CONNACK) | B(DISCONNECT), 0, MQTT_PR_ANY},
    {0x1F, "Reason String", "reason_string", MQTT_PT_UTF8, REASON_STRING_IN, 0, MQTT_PR_ANY},
    {0x21, "Receive Maximum", "receive_maximum", MQTT_PT_TWO, B(CONNECT) | B(CONNACK), 0, MQTT_PR_NONZERO},
    {0x22, "Topic Alias Maximum", "topic_alias_maximum", MQTT_PT_TWO, B(CONNECT) | B(CONNACK), 0, MQTT_PR_ANY},
    {0x23, "Topic Alias", "topic_alias", MQTT_PT_TWO, B(PUBLISH), 0, MQTT_PR_NONZERO},
    {0x24, "Maximum QoS", "maximum_qos", MQTT_PT_BYTE, B(CONNACK), 0, MQTT_PR_BOOL},
    {0x25, "Retain Available", "retain_available", MQTT_PT_BYTE, B(CONNACK), 0, MQTT_PR_BOOL},
    {0x26, "User Property", "user_property", MQTT_PT_PAIR, USER_PROPERTY_IN, USER_PROPERTY_IN, MQTT_PR_ANY},
    {0x27, "Maximum Packet Size", "maximum_packet_size", MQTT_PT_FOUR, B(CONNECT) | B(CONNACK), 0, MQTT_PR_NONZERO},
    {0x28, "Wildcard Subscription Available", "wildcard_subscription_available", MQTT_PT_BYTE, B(CONNACK), 0, MQTT_PR_BOOL},
    {0x29, "Subscription Identifier Available", "subscription_identifier_available", MQTT_PT_BYTE, B(CONNACK), 0, MQTT_PR_BOOL},
    {0x2A, "Shared Subscription Available", "shared_subscription_available", MQTT_PT_BYTE, B(CONNACK), 0, MQTT_PR_BOOL},
};
const unsigned mqtt_props_count = sizeof mqtt_props / sizeof mqtt_props[0];

const mqtt_prop_spec_t *mqtt_prop_spec(uint32_t id)
{
    for (unsigned i = 0; i < mqtt_props_count; i++)
        if (mqtt_props[i].id == id)
            return &mqtt_props[i];
    return NULL;
}

/* Where each packet's properties are defined (5.0 chapter 3): the section
 * of the property list, whose subsections .2, .3, ... define the
 * properties in this order (.1 is the Property Length). */
static const struct {
    const char *section;
    uint8_t order[17];
} prop_sections[16] = {
    [MQTT_WILL_CONTEXT] = {"§3.1.3.2", {0x18, 0x01, 0x02, 0x03, 0x08, 0x09, 0x26}},
    [MQTT_CONNECT] = {"§3.1.2.11", {0x11, 0x21, 0x27, 0x22, 0x19, 0x17, 0x26, 0x15, 0x16}},
    [MQTT_CONNACK] = {"§3.2.2.3", {0x11, 0x21, 0x24, 0x25, 0x27, 0x12, 0x22, 0x1F, 0x26, 0x28, 0x29, 0x2A,
                                   0x13, 0x1A, 0x1C, 0x15, 0x16}},
    [MQTT_PUBLISH] = {"§3.3.2.3", {0x01, 0x02, 0x23, 0x08, 0x09, 0x26, 0x0B, 0x03}},
    [MQTT_PUBACK] = {"§3.4.2.2", {0x1F, 0x26}},
    [MQTT_PUBREC] = {"§3.5.2.2", {0x1F, 0x26}},
    [MQTT_PUBREL] = {"§3.6.2.2", {0x1F, 0x26}},
    [MQTT_PUBCOMP] = {"§3.7.2.2", {0x1F, 0x26}},
    [MQTT_SUBSCRIBE] = {"§3.8.2.1", {0x0B, 0x26}},
    [MQTT_SUBACK] = {"§3.9.2.1", {0x1F, 0x26}},
    [MQTT_UNSUBSCRIBE] = {"§3.10.2.1", {0x26}},
    [MQTT_UNSUBACK] = {"§3.11.2.1", {0x1F, 0x26}},
    [MQTT_DISCONNECT] = {"§3.14.2.2", {0x11, 0x1F, 0x26, 0x1C}},
    [MQTT_AUTH] = {"§3.15.2.2", {0x15, 0x16, 0x1F, 0x26}},
};

const char *mqtt_prop_section(unsigned context, uint32_t id, char *buf, unsigned size)
{
    if (context >= 16 || !prop_sections[context].section || size == 0)
        return "";
    for (unsigned i = 0; i < sizeof prop_sections[context].order && prop_sections[context].order[i]; i++) {
        if (prop_sections[context].order[i] == id) {
            snprintf(buf, size, "%s.%u", prop_sections[context].section, i + 2);
            return buf;
        }
    }
    snprintf(buf, size, "%s", prop_sections[context].section);
    return buf;
}

/* 5.0 reason codes.  Sources: Table 2-6 and Tables 3-1 (CONNACK), 3-4
 * (PUBACK), 3-5 (PUBREC), 3-6 (PUBREL), 3-7 (PUBCOMP), 3-8 (SUBACK), 3-9
 * (UNSUBACK), 3-10 (DISCONNECT, with its "Sent by" column) and 3-11 (AUTH).
 * The last column marks the CONNACK codes that refuse a login (a bad
 * user name or password, not authorized, banned, a bad authentication
 * method).  0x10 in PUBACK/PUBREC is server-only.  0x8C is listed for DISCONNECT in
 * Table 2-6 but not in Table 3-10, to which [MQTT-3.14.2-1] refers; we
 * follow Table 3-10. */
#define PUB_ACKS (B(PUBACK) | B(PUBREC))
#define DISC B(DISCONNECT)
const mqtt_reason_spec_t mqtt_reasons[] = {
    {0x00, "Success", ACKS, B(CONNACK) | ACKS | B(UNSUBACK) | B(AUTH), false},
    {0x00, "Normal disconnection", DISC, DISC, false},
    {0x00, "Granted QoS 0", 0, B(SUBACK), false},
    {0x01, "Granted QoS 1", 0, B(SUBACK), false},
    {0x02, "Granted QoS 2", 0, B(SUBACK), false},
    {0x04, "Disconnect with Will Message", DISC, 0, false},
    {0x10, "No matching subscribers", 0, PUB_ACKS, false},
    {0x11, "No subscription existed", 0, B(UNSUBACK), false},
    {0x18, "Continue authentication", B(AUTH), B(AUTH), false},
    {0x19, "Re-authenticate", B(AUTH), 0, false},
    {0x80, "Unspecified error", PUB_ACKS | DISC, B(CONNACK) | PUB_ACKS | B(SUBACK) | B(UNSUBACK) | DISC, false},
    {0x81, "Malformed Packet", DISC, B(CONNACK) | DISC, false},
    {0x82, "Protocol Error", DISC, B(CONNACK) | DISC, false},
    {0x83, "Implementation specific error", PUB_ACKS | DISC, B(CONNACK) | PUB_ACKS | B(SUBACK) | B(UNSUBACK) | DISC, false},
    {0x84, "Unsupported Protocol Version", 0, B(CONNACK), false},
    {0x85, "Client Identifier not valid", 0, B(CONNACK), false},
    {0x86, "Bad User Name or Password", 0, B(CONNACK), true},
    {0x87, "Not authorized", PUB_ACKS, B(CONNACK) | PUB_ACKS | B(SUBACK) | B(UNSUBACK) | DISC, true},
    {0x88, "Server unavailable", 0, B(CONNACK), false},
    {0x89, "Server busy", 0, B(CONNACK) | DISC, false},
    {0x8A, "Banned", 0, B(CONNACK), true},
    {0x8B, "Server shutting down", 0, DISC, false},
    {0x8C, "Bad authentication method", 0, B(CONNACK), true},
    {0x8D, "Keep Alive timeout", 0, DISC, false},
    {0x8E, "Session taken over", 0, DISC, false},
    {0x8F, "Topic Filter invalid", 0, B(SUBACK) | B(UNSUBACK) | DISC, false},
    {0x90, "Topic Name invalid", PUB_ACKS | DISC, B(CONNACK) | PUB_ACKS | DISC, false},
    {0x91, "Packet Identifier in use", PUB_ACKS, PUB_ACKS | B(SUBACK) | B(UNSUBACK), false},
    {0x92, "Packet Identifier not found", B(PUBREL) | B(PUBCOMP), B(PUBREL) | B(PUBCOMP), false},
    {0x93, "Receive Maximum exceeded", DISC, DISC, false},
    {0x94, "Topic Alias invalid", DISC, DISC, false},
    {0x95, "Packet too large", DISC, B(CONNACK) | DISC, false},
    {0x96, "Message rate too high", DISC, DISC, false},
    {0x97, "Quota exceeded", PUB_ACKS | DISC, B(CONNACK) | PUB_ACKS | B(SUBACK) | DISC, false},
    {0x98, "Administrative action", DISC, DISC, false},
    {0x99, "Payload format invalid", PUB_ACKS | DISC, B(CONNACK) | PUB_ACKS | DISC, false},
    {0x9A, "Retain not supported", 0, B(CONNACK) | DISC, false},
    {0x9B, "QoS not supported", 0, B(CONNACK) | DISC, false},
    {0x9C, "Use another server", 0, B(CONNACK) | DISC, false},
    {0x9D, "Server moved", 0, B(CONNACK) | DISC, false},
    {0x9E, "Shared Subscriptions not supported", 0, B(SUBACK) | DISC, false},
    {0x9F, "Connection rate exceeded", 0, B(CONNACK) | DISC, false},
    {0xA0, "Maximum connect time", 0, DISC, false},
    {0xA1, "Subscription Identifiers not supported", 0, B(SUBACK) | DISC, false},
    {0xA2, "Wildcard Subscriptions not supported", 0, B(SUBACK) | DISC, false},
};
const unsigned mqtt_reasons_count = sizeof mqtt_reasons / sizeof mqtt_reasons[0];

static const mqtt_reason_spec_t *reason_row(uint8_t code, unsigned type)
{
    const mqtt_reason_spec_t *first = NULL;
    for (unsigned i = 0; i < mqtt_reasons_count; i++) {
        const mqtt_reason_spec_t *r = &mqtt_reasons[i];
        if (r->code != code)
            continue;
        if ((r->by_client | r->by_server) & MQTT_BIT(type))
            return r;
        if (!first)
            first = r;
    }
    return first;
}

const char *mqtt_reason_name(uint8_t code, unsigned type)
{
    const mqtt_reason_spec_t *r = reason_row(code, type);
    return r ? r->name : NULL;
}

bool mqtt_reason_allowed(uint8_t code, unsigned type, enum mqtt_dir sender)
{
    for (unsigned i = 0; i < mqtt_reasons_count; i++) {
        const mqtt_reason_spec_t *r = &mqtt_reasons[i];
        mqtt_type_mask m = sender == MQTT_C2S ? r->by_client : r->by_server;
        if (r->code == code && (m & MQTT_BIT(type)))
            return true;
    }
    return false;
}

bool mqtt_reason_allowed_any(uint8_t code, unsigned type)
{
    return mqtt_reason_allowed(code, type, MQTT_C2S) || mqtt_reason_allowed(code, type, MQTT_S2C);
}

/* 3.1.1 Table 3.1 (3.1 has the same codes); 4 and 5 refuse a login. */
static const struct {
    const char *name;
    bool refuses_login;
} v3_connack[] = {
    {"Connection Accepted", false},
    {"Connection Refused: unacceptable protocol version", false},
    {"Connection Refused: identifier rejected", false},
    {"Connection Refused: server unavailable", false},
    {"Connection Refused: bad user name or password", true},
    {"Connection Refused: not authorized", true},
};

const char *mqtt_v3_connack_name(uint8_t code)
{
    return code < sizeof v3_connack / sizeof v3_connack[0] ? v3_connack[code].name : NULL;
}

bool mqtt_connack_refuses_login(unsigned version, uint8_t code)
{
    if (version != MQTT_V5)
        return code < sizeof v3_connack / sizeof v3_connack[0] && v3_connack[code].refuses_login;
    for (unsigned i = 0; i < mqtt_reasons_count; i++)
        if (mqtt_reasons[i].code == code && (mqtt_reasons[i].by_server & MQTT_BIT(MQTT_CONNACK)))
            return mqtt_reasons[i].refuses_login;
    return false;
}

const char *mqtt_v3_suback_name(uint8_t code)
{
    switch (code) {
    case 0x00: return "Success - Maximum QoS 0";
    case 0x01: return "Success - Maximum QoS 1";
    case 0x02: return "Success - Maximum QoS 2";
    case 0x80: return "Failure";
    default: return NULL;
    }
}

const char *mqtt_version_name(unsigned level)
{
    switch (level) {
    case MQTT_V31: return "3.1";
    case MQTT_V311: return "3.1.1";
    case MQTT_V5: return "5.0";
    default: return NULL;
    }
}

/* The Protocol Level byte as sent: bit 7 set on 3.1 or 3.1.1 is the bridge
 * flag of mosquitto's try_private (and of other brokers' bridges), which no
 * specification defines; the level in the low bits decides the layout. */
const char *mqtt_level_name(unsigned level)
{
    switch (level) {
    case 0x80 | MQTT_V31: return "3.1, bridge flag (bit 7) set";
    case 0x80 | MQTT_V311: return "3.1.1, bridge flag (bit 7) set";
    default: return mqtt_version_name(level);
    }
}
