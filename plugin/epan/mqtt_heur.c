/* mqtt_heur.c — MQTT recognised on any TCP port and inside TLS on any port.
 *
 * A connection nothing else claims (no port entry, no Decode As) is MQTT
 * when the first bytes of a segment are a CONNECT whose fixed header,
 * Remaining Length, protocol name and level agree (mqtt_looks_like_connect
 * in the core).  The heuristic then gives the whole conversation to
 * mqttlens (TCP: conversation_set_dissector; TLS: the session's
 * application handle), so no later packet is judged again or misread.  On
 * by default; the preference `heuristic_connect` turns it off (as does
 * disabling the heuristics "mqttlens_tcp" / "mqttlens_tls").  Its measured
 * false-positive rate is in docs/heuristics.md.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_heur.h"

#include "ws_compat.h"

#include <epan/conversation.h>

#include "mqtt_dissector.h"
#include "mqtt_spec.h"
#include "mqtt_transport.h"
#include "mqtt_wire.h"

static dissector_handle_t mqttlens_handle;
static dissector_t dissect_mqttlens; /* called directly: call_dissector() would use up TCP's desegmentation */
static ws_compat_bool pref_heur_connect = TRUE;
static ws_compat_bool pref_heur_run = FALSE;

/* The run heuristic's view of a conversation it has not claimed yet. */
typedef struct {
    guint32 port0;            /* the first sender's port tells the directions apart */
    guint32 segments[2];      /* segments of whole, well-formed packets per direction */
    guint32 packets;
    guint8 senders[2];        /* per direction: what its packet types say it is (MQTT_FROM_*) */
    gboolean rejected;        /* a segment that is not such a run: never claimed */
} run_state_t;

#define RUN_PACKETS 4u

static wmem_map_t *run_states;

static void forget_runs(void)
{
    run_states = NULL;
}

static gboolean starts_with_connect(tvbuff_t *tvb)
{
    guint len = tvb_captured_length(tvb);
    return pref_heur_connect && mqtt_looks_like_connect(tvb_get_ptr(tvb, 0, (gint)len), len);
}

static ws_compat_bool heur_tcp(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data)
{
    if (!starts_with_connect(tvb))
        return FALSE;
    conversation_set_dissector(find_or_create_conversation(pinfo), mqttlens_handle);
    dissect_mqttlens(tvb, pinfo, tree, data);
    return TRUE;
}

#define RUN_UNKNOWN (-1)
#define RUN_CONTRADICTS (-2)

/* Which direction (0, 1) is the client's, as the packet types of the run
 * tell: a client-only type (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, ...)
 * names its sender the client, a server-only one (CONNACK, SUBACK,
 * UNSUBACK, PINGRESP, ...) its sender the server.  RUN_UNKNOWN when no
 * packet tells (the ports decide then), RUN_CONTRADICTS when the packets
 * disagree. */
static int run_client(const run_state_t *rs)
{
    gboolean c0 = (rs->senders[0] & MQTT_FROM_CLIENT) || (rs->senders[1] & MQTT_FROM_SERVER);
    gboolean c1 = (rs->senders[1] & MQTT_FROM_CLIENT) || (rs->senders[0] & MQTT_FROM_SERVER);
    if (c0 && c1)
        return RUN_CONTRADICTS;
    return c0 ? 0 : c1 ? 1 : RUN_UNKNOWN;
}

/* The opt-in run heuristic (capture started after the CONNECT): on the
 * first pass, a conversation whose segments, in both directions, each hold
 * nothing but well-formed MQTT packets, at least RUN_PACKETS of them,
 * belongs to mqttlens from the segment where that became clear on (earlier
 * ones stay undecoded in every pass, so all passes agree).  Any other
 * segment first rules the conversation out for good, and so do packet
 * types that give both sides the same role.  Which side is the client is
 * taken from the packet types of all the segments seen (run_client), the
 * undecoded ones too; only when none tells do the ports decide. */
static ws_compat_bool heur_tcp_run(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data)
{
    if (!pref_heur_run || PINFO_FD_VISITED(pinfo))
        return FALSE;
    conversation_t *conv = find_or_create_conversation(pinfo);
    if (!run_states)
        run_states = wmem_map_new(wmem_file_scope(), g_direct_hash, g_direct_equal);
    run_state_t *rs = (run_state_t *)wmem_map_lookup(run_states, conv);
    if (!rs) {
        rs = wmem_new0(wmem_file_scope(), run_state_t);
        rs->port0 = pinfo->srcport;
        wmem_map_insert(run_states, conv, rs);
    }
    if (rs->rejected)
        return FALSE;
    guint len = tvb_captured_length(tvb);
    unsigned n = mqtt_count_well_formed(pinfo->pool, tvb_get_ptr(tvb, 0, (gint)len), len);
    if (!n) {
        rs->rejected = TRUE;
        return FALSE;
    }
    int dir = pinfo->srcport == rs->port0 ? 0 : 1;
    rs->segments[dir]++;
    rs->packets += n;
    rs->senders[dir] |= mqtt_run_senders(tvb_get_ptr(tvb, 0, (gint)len), len);
    int client = run_client(rs);
    if (client == RUN_CONTRADICTS) {
        rs->rejected = TRUE; /* both sides claim the same role: not MQTT */
        return FALSE;
    }
    if (!rs->segments[0] || !rs->segments[1] || rs->packets < RUN_PACKETS)
        return FALSE;
    conversation_set_dissector_from_frame_number(conv, pinfo->num, mqttlens_handle);
    if (client != RUN_UNKNOWN)
        mqttlens_hint_client(pinfo, client == dir);
    dissect_mqttlens(tvb, pinfo, tree, data);
    return TRUE;
}

/* Setting the TLS session's application handle keeps the session's later
 * records for mqttlens (how it is reached differs by version: ws_compat.h). */
static ws_compat_bool heur_tls(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data)
{
    if (!starts_with_connect(tvb))
        return FALSE;
    ws_compat_tls_claim_session(data, mqttlens_handle);
    dissect_mqttlens(tvb, pinfo, tree, NULL);
    return TRUE;
}

void mqtt_heur_register(int proto _U_, module_t *module)
{
    prefs_register_bool_preference(module, "heuristic_connect", "Find MQTT on any port by its CONNECT",
                                   "Whether a TCP connection or TLS session on a port no other dissector "
                                   "claims is decoded as MQTT when it starts with a well-formed CONNECT "
                                   "(see docs/heuristics.md for its false-positive rate).",
                                   &pref_heur_connect);
    prefs_register_bool_preference(module, "heuristic_run", "Find MQTT on any port by a run of packets",
                                   "Whether a TCP connection on a port no other dissector claims is decoded "
                                   "as MQTT, from the segment on where both directions have sent only "
                                   "well-formed MQTT packets (4 or more): for captures that start after the "
                                   "CONNECT.  Off by default: it is far more likely than the CONNECT "
                                   "heuristic to take another protocol (docs/heuristics.md).",
                                   &pref_heur_run);
    register_cleanup_routine(forget_runs);
}

void mqtt_heur_handoff(dissector_handle_t mqttlens, dissector_t dissect)
{
    int proto = dissector_handle_get_protocol_index(mqttlens);
    mqttlens_handle = mqttlens;
    dissect_mqttlens = dissect;
    heur_dissector_add("tcp", heur_tcp, "MQTT on any TCP port (starts with a CONNECT)", "mqttlens_tcp", proto,
                       HEURISTIC_ENABLE);
    heur_dissector_add("tcp", heur_tcp_run, "MQTT on any TCP port (a run of well-formed packets both ways)",
                       "mqttlens_tcp_run", proto, HEURISTIC_ENABLE);
    heur_dissector_add("tls", heur_tls, "MQTT inside TLS on any port (starts with a CONNECT)", "mqttlens_tls", proto,
                       HEURISTIC_ENABLE);
}
