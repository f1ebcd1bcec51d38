/* mqtt_taps.c — records for Wireshark's taps (see mqtt_taps.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_taps.h"

#include <string.h>

#include <epan/export_object.h>
#include <epan/prefs.h>
#include <epan/srt_table.h>
#include <epan/stats_tree.h>
#include <epan/tap.h>
#include <epan/to_str.h>

#include "mqtt_dissector.h"
#include "mqtt_flow.h"
#include "mqtt_payload.h"
#include "mqtt_sessions.h"
#include "mqtt_tree.h"
#include "ws_compat.h"

static int mqtt_tap = -1;
static int eo_tap = -1;
static int credentials_tap = -1;

/* ---- shared wording ----------------------------------------------------------- */

const char *mqtt_tap_reason_name(const mqtt_pkt_t *pkt, uint8_t code)
{
    return mqtt_reason_text(pkt->version, pkt->type, code);
}

/* ---- statistics tree ----------------------------------------------------------------- */

static int st_types = -1;
static int st_topics = -1;
static int st_clients = -1;
static int st_reasons = -1;

static void stats_init(stats_tree *st)
{
    st_types = stats_tree_create_node(st, "Packets by type", 0, STAT_DT_INT, TRUE);
    st_topics = stats_tree_create_node(st, "Topics (messages; Average, Min, Max: payload bytes)", 0, STAT_DT_INT, TRUE);
    st_clients = stats_tree_create_node(st, "Packets by client", 0, STAT_DT_INT, TRUE);
    st_reasons = stats_tree_create_node(st, "Reason codes by packet type", 0, STAT_DT_INT, TRUE);
}

/* Topic levels as a hierarchy; every level counts the messages below it,
 * the topic itself also their payload sizes and their QoS. */
static void stats_topic(stats_tree *st, const mqtt_tap_rec_t *r)
{
    const mqtt_pkt_t *pkt = r->pkt;
    int parent = st_topics;
    gchar **levels = g_strsplit(r->topic, "/", 0);
    tick_stat_node(st, "Topics (messages; Average, Min, Max: payload bytes)", 0, TRUE);
    for (guint i = 0; levels[i] && i < 16; i++) {
        const char *name = levels[i][0] ? levels[i] : "(empty level)";
        int up = parent;
        parent = tick_stat_node(st, name, up, TRUE);
        if (!levels[i + 1] || i == 15) {
            avg_stat_node_add_value_notick(st, name, up, TRUE, (int)pkt->payload.len);
            tick_stat_node(st, MQTT_PUBLISH_QOS(pkt->flags) == 0 ? "QoS 0" : MQTT_PUBLISH_QOS(pkt->flags) == 1 ? "QoS 1" : "QoS 2",
                           parent, TRUE);
        }
    }
    g_strfreev(levels);
}

/* Every code counts once, as mqttlens.reason_code does: a SUBACK carries
 * one per filter, and a 5.0 packet that leaves its code out counts the
 * 0x00 it implies, under the code as "implied (omitted on the wire)". */
static void stats_reason(stats_tree *st, const mqtt_pkt_t *pkt, uint8_t code, bool implied)
{
    char name[96];
    tick_stat_node(st, "Reason codes by packet type", 0, TRUE);
    int type = tick_stat_node(st, mqtt_type_name(pkt->type), st_reasons, TRUE);
    g_snprintf(name, sizeof name, "0x%02x %s", code, mqtt_tap_reason_name(pkt, code));
    int node = tick_stat_node(st, name, type, TRUE);
    if (implied)
        tick_stat_node(st, "implied (omitted on the wire)", node, FALSE);
}

static void stats_reasons(stats_tree *st, const mqtt_tap_rec_t *r)
{
    const mqtt_pkt_t *pkt = r->pkt;
    for (guint32 i = 0; i < pkt->code_count; i++)
        stats_reason(st, pkt, pkt->codes[i].code, false);
    if (pkt->has_reason)
        stats_reason(st, pkt, pkt->reason, false);
    else if (mqtt_pkt_reason_implied(pkt))
        stats_reason(st, pkt, 0, true);
}

static tap_packet_status stats_packet(stats_tree *st, packet_info *pinfo _U_, epan_dissect_t *edt _U_,
                                      const void *data, tap_flags_t flags _U_)
{
    const mqtt_tap_rec_t *r = (const mqtt_tap_rec_t *)data;
    tick_stat_node(st, "Packets by type", 0, TRUE);
    tick_stat_node(st, mqtt_type_name(r->pkt->type), st_types, FALSE);
    if (r->pkt->type == MQTT_PUBLISH && r->topic)
        stats_topic(st, r);
    tick_stat_node(st, "Packets by client", 0, TRUE);
    const char *client = r->snap->who ? r->snap->who->client_id : NULL;
    tick_stat_node(st, client ? (client[0] ? client : "(empty client id)") : "(client id unknown)",
                   st_clients, FALSE);
    stats_reasons(st, r);
    return TAP_PACKET_REDRAW;
}

/* ---- service response time ---------------------------------------------------------- */

enum { SRT_CONNECT, SRT_SUBSCRIBE, SRT_UNSUBSCRIBE, SRT_PINGREQ, SRT_PUB1, SRT_PUB2, SRT_AUTH, SRT_ROWS };
static const char *const srt_rows[SRT_ROWS] = {
    "CONNECT -> CONNACK", "SUBSCRIBE -> SUBACK", "UNSUBSCRIBE -> UNSUBACK", "PINGREQ -> PINGRESP",
    "PUBLISH QoS 1 -> PUBACK", "PUBLISH QoS 2 -> PUBCOMP (whole flow)", "AUTH -> AUTH",
};

static void srt_init(struct register_srt *srt _U_, GArray *srt_array)
{
    srt_stat_table *t = init_srt_table("MQTT request / response times", NULL, srt_array, SRT_ROWS, "Exchange",
                                       "mqttlens.response_to", NULL);
    for (int i = 0; i < SRT_ROWS; i++)
        init_srt_table_row(t, i, srt_rows[i]);
}

/* Which exchange a response closes (the type table's column), -1 for
 * none; a PUBCOMP only when its flow's PUBLISH is known. */
static int srt_row(const mqtt_tap_rec_t *r)
{
    static const int rows[] = {[MQTT_X_NONE] = -1,          [MQTT_X_CONNECT] = SRT_CONNECT,
                               [MQTT_X_SUBSCRIBE] = SRT_SUBSCRIBE, [MQTT_X_UNSUBSCRIBE] = SRT_UNSUBSCRIBE,
                               [MQTT_X_PINGREQ] = SRT_PINGREQ,   [MQTT_X_PUB1] = SRT_PUB1,
                               [MQTT_X_PUB2] = SRT_PUB2,         [MQTT_X_AUTH] = SRT_AUTH};
    const mqtt_type_spec_t *ts = mqtt_type_spec(r->pkt->type);
    if (!ts || (ts->closes == MQTT_X_PUB2 && !mqtt_snapshot_extra(r->snap)->flow_start))
        return -1;
    return rows[ts->closes];
}

static tap_packet_status srt_packet(void *tapdata, packet_info *pinfo, epan_dissect_t *edt _U_, const void *data,
                                    tap_flags_t flags _U_)
{
    srt_data_t *srt = (srt_data_t *)tapdata;
    const mqtt_tap_rec_t *r = (const mqtt_tap_rec_t *)data;
    int row = srt_row(r);
    if (row < 0 || !r->snap->response_to)
        return TAP_PACKET_DONT_REDRAW;
    nstime_t request;
    nstime_delta(&request, &pinfo->abs_ts, row == SRT_PUB2 ? &r->flow_time : &r->response_time);
    add_srt_table_data(g_array_index(srt->srt_array, srt_stat_table *, 0), row, &request, pinfo);
    return TAP_PACKET_REDRAW;
}

/* ---- export objects ------------------------------------------------------------------- */

/* A file name from the topic and the frame, with the extension of what
 * the payload is; "/" would be escaped by Wireshark, so topic levels are
 * joined with "_" instead. */
static gchar *object_name(const mqtt_tap_rec_t *r, guint32 frame, const char *extension)
{
    gchar *topic = g_strdup(r->topic && r->topic[0] ? r->topic : "(no topic)");
    g_strdelimit(topic, "/", '_');
    gchar *name = r->index ? g_strdup_printf("%s_frame%u-%u%s", topic, frame, r->index, extension)
                           : g_strdup_printf("%s_frame%u%s", topic, frame, extension);
    g_free(topic);
    return name;
}

static const char *endpoint_text(packet_info *pinfo)
{
    const char *addr = address_to_str(pinfo->pool, &pinfo->src);
    return pinfo->src.type == AT_IPv6 ? wmem_strdup_printf(pinfo->pool, "[%s]:%u", addr, pinfo->srcport)
                                      : wmem_strdup_printf(pinfo->pool, "%s:%u", addr, pinfo->srcport);
}

/* Where the message came from, as Wireshark's Hostname column shows for
 * other protocols the host that served an object: the publishing client
 * (its client id, else its address) for a PUBLISH to the broker; for a
 * delivery the client that published it when the capture shows that
 * (the message's journey), else the broker that sent it. */
static const char *object_sender(packet_info *pinfo, const mqtt_tap_rec_t *r)
{
    const char *id = r->snap->who ? r->snap->who->client_id : NULL;
    if (r->snap->dir_known && r->snap->dir == MQTT_S2C) {
        const mqtt_journey_t *j = mqtt_dissector_journey(r->snap);
        id = j && j->is_delivery && j->origin ? j->from_client : NULL;
    }
    return id && id[0] ? id : endpoint_text(pinfo);
}

static tap_packet_status eo_packet(void *tapdata, packet_info *pinfo, epan_dissect_t *edt _U_, const void *data,
                                   tap_flags_t flags _U_)
{
    export_object_list_t *list = (export_object_list_t *)tapdata;
    const mqtt_tap_rec_t *r = (const mqtt_tap_rec_t *)data;
    const mqtt_pkt_t *pkt = r->pkt;
    const mqtt_prop_t *format = mqtt_props_find(&pkt->props, MQTT_PROP_PAYLOAD_FORMAT_INDICATOR);
    tvbuff_t *payload = tvb_new_real_data(pkt->raw + pkt->payload.off, pkt->payload.len, (gint)pkt->payload.len);
    mqtt_payload_kind_t kind = mqtt_payload_kind(pinfo->pool, payload, r->topic, r->content_type,
                                                 format ? (int)format->num : -1);
    tvb_free(payload);
    export_object_entry_t *e = g_new0(export_object_entry_t, 1);
    e->pkt_num = pinfo->num;
    e->hostname = g_strdup(object_sender(pinfo, r));
    e->content_type = g_strdup(kind.media_type);
    e->filename = object_name(r, pinfo->num, kind.extension);
    e->payload_len = pkt->payload.len;
    e->payload_data = (guint8 *)g_memdup2(pkt->raw + pkt->payload.off, pkt->payload.len);
    list->add_entry(list->gui_data, e);
    return TAP_PACKET_REDRAW;
}

/* ---- credentials ------------------------------------------------------------------------- */


/* A login is a CONNECT and its CONNACK.  The CONNECT's credentials wait
 * here, per connection, for the CONNACK that says what became of them;
 * the record is queued at the CONNACK (one-pass output included), or at
 * the CONNECT when a later pass knows that no CONNACK came. */
typedef struct {
    guint32 frame;
    gchar *username; /* NULL: anonymous */
    gchar *password; /* NULL: none */
    gchar *client_id;
    gchar *method;   /* 5.0 enhanced authentication: its method */
} login_t;

static wmem_map_t *logins; /* TCP conversation index -> login_t */

static void forget_logins(void)
{
    logins = NULL;
}

static gchar *scope_str(wmem_allocator_t *scope, tvbuff_t *tvb, const mqtt_str_t *s)
{
    if (!(s->flags & MQTT_STR_PRESENT))
        return NULL;
    return mqtt_str_value(scope, tvb, s);
}

static void queue_login(packet_info *pinfo, const login_t *l, const mqtt_tap_rec_t *r, const char *outcome)
{
    tap_credential_t *rec = wmem_new0(pinfo->pool, tap_credential_t);
    rec->num = l->frame;
    rec->username_num = l->frame;
    rec->password_hf_id = (guint)mqtt_tree_password_field();
    rec->username = l->username ? wmem_strdup(pinfo->pool, l->username)
                    : l->method ? wmem_strdup_printf(pinfo->pool, "(method %s)", l->method)
                                : (gchar *)"(anonymous)";
    rec->proto = "MQTT";
    const char *pass = !l->password ? "no password" : r->mask_passwords ? "password ********" : NULL;
    rec->info = pass ? wmem_strdup_printf(pinfo->pool, "%s: client id \"%s\", %s", outcome,
                                          l->client_id ? l->client_id : "?", pass)
                     : wmem_strdup_printf(pinfo->pool, "%s: client id \"%s\", password \"%s\"", outcome,
                                          l->client_id ? l->client_id : "?", l->password);
    tap_queue_packet(credentials_tap, pinfo, rec);
}

static void login_connect(packet_info *pinfo, const mqtt_tap_rec_t *r)
{
    const mqtt_pkt_t *pkt = r->pkt;
    login_t *l = wmem_new0(wmem_file_scope(), login_t);
    l->frame = pinfo->num;
    l->username = scope_str(wmem_file_scope(), r->tvb, &pkt->username);
    l->password = scope_str(wmem_file_scope(), r->tvb, &pkt->password);
    l->client_id = scope_str(wmem_file_scope(), r->tvb, &pkt->client_id);
    const mqtt_prop_t *method = mqtt_props_find(&pkt->props, MQTT_PROP_AUTHENTICATION_METHOD);
    if (method)
        l->method = scope_str(wmem_file_scope(), r->tvb, &method->str);
    if (!logins)
        logins = wmem_map_new(wmem_file_scope(), g_direct_hash, g_direct_equal);
    wmem_map_insert(logins, GUINT_TO_POINTER(r->conversation), l);
    if (PINFO_FD_VISITED(pinfo) && !r->snap->response_in)
        queue_login(pinfo, l, r, "no CONNACK in the capture");
}

static void login_connack(packet_info *pinfo, const mqtt_tap_rec_t *r)
{
    const mqtt_pkt_t *pkt = r->pkt;
    login_t *l = logins ? (login_t *)wmem_map_lookup(logins, GUINT_TO_POINTER(r->conversation)) : NULL;
    if (!l || l->frame != r->snap->response_to || !pkt->has_reason)
        return;
    const char *outcome = pkt->reason == 0 ? "accepted"
                                           : wmem_strdup_printf(pinfo->pool, "refused: %s (0x%02x)",
                                                                mqtt_refusal_text(pkt->version, pkt->reason), pkt->reason);
    queue_login(pinfo, l, r, outcome);
}

static void queue_credentials(packet_info *pinfo, const mqtt_tap_rec_t *r)
{
    if (!have_tap_listener(credentials_tap))
        return;
    if (r->pkt->type == MQTT_CONNECT)
        login_connect(pinfo, r);
    else if (r->pkt->type == MQTT_CONNACK)
        login_connack(pinfo, r);
}

/* ---- registration ---------------------------------------------------------------------- */

void mqtt_taps_register(int proto)
{
    mqtt_tap = register_tap("mqttlens");
    mqtt_flow_register(proto, prefs_find_module("mqttlens"));
    stats_tree_register_plugin("mqttlens", "mqttlens", "MQTT/Packets, topics, clients (mqttlens)", 0,
                               stats_packet, stats_init, NULL);
    register_srt_table(proto, NULL, 1, srt_packet, srt_init, NULL);
    eo_tap = register_export_object(proto, eo_packet, NULL);
    register_cleanup_routine(forget_logins);
    mqtt_sessions_register();
}

void mqtt_taps_handoff(void)
{
    /* The tap belongs to Wireshark (HTTP, FTP, ... feed it); register_tap()
     * returns it when it exists already. */
    credentials_tap = register_tap("credentials");
    mqtt_flow_handoff();
    mqtt_sessions_handoff();
}

bool mqtt_taps_listening(void)
{
    return have_tap_listener(mqtt_tap) || have_tap_listener(eo_tap) || have_tap_listener(credentials_tap) ||
           mqtt_flow_listening() || mqtt_sessions_listening();
}

void mqtt_taps_queue(packet_info *pinfo, const mqtt_tap_rec_t *rec)
{
    queue_credentials(pinfo, rec);
    if (have_tap_listener(mqtt_tap)) {
        tap_queue_packet(mqtt_tap, pinfo, rec);
    }
    mqtt_flow_queue(pinfo, rec);
    mqtt_sessions_queue(pinfo, rec);
    if (rec->pkt->type == MQTT_PUBLISH && rec->pkt->framed && !rec->pkt->capture_short && have_tap_listener(eo_tap))
        tap_queue_packet(eo_tap, pinfo, rec);
}

void mqtt_taps_queue_closed(packet_info *pinfo)
{
    mqtt_sessions_queue_closed(pinfo);
}
