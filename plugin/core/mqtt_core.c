/* mqtt_core.c — the entry points of the core (see mqtt_core.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_core.h"

#include <string.h>
#include <inttypes.h>

#include <glib.h>

#include "mqtt_checks.h"
#include "mqtt_subs.h"

/* ---- the capture ---------------------------------------------------------- */

/* Failed logins from one client address, across connections. */
typedef struct {
    uint32_t count;
    uint32_t first;  /* frames of the first and the latest */
    uint32_t last;
} logins_t;

/* One session (a client id at one broker): per sender, the Packet
 * Identifier of each QoS 1 and 2 PUBLISH not acknowledged yet -> the frame
 * of its first transmission. */
typedef struct {
    wmem_map_t *unacked[2]; /* [enum mqtt_dir], created with the first */
} session_t;

/* State that spans the connections of a capture.  Each per-capture module
 * keeps its state in a member of its own here, is set up in
 * mqtt_capture_new() and observes every packet in capture_observe(). */
struct mqtt_capture {
    wmem_allocator_t *scope;
    wmem_map_t *failed_logins; /* client address -> logins_t, created with the first failure */
    mqtt_journeys_t *journeys; /* message journeys, across connections (mqtt_journey.h) */
    wmem_map_t *sessions;      /* "broker|client id" -> session_t, created with the first */
    uint32_t nsessions;
    uint32_t nunacked;         /* entries of every session's unacked tables */
    bool sessions_full;        /* MQTT_MAX_SESSIONS reached (reported once) */
    bool unacked_full;         /* MQTT_MAX_SESSION_PUBLISHES reached (reported once) */
    int64_t last_ns;           /* the latest MQTT packet's time: the capture lasts at least until then */
};

mqtt_capture_t *mqtt_capture_new(wmem_allocator_t *scope)
{
    mqtt_capture_t *cap = wmem_new0(scope, mqtt_capture_t);
    cap->scope = scope;
    cap->journeys = mqtt_journeys_new(scope);
    return cap;
}

static bool has_finding(const mqtt_snapshot_t *snap, enum mqtt_rule rule)
{
    const mqtt_findings_t *fs = &mqtt_snapshot_extra(snap)->findings;
    for (uint32_t i = 0; i < fs->count; i++)
        if (fs->items[i].rule == rule)
            return true;
    return false;
}

/* The address of the packet's client end. */
static const char *client_address(const mqtt_snapshot_t *snap, const char *src, const char *dst)
{
    return snap->dir == MQTT_C2S ? src : dst;
}

static void count_failed_login(mqtt_capture_t *cap, const mqtt_snapshot_t *snap, const mqtt_event_t *ev)
{
    const char *addr = client_address(snap, ev->src_address, ev->dst_address);
    if (!addr || !has_finding(snap, MQTT_R_AUTH_FAILED))
        return;
    if (!cap->failed_logins)
        cap->failed_logins = wmem_map_new(cap->scope, g_str_hash, g_str_equal);
    logins_t *f = (logins_t *)wmem_map_lookup(cap->failed_logins, addr);
    if (!f) {
        f = wmem_new0(cap->scope, logins_t);
        f->first = ev->frame;
        wmem_map_insert(cap->failed_logins, wmem_strdup(cap->scope, addr), f);
    }
    f->count++;
    f->last = ev->frame;
}

/* "address:port" of one end of the packet, NULL when its address is not
 * known; an IPv6 address in brackets. */
static const char *endpoint(wmem_allocator_t *mem, const char *address, uint32_t port)
{
    if (!address)
        return NULL;
    return wmem_strdup_printf(mem, strchr(address, ':') ? "[%s]:%u" : "%s:%u", address, port);
}

static int64_t capture_ns(nstime_t t)
{
    return (int64_t)t.secs * 1000000000 + t.nsecs;
}

/* The packet as the journeys see it: its broker is the server end of its
 * connection. */
static void follow_journeys(mqtt_capture_t *cap, const mqtt_conn_t *conn, const mqtt_pkt_t *pkt,
                            const mqtt_snapshot_t *snap, const mqtt_event_t *ev, const char *broker,
                            const char *client)
{
    if (!snap->dir_known)
        return;
    mqtt_journey_ctx_t ctx = {conn, broker, client, ev->frame, capture_ns(ev->time)};
    mqtt_journey_packet(cap->journeys, &ctx, pkt, snap);
}

/* ---- sessions across connections -------------------------------------------- */

/* The session of the packet's connection: its broker's endpoint and its
 * client id; NULL without either, or when no more are kept (`create`
 * false: only an existing one). */
static session_t *session_of(mqtt_capture_t *cap, mqtt_conn_t *conn, wmem_allocator_t *mem,
                             mqtt_snapshot_t *snap, const char *broker, bool create)
{
    const char *id = snap->who ? snap->who->client_id : NULL;
    if (!id || !*id || !broker)
        return NULL;
    mqtt_conn_names_t *names = mqtt_conn_names(conn);
    if (names->session_key_id != id) {
        names->session_key = wmem_strdup_printf(cap->scope, "%s|%s", broker, id);
        names->session_key_id = id;
    }
    const char *key = names->session_key;
    session_t *s = cap->sessions ? (session_t *)wmem_map_lookup(cap->sessions, key) : NULL;
    if (s || !create)
        return s;
    if (cap->nsessions >= MQTT_MAX_SESSIONS) {
        if (!cap->sessions_full) {
            cap->sessions_full = true;
            mqtt_conn_add_finding(conn, snap, MQTT_R_STATE_CAP, (mqtt_span_t){0, 1},
                                  wmem_strdup_printf(mem, "%u sessions followed across connections; the DUP "
                                                     "copies of later ones are not linked to their originals",
                                                     MQTT_MAX_SESSIONS));
        }
        return NULL;
    }
    if (!cap->sessions)
        cap->sessions = wmem_map_new(cap->scope, g_str_hash, g_str_equal);
    s = wmem_new0(cap->scope, session_t);
    wmem_map_insert(cap->sessions, key, s);
    cap->nsessions++;
    return s;
}

/* A CONNACK without Session Present starts a new session: what the old
 * one left unacknowledged is gone ([MQTT-3.1.2-4], 5.0 [MQTT-3.1.2-4]). */
static void session_reset(mqtt_capture_t *cap, session_t *s)
{
    for (int d = 0; d < 2; d++) {
        if (!s->unacked[d])
            continue;
        cap->nunacked -= wmem_map_size(s->unacked[d]);
        s->unacked[d] = NULL; /* its memory is the capture's, freed with it */
    }
}

static void session_publish(mqtt_capture_t *cap, mqtt_conn_t *conn, wmem_allocator_t *mem, session_t *s,
                            const mqtt_pkt_t *pkt, mqtt_snapshot_t *snap)
{
    wmem_map_t **t = &s->unacked[snap->dir];
    gpointer key = GUINT_TO_POINTER((guint)pkt->packet_id);
    uint32_t original = *t ? GPOINTER_TO_UINT(wmem_map_lookup(*t, key)) : 0;
    bool dup = (pkt->flags & MQTT_PUBLISH_DUP) != 0;
    /* A DUP copy the connection could not link (its original is not on
     * this connection) in a resumed session: a re-send of the session's
     * state ([MQTT-4.4.0-1]). */
    if (dup && original && mqtt_conn_session_present(conn) && !mqtt_snapshot_extra(snap)->retransmission_of)
        mqtt_conn_link_resend(conn, snap, original);
    if (dup && original)
        return; /* the original stays the one to link to */
    /* DUP 0 on an identifier the resumed session still has in flight from
     * an earlier connection (its PUBLISH unacknowledged in the capture):
     * either a re-delivery without its DUP flag ([MQTT-3.3.1-1]; mqtt.js
     * 5.16 re-sends so, lab/reconnect-inflight-js-*) or a new message on
     * an identifier in use.  Same-connection reuse is the connection's
     * own finding; the original must be before this connection's CONNECT. */
    uint32_t connect = mqtt_snapshot_version_frame(snap);
    if (original && mqtt_conn_session_present(conn) && connect && original < connect)
        mqtt_conn_add_finding_ref(conn, snap, MQTT_R_ID_IN_USE, pkt->packet_id_span,
                                  wmem_strdup_printf(mem, "id=%u in flight in the resumed session since frame %u "
                                                     "(an earlier connection; no PUBACK/PUBREC in the capture): "
                                                     "a re-delivery must set DUP", pkt->packet_id, original),
                                  "MQTT-3.3.1-1");
    if (!original && cap->nunacked >= MQTT_MAX_SESSION_PUBLISHES) {
        if (!cap->unacked_full) {
            cap->unacked_full = true;
            mqtt_conn_add_finding(conn, snap, MQTT_R_STATE_CAP, (mqtt_span_t){0, 1},
                                  wmem_strdup_printf(mem, "%u unacknowledged PUBLISH packets kept for resumed "
                                                     "sessions; later ones are not linked to their DUP copies",
                                                     MQTT_MAX_SESSION_PUBLISHES));
        }
        return;
    }
    if (!*t)
        *t = wmem_map_new(cap->scope, g_direct_hash, g_direct_equal);
    if (!original)
        cap->nunacked++;
    wmem_map_insert(*t, key, GUINT_TO_POINTER(snap->frame));
}

/* A PUBACK or PUBREC acknowledges the PUBLISH: the sender re-sends it no
 * more (a QoS 2 flow goes on with PUBREL, which is not a PUBLISH). */
static void session_acked(mqtt_capture_t *cap, session_t *s, const mqtt_pkt_t *pkt, const mqtt_snapshot_t *snap)
{
    wmem_map_t *t = s->unacked[!snap->dir];
    if (t && wmem_map_remove(t, GUINT_TO_POINTER((guint)pkt->packet_id)))
        cap->nunacked--;
}

/* What the packet tells about its session: a new one begins, a PUBLISH
 * awaits its acknowledgement, or is re-sent. */
static void follow_sessions(mqtt_capture_t *cap, mqtt_conn_t *conn, wmem_allocator_t *mem, const mqtt_pkt_t *pkt,
                            mqtt_snapshot_t *snap, const char *broker)
{
    session_t *s;
    if (!snap->dir_known || !pkt->framed)
        return;
    switch (pkt->type) {
    case MQTT_CONNACK:
        if (mqtt_conn_accepted(conn) && !mqtt_conn_session_present(conn) &&
            (s = session_of(cap, conn, mem, snap, broker, false)) != NULL)
            session_reset(cap, s);
        break;
    case MQTT_PUBLISH:
        /* Only a session a later connection can resume keeps what its
         * connection left unacknowledged. */
        if (pkt->has_packet_id && (MQTT_PUBLISH_QOS(pkt->flags) == 1 || MQTT_PUBLISH_QOS(pkt->flags) == 2) &&
            mqtt_conn_session_may_outlive(conn) && (s = session_of(cap, conn, mem, snap, broker, true)) != NULL)
            session_publish(cap, conn, mem, s, pkt, snap);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
        if (pkt->has_packet_id && (s = session_of(cap, conn, mem, snap, broker, false)) != NULL)
            session_acked(cap, s, pkt, snap);
        break;
    default:
        break;
    }
}

/* The broker is the server end of the connection, the client the other
 * one.  Both are named once per connection, with its first packet whose
 * direction and addresses are known: a connection's ends do not change,
 * and its direction is decided once (mqtt_conn_pick_direction). */
static void name_ends(mqtt_capture_t *cap, mqtt_conn_t *conn, const mqtt_snapshot_t *snap, const mqtt_event_t *ev,
                      const char **broker, const char **client)
{
    mqtt_conn_names_t *names = mqtt_conn_names(conn);
    if (!snap->dir_known)
        return;
    if (!names->ends_named) {
        names->ends_named = true;
        bool c2s = snap->dir == MQTT_C2S;
        names->broker = c2s ? endpoint(cap->scope, ev->dst_address, ev->dst_port)
                            : endpoint(cap->scope, ev->src_address, ev->src_port);
        names->client = c2s ? endpoint(cap->scope, ev->src_address, ev->src_port)
                            : endpoint(cap->scope, ev->dst_address, ev->dst_port);
    }
    *broker = names->broker;
    *client = names->client;
}

/* Every per-capture module sees every packet once its connection has
 * analysed it. */
static void capture_observe(mqtt_capture_t *cap, mqtt_conn_t *conn, wmem_allocator_t *mem, const mqtt_pkt_t *pkt,
                            mqtt_snapshot_t *snap, const mqtt_event_t *ev)
{
    int64_t ns = capture_ns(ev->time);
    if (ns > cap->last_ns)
        cap->last_ns = ns;
    count_failed_login(cap, snap, ev);
    const char *broker = NULL, *client = NULL;
    name_ends(cap, conn, snap, ev, &broker, &client);
    follow_sessions(cap, conn, mem, pkt, snap, broker);
    follow_journeys(cap, conn, pkt, snap, ev, broker, client);
}

void mqtt_core_transport_closed(mqtt_capture_t *cap, const mqtt_conn_t *conn, nstime_t time)
{
    if (cap && conn)
        mqtt_journey_closed(cap->journeys, conn, capture_ns(time));
}

/* ---- per packet --------------------------------------------------------------- */

mqtt_pkt_t *mqtt_core_first_pass(mqtt_capture_t *cap, mqtt_conn_t *conn, wmem_allocator_t *mem,
                                 const uint8_t *p, uint32_t len, const mqtt_event_t *ev,
                                 unsigned default_version, mqtt_snapshot_t *snap)
{
    mqtt_conn_pick_direction(conn, len ? p[0] >> 4 : 0, ev, snap);
    mqtt_conn_pick_version(conn, mem, p, len, ev->frame, default_version, snap);
    mqtt_pkt_t *pkt = mqtt_core_decode(mem, p, len, snap);
    mqtt_conn_update(conn, pkt, ev, snap);
    capture_observe(cap, conn, mem, pkt, snap, ev);
    return pkt;
}

mqtt_pkt_t *mqtt_core_decode(wmem_allocator_t *mem, const uint8_t *p, uint32_t len, const mqtt_snapshot_t *snap)
{
    mqtt_pkt_t *pkt = mqtt_decode(mem, p, len, snap->version);
    mqtt_check_packet(mem, pkt, (enum mqtt_dir)snap->dir, snap->dir_known);
    return pkt;
}

/* ---- what framing cannot decode ----------------------------------------------------- */

mqtt_finding_t mqtt_core_unfinished_packet(bool transport_closed, uint64_t announced, wmem_allocator_t *pool)
{
    mqtt_finding_t f = {transport_closed ? MQTT_R_INCOMPLETE_PACKET : MQTT_R_CAPTURE_ENDS_MID_PACKET, {0, 0},
                        announced ? wmem_strdup_printf(pool, "%" PRIu64 " bytes announced", announced)
                                  : "its Remaining Length is incomplete",
                        NULL};
    return f;
}

mqtt_finding_t mqtt_core_unframed(uint32_t since, wmem_allocator_t *pool)
{
    mqtt_finding_t f = {MQTT_R_UNFRAMED, {0, 0}, wmem_strdup_printf(pool, "since frame %u", since), NULL};
    return f;
}

mqtt_finding_t mqtt_core_unframed_message(void)
{
    mqtt_finding_t f = {MQTT_R_UNFRAMED, {0, 0},
                        "Remaining Length longer than 4 bytes; framing resumes with the next WebSocket message", NULL};
    return f;
}

/* ---- what a shown packet adds ----------------------------------------------------- */

/* A request (or a step of a QoS 2 flow) that was never answered.  When
 * the peer answered a later request of the same side, the silence breaks
 * the rule that obliges it to answer; at the end of a capture, when the
 * peer only sent packets of its own (a PUBLISH may cross the request), or
 * when an answer seems to have come with another Packet Identifier, it is
 * only a remark. */
static void unanswered(const mqtt_conn_t *conn, const mqtt_snapshot_t *snap, const mqtt_pkt_t *pkt,
                       wmem_allocator_t *pool, mqtt_findings_t *out)
{
    const mqtt_type_spec_t *ts = mqtt_type_spec(snap->type);
    const char *ref = mqtt_missing_response_ref(snap->type, snap->version, (enum mqtt_dir)snap->dir);
    const char *awaited = mqtt_awaited_response(snap->type, MQTT_PUBLISH_QOS(pkt->flags));
    const char *what = wmem_strdup_printf(pool, "no %s", awaited);
    uint32_t mismatched = mqtt_snapshot_extra(snap)->mismatched_in;
    uint32_t later = snap->dir_known ? mqtt_conn_last_answered(conn, (enum mqtt_dir)snap->dir) : 0;
    if (mismatched)
        what = wmem_strdup_printf(pool, "no %s with this Packet Identifier; the one in frame %u has another", awaited,
                                  mismatched);
    if (ref && later > snap->frame && !mismatched)
        mqtt_finding_add_ref(pool, out, MQTT_R_RESPONSE_MISSING, (mqtt_span_t){0, 1},
                             wmem_strdup_printf(pool, "%s, although the later request of frame %u was answered", what,
                                                later),
                             ref);
    else
        mqtt_finding_add(pool, out, ts->qos2_step ? MQTT_R_QOS2_INCOMPLETE : MQTT_R_NO_RESPONSE, (mqtt_span_t){0, 1},
                         what);
}

/* A failed login from an address that failed before.  While the first
 * pass runs, each failure from the MQTT_REPEATED_FAILURES-th on is
 * reported with the count so far; once the whole capture is known, only the
 * last one is, with the total. */
static void repeated_failures(const mqtt_capture_t *cap, const mqtt_snapshot_t *snap, const mqtt_pkt_t *pkt,
                              const mqtt_settle_facts_t *facts, wmem_allocator_t *pool, mqtt_findings_t *out)
{
    const char *addr = client_address(snap, facts->src_address, facts->dst_address);
    if (!cap || !cap->failed_logins || !addr || !has_finding(snap, MQTT_R_AUTH_FAILED))
        return;
    const logins_t *f = (const logins_t *)wmem_map_lookup(cap->failed_logins, addr);
    if (!f || f->count < MQTT_REPEATED_FAILURES)
        return;
    const char *detail;
    if (facts->capture_seen) {
        if (f->last != snap->frame)
            return;
        detail = wmem_strdup_printf(pool, "%u failed logins from %s, frames %u to %u", f->count, addr, f->first,
                                    f->last);
    } else {
        if (f->last != snap->frame) /* shown again during the first pass, after later failures */
            return;
        detail = wmem_strdup_printf(pool, "%u failed logins from %s so far, frames %u to %u", f->count, addr,
                                    f->first, f->last);
    }
    mqtt_finding_add(pool, out, MQTT_R_REPEATED_AUTH_FAILURES, pkt->reason_span, detail);
}

/* Keep Alive judged at the end of a connection that ended without
 * DISCONNECT: the client's silence from its last packet until the
 * connection closed (its last TCP segment, FIN or RST in the capture) or,
 * while it stayed open, until the capture's last MQTT packet or the
 * connection's last TCP segment, whichever is later.  Over Keep Alive (and
 * a tenth for timing) the client broke [MQTT-3.1.2-20] (3.1.1
 * [MQTT-3.1.2-23]); open over 1.5 x Keep Alive (and a tenth) the server
 * did not close it ([MQTT-3.1.2-22], 3.1.1 [MQTT-3.1.2-24]).  A heuristic:
 * it assumes the capture misses nothing the client sent. */
static void final_silence(const mqtt_capture_t *cap, const mqtt_conn_t *conn, const mqtt_snapshot_t *snap,
                          const mqtt_settle_facts_t *facts, wmem_allocator_t *pool, mqtt_findings_t *out)
{
    mqtt_conn_silence_t s;
    if (!mqtt_conn_final_silence(conn, &s))
        return;
    bool closed = facts->transport_closed && facts->transport_end_ns;
    int64_t end = facts->transport_end_ns;
    if (!closed && cap && cap->last_ns > end)
        end = cap->last_ns;
    if (end <= s.client_last_ns)
        return;
    double idle = (double)(end - s.client_last_ns) / 1e9, ka = s.keepalive;
    const char *until = "to the end of the capture (still open)";
    if (closed && facts->closed_by >= 0) {
        enum mqtt_dir closer = facts->closed_by == 0 ? (enum mqtt_dir)snap->dir : (enum mqtt_dir)!snap->dir;
        until = closer == MQTT_C2S ? "until the client closed the connection" : "until the server closed the connection";
    } else if (closed) {
        until = "until the connection closed";
    }
    const char *detail = wmem_strdup_printf(pool, "%.3f s after frame %u %s; Keep Alive %u s, assuming no client "
                                            "packet is missing", idle, s.client_last_frame, until, s.keepalive);
    if (idle > 1.1 * ka && !s.exceeded_reported)
        mqtt_finding_add_ref(pool, out, MQTT_R_KEEPALIVE_EXCEEDED, (mqtt_span_t){0, 1}, detail,
                             s.server_keepalive ? "MQTT-3.1.2-21 / MQTT-3.2.2-21" : NULL);
    if (idle > 1.6 * ka && !s.not_enforced_reported)
        mqtt_finding_add(pool, out, MQTT_R_KEEPALIVE_NOT_ENFORCED, (mqtt_span_t){0, 1}, detail);
}

void mqtt_core_settle(const mqtt_capture_t *cap, const mqtt_conn_t *conn, const mqtt_snapshot_t *snap,
                      const mqtt_pkt_t *pkt, const mqtt_settle_facts_t *facts, wmem_allocator_t *pool,
                      mqtt_findings_t *out)
{
    /* Kept as a flag in the snapshot, to save memory. */
    if (snap->anonymous_accepted)
        mqtt_finding_add(pool, out, MQTT_R_ANONYMOUS_ACCEPTED, pkt->reason_span, NULL);
    if (facts->capture_seen && conn && snap->expects_response && !snap->response_in)
        unanswered(conn, snap, pkt, pool, out);
    repeated_failures(cap, snap, pkt, facts, pool, out);
    if (facts->capture_seen && conn && facts->transport_closed && mqtt_conn_last(conn) == snap &&
        !mqtt_conn_ended_properly(conn))
        mqtt_finding_add(pool, out, MQTT_R_CLOSED_WITHOUT_DISCONNECT, (mqtt_span_t){0, 1},
                         "this is the connection's last MQTT packet");
    if (facts->capture_seen && conn && mqtt_conn_last(conn) == snap)
        final_silence(cap, conn, snap, facts, pool, out);
}

/* ---- message journeys --------------------------------------------------------------- */

mqtt_journey_view_t mqtt_core_journey(mqtt_capture_t *cap, const mqtt_snapshot_t *snap, bool capture_seen)
{
    mqtt_journey_view_t v = {NULL, false};
    if (!cap)
        return v;
    if (capture_seen)
        mqtt_journey_finish(cap->journeys);
    const mqtt_journey_t *j = mqtt_journey_of(cap->journeys, snap);
    v.journey = j;
    v.origin_shown = j && !j->is_delivery &&
                     ((capture_seen && mqtt_journey_broker_seen(j)) || j->delivery_count || j->missed_count ||
                      j->refused_in);
    return v;
}
