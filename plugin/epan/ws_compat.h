/* ws_compat.h — what differs between the Wireshark versions mqttlens builds
 * against (4.0, 4.4 and 4.6 tested; 4.2 shares 4.4's code paths), in one
 * place:
 *
 *  - API changes, as one name each that the code calls;
 *  - the declarations of the two records mqttlens fills for Wireshark but
 *    whose headers Wireshark does not install (epan/sequence_analysis.h,
 *    ui/tap-credentials.h; Debian ships neither on any version).  The real
 *    header is used wherever the Wireshark built against has it; otherwise
 *    one declaration, written from that version's header, whose size and
 *    member offsets are checked at compile time against the values of that
 *    version (x86-64 and other LP64 targets; see the table at the end).  A
 *    wrong layout compiles, loads, and silently shows nothing (4.0's
 *    seq_analysis_item_t on 4.4 makes `-z flow,mqttlens` print no arrow),
 *    so a version whose layout is not known here is refused.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTTLENS_WS_COMPAT_H
#define MQTTLENS_WS_COMPAT_H

#include <stdbool.h>
#include <stddef.h>

#include <glib.h>
#include <ws_version.h>

#include <string.h>

#include <epan/address.h>
#include <epan/charsets.h>
#include <epan/packet.h>
#include <epan/packet_info.h>
#include <epan/tap.h>
#include <epan/tvbuff.h>

#define WS_COMPAT_VERSION (WIRESHARK_VERSION_MAJOR * 100 + WIRESHARK_VERSION_MINOR)
#define WS_COMPAT_AT_LEAST(major, minor) (WS_COMPAT_VERSION >= (major) * 100 + (minor))

#if WS_COMPAT_VERSION != 400 && WS_COMPAT_VERSION != 402 && WS_COMPAT_VERSION != 404 && WS_COMPAT_VERSION != 406
#error "mqttlens knows Wireshark 4.0, 4.2, 4.4 and 4.6 only: check ws_compat.h against this version's headers"
#endif

/* ---- API changes ------------------------------------------------------------ */

/* Boolean preferences, UAT check callbacks and seq_analysis_item_t take
 * C99 bool from 4.2 on (gboolean, an int, before). */
#if WS_COMPAT_AT_LEAST(4, 2)
typedef bool ws_compat_bool;
#else
typedef gboolean ws_compat_bool;
#endif

/* format_text() takes `const char *` from 4.2 on (`const guchar *` before). */
#if WS_COMPAT_AT_LEAST(4, 2)
#define ws_compat_format_text(pool, s, len) format_text((pool), (s), (len))
#else
#define ws_compat_format_text(pool, s, len) format_text((pool), (const guchar *)(s), (len))
#endif

/* tvb_child_uncompress() and tvb_uncompress() are deprecated for their
 * _zlib forms in 4.4. */
#if WS_COMPAT_AT_LEAST(4, 4)
#define ws_compat_tvb_child_uncompress tvb_child_uncompress_zlib
#define ws_compat_tvb_uncompress tvb_uncompress_zlib
#else
#define ws_compat_tvb_child_uncompress tvb_child_uncompress
#define ws_compat_tvb_uncompress tvb_uncompress
#endif

/* dissector_try_string() is deprecated in 4.6 for the _with_data form,
 * which also says whether the protocol's name goes to the Protocol column
 * (the old form always did). */
#if WS_COMPAT_AT_LEAST(4, 6)
#define ws_compat_dissector_try_string(table, s, tvb, pinfo, tree, data) \
    dissector_try_string_with_data((table), (s), (tvb), (pinfo), (tree), true, (data))
#else
#define ws_compat_dissector_try_string dissector_try_string
#endif

/* A field_info's value: embedded in 4.0, a pointer from 4.2 on (the
 * fvalue rework of 4.1). */
#if WS_COMPAT_AT_LEAST(4, 2)
#define ws_compat_fi_value(fi) ((fi)->value)
#else
#define ws_compat_fi_value(fi) (&(fi)->value)
#endif

/* Text given to Wireshark (Info column, item labels, expert messages) must
 * be valid UTF-8: 4.4 on cut it at the first byte that is not (4.0 showed
 * U+FFFD).  Returns `s` itself when valid, otherwise a copy in
 * `pool` with each invalid byte written as \xNN. */
static inline const char *ws_compat_valid_text(wmem_allocator_t *pool, const char *s)
{
    const gchar *bad;
    if (g_utf8_validate(s, -1, &bad))
        return s;
    wmem_strbuf_t *b = wmem_strbuf_new(pool, "");
    do {
        wmem_strbuf_append_len(b, s, (size_t)(bad - s));
        wmem_strbuf_append_printf(b, "\\x%02x", (unsigned char)*bad);
        s = bad + 1;
    } while (!g_utf8_validate(s, -1, &bad));
    wmem_strbuf_append(b, s);
    return wmem_strbuf_finalize(b);
}

/* A copy of a string field's value shown on other packets (the client id,
 * the topic an alias stands for) must equal the field Wireshark decoded
 * with ENC_UTF_8, where each invalid sequence became U+FFFD. */
static inline const char *ws_compat_utf8_value(wmem_allocator_t *pool, const char *s)
{
    if (!s || g_utf8_validate(s, -1, NULL))
        return s;
    return (const char *)get_utf_8_string(pool, (const guint8 *)s, (gint)strlen(s));
}

/* ---- TLS: a heuristic that claims the session ---------------------------------
 * A heuristic dissector of the "tls" list keeps the session's later records
 * by setting the session's application handle.  4.0 passes a pointer to that
 * handle as the heuristic's data; 4.4 and 4.6 pass struct tlsinfo
 * (epan/dissectors/packet-tls.h, installed), whose app_handle points at it.
 * Writing a handle over 4.4's tlsinfo claimed nothing: TLS decoded the
 * CONNECT through the heuristic and every later record as "Application
 * Data".  4.2 is assumed to be 4.4's; the layout check at the end refuses a
 * tlsinfo without app_handle. */
#if WS_COMPAT_AT_LEAST(4, 2)
#include <epan/dissectors/packet-tls.h>
#endif

static inline void ws_compat_tls_claim_session(void *data, dissector_handle_t handle)
{
    if (!data)
        return;
#if WS_COMPAT_AT_LEAST(4, 2)
    struct tlsinfo *tlsinfo = (struct tlsinfo *)data;
    if (tlsinfo->app_handle)
        *tlsinfo->app_handle = handle;
#else
    *(dissector_handle_t *)data = handle;
#endif
}

/* ---- constants Wireshark defines only in its sources -------------------------- */

/* struct tcp_analysis.conversation_completeness bits (epan/dissectors/
 * packet-tcp.c defines them, unchanged from 4.0 to 4.6; the header does
 * not). */
#define TCP_COMPLETENESS_SYNSENT 0x01
#define TCP_COMPLETENESS_SYNACK 0x02
#define TCP_COMPLETENESS_ACK 0x04
#define TCP_COMPLETENESS_DATA 0x08
#define TCP_COMPLETENESS_FIN 0x10
#define TCP_COMPLETENESS_RST 0x20

/* ---- ui/tap-credentials.h: the record of the "credentials" tap ------------------ */

#if defined(__has_include) && __has_include(<ui/tap-credentials.h>)
#include <ui/tap-credentials.h>
#define WS_COMPAT_REAL_TAP_CREDENTIALS 1
#else
/* The same members from 4.0 to 4.6 (guint became unsigned, gchar char).
 * tshark -z credentials prints num, proto, username, info. */
typedef struct tap_credential {
    unsigned num;            /* frame with the credential */
    unsigned username_num;   /* frame with the user name (0: none) */
    unsigned password_hf_id; /* field the GUI jumps to */
    char *username;
    const char *proto;
    char *info;
} tap_credential_t;
#endif

/* ---- epan/sequence_analysis.h: the flow graph -------------------------------------- */

#if defined(__has_include) && __has_include(<epan/sequence_analysis.h>)
#include <epan/sequence_analysis.h>
#define WS_COMPAT_REAL_SEQUENCE_ANALYSIS 1
#else
#if WS_COMPAT_VERSION == 402
/* No 4.2 header or package was available to check its layout against;
 * give the build 4.2's real header instead (README: "Wireshark built
 * from source"). */
#error "the layout of Wireshark 4.2's seq_analysis_item_t is unchecked: add its source tree with -DMQTTLENS_WIRESHARK_SOURCE=DIR"
#endif
/* The item and its strings are freed by Wireshark with g_free, so
 * everything put in an item must come from GLib's allocator. */
#define MAX_NUM_NODES 40

typedef struct _seq_analysis_item {
    guint32 frame_number;
    address src_addr;
    guint16 port_src;
    address dst_addr;
    guint16 port_dst;
    gchar *frame_label;  /* text on the arrow */
    gchar *time_str;
    gchar *comment;      /* text right of the graph */
    guint16 conv_num;
    unsigned fg_color;
    unsigned bg_color;
    ws_compat_bool has_color_filter;
    ws_compat_bool display; /* items not displayed are neither drawn nor counted */
    unsigned src_node;
    unsigned dst_node;
    guint16 line_style;
    guint32 info_type;   /* an enum (ga_info_type) from 4.4 on: int-sized */
    void *info_ptr;
#if WS_COMPAT_AT_LEAST(4, 6)
    void (*free_info_ptr)(void *info_ptr); /* frees info_ptr (4.6) */
#endif
} seq_analysis_item_t;

typedef struct _seq_analysis_info {
    const char *name;
    ws_compat_bool any_addr;
    int nconv;
    GQueue *items;
    GHashTable *ht;
    address nodes[MAX_NUM_NODES];
#if WS_COMPAT_AT_LEAST(4, 4)
    guint8 occurrence[MAX_NUM_NODES]; /* 4.4 on */
#endif
    guint32 num_nodes;
} seq_analysis_info_t;

WS_DLL_PUBLIC void register_seq_analysis(const char *name, const char *ui_name, const int proto_id,
                                         const char *tap_listener, guint tap_flags, tap_packet_cb tap_func);
WS_DLL_PUBLIC seq_analysis_item_t *sequence_analysis_create_sai_with_addresses(packet_info *pinfo,
                                                                               seq_analysis_info_t *sainfo);
#endif

/* ---- the layouts, checked -------------------------------------------------------------
 * Values read from each version's epan/sequence_analysis.h and
 * ui/tap-credentials.h (LP64: pointers 8 bytes, address 24 bytes).  With
 * the real headers they still hold, or the values below are wrong. */
#if GLIB_SIZEOF_VOID_P == 8
#define WS_COMPAT_CHECK(what, value) _Static_assert((what) == (value), #what " is not Wireshark's")
#if WS_COMPAT_VERSION == 400
#define WS_COMPAT_SAI_SIZE 0x90
#define WS_COMPAT_SAI_DISPLAY 0x70
#define WS_COMPAT_SAI_LINE_STYLE 0x7c
#define WS_COMPAT_SAI_INFO_PTR 0x88
#define WS_COMPAT_SAINFO_SIZE 1000
#define WS_COMPAT_SAINFO_NUM_NODES 992
#elif WS_COMPAT_VERSION == 404 || WS_COMPAT_VERSION == 406
#define WS_COMPAT_SAI_DISPLAY 0x6d
#define WS_COMPAT_SAI_LINE_STYLE 0x78
#define WS_COMPAT_SAI_INFO_PTR 0x80
#define WS_COMPAT_SAINFO_SIZE 1040
#define WS_COMPAT_SAINFO_NUM_NODES 1032
#if WS_COMPAT_VERSION == 404
#define WS_COMPAT_SAI_SIZE 0x88
#else
#define WS_COMPAT_SAI_SIZE 0x90 /* + free_info_ptr */
#endif
#endif
WS_COMPAT_CHECK(sizeof(address), 24);
#if WS_COMPAT_AT_LEAST(4, 2)
WS_COMPAT_CHECK(offsetof(struct tlsinfo, app_handle), 8);
#endif
WS_COMPAT_CHECK(sizeof(tap_credential_t), 40);
WS_COMPAT_CHECK(offsetof(tap_credential_t, username), 16);
WS_COMPAT_CHECK(offsetof(tap_credential_t, info), 32);
#ifdef WS_COMPAT_SAI_SIZE
WS_COMPAT_CHECK(sizeof(seq_analysis_item_t), WS_COMPAT_SAI_SIZE);
WS_COMPAT_CHECK(offsetof(seq_analysis_item_t, src_addr), 0x08);
WS_COMPAT_CHECK(offsetof(seq_analysis_item_t, dst_addr), 0x28);
WS_COMPAT_CHECK(offsetof(seq_analysis_item_t, frame_label), 0x48);
WS_COMPAT_CHECK(offsetof(seq_analysis_item_t, comment), 0x58);
WS_COMPAT_CHECK(offsetof(seq_analysis_item_t, conv_num), 0x60);
WS_COMPAT_CHECK(offsetof(seq_analysis_item_t, display), WS_COMPAT_SAI_DISPLAY);
WS_COMPAT_CHECK(offsetof(seq_analysis_item_t, line_style), WS_COMPAT_SAI_LINE_STYLE);
WS_COMPAT_CHECK(offsetof(seq_analysis_item_t, info_ptr), WS_COMPAT_SAI_INFO_PTR);
WS_COMPAT_CHECK(sizeof(seq_analysis_info_t), WS_COMPAT_SAINFO_SIZE);
WS_COMPAT_CHECK(offsetof(seq_analysis_info_t, items), 16);
WS_COMPAT_CHECK(offsetof(seq_analysis_info_t, nodes), 32);
WS_COMPAT_CHECK(offsetof(seq_analysis_info_t, num_nodes), WS_COMPAT_SAINFO_NUM_NODES);
#endif
#endif

#endif
