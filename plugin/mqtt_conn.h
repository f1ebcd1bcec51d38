/* mqtt_conn.h — per-connection analysis.
 *
 * A connection is one TCP (or TLS) conversation between an MQTT client and
 * a server.  Its state is built on the first pass only, packet by packet,
 * and each packet gets a snapshot of what was known when it was seen; later
 * passes read the snapshots and never recompute.  This module depends on
 * wmem only, so that it can be unit-tested without tshark.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_CONN_H
#define MQTT_CONN_H

#include "mqtt_wire.h"

/* How the protocol version of a packet was decided. */
enum mqtt_version_source {
    MQTT_VS_CONNECT,   /* the connection's CONNECT (or this CONNECT) */
    MQTT_VS_INFERRED,  /* the bytes of an earlier packet of the connection */
    MQTT_VS_THIS,      /* this packet's own bytes */
    MQTT_VS_DEFAULT,   /* nothing decided it: the preference */
};

typedef struct mqtt_conn mqtt_conn_t;

/* What is known about one MQTT packet in its connection, as of the moment
 * it was seen.  Stored per packet in file scope. */
typedef struct {
    uint8_t dir;              /* enum mqtt_dir */
    bool dir_known;
    uint8_t version;          /* protocol level the packet is decoded with */
    uint8_t version_source;   /* enum mqtt_version_source */
    uint32_t version_frame;   /* the frame that decided it (CONNECT / inference) */
    const char *client_id;    /* NULL until known */
    const char *username;     /* NULL when none was given */
} mqtt_snapshot_t;

mqtt_conn_t *mqtt_conn_new(wmem_allocator_t *scope);

/* First pass: which version to decode the packet in p[0..len) with, and
 * why.  Remembers an inference for the packets that follow. */
void mqtt_conn_pick_version(mqtt_conn_t *conn, wmem_allocator_t *tmp, const uint8_t *p, uint32_t len,
                            uint32_t frame, unsigned default_version, mqtt_snapshot_t *snap);

/* First pass: updates the connection with a decoded packet and completes
 * its snapshot. */
void mqtt_conn_update(mqtt_conn_t *conn, const mqtt_pkt_t *pkt, uint32_t frame, mqtt_snapshot_t *snap);

#endif
