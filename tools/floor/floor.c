/* floor.c — the benchmark's floor: a plugin that only frames MQTT over TCP
 * (tcp_dissect_pdus with the Remaining Length) and adds one protocol item
 * per packet, nothing else.  tools/benchmark.py measures tshark with it to
 * know what reading the capture, TCP and framing cost, and subtracts that
 * from the built-in dissector's and mqttlens' runs: what is left is the
 * cost of understanding MQTT.
 *
 * Filter name "mqttfloor".  When enabled it takes TCP port 1883 from
 * whichever MQTT dissector holds it; when disabled (--disable-protocol
 * mqttfloor) it gives the port back to mqttlens, or to the built-in
 * dissector when mqttlens is disabled too.  Built with
 * -DMQTTLENS_BENCH_FLOOR=ON, never installed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define WS_BUILD_DLL
#include <epan/packet.h>
#include <epan/dissectors/packet-tcp.h>
#include <ws_symbol_export.h>
#include <ws_version.h>

#define FLOOR_TCP_PORT 1883

WS_DLL_PUBLIC_DEF const gchar plugin_version[] = "0.0.0";
WS_DLL_PUBLIC_DEF const int plugin_want_major = WIRESHARK_VERSION_MAJOR;
WS_DLL_PUBLIC_DEF const int plugin_want_minor = WIRESHARK_VERSION_MINOR;
WS_DLL_PUBLIC void plugin_register(void);

static int proto_floor = -1;
static dissector_handle_t floor_handle;

/* Fixed header: one byte, then a Variable Byte Integer of 1 to 4 bytes. */
static guint floor_pdu_len(packet_info *pinfo _U_, tvbuff_t *tvb, int offset, void *data _U_)
{
    guint avail = (guint)tvb_captured_length_remaining(tvb, offset);
    /* tvb_get_ptr: the byte accessors were renamed in 4.4 (tvb_get_uint8),
     * and the floor builds unchanged for every version. */
    const guint8 *p = tvb_get_ptr(tvb, offset, (gint)MIN(avail, 5u));
    guint64 len = 0;
    for (guint i = 1; i <= 4; i++) {
        if (i >= avail)
            return 0; /* the length continues in the next segment */
        guint8 b = p[i];
        len |= (guint64)(b & 0x7F) << (7 * (i - 1));
        if (!(b & 0x80))
            return (guint)(1 + i + len);
    }
    return avail; /* not a length: take the rest */
}

static int floor_pdu(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data _U_)
{
    col_set_str(pinfo->cinfo, COL_PROTOCOL, "MQTT");
    proto_tree_add_item(tree, proto_floor, tvb, 0, -1, ENC_NA);
    return (int)tvb_captured_length(tvb);
}

static int dissect_floor(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data)
{
    tcp_dissect_pdus(tvb, pinfo, tree, TRUE, 2, floor_pdu_len, floor_pdu, data);
    return (int)tvb_captured_length(tvb);
}

static void floor_take_port(void)
{
    dissector_handle_t lens = find_dissector("mqttlens"), builtin = find_dissector("mqtt");
    dissector_handle_t cur = dissector_get_uint_handle(find_dissector_table("tcp.port"), FLOOR_TCP_PORT);
    if (proto_is_protocol_enabled(find_protocol_by_id(proto_floor))) {
        dissector_change_uint("tcp.port", FLOOR_TCP_PORT, floor_handle);
    } else if (cur == floor_handle) {
        int lens_proto = proto_get_id_by_filter_name("mqttlens");
        gboolean lens_on = lens && lens_proto != -1 && proto_is_protocol_enabled(find_protocol_by_id(lens_proto));
        dissector_change_uint("tcp.port", FLOOR_TCP_PORT, lens_on ? lens : builtin);
    }
}

static void proto_register_floor(void)
{
    proto_floor = proto_register_protocol("MQTT framing only (benchmark floor)", "MQTTfloor", "mqttfloor");
    floor_handle = register_dissector("mqttfloor", dissect_floor, proto_floor);
    register_init_routine(floor_take_port);
}

static void proto_reg_handoff_floor(void)
{
}

void plugin_register(void)
{
    static proto_plugin floor = {proto_register_floor, proto_reg_handoff_floor};
    proto_register_plugin(&floor);
}
