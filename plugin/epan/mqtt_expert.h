/* mqtt_expert.h — one Wireshark expert field per rule of the catalogue.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_EXPERT_H
#define MQTT_EXPERT_H

#include <epan/packet.h>
#include <epan/expert.h>

#include "mqtt_wire.h"

void mqtt_expert_register(int proto);

/* The rows mqtt_expert_register() registers, one per rule of the catalogue
 * (MQTT_RULE_COUNT of them), as Wireshark gets them (tools/expert_dump.c
 * prints them for the docs). */
void mqtt_expert_rows(ei_register_info *rows);

/* The expert field of a rule, for findings reported with a message of
 * their own. */
expert_field *mqtt_expert_field(enum mqtt_rule rule);

/* Reports a finding.  With an item, the expert info goes on that item;
 * otherwise a new expert item covering the finding's bytes is added to
 * `tree`.  `base` is the offset of the packet inside `tvb`. */
void mqtt_expert_report(packet_info *pinfo, proto_tree *tree, proto_item *item, tvbuff_t *tvb,
                        int base, const mqtt_finding_t *f, unsigned version);

#endif
