"""The flow graph, the sessions table and the logins (issue 13).

- tshark -z flow,mqttlens,standard over the lab captures and over loopback
  captures made here (one broker and several clients, all on 127.0.0.1):
  one lifeline per MQTT endpoint, every label whole and apart from its
  comment, no GLib critical, the comment elements the lab asks for;
  more than 40 endpoints are grouped and the graph says so; an encrypted
  capture without keys still prints its header and why it is empty.
- tshark -z mqttlens,sessions and -z credentials: golden files (reviewed
  by hand) plus each row's values.

Regenerate the golden files after an intended change with
MQTTLENS_UPDATE_BASELINES=1 and review the diff.
"""

import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import mqttlens  # noqa: E402

SOURCE = Path(__file__).resolve().parents[2]
LAB = SOURCE / "pcaps" / "lab"
GOLDEN = Path(__file__).resolve().parent / "golden"
LABEL = re.compile(r"^[A-Z]+(?: id=\d+)?(?: Q(?:oS )?[0-3])?$")


# ---- loopback captures ---------------------------------------------------------------

def mqtt_str(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def mqtt_packet(first, body):
    n, rl = len(body), b""
    while True:
        d, n = n % 128, n // 128
        rl += bytes([d | (0x80 if n else 0)])
        if not n:
            return bytes([first]) + rl + body


def connect(cid, user=None):
    flags = 0x02 | (0x80 if user else 0)
    body = mqtt_str("MQTT") + bytes([4, flags]) + struct.pack(">H", 60) + mqtt_str(cid)
    if user:
        body += mqtt_str(user)
    return mqtt_packet(0x10, body)


CONNACK_OK = mqtt_packet(0x20, b"\x00\x00")
CONNACK_REFUSED = mqtt_packet(0x20, b"\x00\x05")
DISCONNECT = mqtt_packet(0xE0, b"")


def subscribe(pid, topic, qos):
    return mqtt_packet(0x82, struct.pack(">H", pid) + mqtt_str(topic) + bytes([qos]))


def suback(pid, code):
    return mqtt_packet(0x90, struct.pack(">H", pid) + bytes([code]))


def publish(topic, payload, qos=0, pid=1):
    body = mqtt_str(topic) + (struct.pack(">H", pid) if qos else b"") + payload
    return mqtt_packet(0x30 | (qos << 1), body)


def write_pcap(path, segments):
    """segments: (client port, to_broker, payload); IPv4 127.0.0.1, broker 1883."""
    seq = {}
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for i, (port, up, payload) in enumerate(segments):
        sport, dport = (port, 1883) if up else (1883, port)
        s = seq.get((sport, dport), 1000)
        seq[(sport, dport)] = s + len(payload)
        ack = seq.get((dport, sport), 1000)
        tcp = struct.pack(">HHIIBBHHH", sport, dport, s, ack, 0x50, 0x18, 65535, 0, 0)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), i, 0, 64, 6, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
        frame = b"\x00" * 12 + b"\x08\x00" + ip + tcp + payload
        out.append(struct.pack("<IIII", 1700000000, i * 1000, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path


def broker_capture(path, clients, ids=None):
    """Each client connects, subscribes or publishes, and disconnects; with
    `ids`, client k has client id client-(k % ids)."""
    segs = []
    for k in range(clients):
        port = 40000 + k
        cid = f"client-{k % ids if ids else k}"
        segs += [(port, True, connect(cid, "alice" if k % 2 else None)), (port, False, CONNACK_OK)]
        if k % 2:
            segs += [(port, True, publish("lab/t", b"hello %d" % k, qos=0))]
        else:
            segs += [(port, True, subscribe(k + 1, "lab/#", 1)), (port, False, suback(k + 1, 1))]
    for k in range(clients):
        segs.append((40000 + k, True, DISCONNECT))
    return write_pcap(path, segs)


# ---- running tshark ------------------------------------------------------------------

def run(args, capture):
    """tshark's stdout and stderr."""
    t = mqttlens.tshark()
    cmd = t.command(["-r", str(t.readable(capture))] + list(args))
    proc = subprocess.run(cmd, env=t.env(), cwd=t.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, errors="replace")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr


def graph(capture, mode="standard"):
    out, err = run(["-q", "-z", f"flow,mqttlens,{mode}"], capture)
    assert "CRITICAL" not in err and "WARNING" not in err, err
    return out


def nodes(out):
    """The lifeline names of the header (two lines, alternating nodes)."""
    first, second = out.splitlines()[:2]
    a = [x.strip() for x in first.split("|")[2:] if x.strip()]
    b = [x.strip() for x in second.split("|")[2:] if x.strip()]
    names = []
    for i in range(max(len(a), len(b))):
        names += a[i:i + 1] + b[i:i + 1]
    return names


def rows(out):
    """(label, comment) of each arrow: the label line is the time, the label
    between lifelines, and after the last "|" the comment."""
    result = []
    for line in out.splitlines()[2:]:
        m = re.match(r"^(?:\d+\s*)?\|\d+\.\d+(.*)$", line)
        if not m:
            continue
        graph_part, _, comment = m.group(1).rpartition("|")
        label = " ".join(x.strip() for x in graph_part.split("|") if x.strip())
        result.append((label, comment))
    return result


def check_rows(out):
    rs = rows(out)
    assert rs, out
    for label, comment in rs:
        assert LABEL.match(label) or label == "TLS", f"label {label!r} not whole or run into its comment"
        comment = re.sub(r"^\[lifelines grouped [^]]*\] ", "", comment)
        assert re.match(r"frame \d+(\.\d+)?(: |$)", comment), f"comment {comment!r} does not start with its frame"
    return rs


# ---- flow graph ----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["subscribe-v311", "publish-qos012-v5", "auth-v311", "v5-topic-alias",
                                  "session-v311", "will-abrupt"])
def test_lab_graph_one_lifeline_per_endpoint(name):
    capture = LAB / f"{name}.pcapng"
    out = graph(capture)
    rs = check_rows(out)
    pdus = mqttlens.dissected(capture, "one")
    assert len(rs) == len(pdus) and pdus
    names = nodes(out)
    brokers = [n for n in names if n.startswith("broker ")]
    assert brokers == ["broker 127.0.0.1:1883"], names
    streams = {int(line.split()[0]) for line in out.splitlines() if re.match(r"^\d+\s*\|", line)} or {0}
    assert len(names) == len(streams) + 1, (names, streams)


def test_lab_subscribe_comments():
    out = graph(LAB / "subscribe-v311.pcapng")
    rs = dict((c.split(":")[0], (l, c)) for l, c in rows(out))
    assert nodes(out) == ["lab-sub-v311 127.0.0.1:34101", "broker 127.0.0.1:1883",
                          "lab-subpub-v311 127.0.0.1:53847"]
    assert rs["frame 4"] == ("CONNECT", 'frame 4: client id "lab-sub-v311", no user name, MQTT 3.1.1, '
                                        'keep alive 60 s')
    assert rs["frame 6"] == ("CONNACK", "frame 6: accepted; answers frame 4 after 1.205 ms")
    assert rs["frame 8"][1] == ("frame 8: lab/sub/v311/exact QoS 0, lab/sub/v311/+/temp QoS 1, "
                                "lab/sub/v311/# QoS 2")
    assert rs["frame 9"] == ("SUBACK id=1", "frame 9: granted QoS 0, QoS 1, QoS 2; answers frame 8 after 0.175 ms")
    assert rs["frame 22"] == ("PUBLISH id=2 QoS 1", 'frame 22: "lab/sub/v311/kitchen/temp": 21.5')
    # The Conv. column is the TCP stream.
    assert [line.split()[0] for line in out.splitlines() if "PUBLISH id=2 QoS 1" in line] == ["1"]


def test_lab_refused_login_and_user():
    out = graph(LAB / "auth-v311.pcapng")
    comments = [c for _, c in rows(out)]
    assert any('user "lab-user", password' in c for c in comments)
    assert any("refused: not authorized (0x05)" in c for c in comments)


def test_topic_alias_resolved():
    out = graph(LAB / "v5-topic-alias.pcapng")
    assert 'frame 18: "lab/alias/temperature" (sets alias 1): 21.5' in out
    assert 'frame 22: "lab/alias/temperature" (alias 1, set in frame 18): 21.6' in out


def test_payload_preview_preference():
    capture = LAB / "subscribe-v311.pcapng"
    out, _ = run(["-o", "mqttlens.flow_preview:4", "-q", "-z", "flow,mqttlens,standard"], capture)
    assert '"lab/sub/v311/exact": to t... (19 bytes)' in out


def test_loopback_broker_three_clients(tmp_path):
    capture = broker_capture(tmp_path / "three.pcap", 3)
    out = graph(capture)
    check_rows(out)
    assert nodes(out) == ["client-0 127.0.0.1:40000", "broker 127.0.0.1:1883", "client-1 127.0.0.1:40001",
                          "client-2 127.0.0.1:40002"]
    assert 'client id "client-1", user "alice"' in out
    assert '"lab/t": hello 1' in out


@pytest.mark.parametrize("mode", ["standard", "network"])
def test_more_than_40_endpoints_grouped_by_client_id(tmp_path, mode):
    """45 connections of 10 clients: one lifeline per client id."""
    capture = broker_capture(tmp_path / "many.pcap", 45, ids=10)
    out = graph(capture, mode)
    check_rows(out)
    assert sorted(nodes(out)) == sorted(["broker 127.0.0.1:1883"] + [f"client-{k}" for k in range(10)])
    assert "[lifelines grouped by client id: 46 endpoints, more than the 40 Wireshark draws]" in out
    # CONNECT, CONNACK, SUBSCRIBE + SUBACK or PUBLISH, DISCONNECT
    assert len(rows(out)) == sum(5 if k % 2 == 0 else 4 for k in range(45))


def test_more_than_40_client_ids_grouped_by_address(tmp_path):
    capture = broker_capture(tmp_path / "many.pcap", 45)
    out = graph(capture)
    check_rows(out)
    assert nodes(out) == ["clients at 127.0.0.1", "broker 127.0.0.1:1883"]
    assert "[lifelines grouped by client address: 46 endpoints, more than the 40 Wireshark draws]" in out


def test_encrypted_capture_says_why_it_is_empty():
    out = graph(LAB / "tls-8883.pcapng")
    assert nodes(out) == ["client 127.0.0.1:52009", "broker 127.0.0.1:8883"]
    assert "no MQTT decoded in this connection" in out and "tls.keylog_file" in out
    with_keys = graph(LAB / "tls-8883-keys.pcapng")
    assert "TLS on port" not in with_keys and "CONNECT" in with_keys


# ---- sessions and logins -------------------------------------------------------------

def golden(name, text):
    path = GOLDEN / name
    if os.environ.get("MQTTLENS_UPDATE_BASELINES") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}: run with MQTTLENS_UPDATE_BASELINES=1 and review it"
    assert text == path.read_text(), f"output differs from {path.name}"


def table(out):
    lines = [line for line in out.splitlines() if line.count(" |") > 10]
    head = [x.strip() for x in lines[0].split("|")[:-1]]
    return [dict(zip(head, (x.strip() for x in line.split("|")[:-1]))) for line in lines[1:]]


@pytest.mark.parametrize("passes", [["-2"], []], ids=["two-pass", "one-pass"])
def test_sessions_auth_v5(passes):
    out, _ = run(passes + ["-q", "-z", "mqttlens,sessions"], LAB / "auth-v5.pcapng")
    golden("auth-v5.sessions.txt", out)
    ok, bad, anon = table(out)
    assert (ok["Client id"], ok["User"], ok["Version"], ok["Result"], ok["End"]) == \
        ("lab-auth-ok-v5", "lab-user", "5.0", "accepted", "DISCONNECT by client")
    assert (ok["Keep alive (s)"], ok["Subscriptions"], ok["Published"], ok["Received"]) == ("60", "2", "2", "1")
    assert bad["Result"] == anon["Result"] == "refused: Not authorized (0x87)"
    assert anon["User"] == "(none)" and bad["End"] == "closed without DISCONNECT"
    assert (bad["Packets to broker"], bad["Packets to client"]) == ("1", "1")


def test_sessions_loopback(tmp_path):
    capture = broker_capture(tmp_path / "three.pcap", 3)
    out, _ = run(["-q", "-z", "mqttlens,sessions"], capture)
    rs = table(out)
    assert [r["Client id"] for r in rs] == ["client-0", "client-1", "client-2"]
    assert [r["User"] for r in rs] == ["(none)", "alice", "(none)"]
    assert [(r["Published"], r["Subscriptions"]) for r in rs] == [("0", "1"), ("1", "0"), ("0", "1")]
    assert all(r["End"] == "DISCONNECT by client" and r["Result"] == "accepted" for r in rs)


# Lab captures, and generated ones where connections end with TCP's FIN or
# RST (with and without DISCONNECT), on one broker.
GENERATED = SOURCE / "pcaps" / "generated"
SESSION_CAPTURES = sorted(LAB.glob("*.pcapng")) + sorted((GENERATED / "journeys").glob("*.pcap")) + [
    GENERATED / "tracking" / "v5-keepalive-timeout.pcap", GENERATED / "websocket" / "v311-ws-no-subprotocol.pcap"]


@pytest.mark.parametrize("capture", SESSION_CAPTURES, ids=[c.name for c in SESSION_CAPTURES])
def test_sessions_one_pass_equals_two(capture):
    """How a connection ended is known in one pass too: the dissector learns
    of TCP's FIN or RST on the frame that carries it."""
    one, _ = run(["-q", "-z", "mqttlens,sessions"], capture)
    two, _ = run(["-2", "-q", "-z", "mqttlens,sessions"], capture)
    assert one == two


def test_sessions_closed_in_one_pass():
    """FIN before a DISCONNECT, RST, DISCONNECT then FIN, in one pass."""
    out, _ = run(["-q", "-z", "mqttlens,sessions"], GENERATED / "journeys" / "v311-subscriber-gone.pcap")
    ends = [(r["Client id"], r["End"]) for r in table(out)]
    closed, bye = "closed without DISCONNECT", "DISCONNECT by client"
    assert ends == [("pub", bye), ("gets-it", bye), ("fin-before", closed), ("rst-within", closed),
                    ("bye-within", bye), ("unsub-within", bye), ("durable", closed), ("bye-late", bye),
                    ("stays-open", bye),
                    ("durable", bye)]


@pytest.mark.parametrize("name", ["auth-v311", "auth-v5", "enhanced-auth-v5"])
def test_credentials(name):
    out, _ = run(["-q", "-z", "credentials"], LAB / f"{name}.pcapng")
    golden(f"{name}.credentials.txt", out)
    info = [line for line in out.splitlines() if line.split()[:2][1:] == ["MQTT"]]
    assert len(info) == 3
    assert "accepted: " in info[0] and all("refused: " in line for line in info[1:])
    if name != "enhanced-auth-v5":
        assert "(anonymous)" in info[2] and "no password" in info[2]
    else:
        assert "(method SCRAM-SHA-256)" in info[2]
