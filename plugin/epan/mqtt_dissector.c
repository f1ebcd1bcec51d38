/* mqtt_dissector.c — framing of MQTT over TCP/TLS, per-connection and
 * per-packet bookkeeping, and the protocol's registration.
 *
 * One TCP segment may hold several MQTT packets, a packet may span many
 * segments, and even the Remaining Length field may be split: the framing
 * asks TCP for one more segment until the field is complete.  A Remaining
 * Length with a fifth byte cannot be framed; everything that follows it in
 * that direction is shown as unframed data.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_dissector.h"

#include <epan/to_str.h>
#include <epan/conversation.h>
#include <epan/expert.h>
#include <epan/prefs.h>
#include <epan/proto_data.h>
#include <epan/dissectors/packet-tcp.h>
#include <epan/dissectors/packet-tls.h>

#include "mqtt_expert.h"
#include "mqtt_payload.h"
#include "mqtt_conn.h"
#include "mqtt_core.h"
#include "mqtt_taps.h"
#include "mqtt_tree.h"
#include "mqtt_wire.h"
#include "mqtt_ws.h"
#include "mqtt_heur.h"
#include "ws_compat.h"

#define MQTT_TCP_PORT 1883
#define MQTT_TLS_PORT 8883

static int proto_mqttlens = -1;
static int proto_tcp = -1;
static int proto_tls = -1;
static int hf_unframed = -1;
static gint ett_unframed = -1;

static dissector_handle_t mqttlens_handle;
static dissector_handle_t builtin_handle;

/* Preferences */
static ws_compat_bool pref_desegment = TRUE;
static gint pref_default_version = MQTT_V311;
static ws_compat_bool pref_mask_passwords = FALSE;

static const enum_val_t version_enum[] = {
    {"3.1.1", "MQTT 3.1.1 (and 3.1)", MQTT_V311},
    {"5.0", "MQTT 5.0", MQTT_V5},
    {NULL, NULL, 0},
};

/* ---- per TCP conversation ------------------------------------------------- */

/* The snapshots of a stream's packets, in the order of the first pass, in
 * chunks that double in size (so that pointers to them stay valid and a
 * short connection wastes little). */
typedef struct snap_chunk {
    struct snap_chunk *next;
    guint32 count;
    guint32 capacity;
    mqtt_snapshot_t items[];
} snap_chunk_t;

#define SNAP_CHUNK_FIRST 4u
#define SNAP_CHUNK_MAX 4096u

/* The time of every frame that carries MQTT packets of a stream, in frame
 * order, in chunks like the snapshots'.  A frame may carry thousands of
 * MQTT packets, so the times are kept here rather than in each snapshot;
 * response and idle times are worked out from them when shown. */
typedef struct time_chunk {
    struct time_chunk *next;
    guint32 count;
    guint32 capacity;
    gint64 *ns;               /* capacity times, stored after the frames */
    guint32 frames[];
} time_chunk_t;

/* The two endpoints of the conversation are told apart by their port
 * (and by their address when both use the same port); endpoint 0 is the
 * first one seen sending MQTT bytes. */
typedef struct {
    mqtt_conn_t *conn;
    conversation_t *conv;
    guint32 port0;
    address *addr0;           /* only when both endpoints use the same port */
    guint32 unframed_from[2]; /* frame after which an endpoint's bytes cannot be framed */
    snap_chunk_t *chunks;     /* the snapshots of its packets, in order */
    snap_chunk_t *last_chunk;
    time_chunk_t *times;      /* the time of each of its frames */
    time_chunk_t *last_times;
    const char *address_text[2]; /* each endpoint's address as text, made when first needed */
    guint32 closed_in;        /* frame of the connection's first TCP FIN or RST, 0 until seen */
    guint32 pending_frame[2]; /* frame where a packet still being reassembled starts */
    guint32 pending_size[2];  /* the size its Remaining Length announces */
    guint8 pending_version;
    gboolean client_hinted;   /* the transport said which endpoint is the client: */
    address client_addr;
    guint32 client_port;
} mqtt_stream_t;

/* What one dissection of a frame remembers: its stream, looked up once,
 * and how many MQTT packets it has had (several can share a frame; each
 * gets its index, counted in the same order on every pass). */
typedef struct {
    mqtt_stream_t *st;
    guint32 packets;
    guint8 depth; /* MQTT packets being dissected (more than one when a payload rule leads back here) */
} frame_ctx_t;

#define KEY_FRAME 0xFFFFFFFEu

static frame_ctx_t *frame_ctx(packet_info *pinfo)
{
    frame_ctx_t *fc = (frame_ctx_t *)p_get_proto_data(pinfo->pool, pinfo, proto_mqttlens, KEY_FRAME);
    if (!fc) {
        fc = wmem_new0(pinfo->pool, frame_ctx_t);
        p_add_proto_data(pinfo->pool, pinfo, proto_mqttlens, KEY_FRAME, fc);
    }
    return fc;
}

/* Whether one of the frame's layers is protocol `proto`: the list holds
 * protocol ids, where proto_is_frame_protocol() compares every layer's name. */
static gboolean frame_has_layer(const packet_info *pinfo, int proto)
{
    return wmem_list_find(pinfo->layers, GINT_TO_POINTER(proto)) != NULL;
}

static mqtt_stream_t *stream_get(packet_info *pinfo)
{
    frame_ctx_t *fc = frame_ctx(pinfo);
    if (fc->st)
        return fc->st;
    conversation_t *conv = find_or_create_conversation(pinfo);
    mqtt_stream_t *st = (mqtt_stream_t *)conversation_get_proto_data(conv, proto_mqttlens);
    if (!st) {
        st = wmem_new0(wmem_file_scope(), mqtt_stream_t);
        st->conn = mqtt_conn_new(wmem_file_scope());
        st->conv = conv;
        st->port0 = pinfo->srcport;
        if (pinfo->srcport == pinfo->destport) {
            st->addr0 = wmem_new(wmem_file_scope(), address);
            copy_address_wmem(wmem_file_scope(), st->addr0, &pinfo->src);
        }
        conversation_add_proto_data(conv, proto_mqttlens, st);
    }
    fc->st = st;
    return st;
}

void mqttlens_hint_client(packet_info *pinfo, gboolean sender_is_client)
{
    mqtt_stream_t *st = stream_get(pinfo);
    if (PINFO_FD_VISITED(pinfo) || st->client_hinted)
        return;
    st->client_hinted = TRUE;
    copy_address_wmem(wmem_file_scope(), &st->client_addr, sender_is_client ? &pinfo->src : &pinfo->dst);
    st->client_port = sender_is_client ? pinfo->srcport : pinfo->destport;
}

static int endpoint_index(const mqtt_stream_t *st, const packet_info *pinfo)
{
    if (st->addr0)
        return addresses_equal(st->addr0, &pinfo->src) ? 0 : 1;
    return pinfo->srcport == st->port0 ? 0 : 1;
}

/* Whether the sender is the client when the first packet's type does not
 * tell (the core decides with this hint): what the transport knows (the
 * WebSocket upgrade's sides, the run heuristic's packet types), else the
 * ports: the client is not on the
 * port the dissector was selected by, else it has the higher port. */
static gboolean client_by_port(const mqtt_stream_t *st, const packet_info *pinfo, mqttlens_sender_t sender)
{
    if (sender != MQTTLENS_SENDER_BY_PORT)
        return sender == MQTTLENS_SENDER_CLIENT;
    if (st->client_hinted)
        return pinfo->srcport == st->client_port && addresses_equal(&pinfo->src, &st->client_addr);
    if (pinfo->match_uint == pinfo->destport && pinfo->destport != pinfo->srcport)
        return TRUE;
    if (pinfo->match_uint == pinfo->srcport && pinfo->destport != pinfo->srcport)
        return FALSE;
    return pinfo->srcport > pinfo->destport;
}

/* ---- the capture ------------------------------------------------------------ */

/* What spans connections (failed logins per address, ...), in file scope. */
static mqtt_capture_t *capture;

static mqtt_capture_t *capture_get(void)
{
    if (!capture)
        capture = mqtt_capture_new(wmem_file_scope());
    return capture;
}

static void forget_capture(void)
{
    capture = NULL;
}

/* The packet's source and destination addresses as text, made once per
 * endpoint of the stream: a connection's addresses do not change. */
static void stream_addresses(mqtt_stream_t *st, packet_info *pinfo, int ep, const char **src, const char **dst)
{
    if (!st->address_text[ep]) {
        st->address_text[ep] = address_to_str(wmem_file_scope(), &pinfo->src);
        st->address_text[1 - ep] = address_to_str(wmem_file_scope(), &pinfo->dst);
    }
    *src = st->address_text[ep];
    *dst = st->address_text[1 - ep];
}

/* The journey of a packet, for the taps (read after the frame, when the
 * tree has already completed what the end of the capture decides). */
const mqtt_journey_t *mqtt_dissector_journey(const mqtt_snapshot_t *snap)
{
    return mqtt_core_journey(capture, snap, false).journey;
}

/* ---- per packet ---------------------------------------------------------- */

static mqtt_snapshot_t *snap_new(mqtt_stream_t *st)
{
    snap_chunk_t *c = st->last_chunk;
    if (!c || c->count == c->capacity) {
        guint32 cap = c ? MIN(c->capacity * 2, SNAP_CHUNK_MAX) : SNAP_CHUNK_FIRST;
        snap_chunk_t *n = (snap_chunk_t *)wmem_alloc0(wmem_file_scope(),
                                                       sizeof *n + cap * sizeof n->items[0]);
        n->capacity = cap;
        if (c)
            c->next = n;
        else
            st->chunks = n;
        st->last_chunk = n;
        c = n;
    }
    return &c->items[c->count++];
}

/* The snapshot of the index-th MQTT packet of a frame. */
static mqtt_snapshot_t *snap_find(const mqtt_stream_t *st, guint32 frame, guint32 index)
{
    for (snap_chunk_t *c = st->chunks; c; c = c->next) {
        if (!c->count || c->items[c->count - 1].frame < frame)
            continue;
        /* The first snapshot of the frame in this chunk, by bisection. */
        guint32 lo = 0, hi = c->count;
        while (lo < hi) {
            guint32 mid = lo + (hi - lo) / 2;
            if (c->items[mid].frame < frame)
                lo = mid + 1;
            else
                hi = mid;
        }
        /* The frame's packets are consecutive: skip to the index-th. */
        guint32 pos = lo + index;
        while (c && pos >= c->count) {
            pos -= c->count;
            c = c->next;
        }
        return c && c->items[pos].frame == frame ? &c->items[pos] : NULL;
    }
    return NULL;
}

static gint64 ns_of(const nstime_t *t)
{
    return (gint64)t->secs * 1000000000 + t->nsecs;
}

/* First pass: remembers the time of a frame of the stream (once). */
static void time_note(mqtt_stream_t *st, guint32 frame, const nstime_t *t)
{
    time_chunk_t *c = st->last_times;
    if (c && c->frames[c->count - 1] == frame)
        return;
    if (!c || c->count == c->capacity) {
        guint32 cap = c ? MIN(c->capacity * 2, SNAP_CHUNK_MAX) : SNAP_CHUNK_FIRST;
        time_chunk_t *n = (time_chunk_t *)wmem_alloc(wmem_file_scope(), sizeof *n + cap * (sizeof(guint32) + sizeof(gint64)));
        n->next = NULL;
        n->count = 0;
        n->capacity = cap;
        n->ns = (gint64 *)(void *)(n->frames + cap);
        if (c)
            c->next = n;
        else
            st->times = n;
        st->last_times = n;
        c = n;
    }
    c->frames[c->count] = frame;
    c->ns[c->count++] = ns_of(t);
}

/* The time of a frame noted by time_note(), or 0. */
static gint64 time_of(const mqtt_stream_t *st, guint32 frame)
{
    for (const time_chunk_t *c = st->times; c; c = c->next) {
        if (c->frames[c->count - 1] < frame)
            continue;
        guint32 lo = 0, hi = c->count;
        while (lo < hi) {
            guint32 mid = lo + (hi - lo) / 2;
            if (c->frames[mid] < frame)
                lo = mid + 1;
            else
                hi = mid;
        }
        return c->frames[lo] == frame ? c->ns[lo] : 0;
    }
    return 0;
}

/* The time from an earlier frame of the stream to this packet, or zero
 * when there is no such frame. */
static void time_since(const mqtt_stream_t *st, const packet_info *pinfo, guint32 earlier, nstime_t *out)
{
    mqtt_ns_to_nstime(earlier ? ns_of(&pinfo->abs_ts) - time_of(st, earlier) : 0, out);
}

static guint32 next_packet_index(packet_info *pinfo)
{
    return frame_ctx(pinfo)->packets++;
}

/* Memory for one MQTT packet, freed when the next one starts.  A frame can
 * carry thousands of small MQTT packets and pinfo->pool lives as long as
 * the frame, so what is needed only while one packet is dissected goes
 * here.  A nested dissection (a payload rule that leads back to mqttlens)
 * uses pinfo->pool, leaving the outer packet's memory alone; so does the
 * rest of a frame in which an exception left `depth` raised. */
static wmem_allocator_t *packet_scratch;

static wmem_allocator_t *packet_memory(const frame_ctx_t *fc, packet_info *pinfo)
{
    if (fc->depth > 1)
        return pinfo->pool;
    wmem_free_all(packet_scratch);
    return packet_scratch;
}

static void free_packet_memory(void)
{
    wmem_free_all(packet_scratch);
    wmem_gc(packet_scratch);
}

/* TCP's view of the conversation: whether its SYN, FIN or RST is in the
 * capture. */
static guint8 tcp_completeness(const mqtt_stream_t *st)
{
    struct tcp_analysis *tcpd = (struct tcp_analysis *)conversation_get_proto_data(st->conv, proto_tcp);
    return tcpd ? tcpd->conversation_completeness : 0;
}

/* Whether the connection's TCP FIN or RST is in the capture (as far as
 * seen). */
static gboolean transport_closed(const mqtt_stream_t *st)
{
    return (tcp_completeness(st) & (TCP_COMPLETENESS_FIN | TCP_COMPLETENESS_RST)) != 0;
}

/* When the connection's last TCP segment was sent, and who closed it.
 * TCP keeps the time of a conversation's latest segment (ts_prev, with
 * its preference tcp.calculate_timestamps, on by default; without it the
 * time is the first segment's, too early to judge anything by) and marks
 * the direction that sent the first FIN or RST as the closing initiator
 * (fwd is the direction of the packet being dissected). */
static void transport_end(const mqtt_stream_t *st, packet_info *pinfo _U_, mqtt_settle_facts_t *facts)
{
    struct tcp_analysis *tcpd = (struct tcp_analysis *)conversation_get_proto_data(st->conv, proto_tcp);
    if (!tcpd)
        return;
    facts->transport_end_ns = (gint64)tcpd->ts_prev.secs * 1000000000 + tcpd->ts_prev.nsecs;
    if (tcpd->fwd && tcpd->rev && tcpd->fwd->closing_initiator != tcpd->rev->closing_initiator)
        facts->closed_by = tcpd->fwd->closing_initiator ? 0 : 1;
}

static void fill_event(mqtt_stream_t *st, packet_info *pinfo, int ep, mqttlens_sender_t sender,
                       mqtt_event_t *ev)
{
    ev->frame = pinfo->num;
    ev->time = pinfo->abs_ts;
    ev->over_tls = frame_has_layer(pinfo, proto_tls);
    ev->saw_connection_start = (tcp_completeness(st) & (TCP_COMPLETENESS_SYNSENT | TCP_COMPLETENESS_SYNACK)) != 0;
    ev->endpoint = (guint8)ep;
    ev->client_by_port = client_by_port(st, pinfo, sender);
    ev->src_port = pinfo->srcport;
    ev->dst_port = pinfo->destport;
    stream_addresses(st, pinfo, ep, &ev->src_address, &ev->dst_address);
}

/* First pass: the core analyses the packet; its snapshot is kept for
 * every later pass. */
static mqtt_snapshot_t *first_pass(mqtt_stream_t *st, packet_info *pinfo, wmem_allocator_t *mem,
                                   const guint8 *bytes, guint len, int ep, mqttlens_sender_t sender,
                                   mqtt_pkt_t **pkt)
{
    mqtt_snapshot_t *snap = snap_new(st);
    time_note(st, pinfo->num, &pinfo->abs_ts);
    mqtt_event_t ev;
    fill_event(st, pinfo, ep, sender, &ev);
    *pkt = mqtt_core_first_pass(capture_get(), st->conn, mem, bytes, len, &ev, (unsigned)pref_default_version,
                                snap);
    return snap;
}

/* The findings the core settles when the packet is shown. */
static const mqtt_findings_t *settle(mqtt_stream_t *st, packet_info *pinfo, const mqtt_snapshot_t *snap,
                                     const mqtt_pkt_t *pkt, wmem_allocator_t *mem)
{
    mqtt_settle_facts_t facts = {PINFO_FD_VISITED(pinfo), transport_closed(st), NULL, NULL, 0, -1};
    stream_addresses(st, pinfo, endpoint_index(st, pinfo), &facts.src_address, &facts.dst_address);
    transport_end(st, pinfo, &facts);
    mqtt_findings_t *late = wmem_new0(mem, mqtt_findings_t);
    mqtt_core_settle(capture, st->conn, snap, pkt, &facts, mem, late);
    return late;
}

/* A PUBLISH's topic: the resolved one when it came by alias. */
static const char *publish_topic(tvbuff_t *tvb, wmem_allocator_t *mem, const mqtt_pkt_t *pkt,
                                 const mqtt_snapshot_t *snap)
{
    if (mqtt_snapshot_extra(snap)->alias_topic)
        return ws_compat_utf8_value(mem, mqtt_snapshot_extra(snap)->alias_topic);
    if (!(pkt->topic.flags & MQTT_STR_PRESENT))
        return NULL;
    return mqtt_str_value(mem, tvb, &pkt->topic);
}

static const char *content_type(tvbuff_t *tvb, wmem_allocator_t *mem, const mqtt_pkt_t *pkt)
{
    const mqtt_prop_t *p = mqtt_props_find(&pkt->props, MQTT_PROP_CONTENT_TYPE);
    if (!p || !(p->str.flags & MQTT_STR_PRESENT) || (p->str.flags & MQTT_STR_TRUNCATED))
        return NULL;
    return mqtt_str_value(mem, tvb, &p->str);
}

static void set_info(packet_info *pinfo, guint32 index, const char *line)
{
    if (index == 0)
        col_clear(pinfo->cinfo, COL_INFO);
    col_append_sep_str(pinfo->cinfo, COL_INFO, ", ", line);
}

/* Decodes, analyses (first pass) and presents one MQTT packet.  The
 * decoded packet lives in `keep`: the frame's pool when a tap will read it
 * after the frame, else the packet's own memory. */
static void dissect_one(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, mqtt_stream_t *st, guint32 index,
                        mqttlens_sender_t sender, wmem_allocator_t *scratch)
{
    bool tapped = mqtt_taps_listening();
    wmem_allocator_t *keep = tapped ? pinfo->pool : scratch;
    guint len = tvb_captured_length(tvb);
    const guint8 *bytes = tvb_get_ptr(tvb, 0, len);
    int ep = endpoint_index(st, pinfo);
    mqtt_pkt_t *pkt = NULL;
    mqtt_snapshot_t *snap = PINFO_FD_VISITED(pinfo) ? snap_find(st, pinfo->num, index) : NULL;
    if (!PINFO_FD_VISITED(pinfo)) {
        snap = first_pass(st, pinfo, keep, bytes, len, ep, sender, &pkt);
    } else if (!snap) {
        /* Not seen on the first pass (should not happen): show the packet
         * without connection context rather than change the state. */
        snap = wmem_new0(pinfo->pool, mqtt_snapshot_t);
        snap->version = (guint8)pref_default_version;
        snap->version_source = MQTT_VS_DEFAULT;
    }
    if (!PINFO_FD_VISITED(pinfo)) {
        st->pending_frame[ep] = 0;
        st->pending_version = snap->version;
    }
    if (!pkt)
        pkt = mqtt_core_decode(keep, bytes, len, snap);

    mqtt_frame_t fr;
    if (mqtt_frame(bytes, len, &fr) == MQTT_FRAME_BAD && !PINFO_FD_VISITED(pinfo) && !st->unframed_from[ep])
        st->unframed_from[ep] = pinfo->num;

    mqtt_tree_prefs_t tree_prefs = {pref_mask_passwords};
    mqtt_view_t view = {snap, NULL, NULL, {0, 0}, {0, 0}, {0, 0}, NULL, NULL, scratch, {NULL, false}};
    time_since(st, pinfo, snap->response_to, &view.response_time);
    time_since(st, pinfo, mqtt_snapshot_extra(snap)->flow_start, &view.flow_time);
    time_since(st, pinfo, snap->prev_client_frame, &view.client_idle);
    if (pkt->type == MQTT_PUBLISH) {
        view.topic = publish_topic(tvb, keep, pkt, snap);
        view.content_type = content_type(tvb, keep, pkt);
    }
    view.settled = settle(st, pinfo, snap, pkt, scratch);
    view.journey = mqtt_core_journey(capture, snap, PINFO_FD_VISITED(pinfo));
    /* The Info line only when a column shows it (tshark -T fields, -V and
     * -q have none); the tree builds its own when it is visible. */
    col_set_str(pinfo->cinfo, COL_PROTOCOL, "MQTT");
    if (pinfo->cinfo && col_get_writable(pinfo->cinfo, COL_INFO)) {
        view.info = mqtt_info_line(scratch, pkt, snap, &tree_prefs);
        set_info(pinfo, index, view.info);
    }
    mqtt_tree_add(tvb, pinfo, tree, pkt, &view, &tree_prefs);
    if (tapped) {
        mqtt_tap_rec_t *rec = wmem_new0(pinfo->pool, mqtt_tap_rec_t);
        *rec = (mqtt_tap_rec_t){pkt, snap, tvb, view.topic, view.content_type, index,
                                st->conv->conv_index, pref_mask_passwords,
                                view.response_time, view.flow_time};
        mqtt_taps_queue(pinfo, rec);
    }
}

static int dissect_mqtt_packet(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data _U_)
{
    return mqttlens_dissect_pdu(tvb, pinfo, tree, MQTTLENS_SENDER_BY_PORT);
}

int mqttlens_dissect_pdu(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, mqttlens_sender_t sender)
{
    frame_ctx_t *fc = frame_ctx(pinfo);
    mqtt_stream_t *st = stream_get(pinfo);
    guint32 index = next_packet_index(pinfo);
    fc->depth++;
    dissect_one(tvb, pinfo, tree, st, index, sender, packet_memory(fc, pinfo));
    fc->depth--;
    return (int)tvb_captured_length(tvb);
}

/* ---- framing ---------------------------------------------------------------- */

/* ---- packets that never complete ------------------------------------------ */

/* Frames where a reassembly started, so that the postdissector can tell on
 * later passes which of them never completed (TCP does not call this
 * dissector again for them). */
static wmem_map_t *pending_starts;

static void note_pending(packet_info *pinfo, guint32 size)
{
    mqtt_stream_t *st = stream_get(pinfo);
    int ep = endpoint_index(st, pinfo);
    st->pending_frame[ep] = pinfo->num;
    st->pending_size[ep] = size;
    if (!pending_starts)
        pending_starts = wmem_map_new(wmem_file_scope(), g_direct_hash, g_direct_equal);
    wmem_map_insert(pending_starts, GUINT_TO_POINTER(pinfo->num), st);
}

static void forget_pending(void)
{
    pending_starts = NULL;
}

/* On later passes: a packet that started in this frame and never
 * completed.  Whether the connection closed or the capture simply ended
 * decides between a malformed packet and a capture limit. */
static int dissect_pending_end(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data _U_)
{
    if (!pending_starts || !PINFO_FD_VISITED(pinfo))
        return 0;
    mqtt_stream_t *st = (mqtt_stream_t *)wmem_map_lookup(pending_starts, GUINT_TO_POINTER(pinfo->num));
    if (!st)
        return 0;
    for (int ep = 0; ep < 2; ep++) {
        if (st->pending_frame[ep] != pinfo->num)
            continue;
        proto_item *ti = proto_tree_add_item(tree, proto_mqttlens, tvb, 0, 0, ENC_NA);
        proto_item_append_text(ti, ", packet of %u bytes starts here and never completes", st->pending_size[ep]);
        mqtt_finding_t f = mqtt_core_unfinished_packet(transport_closed(st), st->pending_size[ep], pinfo->pool);
        mqtt_expert_report(pinfo, proto_item_add_subtree(ti, ett_unframed), NULL, tvb, 0, &f, st->pending_version);
    }
    return 0;
}

/* ---- the end of a connection ------------------------------------------------ */

/* Frames where a stream's TCP connection closed (its first FIN or RST, no
 * MQTT packet carries it), so that later passes find them again. */
static wmem_map_t *transport_ends;

static void forget_transport_ends(void)
{
    transport_ends = NULL;
}

/* First pass: the MQTT stream whose TCP FIN or RST this frame carries,
 * the first one of the connection; NULL for every other frame. */
static mqtt_stream_t *closed_here(packet_info *pinfo)
{
    if (!capture)
        return NULL;
    /* A frame with MQTT packets looked its stream up for them. */
    const frame_ctx_t *fc = (const frame_ctx_t *)p_get_proto_data(pinfo->pool, pinfo, proto_mqttlens, KEY_FRAME);
    mqtt_stream_t *st = fc ? fc->st : NULL;
    if (!st && frame_has_layer(pinfo, proto_tcp)) {
        conversation_t *conv = find_conversation_pinfo(pinfo, 0);
        st = conv ? (mqtt_stream_t *)conversation_get_proto_data(conv, proto_mqttlens) : NULL;
    }
    return st && !st->closed_in && transport_closed(st) ? st : NULL;
}

/* Every frame, after its dissection: on the first pass the core learns of
 * the end of a connection in capture order (TCP tells, not MQTT), and on
 * every pass the taps that tell how connections end get it. */
static int dissect_transport_end(tvbuff_t *tvb _U_, packet_info *pinfo, proto_tree *tree _U_, void *data _U_)
{
    mqtt_stream_t *st;
    if (!PINFO_FD_VISITED(pinfo)) {
        if (!(st = closed_here(pinfo)))
            return 0;
        st->closed_in = pinfo->num;
        if (!transport_ends)
            transport_ends = wmem_map_new(wmem_file_scope(), g_direct_hash, g_direct_equal);
        wmem_map_insert(transport_ends, GUINT_TO_POINTER(pinfo->num), st);
        mqtt_core_transport_closed(capture, st->conn, pinfo->abs_ts);
    } else if (!transport_ends || !wmem_map_contains(transport_ends, GUINT_TO_POINTER(pinfo->num))) {
        return 0;
    }
    mqtt_taps_queue_closed(pinfo);
    return 0;
}

static guint get_mqtt_pdu_len(packet_info *pinfo, tvbuff_t *tvb, int offset, void *data _U_)
{
    guint avail = (guint)tvb_captured_length_remaining(tvb, offset);
    mqtt_frame_t fr;
    const guint8 *p = tvb_get_ptr(tvb, offset, MIN(avail, 5u));
    switch (mqtt_frame(p, MIN(avail, 5u), &fr)) {
    case MQTT_FRAME_NEED_MORE:
        return 0; /* the Remaining Length continues in the next segment */
    case MQTT_FRAME_BAD:
        /* Not a length we can trust: take the rest of this segment and
         * do not start a reassembly. */
        return (guint)tvb_reported_length_remaining(tvb, offset);
    case MQTT_FRAME_OK:
        break;
    }
    if (!PINFO_FD_VISITED(pinfo) && pref_desegment && pinfo->can_desegment &&
        fr.total_len > (guint64)tvb_reported_length_remaining(tvb, offset))
        note_pending(pinfo, (guint32)fr.total_len);
    return (guint)fr.total_len;
}

/* Bytes from an endpoint whose stream lost its framing. */
static int dissect_unframed(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, guint32 since)
{
    mqtt_finding_t f = mqtt_core_unframed(since, pinfo->pool);
    return mqttlens_dissect_unframed(tvb, pinfo, tree, &f);
}

int mqttlens_dissect_unframed(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const mqtt_finding_t *f)
{
    col_set_str(pinfo->cinfo, COL_PROTOCOL, "MQTT");
    col_set_str(pinfo->cinfo, COL_INFO, "Unframed data (Remaining Length error earlier in the stream)");
    proto_item *ti = proto_tree_add_item(tree, proto_mqttlens, tvb, 0, -1, ENC_NA);
    proto_tree *sub = proto_item_add_subtree(ti, ett_unframed);
    proto_item *item = proto_tree_add_item(sub, hf_unframed, tvb, 0, -1, ENC_NA);
    mqtt_expert_report(pinfo, sub, item, tvb, 0, f, 0);
    return (int)tvb_captured_length(tvb);
}

static int dissect_mqttlens(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data)
{
    mqtt_stream_t *st = stream_get(pinfo);
    int ep = endpoint_index(st, pinfo);
    if (st->unframed_from[ep] && pinfo->num > st->unframed_from[ep])
        return dissect_unframed(tvb, pinfo, tree, st->unframed_from[ep]);
    tcp_dissect_pdus(tvb, pinfo, tree, pref_desegment, 2, get_mqtt_pdu_len, dissect_mqtt_packet, data);
    return (int)tvb_captured_length(tvb);
}

/* ---- registration ---------------------------------------------------------------- */

/* At every (re)dissection: when mqttlens is enabled it holds the MQTT
 * ports, when disabled the built-in dissector gets them back.  A user's
 * own Decode As choice is left alone. */
static void switch_ports(void)
{
    if (!builtin_handle)
        return;
    gboolean on = proto_is_protocol_enabled(find_protocol_by_id(proto_mqttlens));
    dissector_handle_t want = on ? mqttlens_handle : builtin_handle;
    static const struct {
        const char *table;
        guint port;
    } ports[] = {{"tcp.port", MQTT_TCP_PORT}, {"tls.port", MQTT_TLS_PORT}};
    for (unsigned i = 0; i < G_N_ELEMENTS(ports); i++) {
        dissector_handle_t cur = dissector_get_uint_handle(find_dissector_table(ports[i].table), ports[i].port);
        if (cur == mqttlens_handle || cur == builtin_handle)
            dissector_change_uint(ports[i].table, ports[i].port, want);
    }
}

void proto_register_mqttlens(void)
{
    static hf_register_info hf[] = {
        {&hf_unframed, {"Unframed data", "mqttlens.unframed", FT_BYTES, BASE_NONE, NULL, 0,
                        "Bytes after a Remaining Length that could not be decoded", HFILL}},
    };
    static gint *ett[] = {&ett_unframed};

    proto_mqttlens = proto_register_protocol("MQ Telemetry Transport (mqttlens)", "MQTTlens", "mqttlens");
    proto_register_field_array(proto_mqttlens, hf, array_length(hf));
    proto_register_subtree_array(ett, array_length(ett));
    mqtt_tree_register(proto_mqttlens);

    module_t *module = prefs_register_protocol(proto_mqttlens, mqtt_ws_prefs_changed);
    prefs_register_bool_preference(module, "desegment",
                                   "Reassemble MQTT packets spanning multiple TCP segments",
                                   "Whether mqttlens reassembles packets that span TCP segments "
                                   "(needs TCP's \"Allow subdissector to reassemble TCP streams\").",
                                   &pref_desegment);
    prefs_register_enum_preference(module, "default_version", "Default version",
                                   "The version to decode with when the connection's CONNECT is not "
                                   "in the capture and the packet's bytes do not tell 3.1.1 from 5.0.",
                                   &pref_default_version, version_enum, FALSE);
    prefs_register_bool_preference(module, "mask_passwords", "Mask passwords",
                                   "Show CONNECT passwords as ******** in the tree, the Info column "
                                   "and exports.",
                                   &pref_mask_passwords);

    mqttlens_handle = register_dissector("mqttlens", dissect_mqttlens, proto_mqttlens);
    register_init_routine(switch_ports);
    register_cleanup_routine(forget_capture);
    register_cleanup_routine(free_packet_memory);
    packet_scratch = wmem_allocator_new(WMEM_ALLOCATOR_BLOCK);
    register_cleanup_routine(forget_pending);
    register_postdissector(create_dissector_handle(dissect_pending_end, proto_mqttlens));
    register_cleanup_routine(forget_transport_ends);
    register_postdissector(create_dissector_handle(dissect_transport_end, proto_mqttlens));
    mqtt_taps_register(proto_mqttlens);
    mqtt_payload_register(proto_mqttlens, module);
    mqtt_ws_register(proto_mqttlens, module);
    mqtt_heur_register(proto_mqttlens, module);
}

void proto_reg_handoff_mqttlens(void)
{
    proto_tcp = proto_get_id_by_filter_name("tcp");
    proto_tls = proto_get_id_by_filter_name("tls");
    builtin_handle = find_dissector("mqtt");
    dissector_add_uint_with_preference("tcp.port", MQTT_TCP_PORT, mqttlens_handle);
    ssl_dissector_add(MQTT_TLS_PORT, mqttlens_handle);
    dissector_add_string("tls.alpn", "mqtt", mqttlens_handle);
    mqtt_taps_handoff();
    mqtt_payload_handoff();
    mqtt_ws_handoff();
    mqtt_heur_handoff(mqttlens_handle, dissect_mqttlens);
}
