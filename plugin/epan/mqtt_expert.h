/* mqtt_expert.h — one Wireshark expert field per rule of the catalogue.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_EXPERT_H
#define MQTT_EXPERT_H

#include <epan/packet.h>

#include "mqtt_wire.h"

void mqtt_expert_register(int proto);

/* Reports a finding.  With an item, the expert info goes on that item;
 * otherwise a new expert item covering the finding's bytes is added to
 * `tree`.  `base` is the offset of the packet inside `tvb`. */
void mqtt_expert_report(packet_info *pinfo, proto_tree *tree, proto_item *item, tvbuff_t *tvb,
                        int base, const mqtt_finding_t *f, unsigned version);

#endif
