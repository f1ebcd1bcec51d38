#!/usr/bin/python3
"""Writes a capture of ordinary IoT traffic, for tools/benchmark.py.

Many clients, a few dozen connected at a time, each of which connects
(MQTT 5.0 for two clients in three, 3.1.1 for the others), subscribes to
its command and configuration topics, publishes telemetry (QoS 0 mostly,
QoS 1 every third message, QoS 2 every tenth with PUBREC/PUBREL/PUBCOMP, a
large payload every twentieth), receives commands from the broker at QoS 1
and acknowledges them, pings, unsubscribes and disconnects.  TCP segments
are at most 1,460 bytes, so large payloads span several segments; bursts of
small telemetry are coalesced into one segment, and now and then a packet is
split right after its fixed header.  The connections of a batch run
interleaved, as on a broker's port.

The size is the number of clients: a capture with twice the clients has
twice the frames (about 100 frames per client), so the benchmark can
measure how the cost grows.

  realistic.py OUT.pcap [--clients N]
"""

import argparse
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hostile  # noqa: E402
from hostile import packet, props, s, vbi  # noqa: E402

MSS = 1460
BATCH = 40          # clients connected at the same time
ROUNDS = 40         # telemetry messages per client


def connect(version, client_id, user):
    flags = 0x02 | 0x80 | 0x40        # clean start, user name, password
    if version == 5:
        p = bytes([0x11]) + struct.pack("!I", 300) + bytes([0x21]) + struct.pack("!H", 20) \
            + bytes([0x22]) + struct.pack("!H", 10)
        return packet(0x10, s("MQTT") + bytes([5, flags]) + struct.pack("!H", 60) + props(p)
                      + s(client_id) + s(user) + s("secret-" + user))
    return packet(0x10, s("MQTT") + bytes([4, flags]) + struct.pack("!H", 60)
                  + s(client_id) + s(user) + s("secret-" + user))


def connack(version):
    if version == 5:
        p = bytes([0x21]) + struct.pack("!H", 100) + bytes([0x22]) + struct.pack("!H", 10)
        return packet(0x20, bytes([0, 0]) + props(p))
    return packet(0x20, bytes([0, 0]))


def v5(version, block=b""):
    return props(block) if version == 5 else b""


def subscribe(version, pid, filters):
    body = struct.pack("!H", pid) + v5(version) + b"".join(s(f) + bytes([q]) for f, q in filters)
    return packet(0x82, body)


def suback(version, pid, codes):
    return packet(0x90, struct.pack("!H", pid) + v5(version) + bytes(codes))


def unsubscribe(version, pid, filters):
    return packet(0xA2, struct.pack("!H", pid) + v5(version) + b"".join(s(f) for f in filters))


def unsuback(version, pid, n):
    return packet(0xB0, struct.pack("!H", pid) + (v5(version) + bytes(n) if version == 5 else b""))


def publish(version, topic, payload, qos=0, pid=0, block=b""):
    body = s(topic) + (struct.pack("!H", pid) if qos else b"") + v5(version, block) + payload
    return packet(0x30 | (qos << 1), body)


def ack(kind, pid):
    """PUBACK (0x40), PUBREC (0x50), PUBREL (0x62), PUBCOMP (0x70): success, short form."""
    return packet(kind, struct.pack("!H", pid))


def telemetry(n, site, client, k):
    return ('{"site":"%s","dev":"%s","seq":%d,"temp":%.1f,"hum":%d,"bat":%d}'
            % (site, client, k, 18 + (n * 7 + k) % 90 / 10, 30 + (n + k) % 50, 100 - k % 100)).encode()


def large(n, k):
    """A firmware chunk or an image: 3,000 to 9,000 bytes."""
    size = 3000 + (n * 131 + k * 977) % 6000
    return bytes((n + k + i) & 0xFF for i in range(size))


class Client:
    def __init__(self, pcap, n):
        self.n = n
        self.version = 4 if n % 3 == 0 else 5
        self.id = "dev-%05d" % n
        self.site = "site%02d" % (n % 17)
        self.k = hostile.Stream(pcap, n)
        self.pid = 0
        self.steps = self._steps()

    def _send(self, d, data):
        """One direction's bytes in segments of at most MSS bytes."""
        for off in range(0, len(data), MSS):
            self.k._send(d, self.k.ACK | self.k.PSH, data[off:off + MSS])

    def _next_pid(self):
        self.pid = self.pid % 65535 + 1
        return self.pid

    def _steps(self):
        """Yields after each exchange, so that clients interleave."""
        v, c, s_ = self.version, (lambda b: self._send("c", b)), (lambda b: self._send("s", b))
        c(connect(v, self.id, "user%03d" % (self.n % 250)))
        s_(connack(v))
        yield
        pid = self._next_pid()
        c(subscribe(v, pid, [("cmd/%s/#" % self.id, 1), ("config/%s/+" % self.site, 1)]))
        s_(suback(v, pid, [1, 1]))
        yield
        base = "sensors/%s/%s" % (self.site, self.id)
        burst = []
        for k in range(ROUNDS):
            block = b""
            if v == 5 and k % 4 == 0:
                block = bytes([0x03]) + s("application/json") + bytes([0x02]) + struct.pack("!I", 3600)
            if k % 20 == 19:
                pid = self._next_pid()
                c(publish(v, base + "/blob", large(self.n, k), qos=1, pid=pid))
                s_(ack(0x40, pid))
            elif k % 10 == 9:
                pid = self._next_pid()
                c(publish(v, base + "/event", telemetry(self.n, self.site, self.id, k), qos=2, pid=pid, block=block))
                s_(ack(0x50, pid))
                c(ack(0x62, pid))
                s_(ack(0x70, pid))
            elif k % 3 == 2:
                pid = self._next_pid()
                c(publish(v, base + "/state", telemetry(self.n, self.site, self.id, k), qos=1, pid=pid, block=block))
                s_(ack(0x40, pid))
            else:
                burst.append(publish(v, base + "/temp", telemetry(self.n, self.site, self.id, k), block=block))
                if len(burst) == 3 or k % 7 == 0:
                    c(b"".join(burst))          # coalesced: several packets in one segment
                    burst = []
            if k % 8 == 5:
                spid = 1000 + k
                cmd = publish(v, "cmd/%s/set" % self.id, b'{"interval":%d}' % (10 + k), qos=1, pid=spid)
                if k % 16 == 5:
                    s_(cmd[:2])                  # split after the fixed header
                    s_(cmd[2:])
                else:
                    s_(cmd)
                c(ack(0x40, spid))
            if k % 13 == 12:
                c(packet(0xC0, b""))
                s_(packet(0xD0, b""))
            yield
        if burst:
            c(b"".join(burst))
        pid = self._next_pid()
        c(unsubscribe(v, pid, ["config/%s/+" % self.site]))
        s_(unsuback(v, pid, 1))
        c(packet(0xE0, b"\x00" if v == 5 else b""))   # 5.0: Normal disconnection
        self.k.close()


def write(path, clients=1000):
    p = hostile.Pcap(path)
    for start in range(0, clients, BATCH):
        live = [Client(p, n) for n in range(start, min(start + BATCH, clients))]
        while live:
            for cl in list(live):
                try:
                    next(cl.steps)
                except StopIteration:
                    live.remove(cl)
    p.close()
    return Path(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--clients", type=int, default=1000)
    args = ap.parse_args()
    print(write(args.out, args.clients))
    return 0


if __name__ == "__main__":
    sys.exit(main())
