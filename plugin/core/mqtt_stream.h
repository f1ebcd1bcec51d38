/* mqtt_stream.h — the MQTT byte stream of one direction, rebuilt from
 * messages that need not line up with MQTT packets.
 *
 * A transport that delivers its data in messages of its own (WebSocket)
 * may split one MQTT packet over many messages, carry several packets in
 * one message, or end a message in the middle of a packet, even in the
 * middle of its Remaining Length ([MQTT-6.0.0-2]).  The reassembler is fed
 * the messages of one direction in order, once (on the first pass), and
 * says for each message which MQTT packets it completes: the one started
 * in earlier messages (whose bytes it assembles) and those lying wholly
 * inside the message (found again on later passes by framing the message
 * from `body_off` to `tail_off`).  Memory: the bytes of a packet still
 * being assembled, never more than it announced and never more than
 * arrived.  A Remaining Length of five bytes cannot be framed: the rest of
 * that message is unframed and framing starts again with the next message.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_STREAM_H
#define MQTT_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include <wsutil/wmem/wmem.h>

#define MQTT_STREAM_NONE UINT32_MAX

/* What one message of the stream holds. */
typedef struct {
    const uint8_t *head;     /* a packet begun earlier and completed here (whole), or NULL */
    uint32_t head_len;
    uint32_t head_start;     /* the id of the message where it began */
    uint32_t body_off;       /* packets wholly inside the message start here */
    uint32_t tail_off;       /* ... and end here; a packet completed later starts here */
    uint32_t bad_off;        /* a Remaining Length that cannot be framed, or MQTT_STREAM_NONE */
    uint32_t cont_start;     /* the whole message continues a packet begun in that message,
                                or MQTT_STREAM_NONE */
    uint64_t tail_size;      /* the size announced by the packet starting at tail_off (0: unknown yet) */
} mqtt_stream_msg_t;

typedef struct mqtt_stream mqtt_stream_t;

mqtt_stream_t *mqtt_stream_new(wmem_allocator_t *scope);

/* Feeds the next message (`id` names it, e.g. its frame number) and
 * describes it in `out`. */
void mqtt_stream_feed(mqtt_stream_t *s, const uint8_t *p, uint32_t len, uint32_t id, mqtt_stream_msg_t *out);

/* Whether a packet is still being assembled; if so the id of the message
 * where it began and the size it announced (0 while its Remaining Length
 * is incomplete). */
bool mqtt_stream_pending(const mqtt_stream_t *s, uint32_t *start, uint64_t *announced);

/* The size of the whole packet at p[0..avail) when it fits there, else 0
 * (also when its Remaining Length cannot be framed: see mqtt_frame()). */
uint64_t mqtt_stream_whole(const uint8_t *p, uint32_t avail);

#endif
