/* mqtt_payload.h — handing PUBLISH payloads to the dissector that
 * understands them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_PAYLOAD_H
#define MQTT_PAYLOAD_H

#include <stdbool.h>

#include <epan/packet.h>
#include <epan/prefs.h>

void mqtt_payload_register(int proto, module_t *module);
void mqtt_payload_handoff(void);

/* Decodes the payload in `tvb` (a tvb of its own) under `tree`: by a
 * user rule for the topic, by the 5.0 Content Type, or as JSON.  Returns
 * whether a dissector took it. */
bool mqtt_payload_dissect(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const char *topic,
                          const char *content_type);

#endif
