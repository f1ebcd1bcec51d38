/* mqtt_dissector.h — registration entry points of the mqttlens protocol.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_DISSECTOR_H
#define MQTT_DISSECTOR_H

void proto_register_mqttlens(void);
void proto_reg_handoff_mqttlens(void);

#include "mqtt_journey.h"

/* The journey of a packet (for the taps), NULL when it has none. */
const mqtt_journey_t *mqtt_dissector_journey(const mqtt_snapshot_t *snap);

#endif
