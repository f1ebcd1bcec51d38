/* mqtt_checks.h — the rules that one decoded packet can be checked against
 * on its own, without knowing the rest of the connection.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_CHECKS_H
#define MQTT_CHECKS_H

#include "mqtt_wire.h"

/* Adds to pkt->findings every stateless rule the packet breaks.  `dir` is
 * only used when `dir_known`. */
void mqtt_check_packet(wmem_allocator_t *scope, mqtt_pkt_t *pkt, enum mqtt_dir dir, bool dir_known);

/* Topic Filter syntax (3.1.1 §4.7, 5.0 §4.7 and §4.8.2).  Returns the rule
 * broken (MQTT_RULE_COUNT when the filter is valid) and the offset inside
 * the filter where the problem is. */
enum mqtt_rule mqtt_filter_syntax(const uint8_t *f, uint32_t len, bool v5, uint32_t *bad_off);

/* Whether a Topic Name contains '+' or '#'; *off gets the first one. */
bool mqtt_topic_has_wildcard(const uint8_t *t, uint32_t len, uint32_t *off);

#endif
