/* mqtt_stream.c — the MQTT byte stream of one direction, rebuilt from
 * transport messages (see mqtt_stream.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_stream.h"

#include <string.h>

#include "mqtt_wire.h"

struct mqtt_stream {
    wmem_allocator_t *scope;
    uint8_t *buf;     /* the packet being assembled */
    uint32_t len;
    uint32_t cap;
    uint64_t need;    /* its size, 0 while the Remaining Length is incomplete */
    uint32_t start;   /* the message where it began */
};

mqtt_stream_t *mqtt_stream_new(wmem_allocator_t *scope)
{
    mqtt_stream_t *s = wmem_new0(scope, mqtt_stream_t);
    s->scope = scope;
    return s;
}

/* Room for `more` bytes: doubling, but never beyond the announced size. */
static void reserve(mqtt_stream_t *s, uint32_t more)
{
    uint64_t want = (uint64_t)s->len + more;
    if (want <= s->cap)
        return;
    uint64_t cap = s->cap ? (uint64_t)s->cap * 2 : 64;
    if (cap < want)
        cap = want;
    if (s->need && cap > s->need)
        cap = s->need;
    s->buf = (uint8_t *)wmem_realloc(s->scope, s->buf, (size_t)cap);
    s->cap = (uint32_t)cap;
}

static void append(mqtt_stream_t *s, const uint8_t *p, uint32_t n)
{
    reserve(s, n);
    memcpy(s->buf + s->len, p, n);
    s->len += n;
}

static void reset(mqtt_stream_t *s)
{
    s->buf = NULL;
    s->len = s->cap = 0;
    s->need = 0;
}

uint64_t mqtt_stream_whole(const uint8_t *p, uint32_t avail)
{
    mqtt_frame_t fr;
    if (mqtt_frame(p, avail < 5 ? avail : 5, &fr) != MQTT_FRAME_OK || fr.total_len > avail)
        return 0;
    return fr.total_len;
}

/* Completes the Remaining Length of the pending packet from p, one byte
 * at a time (it is at most 5 bytes long).  Returns the bytes used, or
 * MQTT_STREAM_NONE when the field cannot be framed. */
static uint32_t complete_header(mqtt_stream_t *s, const uint8_t *p, uint32_t len)
{
    uint32_t used = 0;
    while (!s->need && used < len) {
        append(s, p + used++, 1);
        mqtt_frame_t fr;
        switch (mqtt_frame(s->buf, s->len, &fr)) {
        case MQTT_FRAME_NEED_MORE:
            break;
        case MQTT_FRAME_BAD:
            return MQTT_STREAM_NONE;
        case MQTT_FRAME_OK:
            s->need = fr.total_len;
            break;
        }
    }
    return used;
}

/* The packet begun in earlier messages: takes what it still needs from p.
 * Returns the bytes used, or MQTT_STREAM_NONE on an unframeable header. */
static uint32_t continue_pending(mqtt_stream_t *s, const uint8_t *p, uint32_t len, mqtt_stream_msg_t *out)
{
    uint32_t used = complete_header(s, p, len);
    if (used == MQTT_STREAM_NONE)
        return used;
    if (!s->need)
        return used;
    uint64_t missing = s->need - s->len;
    uint32_t take = missing < (uint64_t)(len - used) ? (uint32_t)missing : len - used;
    append(s, p + used, take);
    used += take;
    if (s->len == s->need) {
        out->head = s->buf;
        out->head_len = s->len;
        out->head_start = s->start;
        reset(s);
    }
    return used;
}

/* Frames the packets wholly inside p[off..len); returns where the rest
 * starts.  Sets bad_off on an unframeable header. */
static uint32_t frame_body(const uint8_t *p, uint32_t off, uint32_t len, mqtt_stream_msg_t *out)
{
    while (off < len) {
        mqtt_frame_t fr;
        uint32_t avail = len - off;
        enum mqtt_frame_status st = mqtt_frame(p + off, avail < 5 ? avail : 5, &fr);
        if (st == MQTT_FRAME_BAD) {
            out->bad_off = off;
            return off;
        }
        if (st == MQTT_FRAME_NEED_MORE || fr.total_len > avail) {
            out->tail_size = st == MQTT_FRAME_OK ? fr.total_len : 0;
            return off;
        }
        off += (uint32_t)fr.total_len;
    }
    return off;
}

void mqtt_stream_feed(mqtt_stream_t *s, const uint8_t *p, uint32_t len, uint32_t id, mqtt_stream_msg_t *out)
{
    memset(out, 0, sizeof *out);
    out->bad_off = MQTT_STREAM_NONE;
    out->cont_start = MQTT_STREAM_NONE;
    uint32_t off = 0;
    if (s->len) {
        uint32_t start = s->start;
        off = continue_pending(s, p, len, out);
        if (off == MQTT_STREAM_NONE) {
            /* The Remaining Length begun earlier has a fifth byte: drop it
             * and the rest of this message. */
            reset(s);
            out->bad_off = 0;
            out->body_off = out->tail_off = 0;
            return;
        }
        if (s->len) {
            out->cont_start = start;
            out->body_off = out->tail_off = len;
            return;
        }
    }
    out->body_off = off;
    off = frame_body(p, off, len, out);
    out->tail_off = off;
    if (out->bad_off != MQTT_STREAM_NONE || off == len)
        return;
    s->start = id;
    s->need = out->tail_size;
    append(s, p + off, len - off);
}

bool mqtt_stream_pending(const mqtt_stream_t *s, uint32_t *start, uint64_t *announced)
{
    if (!s->len)
        return false;
    *start = s->start;
    *announced = s->need;
    return true;
}
