/* mqtt_rules.c — the catalogue of rules and findings (see mqtt_rules.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_rules.h"

#include <stddef.h>

const mqtt_rule_spec_t mqtt_rule_specs[MQTT_RULE_COUNT] = {
#define MQTT_RULE_ROW(e, abbrev, grp, sev, id3, id5, text) \
    [MQTT_R_##e] = {abbrev, MQTT_G_##grp, MQTT_S_##sev, id3, id5, text},
    MQTT_RULES(MQTT_RULE_ROW)
#undef MQTT_RULE_ROW
};

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
    switch (type) {
    case MQTT_PUBLISH: return sender == MQTT_S2C ? "MQTT-3.3.4-1 / MQTT-4.5.0-2" : "MQTT-3.3.4-1";
    case MQTT_SUBSCRIBE: return "MQTT-3.8.4-1";
    case MQTT_UNSUBSCRIBE: return "MQTT-3.10.4-4 / MQTT-3.10.4-5";
    case MQTT_PINGREQ: return "MQTT-3.12.4-1";
    case MQTT_PUBREL: return version == MQTT_V5 ? "MQTT-4.3.3-11" : "MQTT-4.3.3-2";
    default: return NULL;
    }
}
