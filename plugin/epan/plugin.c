/* plugin.c — the exports Wireshark's plugin loader looks for.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define WS_BUILD_DLL
#include <epan/proto.h>
#include <ws_symbol_export.h>
#include <ws_version.h>

#include "mqtt_dissector.h"

#ifndef MQTTLENS_VERSION
#define MQTTLENS_VERSION "0.0.0"
#endif

/* The loader reads plugin_version's address as the string itself, so it
 * must be an array, not a pointer. */
WS_DLL_PUBLIC_DEF const gchar plugin_version[] = MQTTLENS_VERSION;
WS_DLL_PUBLIC_DEF const int plugin_want_major = WIRESHARK_VERSION_MAJOR;
WS_DLL_PUBLIC_DEF const int plugin_want_minor = WIRESHARK_VERSION_MINOR;

WS_DLL_PUBLIC void plugin_register(void);

/* From 4.2 the loader asks what kind of plugin this is (without it,
 * `tshark -G plugins` lists the type as "unknown"). */
#if WIRESHARK_VERSION_MAJOR > 4 || (WIRESHARK_VERSION_MAJOR == 4 && WIRESHARK_VERSION_MINOR >= 2)
#include <wsutil/plugins.h>
WS_DLL_PUBLIC uint32_t plugin_describe(void);

uint32_t plugin_describe(void)
{
    return WS_PLUGIN_DESC_DISSECTOR;
}
#endif

void plugin_register(void)
{
    static proto_plugin mqttlens = {proto_register_mqttlens, proto_reg_handoff_mqttlens};
    proto_register_plugin(&mqttlens);
}
