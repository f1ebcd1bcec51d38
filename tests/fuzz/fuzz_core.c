/* fuzz_core.c — libFuzzer target for the layer of mqttlens that stands
 * apart from libwireshark: framing, decoding, the stateless checks and the
 * connection analysis (plugin/core/mqtt_wire.c, mqtt_checks.c, mqtt_conn.c,
 * mqtt_subs.c), and the capture's analysis across the two connections,
 * which share one broker: failed logins and message journeys (mqtt_core.c,
 * mqtt_journey.c).
 *
 * The input has the layout of fuzz_epan.c's, so that both share a corpus:
 *   byte 0      bits 0-1: the default version (3.1, 3.1.1, 5.0, 3.1.1);
 *               bit 2: the TCP handshake was seen
 *   then chunks: a header byte (bit 7: 0 client->server, 1 server->client;
 *               bit 6: the second connection; bits 0-5: length, 0 being a
 *               retransmission, which TCP would drop) and that many bytes.
 * Each direction is framed as the dissector frames it: complete packets
 * go through the core's entry points as the dissector calls them
 * (mqtt_core_first_pass and mqtt_core_settle in order, the end of each
 * connection's TCP with mqtt_core_transport_closed, then, as a second
 * pass, mqtt_core_decode, mqtt_core_settle and mqtt_core_journey with the
 * capture seen); a
 * Remaining Length of more than four bytes leaves the rest of that
 * direction unframed.
 * All memory comes from wmem "simple" allocators, which use malloc, so that
 * AddressSanitizer sees every block.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mqtt_core.h"

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
    uint32_t client_port;     /* tells the two connections' clients apart */
} connection_t;

/* A packet as the first pass saw it, for the second pass. */
typedef struct seen {
    struct seen *next;
    const mqtt_conn_t *conn;
    mqtt_snapshot_t *snap;
    uint8_t *bytes;
    uint32_t len;
} seen_t;

static const char *const addresses[2] = {"192.0.2.1", "192.0.2.2"};

static void settle(mqtt_capture_t *cap, const mqtt_conn_t *conn, const mqtt_snapshot_t *snap,
                   const mqtt_pkt_t *pkt, bool capture_seen, wmem_allocator_t *tmp)
{
    mqtt_settle_facts_t facts = {capture_seen, capture_seen, addresses[snap->dir], addresses[!snap->dir], 0, -1};
    mqtt_findings_t late = {NULL, 0, 0};
    mqtt_core_settle(cap, conn, snap, pkt, &facts, tmp, &late);
    (void)mqtt_core_journey(cap, snap, capture_seen);
}

static const unsigned versions[4] = {MQTT_V31, MQTT_V311, MQTT_V5, MQTT_V311};

static seen_t *feed_packet(mqtt_capture_t *cap, const connection_t *k, wmem_allocator_t *file, const uint8_t *p,
                           uint32_t len, enum mqtt_dir dir, uint32_t frame, unsigned default_version, bool from_start)
{
    mqtt_conn_t *conn = k->conn;
    wmem_allocator_t *tmp = wmem_allocator_new(WMEM_ALLOCATOR_SIMPLE);
    seen_t *seen = wmem_new0(file, seen_t);
    seen->conn = conn;
    seen->snap = wmem_new0(file, mqtt_snapshot_t);
    seen->bytes = (uint8_t *)wmem_memdup(file, p, len);
    seen->len = len;
    mqtt_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.frame = frame;
    ev.time.secs = frame / 4;
    ev.time.nsecs = (int)(frame % 4) * 250000000;
    ev.saw_connection_start = from_start;
    ev.endpoint = (uint8_t)dir;
    ev.client_by_port = dir == MQTT_C2S;
    ev.src_address = addresses[dir];
    ev.dst_address = addresses[!dir];
    ev.src_port = dir == MQTT_C2S ? k->client_port : 1883;
    ev.dst_port = dir == MQTT_C2S ? 1883 : k->client_port;
    mqtt_pkt_t *pkt = mqtt_core_first_pass(cap, conn, tmp, p, len, &ev, default_version, seen->snap);
    settle(cap, conn, seen->snap, pkt, false, tmp);
    wmem_destroy_allocator(tmp);
    return seen;
}

/* Frames and feeds every complete packet at the front of d. */
static void drain(direction_t *d, mqtt_capture_t *cap, connection_t *k, wmem_allocator_t *file, seen_t ***tail,
                  enum mqtt_dir dir, unsigned default_version, bool from_start)
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
        seen_t *seen = feed_packet(cap, k, file, d->buf + off, (uint32_t)fr.total_len, dir, ++k->frame,
                                   default_version, from_start);
        **tail = seen;
        *tail = &seen->next;
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
    mqtt_capture_t *cap = mqtt_capture_new(file);
    seen_t *first = NULL, **tail = &first;
    for (unsigned c = 0; c < 2; c++) {
        conns[c].conn = mqtt_conn_new(file);
        conns[c].client_port = 40001 + c;
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
        drain(d, cap, k, file, &tail, dir, default_version, from_start);
    }
    /* Both connections end with TCP's FIN or RST, the second first, a
     * quarter of a second after their last packets. */
    for (unsigned c = 2; c-- > 0;) {
        nstime_t end = {(time_t)(conns[c].frame / 4 + 1), 0};
        mqtt_core_transport_closed(cap, conns[c].conn, end);
    }
    /* The second pass: what the snapshots and hindsight tell. */
    for (const seen_t *s = first; s; s = s->next) {
        wmem_allocator_t *tmp = wmem_allocator_new(WMEM_ALLOCATOR_SIMPLE);
        settle(cap, s->conn, s->snap, mqtt_core_decode(tmp, s->bytes, s->len, s->snap), true, tmp);
        wmem_destroy_allocator(tmp);
    }
    wmem_destroy_allocator(file);
    return 0;
}
