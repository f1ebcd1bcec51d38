/* mqtt_ws.c — MQTT over WebSocket.
 *
 * Wireshark's WebSocket dissector hands over one message at a time, after
 * unmasking and after joining a fragmented message, in the frame where the
 * message completes (several messages may complete in one frame).  It finds
 * mqttlens by the subprotocol the server selected in the HTTP upgrade (the
 * "ws.protocol" table), by the server's port when the server selected none
 * ("ws.port"), or through the heuristic list "ws" otherwise (another
 * subprotocol, or none on another port).  It gives a subdissector no data
 * (NULL on 4.0, 4.4 and 4.6): neither the subprotocol nor the opcode.  So
 * mqttlens registers one entry per subprotocol, and the entry that is called
 * tells which one the server selected, on every version.
 *
 * What the upgrade's headers and the frames' opcodes say is read from
 * Wireshark's own fields, on the first pass: a postdissector that wants
 * "http.sec_websocket_protocol", "websocket.opcode" and a few more makes
 * Wireshark build them (not fake them) in every first-pass dissection, even
 * without a visible tree, and mqttlens reads them with
 * proto_get_finfo_ptr_array() (during the frame for the opcodes, in the
 * postdissector for the handshake, which comes before any message).  The
 * cost: a protocol tree is built for every packet on the first pass.
 *
 * What counts is the MQTT byte stream of each direction, not the messages
 * ([MQTT-6.0.0-2]): the messages of a direction are fed to the core's
 * reassembler (mqtt_stream.c) on the first pass, and what it says about
 * each message is kept, so that every later pass shows the same packets.
 * Every complete MQTT packet goes through the same per-packet path as on
 * TCP (mqttlens_dissect_pdu), so the connection analysis, findings, taps
 * and exports are the same.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_ws.h"

#include <string.h>

#include <epan/conversation.h>
#include <epan/expert.h>
#include <epan/proto_data.h>
#include <epan/dissectors/packet-tcp.h>
#include <epan/dissectors/packet-tls.h>

#include "mqtt_core.h"
#include "mqtt_dissector.h"
#include "mqtt_expert.h"
#include "mqtt_stream.h"
#include "mqtt_transport.h"
#include "mqtt_wire.h"
#include "ws_compat.h"

#define WS_DEFAULT_PORTS "8083,9001"
#define WSS_DEFAULT_PORTS "8084"

static int proto_mqttlens = -1;
static int proto_tcp = -1;
static int hf_ws_partial = -1;
static int hf_ws_subprotocol = -1;
static int hf_ws_offer = -1;
static int hf_ws_opcode = -1;
static gint ett_ws = -1;

/* Wireshark's fields that mqttlens reads (-1 when a version lacks one). */
static int hf_websocket_opcode = -1;
static int hf_http_request = -1;
static int hf_http_response_code = -1;
static int hf_http_upgrade = -1;
static int hf_http_sec_websocket_protocol = -1;

/* How WebSocket found mqttlens, which says what the server selected. */
typedef enum {
    WS_ENTRY_MQTT,    /* "ws.protocol" "mqtt" */
    WS_ENTRY_MQTTV31, /* "ws.protocol" "mqttv3.1" */
    WS_ENTRY_PORT,    /* "ws.port": the server selected no subprotocol */
    WS_ENTRY_HEUR,    /* "ws" heuristic: none, or one that is not MQTT's */
} ws_entry_t;

static dissector_handle_t ws_mqtt_handle;
static dissector_handle_t ws_mqttv31_handle;
static dissector_handle_t ws_port_handle;
static dissector_handle_t ws_post_handle;
static dissector_handle_t http_tcp_handle;
static dissector_handle_t http_tls_handle;

static ws_compat_bool pref_ws_fields = TRUE;
static range_t *pref_ws_ports;
static range_t *pref_wss_ports;
static range_t *ws_ports_in_use;
static range_t *wss_ports_in_use;

static const value_string ws_opcode_names[] = {
    {MQTT_WS_OPCODE_CONTINUATION, "Continuation"},
    {MQTT_WS_OPCODE_TEXT, "Text"},
    {MQTT_WS_OPCODE_BINARY, "Binary"},
    {0, NULL},
};

/* ---- what the handshake and the frames said (first pass) ------------------------ */

/* Per TCP conversation that carried an HTTP upgrade or WebSocket frames. */
typedef struct {
    mqtt_ws_handshake_t hs;
    address server_addr;      /* the sender of the 101 response */
    guint32 server_port;
    address addr0;            /* the first sender of WebSocket frames: direction 0 */
    guint32 port0;
    gboolean dirs_known;
    guint8 pending[2];        /* per direction: the opcode of a fragmented data message
                                 begun and not yet ended, else 0 */
} ws_watch_t;

static wmem_map_t *ws_watches;

static ws_watch_t *watch_get(packet_info *pinfo, gboolean create)
{
    conversation_t *conv = find_or_create_conversation(pinfo);
    if (!ws_watches) {
        if (!create)
            return NULL;
        ws_watches = wmem_map_new(wmem_file_scope(), g_direct_hash, g_direct_equal);
    }
    ws_watch_t *w = (ws_watch_t *)wmem_map_lookup(ws_watches, conv);
    if (!w && create) {
        w = wmem_new0(wmem_file_scope(), ws_watch_t);
        wmem_map_insert(ws_watches, conv, w);
    }
    return w;
}

static int watch_dir(ws_watch_t *w, const packet_info *pinfo)
{
    if (!w->dirs_known) {
        copy_address_wmem(wmem_file_scope(), &w->addr0, &pinfo->src);
        w->port0 = pinfo->srcport;
        w->dirs_known = TRUE;
    }
    return pinfo->srcport == w->port0 && addresses_equal(&w->addr0, &pinfo->src) ? 0 : 1;
}

static GPtrArray *finfos(proto_tree *tree, int hf)
{
    if (!tree || hf < 0)
        return NULL;
    GPtrArray *a = proto_get_finfo_ptr_array(tree, hf);
    return a && a->len ? a : NULL;
}

/* The values of every Sec-WebSocket-Protocol header of the frame, joined
 * by ", " as RFC 7230 joins repeated headers; NULL when there is none. */
static const char *subprotocol_headers(proto_tree *tree)
{
    GPtrArray *a = finfos(tree, hf_http_sec_websocket_protocol);
    if (!a)
        return NULL;
    wmem_strbuf_t *b = wmem_strbuf_new(wmem_file_scope(), "");
    for (guint i = 0; i < a->len; i++) {
        const char *v = fvalue_get_string(ws_compat_fi_value((field_info *)a->pdata[i]));
        if (i)
            wmem_strbuf_append(b, ", ");
        wmem_strbuf_append(b, v ? v : "");
    }
    return wmem_strbuf_finalize(b);
}

static gboolean is_websocket_upgrade(proto_tree *tree)
{
    GPtrArray *a = finfos(tree, hf_http_upgrade);
    for (guint i = 0; a && i < a->len; i++) {
        const char *v = fvalue_get_string(ws_compat_fi_value((field_info *)a->pdata[i]));
        if (v && g_ascii_strcasecmp(v, "websocket") == 0)
            return TRUE;
    }
    return FALSE;
}

static gboolean has_response_code(proto_tree *tree, guint32 code)
{
    GPtrArray *a = finfos(tree, hf_http_response_code);
    for (guint i = 0; a && i < a->len; i++)
        if (fvalue_get_uinteger(ws_compat_fi_value((field_info *)a->pdata[i])) == code)
            return TRUE;
    return FALSE;
}

/* The first byte of a WebSocket frame (FIN, RSV, opcode), read where
 * Wireshark's opcode field lies. */
static guint8 frame_first_byte(const field_info *fi)
{
    return *tvb_get_ptr(fi->ds_tvb, fi->start, 1); /* tvb_get_guint8 is deprecated from 4.4 on */
}

/* The HTTP upgrade (RFC 6455 §4): the client's offer in its request, the
 * server's choice and address in its 101 response. */
static void watch_handshake(packet_info *pinfo, proto_tree *tree)
{
    if (!is_websocket_upgrade(tree))
        return;
    if (finfos(tree, hf_http_request)) {
        ws_watch_t *w = watch_get(pinfo, TRUE);
        w->hs.request_seen = true;
        w->hs.offer = subprotocol_headers(tree);
    } else if (has_response_code(tree, 101)) {
        ws_watch_t *w = watch_get(pinfo, TRUE);
        w->hs.response_seen = true;
        w->hs.selected = subprotocol_headers(tree);
        copy_address_wmem(wmem_file_scope(), &w->server_addr, &pinfo->src);
        w->server_port = pinfo->srcport;
    }
}

/* Per direction, whether a fragmented data message is open after this
 * frame, and with which opcode. */
static void watch_frames(packet_info *pinfo, proto_tree *tree)
{
    GPtrArray *a = finfos(tree, hf_websocket_opcode);
    if (!a)
        return;
    ws_watch_t *w = watch_get(pinfo, TRUE);
    int dir = watch_dir(w, pinfo);
    for (guint i = 0; i < a->len; i++) {
        guint8 b = frame_first_byte((const field_info *)a->pdata[i]);
        guint op = b & 0x0F;
        gboolean fin = (b & 0x80) != 0;
        if (op & 0x8)
            continue; /* control frames come between fragments */
        if (op != MQTT_WS_OPCODE_CONTINUATION)
            w->pending[dir] = fin ? 0 : (guint8)op;
        else if (fin)
            w->pending[dir] = 0;
    }
}

static int dissect_ws_post(tvbuff_t *tvb _U_, packet_info *pinfo, proto_tree *tree, void *data _U_)
{
    if (!pref_ws_fields || PINFO_FD_VISITED(pinfo) || !tree)
        return 0;
    watch_handshake(pinfo, tree);
    watch_frames(pinfo, tree);
    return 0;
}

/* The opcode of the message being handed over now: the frame that
 * completes it is the last WebSocket frame Wireshark decoded so far; a
 * continuation goes back to its message's first frame, in this TCP segment
 * or (watch_frames) an earlier one.  0 when not known. */
static guint message_opcode(packet_info *pinfo, proto_tree *tree)
{
    GPtrArray *a = pref_ws_fields ? finfos(tree, hf_websocket_opcode) : NULL;
    if (!a)
        return 0;
    for (guint i = a->len; i-- > 0;) {
        guint8 b = frame_first_byte((const field_info *)a->pdata[i]);
        guint op = b & 0x0F;
        gboolean last = i + 1 == a->len;
        if (op & 0x8)
            continue; /* control frames come between fragments */
        if (!last && (b & 0x80))
            break; /* an earlier message ended here: the first frame is in an earlier segment */
        if (op != MQTT_WS_OPCODE_CONTINUATION)
            return op;
    }
    ws_watch_t *w = watch_get(pinfo, FALSE);
    return w ? w->pending[watch_dir(w, pinfo)] : 0;
}

/* ---- per WebSocket connection ------------------------------------------------ */

/* The two directions' streams, told apart by the sender's address and
 * port, and the judgement of the handshake. */
typedef struct {
    address addr0;
    guint32 port0;
    mqtt_stream_t *dir[2];
    ws_entry_t entry;         /* the entry of its first message */
    gboolean judged;          /* [MQTT-6.0.0-3/4] judged (first pass) */
    guint32 judged_frame;     /* ... with the client's first packet, in this message */
    guint32 judged_index;
    mqtt_ws_handshake_t hs;   /* what was judged */
    mqtt_finding_t findings[2];
    unsigned nfindings;
} ws_conv_t;

/* What one message holds, kept from the first pass. */
typedef struct {
    mqtt_stream_msg_t msg;
    ws_conv_t *wc;
    guint8 dir;
    guint8 opcode;            /* of its (first) frame, 0 when not known */
} ws_msg_t;

/* Per frame key of the index-th message that completes in it. */
#define KEY_WS_MSG(i) (0x57530000u + (i))
#define KEY_WS_COUNT 0x5753FFFFu

static wmem_map_t *ws_convs;

static void forget_convs(void)
{
    ws_convs = NULL;
    ws_watches = NULL;
}

static ws_conv_t *ws_conv_get(packet_info *pinfo, ws_entry_t entry)
{
    conversation_t *conv = find_or_create_conversation(pinfo);
    if (!ws_convs)
        ws_convs = wmem_map_new(wmem_file_scope(), g_direct_hash, g_direct_equal);
    ws_conv_t *wc = (ws_conv_t *)wmem_map_lookup(ws_convs, conv);
    if (!wc) {
        wc = wmem_new0(wmem_file_scope(), ws_conv_t);
        copy_address_wmem(wmem_file_scope(), &wc->addr0, &pinfo->src);
        wc->port0 = pinfo->srcport;
        wc->dir[0] = mqtt_stream_new(wmem_file_scope());
        wc->dir[1] = mqtt_stream_new(wmem_file_scope());
        wc->entry = entry;
        wmem_map_insert(ws_convs, conv, wc);
    }
    return wc;
}

static int ws_dir(const ws_conv_t *wc, const packet_info *pinfo)
{
    return pinfo->srcport == wc->port0 && addresses_equal(&wc->addr0, &pinfo->src) ? 0 : 1;
}

/* The index of this message among those completing in the frame, counted
 * the same way on every pass. */
static guint32 next_message_index(packet_info *pinfo)
{
    guint32 n = GPOINTER_TO_UINT(p_get_proto_data(pinfo->pool, pinfo, proto_mqttlens, KEY_WS_COUNT));
    p_add_proto_data(pinfo->pool, pinfo, proto_mqttlens, KEY_WS_COUNT, GUINT_TO_POINTER(n + 1));
    return n;
}

/* Who sent the message: the side that answered the upgrade with 101 is
 * the server, the other the client.  Without the upgrade in the capture,
 * the ports decide as on TCP. */
static mqttlens_sender_t ws_sender(packet_info *pinfo)
{
    const ws_watch_t *w = watch_get(pinfo, FALSE);
    if (!w || !w->hs.response_seen)
        return MQTTLENS_SENDER_BY_PORT;
    gboolean from_server = pinfo->srcport == w->server_port && addresses_equal(&pinfo->src, &w->server_addr);
    return from_server ? MQTTLENS_SENDER_SERVER : MQTTLENS_SENDER_CLIENT;
}

/* What the server selected, as the entry that was called says; for the
 * heuristic entry what its 101 response said (none, or another one). */
static mqtt_ws_handshake_t handshake_of(const ws_conv_t *wc, packet_info *pinfo)
{
    const ws_watch_t *w = watch_get(pinfo, FALSE);
    mqtt_ws_handshake_t hs = {false, NULL, false, NULL};
    if (w)
        hs = w->hs;
    switch (wc->entry) {
    case WS_ENTRY_MQTT:
        hs.selected = "mqtt";
        hs.response_seen = true; /* Wireshark's HTTP saw the upgrade select it */
        break;
    case WS_ENTRY_MQTTV31:
        hs.selected = "mqttv3.1";
        hs.response_seen = true;
        break;
    case WS_ENTRY_PORT:
        hs.selected = NULL;
        break;
    case WS_ENTRY_HEUR:
        break;
    }
    return hs;
}

/* First pass: [MQTT-6.0.0-3/4] once per connection, with the client's
 * first complete MQTT packet (normally its CONNECT; a 3.1 client may use
 * "mqttv3.1"), so neither the order of the first messages nor a packet
 * split over several of them matters. */
static void judge_handshake(ws_conv_t *wc, packet_info *pinfo, tvbuff_t *tvb, const mqtt_stream_msg_t *msg,
                            guint32 index)
{
    if (wc->judged)
        return;
    const guint8 *first;
    guint32 len;
    if (msg->head) {
        first = msg->head;
        len = msg->head_len;
    } else if (msg->body_off < msg->tail_off) {
        first = tvb_get_ptr(tvb, (gint)msg->body_off, (gint)(msg->tail_off - msg->body_off));
        len = msg->tail_off - msg->body_off;
    } else {
        return; /* no complete packet here */
    }
    mqttlens_sender_t sender = ws_sender(pinfo);
    gboolean client = sender == MQTTLENS_SENDER_BY_PORT ? (first[0] >> 4) == MQTT_CONNECT
                                                         : sender == MQTTLENS_SENDER_CLIENT;
    if (!client)
        return;
    wc->judged = TRUE;
    wc->judged_frame = pinfo->num;
    wc->judged_index = index;
    wc->hs = handshake_of(wc, pinfo);
    wc->nfindings = mqtt_ws_judge_handshake(&wc->hs, first, len, wmem_file_scope(), wc->findings);
}

/* The WebSocket side of a message: the handshake where it was judged, and
 * [MQTT-6.0.0-1] for a text message. */
static void show_transport(const ws_msg_t *m, guint32 index, tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree)
{
    const ws_conv_t *wc = m->wc;
    gboolean judged_here = wc->judged && wc->judged_frame == pinfo->num && wc->judged_index == index;
    mqtt_finding_t text;
    gboolean is_text = mqtt_ws_message_finding(m->opcode, &text);
    if (!judged_here && !is_text)
        return;
    proto_item *ti = proto_tree_add_item(tree, proto_mqttlens, tvb, 0, 0, ENC_NA);
    proto_item_append_text(ti, ", WebSocket transport");
    proto_tree *sub = proto_item_add_subtree(ti, ett_ws);
    if (m->opcode) {
        proto_item *op = proto_tree_add_uint(sub, hf_ws_opcode, tvb, 0, 0, m->opcode);
        proto_item_set_generated(op);
        if (is_text)
            mqtt_expert_report(pinfo, sub, op, tvb, 0, &text, 0);
    }
    if (!judged_here)
        return;
    if (wc->hs.request_seen) {
        proto_item *it = proto_tree_add_string(sub, hf_ws_offer, tvb, 0, 0, wc->hs.offer ? wc->hs.offer : "(none)");
        proto_item_set_generated(it);
    }
    proto_item *it = proto_tree_add_string(sub, hf_ws_subprotocol, tvb, 0, 0,
                                           !wc->hs.response_seen ? (pref_ws_fields ? "(the upgrade is not in the capture)"
                                                                                   : "(not read: websocket_fields is off)")
                                           : wc->hs.selected     ? wc->hs.selected
                                                                 : "(none)");
    proto_item_set_generated(it);
    for (unsigned i = 0; i < wc->nfindings; i++)
        mqtt_expert_report(pinfo, sub, it, tvb, 0, &wc->findings[i], 0);
}

/* Bytes of a packet that begins or continues here and completes later
 * (or never). */
static void show_partial(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, int off, const ws_msg_t *m,
                         guint32 start)
{
    proto_item *ti = proto_tree_add_item(tree, proto_mqttlens, tvb, off, -1, ENC_NA);
    proto_tree *sub = proto_item_add_subtree(ti, ett_ws);
    proto_tree_add_item(sub, hf_ws_partial, tvb, off, -1, ENC_NA);
    guint32 pend_start;
    guint64 announced;
    gboolean never = PINFO_FD_VISITED(pinfo) && mqtt_stream_pending(m->wc->dir[m->dir], &pend_start, &announced) &&
                     pend_start == start;
    if (!never) {
        proto_item_append_text(ti, ", part of a packet that continues in a later WebSocket message");
        return;
    }
    conversation_t *conv = find_or_create_conversation(pinfo);
    struct tcp_analysis *tcpd = (struct tcp_analysis *)conversation_get_proto_data(conv, proto_tcp);
    gboolean closed = tcpd && (tcpd->conversation_completeness & (TCP_COMPLETENESS_FIN | TCP_COMPLETENESS_RST));
    proto_item_append_text(ti, ", part of a packet that never completes");
    if (start != pinfo->num)
        return; /* reported once, where it began */
    mqtt_finding_t f = mqtt_core_unfinished_packet(closed, announced, pinfo->pool);
    mqtt_expert_report(pinfo, sub, NULL, tvb, off, &f, 0);
}

static void dissect_packets(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const ws_msg_t *m, guint32 index)
{
    mqttlens_sender_t sender = PINFO_FD_VISITED(pinfo) ? MQTTLENS_SENDER_BY_PORT : ws_sender(pinfo);
    const mqtt_stream_msg_t *msg = &m->msg;
    guint len = tvb_captured_length(tvb);
    gboolean complete = msg->head || msg->body_off < msg->tail_off || msg->bad_off != MQTT_STREAM_NONE;
    if (!complete && index == 0)
        col_set_str(pinfo->cinfo, COL_INFO, "[Part of an MQTT packet that continues in a later WebSocket message]");
    if (msg->cont_start != MQTT_STREAM_NONE) {
        show_partial(tvb, pinfo, tree, 0, m, msg->cont_start);
        return;
    }
    if (msg->head) {
        tvbuff_t *whole = tvb_new_child_real_data(tvb, msg->head, msg->head_len, msg->head_len);
        add_new_data_source(pinfo, whole, "Reassembled MQTT");
        mqttlens_dissect_pdu(whole, pinfo, tree, sender);
    }
    guint off = msg->body_off;
    while (off < msg->tail_off) {
        const guint8 *p = tvb_get_ptr(tvb, (gint)off, (gint)(msg->tail_off - off));
        guint64 size = mqtt_stream_whole(p, msg->tail_off - off);
        if (!size)
            break; /* cannot happen: the first pass framed these bytes */
        mqttlens_dissect_pdu(tvb_new_subset_length(tvb, (gint)off, (gint)size), pinfo, tree, sender);
        off += (guint)size;
    }
    if (msg->bad_off != MQTT_STREAM_NONE) {
        mqtt_finding_t f = mqtt_core_unframed_message();
        mqttlens_dissect_unframed(tvb_new_subset_remaining(tvb, (gint)msg->bad_off), pinfo, tree, &f);
        return;
    }
    if (msg->tail_off < len)
        show_partial(tvb, pinfo, tree, (int)msg->tail_off, m, pinfo->num);
}

/* First pass: the message goes into its direction's stream. */
static ws_msg_t *first_pass(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, ws_entry_t entry, guint32 index)
{
    ws_msg_t *m = wmem_new0(wmem_file_scope(), ws_msg_t);
    m->wc = ws_conv_get(pinfo, entry);
    m->dir = (guint8)ws_dir(m->wc, pinfo);
    m->opcode = (guint8)message_opcode(pinfo, tree);
    guint len = tvb_captured_length(tvb);
    mqtt_stream_feed(m->wc->dir[m->dir], tvb_get_ptr(tvb, 0, (gint)len), len, pinfo->num, &m->msg);
    judge_handshake(m->wc, pinfo, tvb, &m->msg, index);
    p_add_proto_data(wmem_file_scope(), pinfo, proto_mqttlens, KEY_WS_MSG(index), m);
    return m;
}

static int dissect_ws_entry(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, ws_entry_t entry)
{
    guint32 index = next_message_index(pinfo);
    ws_msg_t *m = (ws_msg_t *)p_get_proto_data(wmem_file_scope(), pinfo, proto_mqttlens, KEY_WS_MSG(index));
    if (!m) {
        if (PINFO_FD_VISITED(pinfo))
            return 0; /* not seen on the first pass */
        m = first_pass(tvb, pinfo, tree, entry, index);
    }
    /* The WebSocket dissector rewrites the columns at each of its frames;
     * the ones after this message (a pong, the next message) must not
     * wipe out what the MQTT packets wrote. */
    col_set_writable(pinfo->cinfo, COL_PROTOCOL, TRUE);
    col_set_writable(pinfo->cinfo, COL_INFO, TRUE);
    col_set_str(pinfo->cinfo, COL_PROTOCOL, "MQTT");
    show_transport(m, index, tvb, pinfo, tree);
    dissect_packets(tvb, pinfo, tree, m, index);
    col_set_writable(pinfo->cinfo, COL_PROTOCOL, FALSE);
    col_set_writable(pinfo->cinfo, COL_INFO, FALSE);
    return (int)tvb_captured_length(tvb);
}

static int dissect_ws_mqtt(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data _U_)
{
    return dissect_ws_entry(tvb, pinfo, tree, WS_ENTRY_MQTT);
}

static int dissect_ws_mqttv31(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data _U_)
{
    return dissect_ws_entry(tvb, pinfo, tree, WS_ENTRY_MQTTV31);
}

static int dissect_ws_port(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data _U_)
{
    return dissect_ws_entry(tvb, pinfo, tree, WS_ENTRY_PORT);
}

/* The "ws" heuristic list: a WebSocket connection that no subprotocol or
 * port entry gave to anyone, whose first message is an MQTT CONNECT;
 * afterwards every message of the connection. */
static ws_compat_bool dissect_ws_heur(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data _U_)
{
    conversation_t *conv = find_or_create_conversation(pinfo);
    gboolean ours = ws_convs && wmem_map_lookup(ws_convs, conv);
    if (!ours) {
        guint len = tvb_captured_length(tvb);
        if (PINFO_FD_VISITED(pinfo) || !mqtt_looks_like_connect(tvb_get_ptr(tvb, 0, (gint)len), len))
            return FALSE;
    }
    dissect_ws_entry(tvb, pinfo, tree, WS_ENTRY_HEUR);
    return TRUE;
}

/* ---- ports -------------------------------------------------------------------- */

static void add_tls_port(guint32 port, gpointer ud _U_)
{
    ssl_dissector_add(port, http_tls_handle);
}

static void delete_tls_port(guint32 port, gpointer ud _U_)
{
    ssl_dissector_delete(port, http_tls_handle);
}

/* The ports given to HTTP (ws) and to HTTP inside TLS (wss) so that the
 * WebSocket upgrade is seen there; called at handoff and whenever the
 * preferences change. */
static void apply_ports(void)
{
    if (!http_tcp_handle || !http_tls_handle)
        return;
    if (ws_ports_in_use) {
        dissector_delete_uint_range("tcp.port", ws_ports_in_use, http_tcp_handle);
        dissector_delete_uint_range("ws.port", ws_ports_in_use, ws_port_handle);
        wmem_free(wmem_epan_scope(), ws_ports_in_use);
    }
    if (wss_ports_in_use) {
        range_foreach(wss_ports_in_use, delete_tls_port, NULL);
        dissector_delete_uint_range("ws.port", wss_ports_in_use, ws_port_handle);
        wmem_free(wmem_epan_scope(), wss_ports_in_use);
    }
    ws_ports_in_use = range_copy(wmem_epan_scope(), pref_ws_ports);
    wss_ports_in_use = range_copy(wmem_epan_scope(), pref_wss_ports);
    dissector_add_uint_range("tcp.port", ws_ports_in_use, http_tcp_handle);
    range_foreach(wss_ports_in_use, add_tls_port, NULL);
    dissector_add_uint_range("ws.port", ws_ports_in_use, ws_port_handle);
    dissector_add_uint_range("ws.port", wss_ports_in_use, ws_port_handle);
}

/* Whether mqttlens, disabled now, may be enabled while the file stays
 * open: in Wireshark (Analyze > Enabled Protocols), not in tshark or
 * rawshark, whose protocols are fixed for the run.  Wireshark decides
 * whether a redissection builds a tree before it runs the init routines,
 * so fields wanted only once mqttlens is enabled would come one
 * redissection late: the WebSocket checks of the file were lost until it
 * was reloaded (seen in wireshark-qt 4.0: disable, enable, no
 * rule.websocket_text_frame).  The program's name is the only sign of it. */
static gboolean may_be_enabled_later(void)
{
    const char *name = g_get_prgname();
    return !name || !(g_str_has_prefix(name, "tshark") || g_str_has_prefix(name, "rawshark"));
}

/* The fields the postdissector wants built on the first pass: none when
 * the preference websocket_fields is off, or when mqttlens is disabled in
 * a program that cannot enable it again during the run.  Wanting any makes
 * tshark and Wireshark build a tree for every frame of the first pass,
 * which a disabled mqttlens must not cost where it can be avoided.  They
 * ask postdissectors_want_hfids() once per dissection of the file: when a
 * file is opened after the init routines, but when Wireshark redissects it
 * (a preference changed, protocols enabled) before them, so the
 * preference's callback sets the fields too, and in Wireshark a disabled
 * mqttlens keeps them (may_be_enabled_later). */
static void want_fields(void)
{
    if (!ws_post_handle)
        return;
    int wanted[] = {hf_websocket_opcode, hf_http_request, hf_http_response_code, hf_http_upgrade,
                    hf_http_sec_websocket_protocol};
    gboolean enabled = proto_is_protocol_enabled(find_protocol_by_id(proto_mqttlens));
    gboolean want = pref_ws_fields && (enabled || may_be_enabled_later());
    GArray *a = NULL;
    for (size_t i = 0; want && i < G_N_ELEMENTS(wanted); i++) {
        if (wanted[i] <= 0)
            continue;
        if (!a)
            a = g_array_new(FALSE, FALSE, (guint)sizeof(int));
        g_array_append_val(a, wanted[i]);
    }
    set_postdissector_wanted_hfids(ws_post_handle, a);
}

static void find_fields(void)
{
    hf_websocket_opcode = proto_registrar_get_id_byname("websocket.opcode");
    hf_http_request = proto_registrar_get_id_byname("http.request");
    hf_http_response_code = proto_registrar_get_id_byname("http.response.code");
    hf_http_upgrade = proto_registrar_get_id_byname("http.upgrade");
    hf_http_sec_websocket_protocol = proto_registrar_get_id_byname("http.sec_websocket_protocol");
    register_postdissector(ws_post_handle);
}

void mqtt_ws_register(int proto, module_t *module)
{
    static hf_register_info hf[] = {
        {&hf_ws_partial, {"Partial MQTT packet", "mqttlens.ws.partial", FT_BYTES, BASE_NONE, NULL, 0,
                          "Bytes of an MQTT packet that is completed in a later WebSocket message", HFILL}},
        {&hf_ws_subprotocol, {"WebSocket subprotocol", "mqttlens.ws.subprotocol", FT_STRING, BASE_NONE, NULL, 0,
                              "The subprotocol the server selected in the WebSocket upgrade", HFILL}},
        {&hf_ws_offer, {"WebSocket subprotocols offered", "mqttlens.ws.offer", FT_STRING, BASE_NONE, NULL, 0,
                        "The subprotocols the client offered in its WebSocket upgrade request", HFILL}},
        {&hf_ws_opcode, {"WebSocket message opcode", "mqttlens.ws.opcode", FT_UINT8, BASE_DEC, VALS(ws_opcode_names),
                         0, "The opcode of the (first frame of the) WebSocket message that carried the MQTT bytes",
                         HFILL}},
    };
    static gint *ett[] = {&ett_ws};
    proto_mqttlens = proto;
    proto_register_field_array(proto, hf, array_length(hf));
    proto_register_subtree_array(ett, array_length(ett));

    range_convert_str(wmem_epan_scope(), &pref_ws_ports, WS_DEFAULT_PORTS, 65535);
    range_convert_str(wmem_epan_scope(), &pref_wss_ports, WSS_DEFAULT_PORTS, 65535);
    prefs_register_range_preference(module, "ws_ports", "WebSocket (ws) TCP ports",
                                    "TCP ports decoded as HTTP so that MQTT over WebSocket on them is "
                                    "found even without HTTP's heuristic (8080 and 80 are HTTP's already), "
                                    "and whose WebSocket connections are MQTT when the server selected no "
                                    "subprotocol.",
                                    &pref_ws_ports, 65535);
    prefs_register_range_preference(module, "wss_ports", "WebSocket over TLS (wss) ports",
                                    "TLS ports whose application data is decoded as HTTP so that MQTT "
                                    "over WebSocket inside TLS is found (443 is HTTPS already), and whose "
                                    "WebSocket connections are MQTT when the server selected no subprotocol.",
                                    &pref_wss_ports, 65535);

    prefs_register_bool_preference(module, "websocket_fields", "Read the WebSocket handshake and opcodes",
                                   "Whether mqttlens reads Wireshark's HTTP upgrade headers and WebSocket "
                                   "opcodes to judge the client's subprotocol offer [MQTT-6.0.0-3], a server "
                                   "that selected none off the ws ports [MQTT-6.0.0-4] and text messages "
                                   "[MQTT-6.0.0-1], and to tell client from server by the upgrade. It makes "
                                   "Wireshark build a protocol tree for every packet of the first pass "
                                   "(docs/heuristics.md); in Wireshark also while mqttlens is disabled, so "
                                   "that enabling it needs no reload (docs/performance.md).",
                                   &pref_ws_fields);
    ws_mqtt_handle = create_dissector_handle(dissect_ws_mqtt, proto);
    ws_mqttv31_handle = create_dissector_handle(dissect_ws_mqttv31, proto);
    ws_port_handle = create_dissector_handle(dissect_ws_port, proto);
    ws_post_handle = create_dissector_handle(dissect_ws_post, proto);
    register_cleanup_routine(forget_convs);
    /* at every (re)dissection: whether mqttlens is enabled may have changed */
    register_init_routine(want_fields);
}

void mqtt_ws_handoff(void)
{
    proto_tcp = proto_get_id_by_filter_name("tcp");
    http_tcp_handle = find_dissector("http-over-tcp");
    http_tls_handle = find_dissector("http-over-tls");
    /* One entry per subprotocol: the one called tells which the server
     * selected ([MQTT-6.0.0-4]). */
    dissector_add_string("ws.protocol", "mqtt", ws_mqtt_handle);
    dissector_add_string("ws.protocol", "mqttv3.1", ws_mqttv31_handle);
    find_fields();
    want_fields();
    heur_dissector_add("ws", dissect_ws_heur, "MQTT over WebSocket (first message a CONNECT)", "mqttlens_ws",
                       proto_mqttlens, HEURISTIC_ENABLE);
    apply_ports();
}

void mqtt_ws_prefs_changed(void)
{
    apply_ports();
    if (ws_post_handle && hf_websocket_opcode != -1)
        want_fields();
}
