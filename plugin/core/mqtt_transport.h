/* mqtt_transport.h — what the transports MQTT travels on require, and how
 * MQTT is recognised on a connection nothing else names as MQTT.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_TRANSPORT_H
#define MQTT_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <wsutil/wmem/wmem.h>

#include "mqtt_wire.h"

/* Whether p[0..len), the first bytes a client sent on a connection, start
 * an MQTT CONNECT: fixed header 0x10, a Remaining Length of at most four
 * bytes that leaves room for the variable header, protocol name "MQTT"
 * (levels 3 to 5) or "MQIsdp" (3.1), a reserved connect flag of 0 with
 * "MQTT", a Will QoS other than 3, and a client identifier (5.0: after a
 * well-formed Property Length) that fits in the Remaining Length.  What
 * lies beyond p is not judged: a segment that ends after the Protocol Level
 * is enough. */
bool mqtt_looks_like_connect(const uint8_t *p, uint32_t len);

/* The number of MQTT packets p[0..len) consists of, exactly and with
 * nothing left over, each well-formed as 3.1.1 or as 5.0 (the fixed-header
 * flags its type requires, no finding of the malformed group, no reserved
 * type); 0 when it is not such a run.
 * `scope` holds the decoding's memory. */
unsigned mqtt_count_well_formed(wmem_allocator_t *scope, const uint8_t *p, uint32_t len);

/* Which side sent p[0..len), a run of whole MQTT packets, as far as their
 * types tell: MQTT_FROM_CLIENT for a run with a packet only clients send
 * (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, ...), MQTT_FROM_SERVER for one
 * only servers send (CONNACK, SUBACK, UNSUBACK, PINGRESP, ...), both bits
 * when it has both (not a real run), 0 when no type tells. */
uint8_t mqtt_run_senders(const uint8_t *p, uint32_t len);

/* Whether p[0..len) starts a CONNECT of MQTT 3.1 (protocol name "MQIsdp"). */
bool mqtt_is_v31_connect(const uint8_t *p, uint32_t len);

/* [MQTT-6.0.0-4] (3.1.1 and 5.0): the WebSocket subprotocol the server
 * selects must be "mqtt".  MQTT 3.1 predates the rule; its clients offer
 * "mqttv3.1", which is accepted when the connection's CONNECT (`first`,
 * the first MQTT bytes of the connection) is a 3.1 one.  `selected` is
 * NULL when the server selected none. */
bool mqtt_ws_subprotocol_allowed(const char *selected, const uint8_t *first, uint32_t len);

/* The finding about a subprotocol mqtt_ws_subprotocol_allowed() refused
 * (`selected` NULL: none), its detail allocated in `pool`. */
mqtt_finding_t mqtt_ws_subprotocol_finding(const char *selected, wmem_allocator_t *pool);

/* Whether `token` is one of the comma-separated subprotocols of `list`
 * (a Sec-WebSocket-Protocol value, several header lines joined by ","),
 * compared exactly, as RFC 6455 compares subprotocol names. */
bool mqtt_ws_list_has(const char *list, const char *token);

/* [MQTT-6.0.0-3] (3.1.1 and 5.0): the client must offer "mqtt" among the
 * subprotocols of its upgrade request (`offer`, NULL when it offered none).
 * A 3.1 client (its CONNECT `first`) may offer "mqttv3.1" instead. */
bool mqtt_ws_offer_allowed(const char *offer, const uint8_t *first, uint32_t len);

/* The finding about an offer mqtt_ws_offer_allowed() refused. */
mqtt_finding_t mqtt_ws_offer_finding(const char *offer, wmem_allocator_t *pool);

/* What the WebSocket handshake of one connection said, as far as the
 * capture holds it. */
typedef struct {
    bool response_seen;   /* the server's 101 response is in the capture */
    const char *selected; /* the subprotocol it selected (NULL: none) */
    bool request_seen;    /* the client's upgrade request is in the capture */
    const char *offer;    /* the subprotocols it offered (NULL: none) */
} mqtt_ws_handshake_t;

/* [MQTT-6.0.0-3] and [MQTT-6.0.0-4], judged once per connection with the
 * client's first MQTT packet (first[0..len), normally its CONNECT): the
 * findings, at most two, go to out[]; returns how many.  A part of the
 * handshake the capture does not hold is not judged. */
unsigned mqtt_ws_judge_handshake(const mqtt_ws_handshake_t *hs, const uint8_t *first, uint32_t len,
                                 wmem_allocator_t *pool, mqtt_finding_t out[2]);

/* WebSocket opcodes of data frames (RFC 6455 §5.2). */
#define MQTT_WS_OPCODE_CONTINUATION 0u
#define MQTT_WS_OPCODE_TEXT 1u
#define MQTT_WS_OPCODE_BINARY 2u

/* [MQTT-6.0.0-1]: MQTT travels in binary data frames only; a message whose
 * (first) frame has opcode `opcode` breaks it when it is a text message.
 * The finding goes to *out when it does. */
bool mqtt_ws_message_finding(unsigned opcode, mqtt_finding_t *out);

#endif
