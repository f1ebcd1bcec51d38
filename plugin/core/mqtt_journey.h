/* mqtt_journey.h — message journeys: each application message followed
 * through the broker, across connections.
 *
 * A capture taken on the broker's host holds the publisher's connection
 * and the subscribers' connections to the same broker endpoint
 * (address:port).  The PUBLISH a broker receives (an origin) is linked to
 * each PUBLISH the broker sends with the same message (a delivery), and
 * each delivery back to its origin, with the time the broker took.
 * A delivery matches an origin when both went through the same broker,
 * have the same topic (aliases resolved), the same payload bytes, a QoS
 * not above the origin's (the broker downgrades to the granted QoS,
 * §3.8.4) and the origin came first.  A delivery with RETAIN 1 is matched
 * to the message the broker retains for its topic ([MQTT-3.3.1-8]); a
 * delivery of a Will Message to the CONNECT that left it ([MQTT-3.1.2-8]).
 * When candidates from more than one publisher fit equally the delivery
 * is "ambiguous" and every candidate is named; from one publisher, the
 * earliest not yet delivered to that subscriber is taken (messages of a
 * publisher keep their order on the way, §4.6).  A subscriber whose
 * connection ends before it got a message cannot have missed it; when its
 * session outlives the connection, the message is delivered on a later
 * connection of the same client id, however late, and linked there.
 *
 * Like the rest of the analysis the state is built on the first pass
 * only; a delivery's link to its origin is there in one pass, an origin's
 * links to its deliveries (and a missed delivery) only once the whole
 * capture has been seen.  Bounds: see docs/analysis.md#bounds.
 *
 * No libwireshark: wmem only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_JOURNEY_H
#define MQTT_JOURNEY_H

#include "mqtt_conn.h"
#include "mqtt_wire.h"

/* How long after an origin a delivery (or a missed one) is looked for. */
#define MQTT_JOURNEY_WINDOW_NS (2 * (int64_t)1000000000)
/* A subscriber that left (or unsubscribed) within this long after an
 * origin is not said to have missed it: MQTT_JOURNEY_GRACE_FACTOR times the
 * broker's slowest delivery seen, at least MQTT_JOURNEY_MIN_GRACE_NS, at
 * most the window (docs/analysis.md). */
#define MQTT_JOURNEY_GRACE_FACTOR 10
#define MQTT_JOURNEY_MIN_GRACE_NS (100 * (int64_t)1000000)
/* Bounds, per broker endpoint unless said otherwise. */
#define MQTT_JOURNEY_MAX_PENDING 4096u     /* origins younger than the window */
#define MQTT_JOURNEY_MAX_RETAINED 4096u    /* topics with a retained message */
#define MQTT_JOURNEY_MAX_WILLS 4096u       /* Will Messages that may still be published */
#define MQTT_JOURNEY_MAX_SUBSCRIBERS 256u  /* connections checked for missed deliveries */
#define MQTT_JOURNEY_MAX_EXPECTED 32u      /* subscribers expected per origin */
#define MQTT_JOURNEY_MAX_DELIVERIES 256u   /* deliveries listed per origin */
#define MQTT_JOURNEY_MAX_CANDIDATES 4u     /* candidates listed for an ambiguous delivery */
#define MQTT_JOURNEY_MAX_QUEUED 4096u      /* messages kept for sessions whose connection ended */
#define MQTT_JOURNEY_MAX_COPY_SETS 4096u   /* (origin, subscriber) pairs whose copies' QoS is still open */

typedef struct mqtt_journeys mqtt_journeys_t;

enum mqtt_journey_kind {
    MQTT_JK_NONE,      /* not a delivery, or its origin is not in the capture */
    MQTT_JK_FORWARDED, /* a PUBLISH the broker received, forwarded */
    MQTT_JK_RETAINED,  /* the broker's retained message, sent on a new subscription */
    MQTT_JK_WILL,      /* the Will Message of a connection that ended without DISCONNECT */
    MQTT_JK_AMBIGUOUS, /* candidates from several publishers fit equally */
};

/* One delivery of an origin. */
typedef struct {
    uint32_t frame;
    bool ambiguous;          /* one of several candidates of that delivery */
    uint8_t kind;            /* enum mqtt_journey_kind */
    const char *to_client;
    int64_t latency_ns;      /* forwarded: from the origin to this delivery */
    const void *to_conn;     /* the subscriber's connection (identity only) */
} mqtt_journey_delivery_t;

/* A subscriber that was expected to receive an origin and did not. */
typedef struct {
    const char *client;
    const char *filter;      /* the subscription that matched */
    mqtt_finding_t finding;  /* analysis.delivery_missed, with what it assumes */
} mqtt_journey_missed_t;

/* What the journey analysis says about one packet: a PUBLISH (origin or
 * delivery) or a CONNECT with a Will. */
typedef struct {
    /* (pointers, then 64-bit, 32-bit and 8-bit members: one is kept for
     * every PUBLISH, so no padding) */
    /* as an origin */
    mqtt_journey_delivery_t *deliveries;
    mqtt_journey_missed_t *missed;
    const bool *broker_seen;    /* the capture shows their broker deliver or grant anything */
    /* as a delivery */
    const char *from_client;
    /* hindsight, on the copy at the highest QoS the subscriber got of its
     * origin: rule.delivery_qos_below_matching_maximum when no copy came at
     * the QoS expected (3.1 and 3.1.1), NULL otherwise */
    const mqtt_finding_t *qos_finding;
    /* a bound of the journey analysis was reached at this packet */
    const char *limit;
    int64_t latency_ns;         /* delivery, forwarded: since the origin */
    /* as an origin */
    uint32_t delivery_count;    /* listed */
    uint32_t deliveries_total;  /* including the ones past MQTT_JOURNEY_MAX_DELIVERIES */
    uint32_t delivery_capacity;
    uint32_t missed_count;
    uint32_t refused_in;        /* the broker's failure PUBACK/PUBREC, or its DISCONNECT right after */
    /* as a delivery */
    uint32_t origin;            /* the origin's frame (the CONNECT of a Will), 0 when none or ambiguous */
    uint32_t candidates[MQTT_JOURNEY_MAX_CANDIDATES]; /* when ambiguous */
    uint32_t candidate_count;   /* 2 or more when ambiguous */
    bool is_delivery;
    bool shared;                /* a broker's record of its origins nobody received (copied before a change) */
    uint8_t kind;               /* enum mqtt_journey_kind; NONE: origin not in the capture */
    uint8_t origin_qos;         /* the QoS the origin was published with (its Will QoS) */
} mqtt_journey_t;

/* The packet's connection and moment, as mqtt_core_first_pass() hands
 * them on (from the connection and the mqtt_event_t). */
typedef struct {
    const mqtt_conn_t *conn;   /* identifies the connection; its subscriptions are read */
    const char *broker;        /* the server's endpoint, "address:port" (copied when new) */
    const char *client_addr;   /* the client's endpoint, "address:port" (copied when new) */
    uint32_t frame;
    int64_t ns;                /* capture time of the frame */
} mqtt_journey_ctx_t;

mqtt_journeys_t *mqtt_journeys_new(wmem_allocator_t *scope);

/* First pass, every MQTT packet after mqtt_conn_update() (the core's
 * capture_observe() calls it): CONNECT (a
 * Will), PUBLISH (an origin or a delivery), SUBACK (a subscriber),
 * DISCONNECT (the end of a connection); every packet moves the broker's
 * clock on (origins older than the window are judged). */
void mqtt_journey_packet(mqtt_journeys_t *j, const mqtt_journey_ctx_t *ctx, const mqtt_pkt_t *pkt,
                         const mqtt_snapshot_t *snap);

/* First pass: the connection's TCP FIN or RST (the first of them), at
 * capture time `ns`; like a DISCONNECT, the connection receives nothing
 * after it. */
void mqtt_journey_closed(mqtt_journeys_t *j, const mqtt_conn_t *conn, int64_t ns);

/* Once the first pass is over (mqtt_core_journey() calls it when the
 * first packet is shown with the capture seen): the origins whose window
 * ended before the capture did (its latest packet or connection end) and
 * that no later packet of their broker judged are judged; one whose window
 * outlasts the capture is not (its copies may have come after the end).
 * Does nothing the second time. */
void mqtt_journey_finish(mqtt_journeys_t *j);

/* Whether an origin's journey is worth showing: its broker delivers or
 * grants a subscription somewhere in the capture (a capture taken on a
 * publisher's host shows none, and "0 deliveries" would mislead there).
 * Final after the first pass. */
bool mqtt_journey_broker_seen(const mqtt_journey_t *j);

/* The journey of a packet, NULL when it has none. */
const mqtt_journey_t *mqtt_journey_of(const mqtt_journeys_t *j, const mqtt_snapshot_t *snap);

#endif
