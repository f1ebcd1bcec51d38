/* mqtt_expert.c — expert fields built from the rule catalogue
 * (see mqtt_expert.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_expert.h"

#include <string.h>

#include <epan/expert.h>

#include "ws_compat.h"

static expert_field ei_rule[MQTT_RULE_COUNT];

/* One hidden field per family of findings, so that "mqttlens.rule" or
 * "mqttlens.security" selects every packet with such a finding. */
static const char *const families[] = {"malformed", "rule", "analysis", "security"};
static int hf_family[G_N_ELEMENTS(families)] = {-1, -1, -1, -1};

static int family_of(const char *abbrev)
{
    for (unsigned i = 0; i < G_N_ELEMENTS(families); i++) {
        size_t n = strlen(families[i]);
        if (strncmp(abbrev, families[i], n) == 0 && abbrev[n] == '.')
            return (int)i;
    }
    return -1;
}

static int group_of(enum mqtt_group g)
{
    switch (g) {
    case MQTT_G_MALFORMED: return PI_MALFORMED;
    case MQTT_G_PROTOCOL: return PI_PROTOCOL;
    case MQTT_G_SEQUENCE: return PI_SEQUENCE;
    case MQTT_G_RESPONSE: return PI_RESPONSE_CODE;
    case MQTT_G_SECURITY: return PI_SECURITY;
    case MQTT_G_UNDECODED: return PI_UNDECODED;
    case MQTT_G_ASSUMPTION: return PI_ASSUMPTION;
    case MQTT_G_COMMENT: break;
    }
    return PI_PROTOCOL;
}

static int severity_of(enum mqtt_severity s)
{
    switch (s) {
    case MQTT_S_ERROR: return PI_ERROR;
    case MQTT_S_WARN: return PI_WARN;
    case MQTT_S_NOTE: return PI_NOTE;
    case MQTT_S_CHAT: break;
    }
    return PI_CHAT;
}

void mqtt_expert_register(int proto)
{
    /* Registered once for the life of the program, hence never freed. */
    ei_register_info *ei = g_new0(ei_register_info, MQTT_RULE_COUNT);
    for (unsigned i = 0; i < MQTT_RULE_COUNT; i++) {
        const mqtt_rule_spec_t *r = &mqtt_rule_specs[i];
        ei_register_info row = {&ei_rule[i],
                                {g_strconcat("mqttlens.", r->abbrev, NULL), group_of(r->group),
                                 severity_of(r->severity), r->summary, EXPFILL}};
        ei[i] = row;
    }
    expert_module_t *module = expert_register_protocol(proto);
    expert_register_field_array(module, ei, MQTT_RULE_COUNT);

    static hf_register_info hf[G_N_ELEMENTS(families)];
    static const char *const names[] = {"Malformed packet finding", "Specification rule finding",
                                        "Connection analysis finding", "Security finding"};
    for (unsigned i = 0; i < G_N_ELEMENTS(families); i++) {
        hf_register_info row = {&hf_family[i],
                                {names[i], g_strconcat("mqttlens.", families[i], NULL), FT_NONE, BASE_NONE, NULL, 0,
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
    const char *msg = ws_compat_valid_text(
        pinfo->pool, wmem_strdup_printf(pinfo->pool, "%s%s%s%s%s%s", r->summary, f->detail ? ": " : "",
                                        f->detail ? f->detail : "", ref ? " [" : "", ref ? ref : "", ref ? "]" : ""));
    int family = family_of(r->abbrev);
    if (family >= 0)
        proto_item_set_hidden(proto_tree_add_item(tree, hf_family[family], tvb, 0, 0, ENC_NA));
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
