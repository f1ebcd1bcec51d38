#!/usr/bin/python3
"""Builds the fuzzers' seed corpus from every capture under pcaps/.

Each seed holds the TCP payload of one or two connections of a capture,
in capture order, in the input layout of fuzz_epan.c and fuzz_core.c:
a flags byte, then chunks of at most 63 bytes, each after a header byte
(bit 7: from the server, bit 6: the second connection, bits 0-5: length).
Encrypted connections (TLS on 8883) are skipped: their plain twins are in
the corpus.  Seeds are cut at --max-len bytes.

  make_corpus.py OUTDIR [--max-len N]

tshark (without the plugin) reads the captures; no privileges needed.
"""

import argparse
import hashlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
MQTT_PORTS = {1883}
SKIP_PORTS = {8883, 443}
FLAGS = 0x01 | 0x04 | 0x08  # 3.1.1 by default, handshake, FIN
MAX_SEEDS_PER_CAPTURE = 20


def segments(capture):
    """[(stream, from_server, payload bytes)] in capture order."""
    out = subprocess.run(
        ["tshark", "-n", "-r", str(capture), "-Y", "tcp.len > 0", "-T", "fields",
         "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.payload"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True,
        env={"PATH": "/usr/bin:/bin", "LANG": "C", "HOME": "/nonexistent"}).stdout
    server_port = {}
    segs = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) < 4 or not parts[3]:
            continue
        stream, sport, dport = int(parts[0]), int(parts[1]), int(parts[2])
        if sport in SKIP_PORTS or dport in SKIP_PORTS:
            continue
        if stream not in server_port:
            server_port[stream] = sport if sport in MQTT_PORTS else dport
        segs.append((stream, sport == server_port[stream], bytes.fromhex(parts[3].replace(":", ""))))
    return segs


def encode(segs, pair, max_len):
    out = bytearray([FLAGS])
    for stream, from_server, data in segs:
        if stream not in pair:
            continue
        head = (0x80 if from_server else 0) | (0x40 if stream == pair[1] else 0)
        for off in range(0, len(data), 63):
            piece = data[off:off + 63]
            if len(out) + 1 + len(piece) > max_len:
                return bytes(out)
            out.append(head | len(piece))
            out += piece
    return bytes(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--max-len", type=int, default=8192)
    args = ap.parse_args()
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = 0
    captures = sorted(p for p in (TOP / "pcaps").rglob("*") if p.suffix in (".pcap", ".pcapng"))
    # One tshark run per capture, one per processor at a time (tshark's
    # start-up is most of each); the seeds are written in capture order.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        all_segs = list(pool.map(segments, captures))
    for segs in all_segs:
        streams = sorted({s for s, _, _ in segs})
        pairs = [tuple(streams[i:i + 2]) for i in range(0, len(streams), 2)][:MAX_SEEDS_PER_CAPTURE]
        for pair in pairs:
            pair = pair if len(pair) == 2 else (pair[0], -1)
            seed = encode(segs, pair, args.max_len)
            if len(seed) > 1:
                (outdir / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
                written += 1
    print(f"{written} seeds from {len(captures)} captures in {outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
