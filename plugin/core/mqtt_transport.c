/* mqtt_transport.c — transport requirements and recognition of MQTT
 * connections (see mqtt_transport.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_transport.h"

#include <string.h>

#include "mqtt_wire.h"

/* Bytes of the 3.1.1 / 5.0 variable header up to the connect flags'
 * successor: name length (2), "MQTT" (4), level (1), flags (1), keep alive (2). */
#define VH_MQTT 10u
#define VH_MQISDP 12u

static bool name_is(const uint8_t *p, uint32_t len, const char *name)
{
    uint32_t n = (uint32_t)strlen(name);
    return len >= 2 + n && p[0] == 0 && p[1] == n && memcmp(p + 2, name, n) == 0;
}

bool mqtt_looks_like_connect(const uint8_t *p, uint32_t len)
{
    mqtt_frame_t fr;
    if (len < 2 || p[0] != 0x10 || mqtt_frame(p, len < 5 ? len : 5, &fr) != MQTT_FRAME_OK)
        return false;
    const uint8_t *vh = p + fr.header_len;
    uint32_t avail = len - fr.header_len;
    uint32_t rl = fr.remaining_length;
    uint32_t vh_len;
    uint8_t level;
    uint8_t flags;
    if (name_is(vh, avail, "MQTT")) {
        vh_len = VH_MQTT;
        if (avail < 7 || vh[6] < 3 || vh[6] > 5)
            return false;
        level = vh[6];
        if (avail >= 8 && (vh[7] & 0x01))
            return false;
    } else if (name_is(vh, avail, "MQIsdp")) {
        vh_len = VH_MQISDP;
        if (avail < 9 || vh[8] != 3)
            return false;
        level = 3;
    } else {
        return false;
    }
    if (rl < vh_len + 2)
        return false;
    if (avail <= vh_len - 3)
        return true; /* the segment ends within the flags and keep alive: judged on what is here */
    flags = vh[vh_len - 3];
    if (((flags >> 3) & 3) == 3)
        return false;
    uint32_t off = vh_len;
    if (level == 5) {
        mqtt_vbi_t plen;
        if (off >= avail || mqtt_vbi_decode(vh + off, avail - off, &plen) != MQTT_VBI_OK)
            return false;
        if ((uint64_t)off + plen.nbytes + plen.value + 2 > rl)
            return false;
        off += plen.nbytes + plen.value;
        if (off + 2 > avail)
            return true; /* the properties continue in the next segment */
    }
    if (off + 2 > rl)
        return false;
    if (off + 2 > avail)
        return true;
    uint32_t cid = (uint32_t)vh[off] << 8 | vh[off + 1];
    return (uint64_t)off + 2 + cid <= rl;
}

static bool well_formed(wmem_allocator_t *scope, const uint8_t *p, uint32_t len)
{
    unsigned type = p[0] >> 4;
    const mqtt_type_spec_t *ts = mqtt_type_spec(type);
    if (type == 0)
        return false;
    if (ts->fixed_flags != MQTT_FLAGS_VARIABLE && (p[0] & 0x0F) != ts->fixed_flags)
        return false;
    if (ts->fixed_flags == MQTT_FLAGS_VARIABLE && ((p[0] >> 1) & 3) == 3)
        return false; /* PUBLISH QoS 3 */
    for (unsigned version = 4; version <= 5; version++) {
        if (type == 15 && version == 4)
            continue;
        if (!mqtt_pkt_is_malformed(mqtt_decode(scope, p, len, version)))
            return true;
    }
    return false;
}

unsigned mqtt_count_well_formed(wmem_allocator_t *scope, const uint8_t *p, uint32_t len)
{
    unsigned n = 0;
    uint32_t off = 0;
    while (off < len) {
        mqtt_frame_t fr;
        uint32_t avail = len - off;
        if (mqtt_frame(p + off, avail < 5 ? avail : 5, &fr) != MQTT_FRAME_OK || fr.total_len > avail ||
            !well_formed(scope, p + off, (uint32_t)fr.total_len))
            return 0;
        off += (uint32_t)fr.total_len;
        n++;
    }
    return n;
}

uint8_t mqtt_run_senders(const uint8_t *p, uint32_t len)
{
    uint8_t says = 0;
    uint32_t off = 0;
    while (off < len) {
        mqtt_frame_t fr;
        uint32_t avail = len - off;
        if (mqtt_frame(p + off, avail < 5 ? avail : 5, &fr) != MQTT_FRAME_OK || fr.total_len > avail)
            break;
        const mqtt_type_spec_t *ts = mqtt_type_spec(p[off] >> 4);
        uint8_t senders = ts->dir_v3 | ts->dir_v5; /* as mqtt_conn_pick_direction reads them */
        if (senders == MQTT_FROM_CLIENT || senders == MQTT_FROM_SERVER)
            says |= senders;
        off += (uint32_t)fr.total_len;
    }
    return says;
}

bool mqtt_is_v31_connect(const uint8_t *p, uint32_t len)
{
    mqtt_frame_t fr;
    if (len < 2 || (p[0] >> 4) != MQTT_CONNECT || mqtt_frame(p, len < 5 ? len : 5, &fr) != MQTT_FRAME_OK)
        return false;
    return name_is(p + fr.header_len, len - fr.header_len, "MQIsdp");
}

bool mqtt_ws_subprotocol_allowed(const char *selected, const uint8_t *first, uint32_t len)
{
    if (selected && strcmp(selected, "mqtt") == 0)
        return true;
    return selected && strcmp(selected, "mqttv3.1") == 0 && mqtt_is_v31_connect(first, len);
}

mqtt_finding_t mqtt_ws_subprotocol_finding(const char *selected, wmem_allocator_t *pool)
{
    mqtt_finding_t f = {MQTT_R_WS_SUBPROTOCOL, {0, 0},
                        selected ? wmem_strdup_printf(pool, "the server selected \"%s\"", selected)
                                 : "the server selected no subprotocol",
                        NULL};
    return f;
}

bool mqtt_ws_list_has(const char *list, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *last = end;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
            last--;
        if ((size_t)(last - p) == n && memcmp(p, token, n) == 0)
            return true;
        p = end;
    }
    return false;
}

bool mqtt_ws_offer_allowed(const char *offer, const uint8_t *first, uint32_t len)
{
    if (mqtt_ws_list_has(offer, "mqtt"))
        return true;
    return mqtt_ws_list_has(offer, "mqttv3.1") && mqtt_is_v31_connect(first, len);
}

mqtt_finding_t mqtt_ws_offer_finding(const char *offer, wmem_allocator_t *pool)
{
    mqtt_finding_t f = {MQTT_R_WS_OFFER, {0, 0},
                        offer ? wmem_strdup_printf(pool, "the client offered \"%s\"", offer)
                              : "the client offered no subprotocol",
                        NULL};
    return f;
}

unsigned mqtt_ws_judge_handshake(const mqtt_ws_handshake_t *hs, const uint8_t *first, uint32_t len,
                                 wmem_allocator_t *pool, mqtt_finding_t out[2])
{
    unsigned n = 0;
    if (hs->request_seen && !mqtt_ws_offer_allowed(hs->offer, first, len))
        out[n++] = mqtt_ws_offer_finding(hs->offer, pool);
    if (hs->response_seen && !mqtt_ws_subprotocol_allowed(hs->selected, first, len))
        out[n++] = mqtt_ws_subprotocol_finding(hs->selected, pool);
    return n;
}

bool mqtt_ws_message_finding(unsigned opcode, mqtt_finding_t *out)
{
    if (opcode != MQTT_WS_OPCODE_TEXT)
        return false;
    mqtt_finding_t f = {MQTT_R_WS_TEXT_FRAME, {0, 0}, NULL, NULL};
    *out = f;
    return true;
}
