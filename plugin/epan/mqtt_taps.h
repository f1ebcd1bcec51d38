/* mqtt_taps.h — what mqttlens hands to Wireshark's taps: the flow graph
 * ("-z flow,mqttlens,standard"), the statistics tree ("-z mqttlens,tree"),
 * service response times ("-z mqttlens,srt"), exported objects
 * ("--export-objects mqttlens,DIR") and logins ("-z credentials").
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_TAPS_H
#define MQTT_TAPS_H

#include <epan/packet.h>

#include "mqtt_conn.h"
#include "mqtt_wire.h"

/* One MQTT packet, as the taps see it (valid until the frame is done). */
typedef struct {
    const mqtt_pkt_t *pkt;
    const mqtt_snapshot_t *snap;
    tvbuff_t *tvb;             /* the packet's bytes */
    const char *topic;         /* PUBLISH: the topic, resolved when it came by alias */
    const char *content_type;  /* 5.0 Content Type, or NULL */
    guint32 index;             /* the packet's position in its frame */
    guint32 conversation;      /* index of its TCP conversation */
    bool mask_passwords;
    nstime_t response_time;    /* since the frame it answers */
    nstime_t flow_time;        /* QoS 2 PUBCOMP: since the PUBLISH */
} mqtt_tap_rec_t;

void mqtt_taps_register(int proto);

/* The name of a reason / return code of the packet's type and version. */
const char *mqtt_tap_reason_name(const mqtt_pkt_t *pkt, uint8_t code);
void mqtt_taps_handoff(void);

/* Whether any tap listens: the taps read the packet's record when the
 * whole frame has been dissected, so it must live as long as the frame. */
bool mqtt_taps_listening(void);

/* Queues the packet for every tap that listens. */
void mqtt_taps_queue(packet_info *pinfo, const mqtt_tap_rec_t *rec);

/* Queues the end of an MQTT connection's TCP (its first FIN or RST, on the
 * frame that carries it) for the taps that tell how connections end. */
void mqtt_taps_queue_closed(packet_info *pinfo);

#endif
