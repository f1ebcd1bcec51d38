/* mqtt_conn.c — per-connection analysis (see mqtt_conn.h).
 *
 * The connection keeps, per direction, the flows that direction has opened
 * (QoS 1 and 2 PUBLISH, SUBSCRIBE, UNSUBSCRIBE) keyed by Packet
 * Identifier, its topic aliases, and what CONNECT and CONNACK announced.
 * Each packet is checked against that state, links itself to the packet it
 * answers, and then updates the state.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_conn.h"

#include <string.h>

#include "mqtt_checks.h"
#include "mqtt_subs.h"

/* ---- flows ------------------------------------------------------------------ */

/* enum mqtt_flow without its NONE: kind = mqtt_flow - 1. */
enum flow_kind { FLOW_PUB1, FLOW_PUB2, FLOW_SUB, FLOW_UNSUB };

enum flow_state {
    AWAIT_ACK,      /* PUBACK, PUBREC, SUBACK or UNSUBACK */
    AWAIT_PUBREL,   /* QoS 2: PUBREC received, PUBREL to be sent */
    AWAIT_PUBCOMP,  /* QoS 2: PUBREL sent */
    FAILED,         /* closed by an acknowledgement with a failure code */
};

/* One open flow.  A connection may have 131,070 open at once, so it is
 * kept to 24 bytes and comes from a pool per direction (no allocator
 * header per flow). */
typedef struct flow {
    union {
        mqtt_snapshot_t *start; /* the request (PUBLISH, SUBSCRIBE, UNSUBSCRIBE) */
        struct flow *next_free; /* while in the pool's free list */
    };
    mqtt_snapshot_t *last;  /* the latest step, awaiting the next one */
    uint32_t nfilters;
    uint16_t id;            /* its Packet Identifier */
    uint8_t kind : 2;       /* enum flow_kind */
    uint8_t state : 2;      /* enum flow_state */
    uint8_t uncounted : 1;  /* not part of the Receive Maximum count */
    uint8_t unknown_alias : 1; /* its PUBLISH used a Topic Alias never set */
    uint8_t closed : 1;     /* no longer open: freed when no order list holds it */
    uint8_t dir : 1;        /* the direction whose table (and pool) holds it */
    uint8_t answered : 3;   /* bit per acknowledgement-order list: the client answered */
    uint8_t queued : 3;     /* bit per acknowledgement-order list: the flow is in it */
} flow_t;
_Static_assert(sizeof(void *) != 8 || sizeof(flow_t) == 24, "a flow is 24 bytes");

/* The flows one direction has open, by Packet Identifier: a hash table
 * (open addressing, linear probing) that grows with the flows open at
 * once, so a connection costs what it has open now, not every identifier
 * it ever used.  An identifier's home slot is a permutation of the 16-bit
 * identifiers (XOR with the table's seed, times an odd constant) cut to the
 * table's bits: with 65,536 slots each identifier has its own, so the
 * table never exceeds 512 KiB and needs no probing there.  The seed comes
 * from where the table lives in memory, so a capture cannot aim its
 * identifiers at one slot.  Allocated with the first flow. */
#define FLOW_TABLE_FIRST_BITS 3u
#define FLOW_TABLE_MAX_BITS 16u
#define FLOW_BLOCK_FIRST 8u   /* flows in the pool's first block; later ones double */
#define FLOW_BLOCK_MAX 256u
typedef struct {
    flow_t **slots;           /* 1 << bits of them */
    uint32_t bits;
    uint32_t count;           /* flows in the table */
    uint16_t seed;
    uint32_t open[4];         /* open flows by kind */
    flow_t *latest[4];        /* the latest flow opened, by kind */
    uint32_t inflight;        /* open QoS 1 and 2 PUBLISH flows (Receive Maximum) */
    uint32_t next_block;      /* flows in the pool's next block */
    flow_t *free;             /* the pool's free flows */
} flowset_t;

/* Per direction: what the packets sent in that direction opened. */
typedef struct {
    flowset_t *fl;            /* NULL until the first flow */
    struct alias_page **aliases; /* Topic Alias -> alias_t, by pages (allocated with the first) */
    uint32_t alias_bytes;
    bool disconnected;        /* this side sent DISCONNECT */
    bool published;           /* sent a PUBLISH since CONNACK */
    bool has_last;
    bool disconnected_reported;  /* traffic after its failure DISCONNECT was reported */
    bool valid_alias_sent;    /* its latest PUBLISH used a Topic Alias within the limit */
    int64_t last_ns;          /* time of this side's previous packet */
    uint32_t last_ns_frame;   /* the frame of last_ns */
    uint32_t last_frame;      /* of its latest packet other than DISCONNECT */
    uint32_t last_answered;   /* the latest of its requests that the peer answered */
    uint32_t failure_disconnect; /* frame of its DISCONNECT with a failure code */
} side_t;

typedef struct {
    const char *topic;        /* NULL: alias not set */
    uint32_t frame;
} alias_t;

/* Topic Aliases by pages of 256, a page allocated when first used. */
#define ALIAS_PAGE 256u
struct alias_page {
    alias_t items[ALIAS_PAGE];
};

/* What CONNECT and CONNACK announced. */
typedef struct {
    bool present;
    uint32_t receive_maximum;     /* 65535 when absent */
    uint32_t maximum_packet_size; /* 0 = no limit */
    uint32_t topic_alias_maximum; /* 0 when absent */
} limits_t;

/* Flows in arrival order, oldest first: a ring of pointers that doubles
 * when full (a list node per flow would cost four times as much). */
typedef struct {
    flow_t **items;
    uint32_t capacity;        /* a power of two, 0 until the first flow */
    uint32_t head;            /* index of the oldest */
    uint32_t len;
} flow_queue_t;

/* Acknowledgement order of the client ([MQTT-4.6.0-2..4]): flows in the
 * order their PUBLISH (or PUBREC) arrived. */
typedef struct {
    flow_queue_t queues[3];
} order_t;

struct mqtt_conn {
    wmem_allocator_t *scope;
    uint8_t version;          /* 0 until a CONNECT or an inference decides it */
    uint8_t version_source;
    uint32_t version_frame;
    const char *client_id;
    const char *username;
    const mqtt_identity_t *who;  /* shared by the snapshots */

    uint32_t npackets;
    int8_t client_ep;         /* the endpoint (mqtt_event_t) of the client, -1 until known */
    bool mid_connection;      /* the capture did not see the connection start */
    mqtt_snapshot_t *connect;
    mqtt_snapshot_t *connack;
    mqtt_snapshot_t *last;
    bool refused;
    uint8_t connect_flags;
    uint16_t keepalive;
    bool has_server_keepalive;
    uint16_t server_keepalive;
    bool session_present;     /* CONNACK resumed a session */
    const char *auth_method;  /* CONNECT's Authentication Method */
    bool request_problem_info;   /* CONNECT 0x17, default 1 */
    bool request_response_info;  /* CONNECT 0x19, default 0 */
    bool session_expiry_zero;    /* CONNECT had no or a zero Session Expiry Interval */
    bool client_id_empty;
    bool will_qos_known;

    /* what the server said it supports (CONNACK) */
    bool has_max_qos;
    uint8_t max_qos;
    bool retain_unavailable;
    bool wildcard_unavailable;
    bool sub_id_unavailable;
    bool shared_unavailable;

    limits_t announced[2];    /* [MQTT_C2S] by CONNECT, [MQTT_S2C] by CONNACK */
    side_t side[2];

    mqtt_snapshot_t **pings;     /* PINGREQs awaiting a PINGRESP (allocated on the first) */
    uint32_t npings;
    uint32_t pings_capacity;     /* doubles up to MQTT_MAX_PENDING_PINGS */
    mqtt_snapshot_t *auth_last;  /* the latest step of an authentication exchange */
    mqtt_subs_t *subs;           /* the client's subscriptions */
    wmem_map_t *sub_ids;         /* Subscription Identifiers the client used */
    uint32_t nsub_ids;

    bool connect_malformed;      /* the CONNECT broke the decoding rules */
    bool connect_level_unknown;  /* the CONNECT's Protocol Level is not 3, 4 or 5 */
    bool qos_over_maximum_asked; /* a SUBSCRIBE asked for more than Maximum QoS */
    bool ka_overdue;             /* the client was silent over 1.5 x Keep Alive */
    bool ka_reported;            /* the current silence was reported */
    bool ka_enforce_reported;    /* the server's failure to close in the current silence was reported */

    order_t *order;              /* allocated with the first server PUBLISH at QoS > 0 */
    mqtt_conn_names_t names;     /* made by the capture analysis */
    uint8_t limits_reached;      /* enum cap bits */
};

/* The limits on a connection's state (docs/analysis.md).  Each is reported
 * once, when first reached; some analyses stop from then on. */
enum cap {
    CAP_PINGS = 1,
    CAP_SUB_IDS = 2,
    CAP_SUBSCRIPTIONS = 4,
    CAP_ORDER = 8,
    CAP_ALIASES_C2S = 16, /* per direction: the sender's alias table */
    CAP_ALIASES_S2C = 32,
};

enum { ORDER_PUBACK, ORDER_PUBREC, ORDER_PUBREL };
#define MQTT_MAX_ORDERED 65536u

mqtt_conn_t *mqtt_conn_new(wmem_allocator_t *scope)
{
    mqtt_conn_t *conn = wmem_new0(scope, mqtt_conn_t);
    conn->scope = scope;
    conn->client_ep = -1;
    for (int d = 0; d < 2; d++)
        conn->announced[d].receive_maximum = 65535;
    conn->request_problem_info = true;
    conn->session_expiry_zero = true;
    return conn;
}

mqtt_conn_names_t *mqtt_conn_names(mqtt_conn_t *conn)
{
    return &conn->names;
}

/* Tables are created when first needed: most connections never use most
 * of them, and a capture may hold very many connections. */
static wmem_map_t *lazy_map(wmem_allocator_t *scope, wmem_map_t **map)
{
    if (!*map)
        *map = wmem_map_new(scope, g_direct_hash, g_direct_equal);
    return *map;
}

static void *map_get(wmem_map_t *map, guint key)
{
    return map ? wmem_map_lookup(map, GUINT_TO_POINTER(key)) : NULL;
}

int64_t mqtt_ns_between(const nstime_t *later, const nstime_t *earlier)
{
    return ((int64_t)later->secs - (int64_t)earlier->secs) * 1000000000 + (later->nsecs - earlier->nsecs);
}

void mqtt_ns_to_nstime(int64_t ns, nstime_t *out)
{
    out->secs = (time_t)(ns / 1000000000);
    out->nsecs = (int)(ns % 1000000000);
    if (out->nsecs < 0) {
        out->nsecs += 1000000000;
        out->secs--;
    }
}

const mqtt_snapshot_t *mqtt_conn_last(const mqtt_conn_t *conn)
{
    return conn->last;
}

const struct mqtt_subs *mqtt_conn_subs(const mqtt_conn_t *conn)
{
    return conn->subs;
}

uint32_t mqtt_conn_last_frame(const mqtt_conn_t *conn, enum mqtt_dir dir)
{
    return conn->side[dir].last_frame;
}

uint32_t mqtt_conn_last_answered(const mqtt_conn_t *conn, enum mqtt_dir dir)
{
    return conn->side[dir].last_answered;
}

bool mqtt_conn_ended_properly(const mqtt_conn_t *conn)
{
    return conn->side[MQTT_C2S].disconnected || conn->side[MQTT_S2C].disconnected || conn->refused;
}

bool mqtt_conn_accepted(const mqtt_conn_t *conn)
{
    return conn->connack && !conn->refused;
}

bool mqtt_conn_session_present(const mqtt_conn_t *conn)
{
    return conn->session_present;
}

uint32_t mqtt_conn_client_maximum_packet_size(const mqtt_conn_t *conn)
{
    const limits_t *client = &conn->announced[MQTT_C2S];
    return conn->version == MQTT_V5 && client->present ? client->maximum_packet_size : 0;
}

bool mqtt_conn_session_may_outlive(const mqtt_conn_t *conn)
{
    if (!conn->connect)
        return true;
    if (conn->version == MQTT_V5)
        return !conn->session_expiry_zero;
    return !(conn->connect_flags & MQTT_CF_CLEAN);
}

bool mqtt_conn_fresh_session(const mqtt_conn_t *conn)
{
    return !conn->mid_connection && conn->connect && !conn->session_present && (conn->connect_flags & MQTT_CF_CLEAN);
}

bool mqtt_conn_final_silence(const mqtt_conn_t *conn, mqtt_conn_silence_t *out)
{
    const side_t *client = &conn->side[MQTT_C2S];
    memset(out, 0, sizeof *out);
    out->keepalive = conn->has_server_keepalive ? conn->server_keepalive : conn->keepalive;
    out->server_keepalive = conn->has_server_keepalive;
    if (!out->keepalive || !conn->connect || !mqtt_conn_accepted(conn) || mqtt_conn_ended_properly(conn) ||
        !client->has_last)
        return false;
    out->client_last_ns = client->last_ns;
    out->client_last_frame = client->last_ns_frame;
    out->exceeded_reported = conn->ka_reported;
    out->not_enforced_reported = conn->ka_enforce_reported;
    return true;
}

/* ---- direction and version ---------------------------------------------------- */

void mqtt_conn_pick_direction(mqtt_conn_t *conn, unsigned type, const mqtt_event_t *ev, mqtt_snapshot_t *snap)
{
    int ep = ev->endpoint & 1;
    if (conn->client_ep < 0) {
        const mqtt_type_spec_t *ts = mqtt_type_spec(type);
        uint8_t senders = ts->dir_v5 | ts->dir_v3;
        bool client = senders == MQTT_FROM_CLIENT   ? true
                      : senders == MQTT_FROM_SERVER ? false
                                                    : ev->client_by_port;
        conn->client_ep = (int8_t)(client ? ep : !ep);
    }
    snap->dir = ep == conn->client_ep ? MQTT_C2S : MQTT_S2C;
    snap->dir_known = true;
}

void mqtt_conn_pick_version(mqtt_conn_t *conn, wmem_allocator_t *tmp, const uint8_t *p, uint32_t len,
                            uint32_t frame, unsigned default_version, mqtt_snapshot_t *snap)
{
    unsigned type = len ? p[0] >> 4 : 0;
    unsigned guess;
    /* A CONNECT states its own level; it rules the connection from here. */
    if (type == MQTT_CONNECT && (guess = mqtt_guess_version(tmp, p, len)) != 0) {
        conn->version = (uint8_t)guess;
        conn->version_source = MQTT_VS_CONNECT;
        conn->version_frame = frame;
    }
    /* An inference (no CONNECT seen) gives way to a packet whose bytes
     * clearly belong to the other version. */
    if (conn->version && conn->version_source != MQTT_VS_CONNECT && type != MQTT_CONNECT &&
        (guess = mqtt_guess_version(tmp, p, len)) != 0 && guess != conn->version) {
        conn->version = (uint8_t)guess;
        conn->version_source = MQTT_VS_THIS;
        conn->version_frame = frame;
    }
    if (conn->version) {
        snap->version = conn->version;
        snap->version_source = conn->version_frame == frame ? conn->version_source
                               : conn->version_source == MQTT_VS_CONNECT ? MQTT_VS_CONNECT
                                                                          : MQTT_VS_INFERRED;
        return;
    }
    /* No CONNECT seen: the packet's bytes may tell 3.1.1 from 5.0. */
    guess = mqtt_guess_version(tmp, p, len);
    if (guess) {
        conn->version = (uint8_t)guess;
        conn->version_source = MQTT_VS_THIS;
        conn->version_frame = frame;
        snap->version = (uint8_t)guess;
        snap->version_source = MQTT_VS_THIS;
        return;
    }
    snap->version = (uint8_t)default_version;
    snap->version_source = MQTT_VS_DEFAULT;
}

/* ---- helpers ------------------------------------------------------------------- */

typedef struct {
    mqtt_conn_t *conn;
    const mqtt_pkt_t *pkt;
    const mqtt_event_t *ev;
    mqtt_snapshot_t *snap;
    enum mqtt_dir dir;        /* sender */
    side_t *me;               /* the sender's side */
    side_t *peer;             /* the receiver's side */
} ctx_t;

static mqtt_snapshot_extra_t *extra_of(mqtt_conn_t *conn, mqtt_snapshot_t *snap)
{
    if (!snap->extra)
        snap->extra = wmem_new0(conn->scope, mqtt_snapshot_extra_t);
    return snap->extra;
}

uint32_t mqtt_snapshot_version_frame(const mqtt_snapshot_t *snap)
{
    return snap->who ? snap->who->version_frame : 0;
}

const mqtt_snapshot_extra_t *mqtt_snapshot_extra(const mqtt_snapshot_t *snap)
{
    static const mqtt_snapshot_extra_t none;
    return snap->extra ? snap->extra : &none;
}

void mqtt_conn_add_finding(mqtt_conn_t *conn, mqtt_snapshot_t *snap, enum mqtt_rule rule, mqtt_span_t span,
                           const char *detail)
{
    mqtt_finding_add(conn->scope, &extra_of(conn, snap)->findings, rule, span,
                     detail ? wmem_strdup(conn->scope, detail) : NULL);
}

void mqtt_conn_add_finding_ref(mqtt_conn_t *conn, mqtt_snapshot_t *snap, enum mqtt_rule rule, mqtt_span_t span,
                               const char *detail, const char *ref)
{
    mqtt_finding_add_ref(conn->scope, &extra_of(conn, snap)->findings, rule, span,
                         detail ? wmem_strdup(conn->scope, detail) : NULL, ref);
}

void mqtt_conn_link_resend(mqtt_conn_t *conn, mqtt_snapshot_t *snap, uint32_t original)
{
    extra_of(conn, snap)->retransmission_of = original;
    mqtt_conn_add_finding(conn, snap, MQTT_R_RETRANSMISSION, (mqtt_span_t){0, 1},
                          wmem_strdup_printf(conn->scope, "PUBLISH of frame %u, on an earlier connection of the session",
                                             original));
}

static mqtt_findings_t *findings_of(ctx_t *c)
{
    return &extra_of(c->conn, c->snap)->findings;
}

static int64_t ev_ns(const ctx_t *c)
{
    return (int64_t)c->ev->time.secs * 1000000000 + c->ev->time.nsecs;
}

static void find(ctx_t *c, enum mqtt_rule rule, mqtt_span_t span, const char *detail)
{
    mqtt_finding_add(c->conn->scope, findings_of(c), rule, span, detail);
}

static void find_ref(ctx_t *c, enum mqtt_rule rule, mqtt_span_t span, const char *detail, const char *ref)
{
    mqtt_finding_add_ref(c->conn->scope, findings_of(c), rule, span, detail, ref);
}

static mqtt_span_t whole(const ctx_t *c)
{
    return (mqtt_span_t){0, c->pkt->total_len};
}

static mqtt_span_t first_byte(void)
{
    return (mqtt_span_t){0, 1};
}

static bool limit_reached(const mqtt_conn_t *conn, enum cap cap)
{
    return (conn->limits_reached & cap) != 0;
}

/* Marks a limit as reached; true the first time, when the caller reports
 * it (MQTT_R_STATE_CAP). */
static bool limit_reached_now(mqtt_conn_t *conn, enum cap cap)
{
    if (limit_reached(conn, cap))
        return false;
    conn->limits_reached |= (uint8_t)cap;
    return true;
}

static enum cap aliases_cap(enum mqtt_dir dir)
{
    return dir == MQTT_C2S ? CAP_ALIASES_C2S : CAP_ALIASES_S2C;
}

static const char *printf_s(ctx_t *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static const char *printf_s(ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = wmem_strdup_vprintf(c->conn->scope, fmt, ap);
    va_end(ap);
    return s;
}

static const char *str_dup(wmem_allocator_t *scope, const mqtt_str_t *s)
{
    if (!(s->flags & MQTT_STR_PRESENT))
        return NULL;
    return wmem_strndup(scope, (const char *)s->bytes, s->data.len);
}

static bool is_v5(const ctx_t *c)
{
    return c->snap->version == MQTT_V5;
}

static unsigned qos_of(const mqtt_pkt_t *pkt)
{
    return MQTT_PUBLISH_QOS(pkt->flags);
}

/* Whether the capture holds the connection's beginning, so that rules
 * about what comes first can be judged. */
static bool from_start(const ctx_t *c)
{
    return !c->conn->mid_connection;
}

/* Records that `snap` answers `prev`. */
static void link_back(ctx_t *c, const mqtt_snapshot_t *prev)
{
    c->snap->response_to = prev->frame;
    if (prev->frame > c->peer->last_answered)
        c->peer->last_answered = prev->frame;
}

/* Links `snap` as the answer to `prev`, both ways. */
static void link_response(ctx_t *c, mqtt_snapshot_t *prev)
{
    if (!prev)
        return;
    if (!prev->response_in)
        prev->response_in = c->snap->frame;
    link_back(c, prev);
}

static void expect(mqtt_snapshot_t *snap)
{
    snap->expects_response = true;
}

static flowset_t *flows_of(mqtt_conn_t *conn, side_t *side)
{
    if (!side->fl) {
        flowset_t *fl = wmem_new0(conn->scope, flowset_t);
        fl->bits = FLOW_TABLE_FIRST_BITS;
        fl->slots = wmem_alloc0_array(conn->scope, flow_t *, 1u << fl->bits);
        fl->seed = (uint16_t)((uintptr_t)fl >> 4);
        side->fl = fl;
    }
    return side->fl;
}

static uint32_t flow_home(const flowset_t *fl, uint16_t id)
{
    uint16_t mixed = (uint16_t)((uint16_t)(id ^ fl->seed) * 40503u); /* 2^16 / golden ratio, odd */
    return (uint32_t)mixed >> (FLOW_TABLE_MAX_BITS - fl->bits);
}

/* The slot holding `id`, or the empty slot where it would go. */
static uint32_t flow_find(const flowset_t *fl, uint16_t id)
{
    uint32_t mask = (1u << fl->bits) - 1;
    uint32_t i = flow_home(fl, id);
    while (fl->slots[i] && fl->slots[i]->id != id)
        i = (i + 1) & mask;
    return i;
}

/* Doubles the table (below three quarters full there is always an empty
 * slot, and at 65,536 slots every identifier has its home). */
static void flow_table_grow(mqtt_conn_t *conn, flowset_t *fl)
{
    flow_t **old = fl->slots;
    uint32_t old_size = 1u << fl->bits;
    fl->bits++;
    fl->slots = wmem_alloc0_array(conn->scope, flow_t *, 1u << fl->bits);
    for (uint32_t i = 0; i < old_size; i++)
        if (old[i])
            fl->slots[flow_find(fl, old[i]->id)] = old[i];
    wmem_free(conn->scope, old);
}

static void flow_put(mqtt_conn_t *conn, flowset_t *fl, flow_t *f)
{
    if (fl->bits < FLOW_TABLE_MAX_BITS && (fl->count + 1) * 4 > (3u << fl->bits))
        flow_table_grow(conn, fl);
    uint32_t i = flow_find(fl, f->id);
    if (!fl->slots[i])
        fl->count++;
    fl->slots[i] = f;
}

/* Empties the slot of `id`, moving back the flows after it that probed
 * past it (backward-shift deletion: no tombstones, so a lookup ends at the
 * first empty slot). */
static void flow_remove(flowset_t *fl, uint16_t id)
{
    uint32_t mask = (1u << fl->bits) - 1;
    uint32_t hole = flow_find(fl, id);
    if (!fl->slots[hole])
        return;
    fl->slots[hole] = NULL;
    fl->count--;
    if (fl->bits == FLOW_TABLE_MAX_BITS)
        return; /* every flow is in its home slot */
    for (uint32_t j = (hole + 1) & mask; fl->slots[j]; j = (j + 1) & mask) {
        uint32_t home = flow_home(fl, fl->slots[j]->id);
        /* It may fill the hole when the hole lies between its home and j. */
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            fl->slots[hole] = fl->slots[j];
            fl->slots[j] = NULL;
            hole = j;
        }
    }
}

/* A flow from the direction's pool, zeroed; the pool grows by blocks
 * that double in size, so that a connection with few flows wastes little. */
static flow_t *flow_alloc(mqtt_conn_t *conn, flowset_t *fl)
{
    if (!fl->free) {
        uint32_t n = fl->next_block ? fl->next_block : FLOW_BLOCK_FIRST;
        flow_t *block = wmem_alloc_array(conn->scope, flow_t, n);
        for (uint32_t i = 0; i < n; i++)
            block[i].next_free = i + 1 < n ? &block[i + 1] : NULL;
        fl->free = block;
        fl->next_block = MIN(n * 2, FLOW_BLOCK_MAX);
    }
    flow_t *f = fl->free;
    fl->free = f->next_free;
    memset(f, 0, sizeof *f);
    return f;
}

/* A closed flow goes back to its pool once no acknowledgement-order list
 * holds it. */
static void flow_release(mqtt_conn_t *conn, flow_t *f)
{
    if (!f->closed || f->queued)
        return;
    flowset_t *fl = conn->side[f->dir].fl;
    f->next_free = fl->free;
    fl->free = f;
}

static uint32_t inflight(const side_t *side)
{
    return side->fl ? side->fl->inflight : 0;
}

static void inflight_done(side_t *side)
{
    if (side->fl && side->fl->inflight)
        side->fl->inflight--;
}

static flow_t *flow_get(side_t *side, uint16_t id)
{
    return side->fl ? side->fl->slots[flow_find(side->fl, id)] : NULL;
}

/* Ends a flow; `f` must not be used after this. */
static void flow_close(mqtt_conn_t *conn, side_t *side, uint16_t id, flow_t *f)
{
    flowset_t *fl = side->fl;
    if (fl->open[f->kind])
        fl->open[f->kind]--;
    if (fl->latest[f->kind] == f)
        fl->latest[f->kind] = NULL;
    if ((f->kind == FLOW_PUB1 || f->kind == FLOW_PUB2) && f->state != FAILED && !f->uncounted && fl->inflight)
        fl->inflight--;
    flow_remove(fl, id);
    f->closed = true;
    flow_release(conn, f);
}

static flow_t *flow_open(ctx_t *c, enum flow_kind kind)
{
    flowset_t *fl = flows_of(c->conn, c->me);
    flow_t *f = flow_alloc(c->conn, fl);
    f->kind = (uint8_t)kind;
    f->state = AWAIT_ACK;
    f->dir = (uint8_t)c->dir;
    f->start = c->snap;
    f->last = c->snap;
    f->id = c->pkt->packet_id;
    flow_put(c->conn, fl, f);
    fl->open[kind]++;
    fl->latest[kind] = f;
    if (kind == FLOW_PUB1 || kind == FLOW_PUB2)
        fl->inflight++;
    return f;
}

/* The statements an acknowledgement for an unknown identifier breaks. */
static const char *unknown_ack_ref(const ctx_t *c)
{
    return mqtt_ids_for(&mqtt_type_spec(c->pkt->type)->unknown_id, c->snap->version);
}

/* An answer with an unknown identifier: the requests of the kind it
 * answers that are still open probably lost their answer to it. */
static void mark_mismatched(ctx_t *c)
{
    unsigned kind = mqtt_type_spec(c->pkt->type)->answers; /* enum mqtt_flow: flow_kind + 1 */
    if (kind == MQTT_FLOW_NONE)
        return;
    /* Only when exactly one such request is open is the guess safe. */
    if (!c->peer->fl)
        return;
    flow_t *f = c->peer->fl->latest[kind - 1];
    if (c->peer->fl->open[kind - 1] == 1 && f && f->state != FAILED && !mqtt_snapshot_extra(f->last)->mismatched_in)
        extra_of(c->conn, f->last)->mismatched_in = c->snap->frame;
}

static void ack_unknown(ctx_t *c, enum mqtt_rule rule)
{
    mark_mismatched(c);
    /* With a resumed session the flow may come from the previous
     * connection; without the connection's start it may predate the
     * capture.  Only a fresh, fully captured session proves a fault. */
    if (c->conn->session_present)
        find(c, MQTT_R_RESUMED_SESSION_ACK, c->pkt->packet_id_span, NULL);
    else if (!from_start(c) || !c->conn->connect)
        find(c, MQTT_R_UNSOLICITED, c->pkt->packet_id_span,
             printf_s(c, "%s id=%u", mqtt_type_name(c->pkt->type), c->pkt->packet_id));
    else
        find_ref(c, rule, c->pkt->packet_id_span, printf_s(c, "id=%u", c->pkt->packet_id), unknown_ack_ref(c));
}

/* ---- acknowledgement order ------------------------------------------------------- */

#define FLOW_QUEUE_FIRST 16u

static flow_t *queue_front(const flow_queue_t *q)
{
    return q->len ? q->items[q->head] : NULL;
}

static void queue_pop(flow_queue_t *q)
{
    q->head = (q->head + 1) & (q->capacity - 1);
    q->len--;
}

/* Doubles the ring, moving its flows to the start of the new one. */
static void queue_grow(wmem_allocator_t *scope, flow_queue_t *q)
{
    uint32_t cap = q->capacity ? q->capacity * 2 : FLOW_QUEUE_FIRST;
    flow_t **items = wmem_alloc_array(scope, flow_t *, cap);
    for (uint32_t i = 0; i < q->len; i++)
        items[i] = q->items[(q->head + i) & (q->capacity - 1)];
    wmem_free(scope, q->items);
    q->items = items;
    q->capacity = cap;
    q->head = 0;
}

static void queue_push(wmem_allocator_t *scope, flow_queue_t *q, flow_t *f)
{
    if (q->len == q->capacity)
        queue_grow(scope, q);
    q->items[(q->head + q->len) & (q->capacity - 1)] = f;
    q->len++;
}

static void order_push(ctx_t *c, int which, flow_t *f)
{
    mqtt_conn_t *conn = c->conn;
    if (!conn->order)
        conn->order = wmem_new0(conn->scope, order_t);
    order_t *o = conn->order;
    if (o->queues[which].len >= MQTT_MAX_ORDERED) {
        if (limit_reached_now(conn, CAP_ORDER))
            find(c, MQTT_R_STATE_CAP, first_byte(), "acknowledgement order no longer checked");
        return;
    }
    queue_push(conn->scope, &o->queues[which], f);
    f->queued |= (uint8_t)(1u << which);
}

/* The client answers `f`: every flow that arrived before it must have been
 * answered already. */
static void order_check(ctx_t *c, int which, flow_t *f, const char *ref)
{
    mqtt_conn_t *conn = c->conn;
    flow_queue_t *q = conn->order ? &conn->order->queues[which] : NULL;
    flow_t *first = q ? queue_front(q) : NULL;
    uint8_t bit = (uint8_t)(1u << which);
    f->answered |= bit;
    if (!first || !(f->queued & bit))
        return;
    /* Every flow ahead of `f` in arrival order must have been answered
     * already; answered flows are dropped from the front as they come. */
    if (first != f && !limit_reached(conn, CAP_ORDER))
        find_ref(c, MQTT_R_ACK_ORDER, c->pkt->packet_id_span,
                 printf_s(c, "frame %u arrived first and is still unanswered", first->start->frame), ref);
    flow_t *done;
    while ((done = queue_front(q)) != NULL && (done->answered & bit)) {
        queue_pop(q);
        done->queued &= (uint8_t)~bit;
        flow_release(conn, done);
    }
}

/* ---- CONNECT and CONNACK ------------------------------------------------------------ */

static void set_identity(mqtt_conn_t *conn)
{
    mqtt_identity_t *who = wmem_new(conn->scope, mqtt_identity_t);
    who->client_id = conn->client_id;
    who->username = conn->username;
    who->version_frame = conn->version_frame;
    conn->who = who;
}

/* The limits a CONNECT (client's) or CONNACK (server's) announces. */
static void read_limits(limits_t *lim, const mqtt_props_t *props)
{
    const mqtt_prop_t *p;
    lim->present = true;
    if ((p = mqtt_props_find(props, MQTT_PROP_RECEIVE_MAXIMUM)) && p->num)
        lim->receive_maximum = p->num;
    if ((p = mqtt_props_find(props, MQTT_PROP_MAXIMUM_PACKET_SIZE)))
        lim->maximum_packet_size = p->num;
    if ((p = mqtt_props_find(props, MQTT_PROP_TOPIC_ALIAS_MAXIMUM)))
        lim->topic_alias_maximum = p->num;
}

static void on_connect(ctx_t *c)
{
    mqtt_conn_t *conn = c->conn;
    const mqtt_pkt_t *pkt = c->pkt;
    if (conn->connect) {
        find(c, MQTT_R_SECOND_CONNECT, first_byte(), printf_s(c, "first in frame %u", conn->connect->frame));
        expect(c->snap);
        return;
    }
    conn->connect = c->snap;
    conn->connect_flags = pkt->connect_flags;
    conn->keepalive = pkt->keepalive;
    conn->client_id = str_dup(conn->scope, &pkt->client_id);
    conn->username = str_dup(conn->scope, &pkt->username);
    set_identity(conn);
    conn->client_id_empty = (pkt->client_id.flags & MQTT_STR_PRESENT) && pkt->client_id.data.len == 0;
    conn->connect_malformed = mqtt_pkt_is_malformed(pkt);
    conn->connect_level_unknown = (pkt->level & 0x7F) < MQTT_V31 || (pkt->level & 0x7F) > MQTT_V5;
    expect(c->snap);

    const mqtt_props_t *props = &pkt->props;
    const mqtt_prop_t *p;
    read_limits(&conn->announced[MQTT_C2S], props);
    if ((p = mqtt_props_find(props, MQTT_PROP_AUTHENTICATION_METHOD)))
        conn->auth_method = str_dup(conn->scope, &p->str);
    if ((p = mqtt_props_find(props, MQTT_PROP_REQUEST_PROBLEM_INFORMATION)))
        conn->request_problem_info = p->num != 0;
    if ((p = mqtt_props_find(props, MQTT_PROP_REQUEST_RESPONSE_INFORMATION)))
        conn->request_response_info = p->num == 1;
    if ((p = mqtt_props_find(props, MQTT_PROP_SESSION_EXPIRY_INTERVAL)))
        conn->session_expiry_zero = p->num == 0;
    if (conn->auth_method)
        conn->auth_last = c->snap;
    if ((pkt->connect_flags & MQTT_CF_PASSWORD) && (pkt->password.flags & MQTT_STR_PRESENT) &&
        !c->ev->over_tls)
        find(c, MQTT_R_CLEARTEXT_PASSWORD, pkt->password.field, NULL);
}

static uint8_t connack_code_failure(const ctx_t *c)
{
    const mqtt_pkt_t *pkt = c->pkt;
    if (!pkt->has_reason)
        return 0;
    return is_v5(c) ? mqtt_reason_is_failure(pkt->reason) : pkt->reason != 0;
}

static bool is_auth_failure(const ctx_t *c)
{
    return mqtt_connack_refuses_login(c->snap->version, c->pkt->reason);
}

static void connack_limits(ctx_t *c)
{
    mqtt_conn_t *conn = c->conn;
    const mqtt_props_t *props = &c->pkt->props;
    const mqtt_prop_t *p;
    read_limits(&conn->announced[MQTT_S2C], props);
    if ((p = mqtt_props_find(props, MQTT_PROP_SERVER_KEEP_ALIVE))) {
        conn->has_server_keepalive = true;
        conn->server_keepalive = (uint16_t)p->num;
    }
    if ((p = mqtt_props_find(props, MQTT_PROP_MAXIMUM_QOS))) {
        conn->has_max_qos = true;
        conn->max_qos = (uint8_t)p->num;
    }
    conn->retain_unavailable = (p = mqtt_props_find(props, MQTT_PROP_RETAIN_AVAILABLE)) && p->num == 0;
    conn->wildcard_unavailable =
        (p = mqtt_props_find(props, MQTT_PROP_WILDCARD_SUBSCRIPTION_AVAILABLE)) && p->num == 0;
    conn->sub_id_unavailable =
        (p = mqtt_props_find(props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER_AVAILABLE)) && p->num == 0;
    conn->shared_unavailable =
        (p = mqtt_props_find(props, MQTT_PROP_SHARED_SUBSCRIPTION_AVAILABLE)) && p->num == 0;
    if ((p = mqtt_props_find(props, MQTT_PROP_ASSIGNED_CLIENT_IDENTIFIER)) && conn->client_id_empty) {
        conn->client_id = str_dup(conn->scope, &p->str);
        set_identity(conn);
    }
}

/* What a successful CONNACK must agree with in its CONNECT. */
static void connack_against_connect(ctx_t *c)
{
    mqtt_conn_t *conn = c->conn;
    const mqtt_pkt_t *pkt = c->pkt;
    const mqtt_prop_t *p;
    uint8_t f = conn->connect_flags;
    if (!is_v5(c)) {
        if (conn->version == MQTT_V311 && conn->client_id_empty && !(f & MQTT_CF_CLEAN))
            find(c, MQTT_R_EMPTY_CLIENTID_REFUSAL, pkt->reason_span, NULL);
        return;
    }
    if (conn->client_id_empty && !mqtt_props_find(&pkt->props, MQTT_PROP_ASSIGNED_CLIENT_IDENTIFIER))
        find(c, MQTT_R_NO_ASSIGNED_CLIENTID, pkt->reason_span, NULL);
    if ((p = mqtt_props_find(&pkt->props, MQTT_PROP_RESPONSE_INFORMATION)) && !conn->request_response_info)
        find(c, MQTT_R_RESPONSE_INFO_UNREQUESTED, p->span, NULL);
    if ((f & MQTT_CF_WILL) && conn->has_max_qos && ((f & MQTT_CF_WILL_QOS) >> 3) > conn->max_qos)
        find(c, MQTT_R_WILL_QOS_ABOVE_MAXIMUM, pkt->reason_span,
             printf_s(c, "Will QoS %u, Maximum QoS %u", (f & MQTT_CF_WILL_QOS) >> 3, conn->max_qos));
    if ((f & MQTT_CF_WILL) && (f & MQTT_CF_WILL_RETAIN) && conn->retain_unavailable)
        find(c, MQTT_R_WILL_RETAIN_UNAVAILABLE, pkt->reason_span, NULL);
    p = mqtt_props_find(&pkt->props, MQTT_PROP_AUTHENTICATION_METHOD);
    if (conn->auth_method && (!p || strlen(conn->auth_method) != p->str.data.len ||
                              memcmp(conn->auth_method, p->str.bytes, p->str.data.len) != 0))
        find(c, MQTT_R_AUTH_METHOD_CHANGED, p ? p->span : pkt->reason_span,
             printf_s(c, "CONNECT used \"%s\"", conn->auth_method));
}

/* 1 to 23 characters of 0-9a-zA-Z: what every server must accept
 * ([MQTT-3.1.3-5]). */
static bool client_id_plain(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 23)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!g_ascii_isalnum(id[i]))
            return false;
    return true;
}

static void on_connack(ctx_t *c)
{
    mqtt_conn_t *conn = c->conn;
    const mqtt_pkt_t *pkt = c->pkt;
    if (conn->connack) {
        find(c, MQTT_R_SECOND_CONNACK, first_byte(), printf_s(c, "first in frame %u", conn->connack->frame));
        return;
    }
    conn->connack = c->snap;
    if (conn->connect)
        link_response(c, conn->connect);
    /* The CONNACK also ends an authentication exchange: it answers the
     * client's last AUTH, though it points back to the CONNECT. */
    mqtt_snapshot_t *auth = conn->auth_last;
    if (auth && auth != conn->connect && !auth->response_in)
        auth->response_in = c->snap->frame;
    conn->auth_last = NULL;
    if (!pkt->has_reason)
        return;
    bool refused = connack_code_failure(c);
    conn->session_present = !refused && (pkt->ack_flags & 1) && conn->version != MQTT_V31;
    if (conn->connect && conn->version != MQTT_V31 && (pkt->ack_flags & 1) &&
        (conn->connect_flags & MQTT_CF_CLEAN))
        find(c, MQTT_R_SESSION_PRESENT_CLEAN, pkt->ack_flags_span, NULL);
    if (!conn->auth_method && mqtt_props_find(&pkt->props, MQTT_PROP_AUTHENTICATION_METHOD) && conn->connect)
        find(c, MQTT_R_AUTH_UNANNOUNCED_SERVER,
             mqtt_props_find(&pkt->props, MQTT_PROP_AUTHENTICATION_METHOD)->span, NULL);
    if (conn->connect_malformed && conn->connect && (!refused || !is_v5(c)))
        find(c, MQTT_R_MALFORMED_CONNECT_ACCEPTED, pkt->reason_span, NULL);
    if (conn->connect_level_unknown && !is_v5(c) && pkt->reason != 1)
        find(c, MQTT_R_UNSUPPORTED_LEVEL_CODE, pkt->reason_span, printf_s(c, "return code %u", pkt->reason));
    if (refused) {
        conn->refused = true;
        if (is_auth_failure(c))
            find(c, MQTT_R_AUTH_FAILED, pkt->reason_span, NULL); /* who: from the snapshot */
        if (pkt->reason == (is_v5(c) ? 0x85 : 0x02) && client_id_plain(conn->client_id))
            find(c, MQTT_R_CLIENTID_REJECTED, pkt->reason_span, printf_s(c, "\"%s\"", conn->client_id));
        return;
    }
    connack_limits(c);
    if (conn->connect) {
        connack_against_connect(c);
        if (!conn->username && !conn->auth_method)
            c->snap->anonymous_accepted = 1; /* reported by the presentation: no storage needed */
    }
}

/* ---- PUBLISH and its flows ---------------------------------------------------------- */

static alias_t *alias_get(const side_t *side, uint16_t alias)
{
    struct alias_page *page = side->aliases ? side->aliases[alias / ALIAS_PAGE] : NULL;
    return page && page->items[alias % ALIAS_PAGE].topic ? &page->items[alias % ALIAS_PAGE] : NULL;
}

static alias_t *alias_slot(mqtt_conn_t *conn, side_t *side, uint16_t alias)
{
    if (!side->aliases)
        side->aliases = wmem_alloc0_array(conn->scope, struct alias_page *, 65536 / ALIAS_PAGE);
    struct alias_page **page = &side->aliases[alias / ALIAS_PAGE];
    if (!*page)
        *page = wmem_new0(conn->scope, struct alias_page);
    return &(*page)->items[alias % ALIAS_PAGE];
}

/* A non-empty Topic Name with an alias sets (or replaces) the mapping
 * (§3.3.4), within a byte budget per direction. */
static void set_alias(ctx_t *c, const mqtt_prop_t *ap, uint16_t alias)
{
    side_t *me = c->me;
    uint32_t len = c->pkt->topic.data.len;
    alias_t *old = alias_get(me, alias);
    uint32_t freed = old ? (uint32_t)strlen(old->topic) : 0;
    if (me->alias_bytes - freed + len > MQTT_MAX_ALIAS_BYTES) {
        if (limit_reached_now(c->conn, aliases_cap(c->dir)))
            find(c, MQTT_R_STATE_CAP, ap->span,
                 printf_s(c, "topic alias table holds %u bytes of topics; aliases no longer tracked",
                          MQTT_MAX_ALIAS_BYTES));
        if (old) {
            /* The alias now stands for a topic not kept: forget the old one
             * rather than resolve later uses to it. */
            old->topic = NULL;
            me->alias_bytes -= freed;
        }
        return;
    }
    /* The old topic stays: snapshots of alias-only PUBLISH point to it. */
    alias_t *a = alias_slot(c->conn, me, alias);
    a->topic = str_dup(c->conn->scope, &c->pkt->topic);
    a->frame = c->snap->frame;
    me->alias_bytes = me->alias_bytes - freed + len;
}

/* Topic Alias: the sender's table, limited by what the receiver announced
 * (CONNECT for server aliases, CONNACK for client aliases).  Returns false
 * when an alias-only PUBLISH uses an alias never set on this connection. */
static bool resolve_alias(ctx_t *c, const mqtt_prop_t *ap)
{
    mqtt_conn_t *conn = c->conn;
    uint16_t alias = (uint16_t)ap->num;
    limits_t *receiver = &conn->announced[c->dir == MQTT_C2S ? MQTT_S2C : MQTT_C2S];
    bool client = c->dir == MQTT_C2S;
    if (alias == 0)
        return true; /* a stateless rule already reports it */
    if (receiver->present && receiver->topic_alias_maximum == 0)
        find(c, client ? MQTT_R_ALIAS_NOT_ALLOWED_CLIENT : MQTT_R_ALIAS_NOT_ALLOWED_SERVER, ap->span,
             printf_s(c, "alias %u", alias));
    else if (receiver->present && alias > receiver->topic_alias_maximum)
        find(c, client ? MQTT_R_ALIAS_ABOVE_MAXIMUM_CLIENT : MQTT_R_ALIAS_ABOVE_MAXIMUM_SERVER, ap->span,
             printf_s(c, "alias %u, maximum %u", alias, receiver->topic_alias_maximum));
    else
        c->me->valid_alias_sent = true;
    if (c->pkt->topic.data.len > 0) {
        set_alias(c, ap, alias);
        return true;
    }
    alias_t *a = alias_get(c->me, alias);
    if (a) {
        mqtt_snapshot_extra_t *x = extra_of(conn, c->snap);
        x->alias = alias;
        x->alias_topic = a->topic;
        x->alias_frame = a->frame;
        return true;
    }
    c->me->valid_alias_sent = false;
    if (!from_start(c) || limit_reached(conn, aliases_cap(c->dir))) {
        find(c, MQTT_R_ALIAS_UNRESOLVED, ap->span,
             printf_s(c, "alias %u, %s", alias,
                      from_start(c) ? "beyond the alias table's limit" : "set before the capture started"));
        return true;
    }
    find(c, MQTT_R_ALIAS_UNKNOWN, ap->span, printf_s(c, "alias %u", alias));
    return false;
}

static void publish_against_connack(ctx_t *c)
{
    mqtt_conn_t *conn = c->conn;
    const mqtt_pkt_t *pkt = c->pkt;
    if (c->dir != MQTT_C2S || !conn->connack || conn->refused)
        return;
    if (conn->has_max_qos && qos_of(pkt) > conn->max_qos && qos_of(pkt) != 3)
        find(c, MQTT_R_QOS_ABOVE_MAXIMUM, first_byte(),
             printf_s(c, "QoS %u, Maximum QoS %u", qos_of(pkt), conn->max_qos));
    if (conn->retain_unavailable && (pkt->flags & 1))
        find(c, MQTT_R_RETAIN_UNAVAILABLE, first_byte(), NULL);
}

static void publish_subscription_ids(ctx_t *c)
{
    const mqtt_props_t *props = &c->pkt->props;
    if (c->dir != MQTT_S2C || !from_start(c) || c->conn->session_present ||
        c->conn->nsub_ids >= MQTT_MAX_SUB_IDS)
        return;
    for (uint32_t i = 0; i < props->count; i++) {
        const mqtt_prop_t *p = &props->items[i];
        if (p->id == MQTT_PROP_SUBSCRIPTION_IDENTIFIER && p->num &&
            !map_get(c->conn->sub_ids, p->num))
            find(c, MQTT_R_SUB_ID_UNKNOWN, p->span, printf_s(c, "identifier %u", p->num));
    }
}

/* What the client's subscriptions say about a delivery.  Judged only on
 * a fresh session seen from its start: a resumed session and subscriptions
 * made before the capture would explain anything. */
static void publish_against_subscriptions(ctx_t *c)
{
    const mqtt_pkt_t *pkt = c->pkt;
    mqtt_conn_t *conn = c->conn;
    if (!conn->subs)
        return; /* no subscription made on this connection */
    if (c->dir == MQTT_C2S) {
        mqtt_subs_client_publish(conn->subs, pkt);
        return;
    }
    if (!from_start(c) || !conn->connect || conn->session_present || !(conn->connect_flags & MQTT_CF_CLEAN) ||
        (pkt->flags & MQTT_PUBLISH_DUP))
        return;
    const char *topic = mqtt_snapshot_extra(c->snap)->alias_topic;
    uint32_t len = topic ? (uint32_t)strlen(topic) : 0;
    if (!topic && (pkt->topic.flags & MQTT_STR_PRESENT) && pkt->topic.data.len) {
        topic = (const char *)pkt->topic.bytes;
        len = pkt->topic.data.len;
    }
    mqtt_subs_server_publish(conn->subs, pkt, topic, len, conn->scope, findings_of(c));
}

/* A DUP PUBLISH on an identifier that is open. */
static void publish_resent(ctx_t *c, flow_t *f)
{
    mqtt_snapshot_t *snap = c->snap;
    extra_of(c->conn, snap)->retransmission_of = f->start->frame;
    find(c, MQTT_R_RETRANSMISSION, first_byte(), printf_s(c, "PUBLISH of frame %u", f->start->frame));
    if (f->state == FAILED) {
        /* Wrong ([MQTT-4.4.0-2]), but the receiver may answer it again. */
        find(c, MQTT_R_RETRANSMIT_AFTER_ERROR, first_byte(), NULL);
        f->state = AWAIT_ACK;
        f->uncounted = true;
        f->last = c->snap;
    } else if (f->state == AWAIT_PUBCOMP) {
        find(c, MQTT_R_PUBLISH_AFTER_PUBREL, first_byte(), NULL);
    } else if (is_v5(c) && !(c->conn->session_present && !c->me->published)) {
        /* 5.0 resends only when a session is resumed, before anything new
         * ([MQTT-4.4.0-1]). */
        find(c, MQTT_R_DUP_RETRANSMISSION_V5, first_byte(), NULL);
    }
    /* The original waits for the answer; the copy points to it. */
}

static void receive_maximum(ctx_t *c)
{
    const limits_t *receiver = &c->conn->announced[c->dir == MQTT_C2S ? MQTT_S2C : MQTT_C2S];
    if (!is_v5(c) || !receiver->present || inflight(c->me) <= receiver->receive_maximum)
        return;
    find(c, c->dir == MQTT_C2S ? MQTT_R_RECEIVE_MAXIMUM_CLIENT : MQTT_R_RECEIVE_MAXIMUM_SERVER, first_byte(),
         printf_s(c, "%u in flight, Receive Maximum %u", inflight(c->me), receiver->receive_maximum));
}

static void on_publish(ctx_t *c)
{
    const mqtt_pkt_t *pkt = c->pkt;
    const mqtt_prop_t *ap = mqtt_props_find(&pkt->props, MQTT_PROP_TOPIC_ALIAS);
    bool alias_known = true;
    c->me->valid_alias_sent = false;
    if (ap && is_v5(c))
        alias_known = resolve_alias(c, ap);
    publish_against_connack(c);
    publish_subscription_ids(c);
    publish_against_subscriptions(c);
    unsigned qos = qos_of(pkt);
    if (qos == 0 || qos == 3 || !pkt->has_packet_id) {
        c->me->published = true;
        return;
    }
    flow_t *f = flow_get(c->me, pkt->packet_id);
    if (f && (pkt->flags & MQTT_PUBLISH_DUP) && (f->kind == FLOW_PUB1 || f->kind == FLOW_PUB2)) {
        publish_resent(c, f);
        return;
    }
    if (f && f->state != FAILED)
        find_ref(c, MQTT_R_ID_IN_USE, pkt->packet_id_span,
                 printf_s(c, "id=%u opened in frame %u", pkt->packet_id, f->start->frame),
                 qos == 1 ? "MQTT-4.3.2-1" : "MQTT-4.3.3-1");
    if (f)
        flow_close(c->conn, c->me, pkt->packet_id, f);
    /* In a resumed session every unacknowledged PUBLISH of the previous
     * connection is re-sent with DUP 1 ([MQTT-4.4.0-1]), and a server may
     * set DUP on a queued message it never sent: the capture links the
     * copy to its original when that is on an earlier connection of the
     * session (mqtt_core.c), else says nothing. */
    if ((pkt->flags & MQTT_PUBLISH_DUP) && !c->conn->session_present) {
        /* On a fresh, fully captured session a first transmission has DUP
         * 0 ([MQTT-4.3.2-2], [MQTT-4.3.3-2]). */
        if (from_start(c) && c->conn->connect && !c->conn->session_present)
            find_ref(c, MQTT_R_FIRST_DUP, first_byte(), NULL,
                     is_v5(c) ? (qos == 1 ? "MQTT-4.3.2-2" : "MQTT-4.3.3-2") : (qos == 1 ? "MQTT-4.3.2-1" : "MQTT-4.3.3-1"));
        else
            find(c, MQTT_R_RETRANSMISSION, first_byte(), "PUBLISH, original not in the capture");
    }
    f = flow_open(c, qos == 1 ? FLOW_PUB1 : FLOW_PUB2);
    f->unknown_alias = !alias_known;
    if (c->dir == MQTT_S2C)
        order_push(c, qos == 1 ? ORDER_PUBACK : ORDER_PUBREC, f);
    expect(c->snap);
    c->me->published = true;
    receive_maximum(c);
}

/* The receiver acknowledged normally a PUBLISH whose alias it cannot have
 * known ([MQTT-3.3.2-7]). */
static void check_unknown_alias_acked(ctx_t *c, const flow_t *f)
{
    const mqtt_pkt_t *pkt = c->pkt;
    bool failed = is_v5(c) && pkt->has_reason && mqtt_reason_is_failure(pkt->reason);
    if (f->unknown_alias && !failed)
        find(c, MQTT_R_UNKNOWN_ALIAS_ACCEPTED, pkt->packet_id_span, printf_s(c, "PUBLISH in frame %u", f->start->frame));
}

static void on_puback(ctx_t *c)
{
    const mqtt_pkt_t *pkt = c->pkt;
    flow_t *f = pkt->has_packet_id ? flow_get(c->peer, pkt->packet_id) : NULL;
    if (!pkt->has_packet_id)
        return;
    if (!f || f->kind != FLOW_PUB1 || f->state == FAILED) {
        ack_unknown(c, MQTT_R_ACK_UNKNOWN_ID);
        return;
    }
    link_response(c, f->last);
    check_unknown_alias_acked(c, f);
    if (c->dir == MQTT_C2S)
        order_check(c, ORDER_PUBACK, f, "MQTT-4.6.0-2");
    if (is_v5(c) && pkt->has_reason && mqtt_reason_is_failure(pkt->reason)) {
        /* Acknowledged, but a resend would now be wrong ([MQTT-4.4.0-2]):
         * keep the identifier in view until it is used again. */
        if (!f->uncounted)
            inflight_done(c->peer);
        f->state = FAILED;
        return;
    }
    flow_close(c->conn, c->peer, pkt->packet_id, f);
}

static void on_pubrec(ctx_t *c)
{
    const mqtt_pkt_t *pkt = c->pkt;
    flow_t *f = pkt->has_packet_id ? flow_get(c->peer, pkt->packet_id) : NULL;
    if (!pkt->has_packet_id)
        return;
    if (!f || f->kind != FLOW_PUB2 || f->state == FAILED) {
        ack_unknown(c, MQTT_R_ACK_UNKNOWN_ID);
        return;
    }
    if (f->state != AWAIT_ACK) {
        /* A repeated PUBREC answers a DUP PUBLISH ([MQTT-4.3.3-10]). */
        find(c, MQTT_R_DUPLICATE_RESPONSE, pkt->packet_id_span, printf_s(c, "PUBREC id=%u", pkt->packet_id));
        link_back(c, f->start);
        return;
    }
    link_response(c, f->last);
    check_unknown_alias_acked(c, f);
    f->last = c->snap;
    if (c->dir == MQTT_C2S)
        order_check(c, ORDER_PUBREC, f, "MQTT-4.6.0-3");
    if (is_v5(c) && pkt->has_reason && mqtt_reason_is_failure(pkt->reason)) {
        /* The flow ends here; no PUBREL follows (§4.3.3). */
        if (!f->uncounted)
            inflight_done(c->peer);
        f->state = FAILED;
        return;
    }
    f->state = AWAIT_PUBREL;
    if (c->dir == MQTT_S2C)
        order_push(c, ORDER_PUBREL, f);
    expect(c->snap);
}

static void on_pubrel(ctx_t *c)
{
    const mqtt_pkt_t *pkt = c->pkt;
    flow_t *f = pkt->has_packet_id ? flow_get(c->me, pkt->packet_id) : NULL;
    if (!pkt->has_packet_id)
        return;
    if (f && f->kind == FLOW_PUB2 && f->state == FAILED) {
        /* No MUST forbids it ([MQTT-4.3.3-4] asks for a PUBREL after a
         * PUBREC below 0x80 only); the receiver answers it with PUBCOMP
         * 0x92: keep the flow for it. */
        find(c, MQTT_R_PUBREL_AFTER_ERROR, pkt->packet_id_span,
             printf_s(c, "id=%u, PUBREC in frame %u; PUBCOMP 0x92 (Packet Identifier not found) expected",
                      pkt->packet_id, f->last->frame));
        link_response(c, f->last);
        f->last = c->snap;
        f->state = AWAIT_PUBCOMP;
        expect(c->snap);
        return;
    }
    if (f && f->kind == FLOW_PUB2 && f->state == AWAIT_PUBCOMP) {
        find(c, MQTT_R_DUPLICATE_RESPONSE, pkt->packet_id_span, printf_s(c, "PUBREL id=%u", pkt->packet_id));
        return;
    }
    if (!f || f->kind != FLOW_PUB2 || f->state != AWAIT_PUBREL) {
        /* Resent after reconnecting, or simply wrong: either way the
         * PUBCOMP (0x92 "not found" when wrong) will answer this PUBREL. */
        ack_unknown(c, MQTT_R_ACK_UNKNOWN_ID);
        if (f)
            flow_close(c->conn, c->me, pkt->packet_id, f);
        f = flow_open(c, FLOW_PUB2);
        inflight_done(c->me); /* not a PUBLISH of this connection */
        f->uncounted = true;
        f->state = AWAIT_PUBCOMP;
        expect(c->snap);
        return;
    }
    link_response(c, f->last);
    f->last = c->snap;
    f->state = AWAIT_PUBCOMP;
    if (c->dir == MQTT_C2S)
        order_check(c, ORDER_PUBREL, f, "MQTT-4.6.0-4");
    expect(c->snap);
}

static void on_pubcomp(ctx_t *c)
{
    const mqtt_pkt_t *pkt = c->pkt;
    flow_t *f = pkt->has_packet_id ? flow_get(c->peer, pkt->packet_id) : NULL;
    if (!pkt->has_packet_id)
        return;
    if (!f || f->kind != FLOW_PUB2 || f->state != AWAIT_PUBCOMP) {
        ack_unknown(c, MQTT_R_ACK_UNKNOWN_ID);
        return;
    }
    link_response(c, f->last);
    extra_of(c->conn, c->snap)->flow_start = f->start->frame;
    flow_close(c->conn, c->peer, pkt->packet_id, f);
}

/* ---- SUBSCRIBE and UNSUBSCRIBE -------------------------------------------------------- */

static bool filter_has_wildcard(const mqtt_str_t *s)
{
    uint32_t off;
    return mqtt_topic_has_wildcard(s->bytes, s->data.len, &off);
}

static bool filter_is_shared(const mqtt_str_t *s)
{
    return mqtt_filter_is_shared(s->bytes, s->data.len);
}

static void subscribe_against_connack(ctx_t *c)
{
    mqtt_conn_t *conn = c->conn;
    const mqtt_pkt_t *pkt = c->pkt;
    const mqtt_prop_t *sid = mqtt_props_find(&pkt->props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER);
    bool new_id = sid && sid->num && !map_get(conn->sub_ids, sid->num);
    if (new_id && conn->nsub_ids < MQTT_MAX_SUB_IDS) {
        wmem_map_insert(lazy_map(conn->scope, &conn->sub_ids), GUINT_TO_POINTER((guint)sid->num), GUINT_TO_POINTER(1));
        conn->nsub_ids++;
    } else if (new_id && limit_reached_now(conn, CAP_SUB_IDS)) {
        find(c, MQTT_R_STATE_CAP, sid->span,
             printf_s(c, "%u Subscription Identifiers remembered; unknown ones no longer reported",
                      MQTT_MAX_SUB_IDS));
    }
    if (!is_v5(c) || pkt->type != MQTT_SUBSCRIBE)
        return;
    if (sid && conn->sub_id_unavailable)
        find_ref(c, MQTT_R_CAPABILITY_UNAVAILABLE, sid->span, "Subscription Identifier Available is 0",
                 "§3.2.2.3.12");
    for (uint32_t i = 0; i < pkt->filter_count; i++) {
        const mqtt_str_t *s = &pkt->filters[i].filter;
        if (!(s->flags & MQTT_STR_PRESENT))
            continue;
        if (conn->shared_unavailable && filter_is_shared(s))
            find_ref(c, MQTT_R_CAPABILITY_UNAVAILABLE, s->data, "Shared Subscription Available is 0",
                     "§3.2.2.3.13");
        else if (conn->wildcard_unavailable && filter_has_wildcard(s))
            find_ref(c, MQTT_R_CAPABILITY_UNAVAILABLE, s->data, "Wildcard Subscription Available is 0",
                     "§3.2.2.3.11");
        if (conn->has_max_qos && pkt->filters[i].has_options && MQTT_SO_QOS(pkt->filters[i].options) > conn->max_qos)
            conn->qos_over_maximum_asked = true;
    }
}

/* The subscription table follows SUBSCRIBE and UNSUBSCRIBE; a SUBSCRIBE's
 * filters wait for the SUBACK that answers the flow starting in frame
 * `request_frame`. */
static void update_subscriptions(ctx_t *c, uint32_t request_frame)
{
    const mqtt_pkt_t *pkt = c->pkt;
    if (pkt->type == MQTT_SUBSCRIBE) {
        if (!c->conn->subs)
            c->conn->subs = mqtt_subs_new(c->conn->scope);
        mqtt_subs_subscribe(c->conn->subs, pkt, c->snap->version, request_frame);
        if (mqtt_subs_full(c->conn->subs) && limit_reached_now(c->conn, CAP_SUBSCRIPTIONS))
            find(c, MQTT_R_STATE_CAP, first_byte(),
                 printf_s(c, "the subscription table holds %u topic filters; deliveries no longer checked",
                          MQTT_MAX_SUBSCRIPTIONS));
    } else if (c->conn->subs) {
        mqtt_subs_unsubscribe(c->conn->subs, pkt, request_frame);
    }
}

static void on_subscribe(ctx_t *c)
{
    const mqtt_pkt_t *pkt = c->pkt;
    subscribe_against_connack(c);
    flow_t *f = pkt->has_packet_id ? flow_get(c->me, pkt->packet_id) : NULL;
    /* MQTT 3.1 retransmitted SUBSCRIBE and UNSUBSCRIBE with DUP set. */
    if (f && c->snap->version == MQTT_V31 && (pkt->flags & MQTT_PUBLISH_DUP) && f->state == AWAIT_ACK &&
        f->kind == (pkt->type == MQTT_SUBSCRIBE ? FLOW_SUB : FLOW_UNSUB)) {
        update_subscriptions(c, f->start->frame);
        extra_of(c->conn, c->snap)->retransmission_of = f->start->frame;
        find(c, MQTT_R_RETRANSMISSION, first_byte(),
             printf_s(c, "%s of frame %u", mqtt_type_name(pkt->type), f->start->frame));
        return;
    }
    update_subscriptions(c, c->snap->frame);
    if (!pkt->has_packet_id)
        return;
    if (f && f->state != FAILED)
        find(c, MQTT_R_ID_IN_USE, pkt->packet_id_span,
             printf_s(c, "id=%u opened in frame %u", pkt->packet_id, f->start->frame));
    if (f)
        flow_close(c->conn, c->me, pkt->packet_id, f);
    f = flow_open(c, pkt->type == MQTT_SUBSCRIBE ? FLOW_SUB : FLOW_UNSUB);
    f->nfilters = pkt->filter_count;
    expect(c->snap);
}

static void on_suback(ctx_t *c)
{
    const mqtt_pkt_t *pkt = c->pkt;
    bool sub = pkt->type == MQTT_SUBACK;
    flow_t *f = pkt->has_packet_id ? flow_get(c->peer, pkt->packet_id) : NULL;
    if (!pkt->has_packet_id)
        return;
    if (!f || f->kind != (sub ? FLOW_SUB : FLOW_UNSUB)) {
        ack_unknown(c, MQTT_R_SUBACK_UNKNOWN_ID);
        return;
    }
    link_response(c, f->last);
    if (sub && c->conn->subs)
        mqtt_subs_suback(c->conn->subs, pkt, f->start->frame, c->conn->scope, findings_of(c));
    else if (c->conn->subs)
        mqtt_subs_unsuback(c->conn->subs, f->start->frame, pkt->packet_id);
    bool counts = sub || is_v5(c);
    if (counts && pkt->code_count != f->nfilters && !pkt->capture_short)
        find(c, sub ? MQTT_R_SUBACK_COUNT : MQTT_R_UNSUBACK_COUNT, whole(c),
             printf_s(c, "%u codes for %u filters", pkt->code_count, f->nfilters));
    flow_close(c->conn, c->peer, pkt->packet_id, f);
}

/* ---- PINGREQ, AUTH, DISCONNECT -------------------------------------------------------- */

static void on_pingreq(ctx_t *c)
{
    mqtt_conn_t *conn = c->conn;
    expect(c->snap);
    if (conn->npings == conn->pings_capacity && conn->pings_capacity < MQTT_MAX_PENDING_PINGS) {
        conn->pings_capacity = conn->pings_capacity ? conn->pings_capacity * 2 : 2;
        conn->pings = wmem_realloc(conn->scope, conn->pings, conn->pings_capacity * sizeof conn->pings[0]);
    }
    if (conn->npings == MQTT_MAX_PENDING_PINGS) {
        if (limit_reached_now(conn, CAP_PINGS))
            find(c, MQTT_R_STATE_CAP, first_byte(),
                 printf_s(c, "%u PINGREQs await a PINGRESP; the oldest are forgotten", MQTT_MAX_PENDING_PINGS));
        /* Forget the oldest: it will be reported as unanswered. */
        memmove(conn->pings, conn->pings + 1, (MQTT_MAX_PENDING_PINGS - 1) * sizeof conn->pings[0]);
        conn->npings--;
    }
    conn->pings[conn->npings++] = c->snap;
}

static void on_pingresp(ctx_t *c)
{
    mqtt_conn_t *conn = c->conn;
    if (conn->npings == 0) {
        find(c, MQTT_R_UNSOLICITED, first_byte(), "PINGRESP without PINGREQ");
        return;
    }
    link_response(c, conn->pings[0]);
    memmove(conn->pings, conn->pings + 1, (conn->npings - 1) * sizeof conn->pings[0]);
    conn->npings--;
}

static bool same_method(const mqtt_conn_t *conn, const mqtt_prop_t *p)
{
    return strlen(conn->auth_method) == p->str.data.len &&
           memcmp(conn->auth_method, p->str.bytes, p->str.data.len) == 0;
}

static void on_auth(ctx_t *c)
{
    mqtt_conn_t *conn = c->conn;
    const mqtt_pkt_t *pkt = c->pkt;
    uint8_t code = pkt->has_reason ? pkt->reason : 0;
    const mqtt_prop_t *m = mqtt_props_find(&pkt->props, MQTT_PROP_AUTHENTICATION_METHOD);
    if (conn->connect && !conn->auth_method) {
        find(c, c->dir == MQTT_C2S ? MQTT_R_AUTH_UNANNOUNCED_CLIENT : MQTT_R_AUTH_UNANNOUNCED_SERVER, first_byte(),
             NULL);
    } else if (conn->auth_method && m && !same_method(conn, m)) {
        /* Re-authentication has its own statement ([MQTT-4.12.1-1]). */
        find_ref(c, MQTT_R_AUTH_METHOD_CHANGED, m->span, printf_s(c, "CONNECT used \"%s\"", conn->auth_method),
                 conn->connack ? "MQTT-4.12.1-1" : NULL);
    }
    if (conn->connect && !conn->connack && code != 0x18)
        find(c, c->dir == MQTT_C2S ? MQTT_R_AUTH_CODE_CLIENT : MQTT_R_AUTH_CODE_SERVER, pkt->has_reason ? pkt->reason_span : first_byte(),
             printf_s(c, "0x%02x", code));
    /* Re-authentication starts a new exchange. */
    if (code == 0x19 && conn->connack)
        conn->auth_last = NULL;
    /* The CONNECT's own response is the CONNACK: the first AUTH only
     * points back to it. */
    if (conn->auth_last && conn->auth_last != conn->connect)
        link_response(c, conn->auth_last);
    else if (conn->auth_last)
        link_back(c, conn->auth_last);
    if (code == 0x18 || code == 0x19) {
        expect(c->snap);
        conn->auth_last = c->snap;
    } else {
        conn->auth_last = NULL;
    }
}

/* What a 5.0 DISCONNECT's Reason Code says about the packets before it. */
static void disconnect_reason(ctx_t *c)
{
    mqtt_conn_t *conn = c->conn;
    uint8_t code = c->pkt->has_reason ? c->pkt->reason : 0;
    if (mqtt_reason_is_failure(code) && !c->me->failure_disconnect)
        c->me->failure_disconnect = c->snap->frame;
    if (code == 0x94 && c->peer->valid_alias_sent)
        find(c, c->dir == MQTT_S2C ? MQTT_R_VALID_ALIAS_REJECTED_SERVER : MQTT_R_VALID_ALIAS_REJECTED_CLIENT,
             c->pkt->reason_span, NULL);
    if (c->dir != MQTT_S2C)
        return;
    if ((code == 0x9B || code == 0x82) && conn->qos_over_maximum_asked)
        find(c, MQTT_R_SUBSCRIBE_QOS_REFUSED, c->pkt->reason_span, printf_s(c, "Maximum QoS %u", conn->max_qos));
    unsigned ka = conn->has_server_keepalive ? conn->server_keepalive : conn->keepalive;
    side_t *client = &conn->side[MQTT_C2S];
    if (code == 0x8D && ka && client->has_last) {
        nstime_t gap;
        mqtt_ns_to_nstime(ev_ns(c) - client->last_ns, &gap);
        if (nstime_to_sec(&gap) < 1.5 * ka)
            find(c, MQTT_R_EARLY_KEEPALIVE_TIMEOUT, c->pkt->reason_span,
                 printf_s(c, "%.3f s of silence, 1.5 x Keep Alive is %.1f s", nstime_to_sec(&gap), 1.5 * ka));
    }
}

static void on_disconnect(ctx_t *c)
{
    mqtt_conn_t *conn = c->conn;
    const mqtt_pkt_t *pkt = c->pkt;
    if (is_v5(c))
        disconnect_reason(c);
    if (is_v5(c) && c->dir == MQTT_S2C && conn->connect && (!conn->connack || conn->refused))
        find(c, MQTT_R_SERVER_DISCONNECT_EARLY, first_byte(), NULL);
    const mqtt_prop_t *sei = mqtt_props_find(&pkt->props, MQTT_PROP_SESSION_EXPIRY_INTERVAL);
    if (is_v5(c) && c->dir == MQTT_C2S && sei && sei->num && conn->connect && conn->session_expiry_zero)
        find(c, MQTT_R_SESSION_EXPIRY_RAISED, sei->span, NULL);
    c->me->disconnected = true;
}

/* ---- order of the conversation ---------------------------------------------------------- */

static void check_order(ctx_t *c)
{
    mqtt_conn_t *conn = c->conn;
    unsigned type = c->pkt->type;
    if (c->me->disconnected)
        find(c, MQTT_R_AFTER_DISCONNECT, first_byte(), NULL);
    else if (c->peer->failure_disconnect && !c->peer->disconnected_reported) {
        /* The peer ended the connection with a failure code, yet it goes
         * on ([MQTT-4.13.2-1]; during re-authentication [MQTT-4.12.1-2]). */
        c->peer->disconnected_reported = true;
        find(c, MQTT_R_FAILURE_NOT_CLOSED, first_byte(),
             printf_s(c, "DISCONNECT in frame %u", c->peer->failure_disconnect));
    }
    if (c->dir == MQTT_C2S) {
        if (!conn->connect && from_start(c) && type != MQTT_CONNECT && !c->me->has_last)
            find(c, MQTT_R_FIRST_NOT_CONNECT, first_byte(), mqtt_type_name(type));
        if (conn->auth_method && !conn->connack && type != MQTT_AUTH && type != MQTT_DISCONNECT &&
            type != MQTT_CONNECT)
            find(c, MQTT_R_BEFORE_CONNACK_WITH_AUTH, first_byte(), mqtt_type_name(type));
        return;
    }
    if (type == MQTT_CONNACK)
        return;
    if (conn->refused && type != MQTT_DISCONNECT)
        find(c, MQTT_R_SERVER_AFTER_REFUSAL, first_byte(), mqtt_type_name(type));
    else if (!conn->connack && (conn->connect || from_start(c)) && !(is_v5(c) && type == MQTT_AUTH) &&
             type != MQTT_DISCONNECT)
        find(c, MQTT_R_SERVER_BEFORE_CONNACK, first_byte(), mqtt_type_name(type));
}

static void check_size(ctx_t *c)
{
    const limits_t *receiver = &c->conn->announced[c->dir == MQTT_C2S ? MQTT_S2C : MQTT_C2S];
    if (!is_v5(c) || !receiver->present || !receiver->maximum_packet_size)
        return;
    if (c->pkt->total_len > receiver->maximum_packet_size)
        find(c, c->dir == MQTT_C2S ? MQTT_R_PACKET_TOO_LARGE_CLIENT : MQTT_R_PACKET_TOO_LARGE_SERVER, whole(c),
             printf_s(c, "%u bytes, maximum %u", c->pkt->total_len, receiver->maximum_packet_size));
}

/* With Request Problem Information 0 the server may put Reason String and
 * User Property only on PUBLISH, CONNACK and DISCONNECT ([MQTT-3.1.2-29]). */
static void check_problem_info(ctx_t *c)
{
    unsigned type = c->pkt->type;
    if (c->dir != MQTT_S2C || c->conn->request_problem_info || !is_v5(c) || type == MQTT_PUBLISH ||
        type == MQTT_CONNACK || type == MQTT_DISCONNECT)
        return;
    const mqtt_prop_t *p = mqtt_props_find(&c->pkt->props, MQTT_PROP_REASON_STRING);
    if (!p)
        p = mqtt_props_find(&c->pkt->props, MQTT_PROP_USER_PROPERTY);
    if (p)
        find(c, MQTT_R_PROBLEM_INFO_UNREQUESTED, p->span, p->spec->name);
}

/* The client's packets must not be further apart than Keep Alive; the
 * server must close after 1.5 x Keep Alive of silence.  Checked on every
 * packet, so that the first packet after a deadline reports it: the
 * client's late packet, or the server's answer to it.  A tenth of Keep
 * Alive is allowed for timing on the path. */
static void check_keepalive(ctx_t *c)
{
    mqtt_conn_t *conn = c->conn;
    side_t *client = &conn->side[MQTT_C2S];
    unsigned ka = conn->has_server_keepalive ? conn->server_keepalive : conn->keepalive;
    nstime_t gap;
    bool have_gap = client->has_last && conn->connect && ka;
    if (have_gap)
        mqtt_ns_to_nstime(ev_ns(c) - client->last_ns, &gap);
    if (c->dir == MQTT_C2S && client->has_last)
        c->snap->prev_client_frame = client->last_ns_frame;
    if (have_gap && c->pkt->type != MQTT_CONNECT) {
        double idle = nstime_to_sec(&gap);
        if (idle > ka * 1.1 && !conn->ka_reported) {
            conn->ka_reported = true;
            find_ref(c, MQTT_R_KEEPALIVE_EXCEEDED, first_byte(),
                     printf_s(c, "%.3f s since the client's last packet, Keep Alive %u s", idle, ka),
                     conn->has_server_keepalive ? "MQTT-3.1.2-21 / MQTT-3.2.2-21" : NULL);
        }
        if (idle > 1.5 * ka)
            conn->ka_overdue = true;
    }
    if (c->dir == MQTT_S2C && conn->ka_overdue) {
        conn->ka_overdue = false;
        if (c->pkt->type != MQTT_DISCONNECT) {
            find(c, MQTT_R_KEEPALIVE_NOT_ENFORCED, first_byte(), printf_s(c, "Keep Alive %u s", ka));
            conn->ka_enforce_reported = true;
        }
    }
    if (c->dir == MQTT_C2S) {
        client->has_last = true;
        client->last_ns = ev_ns(c);
        client->last_ns_frame = c->snap->frame;
        conn->ka_reported = false;
        conn->ka_enforce_reported = false;
    }
}

/* ---- entry point -------------------------------------------------------------------- */

/* Whether the sender may send this packet type at all; a packet in the
 * wrong direction is reported by the stateless checks and changes no
 * state. */
static bool sender_allowed(const ctx_t *c)
{
    const mqtt_type_spec_t *ts = mqtt_type_spec(c->pkt->type);
    return ((is_v5(c) ? ts->dir_v5 : ts->dir_v3) & MQTT_DIR_BIT(c->dir)) != 0;
}

static void dispatch(ctx_t *c)
{
    if (!sender_allowed(c))
        return;
    switch (c->pkt->type) {
    case MQTT_CONNECT: on_connect(c); break;
    case MQTT_CONNACK: on_connack(c); break;
    case MQTT_PUBLISH: on_publish(c); break;
    case MQTT_PUBACK: on_puback(c); break;
    case MQTT_PUBREC: on_pubrec(c); break;
    case MQTT_PUBREL: on_pubrel(c); break;
    case MQTT_PUBCOMP: on_pubcomp(c); break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE: on_subscribe(c); break;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK: on_suback(c); break;
    case MQTT_PINGREQ: on_pingreq(c); break;
    case MQTT_PINGRESP: on_pingresp(c); break;
    case MQTT_DISCONNECT: on_disconnect(c); break;
    case MQTT_AUTH:
        if (is_v5(c))
            on_auth(c);
        break;
    default: break;
    }
}

void mqtt_conn_update(mqtt_conn_t *conn, const mqtt_pkt_t *pkt, const mqtt_event_t *ev,
                      mqtt_snapshot_t *snap)
{
    ctx_t c = {conn, pkt, ev, snap, (enum mqtt_dir)snap->dir, &conn->side[snap->dir],
               &conn->side[!snap->dir]};
    snap->frame = ev->frame;
    snap->type = pkt->type;
    if (conn->npackets == 0 && !ev->saw_connection_start) {
        conn->mid_connection = true;
        if (pkt->type != MQTT_CONNECT)
            find(&c, MQTT_R_MID_CONNECTION, first_byte(), NULL);
    }
    if (snap->version_source == MQTT_VS_THIS)
        find(&c, MQTT_R_VERSION_INFERRED, first_byte(), mqtt_version_name(snap->version));
    /* A packet whose Remaining Length could not be read says nothing. */
    if (pkt->framed) {
        check_order(&c);
        check_size(&c);
        check_problem_info(&c);
        check_keepalive(&c);
        dispatch(&c);
        if (pkt->type != MQTT_DISCONNECT)
            c.me->last_frame = ev->frame;
    }
    if (conn->version_frame != (conn->who ? conn->who->version_frame : 0))
        set_identity(conn);
    snap->who = conn->who;
    conn->last = snap;
    conn->npackets++;
}
