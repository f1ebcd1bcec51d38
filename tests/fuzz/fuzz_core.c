/* fuzz_core.c — libFuzzer target for the layer of mqttlens that stands
 * apart from libwireshark: framing, decoding, the stateless checks and the
 * connection analysis (plugin/core/mqtt_wire.c, mqtt_checks.c, mqtt_conn.c,
 * mqtt_subs.c), and the message journeys across the two connections, which
 * share one broker (mqtt_journey.c).
 *
 * The input has the layout of fuzz_epan.c's, so that both share a corpus:
 *   byte 0      bits 0-1: the default version (3.1, 3.1.1, 5.0, 3.1.1);
 *               bit 2: the TCP handshake was seen
 *   then chunks: a header byte (bit 7: 0 client->server, 1 server->client;
 *               bit 6: the second connection; bits 0-5: length, 0 being a
 *               retransmission, which TCP would drop) and that many bytes.
 * Each direction is framed as the dissector frames it: complete packets
 * are decoded, checked and fed to the connection in order; a Remaining
 * Length of more than four bytes leaves the rest of that direction unframed.
 * All memory comes from wmem "simple" allocators, which use malloc, so that
 * AddressSanitizer sees every block.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mqtt_checks.h"
#include "mqtt_conn.h"
#include "mqtt_journey.h"
#include "mqtt_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STREAM (1u << 16)

typedef struct {
    uint8_t buf[MAX_STREAM];
    uint32_t len;
    bool unframed;
} direction_t;

typedef struct {
    mqtt_conn_t *conn;
    direction_t dirs[2];
    uint32_t frame;
    const char *client;       /* its endpoint, for the journeys */
} connection_t;

static mqtt_journeys_t *journeys;

static const unsigned versions[4] = {MQTT_V31, MQTT_V311, MQTT_V5, MQTT_V311};

static void feed_packet(const connection_t *k, wmem_allocator_t *file, const uint8_t *p, uint32_t len,
                        enum mqtt_dir dir, uint32_t frame, unsigned default_version, bool from_start)
{
    mqtt_conn_t *conn = k->conn;
    wmem_allocator_t *tmp = wmem_allocator_new(WMEM_ALLOCATOR_SIMPLE);
    mqtt_snapshot_t *snap = wmem_new0(file, mqtt_snapshot_t);
    mqtt_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.frame = frame;
    ev.time.secs = frame / 4;
    ev.time.nsecs = (int)(frame % 4) * 250000000;
    ev.saw_connection_start = from_start;
    snap->dir = (uint8_t)dir;
    snap->dir_known = true;
    mqtt_conn_pick_version(conn, tmp, p, len, frame, default_version, snap);
    mqtt_pkt_t *pkt = mqtt_decode(tmp, p, len, snap->version);
    mqtt_check_packet(tmp, pkt, dir, true);
    mqtt_conn_update(conn, pkt, &ev, snap);
    mqtt_journey_ctx_t ctx = {conn, "broker:1883", k->client, frame, (int64_t)ev.time.secs * 1000000000 + ev.time.nsecs};
    mqtt_journey_packet(journeys, &ctx, pkt, snap);
    (void)mqtt_snapshot_extra(snap);
    (void)mqtt_journey_of(journeys, snap);
    wmem_destroy_allocator(tmp);
}

/* Frames and feeds every complete packet at the front of d. */
static void drain(direction_t *d, const connection_t *k, wmem_allocator_t *file, enum mqtt_dir dir,
                  uint32_t *frame, unsigned default_version, bool from_start)
{
    uint32_t off = 0;
    while (!d->unframed && off < d->len) {
        mqtt_frame_t fr;
        enum mqtt_frame_status st = mqtt_frame(d->buf + off, d->len - off, &fr);
        if (st == MQTT_FRAME_BAD) {
            d->unframed = true;
            break;
        }
        if (st == MQTT_FRAME_NEED_MORE || fr.total_len > d->len - off)
            break;
        feed_packet(k, file, d->buf + off, (uint32_t)fr.total_len, dir, ++*frame, default_version, from_start);
        off += (uint32_t)fr.total_len;
    }
    memmove(d->buf, d->buf + off, d->len - off);
    d->len -= off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static connection_t conns[2];
    if (size < 1)
        return 0;
    unsigned default_version = versions[data[0] & 3];
    bool from_start = (data[0] & 4) != 0;
    memset(conns, 0, sizeof conns);

    wmem_allocator_t *file = wmem_allocator_new(WMEM_ALLOCATOR_SIMPLE);
    journeys = mqtt_journeys_new(file);
    for (unsigned c = 0; c < 2; c++) {
        conns[c].conn = mqtt_conn_new(file);
        conns[c].client = c ? "client:2" : "client:1";
    }
    size_t at = 1;
    while (at < size) {
        enum mqtt_dir dir = (data[at] & 0x80) ? MQTT_S2C : MQTT_C2S;
        connection_t *k = &conns[(data[at] >> 6) & 1];
        size_t n = data[at] & 0x3F;
        at++;
        if (n > size - at)
            n = size - at;
        direction_t *d = &k->dirs[dir == MQTT_S2C];
        if (d->len + n > MAX_STREAM) /* a packet larger than this is not completed here */
            d->len = 0;
        memcpy(d->buf + d->len, data + at, n);
        d->len += (uint32_t)n;
        at += n;
        drain(d, k, file, dir, &k->frame, default_version, from_start);
    }
    mqtt_journey_finish(journeys);
    for (unsigned c = 0; c < 2; c++) {
        (void)mqtt_conn_last(conns[c].conn);
        (void)mqtt_conn_ended_properly(conns[c].conn);
    }
    wmem_destroy_allocator(file);
    return 0;
}
