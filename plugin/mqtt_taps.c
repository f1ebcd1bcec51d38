/* mqtt_taps.c — records for Wireshark's taps (see mqtt_taps.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "mqtt_taps.h"

#include <epan/tap.h>

#include "mqtt_tree.h"
#include "ws_compat.h"

static int credentials_tap = -1;

void mqtt_taps_register(int proto)
{
    (void)proto;
}

void mqtt_taps_handoff(void)
{
    /* The tap belongs to Wireshark; it exists once HTTP, FTP, ... have
     * registered, and register_tap() returns it then. */
    credentials_tap = register_tap("credentials");
}

/* A CONNECT that names a user (or carries a password) is a login. */
static void queue_credentials(packet_info *pinfo, tvbuff_t *tvb, const mqtt_pkt_t *pkt, bool mask)
{
    bool user = pkt->username.flags & MQTT_STR_PRESENT;
    bool pass = pkt->password.flags & MQTT_STR_PRESENT;
    if (pkt->type != MQTT_CONNECT || (!user && !pass) || !have_tap_listener(credentials_tap))
        return;
    tap_credential_t *rec = wmem_new0(pinfo->pool, tap_credential_t);
    rec->num = pinfo->num;
    rec->username_num = user ? pinfo->num : 0;
    rec->password_hf_id = (guint)mqtt_tree_password_field();
    rec->username = user ? (gchar *)tvb_get_string_enc(pinfo->pool, tvb, (int)pkt->username.data.off,
                                                       (int)pkt->username.data.len, ENC_UTF_8)
                         : (gchar *)"";
    rec->proto = "MQTT";
    const char *client = (pkt->client_id.flags & MQTT_STR_PRESENT)
                             ? (const char *)tvb_get_string_enc(pinfo->pool, tvb, (int)pkt->client_id.data.off,
                                                                 (int)pkt->client_id.data.len, ENC_UTF_8)
                             : "?";
    const char *secret = !pass ? "no password"
                         : mask ? "password ********"
                                : (const char *)tvb_get_string_enc(pinfo->pool, tvb, (int)pkt->password.data.off,
                                                                    (int)pkt->password.data.len, ENC_UTF_8);
    rec->info = wmem_strdup_printf(pinfo->pool, "client id \"%s\", %s%s%s", client, pass && !mask ? "password \"" : "",
                                   secret, pass && !mask ? "\"" : "");
    tap_queue_packet(credentials_tap, pinfo, rec);
}

void mqtt_taps_queue(packet_info *pinfo, tvbuff_t *tvb, const mqtt_pkt_t *pkt, const mqtt_snapshot_t *snap,
                     bool mask_passwords)
{
    (void)snap;
    queue_credentials(pinfo, tvb, pkt, mask_passwords);
}
