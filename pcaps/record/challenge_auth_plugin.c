/*
 * challenge_auth_plugin.c - a TEST-ONLY MQTT 5.0 enhanced-authentication
 * plugin for mosquitto 2.0 (plugin API version 5).
 *
 * mosquitto 2.0.11 implements the broker side of the MQTT 5.0 AUTH packet,
 * but none of the plugins that Debian ships registers for the extended-auth
 * events, so nothing would ever send AUTH.  This tiny plugin exists only so
 * that pcaps/record.py can record a genuine AUTH exchange between the real
 * broker and a real client (mqtt.js).  It is NOT a security mechanism: the
 * "secrets" are fixed strings.
 *
 * Exchange, for the authentication method "MQTTLENS-CHALLENGE":
 *
 *   CONNECT  auth data "client-first"     ->
 *            <- AUTH 0x18 (continue)  auth data "server-challenge"
 *   AUTH 0x18 auth data "client-proof"    ->
 *            <- CONNACK 0x00          auth data "server-final"
 *
 * Re-authentication (client sends AUTH 0x19 with "client-first") follows
 * the same steps and ends with AUTH 0x00 instead of CONNACK.
 * A wrong proof is refused (mosquitto then sends its own failure code);
 * other methods are deferred, so mosquitto answers "Bad authentication
 * method".
 *
 * Built by pcaps/record.py with:
 *   gcc -shared -fPIC -o challenge_auth_plugin.so challenge_auth_plugin.c
 */
#include <stdio.h>
#include <string.h>

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#define LAB_METHOD "MQTTLENS-CHALLENGE"
#define LAB_CLIENT_FIRST "client-first"
#define LAB_SERVER_CHALLENGE "server-challenge"
#define LAB_CLIENT_PROOF "client-proof"
#define LAB_SERVER_FINAL "server-final"

static mosquitto_plugin_id_t *lab_plugin_id;

static int data_equals(const void *data, uint16_t len, const char *expected)
{
	size_t want = strlen(expected);

	return data != NULL && len == want && memcmp(data, expected, want) == 0;
}

static int reply_with(struct mosquitto_evt_extended_auth *ev, const char *text)
{
	size_t len = strlen(text);
	void *buf = mosquitto_malloc(len);

	if (buf == NULL) {
		return MOSQ_ERR_NOMEM;
	}
	memcpy(buf, text, len);
	ev->data_out = buf;
	ev->data_out_len = (uint16_t)len;
	return MOSQ_ERR_SUCCESS;
}

static int on_auth_start(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_extended_auth *ev = event_data;
	int rc;

	(void)event;
	(void)userdata;
	if (ev->auth_method == NULL || strcmp(ev->auth_method, LAB_METHOD) != 0) {
		return MOSQ_ERR_PLUGIN_DEFER;
	}
	if (!data_equals(ev->data_in, ev->data_in_len, LAB_CLIENT_FIRST)) {
		mosquitto_log_printf(MOSQ_LOG_NOTICE, "lab-auth: %s sent a bad first message",
				mosquitto_client_id(ev->client));
		return MOSQ_ERR_AUTH;
	}
	rc = reply_with(ev, LAB_SERVER_CHALLENGE);
	if (rc != MOSQ_ERR_SUCCESS) {
		return rc;
	}
	return MOSQ_ERR_AUTH_CONTINUE;
}

static int on_auth_continue(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_extended_auth *ev = event_data;

	(void)event;
	(void)userdata;
	/* mosquitto 2.0.11 passes auth_method == NULL to this event, so a
	 * missing method is taken to be ours (only START checks it). */
	if (ev->auth_method != NULL && strcmp(ev->auth_method, LAB_METHOD) != 0) {
		return MOSQ_ERR_PLUGIN_DEFER;
	}
	if (!data_equals(ev->data_in, ev->data_in_len, LAB_CLIENT_PROOF)) {
		mosquitto_log_printf(MOSQ_LOG_NOTICE, "lab-auth: %s sent a wrong proof",
				mosquitto_client_id(ev->client));
		return MOSQ_ERR_AUTH;
	}
	return reply_with(ev, LAB_SERVER_FINAL);
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	int i;

	for (i = 0; i < supported_version_count; i++) {
		if (supported_versions[i] == 5) {
			return 5;
		}
	}
	return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
		struct mosquitto_opt *options, int option_count)
{
	int rc;

	(void)userdata;
	(void)options;
	(void)option_count;
	lab_plugin_id = identifier;
	rc = mosquitto_callback_register(lab_plugin_id, MOSQ_EVT_EXT_AUTH_START,
			on_auth_start, NULL, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		return rc;
	}
	return mosquitto_callback_register(lab_plugin_id, MOSQ_EVT_EXT_AUTH_CONTINUE,
			on_auth_continue, NULL, NULL);
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
	(void)userdata;
	(void)options;
	(void)option_count;
	mosquitto_callback_unregister(lab_plugin_id, MOSQ_EVT_EXT_AUTH_START, on_auth_start, NULL);
	mosquitto_callback_unregister(lab_plugin_id, MOSQ_EVT_EXT_AUTH_CONTINUE, on_auth_continue, NULL);
	return MOSQ_ERR_SUCCESS;
}
