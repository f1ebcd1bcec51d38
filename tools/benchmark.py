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

--realistic benchmarks ordinary IoT traffic instead (the capture of
tests/robustness/realistic.py, --clients clients, about 85 frames each, and
one with twice the clients), in the modes of MODES, each with three
dissectors: the built-in one, mqttlens, and the floor (tools/floor/: only
tcp_dissect_pdus, built with -DMQTTLENS_BENCH_FLOOR=ON), each selected by
disabling the other two.  It counts the instructions of the whole tshark
process under callgrind and the peak memory of an ordinary run, and reports
the MQTT cost ratio (mqttlens - floor) / (built-in - floor), the
whole-process ratio mqttlens / built-in, and how the MQTT cost (the run
minus the floor's) grows when the capture doubles (2.0 is linear).
--markdown prints that table as markdown; --write-doc also puts it into
docs/performance.md between its realistic-results markers.

Run from anywhere; as root tshark runs as `nobody` (see tests/lib/mqttlens.py).
"""

import argparse
import concurrent.futures
import hashlib
import json
import re
import shutil
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
import realistic  # noqa: E402

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


def instructions(ts, capture, variant, args=None):
    """Instructions executed by one run, counted by callgrind."""
    if args is None:
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


# ---- the realistic benchmark ---------------------------------------------------

# The three dissectors of the realistic benchmark: the filter name each
# registers, the fields -T fields extracts, and what selects it.
DISSECTORS = {
    "built-in": {"proto": "mqtt", "fields": ["mqtt.topic", "mqtt.msgid"],
                 "select": ["--disable-protocol", "mqttlens", "--disable-protocol", "mqttfloor"]},
    "floor": {"proto": "mqttfloor", "fields": ["mqttfloor"],
              "select": ["--disable-protocol", "mqttlens"]},
    "mqttlens": {"proto": "mqttlens", "fields": ["mqttlens.topic", "mqttlens.id"],
                 "select": ["--disable-protocol", "mqttfloor"]},
}

# tshark modes: name -> (what the table calls it, arguments given the dissector).
MODES = {
    "fields": ("`-T fields -e <proto>.topic -e <proto>.id`",
               lambda d: ["-T", "fields"] + [a for f in d["fields"] for a in ("-e", f)]),
    "tree": ("`-V` (full tree)", lambda d: ["-V"]),
    "two-pass": ("`-2 -q -z io,stat,0,<proto>` (the GUI's two passes)",
                 lambda d: ["-2", "-q", "-z", "io,stat,0," + d["proto"]]),
    "no-tree": ("`-q -z conv,tcp` (no tree is shown; mqttlens' WebSocket checks make tshark build one)",
                lambda d: ["-q", "-z", "conv,tcp"]),
    # mqttlens' WebSocket checks want fields on the first pass, which makes
    # tshark build a tree for every frame (docs/performance.md); without them
    # the run above is really without a tree
    "no-tree-no-ws": ("`-q -z conv,tcp -o mqttlens.websocket_fields:FALSE` (no tree at all)",
                      lambda d: ["-q", "-z", "conv,tcp", "-o", "mqttlens.websocket_fields:FALSE"]),
    "quiet": ("`-q` (no tap, no filter: tshark dissects nothing)", lambda d: ["-q"]),
}
DEFAULT_MODES = ["fields", "tree", "two-pass", "no-tree", "no-tree-no-ws"]


def floor_plugin():
    path = os.environ.get("MQTTLENS_FLOOR")
    if path:
        return Path(path)
    lens = mqttlens._plugin_path()
    return lens.parents[3] / "bench" / "plugins" / lens.parents[1].name / "epan" / "mqttfloor.so"


def with_floor(ts):
    """Puts the floor plugin next to mqttlens in the tshark environment."""
    floor = floor_plugin()
    if not floor.exists():
        raise SystemExit(f"the floor plugin is not built ({floor}): configure with -DMQTTLENS_BENCH_FLOOR=ON")
    epan = next((ts.work / "plugins").glob("*/epan"))
    shutil.copy(floor, epan / "mqttfloor.so")
    os.chmod(epan / "mqttfloor.so", 0o755)


def tshark_args(ts, capture, mode, dissector):
    d = DISSECTORS[dissector]
    return ["-n", "-r", str(ts.readable(capture))] + MODES[mode][1](d) + d["select"]


def peak_memory(ts, capture, mode, dissector):
    """Peak RSS (KiB) of one ordinary run."""
    proc = subprocess.Popen(ts.command(tshark_args(ts, capture, mode, dissector)), env=ts.env(), cwd=ts.work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{dissector} {mode} on {capture} failed:\n{err}")
    return usage.ru_maxrss


def build_id(ts):
    """What decides every run's instruction count besides the capture, the
    mode and the dissector selected: tshark's version and the bytes of both
    plugins, which are loaded in every run (a disabled mqttlens still
    registers, and what it registers can change what tshark does: a
    postdissector wanting fields makes it build a tree for every frame)."""
    version = subprocess.run(["tshark", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    epan = next((ts.work / "plugins").glob("*/epan"))
    plugins = [hashlib.sha1((epan / name).read_bytes()).hexdigest() for name in ("mqttlens.so", "mqttfloor.so")]
    return "|".join([version] + plugins)


def realistic_measure(ts, captures, modes, count_instructions, jobs, cache_path=None):
    """{(size, mode, dissector): {"instructions": n, "rss_kib": k}}.  With a
    cache, instruction counts of the same builds are reused."""
    out = {}
    for size, capture in captures.items():
        for mode in modes:
            for d in DISSECTORS:
                out[(size, mode, d)] = {"rss_kib": peak_memory(ts, capture, mode, d)}
    if not count_instructions:
        return out
    cache = json.loads(Path(cache_path).read_text()) if cache_path and Path(cache_path).exists() else {}
    build = build_id(ts)
    todo = {}
    for size, capture in captures.items():
        for mode in modes:
            for d in DISSECTORS:
                ck = f"{size}|{mode}|{d}|{build}"
                if ck in cache:
                    out[(size, mode, d)]["instructions"] = cache[ck]
                else:
                    todo[(size, mode, d)] = (capture, ck)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(instructions, ts, capture, None, tshark_args(ts, capture, key[1], key[2])): (key, ck)
                   for key, (capture, ck) in todo.items()}
        for fut in concurrent.futures.as_completed(futures):
            key, ck = futures[fut]
            out[key]["instructions"] = cache[ck] = fut.result()
            print(f"  {key[1]} {key[2]} ({key[0]} clients): {cache[ck]:,}", file=sys.stderr)
            if cache_path:
                Path(cache_path).write_text(json.dumps(cache, indent=1) + "\n")
    return out


def giga(n):
    return f"{n / 1e9:.2f} G"


def mega(n):
    return f"{n / 1e6:,.0f} M"


def realistic_rows(m, clients, modes):
    rows = []
    for mode in modes:
        r = {"mode": mode, **{d: m[(clients, mode, d)] for d in DISSECTORS}}
        b, f, lens = (r[d].get("instructions") for d in ("built-in", "floor", "mqttlens"))
        if b is not None:
            r["builtin_cost"], r["mqttlens_cost"] = b - f, lens - f
            r["cost_ratio"] = ratio(lens - f, b - f)
            r["whole_ratio"] = ratio(lens, b)
            if (2 * clients, mode, "floor") in m:
                f2 = m[(2 * clients, mode, "floor")]["instructions"]
                for d in ("built-in", "mqttlens"):
                    r[d + " growth"] = ratio(m[(2 * clients, mode, d)]["instructions"] - f2, r[d]["instructions"] - f)
        r["memory_ratio"] = ratio(r["mqttlens"]["rss_kib"], r["built-in"]["rss_kib"])
        rows.append(r)
    return rows


def realistic_report(rows, clients, frames_n):
    lines = [f"Realistic capture: {clients:,} clients, {frames_n:,} frames "
             "(tests/robustness/realistic.py); instructions of the whole tshark process (callgrind).", "",
             "| tshark mode | built-in | floor | mqttlens | built-in − floor | mqttlens − floor "
             "| MQTT cost ratio | whole process | growth ×2, mqttlens (built-in) "
             "| peak MiB built-in / floor / mqttlens | memory ratio |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        mem = " / ".join(f"{r[d]['rss_kib'] / 1024:.0f}" for d in ("built-in", "floor", "mqttlens"))
        if "cost_ratio" in r:
            growth = (f"{r['mqttlens growth']:.2f} ({r['built-in growth']:.2f})" if "mqttlens growth" in r else "")
            ir = (f"{giga(r['built-in']['instructions'])} | {giga(r['floor']['instructions'])} "
                  f"| {giga(r['mqttlens']['instructions'])} | {mega(r['builtin_cost'])} | {mega(r['mqttlens_cost'])} "
                  f"| {r['cost_ratio']:.2f} | {r['whole_ratio']:.3f} | {growth}")
        else:
            ir = " | ".join([""] * 8)
        lines.append(f"| {MODES[r['mode']][0]} | {ir} | {mem} | {r['memory_ratio']:.3f} |")
    return "\n".join(lines)


DOC_BEGIN = "<!-- realistic-results: written by tools/benchmark.py --realistic --write-doc -->"
DOC_END = "<!-- end of realistic-results -->"


def write_doc(text):
    doc = TOP / "docs" / "performance.md"
    body = doc.read_text()
    block = f"{DOC_BEGIN}\n{text}\n{DOC_END}"
    pattern = re.compile(re.escape(DOC_BEGIN) + ".*?" + re.escape(DOC_END), re.S)
    if not pattern.search(body):
        raise SystemExit(f"{doc} has no realistic-results markers")
    doc.write_text(pattern.sub(lambda _: block, body))


def realistic_main(args):
    ts = mqttlens.Tshark()
    with_floor(ts)
    work = Path(tempfile.mkdtemp(prefix="mqttlens-bench-"))
    sizes = [args.clients] + ([] if args.no_growth else [2 * args.clients])
    captures = {n: realistic.write(work / f"realistic-{n}.pcap", n) for n in sizes}
    for c in captures.values():
        os.chmod(c, 0o644)
    modes = args.modes or DEFAULT_MODES
    m = realistic_measure(ts, captures, modes, not args.no_instructions, args.jobs, args.cache)
    rows = realistic_rows(m, args.clients, modes)
    text = realistic_report(rows, args.clients, frames(captures[args.clients]))
    print(text)
    if args.write_doc:
        write_doc(text)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    shutil.rmtree(work, True)
    failed = []
    for r in rows:
        target = 0.7 if r["mode"] in ("no-tree", "no-tree-no-ws", "quiet") else 1.0
        if r.get("cost_ratio", 0) > target:
            failed.append(f"{r['mode']}: MQTT cost ratio {r['cost_ratio']:.2f} > {target}")
        if r["memory_ratio"] > 1 + args.max_memory:
            failed.append(f"{r['mode']}: peak memory ratio {r['memory_ratio']:.3f}")
        if r.get("mqttlens growth", 0) > args.max_growth:
            failed.append(f"{r['mode']}: doubling the capture multiplied the MQTT cost by {r['mqttlens growth']:.2f}")
    for f in failed:
        print("MISSED: " + f, file=sys.stderr)
    return 1 if (args.check and failed) else 0


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
    ap.add_argument("--realistic", action="store_true", help="the realistic IoT capture instead of the hostile ones")
    ap.add_argument("--clients", type=int, default=1200, help="clients of the realistic capture (about 85 frames each)")
    ap.add_argument("--modes", action="append", choices=list(MODES), help="realistic: tshark mode(s) to run")
    ap.add_argument("--no-instructions", action="store_true", help="realistic: peak memory only, no callgrind")
    ap.add_argument("--jobs", type=int, default=1, help="realistic: callgrind runs at once")
    ap.add_argument("--cache", help="realistic: reuse instruction counts of builds already measured (a JSON file)")
    ap.add_argument("--write-doc", action="store_true", help="realistic: put the table into docs/performance.md")
    args = ap.parse_args()
    if args.realistic:
        return realistic_main(args)

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
