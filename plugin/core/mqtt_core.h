/* mqtt_core.h — the entry points of the core: everything the dissector,
 * the unit tests and the core fuzzer call to have a packet decoded,
 * checked and analysed.
 *
 * Two calls per packet:
 *   mqtt_core_first_pass()  once, on the first pass, in capture order: it
 *                           decides the direction and the version, decodes
 *                           and checks the bytes, updates the connection and
 *                           the capture, and fills in the packet's snapshot;
 *   mqtt_core_decode()      on later passes: the same decoding and checks,
 *                           read with the snapshot's direction and version;
 * and, whenever a packet is shown,
 *   mqtt_core_settle()      the findings its snapshot does not list: the
 *                           ones kept as flags, the ones the capture decides
 *                           when the packet is shown, and, once the whole
 *                           capture has been seen, what only hindsight knows
 *                           (an unanswered request, a connection closed
 *                           without DISCONNECT).
 *
 * What spans connections lives in the capture context (mqtt_capture_t):
 * failed logins per client address, sessions per broker and client id (the
 * originals of a resumed session's DUP copies) and message journeys
 * (mqtt_journey.h).
 *
 * Like the rest of plugin/core/, this depends on wsutil only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_CORE_H
#define MQTT_CORE_H

#include "mqtt_conn.h"
#include "mqtt_journey.h"

/* Failed logins from one client address that make a pattern worth a
 * security.repeated_authentication_failures finding. */
#define MQTT_REPEATED_FAILURES 2u

/* Sessions followed across connections (a client id at one broker
 * address:port), and the unacknowledged QoS 1 and 2 PUBLISH packets kept
 * for them, so that the DUP copies a resumed session re-sends link to
 * their originals (docs/analysis.md, Bounds). */
#define MQTT_MAX_SESSIONS 4096u
#define MQTT_MAX_SESSION_PUBLISHES 65536u

/* The capture: state that spans connections.  Created once per capture
 * file (in file scope) and handed to every call below. */
typedef struct mqtt_capture mqtt_capture_t;

mqtt_capture_t *mqtt_capture_new(wmem_allocator_t *scope);

/* First pass, once per MQTT packet, in capture order.  `ev` holds what the
 * caller observed about the packet's surroundings (frame, time, endpoint,
 * addresses, TLS, the TCP handshake).  `snap` is the packet's snapshot,
 * zeroed by the caller, which keeps it for later passes.  Returns the
 * decoded and checked packet, allocated in `mem`. */
mqtt_pkt_t *mqtt_core_first_pass(mqtt_capture_t *cap, mqtt_conn_t *conn, wmem_allocator_t *mem,
                                 const uint8_t *p, uint32_t len, const mqtt_event_t *ev,
                                 unsigned default_version, mqtt_snapshot_t *snap);

/* Later passes: decodes and checks the packet as the first pass did. */
mqtt_pkt_t *mqtt_core_decode(wmem_allocator_t *mem, const uint8_t *p, uint32_t len, const mqtt_snapshot_t *snap);

/* What the caller observes when a packet is shown. */
typedef struct {
    bool capture_seen;        /* the first pass is over: the whole capture is known */
    bool transport_closed;    /* the connection's TCP FIN or RST is in the capture */
    const char *src_address;  /* the packet's sender and receiver, as text */
    const char *dst_address;
    int64_t transport_end_ns; /* time of the connection's last TCP segment, 0 when not known */
    int8_t closed_by;         /* who sent the first FIN or RST: 0 the packet's sender, 1 its receiver, -1 not known */
} mqtt_settle_facts_t;

/* The findings about a shown packet that its snapshot does not list,
 * appended to `out` (allocated in `pool`), in the order they are to be
 * reported. */
void mqtt_core_settle(const mqtt_capture_t *cap, const mqtt_conn_t *conn, const mqtt_snapshot_t *snap,
                      const mqtt_pkt_t *pkt, const mqtt_settle_facts_t *facts, wmem_allocator_t *pool,
                      mqtt_findings_t *out);

/* First pass, in capture order with the packets: the connection's TCP FIN
 * or RST, the first of them (TCP tells the dissector; no MQTT packet
 * carries it).  The journeys stop expecting deliveries to it. */
void mqtt_core_transport_closed(mqtt_capture_t *cap, const mqtt_conn_t *conn, nstime_t time);

/* The message journey of a shown packet (see mqtt_journey.h). */
typedef struct {
    const mqtt_journey_t *journey; /* NULL when the packet has none */
    bool origin_shown;             /* an origin whose deliveries (even none) are worth listing */
} mqtt_journey_view_t;

/* The journey of a shown packet.  The first call with `capture_seen`
 * completes what the end of the capture decides (origins still within the
 * window at the end); an origin is worth showing once its deliveries are
 * known and its broker is seen delivering or granting anything, or as soon
 * as something is known about it. */
mqtt_journey_view_t mqtt_core_journey(mqtt_capture_t *cap, const mqtt_snapshot_t *snap, bool capture_seen);

/* Framing: a packet that starts in a frame and never completes, its
 * Remaining Length having announced `announced` bytes (0: the Remaining
 * Length itself is incomplete).  Malformed when the connection closed (TCP
 * FIN or RST), a capture limit when the capture simply ended. */
mqtt_finding_t mqtt_core_unfinished_packet(bool transport_closed, uint64_t announced, wmem_allocator_t *pool);

/* Framing: bytes of a direction whose framing was lost in frame `since`
 * (a Remaining Length of more than four bytes). */
mqtt_finding_t mqtt_core_unframed(uint32_t since, wmem_allocator_t *pool);

/* Framing over WebSocket: the bytes of a message after a Remaining Length
 * of more than four bytes.  Framing resumes with the next message: the
 * message boundary is the only place left to find a packet start. */
mqtt_finding_t mqtt_core_unframed_message(void);

#endif
