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

#endif
