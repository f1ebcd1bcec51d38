#!/usr/bin/python3
"""An MQTT client over TLS that writes a TLS key log, so that Wireshark can
decrypt what it captured (mosquitto_pub and mosquitto_sub write none).

    python3 tools/tls-keylog-client.py --cafile ca.crt --keylog keys.log \\
        -t lab/tls -m "secret reading"
    tshark -r lab-tls.pcapng -o tls.keylog_file:keys.log -Y mqttlens

It connects (optionally with -u/-P), subscribes to the topic, publishes the
message at the QoS given, waits for it to come back and disconnects.
Python's ssl module writes the key log (SSLContext.keylog_filename, the NSS
format Wireshark reads); paho-mqtt 1.6.1 (Debian: python3-paho-mqtt) speaks
MQTT over that context.
"""

import argparse
import ssl
import sys
import threading

import paho.mqtt.client as mqtt


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8883)
    p.add_argument("--cafile", required=True, help="the CA that signed the broker's certificate")
    p.add_argument("--keylog", required=True, help="file the TLS secrets are appended to")
    p.add_argument("--insecure", action="store_true", help="do not check the certificate's host name")
    p.add_argument("-i", "--client-id", default="lab-tls-client")
    p.add_argument("-u", "--username")
    p.add_argument("-P", "--password")
    p.add_argument("-t", "--topic", default="lab/tls")
    p.add_argument("-m", "--message", default="hello over TLS")
    p.add_argument("-q", "--qos", type=int, choices=(0, 1, 2), default=1)
    p.add_argument("-V", "--mqtt-version", choices=("3.1.1", "5"), default="3.1.1")
    p.add_argument("--timeout", type=float, default=10.0)
    return p.parse_args()


def tls_context(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain (and the host name)
    ctx.load_verify_locations(cafile=args.cafile)
    ctx.check_hostname = not args.insecure
    ctx.keylog_filename = args.keylog
    return ctx


def main():
    args = parse_args()
    protocol = mqtt.MQTTv5 if args.mqtt_version == "5" else mqtt.MQTTv311
    client = mqtt.Client(client_id=args.client_id, protocol=protocol)
    client.tls_set_context(tls_context(args))
    if args.username:
        client.username_pw_set(args.username, args.password)
    done = threading.Event()
    failure = []

    def on_connect(c, userdata, flags, rc, properties=None):
        if rc != 0:
            failure.append(f"broker refused the connection: {mqtt.connack_string(rc) if isinstance(rc, int) else rc}")
            done.set()
            return
        c.subscribe(args.topic, qos=args.qos)

    def on_subscribe(c, userdata, mid, granted, properties=None):
        c.publish(args.topic, args.message, qos=args.qos)

    def on_message(c, userdata, msg):
        print(f"received {msg.topic}: {msg.payload.decode(errors='replace')}")
        done.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    try:
        client.connect(args.host, args.port, keepalive=60)
    except (OSError, ssl.SSLError) as e:
        sys.exit(f"cannot connect to {args.host}:{args.port}: {e}")
    client.loop_start()
    if not done.wait(args.timeout):
        failure.append(f"no message back within {args.timeout} s")
    client.disconnect()
    client.loop_stop()
    if failure:
        sys.exit(failure[0])
    print(f"TLS secrets written to {args.keylog}: tshark -o tls.keylog_file:{args.keylog}")


if __name__ == "__main__":
    main()
