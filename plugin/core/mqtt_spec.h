/* mqtt_spec.h — the tables of the MQTT 3.1, 3.1.1 and 5.0 specifications.
 *
 * Everything here is data taken from the specifications: control packet
 * types with their fixed-header flags and directions, the 5.0 properties
 * with their data types and the packets that may carry them, and the reason
 * / return codes.  Decoding, checks and presentation all read these tables;
 * nothing here depends on libwireshark.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_SPEC_H
#define MQTT_SPEC_H

#include <stdbool.h>
#include <stdint.h>

/* Protocol Level byte of CONNECT. */
enum {
    MQTT_V31 = 3,  /* "MQIsdp" */
    MQTT_V311 = 4, /* "MQTT" */
    MQTT_V5 = 5,
};

/* Control packet types (fixed header byte 1, bits 7-4). */
enum mqtt_type {
    MQTT_RESERVED0 = 0,
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_PUBREC = 5,
    MQTT_PUBREL = 6,
    MQTT_PUBCOMP = 7,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14,
    MQTT_AUTH = 15, /* 5.0 only; reserved before */
};

/* A bit set of packet types.  Bit 0 (type 0 is never a valid context)
 * stands for the Will Properties of CONNECT, which have a property set of
 * their own. */
typedef uint16_t mqtt_type_mask;
#define MQTT_BIT(t) ((mqtt_type_mask)(1u << (t)))
#define MQTT_WILL_CONTEXT 0
#define MQTT_ACKS (MQTT_BIT(MQTT_PUBACK) | MQTT_BIT(MQTT_PUBREC) | MQTT_BIT(MQTT_PUBREL) | MQTT_BIT(MQTT_PUBCOMP))

/* Who sent a packet. */
enum mqtt_dir { MQTT_C2S = 0, MQTT_S2C = 1 };
#define MQTT_DIR_BIT(d) (1u << (d))
#define MQTT_FROM_CLIENT MQTT_DIR_BIT(MQTT_C2S)
#define MQTT_FROM_SERVER MQTT_DIR_BIT(MQTT_S2C)
#define MQTT_FROM_BOTH (MQTT_FROM_CLIENT | MQTT_FROM_SERVER)

/* PUBLISH fixed-header flags (3.1.1 §3.3.1, 5.0 §3.3.1). */
#define MQTT_PUBLISH_DUP 0x08
#define MQTT_PUBLISH_QOS_MASK 0x06
#define MQTT_PUBLISH_RETAIN 0x01
#define MQTT_PUBLISH_QOS(flags) (((unsigned)(flags) & MQTT_PUBLISH_QOS_MASK) >> 1)

/* Subscription Options byte of SUBSCRIBE (5.0 §3.8.3.1; 3.1.1 has the
 * Requested QoS only, the other bits reserved). */
#define MQTT_SO_QOS_MASK 0x03
#define MQTT_SO_NO_LOCAL 0x04
#define MQTT_SO_RETAIN_AS_PUBLISHED 0x08
#define MQTT_SO_RETAIN_HANDLING_MASK 0x30
#define MQTT_SO_RESERVED_MASK 0xC0       /* 5.0 */
#define MQTT_SO_RESERVED_V311_MASK 0xFC  /* 3.1.1: all but the Requested QoS */
#define MQTT_SO_QOS(options) ((unsigned)(options) & MQTT_SO_QOS_MASK)
#define MQTT_SO_RETAIN_HANDLING(options) (((unsigned)(options) & MQTT_SO_RETAIN_HANDLING_MASK) >> 4)

/* A Shared Subscription's Topic Filter starts with this (5.0 §4.8.2). */
#define MQTT_SHARE_PREFIX "$share/"
#define MQTT_SHARE_PREFIX_LEN 7u

/* Whether Topic Filter f[0..len) names a Shared Subscription. */
bool mqtt_filter_is_shared(const uint8_t *f, uint32_t len);

/* Fixed header flags that are not PUBLISH's DUP/QoS/RETAIN. */
#define MQTT_FLAGS_VARIABLE 0xFF /* PUBLISH: DUP, QoS, RETAIN */

/* A statement id (or section) per version: 3.1 / 3.1.1, and 5.0. */
typedef struct {
    const char *v311;
    const char *v5;
} mqtt_ids_t;

/* The request/response flows a connection tracks by Packet Identifier. */
enum mqtt_flow { MQTT_FLOW_NONE, MQTT_FLOW_PUB1, MQTT_FLOW_PUB2, MQTT_FLOW_SUB, MQTT_FLOW_UNSUB };

/* The exchanges whose response times are measured (the rows of the
 * service response time table). */
enum mqtt_exchange {
    MQTT_X_NONE,
    MQTT_X_CONNECT,
    MQTT_X_SUBSCRIBE,
    MQTT_X_UNSUBSCRIBE,
    MQTT_X_PINGREQ,
    MQTT_X_PUB1,
    MQTT_X_PUB2,
    MQTT_X_AUTH,
};

typedef struct {
    const char *name;     /* as in the specification, e.g. "PUBREL" */
    uint8_t fixed_flags;  /* required low nibble, or MQTT_FLAGS_VARIABLE */
    uint8_t dir_v3;       /* senders allowed in 3.1 / 3.1.1 (0 = forbidden type) */
    uint8_t dir_v5;       /* senders allowed in 5.0 (0 = forbidden type) */
    bool has_packet_id;   /* always carries a Packet Identifier */
    uint16_t flags_rule;  /* enum mqtt_rule: the fixed-header flags are wrong */
    uint16_t reason_rule; /* enum mqtt_rule: a 5.0 reason code not allowed here (packets with one) */
    uint8_t awaits;       /* the type that answers it (PUBLISH: at QoS 1), 0 for none */
    uint8_t answers;      /* enum mqtt_flow: the flow whose request it answers */
    uint8_t closes;       /* enum mqtt_exchange: the exchange whose response time it ends */
    bool qos2_step;       /* a middle step of the QoS 2 flow (PUBREC, PUBREL) */
    mqtt_ids_t unknown_id; /* an acknowledgement for a Packet Identifier not in use breaks these */
    mqtt_ids_t no_answer; /* leaving it unanswered breaks these (sent by the client) */
    mqtt_ids_t no_answer_to_client; /* the same, sent by the server (the client must answer) */
} mqtt_type_spec_t;

const mqtt_type_spec_t *mqtt_type_spec(unsigned type);
const char *mqtt_type_name(unsigned type);
/* The id of `ids` that applies to protocol level `version`. */
const char *mqtt_ids_for(const mqtt_ids_t *ids, unsigned version);
/* The name of the packet type that answers a packet of `type` (PUBLISH at
 * `qos`), "response" when none does. */
const char *mqtt_awaited_response(unsigned type, unsigned qos);

/* Data types of 5.0 properties (§2.2.2.2 Table 2-4). */
enum mqtt_prop_type {
    MQTT_PT_BYTE,
    MQTT_PT_TWO,     /* Two Byte Integer */
    MQTT_PT_FOUR,    /* Four Byte Integer */
    MQTT_PT_VBI,     /* Variable Byte Integer */
    MQTT_PT_UTF8,    /* UTF-8 Encoded String */
    MQTT_PT_BINARY,  /* Binary Data */
    MQTT_PT_PAIR,    /* UTF-8 String Pair */
};

/* Property identifiers. */
enum {
    MQTT_PROP_PAYLOAD_FORMAT_INDICATOR = 0x01,
    MQTT_PROP_MESSAGE_EXPIRY_INTERVAL = 0x02,
    MQTT_PROP_CONTENT_TYPE = 0x03,
    MQTT_PROP_RESPONSE_TOPIC = 0x08,
    MQTT_PROP_CORRELATION_DATA = 0x09,
    MQTT_PROP_SUBSCRIPTION_IDENTIFIER = 0x0B,
    MQTT_PROP_SESSION_EXPIRY_INTERVAL = 0x11,
    MQTT_PROP_ASSIGNED_CLIENT_IDENTIFIER = 0x12,
    MQTT_PROP_SERVER_KEEP_ALIVE = 0x13,
    MQTT_PROP_AUTHENTICATION_METHOD = 0x15,
    MQTT_PROP_AUTHENTICATION_DATA = 0x16,
    MQTT_PROP_REQUEST_PROBLEM_INFORMATION = 0x17,
    MQTT_PROP_WILL_DELAY_INTERVAL = 0x18,
    MQTT_PROP_REQUEST_RESPONSE_INFORMATION = 0x19,
    MQTT_PROP_RESPONSE_INFORMATION = 0x1A,
    MQTT_PROP_SERVER_REFERENCE = 0x1C,
    MQTT_PROP_REASON_STRING = 0x1F,
    MQTT_PROP_RECEIVE_MAXIMUM = 0x21,
    MQTT_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
    MQTT_PROP_TOPIC_ALIAS = 0x23,
    MQTT_PROP_MAXIMUM_QOS = 0x24,
    MQTT_PROP_RETAIN_AVAILABLE = 0x25,
    MQTT_PROP_USER_PROPERTY = 0x26,
    MQTT_PROP_MAXIMUM_PACKET_SIZE = 0x27,
    MQTT_PROP_WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28,
    MQTT_PROP_SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29,
    MQTT_PROP_SHARED_SUBSCRIPTION_AVAILABLE = 0x2A,
};

/* How a property's value is constrained beyond its data type. */
enum mqtt_prop_range {
    MQTT_PR_ANY,
    MQTT_PR_BOOL,      /* 0 or 1 */
    MQTT_PR_NONZERO,   /* 0 is a Protocol Error */
};

typedef struct {
    uint8_t id;
    const char *name;       /* "Topic Alias Maximum" */
    const char *field;      /* "topic_alias_maximum": mqttlens.prop.<field> */
    enum mqtt_prop_type type;
    mqtt_type_mask allowed; /* packets (and MQTT_WILL_CONTEXT) that may carry it */
    mqtt_type_mask repeatable; /* packets in which it may appear more than once */
    enum mqtt_prop_range range;
} mqtt_prop_spec_t;

extern const mqtt_prop_spec_t mqtt_props[];
extern const unsigned mqtt_props_count;

/* NULL for an identifier that the specification does not define. */
const mqtt_prop_spec_t *mqtt_prop_spec(uint32_t id);

/* The 5.0 section that defines property `id` in `context` (a packet type
 * or MQTT_WILL_CONTEXT), e.g. "§3.2.2.3.3" for Receive Maximum in CONNACK;
 * the packet's property section when the property does not belong there;
 * "" for a context without properties. */
const char *mqtt_prop_section(unsigned context, uint32_t id, char *buf, unsigned size);

/* Reason codes (5.0 §2.4 Table 2-6 and the per-packet tables of chapter 3).
 * One row per (code, meaning); 0x00 has three names. */
typedef struct {
    uint8_t code;
    const char *name;
    mqtt_type_mask by_client; /* packets in which the client may send it */
    mqtt_type_mask by_server; /* packets in which the server may send it */
    bool refuses_login;       /* in CONNACK: the login was refused (authentication failed) */
} mqtt_reason_spec_t;

extern const mqtt_reason_spec_t mqtt_reasons[];
extern const unsigned mqtt_reasons_count;

/* Name of a 5.0 reason code as it reads in packet `type`; the generic name
 * when the code is not listed for that packet; NULL when undefined. */
const char *mqtt_reason_name(uint8_t code, unsigned type);
/* Whether `code` may be sent in `type` by the given sender. */
bool mqtt_reason_allowed(uint8_t code, unsigned type, enum mqtt_dir sender);
/* Whether `code` may be sent in `type` by either party. */
bool mqtt_reason_allowed_any(uint8_t code, unsigned type);

/* 3.1 / 3.1.1 CONNACK return codes (3.1.1 Table 3.1); NULL when reserved. */
const char *mqtt_v3_connack_name(uint8_t code);
/* Whether a CONNACK with `code` refuses the client's login (the
 * authentication failed), at protocol level `version`. */
bool mqtt_connack_refuses_login(unsigned version, uint8_t code);
/* 3.1.1 SUBACK return codes: 0x00-0x02 granted QoS, 0x80 failure. */
const char *mqtt_v3_suback_name(uint8_t code);

/* The name of a protocol level ("3.1", "3.1.1", "5.0"), NULL if unknown. */
const char *mqtt_version_name(unsigned level);
/* The Protocol Level byte's name, the bridge flag (bit 7) included. */
const char *mqtt_level_name(unsigned level);

/* Failure / success split of reason codes (§2.4). */
static inline bool mqtt_reason_is_failure(uint8_t code) { return code >= 0x80; }

#endif
