/* ws_compat.h — declarations that Debian's Wireshark 4.0 development
 * headers lack, written to match the 4.0 sources (ABI of 4.0.17).
 *
 * Each block is guarded by the Wireshark version it was checked against;
 * building against another version stops here until it is checked again.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTTLENS_WS_COMPAT_H
#define MQTTLENS_WS_COMPAT_H

#include <glib.h>
#include <ws_version.h>

#include <epan/address.h>
#include <epan/packet_info.h>
#include <epan/tap.h>

#if WIRESHARK_VERSION_MAJOR != 4 || WIRESHARK_VERSION_MINOR != 0
#error "ws_compat.h was written for Wireshark 4.0: check its declarations against this version"
/* The record of the "credentials" tap (ui/tap-credentials.h, not
 * installed).  tshark -z credentials prints num, proto, username, info. */
typedef struct tap_credential {
    guint num;            /* frame with the credential */
    guint username_num;   /* frame with the user name (0: none) */
    guint password_hf_id; /* field the GUI jumps to */
    gchar *username;
    const gchar *proto;
    gchar *info;
} tap_credential_t;

/* epan/sequence_analysis.h (not installed): the flow graph.  The item
 * and its strings are freed by Wireshark with g_free, so everything put in
 * an item must come from GLib's allocator. */
#define SEQ_ANALYSIS_MAX_NODES 40

typedef struct _seq_analysis_item {
    guint32 frame_number;
    address src_addr;
    guint16 port_src;
    address dst_addr;
    guint16 port_dst;
    gchar *frame_label;   /* text on the arrow */
    gchar *time_str;
    gchar *comment;       /* text right of the graph */
    guint16 conv_num;
    unsigned fg_color;
    unsigned bg_color;
    gboolean has_color_filter;
    gboolean display;     /* items not displayed are neither drawn nor counted */
    guint src_node;
    guint dst_node;
    guint16 line_style;
    guint32 info_type;
    gpointer info_ptr;
} seq_analysis_item_t;

typedef struct _seq_analysis_info {
    const char *name;
    gboolean any_addr;
    int nconv;
    GQueue *items;
    GHashTable *ht;
    address nodes[SEQ_ANALYSIS_MAX_NODES];
    guint32 num_nodes;
} seq_analysis_info_t;

WS_DLL_PUBLIC void register_seq_analysis(const char *name, const char *ui_name, const int proto_id,
                                         const char *tap_listener, guint tap_flags, tap_packet_cb tap_func);
WS_DLL_PUBLIC seq_analysis_item_t *sequence_analysis_create_sai_with_addresses(packet_info *pinfo,
                                                                               seq_analysis_info_t *sainfo);

#endif

/* struct tcp_analysis.conversation_completeness bits (epan/dissectors/
 * packet-tcp.c defines them; the header does not). */
#define TCP_COMPLETENESS_SYNSENT 0x01
#define TCP_COMPLETENESS_SYNACK 0x02
#define TCP_COMPLETENESS_ACK 0x04
#define TCP_COMPLETENESS_DATA 0x08
#define TCP_COMPLETENESS_FIN 0x10
#define TCP_COMPLETENESS_RST 0x20

/* The record of the "credentials" tap (ui/tap-credentials.h, not
 * installed).  tshark -z credentials prints num, proto, username, info. */
typedef struct tap_credential {
    guint num;            /* frame with the credential */
    guint username_num;   /* frame with the user name (0: none) */
    guint password_hf_id; /* field the GUI jumps to */
    gchar *username;
    const gchar *proto;
    gchar *info;
} tap_credential_t;

/* epan/sequence_analysis.h (not installed): the flow graph.  The item
 * and its strings are freed by Wireshark with g_free, so everything put in
 * an item must come from GLib's allocator. */
#define SEQ_ANALYSIS_MAX_NODES 40

typedef struct _seq_analysis_item {
    guint32 frame_number;
    address src_addr;
    guint16 port_src;
    address dst_addr;
    guint16 port_dst;
    gchar *frame_label;   /* text on the arrow */
    gchar *time_str;
    gchar *comment;       /* text right of the graph */
    guint16 conv_num;
    unsigned fg_color;
    unsigned bg_color;
    gboolean has_color_filter;
    gboolean display;     /* items not displayed are neither drawn nor counted */
    guint src_node;
    guint dst_node;
    guint16 line_style;
    guint32 info_type;
    gpointer info_ptr;
} seq_analysis_item_t;

typedef struct _seq_analysis_info {
    const char *name;
    gboolean any_addr;
    int nconv;
    GQueue *items;
    GHashTable *ht;
    address nodes[SEQ_ANALYSIS_MAX_NODES];
    guint32 num_nodes;
} seq_analysis_info_t;

WS_DLL_PUBLIC void register_seq_analysis(const char *name, const char *ui_name, const int proto_id,
                                         const char *tap_listener, guint tap_flags, tap_packet_cb tap_func);
WS_DLL_PUBLIC seq_analysis_item_t *sequence_analysis_create_sai_with_addresses(packet_info *pinfo,
                                                                               seq_analysis_info_t *sainfo);

#endif
