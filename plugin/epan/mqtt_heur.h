/* mqtt_heur.h — MQTT recognised on any TCP port and inside TLS on any port.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_HEUR_H
#define MQTT_HEUR_H

#include <epan/packet.h>
#include <epan/prefs.h>

void mqtt_heur_register(int proto, module_t *module);
/* `dissect` is the function behind the `mqttlens` handle (TCP/TLS framing). */
void mqtt_heur_handoff(dissector_handle_t mqttlens, dissector_t dissect);

#endif
