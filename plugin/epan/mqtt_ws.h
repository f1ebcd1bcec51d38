/* mqtt_ws.h — MQTT over WebSocket (ws, and wss inside TLS).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_WS_H
#define MQTT_WS_H

#include <epan/packet.h>
#include <epan/prefs.h>

void mqtt_ws_register(int proto, module_t *module);
void mqtt_ws_handoff(void);
/* The preferences changed: the ws/wss ports move. */
void mqtt_ws_prefs_changed(void);

#endif
