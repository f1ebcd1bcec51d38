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
 * user rule for the topic, by the 5.0 Content Type, by a heuristic on the
 * topic, or as JSON.  Returns whether a dissector took it. */
bool mqtt_payload_dissect(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const char *topic,
                          const char *content_type);

/* What a payload is, for a file of it (exported objects): its media type
 * and the file name's extension (with the dot). */
typedef struct {
    const char *media_type;
    const char *extension;
} mqtt_payload_kind_t;

/* In order: the 5.0 Content Type; a Payload Format Indicator of 1 (UTF-8
 * text); the user rule for the topic (its dissector, zlib when it
 * inflates); a valid JSON document; UTF-8 text; a zlib stream; else bytes.
 * `format` is the Payload Format Indicator, -1 when absent.  The strings
 * are static or in `pool`. */
mqtt_payload_kind_t mqtt_payload_kind(wmem_allocator_t *pool, tvbuff_t *tvb, const char *topic,
                                      const char *content_type, int format);

#endif
