"""The CONNECT heuristic (mqttlens_tcp, mqttlens_tls): how often it claims a
connection that is not MQTT, and that it claims MQTT on any port.

False positives are measured on
  * every TCP connection of ../shared/peer-captures (real captures of other
    projects) that mqttlens does not take by port: one claimed by the
    heuristic must be MQTT by Wireshark's built-in dissector too (Decode As
    on its port), else it is a false positive;
  * a few thousand synthetic connections written here, none of them MQTT:
    random bytes, random bytes after a 0x10 (the CONNECT's first byte),
    and text and binary protocols (HTTP, SMTP, FTP, SSH, Redis, JSON lines,
    TLS records, DNS over TCP, ...), each direction in one to three
    segments, on ports no dissector owns.
Every other protocol with a TCP heuristic is disabled for the measurement,
so that none of them takes a stream before mqttlens is asked.  Any claimed non-MQTT
connection fails the test; the counts are printed (docs/heuristics.md).
"""

import os
import random
import struct
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import mqttlens  # noqa: E402

SOURCE = Path(os.environ.get("MQTTLENS_SOURCE", Path(__file__).resolve().parents[2]))
SHARED = Path(os.environ.get("MQTTLENS_SHARED", SOURCE.parent / "shared"))
PEERS = SHARED / "peer-captures"
GENERATED = SOURCE / "pcaps" / "generated" / "transport"
HEURISTICS = ("mqttlens_tcp", "mqttlens_tls")
STREAMS_PER_KIND = 600


def heuristic_protocols(table):
    out = mqttlens.tshark().run(["-G", "heuristic-decodes"])
    return sorted({line.split("\t")[1] for line in out.splitlines() if line.startswith(table + "\t")})


def others_disabled():
    """Every other protocol with a heuristic on TCP, disabled."""
    args = []
    for name in heuristic_protocols("tcp"):
        if name != "mqttlens":
            args += ["--disable-protocol", name]
    return args


def owned_tcp_ports():
    out = mqttlens.tshark().run(["-G", "decodes"])
    return {int(f[1]) for f in (line.split("\t") for line in out.splitlines())
            if len(f) >= 2 and f[0] == "tcp.port" and f[1].isdigit()}


def streams_of(capture, extra=()):
    """Every tcp.stream of the capture, and those carrying mqttlens packets
    (with their lower port, the server's)."""
    out = mqttlens.tshark().run(["-n", "-T", "fields", "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.dstport",
                                 "-e", "mqttlens.type", "-Y", "tcp"] + list(extra), capture)
    every, claimed = set(), {}
    for line in out.splitlines():
        stream, sport, dport, kinds = line.split("\t")
        every.add(int(stream))
        if kinds:
            claimed.setdefault(int(stream), min(int(sport), int(dport)))
    return every, claimed


# ---- synthetic non-MQTT connections --------------------------------------------------

def _text_kinds(rnd):
    word = lambda: "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(1, 9)))
    return {
        "http": (lambda: b"GET /%s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n\r\n" % (word().encode(), word().encode()),
                 lambda: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        "smtp": (lambda: b"EHLO %s\r\n" % word().encode(), lambda: b"220 %s ESMTP ready\r\n" % word().encode()),
        "ftp": (lambda: b"USER %s\r\n" % word().encode(), lambda: b"220 FTP server ready\r\n"),
        "ssh": (lambda: b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", lambda: b"SSH-2.0-OpenSSH_8.4\r\n"),
        "redis": (lambda: b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(w := word()), w.encode()), lambda: b"$-1\r\n"),
        "json": (lambda: b'{"%s": %d, "%s": "%s"}\n' % (word().encode(), rnd.randint(0, 99999), word().encode(),
                                                       word().encode()), lambda: b'{"ok": true}\n'),
        "lines": (lambda: (" ".join(word() for _ in range(rnd.randint(1, 12))) + "\n").encode(),
                  lambda: (" ".join(word() for _ in range(rnd.randint(1, 12))) + "\n").encode()),
        "tls": (lambda: b"\x16\x03\x01" + struct.pack(">H", 200) + bytes(rnd.getrandbits(8) for _ in range(200)),
                lambda: b"\x16\x03\x03" + struct.pack(">H", 90) + bytes(rnd.getrandbits(8) for _ in range(90))),
        "dns": (lambda: struct.pack(">H", 30) + bytes(rnd.getrandbits(8) for _ in range(30)),
                lambda: struct.pack(">H", 60) + bytes(rnd.getrandbits(8) for _ in range(60))),
    }


def _random(rnd, first=None):
    data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 1400)))
    return bytes([first]) + data if first is not None else data


# Positive controls: MQTT connections among the others, which the heuristic
# must claim (so that the measurement can see a claim at all).
CONTROLS = [
    ("control-v31", b"\x10\x14\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x06lens31", b"\x20\x02\x00\x00"),
    ("control-v311", b"\x10\x12\x00\x04MQTT\x04\x02\x00\x3c\x00\x06lens11", b"\x20\x02\x00\x00"),
    ("control-v5", b"\x10\x13\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x06lens50", b"\x20\x03\x00\x00\x00"),
]


def synthetic_streams(seed=14):
    """(kind, client bytes, server bytes) for every synthetic connection."""
    rnd = random.Random(seed)
    streams = list(CONTROLS)
    for _ in range(STREAMS_PER_KIND):
        streams.append(("random", _random(rnd), _random(rnd)))
        streams.append(("random-after-0x10", _random(rnd, 0x10), _random(rnd)))
        streams.append(("printable", bytes(rnd.randint(32, 126) for _ in range(rnd.randint(1, 900))),
                        bytes(rnd.randint(32, 126) for _ in range(rnd.randint(1, 900)))))
    kinds = _text_kinds(rnd)
    for _ in range(STREAMS_PER_KIND // 3):
        for name, (client, server) in kinds.items():
            streams.append((name, b"".join(client() for _ in range(rnd.randint(1, 4))),
                            b"".join(server() for _ in range(rnd.randint(1, 4)))))
    return streams


def _frame(src, dst, sport, dport, seq, ack, flags, payload):
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 65535, 0, 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + tcp


def write_streams(path, streams, ports):
    """A classic pcap: per connection a handshake, then each direction's
    bytes in one to three segments (client first)."""
    rnd = random.Random(len(streams))
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    t = 1704067200 * 1000000
    for i, (kind, c, s) in enumerate(streams):
        cip, sip = bytes([10, 1, i >> 8 & 255, i & 255]), bytes([10, 2, i >> 8 & 255, i & 255])
        cport, sport = ports[i % len(ports)]
        seq = {"c": 1000, "s": 5000}
        frames = [(cip, sip, cport, sport, seq["c"], 0, 0x02, b""),
                  (sip, cip, sport, cport, seq["s"], seq["c"] + 1, 0x12, b""),
                  (cip, sip, cport, sport, seq["c"] + 1, seq["s"] + 1, 0x10, b"")]
        seq["c"] += 1
        seq["s"] += 1
        for side, data in (("c", c), ("s", s)):
            cuts = sorted(rnd.sample(range(1, len(data)), min(len(data) - 1, rnd.randint(0, 2))))
            if kind.startswith("control"):
                cuts = []
            for a, b in zip([0] + cuts, cuts + [len(data)]):
                other = "s" if side == "c" else "c"
                hdr = (cip, sip, cport, sport) if side == "c" else (sip, cip, sport, cport)
                frames.append(hdr + (seq[side], seq[other], 0x18, data[a:b]))
                seq[side] += b - a
        for f in frames:
            pkt = _frame(*f)
            out += struct.pack("<IIII", t // 1000000, t % 1000000, len(pkt), len(pkt)) + pkt
            t += 1000
    path.write_bytes(bytes(out))
    os.chmod(path, 0o644)


def free_ports(owned, rnd, n):
    pool = [p for p in range(20000, 65536) if p not in owned]
    return [(rnd.choice(pool), rnd.choice(pool)) for _ in range(n)]


# ---- tests ------------------------------------------------------------------------------

def test_synthetic_streams_are_not_claimed(tmp_path):
    streams = synthetic_streams()
    ports = free_ports(owned_tcp_ports(), random.Random(1883), 997)
    capture = tmp_path / "not-mqtt.pcap"
    write_streams(capture, streams, ports)
    total, claimed = streams_of(capture, others_disabled())
    assert len(total) == len(streams), "every synthetic connection is one TCP stream"
    controls = set(range(len(CONTROLS)))
    assert controls <= set(claimed), f"the MQTT controls were not all found: {sorted(claimed)}"
    claimed = {s: p for s, p in claimed.items() if s not in controls}
    streams = streams[len(CONTROLS):]
    claimed = {s - len(CONTROLS): p for s, p in claimed.items()}
    by_kind = {}
    for i, (kind, _c, _s) in enumerate(streams):
        n, bad = by_kind.get(kind, (0, 0))
        by_kind[kind] = (n + 1, bad + (i in claimed))
    for kind, (n, bad) in sorted(by_kind.items()):
        print(f"synthetic {kind}: {bad} of {n} connections claimed")
    print(f"synthetic total: {len(claimed)} of {len(streams)} non-MQTT connections claimed "
          f"({100.0 * len(claimed) / len(streams):.3f} %)")
    assert not claimed, f"non-MQTT connections claimed by the heuristic: {sorted(claimed)[:20]}"


def peer_captures():
    return sorted(p for p in PEERS.rglob("*") if p.suffix in (".pcap", ".pcapng")) if PEERS.is_dir() else []


@pytest.mark.skipif(not PEERS.is_dir(), reason=f"{PEERS} is absent: peer captures not measured")
def test_peer_streams_claimed_only_when_mqtt():
    off = []
    for h in HEURISTICS:
        off += ["--disable-heuristic", h]
    streams = heuristic = false = 0
    for capture in peer_captures():
        every, with_heur = streams_of(capture)
        _every, by_port = streams_of(capture, off)
        streams += len(every - set(by_port))
        for stream, port in with_heur.items():
            if stream in by_port:
                continue
            heuristic += 1
            builtin = mqttlens.tshark().run(["-n", "--disable-protocol", "mqttlens", "-d", f"tcp.port=={port},mqtt",
                                             "-Y", f"tcp.stream=={stream} && mqtt.msgtype == 1", "-T", "fields",
                                             "-e", "frame.number"], capture)
            if not builtin.strip():
                false += 1
                print(f"false positive: {capture} stream {stream} (port {port})")
    print(f"peer captures: {len(peer_captures())} files, {streams} TCP connections not taken by port, "
          f"{heuristic} claimed by the heuristic, {false} of them not MQTT")
    assert not false


def test_mqtt_found_on_other_ports():
    for capture in sorted(GENERATED.glob("*.pcap")):
        kinds = mqttlens.tshark().run(["-n", "-T", "fields", "-e", "mqttlens.type", "-Y", "mqttlens"], capture).split()
        assert kinds and kinds[0].split(",")[0] == "1", f"{capture.name}: not found by the heuristic"


def test_preference_turns_the_heuristic_off():
    capture = GENERATED / "v311-port-11883.pcap"
    off = mqttlens.tshark().run(["-n", "-o", "mqttlens.heuristic_connect:FALSE", "-Y", "mqttlens"], capture)
    assert not off.strip()
    disabled = mqttlens.tshark().run(["-n", "--disable-heuristic", "mqttlens_tcp", "-Y", "mqttlens"], capture)
    assert not disabled.strip()


def test_decode_as_still_works():
    capture = GENERATED / "v311-port-11883.pcap"
    rows = mqttlens.packets(capture, extra=["-o", "mqttlens.heuristic_connect:FALSE", "-d", "tcp.port==11883,mqttlens"])
    assert [p.first("mqttlens.type") for p in rows][:2] == ["1", "2"]


def test_run_heuristic_is_off_by_default_and_measured(tmp_path):
    """The opt-in heuristic (a run of well-formed packets both ways): off
    by default; its rate on the same synthetic connections is printed for
    docs/heuristics.md, and a capture that starts after the CONNECT is
    found with it."""
    late = tmp_path / "late.pcap"
    subprocess.run(["editcap", "-r", str(GENERATED / "v311-port-11883.pcap"), str(late), "6-1000"], check=True)
    os.chmod(late, 0o644)
    assert not mqttlens.tshark().run(["-n", "-Y", "mqttlens"], late).strip()
    found = mqttlens.tshark().run(["-n", "-o", "mqttlens.heuristic_run:TRUE", "-T", "fields", "-e", "mqttlens.type",
                                   "-Y", "mqttlens"], late).split()
    assert found, "the run heuristic did not find MQTT after the CONNECT"
    streams = synthetic_streams()
    capture = tmp_path / "not-mqtt.pcap"
    write_streams(capture, streams, free_ports(owned_tcp_ports(), random.Random(1883), 997))
    _total, claimed = streams_of(capture, others_disabled() + ["-o", "mqttlens.heuristic_run:TRUE",
                                                               "-o", "mqttlens.heuristic_connect:FALSE"])
    print(f"run heuristic: {len(claimed)} of {len(streams) - len(CONTROLS)} synthetic non-MQTT connections claimed")


def test_run_heuristic_takes_the_client_from_the_packet_types(tmp_path):
    """A capture that starts after the CONNECT, whose client has the lower
    port: the run heuristic claims it at the fourth packet (a PUBACK, sent
    by both sides), but the PINGREQ and PINGRESP it saw before name the
    client, so the ports (the client has the higher one) are not asked.
    Then a run whose two sides both send PINGREQ is never claimed."""
    cip, sip, cport, sport = bytes([10, 1, 0, 1]), bytes([10, 2, 0, 1]), 20001, 40001

    def capture(path, segments):
        seq = {"c": 1000, "s": 5000}
        out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        t = 1704067200 * 1000000
        for side, data in segments:
            hdr = (cip, sip, cport, sport) if side == "c" else (sip, cip, sport, cport)
            frame = _frame(*hdr, seq[side], seq["s" if side == "c" else "c"], 0x18, data)
            seq[side] += len(data)
            t += 1000
            out += struct.pack("<IIII", t // 1000000, t % 1000000, len(frame), len(frame)) + frame
        path.write_bytes(bytes(out))
        os.chmod(path, 0o644)
        return path

    publish = lambda pid: b"\x32\x0a\x00\x04lens" + struct.pack(">H", pid) + b"ab"
    puback = lambda pid: b"\x40\x02" + struct.pack(">H", pid)
    late = capture(tmp_path / "low-client.pcap", [("c", b"\xc0\x00"), ("s", b"\xd0\x00"), ("c", publish(3)),
                                                  ("s", puback(3)), ("c", publish(4)), ("s", puback(4))])
    run = ["-n", "-o", "mqttlens.heuristic_run:TRUE", "-q", "-z", "flow,mqttlens,standard"]
    flow = mqttlens.tshark().run(run, late)
    assert f"broker 10.2.0.1:{sport}" in flow and f"client 10.1.0.1:{cport}" in flow, flow
    both = capture(tmp_path / "both-ping.pcap", [("c", b"\xc0\x00"), ("s", b"\xc0\x00"), ("c", publish(3)),
                                                 ("s", puback(3)), ("c", publish(4)), ("s", puback(4))])
    assert not mqttlens.tshark().run(["-n", "-o", "mqttlens.heuristic_run:TRUE", "-Y", "mqttlens"], both).strip()
