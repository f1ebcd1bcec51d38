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

#endif
