/* mqtt_wire.h — stateless decoding of MQTT control packets into a model.
 *
 * The decoder reads the bytes of one complete MQTT control packet (fixed
 * header included) and produces an mqtt_pkt_t: every field with its value
 * and its position, plus the findings about bytes that cannot be what the
 * specification says.  It keeps no state between packets and does not
 * depend on libwireshark (only on wmem for memory), so it is unit-tested and
 * fuzzed on its own.  All offsets are relative to the first byte of the
 * packet.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_WIRE_H
#define MQTT_WIRE_H

#include <stdbool.h>
#include <stdint.h>

#include <wsutil/wmem/wmem.h>

#include "mqtt_rules.h"
#include "mqtt_spec.h"

#define MQTT_MAX_REMAINING_LENGTH 268435455u /* 0xFF 0xFF 0xFF 0x7F */

typedef struct {
    uint32_t off;
    uint32_t len;
} mqtt_span_t;

/* ---- primitives ---------------------------------------------------------- */

enum mqtt_vbi_status {
    MQTT_VBI_OK,
    MQTT_VBI_TRUNCATED, /* the buffer ends while bit 7 says more bytes follow */
    MQTT_VBI_TOO_LONG,  /* the 4th byte still has bit 7 set */
};

typedef struct {
    uint32_t value;
    uint8_t nbytes;   /* bytes read (on TOO_LONG: 4) */
    bool minimal;     /* encoded in the fewest bytes possible */
} mqtt_vbi_t;

enum mqtt_vbi_status mqtt_vbi_decode(const uint8_t *p, uint32_t avail, mqtt_vbi_t *out);
/* Bytes needed to encode `value` minimally (1..4), 0 if above the maximum. */
unsigned mqtt_vbi_size(uint32_t value);

/* Result bits of mqtt_utf8_check(). */
enum {
    MQTT_UTF8_BAD = 1 << 0,      /* not well-formed (RFC 3629, no surrogates) */
    MQTT_UTF8_NUL = 1 << 1,      /* contains U+0000 */
    MQTT_UTF8_CONTROL = 1 << 2,  /* U+0001-U+001F, U+007F-U+009F or a non-character */
};
unsigned mqtt_utf8_check(const uint8_t *p, uint32_t len);
/* The same check, stopped at the first problem in `stop` (MQTT_UTF8_*
 * bits): its result has all of those bits the bytes deserve, the others
 * only as far as the scan went. */
unsigned mqtt_utf8_scan(const uint8_t *p, uint32_t len, unsigned stop);

/* A 64-bit hash of bytes, for telling topics and payloads apart (equal
 * bytes, equal hash); not made to resist someone who wants a collision. */
uint64_t mqtt_hash64(const uint8_t *p, uint32_t len);

/* A length-prefixed field: UTF-8 Encoded String or Binary Data. */
enum {
    MQTT_STR_PRESENT = 1 << 0,
    MQTT_STR_TRUNCATED = 1 << 1, /* length prefix or data runs past the end */
    MQTT_STR_CHECKED = 1 << 2,   /* `utf8` holds mqtt_utf8_check() of the data */
};
typedef struct {
    mqtt_span_t field;   /* the 2-byte length and the data */
    mqtt_span_t data;    /* the data only */
    const uint8_t *bytes;
    uint8_t flags;       /* MQTT_STR_* */
    uint8_t utf8;        /* MQTT_UTF8_* (strings only) */
} mqtt_str_t;

/* A checked UTF-8 Encoded String's text, as a NUL-terminated copy in
 * `mem`: its bytes unchanged when they are well-formed UTF-8 without
 * U+0000, so that no replacement is needed; NULL otherwise. */
char *mqtt_str_text(wmem_allocator_t *mem, const mqtt_str_t *s);

/* ---- findings ------------------------------------------------------------- */

typedef struct {
    uint16_t rule;       /* enum mqtt_rule */
    mqtt_span_t span;    /* the offending bytes */
    const char *detail;  /* optional specifics, e.g. the field's name */
    const char *ref;     /* statement id or section when more precise than the rule's */
} mqtt_finding_t;

typedef struct {
    mqtt_finding_t *items;
    uint32_t count;
    uint32_t capacity;
} mqtt_findings_t;

void mqtt_finding_add(wmem_allocator_t *scope, mqtt_findings_t *list, enum mqtt_rule rule,
                      mqtt_span_t span, const char *detail);
/* The same, citing `ref` instead of the rule's generic reference (e.g. the
 * section of one property, or the statement of one packet type). */
void mqtt_finding_add_ref(wmem_allocator_t *scope, mqtt_findings_t *list, enum mqtt_rule rule,
                          mqtt_span_t span, const char *detail, const char *ref);

/* ---- the packet model ------------------------------------------------------ */

typedef struct {
    uint32_t id;
    const mqtt_prop_spec_t *spec; /* NULL when the identifier is unknown */
    mqtt_span_t span;             /* identifier and value */
    mqtt_span_t id_span;
    mqtt_span_t value_span;
    uint32_t num;                 /* Byte, Two/Four Byte Integer, VBI */
    mqtt_str_t str;               /* UTF-8, Binary, or the name of a pair */
    mqtt_str_t str2;              /* the value of a pair */
} mqtt_prop_t;

typedef struct {
    bool present;
    mqtt_span_t len_span;  /* the Property Length VBI */
    uint32_t length;       /* its value */
    mqtt_span_t span;      /* the properties themselves */
    mqtt_prop_t *items;
    uint32_t count;
    bool stopped;          /* decoding stopped early (unknown identifier, truncation) */
    mqtt_span_t undecoded; /* the bytes after the stop */
} mqtt_props_t;

typedef struct {
    mqtt_str_t filter;
    bool has_options;
    uint8_t options;       /* 3.1.1: requested QoS byte; 5.0: Subscription Options */
    mqtt_span_t options_span;
} mqtt_filter_t;

typedef struct {
    uint8_t code;
    uint32_t off;
} mqtt_code_t;

/* Connect Flags (3.1.1 §3.1.2.3, 5.0 §3.1.2.3). */
#define MQTT_CF_RESERVED 0x01
#define MQTT_CF_CLEAN 0x02
#define MQTT_CF_WILL 0x04
#define MQTT_CF_WILL_QOS 0x18
#define MQTT_CF_WILL_RETAIN 0x20
#define MQTT_CF_PASSWORD 0x40
#define MQTT_CF_USERNAME 0x80

typedef struct {
    const uint8_t *raw;     /* the packet's bytes (valid while they are) */

    /* fixed header */
    uint8_t type;
    uint8_t flags;          /* low nibble of byte 1 */
    uint8_t version;        /* protocol level the packet was decoded as */
    uint32_t remaining_length;
    mqtt_span_t rl_span;
    bool framed;            /* the Remaining Length was read */
    uint32_t total_len;     /* 1 + Remaining Length bytes + Remaining Length */
    bool capture_short;     /* fewer bytes captured than the packet has */

    /* CONNECT */
    mqtt_str_t protocol_name;
    uint8_t level;
    mqtt_span_t level_span;
    uint8_t connect_flags;
    mqtt_span_t connect_flags_span;
    uint16_t keepalive;
    mqtt_span_t keepalive_span;
    mqtt_str_t client_id;
    mqtt_props_t will_props;
    mqtt_str_t will_topic;
    mqtt_str_t will_payload;
    mqtt_str_t username;
    mqtt_str_t password;

    /* CONNACK */
    uint8_t ack_flags;
    mqtt_span_t ack_flags_span;

    /* reason / return code: CONNACK, acks, DISCONNECT, AUTH */
    bool has_reason;
    uint8_t reason;
    mqtt_span_t reason_span;

    /* PUBLISH */
    mqtt_str_t topic;
    mqtt_span_t payload;

    /* Packet Identifier */
    bool has_packet_id;
    uint16_t packet_id;
    mqtt_span_t packet_id_span;

    /* properties of the packet (5.0) */
    mqtt_props_t props;

    /* SUBSCRIBE / UNSUBSCRIBE */
    mqtt_filter_t *filters;
    uint32_t filter_count;

    /* SUBACK / UNSUBACK */
    mqtt_code_t *codes;
    uint32_t code_count;

    mqtt_findings_t findings;
} mqtt_pkt_t;

/* ---- framing ---------------------------------------------------------------- */

enum mqtt_frame_status {
    MQTT_FRAME_OK,
    MQTT_FRAME_NEED_MORE, /* the Remaining Length field is not complete yet */
    MQTT_FRAME_BAD,       /* the Remaining Length field has more than 4 bytes */
};

typedef struct {
    uint8_t header_len;   /* 1 + Remaining Length bytes */
    uint32_t remaining_length;
    uint64_t total_len;
} mqtt_frame_t;

/* Reads the fixed header at p[0..avail). */
enum mqtt_frame_status mqtt_frame(const uint8_t *p, uint32_t avail, mqtt_frame_t *out);

/* ---- decoding -------------------------------------------------------------- */

/* Decodes one control packet.  `p` holds `avail` bytes of it (fewer than the
 * packet's size only when the capture cut it short).  `version` is the
 * protocol level to decode with (3, 4 or 5).  Never fails: problems become
 * findings; missing fields stay absent. */
mqtt_pkt_t *mqtt_decode(wmem_allocator_t *scope, const uint8_t *p, uint32_t avail, unsigned version);

/* Whether a decoded packet contains findings of the malformed group, i.e.
 * whether its bytes fit the version it was decoded as. */
bool mqtt_pkt_is_malformed(const mqtt_pkt_t *pkt);

/* Whether a 5.0 ack (PUBACK, PUBREC, PUBREL, PUBCOMP), DISCONNECT or AUTH
 * left its Reason Code out, which then means 0x00 (§3.4.2.1, §3.14.2.1,
 * §3.15.2.1): its bytes are whole and fit the version, and the code is
 * not there. */
bool mqtt_pkt_reason_implied(const mqtt_pkt_t *pkt);

/* Finds the first property `id` in `props`, NULL if absent. */
const mqtt_prop_t *mqtt_props_find(const mqtt_props_t *props, uint32_t id);

/* The version a packet's own bytes point to when the connection's CONNECT
 * was not seen: MQTT_V5 or MQTT_V311 when exactly one decodes cleanly,
 * 0 when both (or neither) do. */
unsigned mqtt_guess_version(wmem_allocator_t *scope, const uint8_t *p, uint32_t len);

#endif
