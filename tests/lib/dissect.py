#!/usr/bin/python3
"""Dissects every capture once per mode the tests need, in parallel, into
MQTTLENS_DISSECTED (the ctest fixture captures/dissect).  The capture tests
then read these files (mqttlens.dissection()) instead of each starting
tshark again.

  dissect.py [--jobs N]

Which captures are dissected in which mode (see mqttlens.MODES):
  two, one, builtin  every capture of pcaps/ and of the peers
  info          every capture of pcaps/ (the baselines)
  taps          the lab captures and the generated framing, tracking and
                payload captures, in the same run as their "info"
With MQTTLENS_QUICK=1 (tools/test.sh --quick) only "two" and "info" of
the captures of pcaps/.  A folder from another build of the plugin
(another stamp) is removed.
"""

import argparse
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mqttlens  # noqa: E402


def tap_captures():
    return [c for c in mqttlens.all_captures()
            if mqttlens.capture_id(c).split("/")[0] == "lab"
            or mqttlens.capture_id(c).split("/")[1:2] in (["framing"], ["tracking"], ["payloads"])]


def jobs():
    """(capture, mode) for every dissection the suite reads."""
    ours = mqttlens.all_captures()
    if mqttlens.quick():
        return [(c, mode) for mode in mqttlens.QUICK_MODES for c in ours]
    peers = mqttlens.peer_captures()
    work = [(c, "two") for c in ours + peers]
    taps = set(tap_captures())
    work += [(c, mqttlens.INFO_AND_TAPS if c in taps else "info") for c in ours]
    work += [(c, "builtin") for c in ours + peers]
    work += [(c, "one") for c in ours + peers]
    return work


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    folder = mqttlens.cache_dir()
    if folder is None:
        print("MQTTLENS_DISSECTED is not set", file=sys.stderr)
        return 2
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        if old.name != mqttlens.stamp():
            shutil.rmtree(old, ignore_errors=True)
    mqttlens.field_types()
    work = jobs()
    start = time.monotonic()
    failed = []

    def one(job):
        capture, mode = job
        try:
            mqttlens.dissection(capture, mode)
        except Exception as e:  # noqa: BLE001 - reported below; the tests that read it fail
            failed.append(f"{mqttlens.capture_id(capture)} ({mode}): {e}")

    if mqttlens.tshark().batch_possible():
        # One tshark start-up per mode (tests/lib/forkserver.c); each
        # capture is still dissected by a process of its own.
        by_mode = {}
        for capture, mode in work:
            by_mode.setdefault(mode, []).append(capture)
        for mode, captures in by_mode.items():
            try:
                failed += mqttlens.dissect_batch(captures, mode, args.jobs)
            except Exception as e:  # noqa: BLE001 - reported below; the tests that read it fail
                failed.append(f"{mode} batch: {e}")
    else:
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            list(pool.map(one, work))
    print(f"{len(work)} tshark runs ({len(set(c for c, _m in work))} captures) in "
          f"{time.monotonic() - start:.1f} s with {args.jobs} jobs")
    for f in failed:
        print("failed:", f)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
