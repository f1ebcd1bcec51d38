/* mqtt_conn.c — per-connection analysis (see mqtt_conn.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_conn.h"

#include <string.h>

struct mqtt_conn {
    wmem_allocator_t *scope;
    uint8_t version;          /* 0 until a CONNECT or an inference decides it */
    uint8_t version_source;
    uint32_t version_frame;
    const char *client_id;
    const char *username;
};

mqtt_conn_t *mqtt_conn_new(wmem_allocator_t *scope)
{
    mqtt_conn_t *conn = wmem_new0(scope, mqtt_conn_t);
    conn->scope = scope;
    return conn;
}

void mqtt_conn_pick_version(mqtt_conn_t *conn, wmem_allocator_t *tmp, const uint8_t *p, uint32_t len,
                            uint32_t frame, unsigned default_version, mqtt_snapshot_t *snap)
{
    unsigned type = len ? p[0] >> 4 : 0;
    unsigned guess;
    /* A CONNECT states its own level; it rules the connection from here. */
    if (type == MQTT_CONNECT && (guess = mqtt_guess_version(tmp, p, len)) != 0) {
        conn->version = (uint8_t)guess;
        conn->version_source = MQTT_VS_CONNECT;
        conn->version_frame = frame;
    }
    if (conn->version) {
        snap->version = conn->version;
        snap->version_frame = conn->version_frame;
        snap->version_source = conn->version_frame == frame ? conn->version_source
                               : conn->version_source == MQTT_VS_CONNECT ? MQTT_VS_CONNECT
                                                                          : MQTT_VS_INFERRED;
        return;
    }
    /* No CONNECT seen: the packet's bytes may tell 3.1.1 from 5.0. */
    guess = mqtt_guess_version(tmp, p, len);
    if (guess) {
        conn->version = (uint8_t)guess;
        conn->version_source = MQTT_VS_THIS;
        conn->version_frame = frame;
        snap->version = (uint8_t)guess;
        snap->version_source = MQTT_VS_THIS;
        snap->version_frame = frame;
        return;
    }
    snap->version = (uint8_t)default_version;
    snap->version_source = MQTT_VS_DEFAULT;
    snap->version_frame = 0;
}

static const char *str_dup(wmem_allocator_t *scope, const mqtt_str_t *s)
{
    if (!(s->flags & MQTT_STR_PRESENT))
        return NULL;
    return wmem_strndup(scope, (const char *)s->bytes, s->data.len);
}

void mqtt_conn_update(mqtt_conn_t *conn, const mqtt_pkt_t *pkt, uint32_t frame, mqtt_snapshot_t *snap)
{
    (void)frame;
    if (pkt->type == MQTT_CONNECT) {
        conn->client_id = str_dup(conn->scope, &pkt->client_id);
        conn->username = str_dup(conn->scope, &pkt->username);
    }
    snap->client_id = conn->client_id;
    snap->username = conn->username;
}
