/* mqtt_flow.h — the "MQTT Flows (mqttlens)" flow graph
 * (Statistics → Flow Graph, tshark -z flow,mqttlens,standard).
 *
 * One lifeline per MQTT endpoint: each client connection (its client id
 * and address:port) and each broker (address:port), so that a capture
 * taken on one machine (everything on 127.0.0.1) still draws arrows.  A
 * lifeline is a graph node whose address is a string (AT_STRINGZ).  Past
 * Wireshark's 40 nodes the lifelines are grouped, first by client id, then
 * by address, and the first row says so.
 *
 * The label names the packet (type, packet id, QoS) in at most
 * MQTT_FLOW_LABEL_MAX characters, so that it fits the text graph's column
 * (20 characters between two lifelines); the comment carries the rest.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_FLOW_H
#define MQTT_FLOW_H

#include <epan/packet.h>
#include <epan/prefs.h>

#include "mqtt_taps.h"

#define MQTT_FLOW_LABEL_MAX 19

void mqtt_flow_register(int proto, module_t *module);
void mqtt_flow_handoff(void);

/* Whether a flow graph is being drawn. */
bool mqtt_flow_listening(void);

/* Queues an MQTT packet for the flow graph. */
void mqtt_flow_queue(packet_info *pinfo, const mqtt_tap_rec_t *rec);

#endif
