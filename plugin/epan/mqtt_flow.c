/* mqtt_flow.c — the flow graph (see mqtt_flow.h).
 *
 * Wireshark calls flow_packet() once per queued packet while it fills a
 * seq_analysis_info_t, then numbers the nodes by address and draws.  What
 * this module remembers of one drawing (its endpoints and rows) lives in
 * a flow_run_t keyed by the seq_analysis_info_t, and is forgotten when a
 * new drawing starts (the item queue is empty again).  The rows belong to
 * Wireshark, which frees them and their strings and addresses with g_free;
 * everything put in them comes from GLib's allocator.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_flow.h"

#include <string.h>

#include <epan/conversation.h>
#include <epan/proto_data.h>
#include <epan/tap.h>
#include <epan/to_str.h>
#include <epan/dissectors/packet-tcp.h>

#include "mqtt_dissector.h"
#include "mqtt_journey_tree.h"
#include "mqtt_tree.h"
#include "ws_compat.h"

#define MQTT_TLS_PORT 8883

static int flow_tap = -1;
static int proto_tcp = -1;
static int proto_flow = -1;

/* Per frame (pinfo->pool): an MQTT packet of it was queued for the graph. */
#define KEY_QUEUED 0xFFFFFFFDu
static guint pref_preview = 24;

/* ---- lifelines ----------------------------------------------------------------- */

enum role { ROLE_UNKNOWN, ROLE_CLIENT, ROLE_BROKER };

/* How lifelines are named: one per connection, one per client id, one per
 * client address.  Each level merges lifelines of the one before. */
enum { LEVEL_ENDPOINT, LEVEL_CLIENT_ID, LEVEL_ADDRESS, LEVELS };

typedef struct {
    enum role role;
    char *client_id;  /* clients: when known */
    char *addr;
    guint16 port;
    char *name;       /* at the run's current level */
} endpoint_t;

typedef struct {
    seq_analysis_item_t *sai;
    endpoint_t *src;
    endpoint_t *dst;
} flow_item_t;

typedef struct {
    GHashTable *endpoints;       /* identity -> endpoint_t */
    GHashTable *names[LEVELS];   /* the distinct lifeline names at each level */
    GArray *items;               /* flow_item_t, in the order of the rows */
    GHashTable *tls_rows;        /* TCP stream -> its "encrypted" row */
    GHashTable *mqtt_streams;    /* TCP streams in which MQTT was decoded */
    int level;
    seq_analysis_item_t *noted;  /* the row that says lifelines are grouped */
    char *noted_comment;         /* that row's own comment */
} flow_run_t;

static GHashTable *runs; /* seq_analysis_info_t * -> flow_run_t * */

static void endpoint_free(gpointer p)
{
    endpoint_t *ep = (endpoint_t *)p;
    g_free(ep->client_id);
    g_free(ep->addr);
    g_free(ep->name);
    g_free(ep);
}

static void run_free(gpointer p)
{
    flow_run_t *run = (flow_run_t *)p;
    g_hash_table_destroy(run->endpoints);
    for (int i = 0; i < LEVELS; i++)
        g_hash_table_destroy(run->names[i]);
    g_array_free(run->items, TRUE);
    g_hash_table_destroy(run->tls_rows);
    g_hash_table_destroy(run->mqtt_streams);
    g_free(run->noted_comment);
    g_free(run);
}

/* The state of the drawing `sainfo` is filling; a new one when its rows
 * are empty (Wireshark starts every drawing, and every redraw, so). */
static flow_run_t *run_get(seq_analysis_info_t *sainfo)
{
    if (!runs)
        runs = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, run_free);
    flow_run_t *run = (flow_run_t *)g_hash_table_lookup(runs, sainfo);
    if (run && !g_queue_is_empty(sainfo->items))
        return run;
    run = g_new0(flow_run_t, 1);
    run->endpoints = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, endpoint_free);
    for (int i = 0; i < LEVELS; i++)
        run->names[i] = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    run->items = g_array_new(FALSE, FALSE, sizeof(flow_item_t));
    run->tls_rows = g_hash_table_new(g_direct_hash, g_direct_equal);
    run->mqtt_streams = g_hash_table_new(g_direct_hash, g_direct_equal);
    g_hash_table_replace(runs, sainfo, run);
    return run;
}

static char *endpoint_name(const endpoint_t *ep, int level)
{
    switch (ep->role) {
    case ROLE_BROKER:
        return g_strdup_printf("broker %s:%u", ep->addr, ep->port);
    case ROLE_CLIENT:
        if (level == LEVEL_ENDPOINT)
            return ep->client_id ? g_strdup_printf("%s %s:%u", ep->client_id, ep->addr, ep->port)
                                 : g_strdup_printf("client %s:%u", ep->addr, ep->port);
        if (level == LEVEL_CLIENT_ID && ep->client_id)
            return g_strdup(ep->client_id);
        return g_strdup_printf("clients at %s", ep->addr);
    case ROLE_UNKNOWN:
    default:
        return level == LEVEL_ENDPOINT ? g_strdup_printf("%s:%u", ep->addr, ep->port) : g_strdup(ep->addr);
    }
}

/* A client id as a lifeline shows it: printable, at most 16 characters. */
static char *short_client_id(const char *id)
{
    GString *s = g_string_new("");
    for (const char *p = id; *p && s->len < 16; p++)
        g_string_append_c(s, *p > 0x20 && *p < 0x7F ? *p : '.');
    if (strlen(id) > 16) {
        g_string_truncate(s, 15);
        g_string_append_c(s, '~');
    }
    if (!s->len)
        g_string_assign(s, "(empty id)");
    return g_string_free(s, FALSE);
}

static void note_grouping(flow_run_t *run);

static endpoint_t *endpoint_get(flow_run_t *run, enum role role, const char *client_id, const address *addr,
                                guint32 port)
{
    char *a = address_to_str(NULL, addr);
    char *cid = role == ROLE_CLIENT && client_id ? short_client_id(client_id) : NULL;
    char *key = g_strdup_printf("%d|%s|%s|%u", role, cid ? cid : "", a, port);
    endpoint_t *ep = (endpoint_t *)g_hash_table_lookup(run->endpoints, key);
    if (ep) {
        g_free(key);
        g_free(cid);
        wmem_free(NULL, a);
        return ep;
    }
    ep = g_new0(endpoint_t, 1);
    ep->role = role;
    ep->client_id = cid;
    ep->addr = g_strdup(a);
    ep->port = (guint16)port;
    wmem_free(NULL, a);
    for (int i = 0; i < LEVELS; i++)
        g_hash_table_add(run->names[i], endpoint_name(ep, i));
    ep->name = endpoint_name(ep, run->level);
    g_hash_table_insert(run->endpoints, key, ep);
    if (run->level != LEVEL_ENDPOINT)
        note_grouping(run); /* the count of endpoints changed */
    return ep;
}

/* Makes a node's address the string `name`. */
static void set_node(address *node, const char *name)
{
    address tmp;
    free_address(node);
    set_address(&tmp, AT_STRINGZ, (int)strlen(name) + 1, name);
    copy_address(node, &tmp);
}

/* The first row that is drawn says how lifelines were grouped. */
static void note_grouping(flow_run_t *run)
{
    static const char *const how[LEVELS] = {"", "by client id", "by client address"};
    if (run->noted) {
        g_free(run->noted->comment);
        run->noted->comment = run->noted_comment;
        run->noted = NULL;
        run->noted_comment = NULL;
    }
    for (guint i = 0; i < run->items->len; i++) {
        seq_analysis_item_t *sai = g_array_index(run->items, flow_item_t, i).sai;
        if (!sai->display)
            continue;
        run->noted = sai;
        run->noted_comment = sai->comment;
        sai->comment = g_strdup_printf("[lifelines grouped %s: %u endpoints, more than the %d Wireshark draws] %s",
                                       how[run->level], g_hash_table_size(run->names[LEVEL_ENDPOINT]),
                                       MAX_NUM_NODES, run->noted_comment);
        return;
    }
}

/* Past MAX_NUM_NODES lifelines, the next level of grouping, and
 * every row renamed. */
static void group_if_needed(flow_run_t *run)
{
    int level = run->level;
    while (level < LEVELS - 1 && g_hash_table_size(run->names[level]) > MAX_NUM_NODES)
        level++;
    if (level == run->level)
        return;
    run->level = level;
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, run->endpoints);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        endpoint_t *ep = (endpoint_t *)value;
        g_free(ep->name);
        ep->name = endpoint_name(ep, level);
    }
    for (guint i = 0; i < run->items->len; i++) {
        flow_item_t *fi = &g_array_index(run->items, flow_item_t, i);
        set_node(&fi->sai->src_addr, fi->src->name);
        set_node(&fi->sai->dst_addr, fi->dst->name);
    }
    note_grouping(run);
}

/* Addresses as the graph asks for them: "Any" (pinfo->net_src, also tshark's
 * "standard") or "Network" (pinfo->src, tshark's "network"); sainfo->any_addr
 * tells which, as sequence_analysis_create_sai_with_addresses() reads it. */
static const address *src_of(const seq_analysis_info_t *sainfo, const packet_info *pinfo)
{
    return sainfo->any_addr ? &pinfo->net_src : &pinfo->src;
}

static const address *dst_of(const seq_analysis_info_t *sainfo, const packet_info *pinfo)
{
    return sainfo->any_addr ? &pinfo->net_dst : &pinfo->dst;
}

/* ---- rows ------------------------------------------------------------------------ */

/* The TCP stream index (tcp.stream), what Wireshark's own graphs show in
 * their Conv. column. */
static guint32 tcp_stream(packet_info *pinfo)
{
    conversation_t *conv = find_conversation_pinfo(pinfo, 0);
    struct tcp_analysis *tcpd = conv ? (struct tcp_analysis *)conversation_get_proto_data(conv, proto_tcp) : NULL;
    return tcpd ? tcpd->stream : 0;
}

static seq_analysis_item_t *add_row(flow_run_t *run, seq_analysis_info_t *sainfo, packet_info *pinfo,
                                    endpoint_t *src, endpoint_t *dst, guint32 stream)
{
    seq_analysis_item_t *sai = sequence_analysis_create_sai_with_addresses(pinfo, sainfo);
    if (!sai)
        return NULL;
    set_node(&sai->src_addr, src->name);
    set_node(&sai->dst_addr, dst->name);
    sai->frame_number = pinfo->num;
    sai->port_src = (guint16)pinfo->srcport;
    sai->port_dst = (guint16)pinfo->destport;
    sai->conv_num = (guint16)stream;
    sai->line_style = 1;
    sai->display = TRUE;
    flow_item_t fi = {sai, src, dst};
    g_array_append_val(run->items, fi);
    g_queue_push_tail(sainfo->items, sai);
    group_if_needed(run);
    return sai;
}

/* Printable text of at most `max` bytes. */
static void append_preview(GString *s, const guint8 *p, guint32 len, guint32 max)
{
    for (guint32 i = 0; i < len && i < max; i++)
        g_string_append_c(s, p[i] >= 0x20 && p[i] < 0x7F ? (char)p[i] : '.');
    if (len > max)
        g_string_append(s, "...");
}

static void append_str(GString *s, const mqtt_str_t *str, guint32 max)
{
    append_preview(s, str->bytes, str->data.len, max);
}

/* "PUBLISH id=7 QoS 1": type, packet id, QoS; shortened to "Q1" when the
 * whole would not fit MQTT_FLOW_LABEL_MAX. */
static gchar *flow_label(const mqtt_pkt_t *pkt)
{
    GString *s = g_string_new(mqtt_type_name(pkt->type));
    if (pkt->has_packet_id)
        g_string_append_printf(s, " id=%u", pkt->packet_id);
    if (pkt->type == MQTT_PUBLISH) {
        unsigned qos = MQTT_PUBLISH_QOS(pkt->flags);
        if (s->len + 6 <= MQTT_FLOW_LABEL_MAX)
            g_string_append_printf(s, " QoS %u", qos);
        else
            g_string_append_printf(s, " Q%u", qos);
    }
    if (s->len > MQTT_FLOW_LABEL_MAX)
        g_string_truncate(s, MQTT_FLOW_LABEL_MAX);
    return g_string_free(s, FALSE);
}

static void sep(GString *s)
{
    if (s->len)
        g_string_append(s, ", ");
}

static void comment_connect(GString *s, const mqtt_pkt_t *pkt)
{
    g_string_append(s, "client id \"");
    if (pkt->client_id.flags & MQTT_STR_PRESENT)
        append_str(s, &pkt->client_id, 48);
    g_string_append_c(s, '"');
    if (pkt->username.flags & MQTT_STR_PRESENT) {
        g_string_append(s, ", user \"");
        append_str(s, &pkt->username, 48);
        g_string_append_c(s, '"');
    } else {
        g_string_append(s, ", no user name");
    }
    if (pkt->password.flags & MQTT_STR_PRESENT)
        g_string_append(s, ", password");
    g_string_append_printf(s, ", MQTT %s, keep alive %u s",
                           pkt->version == MQTT_V5 ? "5.0" : pkt->version == MQTT_V31 ? "3.1" : "3.1.1",
                           pkt->keepalive);
    if (pkt->connect_flags & MQTT_CF_WILL)
        g_string_append(s, ", will");
}

static void comment_connack(GString *s, const mqtt_pkt_t *pkt)
{
    if (!pkt->has_reason)
        return;
    if (pkt->reason == 0)
        g_string_append(s, "accepted");
    else
        g_string_append_printf(s, "refused: %s (0x%02x)", mqtt_refusal_text(pkt->version, pkt->reason), pkt->reason);
    if (pkt->ack_flags & 1)
        g_string_append(s, ", session present");
}

static void comment_filters(GString *s, const mqtt_pkt_t *pkt)
{
    for (guint32 i = 0; i < pkt->filter_count && i < 8; i++) {
        const mqtt_filter_t *f = &pkt->filters[i];
        sep(s);
        append_str(s, &f->filter, 48);
        if (pkt->type == MQTT_SUBSCRIBE && f->has_options)
            g_string_append_printf(s, " QoS %u", MQTT_SO_QOS(f->options));
    }
    if (pkt->filter_count > 8)
        g_string_append_printf(s, ", ... (%u filters)", pkt->filter_count);
}

/* SUBACK: the granted QoS or the failure of each filter; UNSUBACK: the
 * failures. */
static void comment_codes(GString *s, const mqtt_pkt_t *pkt)
{
    for (guint32 i = 0; i < pkt->code_count && i < 8; i++) {
        uint8_t code = pkt->codes[i].code;
        if (pkt->type == MQTT_SUBACK && code < 0x80) {
            g_string_append_printf(s, "%sQoS %u", i ? ", " : "granted ", code);
        } else if (code >= 0x80) {
            sep(s);
            g_string_append_printf(s, "filter %u: %s (0x%02x)", i + 1, mqtt_tap_reason_name(pkt, code), code);
        }
    }
    if (pkt->code_count > 8)
        g_string_append_printf(s, ", ... (%u codes)", pkt->code_count);
}

static void comment_publish(GString *s, const mqtt_tap_rec_t *r)
{
    const mqtt_pkt_t *pkt = r->pkt;
    const mqtt_snapshot_extra_t *x = mqtt_snapshot_extra(r->snap);
    g_string_append_printf(s, "\"%s\"", r->topic ? r->topic : "?");
    const mqtt_prop_t *alias = mqtt_props_find(&pkt->props, MQTT_PROP_TOPIC_ALIAS);
    if (x->alias)
        g_string_append_printf(s, " (alias %u, set in frame %u)", x->alias, x->alias_frame);
    else if (alias && pkt->topic.data.len)
        g_string_append_printf(s, " (sets alias %u)", alias->num);
    else if (alias)
        g_string_append_printf(s, " (alias %u, unresolved)", alias->num);
    if (pkt->flags & MQTT_PUBLISH_RETAIN)
        g_string_append(s, ", retain");
    if (pkt->flags & MQTT_PUBLISH_DUP)
        g_string_append(s, x->retransmission_of ? ", DUP" : ", DUP flag");
    if (x->retransmission_of)
        g_string_append_printf(s, " of frame %u", x->retransmission_of);
    guint32 len = pkt->payload.len;
    if (len && pref_preview) {
        g_string_append(s, ": ");
        append_preview(s, pkt->raw + pkt->payload.off, len, pref_preview);
    }
    if (len > pref_preview || !len)
        g_string_append_printf(s, " (%u bytes)", len);
}

/* A reason code that says something went wrong (5.0 acks, DISCONNECT,
 * AUTH); CONNACK and SUBACK have their own wording. */
static void comment_reason(GString *s, const mqtt_pkt_t *pkt)
{
    if (!pkt->has_reason || pkt->type == MQTT_CONNACK || pkt->version != MQTT_V5)
        return;
    if (pkt->reason || pkt->type == MQTT_DISCONNECT) {
        sep(s);
        g_string_append_printf(s, "%s (0x%02x)", mqtt_tap_reason_name(pkt, pkt->reason), pkt->reason);
    }
}

/* "frame 9: granted QoS 0, QoS 1; answers frame 8 after 0.175 ms": the
 * packet's own frame first, as the text graph shows no frame numbers. */
static gchar *flow_comment(packet_info *pinfo, const mqtt_tap_rec_t *r)
{
    const mqtt_pkt_t *pkt = r->pkt;
    GString *s = g_string_new("");
    switch (pkt->type) {
    case MQTT_CONNECT: comment_connect(s, pkt); break;
    case MQTT_CONNACK: comment_connack(s, pkt); break;
    case MQTT_PUBLISH: comment_publish(s, r); break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE: comment_filters(s, pkt); break;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK: comment_codes(s, pkt); break;
    default: break;
    }
    comment_reason(s, pkt);
    mqtt_journey_comment(s, mqtt_dissector_journey(r->snap));
    if (r->snap->response_to)
        g_string_append_printf(s, "%sanswers frame %u after %.3f ms", s->len ? "; " : "", r->snap->response_to,
                               nstime_to_msec(&r->response_time));
    /* Several MQTT packets in one frame: "frame 12.2" is its second. */
    gchar *frame = r->index ? g_strdup_printf("frame %u.%u%s", pinfo->num, r->index + 1, s->len ? ": " : "")
                            : g_strdup_printf("frame %u%s", pinfo->num, s->len ? ": " : "");
    g_string_prepend(s, frame);
    g_free(frame);
    return g_string_free(s, FALSE);
}

static tap_packet_status flow_mqtt(flow_run_t *run, seq_analysis_info_t *sainfo, packet_info *pinfo,
                                   const mqtt_tap_rec_t *r)
{
    const mqtt_snapshot_t *snap = r->snap;
    guint32 stream = tcp_stream(pinfo);
    g_hash_table_add(run->mqtt_streams, GUINT_TO_POINTER(stream));
    seq_analysis_item_t *tls = (seq_analysis_item_t *)g_hash_table_lookup(run->tls_rows, GUINT_TO_POINTER(stream));
    if (tls) {
        /* The connection was decrypted after all. */
        tls->display = FALSE;
        g_hash_table_remove(run->tls_rows, GUINT_TO_POINTER(stream));
    }
    const char *cid = snap->who ? snap->who->client_id : NULL;
    enum role src_role = !snap->dir_known ? ROLE_UNKNOWN : snap->dir == MQTT_C2S ? ROLE_CLIENT : ROLE_BROKER;
    enum role dst_role = src_role == ROLE_UNKNOWN ? ROLE_UNKNOWN : src_role == ROLE_CLIENT ? ROLE_BROKER : ROLE_CLIENT;
    endpoint_t *src = endpoint_get(run, src_role, cid, src_of(sainfo, pinfo), pinfo->srcport);
    endpoint_t *dst = endpoint_get(run, dst_role, cid, dst_of(sainfo, pinfo), pinfo->destport);
    seq_analysis_item_t *sai = add_row(run, sainfo, pinfo, src, dst, stream);
    if (!sai)
        return TAP_PACKET_DONT_REDRAW;
    sai->frame_label = flow_label(r->pkt);
    sai->comment = flow_comment(pinfo, r);
    return TAP_PACKET_REDRAW;
}

/* A TLS connection on the MQTT port in which nothing was decoded gets one
 * row, so that the graph of an encrypted capture says why it is empty; it
 * is hidden again when MQTT turns up in the connection (the handshake
 * comes before the first decrypted record). */
static tap_packet_status flow_tls(flow_run_t *run, seq_analysis_info_t *sainfo, packet_info *pinfo)
{
    guint32 stream = tcp_stream(pinfo);
    if (g_hash_table_contains(run->mqtt_streams, GUINT_TO_POINTER(stream)) ||
        g_hash_table_contains(run->tls_rows, GUINT_TO_POINTER(stream)))
        return TAP_PACKET_DONT_REDRAW;
    bool to_broker = pinfo->destport == MQTT_TLS_PORT;
    endpoint_t *src = endpoint_get(run, to_broker ? ROLE_CLIENT : ROLE_BROKER, NULL, src_of(sainfo, pinfo),
                                   pinfo->srcport);
    endpoint_t *dst = endpoint_get(run, to_broker ? ROLE_BROKER : ROLE_CLIENT, NULL, dst_of(sainfo, pinfo),
                                   pinfo->destport);
    seq_analysis_item_t *sai = add_row(run, sainfo, pinfo, src, dst, stream);
    if (!sai)
        return TAP_PACKET_DONT_REDRAW;
    sai->frame_label = g_strdup("TLS");
    sai->comment = g_strdup_printf("frame %u: TLS on port %u, no MQTT decoded in this connection: it is "
                                   "encrypted and no keys were given (-o tls.keylog_file:FILE)",
                                   pinfo->num, MQTT_TLS_PORT);
    g_hash_table_insert(run->tls_rows, GUINT_TO_POINTER(stream), sai);
    return TAP_PACKET_REDRAW;
}

/* The tap's data: an MQTT packet's record, or NULL for a frame of TLS on
 * the MQTT port that holds no decoded MQTT. */
static tap_packet_status flow_packet(void *tapdata, packet_info *pinfo, epan_dissect_t *edt _U_,
                                     const void *data, tap_flags_t flags _U_)
{
    seq_analysis_info_t *sainfo = (seq_analysis_info_t *)tapdata;
    flow_run_t *run = run_get(sainfo);
    return data ? flow_mqtt(run, sainfo, pinfo, (const mqtt_tap_rec_t *)data) : flow_tls(run, sainfo, pinfo);
}

/* Postdissector: TLS on the MQTT port without decoded MQTT in the frame. */
static int flow_tls_frame(tvbuff_t *tvb _U_, packet_info *pinfo, proto_tree *tree _U_, void *data _U_)
{
    if (!have_tap_listener(flow_tap) || (pinfo->srcport != MQTT_TLS_PORT && pinfo->destport != MQTT_TLS_PORT))
        return 0;
    if (proto_is_frame_protocol(pinfo->layers, "tls") && !p_get_proto_data(pinfo->pool, pinfo, proto_flow, KEY_QUEUED))
        tap_queue_packet(flow_tap, pinfo, NULL);
    return 0;
}

/* ---- registration ----------------------------------------------------------------- */

static void flow_cleanup(void)
{
    if (runs)
        g_hash_table_destroy(runs);
    runs = NULL;
}

void mqtt_flow_register(int proto, module_t *module)
{
    proto_flow = proto;
    flow_tap = register_tap("mqttlens_flow");
    register_seq_analysis("mqttlens", "MQTT Flows (mqttlens)", proto, "mqttlens_flow", 0, flow_packet);
    register_postdissector(create_dissector_handle(flow_tls_frame, proto));
    register_cleanup_routine(flow_cleanup);
    prefs_register_uint_preference(module, "flow_preview", "Payload preview in the flow graph",
                                   "How many bytes of a PUBLISH payload the flow graph's comment shows "
                                   "(0: none).",
                                   10, &pref_preview);
}

void mqtt_flow_handoff(void)
{
    proto_tcp = proto_get_id_by_filter_name("tcp");
}

bool mqtt_flow_listening(void)
{
    return have_tap_listener(flow_tap);
}

void mqtt_flow_queue(packet_info *pinfo, const mqtt_tap_rec_t *rec)
{
    if (!have_tap_listener(flow_tap))
        return;
    p_add_proto_data(pinfo->pool, pinfo, proto_flow, KEY_QUEUED, GUINT_TO_POINTER(1));
    tap_queue_packet(flow_tap, pinfo, rec);
}
