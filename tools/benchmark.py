#!/usr/bin/python3
"""Compares whole tshark runs with mqttlens and with Wireshark's built-in
MQTT dissector on the same captures.

For every capture it runs, several times each,

  mqttlens:  tshark -n -2 -r CAPTURE -q -z io,stat,0,mqttlens
  built-in:  tshark -n -2 -r CAPTURE -q -z io,stat,0,mqtt --disable-protocol mqttlens

(the statistics tap makes tshark dissect every frame in both passes, as the
GUI does; without a tap or filter `-q` skips dissection) and reports the
median wall time, the median CPU time and the peak resident memory of the
tshark process (its own getrusage, read with wait4).  With --instructions it
also counts the instructions of one run of each under callgrind (slow: use
small captures or --scale).  Hardware counters (perf) are not used: they are
not available on every machine this runs on.

By default it benchmarks the hostile captures of tests/robustness/hostile.py,
written at --scale and at half of it, and reports how the cost grows from the
half-size capture to the full one, after subtracting the cost of tshark's
start-up (measured on a capture without frames): 2.0 means linear.  --capture adds any
other capture; --only restricts the hostile ones.

--check exits non-zero when mqttlens' peak memory is more than --max-memory
(default 10%) above the built-in dissector's, or when doubling a capture
more than --max-growth (default 2.6) times its mqttlens instructions (with
--instructions) or CPU time beyond start-up (when that is at least
MIN_COST_FOR_GROWTH seconds; below, the ratio is noise).

Run from anywhere; as root tshark runs as `nobody` (see tests/lib/mqttlens.py).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "tests" / "lib"))
sys.path.insert(0, str(TOP / "tests" / "robustness"))
import hostile  # noqa: E402
import mqttlens  # noqa: E402

# CPU seconds beyond start-up below which a growth ratio is noise.
MIN_COST_FOR_GROWTH = 0.25

VARIANTS = {
    "mqttlens": ["-q", "-z", "io,stat,0,mqttlens"],
    "built-in": ["-q", "-z", "io,stat,0,mqtt", "--disable-protocol", "mqttlens"],
}


def run_once(ts, capture, variant):
    """One tshark run: (wall seconds, cpu seconds, peak RSS in KiB)."""
    args = ["-n", "-2", "-r", str(ts.readable(capture))] + VARIANTS[variant]
    start = time.perf_counter()
    proc = subprocess.Popen(ts.command(args), env=ts.env(), cwd=ts.work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{variant} on {capture} failed ({proc.returncode}):\n{err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def instructions(ts, capture, variant):
    """Instructions executed by one run, counted by callgrind."""
    args = ["-n", "-2", "-r", str(ts.readable(capture))] + VARIANTS[variant]
    tool = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    cmd = ts.command(args)
    at = cmd.index("tshark")
    cmd = cmd[:at] + tool + cmd[at:]
    proc = subprocess.run(cmd, env=ts.env(), cwd=ts.work, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, errors="replace")
    for line in proc.stderr.splitlines():
        if "Collected :" in line:
            return int(line.split(":")[-1].strip())
    raise RuntimeError(f"callgrind gave no count for {variant} on {capture}:\n{proc.stderr[-2000:]}")


def measure(ts, capture, runs, count_instructions):
    out = {}
    for variant in VARIANTS:
        samples = [run_once(ts, capture, variant) for _ in range(runs)]
        out[variant] = {
            "wall": statistics.median(s[0] for s in samples),
            "cpu": statistics.median(s[1] for s in samples),
            "rss_kib": max(s[2] for s in samples),
        }
        if count_instructions:
            out[variant]["instructions"] = instructions(ts, capture, variant)
    return out


def frames(capture):
    n = 0
    with open(capture, "rb") as f:
        f.read(24)
        while True:
            hdr = f.read(16)
            if len(hdr) < 16:
                return n
            f.seek(int.from_bytes(hdr[8:12], "little"), 1)
            n += 1


def ratio(a, b):
    return a / b if b else float("nan")


def beyond_startup_growth(full, half, startup, key):
    """How the cost beyond start-up grows from the half-size capture to the full one."""
    return ratio(full[key] - startup[key], half[key] - startup[key])


def report(rows, growth):
    lines = ["| capture | frames | mqttlens wall s | built-in wall s | mqttlens CPU s | built-in CPU s "
             "| mqttlens peak MiB | built-in peak MiB | memory ratio |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    have_ir = any("instructions" in r["mqttlens"] for r in rows)
    for r in rows:
        m, b = r["mqttlens"], r["built-in"]
        lines.append(f"| {r['name']} | {r['frames']} | {m['wall']:.2f} | {b['wall']:.2f} | {m['cpu']:.2f} "
                     f"| {b['cpu']:.2f} | {m['rss_kib'] / 1024:.0f} | {b['rss_kib'] / 1024:.0f} "
                     f"| {ratio(m['rss_kib'], b['rss_kib']):.3f} |")
    if have_ir:
        lines += ["", "| capture | mqttlens instructions | built-in instructions | ratio |", "|---|---:|---:|---:|"]
        for r in rows:
            m, b = r["mqttlens"].get("instructions"), r["built-in"].get("instructions")
            if m and b:
                lines.append(f"| {r['name']} | {m:,} | {b:,} | {ratio(m, b):.3f} |")
    if growth:
        lines += ["", "| hostile capture | size ×2 → mqttlens CPU beyond start-up × | built-in × | mqttlens peak MiB (half → full) |",
                  "|---|---:|---:|---:|"]
        for g in growth:
            lines.append(f"| {g['name']} | {g['mqttlens']:.2f} | {g['built-in']:.2f} | "
                         f"{g['rss_half'] / 1024:.0f} → {g['rss_full'] / 1024:.0f} |")
        if any("mqttlens instructions" in g for g in growth):
            lines += ["", "| hostile capture | size ×2 → mqttlens instructions beyond start-up × | built-in × |",
                      "|---|---:|---:|"]
            for g in growth:
                lines.append(f"| {g['name']} | {g['mqttlens instructions']:.2f} | {g['built-in instructions']:.2f} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per capture and variant (median)")
    ap.add_argument("--scale", type=float, default=1.0, help="size of the hostile captures (1.0 = as specified)")
    ap.add_argument("--only", action="append", choices=sorted(hostile.SCENARIOS), help="hostile capture(s) to run")
    ap.add_argument("--no-hostile", action="store_true", help="only the captures given with --capture")
    ap.add_argument("--no-growth", action="store_true", help="skip the half-size captures")
    ap.add_argument("--capture", action="append", default=[], help="another capture to benchmark")
    ap.add_argument("--instructions", action="store_true", help="also count instructions with callgrind")
    ap.add_argument("--json", help="write the measurements to this file")
    ap.add_argument("--check", action="store_true", help="fail when a target is missed")
    ap.add_argument("--max-memory", type=float, default=0.10)
    ap.add_argument("--max-growth", type=float, default=2.6)
    args = ap.parse_args()

    ts = mqttlens.Tshark()
    work = Path(tempfile.mkdtemp(prefix="mqttlens-bench-"))
    rows, growth = [], []
    names = [] if args.no_hostile else (args.only or list(hostile.SCENARIOS))
    startup = None
    if names and not args.no_growth:
        empty = work / "empty.pcap"
        hostile.Pcap(empty).close()
        startup = measure(ts, empty, args.runs, args.instructions)
    for name in names:
        full = hostile.write(work, name, args.scale, path=work / f"{name}.pcap")
        row = {"name": name, "frames": frames(full), **measure(ts, full, args.runs, args.instructions)}
        rows.append(row)
        if not args.no_growth:
            half = hostile.write(work, name, args.scale / 2, path=work / f"{name}-half.pcap")
            h = measure(ts, half, args.runs, args.instructions)
            g = {"name": name, "rss_half": h["mqttlens"]["rss_kib"], "rss_full": row["mqttlens"]["rss_kib"],
                 "mqttlens_cost": row["mqttlens"]["cpu"] - startup["mqttlens"]["cpu"]}
            for v in VARIANTS:
                g[v] = beyond_startup_growth(row[v], h[v], startup[v], "cpu")
                if args.instructions:
                    g[v + " instructions"] = beyond_startup_growth(row[v], h[v], startup[v], "instructions")
            growth.append(g)
            half.unlink()
        full.unlink()
        print(f"{name}: done", file=sys.stderr)
    for capture in args.capture:
        path = Path(capture).resolve()
        rows.append({"name": path.name, "frames": frames(path) if path.suffix == ".pcap" else "",
                     **measure(ts, path, args.runs, args.instructions)})

    print(f"tshark runs per variant: {args.runs} (median), hostile scale {args.scale}")
    if startup:
        print(f"start-up on an empty capture: mqttlens {startup['mqttlens']['cpu']:.2f} s CPU, "
              f"{startup['mqttlens']['rss_kib'] / 1024:.0f} MiB; built-in {startup['built-in']['cpu']:.2f} s CPU, "
              f"{startup['built-in']['rss_kib'] / 1024:.0f} MiB")
    print()
    print(report(rows, growth))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "growth": growth}, indent=2) + "\n")

    failed = []
    for r in rows:
        over = ratio(r["mqttlens"]["rss_kib"], r["built-in"]["rss_kib"]) - 1
        if over > args.max_memory:
            failed.append(f"{r['name']}: peak memory {over:+.1%} over the built-in dissector")
    for g in growth:
        # Instruction counts when there are any; CPU time only when the
        # capture costs enough beyond start-up for a ratio to mean something.
        if "mqttlens instructions" in g:
            factor, what = g["mqttlens instructions"], "instructions"
        elif g["mqttlens_cost"] >= MIN_COST_FOR_GROWTH:
            factor, what = g["mqttlens"], "CPU time"
        else:
            continue
        if factor > args.max_growth:
            failed.append(f"{g['name']}: doubling the capture multiplied {what} by {factor:.2f}")
    for f in failed:
        print("MISSED: " + f, file=sys.stderr)
    return 1 if (args.check and failed) else 0


if __name__ == "__main__":
    sys.exit(main())
