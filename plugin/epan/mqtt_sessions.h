/* mqtt_sessions.h — the sessions table: one row per MQTT connection
 * (tshark -z mqttlens,sessions; Statistics → MQTT Sessions (mqttlens)).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_SESSIONS_H
#define MQTT_SESSIONS_H

#include "mqtt_taps.h"

void mqtt_sessions_register(void);
void mqtt_sessions_handoff(void);

/* Whether the table listens (see mqtt_taps_listening). */
bool mqtt_sessions_listening(void);
/* Queues an MQTT packet for the table. */
void mqtt_sessions_queue(packet_info *pinfo, const mqtt_tap_rec_t *rec);
/* Queues the end of the frame's TCP connection (its first FIN or RST). */
void mqtt_sessions_queue_closed(packet_info *pinfo);

#endif
