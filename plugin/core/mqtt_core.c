/* mqtt_core.c — the entry points of the core (see mqtt_core.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_core.h"

#include <string.h>
#include <inttypes.h>

#include <glib.h>

#include "mqtt_checks.h"

/* ---- the capture ---------------------------------------------------------- */

/* Failed logins from one client address, across connections. */
typedef struct {
    uint32_t count;
    uint32_t first;  /* frames of the first and the latest */
    uint32_t last;
} logins_t;

/* State that spans the connections of a capture.  Each per-capture module
 * keeps its state in a member of its own here, is set up in
 * mqtt_capture_new() and observes every packet in capture_observe(). */
struct mqtt_capture {
    wmem_allocator_t *scope;
    wmem_map_t *failed_logins; /* client address -> logins_t, created with the first failure */
    mqtt_journeys_t *journeys; /* message journeys, across connections (mqtt_journey.h) */
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
static void follow_journeys(mqtt_capture_t *cap, const mqtt_conn_t *conn, wmem_allocator_t *mem,
                            const mqtt_pkt_t *pkt, const mqtt_snapshot_t *snap, const mqtt_event_t *ev)
{
    if (!snap->dir_known)
        return;
    bool c2s = snap->dir == MQTT_C2S;
    mqtt_journey_ctx_t ctx = {conn,
                              c2s ? endpoint(mem, ev->dst_address, ev->dst_port)
                                  : endpoint(mem, ev->src_address, ev->src_port),
                              c2s ? endpoint(mem, ev->src_address, ev->src_port)
                                  : endpoint(mem, ev->dst_address, ev->dst_port),
                              ev->frame, capture_ns(ev->time)};
    mqtt_journey_packet(cap->journeys, &ctx, pkt, snap);
}

/* Every per-capture module sees every packet once its connection has
 * analysed it. */
static void capture_observe(mqtt_capture_t *cap, const mqtt_conn_t *conn, wmem_allocator_t *mem,
                            const mqtt_pkt_t *pkt, const mqtt_snapshot_t *snap, const mqtt_event_t *ev)
{
    count_failed_login(cap, snap, ev);
    follow_journeys(cap, conn, mem, pkt, snap, ev);
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

/* A request (or a step of a QoS 2 flow) that was never answered.  While
 * the peer went on talking, the silence breaks the rule that obliges it to
 * answer; at the end of a capture, or when an answer seems to have come
 * with another Packet Identifier, it is only a remark. */
static void unanswered(const mqtt_conn_t *conn, const mqtt_snapshot_t *snap, const mqtt_pkt_t *pkt,
                       wmem_allocator_t *pool, mqtt_findings_t *out)
{
    const mqtt_type_spec_t *ts = mqtt_type_spec(snap->type);
    const char *ref = mqtt_missing_response_ref(snap->type, snap->version, (enum mqtt_dir)snap->dir);
    const char *awaited = mqtt_awaited_response(snap->type, MQTT_PUBLISH_QOS(pkt->flags));
    const char *what = wmem_strdup_printf(pool, "no %s", awaited);
    uint32_t mismatched = mqtt_snapshot_extra(snap)->mismatched_in;
    bool responder_continued = snap->dir_known && mqtt_conn_last_frame(conn, (enum mqtt_dir)!snap->dir) > snap->frame;
    if (mismatched)
        what = wmem_strdup_printf(pool, "no %s with this Packet Identifier; the one in frame %u has another", awaited,
                                  mismatched);
    if (ref && responder_continued && !mismatched)
        mqtt_finding_add_ref(pool, out, MQTT_R_RESPONSE_MISSING, (mqtt_span_t){0, 1}, what, ref);
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
