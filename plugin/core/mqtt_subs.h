/* mqtt_subs.h — the subscriptions of one connection, and what they say
 * about the messages the server delivers.
 *
 * The client's SUBSCRIBE and the server's SUBACK build a table of topic
 * filters with their granted QoS and options.  Each PUBLISH the server
 * sends is matched against it (MQTT's '+' and '#' semantics, §4.7), which
 * exposes deliveries the subscriptions cannot explain.  These are the
 * heuristic rules of the rules sheet's section 6.4: they are only judged
 * when the capture holds the whole, fresh session.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MQTT_SUBS_H
#define MQTT_SUBS_H

#include "mqtt_wire.h"

#define MQTT_MAX_SUBSCRIPTIONS 4096u  /* filters kept per connection */
#define MQTT_RECENT_PUBLISHES 32u     /* client publications remembered for echoes */

typedef struct mqtt_subs mqtt_subs_t;

mqtt_subs_t *mqtt_subs_new(wmem_allocator_t *scope);

/* Whether `topic` matches `filter` (§4.7); a "$share/<name>/" prefix is
 * taken off the filter first, and '+' or '#' first never match a topic
 * that starts with '$' ([MQTT-4.7.2-1]). */
bool mqtt_topic_matches(const uint8_t *filter, uint32_t flen, const uint8_t *topic, uint32_t tlen);

/* The client's SUBSCRIBE: its filters wait for the SUBACK (the server may
 * deliver on them already, §3.8.4). */
void mqtt_subs_subscribe(mqtt_subs_t *subs, const mqtt_pkt_t *pkt, unsigned version, uint32_t frame);
/* The server's SUBACK for the SUBSCRIBE of `request_frame`: the n-th code
 * is for its n-th filter; checks that no granted QoS exceeds the requested
 * one ([MQTT-3.9.3-1]). */
void mqtt_subs_suback(mqtt_subs_t *subs, const mqtt_pkt_t *pkt, uint32_t request_frame, wmem_allocator_t *scope,
                      mqtt_findings_t *out);
/* The client's UNSUBSCRIBE of `frame`: its filters still match deliveries
 * (one may cross the request) but are no longer expected, until the
 * UNSUBACK for it removes them. */
void mqtt_subs_unsubscribe(mqtt_subs_t *subs, const mqtt_pkt_t *pkt, uint32_t frame);
void mqtt_subs_unsuback(mqtt_subs_t *subs, uint32_t request_frame, uint16_t packet_id);
/* A PUBLISH from the client, remembered to recognise its echo. */
void mqtt_subs_client_publish(mqtt_subs_t *subs, const mqtt_pkt_t *pkt);
/* A PUBLISH from the server, on `topic` (resolved when it came by alias). */
void mqtt_subs_server_publish(mqtt_subs_t *subs, const mqtt_pkt_t *pkt, const char *topic, uint32_t topic_len,
                              wmem_allocator_t *scope, mqtt_findings_t *out);
/* The filter of a granted subscription that makes the server send a
 * message on `topic` to this client: not waiting for its SUBACK, not
 * shared (a "$share/" group delivers to one member only, §4.8.2), and
 * for the client's own message (`own`) without No Local ([MQTT-3.8.3-3]).
 * NULL when there is none, or when the table is full. */
const char *mqtt_subs_expecting(const mqtt_subs_t *subs, const uint8_t *topic, uint32_t tlen, bool own);
/* A quick test before mqtt_subs_expecting() for many tables: the bit of
 * the first level of `t` (up to its first '/'), and whether a filter of
 * the table may match a topic whose first level has that bit.  False: no
 * filter can match ("+" and "#" match any first level, any other first
 * level only itself, §4.7.1); true may still find none. */
uint64_t mqtt_topic_first_level_bit(const uint8_t *t, uint32_t len);
bool mqtt_subs_may_match(const mqtt_subs_t *subs, uint64_t level_bit);
/* Whether the connection still holds a subscription with this filter
 * (one an UNSUBSCRIBE asked to remove, or a failure in a later SUBACK
 * removed, is not). */
bool mqtt_subs_holds(const mqtt_subs_t *subs, const char *filter);
/* The highest QoS granted to the client's non-shared subscriptions that
 * match `topic`; false when none matches, when one of them still waits for
 * its SUBACK or UNSUBACK, or when the table is full (the answer would be a
 * guess). */
bool mqtt_subs_max_granted(const mqtt_subs_t *subs, const uint8_t *topic, uint32_t tlen, unsigned *max);
/* Whether the table stopped growing at MQTT_MAX_SUBSCRIPTIONS. */
bool mqtt_subs_full(const mqtt_subs_t *subs);

#endif
