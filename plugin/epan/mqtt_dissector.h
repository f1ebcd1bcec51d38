/* mqtt_dissector.h — registration entry points of the mqttlens protocol.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_DISSECTOR_H
#define MQTT_DISSECTOR_H

void proto_register_mqttlens(void);
void proto_reg_handoff_mqttlens(void);

#include <epan/packet.h>

#include "mqtt_wire.h"

/* Who sent a packet, as far as its transport knows: the core takes the
 * packet type first, and this only when the type does not tell (the first
 * packet of a connection that is not a CONNECT, a CONNACK, ...). */
typedef enum {
    MQTTLENS_SENDER_BY_PORT, /* the transport does not know: the ports decide */
    MQTTLENS_SENDER_CLIENT,  /* e.g. the side that sent the HTTP Upgrade */
    MQTTLENS_SENDER_SERVER,
} mqttlens_sender_t;

/* One whole MQTT packet into the per-packet path (decoding, first-pass
 * connection analysis through the core's entry points, tree, taps), for a
 * transport that framed it itself (WebSocket). */
int mqttlens_dissect_pdu(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, mqttlens_sender_t sender);
/* Before the connection's first packet (the run heuristic): whether the
 * sender of the current packet is the client, as the transport learnt it
 * from packets it did not hand over.  Used where the first packet's type
 * does not tell, instead of the ports. */
void mqttlens_hint_client(packet_info *pinfo, gboolean sender_is_client);
/* Bytes that cannot be framed as MQTT packets; `f` is the core's finding
 * about them (mqtt_core_unframed, ...). */
int mqttlens_dissect_unframed(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const mqtt_finding_t *f);

#include "mqtt_journey.h"

/* The journey of a packet (for the taps), NULL when it has none. */
const mqtt_journey_t *mqtt_dissector_journey(const mqtt_snapshot_t *snap);

#endif
