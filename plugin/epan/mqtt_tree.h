/* mqtt_tree.h — presentation: protocol tree, Info column and expert items
 * of one decoded MQTT packet.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_TREE_H
#define MQTT_TREE_H

#include <epan/packet.h>

#include "mqtt_conn.h"
#include "mqtt_core.h"
#include "mqtt_wire.h"

typedef struct {
    bool mask_passwords;     /* show "********" instead of passwords */
} mqtt_tree_prefs_t;

/* What presentation needs to know beyond the packet itself. */
typedef struct {
    const mqtt_snapshot_t *snap;
    const mqtt_findings_t *settled; /* what mqtt_core_settle() added (reported after the snapshot's) */
    const char *topic;              /* PUBLISH: its topic, resolved when it came by alias */
    nstime_t response_time;         /* since the frame it answers */
    nstime_t flow_time;             /* QoS 2: since the PUBLISH that started the flow */
    nstime_t client_idle;           /* since the client's previous packet */
    const char *content_type;       /* PUBLISH: its 5.0 Content Type */
    const char *info;               /* the packet's Info line */
    wmem_allocator_t *scratch;      /* for what presentation needs only while it runs */
    mqtt_journey_view_t journey;    /* the packet's message journey (mqtt_core_journey()) */
} mqtt_view_t;

void mqtt_tree_register(int proto);

/* A string field's value as text in `mem`: the bytes themselves when the
 * decoder found them well-formed UTF-8 (mqtt_str_text), else Wireshark's
 * conversion, which replaces what is not. */
char *mqtt_str_value(wmem_allocator_t *mem, tvbuff_t *tvb, const mqtt_str_t *s);

/* The hf id of mqttlens.password (for the credentials tap). */
int mqtt_tree_password_field(void);

/* Adds the packet's subtree under `tree` and reports its findings.
 * `tvb` starts at the packet's first byte. */
void mqtt_tree_add(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const mqtt_pkt_t *pkt,
                   const mqtt_view_t *view, const mqtt_tree_prefs_t *tree_prefs);

/* The name of reason / return code `code` in packet `type` at protocol
 * level `version`, "Unknown" when its table has none. */
const char *mqtt_reason_text(unsigned version, unsigned type, uint8_t code);

/* What a CONNACK's refusal reads after "refused: ": its code's name, less
 * the "Connection Refused: " that 3.1.1's names begin with. */
const char *mqtt_refusal_text(unsigned version, uint8_t code);

/* One line for the Info column, e.g. `PUBLISH id=3 QoS 1 "a/b"`. */
const char *mqtt_info_line(wmem_allocator_t *pool, const mqtt_pkt_t *pkt, const mqtt_snapshot_t *snap,
                           const mqtt_tree_prefs_t *tree_prefs);

#endif
