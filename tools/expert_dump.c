/* expert_dump.c — prints the expert items mqttlens registers, one per
 * line, for tools/gen_docs.py: the rows mqtt_expert_register() hands to
 * Wireshark (field name, Wireshark's name of its group and severity,
 * summary), with the catalogue's family and statement ids.
 *
 *   name <TAB> family <TAB> group <TAB> severity <TAB> id 3.1.1 <TAB> id 5.0 <TAB> summary
 *
 * Nothing is registered: the program only reads the rows.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>

#include <epan/expert.h>

#include "mqtt_expert.h"

int main(void)
{
    static ei_register_info rows[MQTT_RULE_COUNT];
    mqtt_expert_rows(rows);
    for (unsigned i = 0; i < MQTT_RULE_COUNT; i++) {
        const mqtt_rule_spec_t *r = &mqtt_rule_specs[i];
        const expert_field_info *e = &rows[i].eiinfo;
        printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e->name, mqtt_family_name(r->family),
               val_to_str_const((guint32)e->group, expert_group_vals, "?"),
               val_to_str_const((guint32)e->severity, expert_severity_vals, "?"), r->id_v311 ? r->id_v311 : "",
               r->id_v5 ? r->id_v5 : "", e->summary);
    }
    return 0;
}
