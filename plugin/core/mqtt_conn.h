/* mqtt_conn.h — per-connection analysis.
 *
 * A connection is one TCP (or TLS) conversation between an MQTT client and
 * a server.  Its state is built on the first pass only, packet by packet,
 * and each packet gets a snapshot of what was known when it was seen; later
 * passes read the snapshots and never recompute.  The only things a later
 * packet writes into an earlier snapshot are back-links: the link to its
 * response (response_in) and, on a request whose answer seems to have come
 * with another Packet Identifier, that answer's frame (mismatched_in).
 * One-pass output lacks exactly what these back-links tell.
 *
 * This module depends on wsutil only (wmem, nstime), so that it can be
 * unit-tested and fuzzed without tshark.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_CONN_H
#define MQTT_CONN_H

#include <wsutil/nstime.h>

#include "mqtt_wire.h"

/* How the protocol version of a packet was decided. */
enum mqtt_version_source {
    MQTT_VS_CONNECT,   /* the connection's CONNECT (or this CONNECT) */
    MQTT_VS_INFERRED,  /* the bytes of an earlier packet of the connection */
    MQTT_VS_THIS,      /* this packet's own bytes */
    MQTT_VS_DEFAULT,   /* nothing decided it: the preference */
};

/* Bounds on per-connection state (see docs/analysis.md).  Everything but
 * the connection itself is allocated when first needed. */
#define MQTT_MAX_PENDING_PINGS 64u
#define MQTT_MAX_ALIAS_BYTES (1u << 20)  /* topic bytes kept for aliases per direction */
#define MQTT_MAX_SUB_IDS 4096u           /* Subscription Identifiers remembered */

typedef struct mqtt_conn mqtt_conn_t;
typedef struct mqtt_snapshot mqtt_snapshot_t;

/* Who a connection's client is, as far as known, and how its version was
 * decided; shared by the snapshots of the packets that saw it (a new one
 * is made when any of it changes, which is rare). */
typedef struct {
    const char *client_id;    /* NULL until known */
    const char *username;     /* NULL when none was given */
    uint32_t version_frame;   /* the frame that decided the version (CONNECT / inference), 0 if none */
} mqtt_identity_t;

/* What a few packets carry beyond the common fields. */
typedef struct {
    uint32_t flow_start;        /* QoS 2: the PUBLISH that started the flow (on PUBCOMP) */
    uint32_t retransmission_of; /* DUP PUBLISH: the original */
    uint32_t mismatched_in;     /* back-link: an answer of the awaited kind with another id came here */
    uint32_t alias_frame;       /* the frame that set the Topic Alias */
    uint16_t alias;
    const char *alias_topic;    /* resolved topic of an alias-only PUBLISH */
    mqtt_findings_t findings;   /* about the sequence, found on the first pass */
} mqtt_snapshot_extra_t;

/* What is known about one MQTT packet in its connection, as of the moment
 * it was seen.  Stored per packet in file scope, so it is kept small: what
 * few packets need is in `extra`, allocated for those only, and times are
 * not kept here (the dissector knows each frame's time; the time since a
 * linked frame is worked out when the packet is shown). */
struct mqtt_snapshot {
    uint32_t frame;
    uint32_t response_in;       /* filled in when the response arrives */
    uint32_t response_to;
    uint32_t prev_client_frame; /* client packets: the client's previous packet */
    uint8_t type;
    uint8_t version;            /* protocol level the packet is decoded with */
    uint8_t version_source : 2; /* enum mqtt_version_source */
    uint8_t dir : 1;            /* enum mqtt_dir */
    uint8_t dir_known : 1;
    uint8_t expects_response : 1; /* a request, or a step of a flow that continues */
    uint8_t anonymous_accepted : 1; /* CONNACK: success for a CONNECT without user name or method */
    const mqtt_identity_t *who; /* NULL while nothing is known */
    mqtt_snapshot_extra_t *extra; /* NULL when the packet needs none */
};

/* The frame that decided the packet's version, 0 if none did. */
uint32_t mqtt_snapshot_version_frame(const mqtt_snapshot_t *snap);

/* The extra fields of a snapshot, or zeroes. */
const mqtt_snapshot_extra_t *mqtt_snapshot_extra(const mqtt_snapshot_t *snap);

/* Facts about the packet's surroundings that the dissector knows. */
typedef struct {
    uint32_t frame;
    nstime_t time;
    bool over_tls;           /* carried inside TLS */
    bool saw_connection_start; /* the TCP handshake is in the capture */
    uint8_t endpoint;        /* 0 or 1: the end of the transport that sent it (0: the first seen) */
    bool client_by_port;     /* the ports say the sender is the client (see mqtt_conn_pick_direction) */
    const char *src_address; /* sender and receiver, as text (NULL if unknown) */
    const char *dst_address;
    uint32_t src_port;       /* their transport ports (0 if unknown) */
    uint32_t dst_port;
} mqtt_event_t;

mqtt_conn_t *mqtt_conn_new(wmem_allocator_t *scope);

/* First pass: who sent the packet of `type`.  Decided once per
 * connection, with its first packet: the sender of a client-only packet
 * (CONNECT, SUBSCRIBE, ...) is the client, the sender of a server-only one
 * the server, else the ports decide (ev->client_by_port). */
void mqtt_conn_pick_direction(mqtt_conn_t *conn, unsigned type, const mqtt_event_t *ev, mqtt_snapshot_t *snap);

/* First pass: which version to decode the packet in p[0..len) with, and
 * why.  Remembers an inference for the packets that follow. */
void mqtt_conn_pick_version(mqtt_conn_t *conn, wmem_allocator_t *tmp, const uint8_t *p, uint32_t len,
                            uint32_t frame, unsigned default_version, mqtt_snapshot_t *snap);

/* First pass: updates the connection with a decoded packet and completes
 * its snapshot (snap->dir and the version must already be set). */
void mqtt_conn_update(mqtt_conn_t *conn, const mqtt_pkt_t *pkt, const mqtt_event_t *ev,
                      mqtt_snapshot_t *snap);

/* A time difference in nanoseconds, and back. */
int64_t mqtt_ns_between(const nstime_t *later, const nstime_t *earlier);
void mqtt_ns_to_nstime(int64_t ns, nstime_t *out);

/* The last packet the connection saw, and whether either side sent
 * DISCONNECT or the server refused the connection (final after the first
 * pass). */
const mqtt_snapshot_t *mqtt_conn_last(const mqtt_conn_t *conn);
/* The frame of the latest packet other than DISCONNECT sent by `dir`. */
uint32_t mqtt_conn_last_frame(const mqtt_conn_t *conn, enum mqtt_dir dir);
/* The frame of the latest request sent in `dir` that the peer answered (0: none). */
uint32_t mqtt_conn_last_answered(const mqtt_conn_t *conn, enum mqtt_dir dir);
bool mqtt_conn_ended_properly(const mqtt_conn_t *conn);

/* Whether the connection's CONNACK accepted it, and whether it said Session
 * Present (a resumed session). */
bool mqtt_conn_accepted(const mqtt_conn_t *conn);
bool mqtt_conn_session_present(const mqtt_conn_t *conn);
/* The Maximum Packet Size a 5.0 client's CONNECT announced (what the
 * server must not exceed, [MQTT-3.1.2-24]); 0 when none or before 5.0. */
uint32_t mqtt_conn_client_maximum_packet_size(const mqtt_conn_t *conn);
/* Whether the connection's session may outlive it, so that a later
 * connection can resume it: 3.1/3.1.1 Clean Session 0 ([MQTT-3.1.2-4]; with
 * 1 it ends with the connection, [MQTT-3.1.2-6]), 5.0 a Session Expiry
 * Interval other than 0 in the CONNECT (§3.1.2.11.2).  True when the
 * capture does not hold the CONNECT. */
bool mqtt_conn_session_may_outlive(const mqtt_conn_t *conn);

/* Text the capture analysis names the connection by, made once per
 * connection rather than per packet (its ends do not change): the
 * broker's and the client's endpoint ("address:port"), and the key of its
 * session (broker endpoint and client id) with the client id it was made
 * from.  NULL until made (mqtt_core.c). */
typedef struct {
    bool ends_named;            /* broker and client made (either may be NULL: address unknown) */
    const char *broker;
    const char *client;
    const char *session_key;
    const char *session_key_id;
} mqtt_conn_names_t;
mqtt_conn_names_t *mqtt_conn_names(mqtt_conn_t *conn);

/* Whether the capture holds the whole session: its connection's start and
 * CONNECT with Clean Session / Clean Start 1, and no session present. */
bool mqtt_conn_fresh_session(const mqtt_conn_t *conn);

/* The client's silence at the end of the connection as the first pass
 * left it: the Keep Alive in force, the client's last packet, and whether
 * a later packet already reported the silence.  False when Keep Alive
 * does not apply: 0, no CONNECT or no accepting CONNACK seen, or ended
 * by DISCONNECT. */
typedef struct {
    unsigned keepalive;         /* seconds: the CONNACK's Server Keep Alive, else the CONNECT's */
    bool server_keepalive;      /* the CONNACK set it ([MQTT-3.1.2-21], [MQTT-3.2.2-21]) */
    int64_t client_last_ns;
    uint32_t client_last_frame;
    bool exceeded_reported;     /* rule.keepalive_exceeded already raised for this silence */
    bool not_enforced_reported; /* rule.keepalive_not_enforced already raised for it */
} mqtt_conn_silence_t;
bool mqtt_conn_final_silence(const mqtt_conn_t *conn, mqtt_conn_silence_t *out);

/* First pass, for what the capture decides about a packet: a finding added
 * to its snapshot, and the link of a DUP PUBLISH of a resumed session to
 * its original on an earlier connection of the session. */
void mqtt_conn_add_finding(mqtt_conn_t *conn, mqtt_snapshot_t *snap, enum mqtt_rule rule, mqtt_span_t span,
                           const char *detail);
void mqtt_conn_add_finding_ref(mqtt_conn_t *conn, mqtt_snapshot_t *snap, enum mqtt_rule rule, mqtt_span_t span,
                               const char *detail, const char *ref);
void mqtt_conn_link_resend(mqtt_conn_t *conn, mqtt_snapshot_t *snap, uint32_t original);

/* The client's subscriptions as far as seen, NULL before its first
 * SUBSCRIBE (read by the message journeys, mqtt_journey.h). */
const struct mqtt_subs *mqtt_conn_subs(const mqtt_conn_t *conn);

#endif
