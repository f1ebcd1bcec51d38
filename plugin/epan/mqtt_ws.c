/* mqtt_ws.c — MQTT over WebSocket.
 *
 * Wireshark's WebSocket dissector hands over one message at a time, after
 * unmasking and after joining a fragmented message, in the frame where the
 * message completes (several messages may complete in one frame).  It finds
 * mqttlens by the subprotocol the server selected (the "ws.protocol" table:
 * "mqtt", and "mqttv3.1" of MQTT 3.1), by the server's port when none was
 * selected ("ws.port"), or through the heuristic list "ws".
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
#include <epan/dissectors/packet-http.h>
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
static int proto_http = -1;
static int proto_tcp = -1;
static int hf_ws_partial = -1;
static int hf_ws_subprotocol = -1;
static gint ett_ws = -1;

static dissector_handle_t ws_handle;
static dissector_handle_t http_tcp_handle;
static dissector_handle_t http_tls_handle;

static range_t *pref_ws_ports;
static range_t *pref_wss_ports;
static range_t *ws_ports_in_use;
static range_t *wss_ports_in_use;

/* Per WebSocket connection: the two directions' streams, told apart by
 * the sender's address and port. */
typedef struct {
    address addr0;
    guint32 port0;
    mqtt_stream_t *dir[2];
    gboolean checked;         /* the subprotocol was judged (first pass) */
    const char *subprotocol;  /* the one the server selected, NULL if none */
    gboolean bad_subprotocol;
    gboolean subprotocol_unknown; /* the Wireshark built against does not tell it (4.6) */
    guint32 first_frame;      /* where the judgement is shown */
} ws_conv_t;

/* What one message holds, kept from the first pass. */
typedef struct {
    mqtt_stream_msg_t msg;
    ws_conv_t *wc;
    guint8 dir;
} ws_msg_t;

/* Per frame key of the index-th message that completes in it. */
#define KEY_WS_MSG(i) (0x57530000u + (i))
#define KEY_WS_COUNT 0x5753FFFFu

static wmem_map_t *ws_convs;

static void forget_convs(void)
{
    ws_convs = NULL;
}

static ws_conv_t *ws_conv_get(packet_info *pinfo)
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

/* First pass, first message of the connection: the subprotocol the HTTP
 * upgrade selected. */
static void judge_subprotocol(ws_conv_t *wc, packet_info *pinfo, tvbuff_t *tvb)
{
    if (wc->checked)
        return;
    wc->checked = TRUE;
    wc->first_frame = pinfo->num;
#if WS_COMPAT_AT_LEAST(4, 6)
    /* 4.6's http_conv_t no longer records the subprotocol the upgrade
     * selected: it is not known, and [MQTT-6.0.0-4] is not judged
     * (docs/preferences.md). */
    (void)tvb;
    wc->subprotocol_unknown = TRUE;
#else
    conversation_t *conv = find_or_create_conversation(pinfo);
    const http_conv_t *hc = (const http_conv_t *)conversation_get_proto_data(conv, proto_http);
    if (hc && hc->websocket_protocol)
        wc->subprotocol = wmem_strdup(wmem_file_scope(), hc->websocket_protocol);
    guint len = tvb_captured_length(tvb);
    wc->bad_subprotocol = !mqtt_ws_subprotocol_allowed(wc->subprotocol, tvb_get_ptr(tvb, 0, (gint)len), len);
#endif
}

static void show_subprotocol(const ws_conv_t *wc, tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree)
{
    proto_item *ti = proto_tree_add_item(tree, proto_mqttlens, tvb, 0, 0, ENC_NA);
    proto_item_append_text(ti, ", WebSocket transport");
    proto_tree *sub = proto_item_add_subtree(ti, ett_ws);
    proto_item *it = proto_tree_add_string(sub, hf_ws_subprotocol, tvb, 0, 0,
                                           wc->subprotocol       ? wc->subprotocol
                                           : wc->subprotocol_unknown ? "(not known to this Wireshark version)"
                                                                     : "(none)");
    proto_item_set_generated(it);
    if (!wc->bad_subprotocol)
        return;
    mqtt_finding_t f = mqtt_ws_subprotocol_finding(wc->subprotocol, pinfo->pool);
    mqtt_expert_report(pinfo, sub, it, tvb, 0, &f, 0);
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

/* Who sent the message: the side that sent the HTTP Upgrade is the client,
 * the side that answered it the server (HTTP keeps the server's address
 * and port from its response).  Without the upgrade in the capture, the
 * ports decide as on TCP. */
static mqttlens_sender_t ws_sender(packet_info *pinfo)
{
    conversation_t *conv = find_or_create_conversation(pinfo);
    const http_conv_t *hc = (const http_conv_t *)conversation_get_proto_data(conv, proto_http);
    if (!hc || !hc->server_port)
        return MQTTLENS_SENDER_BY_PORT;
    gboolean from_server = pinfo->srcport == hc->server_port &&
                           (hc->server_addr.type == AT_NONE || addresses_equal(&pinfo->src, &hc->server_addr));
    return from_server ? MQTTLENS_SENDER_SERVER : MQTTLENS_SENDER_CLIENT;
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

static int dissect_mqtt_ws(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data _U_)
{
    guint32 index = next_message_index(pinfo);
    ws_msg_t *m = (ws_msg_t *)p_get_proto_data(wmem_file_scope(), pinfo, proto_mqttlens, KEY_WS_MSG(index));
    if (!m) {
        if (PINFO_FD_VISITED(pinfo))
            return 0; /* not seen on the first pass */
        m = wmem_new0(wmem_file_scope(), ws_msg_t);
        m->wc = ws_conv_get(pinfo);
        m->dir = (guint8)ws_dir(m->wc, pinfo);
        judge_subprotocol(m->wc, pinfo, tvb);
        guint len = tvb_captured_length(tvb);
        mqtt_stream_feed(m->wc->dir[m->dir], tvb_get_ptr(tvb, 0, (gint)len), len, pinfo->num, &m->msg);
        p_add_proto_data(wmem_file_scope(), pinfo, proto_mqttlens, KEY_WS_MSG(index), m);
    }
    /* The WebSocket dissector rewrites the columns at each of its frames;
     * the ones after this message (a pong, the next message) must not
     * wipe out what the MQTT packets wrote. */
    col_set_writable(pinfo->cinfo, COL_PROTOCOL, TRUE);
    col_set_writable(pinfo->cinfo, COL_INFO, TRUE);
    col_set_str(pinfo->cinfo, COL_PROTOCOL, "MQTT");
    if (index == 0 && m->wc->first_frame == pinfo->num)
        show_subprotocol(m->wc, tvb, pinfo, tree);
    dissect_packets(tvb, pinfo, tree, m, index);
    col_set_writable(pinfo->cinfo, COL_PROTOCOL, FALSE);
    col_set_writable(pinfo->cinfo, COL_INFO, FALSE);
    return (int)tvb_captured_length(tvb);
}

/* The "ws" heuristic list: a WebSocket connection on a port that no
 * subprotocol or port entry gave to anyone, whose first message is an MQTT
 * CONNECT; afterwards every message of the connection. */
static ws_compat_bool dissect_mqtt_ws_heur(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data)
{
    conversation_t *conv = find_or_create_conversation(pinfo);
    gboolean ours = ws_convs && wmem_map_lookup(ws_convs, conv);
    if (!ours) {
        guint len = tvb_captured_length(tvb);
        if (PINFO_FD_VISITED(pinfo) || !mqtt_looks_like_connect(tvb_get_ptr(tvb, 0, (gint)len), len))
            return FALSE;
    }
    dissect_mqtt_ws(tvb, pinfo, tree, data);
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
        dissector_delete_uint_range("ws.port", ws_ports_in_use, ws_handle);
        wmem_free(wmem_epan_scope(), ws_ports_in_use);
    }
    if (wss_ports_in_use) {
        range_foreach(wss_ports_in_use, delete_tls_port, NULL);
        dissector_delete_uint_range("ws.port", wss_ports_in_use, ws_handle);
        wmem_free(wmem_epan_scope(), wss_ports_in_use);
    }
    ws_ports_in_use = range_copy(wmem_epan_scope(), pref_ws_ports);
    wss_ports_in_use = range_copy(wmem_epan_scope(), pref_wss_ports);
    dissector_add_uint_range("tcp.port", ws_ports_in_use, http_tcp_handle);
    range_foreach(wss_ports_in_use, add_tls_port, NULL);
    dissector_add_uint_range("ws.port", ws_ports_in_use, ws_handle);
    dissector_add_uint_range("ws.port", wss_ports_in_use, ws_handle);
}

void mqtt_ws_register(int proto, module_t *module)
{
    static hf_register_info hf[] = {
        {&hf_ws_partial, {"Partial MQTT packet", "mqttlens.ws.partial", FT_BYTES, BASE_NONE, NULL, 0,
                          "Bytes of an MQTT packet that is completed in a later WebSocket message", HFILL}},
        {&hf_ws_subprotocol, {"WebSocket subprotocol", "mqttlens.ws.subprotocol", FT_STRING, BASE_NONE, NULL, 0,
                              "The subprotocol the server selected in the WebSocket upgrade", HFILL}},
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

    ws_handle = create_dissector_handle(dissect_mqtt_ws, proto);
    register_cleanup_routine(forget_convs);
}

void mqtt_ws_handoff(void)
{
    proto_http = proto_get_id_by_filter_name("http");
    proto_tcp = proto_get_id_by_filter_name("tcp");
    http_tcp_handle = find_dissector("http-over-tcp");
    http_tls_handle = find_dissector("http-over-tls");
    dissector_add_string("ws.protocol", "mqtt", ws_handle);
    dissector_add_string("ws.protocol", "mqttv3.1", ws_handle);
    heur_dissector_add("ws", dissect_mqtt_ws_heur, "MQTT over WebSocket (first message a CONNECT)", "mqttlens_ws",
                       proto_mqttlens, HEURISTIC_ENABLE);
    apply_ports();
}

void mqtt_ws_prefs_changed(void)
{
    apply_ports();
}
