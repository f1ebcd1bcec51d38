/* mqtt_sessions.c — "MQTT Sessions (mqttlens)": one row per MQTT
 * connection (tshark -z mqttlens,sessions, and Statistics in the GUI).
 *
 * The row is filled from what the core decided for each packet (its
 * snapshot: direction, version, identity, answers; its findings) as the
 * packets come by; the table keeps no other state.  How a connection ended
 * comes from DISCONNECT, else from TCP: the dissector queues a record with
 * no packet on the frame with the connection's first FIN or RST (it learns
 * of it there on the first pass already), so one pass and two give the
 * same table.  The table has a tap of its own: no other tap sees those
 * records.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_sessions.h"

#include <string.h>

#include <epan/conversation.h>
#include <epan/stat_tap_ui.h>
#include <epan/tap.h>
#include <epan/dissectors/packet-tcp.h>

#include "mqtt_tree.h"
#include "ws_compat.h"

enum {
    COL_STREAM, COL_CLIENT_ID, COL_USER, COL_VERSION, COL_RESULT, COL_KEEPALIVE, COL_START, COL_DURATION,
    COL_TO_BROKER, COL_TO_CLIENT, COL_SUBSCRIPTIONS, COL_PUBLISHED, COL_RECEIVED, COL_END, COL_ERRORS,
    COL_WARNINGS, COL_NOTES, COLS
};

static stat_tap_table_item fields[COLS] = {
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "TCP stream", "%u"},
    {TABLE_ITEM_STRING, TAP_ALIGN_LEFT, "Client id", "%s"},
    {TABLE_ITEM_STRING, TAP_ALIGN_LEFT, "User", "%s"},
    {TABLE_ITEM_STRING, TAP_ALIGN_LEFT, "Version", "%s"},
    {TABLE_ITEM_STRING, TAP_ALIGN_LEFT, "Result", "%s"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "Keep alive (s)", "%u"},
    {TABLE_ITEM_FLOAT, TAP_ALIGN_RIGHT, "Start (s)", "%.6f"},
    {TABLE_ITEM_FLOAT, TAP_ALIGN_RIGHT, "Duration (s)", "%.6f"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "Packets to broker", "%u"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "Packets to client", "%u"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "Subscriptions", "%u"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "Published", "%u"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "Received", "%u"},
    {TABLE_ITEM_STRING, TAP_ALIGN_LEFT, "End", "%s"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "Errors", "%u"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "Warnings", "%u"},
    {TABLE_ITEM_UINT, TAP_ALIGN_RIGHT, "Notes", "%u"},
};

static const char *const TABLE_NAME = "MQTT sessions";
static const char *const TAP_NAME = "mqttlens_sessions";
static int proto_tcp = -1;
static int sessions_tap = -1;

static void sessions_init(stat_tap_table_ui *ui)
{
    stat_tap_table *table = stat_tap_find_table(ui, TABLE_NAME);
    if (table) {
        if (ui->stat_tap_reset_table_cb)
            ui->stat_tap_reset_table_cb(table);
        return;
    }
    table = stat_tap_init_table(TABLE_NAME, COLS, 0, NULL);
    stat_tap_add_table(ui, table);
}

/* Where each TCP stream's row was last seen: a hint, checked before use
 * (tables are reset and refilled by Wireshark), so that a capture of many
 * connections is not scanned row by row for every packet. */
static GHashTable *row_hint;

static bool row_is(stat_tap_table *table, guint row, guint32 stream)
{
    return row < table->num_elements && stat_tap_get_field_data(table, row, COL_STREAM)->value.uint_value == stream;
}

/* The row of a TCP stream, G_MAXUINT when it has none. */
static guint row_find(stat_tap_table *table, guint32 stream)
{
    if (!row_hint)
        row_hint = g_hash_table_new(g_direct_hash, g_direct_equal);
    gpointer hint;
    if (g_hash_table_lookup_extended(row_hint, GUINT_TO_POINTER(stream), NULL, &hint) &&
        row_is(table, GPOINTER_TO_UINT(hint), stream))
        return GPOINTER_TO_UINT(hint);
    for (guint i = 0; i < table->num_elements; i++)
        if (row_is(table, i, stream)) {
            g_hash_table_insert(row_hint, GUINT_TO_POINTER(stream), GUINT_TO_POINTER(i));
            return i;
        }
    return G_MAXUINT;
}

/* The row of a TCP stream, added when first seen. */
static guint row_of(stat_tap_table *table, guint32 stream, const nstime_t *start)
{
    guint found = row_find(table, stream);
    if (found != G_MAXUINT)
        return found;
    stat_tap_table_item_type items[COLS];
    memset(items, 0, sizeof items);
    for (int c = 0; c < COLS; c++)
        items[c].type = fields[c].type;
    items[COL_STREAM].value.uint_value = stream;
    static const int strings[] = {COL_CLIENT_ID, COL_USER, COL_VERSION, COL_RESULT, COL_END};
    for (unsigned k = 0; k < G_N_ELEMENTS(strings); k++)
        items[strings[k]].value.string_value = g_strdup("");
    g_free((char *)items[COL_END].value.string_value);
    items[COL_END].value.string_value = g_strdup("open at the end of the capture");
    g_free((char *)items[COL_RESULT].value.string_value);
    items[COL_RESULT].value.string_value = g_strdup("no CONNACK");
    items[COL_START].value.float_value = nstime_to_sec(start);
    guint row = table->num_elements;
    stat_tap_init_table_row(table, row, COLS, items);
    g_hash_table_insert(row_hint, GUINT_TO_POINTER(stream), GUINT_TO_POINTER(row));
    return row;
}

static void set_string(stat_tap_table *table, guint row, int col, char *text)
{
    stat_tap_table_item_type *f = stat_tap_get_field_data(table, row, col);
    g_free((char *)f->value.string_value);
    f->value.string_value = text;
    stat_tap_set_field_data(table, row, col, f);
}

static void add_uint(stat_tap_table *table, guint row, int col, guint n)
{
    stat_tap_table_item_type *f = stat_tap_get_field_data(table, row, col);
    f->value.uint_value += n;
    stat_tap_set_field_data(table, row, col, f);
}

static const char *version_name(unsigned v)
{
    return v == MQTT_V5 ? "5.0" : v == MQTT_V31 ? "3.1" : "3.1.1";
}

static void count_findings(stat_tap_table *table, guint row, const mqtt_findings_t *fs)
{
    for (guint32 i = 0; i < fs->count; i++) {
        enum mqtt_severity sev = mqtt_rule_specs[fs->items[i].rule].severity;
        if (sev == MQTT_S_ERROR)
            add_uint(table, row, COL_ERRORS, 1);
        else if (sev == MQTT_S_WARN)
            add_uint(table, row, COL_WARNINGS, 1);
        else
            add_uint(table, row, COL_NOTES, 1);
    }
}

/* "DISCONNECT by client", "... (Server shutting down)"; until then the
 * connection is open (or closed, see note_closed). */
static void note_end(stat_tap_table *table, guint row, const mqtt_tap_rec_t *r)
{
    const mqtt_pkt_t *pkt = r->pkt;
    if (pkt->type == MQTT_DISCONNECT) {
        const char *by = !r->snap->dir_known ? "" : r->snap->dir == MQTT_C2S ? " by client" : " by broker";
        set_string(table, row, COL_END,
                   pkt->has_reason && pkt->version == MQTT_V5
                       ? g_strdup_printf("DISCONNECT%s: %s (0x%02x)", by, mqtt_tap_reason_name(pkt, pkt->reason),
                                         pkt->reason)
                       : g_strdup_printf("DISCONNECT%s", by));
    }
}

/* The connection's TCP FIN or RST: closed, unless a DISCONNECT said more. */
static void note_closed(stat_tap_table *table, guint row)
{
    stat_tap_table_item_type *end = stat_tap_get_field_data(table, row, COL_END);
    if (!g_str_has_prefix(end->value.string_value, "DISCONNECT"))
        set_string(table, row, COL_END, g_strdup("closed without DISCONNECT"));
}

static guint32 tcp_stream(packet_info *pinfo)
{
    conversation_t *conv = find_conversation_pinfo(pinfo, 0);
    struct tcp_analysis *tcpd = conv ? (struct tcp_analysis *)conversation_get_proto_data(conv, proto_tcp) : NULL;
    return tcpd ? tcpd->stream : 0;
}

static void note_connect(stat_tap_table *table, guint row, const mqtt_tap_rec_t *r)
{
    const mqtt_pkt_t *pkt = r->pkt;
    stat_tap_table_item_type *f = stat_tap_get_field_data(table, row, COL_KEEPALIVE);
    f->value.uint_value = pkt->keepalive;
    stat_tap_set_field_data(table, row, COL_KEEPALIVE, f);
}

static void note_connack(stat_tap_table *table, guint row, const mqtt_tap_rec_t *r)
{
    const mqtt_pkt_t *pkt = r->pkt;
    if (!pkt->has_reason)
        return;
    set_string(table, row, COL_RESULT,
               pkt->reason == 0 ? g_strdup("accepted")
                                : g_strdup_printf("refused: %s (0x%02x)", mqtt_refusal_text(pkt->version, pkt->reason),
                                                  pkt->reason));
}

static tap_packet_status sessions_packet(void *tapdata, packet_info *pinfo, epan_dissect_t *edt _U_,
                                         const void *data, tap_flags_t flags _U_)
{
    stat_data_t *sd = (stat_data_t *)tapdata;
    const mqtt_tap_rec_t *r = (const mqtt_tap_rec_t *)data;
    const mqtt_snapshot_t *snap = r->snap;
    stat_tap_table *table = g_array_index(sd->stat_tap_data->tables, stat_tap_table *, 0);
    if (!r->pkt) {
        guint closed = row_find(table, tcp_stream(pinfo));
        if (closed == G_MAXUINT)
            return TAP_PACKET_DONT_REDRAW;
        note_closed(table, closed);
        return TAP_PACKET_REDRAW;
    }
    guint row = row_of(table, tcp_stream(pinfo), &pinfo->rel_ts);

    stat_tap_table_item_type *start = stat_tap_get_field_data(table, row, COL_START);
    stat_tap_table_item_type *dur = stat_tap_get_field_data(table, row, COL_DURATION);
    dur->value.float_value = nstime_to_sec(&pinfo->rel_ts) - start->value.float_value;
    stat_tap_set_field_data(table, row, COL_DURATION, dur);
    if (snap->who && snap->who->client_id)
        set_string(table, row, COL_CLIENT_ID, g_strdup(snap->who->client_id[0] ? snap->who->client_id : "(empty)"));
    if (snap->who)
        set_string(table, row, COL_USER, g_strdup(snap->who->username ? snap->who->username : "(none)"));
    set_string(table, row, COL_VERSION, g_strdup(version_name(snap->version)));
    if (snap->dir_known)
        add_uint(table, row, snap->dir == MQTT_C2S ? COL_TO_BROKER : COL_TO_CLIENT, 1);
    switch (r->pkt->type) {
    case MQTT_CONNECT: note_connect(table, row, r); break;
    case MQTT_CONNACK: note_connack(table, row, r); break;
    case MQTT_SUBSCRIBE: add_uint(table, row, COL_SUBSCRIPTIONS, r->pkt->filter_count); break;
    case MQTT_PUBLISH:
        if (snap->dir_known)
            add_uint(table, row, snap->dir == MQTT_C2S ? COL_PUBLISHED : COL_RECEIVED, 1);
        break;
    default: break;
    }
    count_findings(table, row, &r->pkt->findings);
    count_findings(table, row, &mqtt_snapshot_extra(snap)->findings);
    note_end(table, row, r);
    return TAP_PACKET_REDRAW;
}

static void sessions_reset(stat_tap_table *table)
{
    for (guint row = 0; row < table->num_elements; row++)
        for (int c = 0; c < COLS; c++) {
            stat_tap_table_item_type *f = stat_tap_get_field_data(table, row, c);
            if (f->type == TABLE_ITEM_STRING)
                g_free((char *)f->value.string_value);
        }
    if (row_hint)
        g_hash_table_remove_all(row_hint);
    /* Start again with no rows (stat_tap_init_table_row allocates them). */
    for (guint row = 0; row < table->num_elements; row++)
        g_free(table->elements[row]);
    table->num_elements = 0;
}

static void sessions_free_item(stat_tap_table *table _U_, guint row _U_, guint column _U_,
                               stat_tap_table_item_type *field)
{
    if (field->type == TABLE_ITEM_STRING)
        g_free((char *)field->value.string_value);
}

static stat_tap_table_ui sessions_ui = {
    REGISTER_PACKET_STAT_GROUP_UNSORTED, "MQTT Sessions (mqttlens)", TAP_NAME, "mqttlens,sessions", sessions_init,
    sessions_packet, sessions_reset, sessions_free_item, NULL, COLS, fields, 0, NULL, NULL, 0,
};

void mqtt_sessions_register(void)
{
    sessions_tap = register_tap(TAP_NAME);
    register_stat_tap_table_ui(&sessions_ui);
}

bool mqtt_sessions_listening(void)
{
    return have_tap_listener(sessions_tap);
}

void mqtt_sessions_queue(packet_info *pinfo, const mqtt_tap_rec_t *rec)
{
    if (have_tap_listener(sessions_tap))
        tap_queue_packet(sessions_tap, pinfo, rec);
}

void mqtt_sessions_queue_closed(packet_info *pinfo)
{
    static const mqtt_tap_rec_t closed; /* no packet: the connection's TCP FIN or RST */
    if (have_tap_listener(sessions_tap))
        tap_queue_packet(sessions_tap, pinfo, &closed);
}

void mqtt_sessions_handoff(void)
{
    proto_tcp = proto_get_id_by_filter_name("tcp");
}
