/* mqtt_rules.h — the catalogue of everything mqttlens can report, and the
 * stateless checks of one decoded packet.
 *
 * Each row of MQTT_RULES becomes one expert field, "mqttlens.<abbrev>",
 * so every rule can be filtered and counted on its own.  A row names the
 * statement id (or, where the specification has none, the section) that it
 * enforces, separately for 3.1.1 and for 5.0 because the same id string
 * means different rules in the two versions.  NULL means the rule does not
 * exist in that version.  MQTT 3.1 has no statement ids; it is checked
 * against the 3.1.1 rules that it shares.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_RULES_H
#define MQTT_RULES_H

#include "mqtt_spec.h"

/* The family of a finding: the first part of its field name after
 * "mqttlens." ("mqttlens.rule.publish_qos_3"), and a hidden field of its
 * own ("mqttlens.rule") on every packet with such a finding. */
enum mqtt_family {
    MQTT_F_MALFORMED, /* the bytes cannot be what the specification says */
    MQTT_F_RULE,      /* a statement of the specification is broken */
    MQTT_F_ANALYSIS,  /* what the connection analysis noticed */
    MQTT_F_SECURITY,  /* what an auditor cares about */
    MQTT_FAMILY_COUNT
};
#define MQTT_FAMILY_PREFIX_MALFORMED "malformed."
#define MQTT_FAMILY_PREFIX_RULE "rule."
#define MQTT_FAMILY_PREFIX_ANALYSIS "analysis."
#define MQTT_FAMILY_PREFIX_SECURITY "security."

/* What kind of problem a rule describes: one to one Wireshark's expert
 * groups of the same names (mqtt_expert.c registers them so). */
enum mqtt_group {
    MQTT_G_MALFORMED,   /* the bytes cannot be what the specification says */
    MQTT_G_PROTOCOL,    /* parses, but a value is not allowed */
    MQTT_G_SEQUENCE,    /* wrong in the order of the conversation */
    MQTT_G_SECURITY,    /* weakness an auditor cares about */
    MQTT_G_UNDECODED,   /* bytes that were not decoded */
    MQTT_G_ASSUMPTION,  /* decoded on an assumption (e.g. an inferred version) */
};

/* One to one Wireshark's expert severities. */
enum mqtt_severity { MQTT_S_CHAT, MQTT_S_NOTE, MQTT_S_WARN, MQTT_S_ERROR };

/* X(ENUM, family, name, group, severity, id 3.1.1, id 5.0, summary): the
 * expert field is "mqttlens.<family>.<name>". */
#define MQTT_RULES(X)                                                                                  \
    /* --- framing and data representation ------------------------------------------------- */       \
    X(RL_TOO_LONG, MALFORMED, "remaining_length_too_long", MALFORMED, ERROR, "§2.2.3", "§1.5.5",           \
      "Remaining Length has more than 4 bytes; the rest of this direction cannot be framed")            \
    X(VBI_TOO_LONG, MALFORMED, "vbi_too_long", MALFORMED, ERROR, NULL, "§1.5.5",                          \
      "Variable Byte Integer has more than 4 bytes")                                                     \
    X(RL_NOT_MINIMAL, RULE, "remaining_length_not_minimal", PROTOCOL, WARN, "§2.2.3", NULL,               \
      "Remaining Length is not encoded in the fewest bytes")                                             \
    X(VBI_NOT_MINIMAL, RULE, "vbi_not_minimal", MALFORMED, ERROR, NULL, "MQTT-1.5.5-1",                   \
      "Variable Byte Integer is not encoded in the fewest bytes")                                        \
    X(TRUNCATED, MALFORMED, "truncated", MALFORMED, ERROR, NULL, NULL,                                    \
      "Packet ends before a field that must be present")                                                 \
    X(TRAILING, MALFORMED, "trailing_bytes", MALFORMED, ERROR, NULL, NULL,                                \
      "Bytes left over after the last field of the packet")                                              \
    X(INCOMPLETE_PACKET, MALFORMED, "connection_ends_mid_packet", MALFORMED, ERROR, "§2.2.3", "§2.1.4",   \
      "Connection closed before the end of the packet its Remaining Length announced")                  \
    X(CAPTURE_ENDS_MID_PACKET, ANALYSIS, "capture_ends_mid_packet", UNDECODED, NOTE, NULL, NULL,          \
      "Capture ends before the end of the packet its Remaining Length announced")                       \
    X(UNFRAMED, ANALYSIS, "unframed", MALFORMED, ERROR, NULL, NULL,                                       \
      "MQTT packet boundaries are lost in this direction after a Remaining Length error")                \
    X(WS_SUBPROTOCOL, RULE, "websocket_subprotocol", PROTOCOL, WARN, "MQTT-6.0.0-4", "MQTT-6.0.0-4",      \
      "The WebSocket subprotocol the server selected is not \"mqtt\"")                                \
    X(WS_OFFER, RULE, "websocket_offer", PROTOCOL, WARN, "MQTT-6.0.0-3", "MQTT-6.0.0-3",                 \
      "The client did not offer the WebSocket subprotocol \"mqtt\"")                                   \
    X(WS_TEXT_FRAME, RULE, "websocket_text_frame", PROTOCOL, WARN, "MQTT-6.0.0-1", "MQTT-6.0.0-1",       \
      "MQTT carried in a WebSocket text message, not a binary one")                                     \
    X(CAPTURE_TRUNCATED, ANALYSIS, "capture_truncated", UNDECODED, NOTE, NULL, NULL,                      \
      "Packet is cut short by the capture's snapshot length")                                            \
    X(UTF8_INVALID, RULE, "utf8_invalid", MALFORMED, ERROR, "MQTT-1.5.3-1", "MQTT-1.5.4-1",                \
      "String is not well-formed UTF-8")                                                                 \
    X(UTF8_NUL, RULE, "utf8_nul", MALFORMED, ERROR, "MQTT-1.5.3-2", "MQTT-1.5.4-2",                        \
      "String contains the null character U+0000")                                                       \
    X(UTF8_CONTROL, RULE, "utf8_control", PROTOCOL, NOTE, "§1.5.3", "§1.5.4",                             \
      "String contains a control character or a Unicode non-character")                                  \
    /* --- fixed header ------------------------------------------------------------------------ */       \
    X(TYPE_RESERVED, RULE, "type_reserved", MALFORMED, ERROR, "§2.2.1", "§2.1.2",                        \
      "Reserved control packet type")                                                                    \
    X(FLAGS_RESERVED, RULE, "fixed_header_flags", MALFORMED, ERROR, "MQTT-2.2.2-1", "MQTT-2.1.3-1",       \
      "Reserved fixed-header flags have the wrong value")                                                \
    X(FLAGS_PUBREL, RULE, "fixed_header_flags_pubrel", MALFORMED, ERROR, "MQTT-3.6.1-1", "MQTT-3.6.1-1",  \
      "PUBREL fixed-header flags are not 0010")                                                          \
    X(FLAGS_SUBSCRIBE, RULE, "fixed_header_flags_subscribe", MALFORMED, ERROR, "MQTT-3.8.1-1",            \
      "MQTT-3.8.1-1", "SUBSCRIBE fixed-header flags are not 0010")                                       \
    X(FLAGS_UNSUBSCRIBE, RULE, "fixed_header_flags_unsubscribe", MALFORMED, ERROR, "MQTT-3.10.1-1",       \
      "MQTT-3.10.1-1", "UNSUBSCRIBE fixed-header flags are not 0010")                                    \
    X(FLAGS_DISCONNECT, RULE, "fixed_header_flags_disconnect", MALFORMED, ERROR, "MQTT-3.14.1-1",         \
      "MQTT-3.14.1-1", "DISCONNECT fixed-header flags are not 0000")                                     \
    X(FLAGS_AUTH, RULE, "fixed_header_flags_auth", MALFORMED, ERROR, NULL, "MQTT-3.15.1-1",               \
      "AUTH fixed-header flags are not 0000")                                                            \
    X(FLAGS_V31, RULE, "fixed_header_flags_v31", PROTOCOL, NOTE, "3.1 §2.1", NULL,                        \
      "MQTT 3.1 fixed-header flags differ from the values 3.1.1 requires")                               \
    X(QOS_3, RULE, "publish_qos_3", MALFORMED, ERROR, "MQTT-3.3.1-4", "MQTT-3.3.1-4",                      \
      "PUBLISH QoS bits are 11")                                                                         \
    X(DUP_QOS0, RULE, "publish_dup_qos0", PROTOCOL, WARN, "MQTT-3.3.1-2", "MQTT-3.3.1-2",                  \
      "DUP flag is set on a QoS 0 PUBLISH")                                                              \
    X(FIXED_LENGTH, RULE, "remaining_length_fixed", MALFORMED, ERROR,                                   \
      "§3.2.1 §3.4.1-§3.7.1 §3.11.1-§3.14.1", NULL,                                                       \
      "Remaining Length differs from the fixed value of this packet type")                               \
    X(PACKET_ID_ZERO, RULE, "packet_id_zero", PROTOCOL, WARN, "MQTT-2.3.1-1", "MQTT-2.2.1-3",             \
      "Packet Identifier is 0")                                                                          \
    /* --- properties (5.0) ------------------------------------------------------------------- */       \
    X(PROPS_MISSING, RULE, "property_length_missing", MALFORMED, ERROR, NULL, "MQTT-2.2.2-1",             \
      "Property Length is missing")                                                                      \
    X(PROPS_OVERRUN, MALFORMED, "property_length", MALFORMED, ERROR, NULL, "§2.2.2.1",                    \
      "Property Length runs past the end of the packet")                                                 \
    X(PROP_UNKNOWN, RULE, "property_unknown", MALFORMED, ERROR, NULL, "§2.2.2.2",                         \
      "Unknown property identifier; the rest of this property block is not decoded")                     \
    X(PROP_NOT_ALLOWED, RULE, "property_not_allowed", MALFORMED, ERROR, NULL, "§2.2.2.2",                 \
      "Property is not allowed in this packet")                                                          \
    X(PROP_DUPLICATE, RULE, "property_duplicate", PROTOCOL, WARN, NULL, "the property's subsection of chapter 3",        \
      "Property appears more than once")                                                                 \
    X(PROP_TRUNCATED, MALFORMED, "property_truncated", MALFORMED, ERROR, NULL, "§2.2.2.2",                \
      "Property value runs past the end of the property block")                                          \
    X(USER_PROPERTY_UTF8, RULE, "user_property_utf8", MALFORMED, ERROR, NULL, "MQTT-1.5.7-1",             \
      "User Property name or value is not a valid UTF-8 string")                                        \
    X(PROP_NOT_BOOLEAN, RULE, "property_not_boolean", PROTOCOL, WARN, NULL, "the property's subsection of chapter 3",    \
      "Property value must be 0 or 1")                                                                   \
    X(PROP_ZERO, RULE, "property_zero", PROTOCOL, WARN, NULL, "the property's subsection of chapter 3",                  \
      "Property value 0 is a Protocol Error")                                                            \
    X(TOPIC_ALIAS_ZERO, RULE, "topic_alias_zero", PROTOCOL, WARN, NULL, "MQTT-3.3.2-8",                   \
      "Topic Alias is 0")                                                                                \
    X(SUB_ID_FROM_CLIENT, RULE, "publish_subscription_id_from_client", PROTOCOL, WARN, NULL,             \
      "MQTT-3.3.4-6", "Client PUBLISH carries a Subscription Identifier")                                \
    X(AUTH_DATA_WITHOUT_METHOD, RULE, "authentication_data_without_method", PROTOCOL, WARN, NULL,         \
      "§3.1.2.11.10", "Authentication Data without Authentication Method")                               \
    X(PAYLOAD_NOT_UTF8, RULE, "payload_format_not_utf8", PROTOCOL, WARN, NULL, "§3.3.2.3.2",              \
      "Payload Format Indicator says UTF-8 but the payload is not well-formed UTF-8")                    \
    /* --- direction ---------------------------------------------------------------------------- */     \
    X(WRONG_DIRECTION, RULE, "wrong_direction", PROTOCOL, WARN, "§2.2.1", "§2.1.2",                       \
      "Packet type is not allowed in this direction")                                                    \
    /* --- CONNECT ------------------------------------------------------------------------------ */     \
    X(PROTOCOL_NAME, RULE, "connect_protocol_name", PROTOCOL, WARN, "MQTT-3.1.2-1", "MQTT-3.1.2-1",      \
      "Protocol Name does not match the Protocol Level")                                                 \
    X(PROTOCOL_LEVEL, RULE, "connect_protocol_level", PROTOCOL, NOTE, "MQTT-3.1.2-2", "MQTT-3.1.2-2",    \
      "Protocol Level is not one that this specification defines")                                       \
    X(CONNECT_RESERVED, RULE, "connect_flags_reserved", MALFORMED, ERROR, "MQTT-3.1.2-3", "MQTT-3.1.2-3", \
      "Connect Flags reserved bit is set")                                                               \
    X(WILL_QOS_3, RULE, "connect_will_qos_3", MALFORMED, ERROR, "MQTT-3.1.2-14", "MQTT-3.1.2-12",         \
      "Will QoS is 3")                                                                                   \
    X(WILL_QOS_NO_WILL, RULE, "connect_will_qos_without_will", PROTOCOL, WARN, "MQTT-3.1.2-13",          \
      "MQTT-3.1.2-11", "Will QoS is not 0 although the Will Flag is 0")                                  \
    X(WILL_RETAIN_NO_WILL, RULE, "connect_will_retain_without_will", PROTOCOL, WARN, "MQTT-3.1.2-15",    \
      "MQTT-3.1.2-13", "Will Retain is set although the Will Flag is 0")                                 \
    X(PASSWORD_NO_USERNAME, RULE, "connect_password_without_username", PROTOCOL, WARN, "MQTT-3.1.2-22",  \
      NULL, "Password Flag is set without the User Name Flag")                                           \
    X(EMPTY_CLIENTID_PERSISTENT, RULE, "connect_empty_clientid_persistent", PROTOCOL, WARN,              \
      "MQTT-3.1.3-7", NULL, "Zero-length Client Identifier with CleanSession 0")                         \
    X(V31_CLIENTID_LENGTH, RULE, "connect_clientid_length_v31", PROTOCOL, NOTE, "3.1 §3.1", NULL,        \
      "MQTT 3.1 Client Identifier must be 1 to 23 characters")                                           \
    X(CONNECT_CLIENTID_MISSING, RULE, "connect_clientid_missing", MALFORMED, ERROR, "MQTT-3.1.3-3",      \
      "MQTT-3.1.3-3", "CONNECT payload has no Client Identifier")                                        \
    X(CONNECT_WILL_MISSING, RULE, "connect_will_missing", MALFORMED, ERROR, "MQTT-3.1.2-9", "MQTT-3.1.2-9", \
      "Will Flag is set but the will fields are missing")                                                \
    X(CONNECT_USERNAME_MISSING, RULE, "connect_username_missing", MALFORMED, ERROR, "MQTT-3.1.2-19",      \
      "MQTT-3.1.2-17", "User Name Flag is set but the User Name is missing")                             \
    X(CONNECT_PASSWORD_MISSING, RULE, "connect_password_missing", MALFORMED, ERROR, "MQTT-3.1.2-21",      \
      "MQTT-3.1.2-19", "Password Flag is set but the Password is missing")                               \
    X(CONNECT_USERNAME_UNFLAGGED, RULE, "connect_username_unflagged", MALFORMED, ERROR, "MQTT-3.1.2-18",  \
      "MQTT-3.1.2-16", "Bytes after the Client Identifier although the User Name Flag is 0")             \
    X(CONNECT_PASSWORD_UNFLAGGED, RULE, "connect_password_unflagged", MALFORMED, ERROR, "MQTT-3.1.2-20",  \
      "MQTT-3.1.2-18", "Bytes after the User Name although the Password Flag is 0")                      \
    X(CONNECT_SURPLUS, RULE, "connect_payload_surplus", MALFORMED, ERROR, "MQTT-3.1.3-1", "MQTT-3.1.3-1", \
      "Bytes after the last field of the CONNECT payload")                                               \
    X(WILL_TOPIC_WILDCARD, RULE, "will_topic_wildcard", PROTOCOL, WARN, "MQTT-4.7.1-1", "MQTT-4.7.0-1",  \
      "Will Topic contains a wildcard character")                                                        \
    X(WILL_PAYLOAD_NOT_UTF8, RULE, "will_payload_format_not_utf8", PROTOCOL, WARN, NULL, "§3.1.3.2.3",   \
      "Will Payload Format Indicator says UTF-8 but the Will Payload is not well-formed UTF-8")          \
    /* --- CONNACK ------------------------------------------------------------------------------ */     \
    X(CONNACK_RESERVED, RULE, "connack_flags_reserved", MALFORMED, ERROR, "§3.2.2.1", "MQTT-3.2.2-1",    \
      "CONNACK Acknowledge Flags bits 7-1 are not 0")                                                    \
    X(CONNACK_RETURN_CODE, RULE, "connack_return_code_reserved", PROTOCOL, WARN, "§3.2.2.3", NULL,       \
      "CONNACK return code is reserved")                                                                 \
    X(SESSION_PRESENT_REFUSED, RULE, "connack_session_present_refused", PROTOCOL, WARN, "MQTT-3.2.2-4",  \
      "MQTT-3.2.2-6", "Session Present is 1 on a refused connection")                                    \
    /* --- reason codes -------------------------------------------------------------------------- */    \
    X(REASON_CONNACK, RULE, "reason_code_connack", PROTOCOL, WARN, NULL, "MQTT-3.2.2-8",                 \
      "Reason Code is not allowed in CONNACK")                                                           \
    X(REASON_PUBACK, RULE, "reason_code_puback", PROTOCOL, WARN, NULL, "MQTT-3.4.2-1",                   \
      "Reason Code is not allowed in PUBACK from this sender")                                           \
    X(REASON_PUBREC, RULE, "reason_code_pubrec", PROTOCOL, WARN, NULL, "MQTT-3.5.2-1",                   \
      "Reason Code is not allowed in PUBREC from this sender")                                           \
    X(REASON_PUBREL, RULE, "reason_code_pubrel", PROTOCOL, WARN, NULL, "MQTT-3.6.2-1",                   \
      "Reason Code is not allowed in PUBREL")                                                            \
    X(REASON_PUBCOMP, RULE, "reason_code_pubcomp", PROTOCOL, WARN, NULL, "MQTT-3.7.2-1",                 \
      "Reason Code is not allowed in PUBCOMP")                                                           \
    X(REASON_SUBACK, RULE, "reason_code_suback", PROTOCOL, WARN, "MQTT-3.9.3-2", "MQTT-3.9.3-2",         \
      "Return / Reason Code is not allowed in SUBACK")                                                   \
    X(REASON_UNSUBACK, RULE, "reason_code_unsuback", PROTOCOL, WARN, NULL, "MQTT-3.11.3-2",              \
      "Reason Code is not allowed in UNSUBACK")                                                          \
    X(REASON_DISCONNECT, RULE, "reason_code_disconnect", PROTOCOL, WARN, NULL, "MQTT-3.14.2-1",          \
      "Reason Code is not allowed in DISCONNECT from this sender")                                       \
    X(REASON_DISCONNECT_8C, RULE, "reason_code_disconnect_0x8c", PROTOCOL, NOTE, NULL,                   \
      "Table 2-6 vs Table 3-10", "DISCONNECT 0x8C is listed in Table 2-6 but not in Table 3-10")         \
    X(REASON_AUTH, RULE, "reason_code_auth", PROTOCOL, WARN, NULL, "MQTT-3.15.2-1",                      \
      "Reason Code is not allowed in AUTH from this sender")                                             \
    /* --- PUBLISH ------------------------------------------------------------------------------ */     \
    X(TOPIC_WILDCARD, RULE, "publish_topic_wildcard", PROTOCOL, WARN, "MQTT-3.3.2-2", "MQTT-3.3.2-2",    \
      "Topic Name in PUBLISH contains a wildcard character")                                             \
    X(TOPIC_EMPTY, RULE, "publish_topic_empty", PROTOCOL, WARN, "MQTT-4.7.3-1", "§3.3.2.1",              \
      "Topic Name is empty")                                                                             \
    X(RESPONSE_TOPIC_WILDCARD, RULE, "response_topic_wildcard", PROTOCOL, WARN, NULL, "MQTT-3.3.2-14",   \
      "Response Topic contains a wildcard character")                                                    \
    /* --- SUBSCRIBE / UNSUBSCRIBE ------------------------------------------------------------------- */ \
    X(SUBSCRIBE_EMPTY, RULE, "subscribe_no_filter", PROTOCOL, WARN, "MQTT-3.8.3-3", "MQTT-3.8.3-2",      \
      "SUBSCRIBE has no Topic Filter")                                                                   \
    X(UNSUBSCRIBE_EMPTY, RULE, "unsubscribe_no_filter", PROTOCOL, WARN, "MQTT-3.10.3-2", "MQTT-3.10.3-2", \
      "UNSUBSCRIBE has no Topic Filter")                                                                 \
    X(SUB_OPTIONS_RESERVED, RULE, "subscribe_options_reserved", MALFORMED, ERROR, "MQTT-3-8.3-4",        \
      "MQTT-3.8.3-5", "Subscription options reserved bits are not 0")                                    \
    X(SUB_QOS_3, RULE, "subscribe_qos_3", PROTOCOL, WARN, "MQTT-3-8.3-4", "§3.8.3.1",                    \
      "Requested QoS is 3")                                                                              \
    X(SUB_RETAIN_HANDLING_3, RULE, "subscribe_retain_handling_3", PROTOCOL, WARN, NULL, "§3.8.3.1",       \
      "Retain Handling is 3")                                                                            \
    X(FILTER_EMPTY, RULE, "filter_empty", PROTOCOL, WARN, "MQTT-4.7.3-1", "MQTT-4.7.3-1",                \
      "Topic Filter is empty")                                                                           \
    X(FILTER_HASH, RULE, "filter_multilevel_wildcard", PROTOCOL, WARN, "MQTT-4.7.1-2", "MQTT-4.7.1-1",   \
      "Multi-level wildcard '#' is not alone in the last level of the Topic Filter")                    \
    X(FILTER_PLUS, RULE, "filter_single_level_wildcard", PROTOCOL, WARN, "MQTT-4.7.1-3",                 \
      "MQTT-4.7.1-2", "Single-level wildcard '+' does not occupy a whole level of the Topic Filter")    \
    X(SHARE_NAME_EMPTY, RULE, "shared_subscription_name_empty", PROTOCOL, WARN, NULL, "MQTT-4.8.2-1",    \
      "Shared Subscription has no ShareName")                                                            \
    X(SHARE_NAME_INVALID, RULE, "shared_subscription_name_invalid", PROTOCOL, WARN, NULL, "MQTT-4.8.2-2", \
      "ShareName contains '/', '+' or '#', or no Topic Filter follows it")                              \
    X(SHARE_NO_LOCAL, RULE, "shared_subscription_no_local", PROTOCOL, WARN, NULL, "MQTT-3.8.3-4",        \
      "No Local is set on a Shared Subscription")                                                        \
    /* --- DISCONNECT / AUTH ---------------------------------------------------------------------- */   \
    X(SERVER_DISCONNECT_SESSION_EXPIRY, RULE, "disconnect_server_session_expiry", PROTOCOL, WARN, NULL,   \
      "MQTT-3.14.2-2", "Server DISCONNECT carries a Session Expiry Interval")                            \
    X(AUTH_NO_METHOD, RULE, "auth_without_method", PROTOCOL, WARN, NULL, "§3.15.2.2.2",                   \
      "AUTH does not carry an Authentication Method")                                                    \
    X(AUTH_ABBREVIATED, RULE, "auth_abbreviated", PROTOCOL, NOTE, NULL, "§3.15.2.1 vs MQTT-4.12.0-5",     \
      "AUTH with Remaining Length 0 carries no Authentication Method")                                  \
    /* --- connection sequence ---------------------------------------------------------------- */    \
    X(FIRST_NOT_CONNECT, RULE, "first_packet_not_connect", SEQUENCE, WARN, "MQTT-3.1.0-1", "MQTT-3.1.0-1", \
      "The client's first packet is not CONNECT")                                                        \
    X(SECOND_CONNECT, RULE, "second_connect", SEQUENCE, WARN, "MQTT-3.1.0-2", "MQTT-3.1.0-2",             \
      "Second CONNECT on the same connection")                                                           \
    X(SERVER_BEFORE_CONNACK, RULE, "server_packet_before_connack", SEQUENCE, WARN, "MQTT-3.2.0-1",        \
      "MQTT-3.2.0-1", "Server packet before CONNACK")                                                    \
    X(SECOND_CONNACK, RULE, "second_connack", SEQUENCE, WARN, "§3.2", "MQTT-3.2.0-2",                     \
      "Second CONNACK on the same connection")                                                           \
    X(AFTER_DISCONNECT, RULE, "packet_after_disconnect", SEQUENCE, WARN, "MQTT-3.14.4-2", "MQTT-3.14.4-1", \
      "Packet sent after this side's DISCONNECT")                                                        \
    X(SERVER_AFTER_REFUSAL, RULE, "server_packet_after_refusal", SEQUENCE, WARN, "MQTT-3.2.2-5",         \
      "MQTT-3.2.2-7", "Server keeps talking after refusing the connection")                              \
    X(SERVER_DISCONNECT_EARLY, RULE, "server_disconnect_before_connack", SEQUENCE, WARN, NULL,           \
      "MQTT-3.14.0-1", "Server DISCONNECT without a successful CONNACK")                                  \
    X(BEFORE_CONNACK_WITH_AUTH, RULE, "packet_during_authentication", SEQUENCE, WARN, NULL,               \
      "MQTT-3.1.2-30", "Client packet other than AUTH or DISCONNECT before CONNACK while authenticating") \
    X(AUTH_UNANNOUNCED_SERVER, RULE, "server_auth_without_connect_method", SEQUENCE, WARN, NULL,         \
      "MQTT-4.12.0-6", "Server sends AUTH or an Authentication Method although CONNECT had none")       \
    X(AUTH_UNANNOUNCED_CLIENT, RULE, "client_auth_without_connect_method", SEQUENCE, WARN, NULL,         \
      "MQTT-4.12.0-7", "Client sends AUTH although its CONNECT had no Authentication Method")          \
    X(AUTH_METHOD_CHANGED, RULE, "auth_method_mismatch", SEQUENCE, WARN, NULL, "MQTT-4.12.0-5",           \
      "Authentication Method differs from the one in CONNECT")                                           \
    X(AUTH_CODE_SERVER, RULE, "server_auth_code_before_connack", SEQUENCE, WARN, NULL, "MQTT-4.12.0-2",   \
      "Server AUTH before CONNACK must carry 0x18 Continue authentication")                             \
    X(AUTH_CODE_CLIENT, RULE, "client_auth_code_before_connack", SEQUENCE, WARN, NULL, "MQTT-4.12.0-3",   \
      "Client AUTH before CONNACK must carry 0x18 Continue authentication")                             \
    X(SESSION_PRESENT_CLEAN, RULE, "connack_session_present_clean_start", SEQUENCE, WARN, "MQTT-3.2.2-1", \
      "MQTT-3.2.2-2", "Session Present is 1 although the CONNECT asked for a clean session")             \
    X(EMPTY_CLIENTID_REFUSAL, RULE, "connack_empty_clientid_persistent", SEQUENCE, WARN, "MQTT-3.1.3-8",  \
      NULL, "Zero-length Client Identifier with CleanSession 0 must be refused with return code 2")      \
    X(NO_ASSIGNED_CLIENTID, RULE, "connack_assigned_clientid_missing", SEQUENCE, WARN, NULL,             \
      "MQTT-3.2.2-16", "CONNACK accepts an empty Client Identifier without an Assigned Client Identifier") \
    X(RESPONSE_INFO_UNREQUESTED, RULE, "connack_response_information_unrequested", SEQUENCE, WARN, NULL,  \
      "MQTT-3.1.2-28", "Response Information sent although the client did not request it")              \
    X(PROBLEM_INFO_UNREQUESTED, RULE, "problem_information_unrequested", SEQUENCE, WARN, NULL,            \
      "MQTT-3.1.2-29", "Reason String or User Property sent although Request Problem Information is 0")  \
    X(WILL_QOS_ABOVE_MAXIMUM, RULE, "connack_will_qos_above_maximum", SEQUENCE, WARN, NULL,               \
      "MQTT-3.2.2-12", "Connection accepted with a Will QoS above the server's Maximum QoS")             \
    X(WILL_RETAIN_UNAVAILABLE, RULE, "connack_will_retain_unavailable", SEQUENCE, WARN, NULL,             \
      "MQTT-3.2.2-13", "Connection accepted with Will Retain although Retain Available is 0")            \
    X(SESSION_EXPIRY_RAISED, RULE, "disconnect_session_expiry_raised", SEQUENCE, WARN, NULL,              \
      "§3.14.2.2.2", "DISCONNECT sets a Session Expiry Interval although CONNECT had none")              \
    X(CLIENTID_REJECTED, RULE, "connack_valid_clientid_rejected", SEQUENCE, WARN, "MQTT-3.1.3-5",         \
      "MQTT-3.1.3-5", "Server rejects a Client Identifier of 1 to 23 characters [0-9a-zA-Z]")           \
    X(MALFORMED_CONNECT_ACCEPTED, RULE, "connack_malformed_connect_accepted", SEQUENCE, WARN, "MQTT-3.1.4-1", \
      "MQTT-3.1.4-1", "Server answers a malformed CONNECT instead of closing")                           \
    X(UNSUPPORTED_LEVEL_CODE, RULE, "connack_unsupported_level_code", SEQUENCE, WARN, "MQTT-3.1.2-2",     \
      NULL, "Unsupported Protocol Level must be refused with return code 0x01")                          \
    X(FAILURE_NOT_CLOSED, RULE, "connection_used_after_failure", SEQUENCE, WARN, NULL, "MQTT-4.13.2-1",   \
      "Connection still used after a DISCONNECT with a failure Reason Code")                            \
    X(SUBSCRIBE_QOS_REFUSED, RULE, "subscribe_refused_for_qos", SEQUENCE, WARN, NULL, "MQTT-3.2.2-10",    \
      "Server disconnects because a SUBSCRIBE asks for more than its Maximum QoS")                        \
    X(VALID_ALIAS_REJECTED_SERVER, RULE, "server_rejects_valid_topic_alias", SEQUENCE, WARN, NULL,        \
      "MQTT-3.3.2-12", "Server disconnects with 0x94 although the Topic Alias was within its maximum")    \
    X(VALID_ALIAS_REJECTED_CLIENT, RULE, "client_rejects_valid_topic_alias", SEQUENCE, WARN, NULL,        \
      "MQTT-3.3.2-10", "Client disconnects with 0x94 although the Topic Alias was within its maximum")    \
    X(UNKNOWN_ALIAS_ACCEPTED, RULE, "unknown_topic_alias_accepted", SEQUENCE, WARN, NULL, "MQTT-3.3.2-7", \
      "Receiver acknowledges a PUBLISH whose Topic Alias was never set on this connection")             \
    X(EARLY_KEEPALIVE_TIMEOUT, RULE, "keepalive_timeout_too_early", SEQUENCE, WARN, NULL, "MQTT-3.2.2-22", \
      "Server declares a Keep Alive timeout before 1.5 x Keep Alive of silence")                        \
    /* --- packet identifiers and flows --------------------------------------------------------- */    \
    X(ID_IN_USE, RULE, "packet_id_in_use", SEQUENCE, WARN, "MQTT-2.3.1-2", "MQTT-2.2.1-3",                \
      "New packet reuses a Packet Identifier that is still in use")                                      \
    X(ACK_UNKNOWN_ID, RULE, "ack_unknown_packet_id", SEQUENCE, WARN, "MQTT-2.3.1-6", "MQTT-2.2.1-5",      \
      "Acknowledgement for a Packet Identifier that is not in flight")                                   \
    X(SUBACK_UNKNOWN_ID, RULE, "suback_unknown_packet_id", SEQUENCE, WARN, "MQTT-2.3.1-7", "MQTT-2.2.1-6", \
      "SUBACK or UNSUBACK for a Packet Identifier with no outstanding request")                          \
    X(SUBACK_COUNT, RULE, "suback_count_mismatch", SEQUENCE, WARN, "MQTT-3.8.4-5", "MQTT-3.8.4-6",        \
      "SUBACK carries a different number of return codes than its SUBSCRIBE has filters")               \
    X(UNSUBACK_COUNT, RULE, "unsuback_count_mismatch", SEQUENCE, WARN, NULL, "MQTT-3.11.3-1",             \
      "UNSUBACK carries a different number of Reason Codes than its UNSUBSCRIBE has filters")           \
    X(DUP_RETRANSMISSION_V5, RULE, "retransmission_within_connection", SEQUENCE, WARN, NULL,              \
      "MQTT-4.4.0-1", "PUBLISH retransmitted on the same connection")                                    \
    X(PUBLISH_AFTER_PUBREL, RULE, "publish_after_pubrel", SEQUENCE, WARN, "MQTT-4.3.3-1", "MQTT-4.3.3-6", \
      "PUBLISH re-sent after its PUBREL")                                                                \
    X(FIRST_DUP, RULE, "first_transmission_dup", SEQUENCE, WARN, NULL, "MQTT-4.3.2-2",                    \
      "First transmission of a PUBLISH has DUP set")                                                     \
    X(RESPONSE_MISSING, RULE, "response_missing", SEQUENCE, WARN, NULL, NULL,                             \
      "No response although the peer went on sending")                                                   \
    X(ACK_ORDER, RULE, "client_ack_order", SEQUENCE, WARN, "MQTT-4.6.0-2", "MQTT-4.6.0-2",                \
      "Client acknowledges server packets out of the order they arrived")                               \
    X(RETRANSMIT_AFTER_ERROR, RULE, "retransmission_after_error_ack", SEQUENCE, WARN, NULL,               \
      "MQTT-4.4.0-2", "PUBLISH re-sent after an acknowledgement with a failure Reason Code")             \
    X(RECEIVE_MAXIMUM_CLIENT, RULE, "client_receive_maximum_exceeded", SEQUENCE, WARN, NULL,              \
      "MQTT-3.3.4-7", "Client has more unacknowledged QoS 1 and 2 PUBLISH packets than the server's Receive Maximum") \
    X(RECEIVE_MAXIMUM_SERVER, RULE, "server_receive_maximum_exceeded", SEQUENCE, WARN, NULL,              \
      "MQTT-3.3.4-9", "Server has more unacknowledged QoS 1 and 2 PUBLISH packets than the client's Receive Maximum") \
    X(PACKET_TOO_LARGE_CLIENT, RULE, "client_packet_too_large", SEQUENCE, WARN, NULL, "MQTT-3.2.2-15",    \
      "Client packet is larger than the server's Maximum Packet Size")                                   \
    X(PACKET_TOO_LARGE_SERVER, RULE, "server_packet_too_large", SEQUENCE, WARN, NULL, "MQTT-3.1.2-24",    \
      "Server packet is larger than the client's Maximum Packet Size")                                   \
    X(QOS_ABOVE_MAXIMUM, RULE, "publish_qos_above_maximum", SEQUENCE, WARN, NULL, "MQTT-3.2.2-11",        \
      "PUBLISH QoS is above the server's Maximum QoS")                                                   \
    X(RETAIN_UNAVAILABLE, RULE, "publish_retain_unavailable", SEQUENCE, WARN, NULL, "MQTT-3.2.2-14",      \
      "PUBLISH with RETAIN although the server said Retain Available 0")                                 \
    X(CAPABILITY_UNAVAILABLE, RULE, "subscribe_capability_unavailable", SEQUENCE, WARN, NULL,             \
      "§3.2.2.3.11-13", "SUBSCRIBE uses a feature the server said it does not support")                  \
    X(SUB_ID_UNKNOWN, RULE, "publish_subscription_id_unknown", SEQUENCE, WARN, NULL, "§3.3.4",            \
      "Server PUBLISH carries a Subscription Identifier the client never used")                          \
    /* --- deliveries against the subscriptions (heuristic, fresh sessions only) ---------------- */  \
    X(GRANTED_ABOVE_REQUESTED, RULE, "suback_granted_above_requested", SEQUENCE, WARN, "MQTT-3.9.3-1",     \
      "MQTT-3.9.3-1", "SUBACK grants a higher QoS than requested")                                       \
    X(DELIVERY_UNSUBSCRIBED, RULE, "delivery_without_subscription", SEQUENCE, WARN, "MQTT-3.3.2-3",       \
      "MQTT-3.3.2-3", "Server PUBLISH matches none of the client's subscriptions")                       \
    X(DOLLAR_WILDCARD, RULE, "dollar_topic_wildcard_match", SEQUENCE, WARN, "MQTT-4.7.2-1",               \
      "MQTT-4.7.2-1", "Topic starting with '$' delivered on a filter starting with a wildcard")          \
    X(DELIVERY_QOS, RULE, "delivery_qos_above_granted", SEQUENCE, WARN, "MQTT-3.8.4-6", "MQTT-3.8.4-8",   \
      "Server PUBLISH has a higher QoS than any matching subscription was granted")                      \
    X(DELIVERY_QOS_BELOW_MAXIMUM, RULE, "delivery_qos_below_matching_maximum", SEQUENCE, WARN, "MQTT-3.3.5-1", \
      "MQTT-3.3.4-2", "Message delivered at a lower QoS than both its own and the highest granted to a matching subscription") \
    X(DELIVERY_SUB_ID, RULE, "delivery_subscription_id_missing", SEQUENCE, WARN, NULL,                    \
      "MQTT-3.3.4-3 / MQTT-3.3.4-4", "Server PUBLISH lacks the Subscription Identifier of a matching subscription") \
    X(NO_LOCAL_ECHO, RULE, "no_local_echo", SEQUENCE, WARN, NULL, "MQTT-3.8.3-3",                          \
      "Client's own publication delivered back although No Local is 1")                                  \
    X(RETAIN_NOT_CLEARED, RULE, "delivery_retain_not_cleared", SEQUENCE, WARN, "MQTT-3.3.1-9",           \
      "MQTT-3.3.1-12", "Message forwarded on an existing subscription keeps RETAIN 1")                   \
    X(RETAIN_NOT_PRESERVED, RULE, "delivery_retain_not_as_published", SEQUENCE, WARN, NULL,               \
      "MQTT-3.3.1-13", "RETAIN differs from the published message although Retain As Published is 1")    \
    X(RETAIN_HANDLING_2, RULE, "delivery_retained_despite_handling_2", SEQUENCE, WARN, NULL,              \
      "MQTT-3.3.1-11", "Retained message sent although Retain Handling is 2")                            \
    /* --- topic aliases --------------------------------------------------------------------------- */ \
    X(ALIAS_ABOVE_MAXIMUM_CLIENT, RULE, "client_topic_alias_above_maximum", SEQUENCE, WARN, NULL,         \
      "MQTT-3.3.2-9", "Client Topic Alias is above the server's Topic Alias Maximum")                    \
    X(ALIAS_ABOVE_MAXIMUM_SERVER, RULE, "server_topic_alias_above_maximum", SEQUENCE, WARN, NULL,         \
      "MQTT-3.3.2-11", "Server Topic Alias is above the client's Topic Alias Maximum")                   \
    X(ALIAS_NOT_ALLOWED_CLIENT, RULE, "client_topic_alias_not_allowed", SEQUENCE, WARN, NULL,             \
      "MQTT-3.2.2-18", "Client uses a Topic Alias although the server's Topic Alias Maximum is 0")       \
    X(ALIAS_NOT_ALLOWED_SERVER, RULE, "server_topic_alias_not_allowed", SEQUENCE, WARN, NULL,             \
      "MQTT-3.1.2-27", "Server uses a Topic Alias although the client's Topic Alias Maximum is 0")       \
    X(ALIAS_UNKNOWN, RULE, "topic_alias_unknown", SEQUENCE, WARN, NULL, "§3.3.4",                         \
      "Topic Alias used with an empty Topic Name before it was set on this connection")                  \
    /* --- timing ---------------------------------------------------------------------------------- */ \
    X(KEEPALIVE_EXCEEDED, RULE, "keepalive_exceeded", SEQUENCE, WARN, "MQTT-3.1.2-23", "MQTT-3.1.2-20",   \
      "Client was silent for longer than its Keep Alive")                                                \
    X(KEEPALIVE_NOT_ENFORCED, RULE, "keepalive_not_enforced", SEQUENCE, WARN, "MQTT-3.1.2-24",            \
      "MQTT-3.1.2-22", "Connection still open after more than 1.5 x Keep Alive without client packets")  \
    /* --- analysis ------------------------------------------------------------------------------- */  \
    X(NO_RESPONSE, ANALYSIS, "no_response", SEQUENCE, NOTE, NULL, NULL,                                   \
      "No response in the capture")                                                                      \
    X(UNSOLICITED, ANALYSIS, "unsolicited_response", SEQUENCE, NOTE, NULL, NULL,                          \
      "Response without a request in the capture")                                                       \
    X(RETRANSMISSION, ANALYSIS, "retransmission", SEQUENCE, NOTE, NULL, NULL,                             \
      "Retransmission (DUP)")                                                                            \
    X(DUPLICATE_RESPONSE, ANALYSIS, "duplicate_response", SEQUENCE, NOTE, NULL, NULL,                     \
      "Response repeats an earlier response of the same flow")                                           \
    /* [MQTT-4.3.3-4] asks for a PUBREL after a PUBREC below 0x80 only; after a failed one the      \
     * identifier is free (§2.2.1) and a PUBREL breaks no MUST: the receiver answers PUBCOMP 0x92. */  \
    X(PUBREL_AFTER_ERROR, ANALYSIS, "pubrel_after_failed_pubrec", SEQUENCE, NOTE, NULL, NULL,             \
      "PUBREL for a flow its PUBREC ended with a failure Reason Code (the Packet Identifier was free)")  \
    X(QOS2_INCOMPLETE, ANALYSIS, "qos2_incomplete", SEQUENCE, NOTE, NULL, NULL,                           \
      "QoS 2 flow left half done")                                                                       \
    X(RESUMED_SESSION_ACK, ANALYSIS, "previous_session_flow", SEQUENCE, CHAT, NULL, NULL,                 \
      "Acknowledgement of a flow from a previous connection of a resumed session")                      \
    X(MID_CONNECTION, ANALYSIS, "capture_starts_mid_connection", ASSUMPTION, NOTE, NULL, NULL,            \
      "Capture starts after the connection was set up; the CONNECT is not in it")                       \
    X(VERSION_INFERRED, ANALYSIS, "version_inferred", ASSUMPTION, CHAT, NULL, NULL,                       \
      "Protocol version inferred from this packet's bytes")                                              \
    X(ALIAS_UNRESOLVED, ANALYSIS, "topic_alias_unresolved", ASSUMPTION, NOTE, NULL, NULL,                 \
      "Topic Alias stands for a topic the analysis does not know")                                       \
    X(CLOSED_WITHOUT_DISCONNECT, ANALYSIS, "closed_without_disconnect", SEQUENCE, NOTE, NULL, NULL,       \
      "Connection closed without DISCONNECT")                                                            \
    X(DELIVERY_MISSED, ANALYSIS, "delivery_missed", SEQUENCE, NOTE, NULL, NULL,                           \
      "A subscriber with a matching granted subscription got no copy of the message (heuristic)")        \
    X(JOURNEY_CAP, ANALYSIS, "journey_limit", PROTOCOL, NOTE, NULL, NULL,                                  \
      "Message journey limit of a broker reached; some matching stops")                                  \
    X(STATE_CAP, ANALYSIS, "state_limit", PROTOCOL, NOTE, NULL, NULL,                                      \
      "Per-connection analysis limit reached; some tracking stops")                                      \
    /* --- payloads (user rules, mqtt_payload.c) ----------------------------------------------------- */  \
    X(PAYLOAD_NOT_INFLATED, ANALYSIS, "payload_not_inflated", UNDECODED, WARN, NULL, NULL,              \
      "Payload rule asks for zlib, but the payload does not inflate")                                    \
    X(PAYLOAD_DISSECTOR_MISSING, ANALYSIS, "payload_dissector_missing", UNDECODED, NOTE, NULL, NULL,    \
      "Payload rule names a dissector that is not available")                                            \
    /* --- security ------------------------------------------------------------------------------- */  \
    X(CLEARTEXT_PASSWORD, SECURITY, "cleartext_password", SECURITY, WARN, NULL, NULL,                     \
      "Password sent in clear text (no TLS)")                                                            \
    X(AUTH_FAILED, SECURITY, "authentication_failed", SECURITY, WARN, NULL, NULL,                         \
      "Authentication failed")                                                                           \
    X(REPEATED_AUTH_FAILURES, SECURITY, "repeated_authentication_failures", SECURITY, WARN, NULL, NULL,   \
      "Repeated authentication failures from one address")                                              \
    X(ANONYMOUS_ACCEPTED, SECURITY, "anonymous_accepted", SECURITY, NOTE, NULL, NULL,                     \
      "Server accepted a connection without a user name")                                                \
    X(WIDE_SUBSCRIPTION, SECURITY, "wide_subscription", SECURITY, NOTE, NULL, NULL,                       \
      "Subscription to every topic")

enum mqtt_rule {
#define MQTT_RULE_ENUM(e, fam, name, grp, sev, id3, id5, text) MQTT_R_##e,
    MQTT_RULES(MQTT_RULE_ENUM)
#undef MQTT_RULE_ENUM
    MQTT_RULE_COUNT
};

typedef struct {
    const char *abbrev;      /* after "mqttlens.": "<family>.<name>" */
    enum mqtt_family family;
    enum mqtt_group group;
    enum mqtt_severity severity;
    const char *id_v311;     /* statement id or section for 3.1/3.1.1, NULL if n/a */
    const char *id_v5;       /* statement id or section for 5.0, NULL if n/a */
    const char *summary;
} mqtt_rule_spec_t;

extern const mqtt_rule_spec_t mqtt_rule_specs[MQTT_RULE_COUNT];

/* The name of a family ("rule"). */
const char *mqtt_family_name(enum mqtt_family family);

/* The reference to cite for `rule` on a connection of protocol level
 * `version` (0 when unknown): "MQTT-3.3.2-2", "§2.2.2.2", or NULL. */
const char *mqtt_rule_ref(enum mqtt_rule rule, unsigned version);

/* The statement that obliges the peer to answer a packet of `type` sent by
 * `sender`, or NULL when leaving it unanswered breaks no rule by itself. */
const char *mqtt_missing_response_ref(unsigned type, unsigned version, enum mqtt_dir sender);

#endif
