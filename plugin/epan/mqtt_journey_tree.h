/* mqtt_journey_tree.h — presentation of message journeys (mqtt_journey.h):
 * the "Journey" subtree with its generated fields, and its expert items.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_JOURNEY_TREE_H
#define MQTT_JOURNEY_TREE_H

#include <epan/packet.h>

#include "mqtt_core.h"

void mqtt_journey_tree_register(int proto);

/* Adds the packet's journey under `tree` (the packet's mqttlens subtree;
 * `tvb` starts at the packet): a delivery's origin, an origin's
 * deliveries and missed ones where the core says they are worth showing
 * (`v->origin_shown`), and a limit reached. */
void mqtt_journey_tree_add(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const mqtt_journey_view_t *v,
                           unsigned version);

/* The flow-graph comment's part for a delivery: "from pub frame 5, +0.07 ms". */
void mqtt_journey_comment(GString *s, const mqtt_journey_t *j);

#endif
