"""Mutation testing the way Wireshark's fuzz-test.sh does it: every capture
of pcaps/ (and of ../shared/peer-captures when present) is mutated with
`editcap -E` and dissected by tshark with two passes, the full tree and
every mqttlens tap.  Meant for the sanitizer build (ctest registers it
there), where a memory error or undefined behaviour aborts tshark.

A round mutates each capture once with its own seed, concatenates the
mutants and runs tshark once on the lot; when that fails, each mutant of
the round is run alone, and the failing ones are copied to
MQTTLENS_MUTATIONS_KEEP (default: build folder's mutations-failed/) to be
committed under tests/robustness/regressions/ once fixed.  Those committed
regressions are replayed first.  Seeds are fixed, so a run is repeatable;
MQTTLENS_MUTATION_ROUNDS (default 6) sets the number of rounds.
"""

import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import mqttlens  # noqa: E402

ROUNDS = int(os.environ.get("MQTTLENS_MUTATION_ROUNDS", "6"))
PROBABILITY = "0.02"
# Odd rounds spare the Ethernet, IPv4 and TCP headers (54 bytes without TCP
# options), so that more mutants reach MQTT rather than being dropped by TCP.
HEADER_BYTES = "54"
REGRESSIONS = Path(__file__).resolve().parent / "regressions"
TSHARK_ARGS = ["-n", "-2", "-V", "-z", "mqttlens,tree", "-z", "mqttlens,srt", "-z", "flow,mqttlens,standard"]


def sources():
    found = list(mqttlens.all_captures())
    if mqttlens.PEER_CAPTURES.is_dir():
        found += sorted(p for p in mqttlens.PEER_CAPTURES.rglob("*") if p.suffix in (".pcap", ".pcapng"))
    return found


def keep_dir():
    default = Path(os.environ.get("MQTTLENS_PLUGIN", mqttlens.SOURCE / "build")).parents[3] / "mutations-failed"
    return Path(os.environ.get("MQTTLENS_MUTATIONS_KEEP", default))


def dissect(ts, capture):
    """None when tshark got through the capture, else what went wrong."""
    env = dict(ts.env(), WIRESHARK_ABORT_ON_DISSECTOR_BUG="1")
    proc = subprocess.run(ts.command(TSHARK_ARGS + ["-r", str(ts.readable(capture))]), env=env, cwd=ts.work,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
    report = mqttlens.sanitizer_report(proc.stderr)
    if report or proc.returncode < 0 or proc.returncode == 1:
        return report or f"exit status {proc.returncode}:\n{proc.stderr[-4000:]}"
    return None


def mutate(src, dest, seed, rnd):
    """Whether editcap could write a mutant.  (4.0's editcap cannot rewrite
    a pcapng carrying TLS secrets; its keyless twin is mutated instead.)"""
    cmd = ["editcap", "-E", PROBABILITY, "--seed", str(seed)]
    if rnd % 2:
        cmd += ["-o", HEADER_BYTES]
    proc = subprocess.run(cmd + [str(src), str(dest)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc.returncode == 0


@pytest.fixture(scope="module")
def ts():
    return mqttlens.tshark()


@pytest.mark.parametrize("capture", sorted(REGRESSIONS.glob("*.pcap*")), ids=lambda p: p.name)
def test_kept_regressions(ts, capture):
    assert dissect(ts, capture) is None


@pytest.mark.parametrize("rnd", range(ROUNDS))
def test_mutation_round(ts, rnd, tmp_path):
    work = tmp_path / f"round{rnd}"
    work.mkdir()
    mutants, unwritable = [], []
    for i, src in enumerate(sources()):
        seed = zlib.crc32(f"{src.name}/{rnd}".encode())
        dest = work / f"{i:04d}-{seed}-{src.stem}.pcapng"
        (mutants if mutate(src, dest, seed, rnd) else unwritable).append(dest)
    print(f"round {rnd}: {len(mutants)} mutants; editcap could not rewrite {len(unwritable)}: "
          f"{[m.name for m in unwritable]}")
    assert len(unwritable) <= len(mutants) // 20
    merged = mqttlens.concatenate(mutants, work / "all.pcapng")
    problem = dissect(ts, merged)
    if problem is None:
        return
    failing = [m for m in mutants if dissect(ts, m) is not None]
    keep = keep_dir()
    keep.mkdir(parents=True, exist_ok=True)
    for m in failing or [merged]:
        shutil.copy(m, keep / f"round{rnd}-{m.name}")
    pytest.fail(f"round {rnd}: tshark failed; mutants kept in {keep}: {[m.name for m in failing]}\n{problem}")
