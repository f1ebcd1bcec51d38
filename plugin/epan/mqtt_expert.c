/* mqtt_expert.c — expert fields built from the rule catalogue
 * (see mqtt_expert.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_expert.h"

#include <epan/expert.h>

static expert_field ei_rule[MQTT_RULE_COUNT];

/* One hidden field per family of findings, so that "mqttlens.rule" or
 * "mqttlens.security" selects every packet with such a finding. */
static int hf_family[MQTT_FAMILY_COUNT] = {-1, -1, -1, -1};

/* The catalogue's groups and severities are Wireshark's. */
static const int groups[] = {
    [MQTT_G_MALFORMED] = PI_MALFORMED, [MQTT_G_PROTOCOL] = PI_PROTOCOL,   [MQTT_G_SEQUENCE] = PI_SEQUENCE,
    [MQTT_G_SECURITY] = PI_SECURITY,   [MQTT_G_UNDECODED] = PI_UNDECODED, [MQTT_G_ASSUMPTION] = PI_ASSUMPTION,
};
static const int severities[] = {
    [MQTT_S_CHAT] = PI_CHAT, [MQTT_S_NOTE] = PI_NOTE, [MQTT_S_WARN] = PI_WARN, [MQTT_S_ERROR] = PI_ERROR,
};

void mqtt_expert_rows(ei_register_info *rows)
{
    for (unsigned i = 0; i < MQTT_RULE_COUNT; i++) {
        const mqtt_rule_spec_t *r = &mqtt_rule_specs[i];
        ei_register_info row = {&ei_rule[i],
                                {g_strconcat("mqttlens.", r->abbrev, NULL), groups[r->group],
                                 severities[r->severity], r->summary, EXPFILL}};
        rows[i] = row;
    }
}

expert_field *mqtt_expert_field(enum mqtt_rule rule)
{
    return &ei_rule[rule];
}

void mqtt_expert_register(int proto)
{
    /* Registered once for the life of the program, hence never freed. */
    ei_register_info *ei = g_new0(ei_register_info, MQTT_RULE_COUNT);
    mqtt_expert_rows(ei);
    expert_module_t *module = expert_register_protocol(proto);
    expert_register_field_array(module, ei, MQTT_RULE_COUNT);

    static hf_register_info hf[MQTT_FAMILY_COUNT];
    static const char *const names[MQTT_FAMILY_COUNT] = {
        [MQTT_F_MALFORMED] = "Malformed packet finding", [MQTT_F_RULE] = "Specification rule finding",
        [MQTT_F_ANALYSIS] = "Connection analysis finding", [MQTT_F_SECURITY] = "Security finding"};
    for (unsigned i = 0; i < MQTT_FAMILY_COUNT; i++) {
        hf_register_info row = {&hf_family[i],
                                {names[i], g_strconcat("mqttlens.", mqtt_family_name((enum mqtt_family)i), NULL),
                                 FT_NONE, BASE_NONE, NULL, 0,
                                 "Present (hidden) on every packet with a finding of this family", HFILL}};
        hf[i] = row;
    }
    proto_register_field_array(proto, hf, G_N_ELEMENTS(hf));
}

void mqtt_expert_report(packet_info *pinfo, proto_tree *tree, proto_item *item, tvbuff_t *tvb,
                        int base, const mqtt_finding_t *f, unsigned version)
{
    const mqtt_rule_spec_t *r = &mqtt_rule_specs[f->rule];
    const char *ref = f->ref ? f->ref : mqtt_rule_ref((enum mqtt_rule)f->rule, version);
    char *msg = wmem_strdup_printf(pinfo->pool, "%s%s%s%s%s%s", r->summary, f->detail ? ": " : "",
                                   f->detail ? f->detail : "", ref ? " [" : "", ref ? ref : "",
                                   ref ? "]" : "");
    proto_item_set_hidden(proto_tree_add_item(tree, hf_family[r->family], tvb, 0, 0, ENC_NA));
    if (item) {
        expert_add_info_format(pinfo, item, &ei_rule[f->rule], "%s", msg);
        return;
    }
    int len = (int)f->span.len;
    int avail = tvb_captured_length_remaining(tvb, base + (int)f->span.off);
    if (avail < 0)
        avail = 0;
    if (len > avail)
        len = avail;
    proto_tree_add_expert_format(tree, pinfo, &ei_rule[f->rule], tvb,
                                 avail ? base + (int)f->span.off : 0, len, "%s", msg);
}
