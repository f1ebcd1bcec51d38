#!/usr/bin/python3
"""Runs mqttlens under valgrind memcheck once: every capture of pcaps/,
concatenated into one file, through tshark twice (two passes with the full
tree and every mqttlens tap: stats tree, response times, flow graph,
credentials; one
pass with the export of objects, masked passwords and no reassembly), and
the unit test programs.  Fails when valgrind reports an error whose stack
goes through mqttlens; errors wholly inside Wireshark, GLib or the C
library are counted and shown, not failed on.

  memcheck.py [--build DIR] [--keep LOG]

Leaks are not checked: tshark keeps its memory until exit by design.  The
WIRESHARK_DEBUG_WMEM_OVERRIDE=simple allocator makes every wmem
allocation a malloc of its own, so that memcheck sees reads past the end
of one.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import mqttlens  # noqa: E402

# --track-origins makes memcheck several times slower: it is added only to
# rerun a run that reported an error through mqttlens, to show where the
# uninitialised value came from.
VALGRIND = ["valgrind", "--tool=memcheck", "--leak-check=no", "--num-callers=40", "--error-limit=no"]
ORIGINS = ["--track-origins=yes"]
# Our code: the plugin and its sources (unit tests link the core statically).
OURS = re.compile(r"mqttlens|plugin/(core|epan)/")


ERROR_KINDS = re.compile(r"(Invalid (read|write|free)|Conditional jump|Use of uninitialised|Syscall param|"
                         r"Mismatched free|Source and destination overlap|Argument .* of function|"
                         r"Process terminating)")


def error_blocks(log):
    """Valgrind's error reports, each as a list of lines: a report is a
    paragraph of the log (paragraphs are separated by an empty "==pid==")
    whose first line names an error kind."""
    blocks, paragraph = [], []
    for line in log.splitlines() + ["==0== "]:
        text = re.sub(r"^==\d+== ?", "", line)
        if text.strip():
            paragraph.append(text)
            continue
        if paragraph and ERROR_KINDS.match(paragraph[0]):
            blocks.append(paragraph)
        paragraph = []
    return blocks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=str(mqttlens.SOURCE / "build"), help="build folder with the unit tests")
    ap.add_argument("--keep", help="also write valgrind's logs to this file")
    args = ap.parse_args()

    ts = mqttlens.tshark()
    merged = mqttlens.concatenate(mqttlens.all_captures(), ts.work / "all-captures.pcapng")
    logs = []
    env = dict(ts.env(), WIRESHARK_DEBUG_WMEM_OVERRIDE="simple")
    exports = ts.out / "objects"
    runs = {
        # two passes: the whole tree and every tap
        "tshark two-pass": ["-n", "-2", "-V", "-r", str(merged), "-z", "mqttlens,tree", "-z", "mqttlens,srt",
                            "-z", "flow,mqttlens,standard", "-z", "credentials"],
        # one pass, as a live capture is dissected; exports, masked
        # passwords, and no reassembly (each segment on its own)
        "tshark one-pass": ["-n", "-V", "-r", str(merged), "--export-objects", f"mqttlens,{exports}",
                            "-o", "mqttlens.mask_passwords:TRUE", "-o", "mqttlens.desegment:FALSE"],
    }
    commands = []
    for name, tshark_args in runs.items():
        cmd = ts.command(tshark_args)
        # valgrind goes inside setpriv, around tshark itself.
        at = cmd.index("tshark")
        commands.append((name, cmd[:at], cmd[at:], env, str(ts.out / (name.replace(" ", "-") + ".vg"))))
    for unit in sorted(Path(args.build, "tests").glob("test_*")):
        if os.access(unit, os.X_OK) and unit.is_file():
            with tempfile.NamedTemporaryFile(suffix=".vg", delete=False) as f:
                commands.append((unit.name, [], [str(unit)], dict(os.environ), f.name))
    for name, prefix, cmd, run_env, log in commands:
        text = run(prefix, cmd, run_env, log)
        if any(any(OURS.search(line) for line in block) for block in error_blocks(text)):
            print(f"{name}: errors through mqttlens; running it again with --track-origins=yes")
            text = run(prefix, cmd, run_env, log, ORIGINS)
        logs.append((name, text))
    if args.keep:
        Path(args.keep).write_text("\n".join(f"#### {name}\n{text}" for name, text in logs))

    ours = others = 0
    for name, text in logs:
        if "ERROR SUMMARY" not in text:
            print(f"{name}: valgrind did not finish:\n{text[-3000:]}")
            return 1
        for block in error_blocks(text):
            if any(OURS.search(line) for line in block):
                ours += 1
                print(f"{name}: error in mqttlens:\n  " + "\n  ".join(block[:30]))
            else:
                others += 1
        summary = re.search(r"ERROR SUMMARY: [^\n]*", text).group(0)
        print(f"{name}: {summary}")
    print(f"errors through mqttlens: {ours}; elsewhere (not ours, not failed on): {others}")
    return 1 if ours else 0


def run(prefix, cmd, env, log_path, options=()):
    """Runs `prefix valgrind ... cmd` (prefix: setpriv when dropping root)
    and returns valgrind's log."""
    subprocess.run(prefix + VALGRIND + list(options) + [f"--log-file={log_path}"] + cmd, env=env,
                   stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, check=False)
    return Path(log_path).read_text(errors="replace")


if __name__ == "__main__":
    sys.exit(main())
