/* mqtt_journey_tree.c — the "Journey" subtree (see mqtt_journey_tree.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_journey_tree.h"

#include "mqtt_expert.h"

static int hf_deliveries = -1;
static int hf_delivered_in = -1;
static int hf_maybe_delivered_in = -1;
static int hf_to_client = -1;
static int hf_missed_by = -1;
static int hf_refused_in = -1;
static int hf_delivery_of = -1;
static int hf_origin_kind = -1;
static int hf_from_client = -1;
static int hf_broker_latency = -1;
static int hf_ambiguous = -1;
static int hf_candidate = -1;
static gint ett_journey = -1;
static gint ett_delivery = -1;

static const value_string kind_vals[] = {
    {MQTT_JK_NONE, "Origin not in the capture"},
    {MQTT_JK_FORWARDED, "Forwarded PUBLISH"},
    {MQTT_JK_RETAINED, "Retained message"},
    {MQTT_JK_WILL, "Will Message"},
    {MQTT_JK_AMBIGUOUS, "Ambiguous"},
    {0, NULL},
};

static void generated(proto_item *item)
{
    proto_item_set_generated(item);
}

static void add_latency(proto_tree *tree, tvbuff_t *tvb, int64_t ns)
{
    nstime_t t;
    mqtt_ns_to_nstime(ns, &t);
    generated(proto_tree_add_time(tree, hf_broker_latency, tvb, 0, 0, &t));
}

/* ---- an origin -------------------------------------------------------------------- */

static void add_delivery(proto_tree *tree, tvbuff_t *tvb, const mqtt_journey_delivery_t *d)
{
    proto_item *item = proto_tree_add_uint(tree, d->ambiguous ? hf_maybe_delivered_in : hf_delivered_in, tvb, 0,
                                           0, d->frame);
    proto_item_append_text(item, " (to %s%s)", d->to_client, d->kind == MQTT_JK_RETAINED ? ", retained" : "");
    generated(item);
    proto_tree *sub = proto_item_add_subtree(item, ett_delivery);
    generated(proto_tree_add_string(sub, hf_to_client, tvb, 0, 0, d->to_client));
    if (d->kind == MQTT_JK_FORWARDED)
        add_latency(sub, tvb, d->latency_ns);
}

static void add_missed(proto_tree *tree, tvbuff_t *tvb, packet_info *pinfo, const mqtt_journey_missed_t *m,
                       unsigned version)
{
    proto_item *item = proto_tree_add_string(tree, hf_missed_by, tvb, 0, 0, m->client);
    proto_item_append_text(item, " (subscribed to \"%s\")", m->filter);
    generated(item);
    mqtt_expert_report(pinfo, tree, item, tvb, 0, &m->finding, version);
}

static void add_origin(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const mqtt_journey_t *j,
                       unsigned version)
{
    proto_item *ti;
    proto_tree *sub = proto_tree_add_subtree_format(tree, tvb, 0, 0, ett_journey, &ti,
                                                    "Journey: %u deliver%s in the capture", j->deliveries_total,
                                                    j->deliveries_total == 1 ? "y" : "ies");
    generated(ti);
    generated(proto_tree_add_uint(sub, hf_deliveries, tvb, 0, 0, j->deliveries_total));
    for (uint32_t i = 0; i < j->delivery_count; i++)
        add_delivery(sub, tvb, &j->deliveries[i]);
    for (uint32_t i = 0; i < j->missed_count; i++)
        add_missed(sub, tvb, pinfo, &j->missed[i], version);
    if (j->refused_in) {
        generated(proto_tree_add_uint(sub, hf_refused_in, tvb, 0, 0, j->refused_in));
        proto_item_append_text(ti, ", refused by the broker in frame %u", j->refused_in);
    }
}

/* ---- a delivery ------------------------------------------------------------------- */

static void add_source(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const mqtt_journey_t *j,
                       unsigned version)
{
    proto_item *ti;
    proto_tree *sub = proto_tree_add_subtree(tree, tvb, 0, 0, ett_journey, &ti, "Journey");
    generated(ti);
    if (j->kind == MQTT_JK_AMBIGUOUS) {
        proto_item_set_text(ti, "Journey: ambiguous, %u publications fit", j->candidate_count);
        generated(proto_tree_add_uint(sub, hf_origin_kind, tvb, 0, 0, j->kind));
        generated(proto_tree_add_uint(sub, hf_ambiguous, tvb, 0, 0, j->candidate_count));
        for (uint32_t i = 0; i < MIN(j->candidate_count, MQTT_JOURNEY_MAX_CANDIDATES); i++)
            generated(proto_tree_add_uint(sub, hf_candidate, tvb, 0, 0, j->candidates[i]));
        return;
    }
    if (j->kind == MQTT_JK_NONE) {
        proto_item_set_text(ti, "Journey: origin not in the capture");
        generated(proto_tree_add_uint(sub, hf_origin_kind, tvb, 0, 0, j->kind));
        return;
    }
    proto_item_set_text(ti, "Journey: %s of frame %u from %s", val_to_str_const(j->kind, kind_vals, "?"),
                        j->origin, j->from_client);
    generated(proto_tree_add_uint(sub, hf_origin_kind, tvb, 0, 0, j->kind));
    generated(proto_tree_add_uint(sub, hf_delivery_of, tvb, 0, 0, j->origin));
    generated(proto_tree_add_string(sub, hf_from_client, tvb, 0, 0, j->from_client));
    if (j->kind == MQTT_JK_FORWARDED)
        add_latency(sub, tvb, j->latency_ns);
    /* Hindsight: judged over every copy of the origin to this client. */
    if (j->qos_finding)
        mqtt_expert_report(pinfo, sub, ti, tvb, 0, j->qos_finding, version);
}

void mqtt_journey_tree_add(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const mqtt_journey_view_t *v,
                           unsigned version)
{
    const mqtt_journey_t *j = v->journey;
    if (!j)
        return;
    if (j->is_delivery)
        add_source(tvb, pinfo, tree, j, version);
    else if (v->origin_shown)
        add_origin(tvb, pinfo, tree, j, version);
    if (j->limit) {
        mqtt_finding_t f = {MQTT_R_JOURNEY_CAP, {0, 1}, j->limit, NULL};
        mqtt_expert_report(pinfo, tree, NULL, tvb, 0, &f, version);
    }
}

void mqtt_journey_comment(GString *s, const mqtt_journey_t *j)
{
    if (!j || !j->is_delivery)
        return;
    const char *sep = s->len ? "; " : "";
    switch (j->kind) {
    case MQTT_JK_FORWARDED:
        g_string_append_printf(s, "%sfrom %s frame %u, +%.2f ms", sep, j->from_client, j->origin,
                               (double)j->latency_ns / 1e6);
        break;
    case MQTT_JK_RETAINED:
        g_string_append_printf(s, "%sretained, from %s frame %u", sep, j->from_client, j->origin);
        break;
    case MQTT_JK_WILL:
        g_string_append_printf(s, "%sWill of %s, frame %u", sep, j->from_client, j->origin);
        break;
    case MQTT_JK_AMBIGUOUS:
        g_string_append_printf(s, "%sfrom one of %u publications", sep, j->candidate_count);
        break;
    default:
        break;
    }
}

void mqtt_journey_tree_register(int proto)
{
    static hf_register_info hf[] = {
        {&hf_deliveries, {"Deliveries", "mqttlens.journey.deliveries", FT_UINT32, BASE_DEC, NULL, 0,
                          "Origin (a PUBLISH the broker received, a CONNECT with a Will): how many PUBLISH packets "
                          "of the broker carry this message in the capture, ambiguous ones included", HFILL}},
        {&hf_delivered_in, {"Delivered in", "mqttlens.journey.delivered_in", FT_FRAMENUM, BASE_NONE,
                            FRAMENUM_TYPE(FT_FRAMENUM_RESPONSE), 0,
                            "Origin: a frame where the broker delivers this message (one per delivery)", HFILL}},
        {&hf_maybe_delivered_in, {"Maybe delivered in", "mqttlens.journey.maybe_delivered_in", FT_FRAMENUM,
                                  BASE_NONE, NULL, 0,
                                  "Origin: an ambiguous delivery, of this message or of an identical one", HFILL}},
        {&hf_to_client, {"To client", "mqttlens.journey.to_client", FT_STRING, BASE_NONE, NULL, 0,
                         "Origin: the subscriber of a delivery (client id, else address:port)", HFILL}},
        {&hf_missed_by, {"Not delivered to", "mqttlens.journey.missed_by", FT_STRING, BASE_NONE, NULL, 0,
                         "Origin: a subscriber with a matching granted subscription that got no copy within "
                         "the window (heuristic)", HFILL}},
        {&hf_refused_in, {"Refused by the broker in", "mqttlens.journey.refused_in", FT_FRAMENUM, BASE_NONE, NULL,
                          0, "Origin: the broker's PUBACK/PUBREC with a failure Reason Code for it, or its "
                          "DISCONNECT with a failure right after it; nobody is expected to receive it", HFILL}},
        {&hf_origin_kind, {"Origin", "mqttlens.journey.origin_kind", FT_UINT8, BASE_DEC, VALS(kind_vals), 0,
                           "Delivery: what the broker delivers (0: the origin is not in the capture)", HFILL}},
        {&hf_delivery_of, {"Delivery of", "mqttlens.journey.delivery_of", FT_FRAMENUM, BASE_NONE,
                           FRAMENUM_TYPE(FT_FRAMENUM_REQUEST), 0,
                           "Delivery: the PUBLISH the broker received (the CONNECT, for a Will Message)", HFILL}},
        {&hf_from_client, {"From client", "mqttlens.journey.from_client", FT_STRING, BASE_NONE, NULL, 0,
                           "Delivery: the publisher (client id, else address:port)", HFILL}},
        {&hf_broker_latency, {"Broker latency", "mqttlens.journey.broker_latency", FT_RELATIVE_TIME, BASE_NONE,
                              NULL, 0, "Forwarded message: from the PUBLISH the broker received to the delivery",
                              HFILL}},
        {&hf_ambiguous, {"Ambiguous", "mqttlens.journey.ambiguous", FT_UINT32, BASE_DEC, NULL, 0,
                         "Delivery: how many publications (from different publishers) fit equally", HFILL}},
        {&hf_candidate, {"Candidate", "mqttlens.journey.candidate", FT_FRAMENUM, BASE_NONE, NULL, 0,
                         "Ambiguous delivery: a publication it may be a copy of", HFILL}},
    };
    static gint *ett[] = {&ett_journey, &ett_delivery};
    proto_register_field_array(proto, hf, array_length(hf));
    proto_register_subtree_array(ett, array_length(ett));
}
