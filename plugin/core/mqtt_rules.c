/* mqtt_rules.c — the catalogue of rules and findings (see mqtt_rules.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_rules.h"

#include <stddef.h>

const mqtt_rule_spec_t mqtt_rule_specs[MQTT_RULE_COUNT] = {
#define MQTT_RULE_ROW(e, fam, name, grp, sev, id3, id5, text) \
    [MQTT_R_##e] = {MQTT_FAMILY_PREFIX_##fam name, MQTT_F_##fam, MQTT_G_##grp, MQTT_S_##sev, id3, id5, text},
    MQTT_RULES(MQTT_RULE_ROW)
#undef MQTT_RULE_ROW
};

const char *mqtt_family_name(enum mqtt_family family)
{
    static const char *const names[MQTT_FAMILY_COUNT] = {"malformed", "rule", "analysis", "security"};
    return family < MQTT_FAMILY_COUNT ? names[family] : NULL;
}

const char *mqtt_rule_ref(enum mqtt_rule rule, unsigned version)
{
    const mqtt_rule_spec_t *r = &mqtt_rule_specs[rule];
    if (version == MQTT_V5)
        return r->id_v5;
    if (version == MQTT_V311 || version == MQTT_V31)
        return r->id_v311;
    /* Version unknown: cite whichever exists, 5.0 first. */
    return r->id_v5 ? r->id_v5 : r->id_v311;
}

const char *mqtt_missing_response_ref(unsigned type, unsigned version, enum mqtt_dir sender)
{
    const mqtt_type_spec_t *ts = mqtt_type_spec(type);
    if (!ts)
        return NULL;
    if (sender == MQTT_S2C && ts->no_answer_to_client.v311) /* where the client's duty differs */
        return mqtt_ids_for(&ts->no_answer_to_client, version);
    return mqtt_ids_for(&ts->no_answer, version);
}
