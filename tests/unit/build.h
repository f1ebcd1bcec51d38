/* build.h — building MQTT packets byte by byte for the unit tests.
 *
 * A packet is built as its body; pkt_finish() puts the fixed header with a
 * minimally encoded Remaining Length in front.
 */
#ifndef MQTTLENS_TEST_BUILD_H
#define MQTTLENS_TEST_BUILD_H

#include <stdint.h>
#include <string.h>

typedef struct {
    uint8_t b[4096];
    uint32_t n;
} buf_t;

static inline void put8(buf_t *x, uint8_t v) { x->b[x->n++] = v; }
static inline void put16(buf_t *x, uint16_t v) { put8(x, (uint8_t)(v >> 8)); put8(x, (uint8_t)v); }
static inline void put32(buf_t *x, uint32_t v) { put16(x, (uint16_t)(v >> 16)); put16(x, (uint16_t)v); }
static inline void putn(buf_t *x, const void *p, uint32_t n) { memcpy(x->b + x->n, p, n); x->n += n; }

static inline void putvbi(buf_t *x, uint32_t v)
{
    do {
        uint8_t d = v % 128;
        v /= 128;
        put8(x, (uint8_t)(v ? d | 0x80 : d));
    } while (v);
}

/* A length-prefixed string or binary field. */
static inline void putstr(buf_t *x, const char *s)
{
    put16(x, (uint16_t)strlen(s));
    putn(x, s, (uint32_t)strlen(s));
}

/* Fixed header + body. */
static inline buf_t pkt_finish(uint8_t byte1, const buf_t *body)
{
    buf_t out = {{0}, 0};
    put8(&out, byte1);
    putvbi(&out, body->n);
    putn(&out, body->b, body->n);
    return out;
}

#endif
