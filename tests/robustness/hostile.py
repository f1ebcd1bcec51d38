#!/usr/bin/python3
"""Writes the hostile captures that probe mqttlens' bounds.

They are large, so they are written on demand (by the robustness tests and
tools/benchmark.py) rather than committed:

  ids-in-flight        65,535 QoS 1 PUBLISH open at once in each direction, then all acknowledged
  aliases              every Topic Alias (1..65,535) set and then remapped, in both directions
  connections          N short connections (default 100,000): CONNECT, CONNACK, PUBLISH, DISCONNECT
  rl-max               Remaining Length claims of 268,435,455 bytes with no data, then FIN
  user-properties      one PUBLISH with 10,000 User Properties
  filters              one SUBSCRIBE with 10,000 Topic Filters, and its SUBACK

and, to reach the per-connection limits of docs/analysis.md (LIMIT_SCENARIOS,
written with --limits):

  pings                70 PINGREQs that get no PINGRESP
  subscription-ids     4,100 SUBSCRIBEs, each with its own Subscription Identifier
  ack-order            one server PUBLISH left open while 70,000 others are acknowledged

Every scenario takes a scale (default 1.0) that multiplies its size, so that
the benchmark can compare a capture with one twice its size:

  hostile.py OUTDIR [--scale F] [--connections N] [--only NAME ...]
"""

import argparse
import struct
import sys
from contextlib import contextmanager
from pathlib import Path

BROKER_IP = bytes([10, 99, 0, 1])
MQTT_PORT = 1883
T0 = 1704067200


def vbi(n):
    out = bytearray()
    while True:
        d = n % 128
        n //= 128
        out.append(d | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(text):
    b = text.encode() if isinstance(text, str) else text
    return struct.pack("!H", len(b)) + b


def packet(byte1, body):
    return bytes([byte1]) + vbi(len(body)) + body


def props(block):
    return vbi(len(block)) + block


def connect5(client_id, extra_props=b""):
    return packet(0x10, s("MQTT") + bytes([5, 0x02]) + struct.pack("!H", 60) + props(extra_props) + s(client_id))


def connack5(extra_props=b""):
    return packet(0x20, bytes([0, 0]) + props(extra_props))


def publish5(topic, payload, qos=0, pid=0, extra_props=b""):
    body = s(topic) + (struct.pack("!H", pid) if qos else b"") + props(extra_props) + payload
    return packet(0x30 | (qos << 1), body)


def puback(pid):
    return packet(0x40, struct.pack("!H", pid))


def disconnect():
    return packet(0xE0, b"")


def topic_alias(n):
    return bytes([0x23]) + struct.pack("!H", n)


def alias_maximum(n):
    return bytes([0x22]) + struct.pack("!H", n)


class Pcap:
    """A classic pcap of Ethernet/IPv4/TCP frames, written as it goes."""

    def __init__(self, path):
        self.f = open(path, "wb")
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        self.us = 0

    def frame(self, src, dst, sport, dport, seq, ack, flags, payload):
        tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 0x50, flags, 65535, 0, 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
        eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
        pkt = eth + ip + tcp
        self.us += 100
        self.f.write(struct.pack("<IIII", T0 + self.us // 1000000, self.us % 1000000, len(pkt), len(pkt)) + pkt)

    def close(self):
        self.f.close()


class Stream:
    """One TCP connection: handshake, data both ways, FIN. Checksums are
    left at zero (Wireshark does not verify them by default)."""

    SYN, ACK, FIN, PSH = 0x02, 0x10, 0x01, 0x08

    def __init__(self, pcap, n):
        self.p = pcap
        self.cip = bytes([10, 100 + (n >> 16) % 100, (n >> 8) & 0xFF, n & 0xFF])
        self.cport = 20000 + n % 40000
        self.seq = {"c": 1000, "s": 5000}
        self._send("c", self.SYN, b"")
        self._send("s", self.SYN | self.ACK, b"")
        self._send("c", self.ACK, b"")

    def _send(self, d, flags, payload):
        src, dst = (self.cip, BROKER_IP) if d == "c" else (BROKER_IP, self.cip)
        sport, dport = (self.cport, MQTT_PORT) if d == "c" else (MQTT_PORT, self.cport)
        other = "s" if d == "c" else "c"
        self.p.frame(src, dst, sport, dport, self.seq[d], self.seq[other], flags, payload)
        self.seq[d] = (self.seq[d] + len(payload) + (1 if flags & (self.SYN | self.FIN) else 0)) & 0xFFFFFFFF

    def c(self, data):
        for off in range(0, len(data), 60000):
            self._send("c", self.ACK | self.PSH, data[off:off + 60000])

    def s(self, data):
        for off in range(0, len(data), 60000):
            self._send("s", self.ACK | self.PSH, data[off:off + 60000])

    def close(self):
        self._send("c", self.FIN | self.ACK, b"")
        self._send("s", self.FIN | self.ACK, b"")
        self._send("c", self.ACK, b"")


@contextmanager
def session(p, n, client_id, connect_props=b"", connack_props=b""):
    """Connection n from CONNECT/CONNACK to DISCONNECT and FIN; the body
    sends what comes in between."""
    k = Stream(p, n)
    k.c(connect5(client_id, connect_props))
    k.s(connack5(connack_props))
    yield k
    k.c(disconnect())
    k.close()


def batched(send, packets, size=60000):
    """Sends packets back to back in TCP segments of at most `size` bytes
    (a packet may span segments, several may share one)."""
    data = b"".join(packets)
    for off in range(0, len(data), size):
        send(data[off:off + size])


def scaled(n, scale, top=None):
    n = max(1, int(round(n * scale)))
    return min(n, top) if top else n


def ids_in_flight(p, scale=1.0):
    ids = range(1, scaled(65535, scale, 65535) + 1)
    with session(p, 1, "ids") as k:
        batched(k.c, [publish5("up/%d" % i, b"x", qos=1, pid=i) for i in ids])
        batched(k.s, [publish5("down/%d" % i, b"y", qos=1, pid=i) for i in ids])
        batched(k.s, [puback(i) for i in ids])
        batched(k.c, [puback(i) for i in ids])


def aliases(p, scale=1.0):
    top = scaled(65535, scale, 65535)
    with session(p, 2, "aliases", connect_props=alias_maximum(65535), connack_props=alias_maximum(65535)) as k:
        for rnd in ("first", "remapped"):
            for d in (k.c, k.s):
                batched(d, [publish5("%s/topic/alias/%05d" % (rnd, i), b"v", extra_props=topic_alias(i))
                            for i in range(1, top + 1)])
                batched(d, [publish5("", b"u", extra_props=topic_alias(i)) for i in range(1, top + 1, 97)])


def connections(p, scale=1.0, n=100000):
    for i in range(scaled(n, scale)):
        with session(p, 1000 + i, "c%06d" % i) as k:
            k.c(publish5("load/%d" % (i % 100), b"1"))


def rl_max(p, scale=1.0):
    for i in range(scaled(20, scale)):
        k = Stream(p, 3 + i)
        k.c(connect5("rl%d" % i))
        k.s(connack5())
        k.c(bytes([0x30, 0xFF, 0xFF, 0xFF, 0x7F]) + s("t") + b"only a few bytes")
        k.close()


def user_properties(p, scale=1.0):
    with session(p, 4, "props") as k:
        block = b"".join(bytes([0x26]) + s("k%d" % i) + s("v") for i in range(scaled(10000, scale)))
        batched(k.c, [publish5("props/many", b"payload", extra_props=block)])


def filters(p, scale=1.0):
    n = scaled(10000, scale)
    with session(p, 5, "filters") as k:
        body = struct.pack("!H", 1) + props(b"") + b"".join(s("f/%d/+" % i) + b"\x01" for i in range(n))
        k.c(packet(0x82, body))
        k.s(packet(0x90, struct.pack("!H", 1) + props(b"") + b"\x01" * n))


def pingreq():
    return packet(0xC0, b"")


def pings(p, scale=1.0):
    with session(p, 6, "pings") as k:
        for _ in range(scaled(70, scale)):
            k.c(pingreq())


def subscription_ids(p, scale=1.0):
    n = scaled(4100, scale)
    with session(p, 7, "sub-ids") as k:
        for i in range(1, n + 1):
            sid = bytes([0x0B]) + vbi(i)
            k.c(packet(0x82, struct.pack("!H", i) + props(sid) + s("ids/%d" % i) + b"\x01"))
            k.s(packet(0x90, struct.pack("!H", i) + props(b"") + b"\x01"))


def ack_order(p, scale=1.0):
    with session(p, 8, "order") as k:
        k.s(publish5("order/held", b"h", qos=1, pid=1))
        # Rounds of 1,000: the server publishes ids 2..1001, the client
        # acknowledges them; id 1 stays open throughout.
        for _ in range(scaled(70, scale)):
            batched(k.s, [publish5("order/%d" % pid, b"o", qos=1, pid=pid) for pid in range(2, 1002)])
            batched(k.c, [puback(pid) for pid in range(2, 1002)])
        k.c(puback(1))


LIMIT_SCENARIOS = {
    "pings": pings,
    "subscription-ids": subscription_ids,
    "ack-order": ack_order,
}


SCENARIOS = {
    "ids-in-flight": ids_in_flight,
    "aliases": aliases,
    "connections": connections,
    "rl-max": rl_max,
    "user-properties": user_properties,
    "filters": filters,
}


def write(outdir, name, scale=1.0, n_connections=100000, path=None):
    path = Path(path or Path(outdir) / f"hostile-{name}.pcap")
    p = Pcap(path)
    if name == "connections":
        connections(p, scale, n_connections)
    else:
        {**SCENARIOS, **LIMIT_SCENARIOS}[name](p, scale)
    p.close()
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--connections", type=int, default=100000)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--only", action="append", choices=sorted({**SCENARIOS, **LIMIT_SCENARIOS}))
    ap.add_argument("--limits", action="store_true", help="also the captures that reach the per-connection limits")
    args = ap.parse_args()
    Path(args.outdir).mkdir(parents=True, exist_ok=True)
    names = args.only or list(SCENARIOS) + (list(LIMIT_SCENARIOS) if args.limits else [])
    for name in names:
        print(write(args.outdir, name, args.scale, args.connections))
    return 0


if __name__ == "__main__":
    sys.exit(main())
