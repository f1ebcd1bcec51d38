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

#endif
