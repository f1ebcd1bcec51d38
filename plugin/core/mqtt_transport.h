/* mqtt_transport.h — what the transports MQTT travels on require, and how
 * MQTT is recognised on a connection nothing else names as MQTT.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_TRANSPORT_H
#define MQTT_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

/* Whether p[0..len), the first bytes a client sent on a connection, start
 * an MQTT CONNECT: fixed header 0x10, a Remaining Length of at most four
 * bytes that leaves room for the variable header, protocol name "MQTT"
 * (levels 3 to 5) or "MQIsdp" (3.1), a reserved connect flag of 0 with
 * "MQTT", a Will QoS other than 3, and a client identifier (5.0: after a
 * well-formed Property Length) that fits in the Remaining Length.  What
 * lies beyond p is not judged: a segment that ends after the Protocol Level
 * is enough. */
bool mqtt_looks_like_connect(const uint8_t *p, uint32_t len);

/* Whether p[0..len) starts a CONNECT of MQTT 3.1 (protocol name "MQIsdp"). */
bool mqtt_is_v31_connect(const uint8_t *p, uint32_t len);

/* [MQTT-6.0.0-4] (3.1.1 and 5.0): the WebSocket subprotocol the server
 * selects must be "mqtt".  MQTT 3.1 predates the rule; its clients offer
 * "mqttv3.1", which is accepted when the connection's CONNECT (`first`,
 * the first MQTT bytes of the connection) is a 3.1 one.  `selected` is
 * NULL when the server selected none. */
bool mqtt_ws_subprotocol_allowed(const char *selected, const uint8_t *first, uint32_t len);

#endif
