#!/usr/bin/python3
"""Record the mqttlens lab captures (pcaps/lab/*.pcapng) with real software.

Run as root (dumpcap must be able to capture on the loopback interface):

    /usr/bin/python3 pcaps/record.py             # every scenario
    /usr/bin/python3 pcaps/record.py --only tls  # one scenario (repeatable)
    /usr/bin/python3 pcaps/record.py --list      # scenario names

Use Debian's /usr/bin/python3: paho-mqtt 1.6.1 (python3-paho-mqtt) is
installed for it.  Needs: mosquitto, mosquitto-clients, mosquitto-dev,
tshark/dumpcap/editcap, openssl, gcc, node + npm (pcaps/record/package.json).

Every scenario starts its own broker on 127.0.0.1 with configuration files
written to a temporary directory, starts dumpcap on "lo" with a capture
filter on the scenario's port, drives real clients, stops dumpcap and the
broker, then checks the capture with tshark.  Client ids, topics and
payloads are fixed, so a re-recording differs only in ephemeral ports,
timestamps and (for TLS/WebSocket) random protocol bytes.
"""

import argparse
import collections
import contextlib
import os
import queue
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

PCAPS = Path(__file__).resolve().parent
LAB_DIR = PCAPS / "lab"
TLS_DIR = PCAPS / "tls"
JS_DIR = PCAPS / "record"

HOST = "127.0.0.1"
MQTT_PORT = 1883
TLS_PORT = 8883
WS_PORT = 8080

# MQTT control packet type names, indexed by the 4-bit type.
MSGTYPES = {
    1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC",
    6: "PUBREL", 7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK",
    10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP",
    14: "DISCONNECT", 15: "AUTH",
}


class RecordError(Exception):
    """A scenario or a prerequisite failed."""


def say(msg=""):
    print(msg, flush=True)


# --------------------------------------------------------------------------
# processes, broker, capture
# --------------------------------------------------------------------------

class Lab:
    """Temporary directory plus every process started, for cleanup."""

    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.procs = []
        self.versions = {}
        self.new_certs = False

    def spawn(self, argv, logname, pipe_stdout=False, pipe_stdin=False, **kwargs):
        """Start a process; its output (stderr only, with pipe_stdout) goes to a log."""
        logf = open(self.tmp / logname, "wb")
        kwargs["stdout"] = subprocess.PIPE if pipe_stdout else logf
        kwargs["stderr"] = logf if pipe_stdout else subprocess.STDOUT
        kwargs["stdin"] = subprocess.PIPE if pipe_stdin else subprocess.DEVNULL
        proc = subprocess.Popen([str(a) for a in argv], **kwargs)
        proc.lab_log = self.tmp / logname
        proc.lab_logf = logf
        self.procs.append(proc)
        return proc

    def stop(self, proc, sig=signal.SIGTERM, timeout=10):
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        proc.lab_logf.close()
        if proc in self.procs:
            self.procs.remove(proc)
        return proc.returncode

    def stop_all(self):
        for proc in reversed(list(self.procs)):
            self.stop(proc)

    def log_tail(self, proc, lines=15):
        try:
            text = proc.lab_log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def listening_ports():
    out = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True).stdout
    ports = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 4:
            port = fields[3].rsplit(":", 1)[-1]
            if port.isdigit():
                ports.add(int(port))
    return ports


def require_free(ports):
    busy = sorted(set(ports) & listening_ports())
    for port in ports:
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            busy.append(port)
        finally:
            probe.close()
    if busy:
        raise RecordError(
            f"port(s) {sorted(set(busy))} already in use: stop the service "
            "listening there (e.g. a system mosquitto) and run again")


def wait_listening(proc, lab, ports, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RecordError(f"{proc.args[0]} exited ({proc.returncode}) while starting:\n"
                              + lab.log_tail(proc))
        if set(ports) <= listening_ports():
            return
        time.sleep(0.05)
    raise RecordError(f"{proc.args[0]} did not listen on {ports}:\n" + lab.log_tail(proc))


BROKER_COMMON = """\
# written by pcaps/record.py
user root
per_listener_settings false
persistence false
set_tcp_nodelay true
log_dest stdout
log_type error
log_type warning
log_type notice
log_type information
connection_messages true
"""


@contextlib.contextmanager
def mosquitto(lab, name, body, ports=(MQTT_PORT,), env=None):
    """Run mosquitto with BROKER_COMMON + body as configuration (env: extra
    environment variables)."""
    require_free(ports)
    conf = lab.tmp / f"{name}-mosquitto.conf"
    conf.write_text(BROKER_COMMON + body)
    kwargs = {"env": {**os.environ, **env}} if env else {}
    # stdbuf: line-buffered log, so a scenario can wait for a log line
    proc = lab.spawn(["stdbuf", "-oL", "mosquitto", "-c", conf], f"{name}-mosquitto.log", **kwargs)
    try:
        wait_listening(proc, lab, ports)
        yield proc
        if proc.poll() is not None:
            raise RecordError(f"mosquitto died during {name}:\n" + lab.log_tail(proc))
    finally:
        lab.stop(proc)


def plain_listener(extra=""):
    return f"listener {MQTT_PORT} {HOST}\nallow_anonymous true\n{extra}"


@contextlib.contextmanager
def capture(lab, name, bpf, comment):
    """dumpcap on lo into pcaps/lab/<name>.pcapng while the body runs."""
    tmpfile = lab.tmp / f"{name}.pcapng"
    comment = f"mqttlens lab capture {name}: {comment}; {lab.versions['summary']}"
    proc = lab.spawn(["dumpcap", "-i", "lo", "-f", bpf, "-w", tmpfile,
                      "--capture-comment", comment], f"{name}-dumpcap.log")
    deadline = time.monotonic() + 15
    while True:
        if proc.poll() is not None:
            raise RecordError(f"dumpcap exited ({proc.returncode}):\n" + lab.log_tail(proc))
        started = "Capturing on" in proc.lab_log.read_text(errors="replace")
        if started and tmpfile.exists() and tmpfile.stat().st_size > 0:
            break
        if time.monotonic() > deadline:
            raise RecordError("dumpcap did not start capturing:\n" + lab.log_tail(proc))
        time.sleep(0.05)
    time.sleep(0.4)
    ok = False
    try:
        yield
        ok = True
    finally:
        time.sleep(0.6 if ok else 0)
        rc = lab.stop(proc, signal.SIGINT)
    if rc != 0:
        raise RecordError(f"dumpcap ended with {rc}:\n" + lab.log_tail(proc))
    LAB_DIR.mkdir(parents=True, exist_ok=True)
    dest = LAB_DIR / f"{name}.pcapng"
    shutil.copyfile(tmpfile, dest)
    dest.chmod(0o644)
    say(f"  wrote {dest.relative_to(PCAPS.parent)} ({dest.stat().st_size} bytes)")


def format_counts(counts):
    order = {name: number for number, name in MSGTYPES.items()}
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(),
                                                    key=lambda kv: order.get(kv[0], 99)))


EXPERT_ERROR = 8388608  # _ws.expert.severity of "Error" (malformed and the like)


def mqtt_summary(path, expect_mqtt=True, extra_args=()):
    """Count MQTT packets by type in a capture (one tshark run); report frames
    with expert errors / Malformed; fail if there is no MQTT at all."""
    out = subprocess.run(
        ["tshark", "-r", path, *extra_args, "-Y",
         f"mqtt || _ws.malformed || _ws.expert.severity >= {EXPERT_ERROR}",
         "-T", "fields", "-E", "separator=;", "-e", "frame.number", "-e", "mqtt.msgtype",
         "-e", "_ws.malformed", "-e", "_ws.expert.severity"],
        capture_output=True, text=True)
    if out.returncode != 0:
        raise RecordError(f"tshark failed on {path}: {out.stderr.strip()}")
    counts = collections.Counter()
    bad = []
    for line in out.stdout.splitlines():
        frame, types, malformed, severities = (line.split(";") + ["", "", ""])[:4]
        for value in types.split(","):
            if value.strip():
                counts[MSGTYPES.get(int(value), value)] += 1
        if malformed or any(v and int(v) >= EXPERT_ERROR for v in severities.split(",")):
            bad.append(frame)
    text = format_counts(counts)
    how = " (tshark " + " ".join(extra_args) + ")" if extra_args else ""
    say(f"  {Path(path).name}{how}: {sum(counts.values())} MQTT: {text or 'none'}")
    if bad:
        say(f"  note: tshark reports Malformed/expert errors in frames {', '.join(bad[:10])}")
    if expect_mqtt and not counts:
        raise RecordError(f"{path}: no MQTT packets recorded")
    if not expect_mqtt and counts:
        raise RecordError(f"{path}: MQTT visible although it should not be")
    return counts


def require_types(counts, names, what):
    missing = [n for n in names if not counts.get(n)]
    if missing:
        raise RecordError(f"{what}: missing {', '.join(missing)}")


# --------------------------------------------------------------------------
# command line clients and node scripts
# --------------------------------------------------------------------------

def run(argv, what, timeout=30, cwd=None, quiet=False):
    res = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                         timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        raise RecordError(f"{what} failed ({res.returncode}):\n{res.stdout}{res.stderr}")
    for line in res.stdout.splitlines():
        if line.strip() and not quiet:
            say(f"  {what}: {line.strip()}")
    return res.stdout


def mosquitto_pub(lab, version, client_id, topic, message, qos, linger=0.3):
    """mosquitto_pub -l: publish one line read from stdin, keep the connection
    for `linger` seconds (so the broker's onward delivery finishes first), then
    DISCONNECT at end of input."""
    proc = lab.spawn(["mosquitto_pub", "-h", HOST, "-p", MQTT_PORT, "-V", version, "--nodelay",
                      "-i", client_id, "-t", topic, "-q", qos, "-l"],
                     f"mosquitto_pub-{client_id}.log", pipe_stdin=True)
    proc.stdin.write(message.encode() + b"\n")
    proc.stdin.flush()
    time.sleep(linger)
    proc.stdin.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        lab.stop(proc)
        raise RecordError(f"mosquitto_pub {client_id} did not finish") from None
    lab.stop(proc)
    if proc.returncode != 0:
        raise RecordError(f"mosquitto_pub {client_id} failed ({proc.returncode}): "
                          + lab.log_tail(proc))


def node(lab, script, *args, timeout=60):
    return run(["node", JS_DIR / script, *args], f"node {script}", timeout=timeout, cwd=JS_DIR)


# --------------------------------------------------------------------------
# paho-mqtt 1.6.1 wrapper with blocking steps
# --------------------------------------------------------------------------

def paho():
    try:
        import paho.mqtt.client as client
        from paho.mqtt.properties import Properties
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.reasoncodes import ReasonCodes
        from paho.mqtt.subscribeoptions import SubscribeOptions
    except ImportError as exc:
        raise RecordError("paho-mqtt missing: run with /usr/bin/python3 "
                          "(apt-get install python3-paho-mqtt)") from exc
    return client, Properties, PacketTypes, ReasonCodes, SubscribeOptions


def props(packet_type, **values):
    """Build a paho Properties object: props('PUBLISH', ContentType='x')."""
    _, Properties, PacketTypes, _, _ = paho()
    prop = Properties(getattr(PacketTypes, packet_type))
    for key, value in values.items():
        setattr(prop, key, value)
    return prop


class Client:
    """A paho client driven step by step; every step waits for its answer."""

    TIMEOUT = 10

    def __init__(self, client_id, version, clean=True, username=None, password=None,
                 will=None, tls_context=None, port=MQTT_PORT, websocket_path=None):
        mqtt = paho()[0]
        self.version = version
        self.port = port
        self.client_id = client_id
        proto = {"3.1": mqtt.MQTTv31, "3.1.1": mqtt.MQTTv311, "5": mqtt.MQTTv5}[version]
        kwargs = {"client_id": client_id, "protocol": proto, "reconnect_on_failure": False}
        if websocket_path is not None:
            kwargs["transport"] = "websockets"
        if version != "5":
            kwargs["clean_session"] = clean
        self.c = mqtt.Client(**kwargs)
        if username is not None:
            self.c.username_pw_set(username, password)
        if will is not None:
            self.c.will_set(**will)
        if tls_context is not None:
            self.c.tls_set_context(tls_context)
        if websocket_path is not None:
            self.c.ws_set_options(path=websocket_path)
        self.cond = threading.Condition()
        self.connack = None
        self.acks = {}
        self.published = set()
        self.closed = False
        self.messages = queue.Queue()
        self.c.on_socket_open = self._on_socket_open
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = self._on_subscribe
        self.c.on_unsubscribe = self._on_unsubscribe
        self.c.on_publish = self._on_publish
        self.c.on_message = self._on_message
        self.c.on_disconnect = self._on_disconnect

    # callbacks (paho passes fewer arguments for MQTT 3.x)
    def _on_socket_open(self, client, userdata, sock):
        sock = getattr(sock, "_socket", sock)  # paho's WebSocket wrapper holds the socket
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        with self.cond:
            self.connack = (int(rc) if not hasattr(rc, "value") else rc.value, flags, properties)
            self.cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self.cond:
            self.acks[("sub", mid)] = [getattr(g, "value", g) for g in granted]
            self.cond.notify_all()

    def _on_unsubscribe(self, client, userdata, mid, properties=None, reasoncodes=None):
        with self.cond:
            if reasoncodes is not None and not isinstance(reasoncodes, list):
                reasoncodes = [reasoncodes]
            self.acks[("unsub", mid)] = [getattr(r, "value", r) for r in reasoncodes or []]
            self.cond.notify_all()

    def _on_publish(self, client, userdata, mid):
        with self.cond:
            self.published.add(mid)
            self.cond.notify_all()

    def _on_message(self, client, userdata, msg):
        self.messages.put(msg)

    def _on_disconnect(self, client, userdata, rc, properties=None):
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def _wait(self, predicate, what):
        with self.cond:
            if not self.cond.wait_for(predicate, self.TIMEOUT):
                raise RecordError(f"{self.client_id}: timeout waiting for {what}")

    # steps
    def connect(self, keepalive=60, clean_start=True, properties=None, expect=0):
        kwargs = {"keepalive": keepalive}
        if self.version == "5":
            kwargs["clean_start"] = clean_start
            kwargs["properties"] = properties
        self.c.connect(HOST, self.port, **kwargs)
        self.c.loop_start()
        self._wait(lambda: self.connack is not None, "CONNACK")
        rc, flags, _ = self.connack
        if rc != expect:
            raise RecordError(f"{self.client_id}: CONNACK {rc:#x}, expected {expect:#x}")
        if rc != 0:
            self._wait(lambda: self.closed, "connection close after refusal")
            self.c.loop_stop()
        say(f"  {self.client_id} ({self.version}): CONNACK {rc:#04x} "
            f"session present {flags.get('session present', 0)}")
        return self.connack

    def subscribe(self, topics, properties=None):
        rc, mid = self.c.subscribe(topics, properties=properties)
        if rc != 0:
            raise RecordError(f"{self.client_id}: subscribe failed {rc}")
        self._wait(lambda: ("sub", mid) in self.acks, "SUBACK")
        say(f"  {self.client_id}: SUBACK {self.acks[('sub', mid)]}")
        return self.acks[("sub", mid)]

    def unsubscribe(self, topics, properties=None):
        rc, mid = self.c.unsubscribe(topics, properties=properties)
        if rc != 0:
            raise RecordError(f"{self.client_id}: unsubscribe failed {rc}")
        self._wait(lambda: ("unsub", mid) in self.acks, "UNSUBACK")
        say(f"  {self.client_id}: UNSUBACK {self.acks[('unsub', mid)] or '(no reason codes)'}")
        return self.acks[("unsub", mid)]

    def publish(self, topic, payload, qos=0, retain=False, properties=None):
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if info.rc != 0:
            raise RecordError(f"{self.client_id}: publish failed {info.rc}")
        self._wait(lambda: info.mid in self.published, f"PUBLISH mid {info.mid} completion")
        return info.mid

    def publish_nowait(self, topic, payload, qos=0, properties=None):
        """Send a PUBLISH the broker is expected to answer with DISCONNECT."""
        info = self.c.publish(topic, payload, qos=qos, properties=properties)
        if info.rc != 0:
            raise RecordError(f"{self.client_id}: publish failed {info.rc}")

    def expect(self, count, timeout=TIMEOUT):
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RecordError(f"{self.client_id}: got {len(got)} of {count} messages: "
                                  + ", ".join(m.topic for m in got))
            try:
                got.append(self.messages.get(timeout=left))
            except queue.Empty:
                continue
        for msg in got:
            payload = msg.payload if len(msg.payload) <= 40 else msg.payload[:20] + b"..."
            say(f"  {self.client_id} got {msg.topic} q{msg.qos} r{int(msg.retain)} "
                f"{len(msg.payload)}B {payload!r}")
        return got

    def expect_nothing(self, wait=0.3):
        time.sleep(wait)
        if not self.messages.empty():
            raise RecordError(f"{self.client_id}: unexpected message {self.messages.get().topic}")

    def disconnect(self, reasoncode=None, properties=None):
        self.c.disconnect(reasoncode=reasoncode, properties=properties)
        self._wait(lambda: self.closed, "connection close after DISCONNECT")
        self.c.loop_stop()

    def wait_closed_by_broker(self):
        self._wait(lambda: self.closed, "broker closing the connection")
        self.c.loop_stop()


def pause(seconds=0.15):
    time.sleep(seconds)


# --------------------------------------------------------------------------
# scenarios
# --------------------------------------------------------------------------

SCENARIOS = []


def scenario(name, outputs):
    def register(func):
        SCENARIOS.append((name, outputs, func))
        return func
    return register


def publish_flows(lab, version, tag, name):
    topic = f"lab/publish/{tag}"
    desc = (f"MQTT {vname(version)} PUBLISH at QoS 0, 1, 2 by mosquitto_pub (one connection each) "
            f"to a mosquitto_sub subscriber at QoS 2")
    with mosquitto(lab, name, plain_listener()):
        with capture(lab, name, f"tcp port {MQTT_PORT}", desc):
            sub = lab.spawn(["mosquitto_sub", "-h", HOST, "-p", MQTT_PORT, "-V", version_arg(version),
                             "--nodelay", "-i", f"lab-sub-{tag}", "-t", topic, "-q", "2",
                             "-C", "3", "-W", "20", "-v"], f"{name}-sub.log")
            pause(0.6)
            for qos in (0, 1, 2):
                mosquitto_pub(lab, version_arg(version), f"lab-pub-{tag}-q{qos}", topic,
                              f"QoS {qos} message from an MQTT {vname(version)} client", qos)
                pause(0.2)
            try:
                sub.wait(10)
            except subprocess.TimeoutExpired:
                raise RecordError(f"mosquitto_sub {tag} did not receive 3 messages") from None
            say(f"  mosquitto_sub: {lab.log_tail(sub, 3).replace(chr(10), ' | ')}")
            if lab.stop(sub) != 0:
                raise RecordError(f"mosquitto_sub {tag} failed")
    counts = mqtt_summary(LAB_DIR / f"{name}.pcapng")
    require_types(counts, ["PUBACK", "PUBREC", "PUBREL", "PUBCOMP"], name)


def vname(version):
    return "5.0" if version == "5" else version


def version_arg(version):
    return {"3.1": "mqttv31", "3.1.1": "mqttv311", "5": "mqttv5"}[version]


@scenario("publish-v31", ["publish-qos012-v31"])
def scen_publish_v31(lab):
    publish_flows(lab, "3.1", "v31", "publish-qos012-v31")


@scenario("publish-v311", ["publish-qos012-v311"])
def scen_publish_v311(lab):
    publish_flows(lab, "3.1.1", "v311", "publish-qos012-v311")


@scenario("publish-v5", ["publish-qos012-v5"])
def scen_publish_v5(lab):
    publish_flows(lab, "5", "v5", "publish-qos012-v5")


def subscribe_flows(lab, version, tag, name):
    desc = (f"MQTT {vname(version)} SUBSCRIBE with exact, + and # filters at QoS 0/1/2 in one packet, "
            "deliveries, UNSUBSCRIBE (paho-mqtt)")
    base = f"lab/sub/{tag}"
    with mosquitto(lab, name, plain_listener()):
        with capture(lab, name, f"tcp port {MQTT_PORT}", desc):
            sub = Client(f"lab-sub-{tag}", version)
            pub = Client(f"lab-subpub-{tag}", version)
            sub.connect()
            pause()
            if version == "5":
                SubscribeOptions = paho()[4]
                topics = [
                    (f"{base}/exact", SubscribeOptions(qos=0)),
                    (f"{base}/+/temp", SubscribeOptions(qos=1, retainAsPublished=True)),
                    (f"{base}/#", SubscribeOptions(qos=2, noLocal=True, retainHandling=1)),
                ]
            else:
                topics = [(f"{base}/exact", 0), (f"{base}/+/temp", 1), (f"{base}/#", 2)]
            sub.subscribe(topics)
            pause()
            pub.connect()
            pause()
            pub.publish(f"{base}/exact", "to the exact filter", qos=0)
            pause()
            pub.publish(f"{base}/kitchen/temp", "21.5", qos=1)
            pause()
            pub.publish(f"{base}/cellar/door", "closed", qos=2)
            # exact matches exact and #; kitchen/temp matches + and #; door matches #.
            # mosquitto 2.0.11 sends overlapping matches once to an MQTT 3.1.1
            # client but once per matching subscription to an MQTT 5.0 client
            sub.expect(5 if version == "5" else 3)
            pause()
            unsub = [f"{base}/exact", f"{base}/+/temp"]
            if version == "5":
                unsub.append(f"{base}/never/subscribed")
            sub.unsubscribe(unsub)
            pause()
            pub.publish(f"{base}/kitchen/temp", "22.0", qos=1)
            sub.expect(1)
            pause()
            sub.unsubscribe(f"{base}/#")
            pause()
            pub.publish(f"{base}/exact", "nobody listens", qos=0)
            sub.expect_nothing()
            pub.disconnect()
            pause()
            sub.disconnect()
    counts = mqtt_summary(LAB_DIR / f"{name}.pcapng")
    require_types(counts, ["SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK"], name)


@scenario("subscribe-v311", ["subscribe-v311"])
def scen_subscribe_v311(lab):
    subscribe_flows(lab, "3.1.1", "v311", "subscribe-v311")


@scenario("subscribe-v5", ["subscribe-v5"])
def scen_subscribe_v5(lab):
    subscribe_flows(lab, "5", "v5", "subscribe-v5")


def compare_session(lab, version, tag, name):
    desc = (f"MQTT {vname(version)} session for comparison (paho-mqtt): will, SUBSCRIBE, retained "
            "PUBLISH, QoS 1/2 both ways, PINGREQ from keepalive 2 s, UNSUBSCRIBE, DISCONNECT")
    will = {"topic": "lab/compare/will", "payload": f"{tag} client vanished", "qos": 1,
            "retain": False}
    with mosquitto(lab, name, plain_listener()):
        with capture(lab, name, f"tcp port {MQTT_PORT}", desc):
            cl = Client(f"lab-cmp-{tag}", version, will=will)
            cl.connect(keepalive=2)
            pause()
            cl.subscribe([("lab/compare/#", 2)])
            pause()
            cl.publish("lab/compare/status", "online", qos=0, retain=True)
            cl.expect(1)
            pause()
            cl.publish("lab/compare/data", "qos 1 round trip", qos=1)
            cl.expect(1)
            pause()
            cl.publish("lab/compare/data", "qos 2 round trip", qos=2)
            cl.expect(1)
            # keepalive 2 s: paho pings 2..3 s after the last packet it sent;
            # 3.5 s of silence gives exactly one PINGREQ/PINGRESP
            time.sleep(3.5)
            cl.unsubscribe("lab/compare/#")
            pause()
            cl.publish("lab/compare/status", b"", qos=0, retain=True)
            pause()
            cl.disconnect()
    counts = mqtt_summary(LAB_DIR / f"{name}.pcapng")
    require_types(counts, ["PINGREQ", "PINGRESP", "PUBREL", "UNSUBACK", "DISCONNECT"], name)


@scenario("session-v31", ["session-v31"])
def scen_session_v31(lab):
    compare_session(lab, "3.1", "v31", "session-v31")


@scenario("session-v311", ["session-v311"])
def scen_session_v311(lab):
    compare_session(lab, "3.1.1", "v311", "session-v311")


@scenario("ping-disconnect-v5", ["ping-disconnect-v5"])
def scen_ping_disconnect_v5(lab):
    name = "ping-disconnect-v5"
    _, _, PacketTypes, ReasonCodes, _ = paho()
    desc = ("MQTT 5.0 keepalive 2 s PINGREQ/PINGRESP, DISCONNECT 0x04 (with will message) "
            "and will delivery, session takeover (mosquitto just closes the old connection), "
            "DISCONNECT with a Session Expiry Interval property, broker DISCONNECT 0x94 (topic "
            "alias invalid) and 0x95 (packet too large, max_packet_size 1024) (paho-mqtt)")
    with mosquitto(lab, name, plain_listener("max_packet_size 1024\n")):
        with capture(lab, name, f"tcp port {MQTT_PORT}", desc):
            watch = Client("lab-v5-watch", "5")
            watch.connect()
            pause()
            watch.subscribe([("lab/v5/gone/#", 1)])
            pause()
            ka = Client("lab-v5-keepalive", "5", will={
                "topic": "lab/v5/gone/keepalive", "payload": "keepalive client left with will",
                "qos": 1, "retain": False})
            ka.connect(keepalive=2)
            time.sleep(3.5)  # exactly one PINGREQ/PINGRESP (see compare_session)
            ka.disconnect(reasoncode=ReasonCodes(PacketTypes.DISCONNECT,
                                                 "Disconnect with will message"))
            watch.expect(1)
            pause(0.3)
            first = Client("lab-v5-takeover", "5")
            first.connect(properties=props("CONNECT", SessionExpiryInterval=60), clean_start=True)
            pause(0.3)
            second = Client("lab-v5-takeover", "5")
            second.connect(properties=props("CONNECT", SessionExpiryInterval=60), clean_start=False)
            first.wait_closed_by_broker()
            pause(0.3)
            second.disconnect(reasoncode=ReasonCodes(PacketTypes.DISCONNECT, "Normal disconnection"),
                              properties=props("DISCONNECT", SessionExpiryInterval=0))
            pause(0.3)
            # the broker's CONNACK allows 10 topic aliases: alias 11 is refused
            alias = Client("lab-v5-bad-alias", "5")
            alias.connect()
            pause()
            alias.publish_nowait("lab/v5/gone/alias", "alias out of range",
                                 properties=props("PUBLISH", TopicAlias=11))
            alias.wait_closed_by_broker()
            pause(0.3)
            # the broker's CONNACK announces Maximum Packet Size 1024
            big = Client("lab-v5-too-big", "5")
            big.connect()
            pause()
            big.publish_nowait("lab/v5/gone/big", b"B" * 2000)
            big.wait_closed_by_broker()
            pause()
            watch.disconnect()
    counts = mqtt_summary(LAB_DIR / f"{name}.pcapng")
    require_types(counts, ["PINGREQ", "PINGRESP", "DISCONNECT"], name)
    reasons = subprocess.run(["tshark", "-r", LAB_DIR / f"{name}.pcapng", "-Y", "mqtt.msgtype == 14",
                              "-T", "fields", "-e", "mqtt.disconnect.reason_code"],
                             capture_output=True, text=True, check=True).stdout.split()
    if reasons != ["4", "0", "148", "149", "0"] and reasons != ["4", "0", "148", "149"]:
        raise RecordError(f"{name}: DISCONNECT reason codes {reasons}")


AUTH_PASSWORD = "lab-secret-1"


def auth_broker_conf(lab):
    pwfile = lab.tmp / "passwords"
    if not pwfile.exists():
        run(["mosquitto_passwd", "-c", "-b", pwfile, "lab-user", AUTH_PASSWORD], "mosquitto_passwd")
        run(["mosquitto_passwd", "-b", pwfile, "lab-reader", "lab-secret-2"], "mosquitto_passwd")
    acl = lab.tmp / "acl"
    acl.write_text(
        "# written by pcaps/record.py\n"
        "user lab-user\n"
        "topic readwrite lab/auth/#\n"
        "topic read lab/public/#\n"
        "topic deny lab/secret/#\n"
        "user lab-reader\n"
        "topic read lab/auth/#\n")
    return pwfile, acl


def auth_flows(lab, version, tag, name):
    pwfile, acl = auth_broker_conf(lab)
    body = (f"listener {MQTT_PORT} {HOST}\nallow_anonymous false\n"
            f"password_file {pwfile}\nacl_file {acl}\n")
    desc = (f"MQTT {vname(version)} authentication against mosquitto password_file/acl_file: "
            "good login, ACL-refused SUBSCRIBE filter and PUBLISH, wrong password, anonymous")
    mqtt = paho()[0]
    # mosquitto 2.0.11 answers a wrong password with "Not authorized" in
    # both versions (3.1.1: return code 5; 5.0: 0x87, not 0x86)
    refused = 0x87 if version == "5" else mqtt.CONNACK_REFUSED_NOT_AUTHORIZED
    anon_refused = 0x87 if version == "5" else mqtt.CONNACK_REFUSED_NOT_AUTHORIZED
    with mosquitto(lab, name, body):
        with capture(lab, name, f"tcp port {MQTT_PORT}", desc):
            good = Client(f"lab-auth-ok-{tag}", version, username="lab-user", password=AUTH_PASSWORD)
            good.connect()
            pause()
            granted = good.subscribe([("lab/auth/data", 1), ("lab/secret/#", 1)])
            pause()
            good.publish("lab/auth/data", "allowed by the ACL", qos=1)
            good.expect(1)
            pause()
            good.publish("lab/secret/plans", "denied by the ACL", qos=1)
            good.expect_nothing()
            good.disconnect()
            pause(0.3)
            bad = Client(f"lab-auth-bad-{tag}", version, username="lab-user", password="wrong-password")
            bad.connect(expect=refused)
            pause(0.3)
            anon = Client(f"lab-auth-anon-{tag}", version)
            anon.connect(expect=anon_refused)
            pause()
    # mosquitto 2.0.11's acl_file is applied to PUBLISH (and to delivery),
    # never to SUBSCRIBE: both filters are granted.  See acl-dynsec for
    # refused SUBSCRIBE filters.
    if granted != [1, 1]:
        raise RecordError(f"{name}: SUBACK {granted}, expected [1, 1]")
    mqtt_summary(LAB_DIR / f"{name}.pcapng")


@scenario("auth-v311", ["auth-v311"])
def scen_auth_v311(lab):
    auth_flows(lab, "3.1.1", "v311", "auth-v311")


@scenario("auth-v5", ["auth-v5"])
def scen_auth_v5(lab):
    auth_flows(lab, "5", "v5", "auth-v5")


DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"


def dynsec_config(lab):
    """Dynamic security config: lab-user may use lab/auth/# only."""
    import json
    path = lab.tmp / "dynamic-security.json"
    # mosquitto_ctrl writes the salted password hash; the roles are replaced
    run(["mosquitto_ctrl", "dynsec", "init", path, "lab-user", AUTH_PASSWORD], "mosquitto_ctrl",
        quiet=True)
    conf = json.loads(path.read_text())
    conf["clients"][0]["textName"] = "mqttlens lab user"
    conf["clients"][0]["roles"] = [{"rolename": "lab-role"}]
    conf["roles"] = [{"rolename": "lab-role", "acls": [
        {"acltype": "subscribePattern", "topic": "lab/auth/#", "allow": True},
        {"acltype": "publishClientSend", "topic": "lab/auth/#", "allow": True},
        {"acltype": "publishClientReceive", "topic": "lab/auth/#", "allow": True},
    ]}]
    conf["defaultACLAccess"] = {"publishClientSend": False, "publishClientReceive": False,
                                "subscribe": False, "unsubscribe": True}
    path.write_text(json.dumps(conf, indent=1))
    return path


@scenario("acl-dynsec", ["acl-dynsec"])
def scen_acl_dynsec(lab):
    name = "acl-dynsec"
    if not Path(DYNSEC_PLUGIN).exists():
        raise RecordError(f"{DYNSEC_PLUGIN} missing (Debian package mosquitto)")
    body = (f"listener {MQTT_PORT} {HOST}\nallow_anonymous false\n"
            f"plugin {DYNSEC_PLUGIN}\nplugin_opt_config_file {dynsec_config(lab)}\n")
    desc = ("SUBSCRIBE refused by an ACL (mosquitto dynamic security plugin): MQTT 3.1.1 SUBACK "
            "0x80 and MQTT 5.0 SUBACK 0x87, MQTT 5.0 PUBACK 0x87 (paho-mqtt)")
    with mosquitto(lab, name, body):
        with capture(lab, name, f"tcp port {MQTT_PORT}", desc):
            for version, tag in (("3.1.1", "v311"), ("5", "v5")):
                cl = Client(f"lab-acl-{tag}", version, username="lab-user", password=AUTH_PASSWORD)
                cl.connect()
                pause()
                granted = cl.subscribe([("lab/auth/data", 1), ("lab/secret/#", 1)])
                denied = 0x87 if version == "5" else 0x80
                if granted != [1, denied]:
                    raise RecordError(f"{name}: SUBACK {granted}, expected [1, {denied:#x}]")
                pause()
                cl.publish("lab/auth/data", f"allowed for {tag}", qos=1)
                cl.expect(1)
                pause()
                cl.publish("lab/secret/plans", f"refused for {tag}", qos=1)
                cl.expect_nothing()
                cl.disconnect()
                pause(0.3)
    counts = mqtt_summary(LAB_DIR / f"{name}.pcapng")
    require_types(counts, ["SUBACK"], name)


@scenario("enhanced-auth-v5", ["enhanced-auth-v5"])
def scen_enhanced_auth(lab):
    name = "enhanced-auth-v5"
    src = JS_DIR / "challenge_auth_plugin.c"
    plugin = lab.tmp / "challenge_auth_plugin.so"
    if not Path("/usr/include/mosquitto_broker.h").exists():
        raise RecordError("mosquitto plugin headers missing: apt-get install mosquitto-dev")
    run(["gcc", "-Wall", "-Wextra", "-O2", "-shared", "-fPIC", "-o", plugin, src], "gcc plugin")
    body = plain_listener(f"plugin {plugin}\n")
    desc = ("MQTT 5.0 enhanced authentication: AUTH 0x18 challenge/response, re-authentication "
            "AUTH 0x19, refused proof, unknown method (mqtt.js client; mosquitto with the "
            "test-only plugin pcaps/record/challenge_auth_plugin.c)")
    with mosquitto(lab, name, body):
        with capture(lab, name, f"tcp port {MQTT_PORT}", desc):
            node(lab, "enhanced_auth.js", MQTT_PORT)
    counts = mqtt_summary(LAB_DIR / f"{name}.pcapng")
    require_types(counts, ["AUTH"], name)


def make_tls_material(lab):
    """Test-only CA and broker certificate in pcaps/tls/.  Existing files are
    reused while the broker certificate still verifies against the CA (so a
    re-recording shows the same certificates); --new-certs makes new ones."""
    TLS_DIR.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = TLS_DIR / "ca.key", TLS_DIR / "ca.crt"
    br_key, br_csr, br_crt = TLS_DIR / "broker.key", TLS_DIR / "broker.csr", TLS_DIR / "broker.crt"
    files = (ca_key, ca_crt, br_key, br_csr, br_crt)
    if not lab.new_certs and all(f.exists() for f in files):
        check = subprocess.run(["openssl", "verify", "-CAfile", ca_crt, "-purpose", "sslserver",
                                br_crt], capture_output=True, text=True)
        if check.returncode == 0:
            say("  reusing the test-only CA and broker certificate in pcaps/tls/")
            return ca_crt, br_crt, br_key
        say(f"  pcaps/tls/ certificates do not verify ({check.stdout.strip()}); making new ones")
    ext = lab.tmp / "broker-ext.cnf"
    ext.write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectAltName = DNS:localhost, IP:127.0.0.1\n")
    ec = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
    say("  making a test-only CA and broker certificate in pcaps/tls/")
    run(["openssl", "genpkey", *ec, "-out", ca_key], "openssl CA key")
    run(["openssl", "req", "-x509", "-new", "-key", ca_key, "-sha256", "-days", "3650",
         "-subj", "/O=mqttlens TEST-ONLY/CN=mqttlens test CA (do not trust)",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-out", ca_crt], "openssl CA certificate")
    run(["openssl", "genpkey", *ec, "-out", br_key], "openssl broker key")
    run(["openssl", "req", "-new", "-key", br_key, "-sha256",
         "-subj", "/O=mqttlens TEST-ONLY/CN=localhost", "-out", br_csr], "openssl broker CSR")
    run(["openssl", "x509", "-req", "-in", br_csr, "-CA", ca_crt, "-CAkey", ca_key,
         "-set_serial", "0x4d51545454", "-days", "3650", "-sha256", "-extfile", ext,
         "-out", br_crt], "openssl sign broker certificate")
    for path in (ca_key, br_key):
        path.chmod(0o644)  # test-only keys, kept readable on purpose
    return ca_crt, br_crt, br_key


class ClosingSSLSocket(ssl.SSLSocket):
    """paho closes its socket right after writing DISCONNECT; mosquitto's TLS
    close_notify then reaches a closed socket and the kernel answers with RST.
    This socket first reads until the broker's close_notify/FIN (at most 2 s),
    so the connection ends with FINs like the plain-TCP captures."""

    def close(self):
        if self.fileno() != -1:
            try:
                self.settimeout(2)
                while self.recv(4096):
                    pass
            except (OSError, ValueError):
                pass
        super().close()


@scenario("tls", ["tls-8883", "tls-8883-keys"])
def scen_tls(lab):
    name = "tls-8883"
    ca_crt, br_crt, br_key = make_tls_material(lab)
    pwfile, acl = auth_broker_conf(lab)
    body = (f"listener {TLS_PORT} {HOST}\nallow_anonymous false\npassword_file {pwfile}\n"
            f"acl_file {acl}\ncafile {ca_crt}\ncertfile {br_crt}\nkeyfile {br_key}\n"
            "tls_version tlsv1.3\n")
    keylog = lab.tmp / "tls-8883.keylog"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and host name
    ctx.sslsocket_class = ClosingSSLSocket
    ctx.load_verify_locations(cafile=str(ca_crt))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.keylog_filename = str(keylog)
    desc = ("MQTT 3.1.1 over TLS 1.3 on 8883 (paho-mqtt verifying the test CA): CONNECT with "
            "user name/password, SUBSCRIBE, PUBLISH QoS 1 both ways, DISCONNECT")
    with mosquitto(lab, name, body, ports=(TLS_PORT,)):
        with capture(lab, name, f"tcp port {TLS_PORT}", desc):
            cl = Client("lab-tls-client", "3.1.1", username="lab-user", password=AUTH_PASSWORD,
                        tls_context=ctx, port=TLS_PORT)
            cl.connect()
            pause()
            cl.subscribe([("lab/auth/tls", 1)])
            pause()
            cl.publish("lab/auth/tls", "encrypted hello", qos=1)
            cl.expect(1)
            pause()
            cl.disconnect()
    plain = LAB_DIR / f"{name}.pcapng"
    keyed = LAB_DIR / f"{name}-keys.pcapng"
    kept_keylog = LAB_DIR / f"{name}.keylog"
    shutil.copyfile(keylog, kept_keylog)
    kept_keylog.chmod(0o644)
    run(["editcap", "--inject-secrets", f"tls,{kept_keylog}", plain, keyed], "editcap")
    keyed.chmod(0o644)
    say(f"  wrote {keyed.relative_to(PCAPS.parent)} and {kept_keylog.relative_to(PCAPS.parent)}")
    mqtt_summary(plain, expect_mqtt=False)
    counts = mqtt_summary(keyed)
    require_types(counts, ["CONNECT", "SUBSCRIBE", "PUBLISH", "PUBACK", "DISCONNECT"], keyed.name)
    mqtt_summary(plain, extra_args=("-o", f"tls.keylog_file:{kept_keylog}"))


@scenario("v5-properties", ["v5-properties"])
def scen_v5_properties(lab):
    name = "v5-properties"
    desc = ("MQTT 5.0 properties (paho-mqtt): CONNECT properties, user properties, content "
            "type, payload format indicator, message expiry, response topic + correlation data "
            "(request/response), subscription identifiers on SUBSCRIBE and on delivered PUBLISH")
    with mosquitto(lab, name, plain_listener()):
        with capture(lab, name, f"tcp port {MQTT_PORT}", desc):
            responder = Client("lab-v5-responder", "5")
            responder.connect(properties=props(
                "CONNECT", SessionExpiryInterval=0, ReceiveMaximum=20,
                MaximumPacketSize=65536, TopicAliasMaximum=0, RequestProblemInformation=1,
                UserProperty=[("lab-role", "responder")]))
            pause()
            # deliveries at QoS 0 keep the packet order the same in every recording
            responder.subscribe([("lab/v5/props/+/request", 0)],
                                properties=props("SUBSCRIBE", SubscriptionIdentifier=42))
            pause()
            responder.subscribe([("lab/v5/props/#", 0)],
                                properties=props("SUBSCRIBE", SubscriptionIdentifier=268435455))
            pause()
            requester = Client("lab-v5-requester", "5")
            requester.connect(properties=props(
                "CONNECT", RequestResponseInformation=1,
                UserProperty=[("lab-role", "requester")]))
            pause()
            requester.subscribe([("lab/v5/props/device1/response", 0)],
                                properties=props("SUBSCRIBE", SubscriptionIdentifier=7,
                                                 UserProperty=[("why", "responses")]))
            pause()
            request_props = props(
                "PUBLISH", PayloadFormatIndicator=1, MessageExpiryInterval=120,
                ContentType="application/json",
                ResponseTopic="lab/v5/props/device1/response",
                CorrelationData=b"\x00\x01req-0001",
                UserProperty=[("source", "mqttlens-lab"), ("units", "celsius"),
                              ("source", "duplicate keys are allowed")])
            requester.publish("lab/v5/props/device1/request", '{"get": "temperature"}', qos=1,
                              properties=request_props)
            got = responder.expect(2)  # once per matching subscription (ids 42 and max)
            request = got[0]
            pause()
            responder.publish(request.properties.ResponseTopic, '{"temperature": 21.5}', qos=1,
                              properties=props("PUBLISH", PayloadFormatIndicator=1,
                                               ContentType="application/json",
                                               CorrelationData=request.properties.CorrelationData))
            requester.expect(1)
            responder.expect(1)  # the response also matches lab/v5/props/#
            pause()
            requester.publish("lab/v5/props/device1/blob", bytes(range(16)), qos=0,
                              properties=props("PUBLISH", PayloadFormatIndicator=0,
                                               ContentType="application/octet-stream",
                                               MessageExpiryInterval=5))
            responder.expect(1)
            pause()
            requester.disconnect()
            pause()
            responder.disconnect()
    mqtt_summary(LAB_DIR / f"{name}.pcapng")


@scenario("v5-topic-alias", ["v5-topic-alias"])
def scen_v5_topic_alias(lab):
    name = "v5-topic-alias"
    desc = ("MQTT 5.0 topic aliases chosen by the client (mqtt.js autoAssignTopicAlias/"
            "autoUseTopicAlias plus a manual alias 7); mosquitto CONNACK Topic Alias Maximum; "
            "paho-mqtt subscriber gets full topic names")
    with mosquitto(lab, name, plain_listener()):
        with capture(lab, name, f"tcp port {MQTT_PORT}", desc):
            sub = Client("lab-v5-alias-sub", "5")
            sub.connect(properties=props("CONNECT", TopicAliasMaximum=5))
            pause()
            sub.subscribe([("lab/alias/#", 1)])
            pause()
            node(lab, "topic_alias.js", MQTT_PORT)
            sub.expect(7)
            pause()
            sub.disconnect()
    mqtt_summary(LAB_DIR / f"{name}.pcapng")


@scenario("v5-session-present", ["v5-session-present"])
def scen_v5_session(lab):
    name = "v5-session-present"
    desc = ("MQTT 5.0 persistent session (paho-mqtt): clean start 0 + Session Expiry Interval, "
            "messages queued while offline, CONNACK session present 1 on reconnect")
    with mosquitto(lab, name, plain_listener()):
        with capture(lab, name, f"tcp port {MQTT_PORT}", desc):
            expiry = props("CONNECT", SessionExpiryInterval=300)
            one = Client("lab-v5-persistent", "5")
            one.connect(clean_start=False, properties=expiry)
            pause()
            one.subscribe([("lab/v5/session/#", 2)])
            pause()
            one.disconnect()
            pause(0.3)
            pub = Client("lab-v5-session-pub", "5")
            pub.connect()
            pause()
            pub.publish("lab/v5/session/queued", "sent while offline, qos 1", qos=1)
            pause()
            pub.publish("lab/v5/session/queued", "sent while offline, qos 2", qos=2)
            pause()
            pub.disconnect()
            pause(0.3)
            two = Client("lab-v5-persistent", "5")
            connack = two.connect(clean_start=False, properties=expiry)
            if not connack[1].get("session present"):
                raise RecordError(f"{name}: reconnect did not report session present")
            two.expect(2)
            pause()
            two.disconnect(properties=props("DISCONNECT", SessionExpiryInterval=0))
    mqtt_summary(LAB_DIR / f"{name}.pcapng")


@scenario("will-abrupt", ["will-abrupt"])
def scen_will_abrupt(lab):
    name = "will-abrupt"
    desc = ("Will messages after abrupt loss (client process killed with SIGKILL, no DISCONNECT): "
            "an MQTT 3.1.1 and an MQTT 5.0 client (will properties, Will Delay 1 s); an MQTT 5.0 "
            "paho-mqtt subscriber receives both wills")
    with mosquitto(lab, name, plain_listener()):
        with capture(lab, name, f"tcp port {MQTT_PORT}", desc):
            watch = Client("lab-will-watch", "5")
            watch.connect()
            pause()
            watch.subscribe([("lab/will/#", 1)])
            pause()
            for version, tag in (("3.1.1", "v311"), ("5", "v5")):
                child = lab.spawn([sys.executable, Path(__file__).resolve(), "--will-victim",
                                   version, tag], f"{name}-victim-{tag}.log",
                                  pipe_stdout=True)
                line = child.stdout.readline().decode().strip()
                if line != "ready":
                    lab.stop(child)
                    raise RecordError(f"will victim {tag} did not connect: {line!r}\n"
                                      + lab.log_tail(child))
                pause(0.4)
                child.kill()
                child.wait(5)
                lab.stop(child)
                say(f"  killed will victim {tag} (SIGKILL)")
                watch.expect(1, timeout=5)
                pause(0.3)
            watch.disconnect()
    mqtt_summary(LAB_DIR / f"{name}.pcapng")


def will_victim(version, tag):
    """Child process: connect with a will, say "ready", wait to be killed."""
    will = {"topic": f"lab/will/{tag}", "payload": f"{tag} client died without DISCONNECT",
            "qos": 1, "retain": False}
    if version == "5":
        will["properties"] = props(
            "WILLMESSAGE", WillDelayInterval=1, PayloadFormatIndicator=1,
            MessageExpiryInterval=600, ContentType="text/plain",
            ResponseTopic="lab/will/ack", CorrelationData=b"will-1",
            UserProperty=[("reason", "process killed")])
    cl = Client(f"lab-will-victim-{tag}", version, will=will)
    with contextlib.redirect_stdout(sys.stderr):
        cl.connect(keepalive=30)
    print("ready", flush=True)
    time.sleep(60)
    return 1


@scenario("v5-retained", ["v5-retained"])
def scen_v5_retained(lab):
    name = "v5-retained"
    desc = ("MQTT 5.0 retained messages (paho-mqtt): retained PUBLISH, late subscriber gets it "
            "with RETAIN 1, Retain Handling 2 subscription gets nothing, retained message "
            "cleared with an empty payload")
    SubscribeOptions = paho()[4]
    with mosquitto(lab, name, plain_listener()):
        with capture(lab, name, f"tcp port {MQTT_PORT}", desc):
            pub = Client("lab-v5-retain-pub", "5")
            pub.connect()
            pause()
            pub.publish("lab/v5/retained/config", "retained configuration v1", qos=1, retain=True)
            pause()
            pub.publish("lab/v5/retained/config", "retained configuration v2", qos=1, retain=True)
            pause()
            late = Client("lab-v5-retain-late", "5")
            late.connect()
            pause()
            late.subscribe([("lab/v5/retained/#", SubscribeOptions(qos=1))])
            msgs = late.expect(1)
            if not msgs[0].retain:
                raise RecordError(f"{name}: late subscriber's message lacks RETAIN")
            pause()
            late.subscribe([("lab/v5/retained/+", SubscribeOptions(qos=0, retainHandling=2))])
            late.expect_nothing()
            pub.publish("lab/v5/retained/config", b"", qos=1, retain=True)
            late.expect(2)  # the clearing message, once per subscription
            pause()
            pub.disconnect()
            pause()
            late.disconnect()
    mqtt_summary(LAB_DIR / f"{name}.pcapng")


LARGE_SIZE = 200_000


def large_payload():
    line = b"mqttlens large payload line %05d ........................................\n"
    out = bytearray()
    i = 0
    while len(out) < LARGE_SIZE:
        out += line % i
        i += 1
    return bytes(out[:LARGE_SIZE])


@scenario("v5-large-payload", ["v5-large-payload"])
def scen_v5_large(lab):
    name = "v5-large-payload"
    desc = (f"MQTT 5.0 PUBLISH QoS 1 with a {LARGE_SIZE}-byte payload spanning several TCP "
            "segments in both directions (paho-mqtt)")
    payload = large_payload()
    with mosquitto(lab, name, plain_listener()):
        with capture(lab, name, f"tcp port {MQTT_PORT}", desc):
            sub = Client("lab-v5-large-sub", "5")
            sub.connect()
            pause()
            sub.subscribe([("lab/v5/large", 1)])
            pause()
            pub = Client("lab-v5-large-pub", "5")
            pub.connect()
            pause()
            pub.publish("lab/v5/large", payload, qos=1,
                        properties=props("PUBLISH", ContentType="text/plain",
                                         PayloadFormatIndicator=1))
            got = sub.expect(1)
            if got[0].payload != payload:
                raise RecordError(f"{name}: payload corrupted in transit")
            pause()
            pub.disconnect()
            pause()
            sub.disconnect()
    path = LAB_DIR / f"{name}.pcapng"
    mqtt_summary(path)
    out = subprocess.run(["tshark", "-r", path, "-Y", "mqtt.msgtype == 3", "-T", "fields",
                          "-e", "frame.number", "-e", "tcp.segment.count"],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    segs = [line.split("\t") for line in out if line.strip()]
    if len(segs) != 2 or any(not s[1] or int(s[1]) < 3 for s in segs):
        raise RecordError(f"{name}: large PUBLISH not reassembled from several segments: {segs}")
    say(f"  large PUBLISH frames/segment counts: {segs}")


def mqtt_packets(data):
    """Split a byte string into MQTT packets; returns (types, leftover bytes)."""
    types = []
    pos = 0
    while pos < len(data):
        start = pos
        if pos + 2 > len(data):
            break
        ptype = data[pos] >> 4
        pos += 1
        length, shift = 0, 0
        while True:
            if pos >= len(data) or shift > 21:
                return types, data[start:]
            byte = data[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if pos + length > len(data):
            return types, data[start:]
        types.append(MSGTYPES.get(ptype, str(ptype)))
        pos += length
    return types, data[pos:]


def websocket_summary(path, framed):
    """tshark 4.0.17 has no MQTT-over-WebSocket dissection, so the MQTT
    packets in the binary WebSocket messages are parsed here."""
    out = subprocess.run(["tshark", "-r", path, "-Y", "websocket.opcode == 2", "-T", "fields",
                          "-e", "tcp.srcport", "-e", "data.data"],
                         capture_output=True, text=True, check=True).stdout
    streams = collections.defaultdict(bytes)
    counts = collections.Counter()
    messages = 0
    for line in out.splitlines():
        port, _, hexdata = line.partition("\t")
        for item in hexdata.split(","):
            if not item:
                continue
            messages += 1
            data = bytes.fromhex(item)
            if framed:
                types, rest = mqtt_packets(data)
                if len(types) != 1 or rest:
                    raise RecordError(f"{path}: WebSocket message is not one MQTT packet: {item}")
                counts.update(types)
            else:
                streams[port] += data
    for data in streams.values():
        types, rest = mqtt_packets(data)
        if rest:
            raise RecordError(f"{path}: {len(rest)} bytes left over after MQTT packets")
        counts.update(types)
    hidden = subprocess.run(["tshark", "-r", path, "-Y", "mqtt"], capture_output=True,
                            text=True).stdout.strip()
    text = format_counts(counts)
    say(f"  {Path(path).name}: {messages} binary WebSocket messages carrying "
        f"{sum(counts.values())} MQTT packets (parsed by record.py): {text}")
    say(f"  tshark -Y mqtt finds {len(hidden.splitlines())} frames (4.0.17 does not hand "
        "WebSocket payloads to MQTT)")
    require_types(counts, ["CONNECT", "CONNACK", "SUBSCRIBE", "PUBLISH", "PUBACK",
                           "UNSUBSCRIBE", "DISCONNECT"], Path(path).name)
    handshake = subprocess.run(["tshark", "-r", path, "-Y", 'http.upgrade == "websocket"',
                                "-T", "fields", "-e", "http.request.uri",
                                "-e", "http.response.code"],
                               capture_output=True, text=True, check=True).stdout
    if "101" not in handshake:
        raise RecordError(f"{path}: no WebSocket upgrade seen")


@scenario("websocket", ["websocket-v311", "websocket-split-v311"])
def scen_websocket(lab):
    require_free([WS_PORT])
    broker = lab.spawn(["node", JS_DIR / "ws_broker.mjs", WS_PORT], "websocket-aedes.log",
                       cwd=JS_DIR)
    try:
        wait_listening(broker, lab, [WS_PORT])
        for name, mode, desc in (
                ("websocket-v311", "framed",
                 "one WebSocket message per MQTT packet (mqtt.js on a stream that gathers the "
                 "pieces of a packet, as mqtt.js does in browsers; same on the aedes side)"),
                ("websocket-split-v311", "split",
                 "mqtt.js's Node.js WebSocket transport and aedes on ws.createWebSocketStream: "
                 "every piece mqtt-packet writes is its own WebSocket message, so MQTT packets "
                 "span several messages")):
            full = (f"MQTT 3.1.1 over WebSocket (subprotocol mqtt, path /mqtt) on {WS_PORT}: "
                    f"mqtt.js client, aedes broker behind a ws server; {desc}")
            with capture(lab, name, f"tcp port {WS_PORT}", full):
                node(lab, "ws_client.js", WS_PORT, mode)
            websocket_summary(LAB_DIR / f"{name}.pcapng", framed=(mode == "framed"))
    finally:
        lab.stop(broker)


WSS_PORT = 8084      # mosquitto's and others' usual wss port (mqttlens.wss_ports)
ODD_TCP_PORT = 11883  # MQTT where no dissector looks: found by mqttlens' CONNECT heuristic
ODD_TLS_PORT = 18883


def tls_client_context(ca_crt, keylog):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and host name
    ctx.sslsocket_class = ClosingSSLSocket
    ctx.load_verify_locations(cafile=str(ca_crt))
    ctx.keylog_filename = str(keylog)
    return ctx


def keep_keys(lab, name, keylog):
    """pcaps/lab/<name>.pcapng with the TLS secrets embedded (and the key log kept)."""
    plain = lab.tmp / f"{name}-plain.pcapng"
    shutil.move(LAB_DIR / f"{name}.pcapng", plain)
    kept = LAB_DIR / f"{name}.keylog"
    shutil.copyfile(keylog, kept)
    kept.chmod(0o644)
    dest = LAB_DIR / f"{name}.pcapng"
    run(["editcap", "--inject-secrets", f"tls,{kept}", plain, dest], "editcap")
    dest.chmod(0o644)
    say(f"  wrote {dest.relative_to(PCAPS.parent)} with its TLS secrets, and {kept.relative_to(PCAPS.parent)}")
    return dest


def paho_session(cl, topic):
    cl.connect()
    pause()
    cl.subscribe([(topic + "/#", 1)])
    pause()
    cl.publish(topic + "/qos0", "hello, qos 0", qos=0)
    cl.expect(1)
    cl.publish(topic + "/qos1", "hello, qos 1", qos=1)
    cl.expect(1)
    pause()
    cl.unsubscribe([topic + "/#"])
    pause()
    cl.disconnect()


@scenario("websocket-more", ["websocket-packed-v311", "websocket-paho-v311", "wss-paho-v311-keys"])
def scen_websocket_more(lab):
    """MQTT over WebSocket beyond mqtt.js's two transports: several packets per message, paho's
    WebSocket transport, and wss (TLS) with its secrets."""
    require_free([WS_PORT, WSS_PORT])
    ca_crt, br_crt, br_key = make_tls_material(lab)
    broker = lab.spawn(["node", JS_DIR / "ws_broker.mjs", WS_PORT, WSS_PORT, br_crt, br_key],
                       "websocket-more-aedes.log", cwd=JS_DIR)
    try:
        wait_listening(broker, lab, [WS_PORT, WSS_PORT])
        name = "websocket-packed-v311"
        with capture(lab, name, f"tcp port {WS_PORT}",
                     f"MQTT 3.1.1 over WebSocket on {WS_PORT} (path /mqtt-packed): mqtt.js client and "
                     "aedes broker on streams that send the MQTT packets written in one event-loop turn "
                     "in one WebSocket message, so messages carry several packets (a burst of three "
                     "QoS 0 PUBLISHes each way, SUBACK with the retained-less deliveries)"):
            node(lab, "ws_client.js", WS_PORT, "packed")
        websocket_summary(LAB_DIR / f"{name}.pcapng", framed=False)
        name = "websocket-paho-v311"
        with capture(lab, name, f"tcp port {WS_PORT}",
                     f"MQTT 3.1.1 over WebSocket on {WS_PORT} (path /mqtt): paho-mqtt's WebSocket "
                     "transport (subprotocol mqtt) against aedes; SUBSCRIBE, PUBLISH QoS 0 and 1 "
                     "delivered back, DISCONNECT"):
            paho_session(Client("lab-ws-paho", "3.1.1", port=WS_PORT, websocket_path="/mqtt"), "lab/ws")
        websocket_summary(LAB_DIR / f"{name}.pcapng", framed=False)
        name = "wss-paho-v311-keys"
        keylog = lab.tmp / f"{name}.keylog"
        with capture(lab, name, f"tcp port {WSS_PORT}",
                     f"MQTT 3.1.1 over WebSocket over TLS (wss) on {WSS_PORT}: paho-mqtt verifying the "
                     "test CA, aedes behind a node https server; TLS secrets embedded"):
            paho_session(Client("lab-wss-paho", "3.1.1", port=WSS_PORT, websocket_path="/mqtt",
                                tls_context=tls_client_context(ca_crt, keylog)), "lab/wss")
        websocket_summary(keep_keys(lab, name, keylog), framed=False)
    finally:
        lab.stop(broker)


@scenario("odd-ports", ["port-11883-v5", "tls-18883-v5-keys"])
def scen_odd_ports(lab):
    """MQTT on ports no dissector owns, over TCP and over TLS: mqttlens finds both by the CONNECT."""
    ca_crt, br_crt, br_key = make_tls_material(lab)
    body = (f"listener {ODD_TCP_PORT} {HOST}\nallow_anonymous true\n"
            f"listener {ODD_TLS_PORT} {HOST}\ncafile {ca_crt}\ncertfile {br_crt}\nkeyfile {br_key}\n")
    keylog = lab.tmp / "tls-18883.keylog"
    with mosquitto(lab, "odd-ports", body, ports=(ODD_TCP_PORT, ODD_TLS_PORT)):
        name = "port-11883-v5"
        with capture(lab, name, f"tcp port {ODD_TCP_PORT}",
                     f"MQTT 5.0 on TCP {ODD_TCP_PORT} (mosquitto, paho-mqtt): SUBSCRIBE, PUBLISH QoS 0 "
                     "and 1 delivered back, DISCONNECT"):
            paho_session(Client("lab-odd-port", "5", port=ODD_TCP_PORT), "lab/odd")
        mqtt_summary(LAB_DIR / f"{name}.pcapng", extra_args=("-d", f"tcp.port=={ODD_TCP_PORT},mqtt"))
        name = "tls-18883-v5-keys"
        with capture(lab, name, f"tcp port {ODD_TLS_PORT}",
                     f"MQTT 5.0 over TLS on {ODD_TLS_PORT} (mosquitto, paho-mqtt verifying the test "
                     "CA): SUBSCRIBE, PUBLISH QoS 0 and 1 delivered back; TLS secrets embedded"):
            paho_session(Client("lab-odd-tls", "5", port=ODD_TLS_PORT,
                                tls_context=tls_client_context(ca_crt, keylog)), "lab/odd")
        mqtt_summary(keep_keys(lab, name, keylog), extra_args=("-d", f"tls.port=={ODD_TLS_PORT},mqtt"))


# --------------------------------------------------------------------------
# legal but unusual broker and client behaviour (issue 15)
# --------------------------------------------------------------------------

def wait_log(proc, text, timeout=10):
    """Wait until a process's log contains text."""
    deadline = time.monotonic() + timeout
    while text not in proc.lab_log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise RecordError(f"{proc.args[0]}: no {text!r} in its log")
        time.sleep(0.05)


def clock_shift_lib(lab):
    """record/clock_shift.c built as an LD_PRELOAD library (see its header)."""
    lib = lab.tmp / "clock_shift.so"
    if not lib.exists():
        run(["gcc", "-Wall", "-Wextra", "-O2", "-shared", "-fPIC", "-o", lib,
             JS_DIR / "clock_shift.c"], "gcc clock shift")
    return lib


@scenario("session-expiry-v311", ["session-expiry-v311"])
def scen_session_expiry(lab):
    """A persistent 3.1.1 session expires (persistent_client_expiration) with
    messages queued; the client comes back with Clean Session 0 and gets
    Session Present 0 and nothing of the queue."""
    name = "session-expiry-v311"
    shift = lab.tmp / "clock-shift"
    shift.write_text("0\n")
    env = {"LD_PRELOAD": str(clock_shift_lib(lab)), "MQTTLENS_CLOCK_SHIFT_FILE": str(shift)}
    desc = ("MQTT 3.1.1 persistent session expired by mosquitto's persistent_client_expiration 1h "
            "(the broker's wall clock moved 2 h forward by record/clock_shift.c while the client "
            "is away): QoS 1 and 2 messages queued for it are discarded, the client reconnects "
            "with Clean Session 0 and gets Session Present 0 and no message (paho-mqtt)")
    with mosquitto(lab, name, plain_listener("persistent_client_expiration 1h\n"), env=env) as broker:
        with capture(lab, name, f"tcp port {MQTT_PORT}", desc):
            one = Client("lab-expiry-v311", "3.1.1", clean=False)
            one.connect()
            pause()
            one.subscribe([("lab/expiry/#", 2)])
            pause()
            one.disconnect()
            pause(0.3)
            pub = Client("lab-expiry-pub", "3.1.1")
            pub.connect()
            pause()
            pub.publish("lab/expiry/queued", "queued for an offline session, qos 1", qos=1)
            pause()
            pub.publish("lab/expiry/queued", "queued for an offline session, qos 2", qos=2)
            pause()
            pub.disconnect()
            shift.write_text("7200\n")
            wait_log(broker, "Expiring client lab-expiry-v311")
            say("  mosquitto expired the session of lab-expiry-v311")
            pause(0.3)
            two = Client("lab-expiry-v311", "3.1.1", clean=False)
            connack = two.connect()
            if connack[1].get("session present"):
                raise RecordError(f"{name}: the expired session is still present")
            two.expect_nothing(0.5)
            two.disconnect()
    mqtt_summary(LAB_DIR / f"{name}.pcapng")


def inflight_flows(lab, version, tag):
    topic = f"lab/inflight/{tag}"
    v5 = version == "5"
    sub_id = f"lab-inflight-{tag}"
    expiry = {"properties": props("CONNECT", SessionExpiryInterval=300), "clean_start": False} if v5 else {}
    sub = Client(sub_id, version, clean=False)
    sub.connect(**expiry)
    pause()
    sub.subscribe([(topic + "/#", 2)])
    pause()
    sub.disconnect()
    pause(0.3)
    # the publisher speaks 3.1.1 in both rounds: its burst below ignores a
    # 5.0 CONNACK's Receive Maximum (1 here), which a 5.0 client must obey
    pub = Client(f"lab-inflight-pub-{tag}", "3.1.1")
    pub.connect()
    pause()
    # five messages for an offline session: mosquitto 2.0.11 keeps
    # max_queued_messages (2) of them and drops the rest
    for i in range(1, 6):
        pub.publish(f"{topic}/offline", f"offline message {i} (qos {1 + i % 2})", qos=1 + i % 2)
        pause(0.05)
    pause()
    again = Client(sub_id, version, clean=False)
    connack = again.connect(**expiry)
    if not connack[1].get("session present"):
        raise RecordError(f"{sub_id}: session not present")
    kept = again.expect(2)
    again.expect_nothing(0.3)
    say(f"  {sub_id}: kept {[m.payload.decode() for m in kept]}")
    pause()
    # a burst while the subscriber is online: the broker sends one at a time
    # (one in flight, two queued: a fourth could be dropped, depending on how
    # fast the PUBACKs come back)
    for i in range(1, 4):
        pub.c.publish(f"{topic}/online", f"online burst {i}", qos=1)
    got = again.expect(3)
    say(f"  {sub_id}: online burst got {len(got)}")
    pause(0.3)
    pub.disconnect()
    pause()
    if v5:
        again.disconnect(properties=props("DISCONNECT", SessionExpiryInterval=0))
    else:
        again.disconnect()
    pause(0.3)


@scenario("inflight-queue", ["inflight-queue"])
def scen_inflight_queue(lab):
    name = "inflight-queue"
    desc = ("mosquitto with max_inflight_messages 1 and max_queued_messages 2: five QoS 1/2 "
            "messages from a 3.1.1 publisher for an offline persistent session (a 3.1.1, then a 5.0 subscriber): the first two are "
            "delivered one at a time after the reconnect, the last three dropped by the queue "
            "limit; then a burst of three QoS 1 messages to the online subscriber is delivered "
            "one at a time, each after the previous PUBACK (paho-mqtt)")
    with mosquitto(lab, name, plain_listener("max_inflight_messages 1\nmax_queued_messages 2\n")):
        with capture(lab, name, f"tcp port {MQTT_PORT}", desc):
            inflight_flows(lab, "3.1.1", "v311")
            inflight_flows(lab, "5", "v5")
    mqtt_summary(LAB_DIR / f"{name}.pcapng")


@scenario("max-packet-size-v5", ["max-packet-size-v5"])
def scen_max_packet_size(lab):
    name = "max-packet-size-v5"
    desc = ("mosquitto with max_packet_size 512 (CONNACK Maximum Packet Size 512); a 5.0 "
            "subscriber announcing Maximum Packet Size 128 does not get a 300-byte message "
            "(the broker drops it, MQTT-3.1.2-25) but gets the small ones; a 5.0 client sending "
            "1000 bytes is disconnected with 0x95; a 3.1.1 client sending 1000 bytes (it was "
            "never told the limit) is disconnected without a word (paho-mqtt)")
    with mosquitto(lab, name, plain_listener("max_packet_size 512\n")):
        with capture(lab, name, f"tcp port {MQTT_PORT}", desc):
            sub = Client("lab-size-sub", "5")
            sub.connect(properties=props("CONNECT", MaximumPacketSize=128))
            pause()
            sub.subscribe([("lab/size/#", 1)])
            pause()
            pub = Client("lab-size-pub", "5")
            pub.connect()
            pause()
            pub.publish("lab/size/small", "fits in 128 bytes", qos=1)
            sub.expect(1)
            pause()
            pub.publish("lab/size/medium", b"M" * 300, qos=1)
            sub.expect_nothing(0.3)
            pub.publish("lab/size/small", "fits again", qos=1)
            sub.expect(1)
            pause()
            pub.publish_nowait("lab/size/large", b"L" * 1000, qos=1)
            pub.wait_closed_by_broker()
            pause()
            old = Client("lab-size-v311", "3.1.1")
            old.connect()
            pause()
            old.publish_nowait("lab/size/large", b"L" * 1000, qos=1)
            old.wait_closed_by_broker()
            pause()
            sub.disconnect()
    mqtt_summary(LAB_DIR / f"{name}.pcapng")


BRIDGE_PORT = 1884


@scenario("bridge", ["bridge-v311", "bridge-v5"])
def scen_bridge(lab):
    """Two mosquitto brokers; the one on 1884 bridges lab/bridge/# both ways to the one on
    1883 (try_private true, the default: a 3.1.1 bridge CONNECT has protocol level 0x84)."""
    for version, name in (("mqttv311", "bridge-v311"), ("mqttv50", "bridge-v5")):
        cv = "5" if version == "mqttv50" else "3.1.1"
        tag = name.split("-")[1]
        bridge_conf = (f"listener {BRIDGE_PORT} {HOST}\nallow_anonymous true\n"
                       f"connection lab-bridge-{tag}\naddress {HOST}:{MQTT_PORT}\n"
                       f"bridge_protocol_version {version}\nremote_clientid lab-bridge-{tag}\n"
                       "topic lab/bridge/# both 1\n")
        desc = (f"two mosquitto brokers on 127.0.0.1: the one on {BRIDGE_PORT} bridges lab/bridge/# "
                f"both ways at QoS 1 to the one on {MQTT_PORT} (bridge_protocol_version {version}, "
                "try_private true: mosquitto's bridge flag in the CONNECT); paho-mqtt MQTT "
                f"{vname(cv)} clients publish on each broker and receive on both")
        with mosquitto(lab, f"{name}-a", plain_listener()) as remote:
            with capture(lab, name, f"tcp port {MQTT_PORT} or tcp port {BRIDGE_PORT}", desc):
                with mosquitto(lab, f"{name}-b", bridge_conf, ports=(BRIDGE_PORT,)):
                    wait_log(remote, f"as lab-bridge-{tag}")
                    pause(0.5)
                    sa = Client(f"lab-bridge-sub-a-{tag}", cv)
                    sa.connect()
                    pause()
                    sa.subscribe([("lab/bridge/#", 1)])
                    sb = Client(f"lab-bridge-sub-b-{tag}", cv, port=BRIDGE_PORT)
                    sb.connect()
                    pause()
                    sb.subscribe([("lab/bridge/#", 1)])
                    pause(0.3)
                    pa = Client(f"lab-bridge-pub-a-{tag}", cv)
                    pa.connect()
                    pause()
                    pa.publish("lab/bridge/from-a", "published on the remote broker", qos=1)
                    sa.expect(1)
                    sb.expect(1)
                    pause()
                    pa.disconnect()
                    pb = Client(f"lab-bridge-pub-b-{tag}", cv, port=BRIDGE_PORT)
                    pb.connect()
                    pause()
                    pb.publish("lab/bridge/from-b", "published on the bridging broker", qos=1)
                    sa.expect(1)
                    sb.expect(1)
                    pause()
                    pb.disconnect()
                    sa.disconnect()
                    sb.disconnect()
                    pause(0.3)
                wait_log(remote, f"Client lab-bridge-{tag} ")  # "disconnected" or "closed its connection"
                pause(0.3)
        mqtt_summary(LAB_DIR / f"{name}.pcapng", extra_args=("-d", f"tcp.port=={BRIDGE_PORT},mqtt"))


class RawClient:
    """A hand-driven MQTT 3.1.1 or 5.0 client on a plain socket: it sends exactly
    the packets a step asks for, so a delivery can be left unacknowledged.  In 5.0
    its session lasts 300 s (Session Expiry Interval) and its acknowledgements
    are the short form (Reason Code 0x00 implied)."""

    def __init__(self, client_id, version="3.1.1"):
        self.client_id = client_id
        self.v5 = version == "5"
        self.sock = None
        self.buf = b""

    @staticmethod
    def _varint(n):
        out = bytearray()
        while True:
            byte, n = n % 128, n // 128
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)

    @staticmethod
    def _str(s):
        b = s.encode()
        return len(b).to_bytes(2, "big") + b

    def send(self, first, body):
        self.sock.sendall(bytes([first]) + self._varint(len(body)) + body)

    def read(self, timeout=10):
        """One packet: (type, flags, body)."""
        deadline = time.monotonic() + timeout
        while True:
            types, rest = mqtt_packets(self.buf)
            if types:
                pos = 1
                length, shift = 0, 0
                while True:
                    byte = self.buf[pos]
                    pos += 1
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                first, body = self.buf[0], self.buf[pos:pos + length]
                self.buf = self.buf[pos + length:]
                return first >> 4, first & 0x0F, body
            left = deadline - time.monotonic()
            if left <= 0:
                raise RecordError(f"{self.client_id}: timeout reading a packet")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise RecordError(f"{self.client_id}: connection closed")
            self.buf += data

    def expect(self, ptype):
        got = self.read()
        if MSGTYPES[got[0]] != ptype:
            raise RecordError(f"{self.client_id}: got {MSGTYPES[got[0]]}, expected {ptype}")
        return got

    def connect(self, clean):
        self.sock = socket.create_connection((HOST, MQTT_PORT))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        flags = 0x02 if clean else 0x00
        props = bytes([5, 0x11]) + (300).to_bytes(4, "big") if self.v5 else b""
        self.send(0x10, self._str("MQTT") + bytes([5 if self.v5 else 4, flags]) + (60).to_bytes(2, "big")
                  + props + self._str(self.client_id))
        _, _, body = self.expect("CONNACK")
        say(f"  {self.client_id} ({'5' if self.v5 else '3.1.1'}, raw): CONNACK {body[1]:#04x} "
            f"session present {body[0] & 1}")
        return body[0] & 1

    def subscribe(self, packet_id, topic, qos):
        props = b"\x00" if self.v5 else b""
        self.send(0x82, packet_id.to_bytes(2, "big") + props + self._str(topic) + bytes([qos]))
        _, _, body = self.expect("SUBACK")
        say(f"  {self.client_id}: SUBACK {list(body[2 + len(props):])}")

    def publish_in(self):
        """Read a PUBLISH: (qos, dup, packet id, topic, payload)."""
        ptype, flags, body = self.expect("PUBLISH")
        qos, dup = (flags >> 1) & 3, flags >> 3
        tlen = int.from_bytes(body[:2], "big")
        topic = body[2:2 + tlen].decode()
        pos = 2 + tlen
        pid = int.from_bytes(body[pos:pos + 2], "big") if qos else None
        pos += 2 if qos else 0
        if self.v5:
            plen, shift = 0, 0
            while True:
                byte = body[pos]
                pos += 1
                plen |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            pos += plen
        payload = body[pos:]
        say(f"  {self.client_id} got {topic} q{qos} dup{dup} id {pid} {payload!r}")
        return qos, dup, pid, topic, payload

    def ack(self, ptype, packet_id):
        first = {"PUBACK": 0x40, "PUBREC": 0x50, "PUBREL": 0x62, "PUBCOMP": 0x70}[ptype]
        self.send(first, packet_id.to_bytes(2, "big"))

    def reset(self):
        """Cut the connection with a TCP RST (SO_LINGER 0), no DISCONNECT."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
        self.sock = None
        say(f"  {self.client_id}: connection reset")

    def disconnect(self):
        self.send(0xE0, b"")
        self.sock.shutdown(socket.SHUT_WR)
        self.sock.settimeout(5)
        while self.sock.recv(4096):
            pass
        self.sock.close()
        self.sock = None


def paho_loop_until(c, predicate, what, timeout=10):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RecordError(f"timeout waiting for {what}")
        c.loop(0.05)


@scenario("reconnect-inflight-v311", ["reconnect-inflight-v311"])
def scen_reconnect_inflight_v311(lab):
    reconnect_inflight(lab, "3.1.1", "reconnect-inflight-v311")


@scenario("reconnect-inflight-v5", ["reconnect-inflight-v5"])
def scen_reconnect_inflight_v5(lab):
    reconnect_inflight(lab, "5", "reconnect-inflight-v5")


def reconnect_inflight(lab, version, name):
    """Connections cut (RST) with QoS 1 and QoS 2 flows in flight both ways; both
    sides resume them on the next connection of the session (§4.4)."""
    mqtt = paho()[0]
    v5 = version == "5"
    session = ("Clean Start 0, Session Expiry Interval 300" if v5 else "Clean Session 0")
    desc = (f"MQTT {vname(version)} sessions resumed after a TCP reset with QoS 1 and 2 flows in flight "
            f"({session}): paho-mqtt publishes QoS 1 and QoS 2 without reading the "
            "broker's PUBACK/PUBREC, its connection is reset, it reconnects and re-sends both "
            "with DUP; a hand-driven subscriber leaves a QoS 2 delivery at PUBREL and then a "
            "QoS 1 delivery unacknowledged, is reset, reconnects, and mosquitto re-sends the "
            "PUBREL and the PUBLISH with DUP")
    topic = "lab/resume/data"
    with mosquitto(lab, name, plain_listener()):
        with capture(lab, name, f"tcp port {MQTT_PORT}", desc):
            sub = RawClient("lab-resume-sub-v5" if v5 else "lab-resume-sub", version)
            sub.connect(clean=False)
            pause()
            sub.subscribe(1, "lab/resume/#", 2)
            pause()
            # paho without its network thread: publish() writes at once, and
            # nothing reads the broker's answers until loop() is called
            pub_id = "lab-resume-pub-v5" if v5 else "lab-resume-pub"
            if v5:
                pub = mqtt.Client(client_id=pub_id, protocol=mqtt.MQTTv5)
            else:
                pub = mqtt.Client(client_id=pub_id, protocol=mqtt.MQTTv311, clean_session=False)
            state = {"connack": [], "published": set()}
            pub.on_socket_open = lambda c, u, s: s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pub.on_connect = lambda c, u, flags, rc, *props: state["connack"].append((rc, flags))
            pub.on_publish = lambda c, u, mid: state["published"].add(mid)
            if v5:
                pub.connect(HOST, MQTT_PORT, keepalive=60, clean_start=False,
                            properties=props("CONNECT", SessionExpiryInterval=300))
            else:
                pub.connect(HOST, MQTT_PORT, keepalive=60)
            paho_loop_until(pub, lambda: state["connack"], "CONNACK")
            pause()
            m1 = pub.publish(topic, "qos 1, in flight when the connection is reset", qos=1)
            pause(0.05)
            m2 = pub.publish(topic, "qos 2, in flight when the connection is reset", qos=2)
            # the broker delivers the QoS 1 message at once (the QoS 2 one only
            # after the publisher's PUBREL); the subscriber answers in order
            first = sub.publish_in()
            sub.ack("PUBACK", first[2])
            pause(0.3)
            sock = pub.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            pub._sock_close()  # paho 1.6.1: close without DISCONNECT, messages kept
            say(f"  {pub_id}: connection reset with PUBACK and PUBREC unread")
            pause(0.3)
            pub.reconnect()
            paho_loop_until(pub, lambda: len(state["connack"]) == 2, "second CONNACK")
            say(f"  {pub_id}: CONNACK session present {state['connack'][1][1].get('session present')}")
            paho_loop_until(pub, lambda: {m1.mid, m2.mid} <= state["published"], "re-sent flows")
            # the re-sent QoS 1 message is a new publication, delivered again
            again = sub.publish_in()
            sub.ack("PUBACK", again[2])
            q2 = sub.publish_in()
            if q2[0] != 2:
                raise RecordError(f"{name}: expected the QoS 2 delivery, got {q2}")
            sub.ack("PUBREC", q2[2])
            sub.expect("PUBREL")
            pause()
            # the QoS 2 delivery waits for its PUBCOMP; one more QoS 1 message
            # is left unacknowledged, then the subscriber's connection is reset
            m3 = pub.publish(topic, "qos 1, unacknowledged by the subscriber", qos=1)
            paho_loop_until(pub, lambda: m3.mid in state["published"], "PUBACK of the third")
            q1 = sub.publish_in()
            pause(0.3)
            sub.reset()
            pause(0.3)
            if not sub.connect(clean=False):
                raise RecordError(f"{name}: subscriber session not present")
            # mosquitto re-sends the PUBREL and the PUBLISH (with DUP); they are
            # answered in the order they arrive [MQTT-4.6.0-2..4]
            for _ in range(2):
                ptype, flags, body = sub.read()
                if MSGTYPES[ptype] == "PUBREL":
                    if int.from_bytes(body[:2], "big") != q2[2]:
                        raise RecordError(f"{name}: PUBREL for another packet id")
                    say(f"  {sub.client_id} got PUBREL id {q2[2]} again")
                    sub.ack("PUBCOMP", q2[2])
                elif MSGTYPES[ptype] == "PUBLISH":
                    pid = int.from_bytes(body[2 + int.from_bytes(body[:2], "big"):][:2], "big")  # noqa
                    if pid != q1[2] or not flags & 0x08:
                        raise RecordError(f"{name}: expected PUBLISH id {q1[2]} with DUP")
                    say(f"  {sub.client_id} got PUBLISH id {pid} again with DUP")
                    sub.ack("PUBACK", pid)
                else:
                    raise RecordError(f"{name}: unexpected {MSGTYPES[ptype]}")
            pause()
            pub.disconnect()
            paho_loop_until(pub, lambda: pub.socket() is None, "publisher close", timeout=5)
            pause()
            sub.disconnect()
    mqtt_summary(LAB_DIR / f"{name}.pcapng")


@scenario("reconnect-inflight-js", ["reconnect-inflight-js-v311", "reconnect-inflight-js-v5"])
def scen_reconnect_inflight_js(lab):
    """mqtt.js sessions cut (RST) with QoS 1 and 2 PUBLISHes in flight; mqtt.js
    reconnects and re-sends them (record/reconnect_inflight.js)."""
    for level, name in ((4, "reconnect-inflight-js-v311"), (5, "reconnect-inflight-js-v5")):
        version = "5" if level == 5 else "3.1.1"
        session = "Clean Start 0, Session Expiry Interval 300" if level == 5 else "Clean Session 0"
        desc = (f"MQTT {vname(version)} mqtt.js session ({session}) reset (TCP RST) with a QoS 1 and a "
                "QoS 2 PUBLISH in flight, their PUBACK/PUBREC unread; mqtt.js reconnects by itself "
                "and re-sends both from its outgoing store")
        with mosquitto(lab, name, plain_listener()):
            with capture(lab, name, f"tcp port {MQTT_PORT}", desc):
                node(lab, "reconnect_inflight.js", MQTT_PORT, level)
        mqtt_summary(LAB_DIR / f"{name}.pcapng")


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def tool_versions():
    mqtt = paho()[0]

    def first_line(argv):
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except OSError:
            return "missing"
        text = (res.stdout + res.stderr).strip().splitlines()
        return text[0] if text else "unknown"

    def npm_version(pkg):
        import json
        try:
            return json.loads((JS_DIR / "node_modules" / pkg / "package.json").read_text())["version"]
        except (OSError, ValueError, KeyError):
            return "missing"

    v = {
        "mosquitto": first_line(["mosquitto", "-h"]).replace("mosquitto version ", ""),
        "mosquitto_pub": first_line(["mosquitto_pub", "--help"]).split("version ")[-1],
        "paho-mqtt": getattr(mqtt, "__version__", None) or __import__("paho.mqtt").mqtt.__version__,
        "python": sys.version.split()[0],
        "mqtt.js": npm_version("mqtt"),
        "aedes": npm_version("aedes"),
        "ws": npm_version("ws"),
        "node": first_line(["node", "--version"]).lstrip("v"),
        "openssl": first_line(["openssl", "version"]).split()[1],
        "dumpcap": first_line(["dumpcap", "--version"]).replace("Dumpcap (Wireshark) ", "").split()[0],
    }
    v["summary"] = ("recorded with " + ", ".join(
        f"{k} {v[k]}" for k in ("mosquitto", "paho-mqtt", "python", "mqtt.js", "aedes", "ws",
                                "node", "openssl", "dumpcap")))
    return v


def ensure_node_modules():
    if (JS_DIR / "node_modules" / "mqtt").is_dir() and (JS_DIR / "node_modules" / "aedes").is_dir():
        return
    say("installing node dependencies (npm ci) ...")
    run(["npm", "ci", "--no-audit", "--no-fund"], "npm ci", timeout=300, cwd=JS_DIR)


def check_prerequisites():
    if os.geteuid() != 0:
        raise RecordError("run as root (dumpcap captures on lo)")
    for tool in ("mosquitto", "mosquitto_pub", "mosquitto_sub", "mosquitto_passwd", "dumpcap",
                 "tshark", "editcap", "openssl", "node", "npm", "gcc", "ss"):
        if shutil.which(tool) is None:
            raise RecordError(f"{tool} not found (see the header of pcaps/record.py)")
    paho()


def interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="record only this scenario (or output file name); repeatable")
    parser.add_argument("--list", action="store_true", help="list scenarios and exit")
    parser.add_argument("--new-certs", action="store_true",
                        help="make a new test CA and broker certificate in pcaps/tls/")
    parser.add_argument("--keep-temp", action="store_true",
                        help="keep the temporary directory (configs, broker logs)")
    parser.add_argument("--will-victim", nargs=2, metavar=("VERSION", "TAG"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.will_victim:
        return will_victim(*args.will_victim)
    if args.list:
        for name, outputs, _ in SCENARIOS:
            say(f"{name:20} -> " + ", ".join(f"lab/{o}.pcapng" for o in outputs))
        return 0

    selected = SCENARIOS
    if args.only:
        wanted = {w.removesuffix(".pcapng") for w in args.only}
        selected = [s for s in SCENARIOS if s[0] in wanted or wanted & set(s[1])]
        unknown = wanted - {s[0] for s in selected} - {o for s in selected for o in s[1]}
        if unknown or not selected:
            say(f"unknown scenario(s): {', '.join(sorted(unknown)) or args.only}; see --list")
            return 2

    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="mqttlens-record-")
    lab = Lab(tmp)
    lab.new_certs = args.new_certs
    failed = []
    old_term = signal.signal(signal.SIGTERM, interrupt)
    try:
        check_prerequisites()
        ports = {MQTT_PORT, TLS_PORT}
        if any(s[0] == "websocket" for s in selected):
            ports.add(WS_PORT)
        require_free(sorted(ports))
        ensure_node_modules()
        lab.versions = tool_versions()
        say(lab.versions["summary"])
        for name, _, func in selected:
            say(f"== {name}")
            t0 = time.monotonic()
            try:
                func(lab)
            except (RecordError, subprocess.SubprocessError, OSError) as exc:
                say(f"  FAILED: {exc}")
                failed.append(name)
            except Exception:  # a bug in a scenario: report it, go on with the rest
                say("  FAILED with an unexpected error:\n" + traceback.format_exc())
                failed.append(name)
            finally:
                lab.stop_all()
            say(f"  ({time.monotonic() - t0:.1f} s)")
    except RecordError as exc:
        say(f"FAILED: {exc}")
        failed.append("prerequisites")
    except KeyboardInterrupt:
        say("interrupted")
        failed.append("interrupted")
    finally:
        lab.stop_all()
        signal.signal(signal.SIGTERM, old_term)
        if args.keep_temp or failed:
            say(f"temporary files kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    say(f"done in {time.monotonic() - started:.1f} s; "
        + (f"FAILED: {', '.join(failed)}" if failed else f"{len(selected)} scenario(s) recorded"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
