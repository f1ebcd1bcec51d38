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

#include <epan/conversation.h>

#include "mqtt_transport.h"

static dissector_handle_t mqttlens_handle;
static dissector_t dissect_mqttlens; /* called directly: call_dissector() would use up TCP's desegmentation */
static gboolean pref_heur_connect = TRUE;

static gboolean starts_with_connect(tvbuff_t *tvb)
{
    guint len = tvb_captured_length(tvb);
    return pref_heur_connect && mqtt_looks_like_connect(tvb_get_ptr(tvb, 0, (gint)len), len);
}

static gboolean heur_tcp(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data)
{
    if (!starts_with_connect(tvb))
        return FALSE;
    conversation_set_dissector(find_or_create_conversation(pinfo), mqttlens_handle);
    dissect_mqttlens(tvb, pinfo, tree, data);
    return TRUE;
}

/* TLS passes the session's application handle: setting it keeps the
 * session's later records for mqttlens. */
static gboolean heur_tls(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data)
{
    if (!starts_with_connect(tvb))
        return FALSE;
    if (data)
        *(dissector_handle_t *)data = mqttlens_handle;
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
}

void mqtt_heur_handoff(dissector_handle_t mqttlens, dissector_t dissect)
{
    int proto = dissector_handle_get_protocol_index(mqttlens);
    mqttlens_handle = mqttlens;
    dissect_mqttlens = dissect;
    heur_dissector_add("tcp", heur_tcp, "MQTT on any TCP port (starts with a CONNECT)", "mqttlens_tcp", proto,
                       HEURISTIC_ENABLE);
    heur_dissector_add("tls", heur_tls, "MQTT inside TLS on any port (starts with a CONNECT)", "mqttlens_tls", proto,
                       HEURISTIC_ENABLE);
}
