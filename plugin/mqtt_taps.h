/* mqtt_taps.h — what mqttlens hands to Wireshark's taps: logins for the
 * credentials tap.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_TAPS_H
#define MQTT_TAPS_H

#include <epan/packet.h>

#include "mqtt_conn.h"
#include "mqtt_wire.h"

void mqtt_taps_register(int proto);
void mqtt_taps_handoff(void);

/* Queues the packet's records for every tap that wants them. */
void mqtt_taps_queue(packet_info *pinfo, tvbuff_t *tvb, const mqtt_pkt_t *pkt, const mqtt_snapshot_t *snap,
                     bool mask_passwords);

#endif
