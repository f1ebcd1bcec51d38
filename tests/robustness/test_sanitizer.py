"""The sanitizer pass (sanitizer build only): every capture of pcaps/ and
of the peers, concatenated into one file, through tshark under a matrix of
preferences and taps, with the sanitizer runtime preloaded.  Any
AddressSanitizer or UndefinedBehaviorSanitizer report, a dissector bug
(WIRESHARK_ABORT_ON_DISSECTOR_BUG) or a crash fails the run.

What mqttlens decides is checked by the ordinary build's suite; this one
checks that every code path the preferences and taps reach is memory-safe.
"""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import mqttlens  # noqa: E402

TAPS = ["-z", "mqttlens,tree", "-z", "mqttlens,srt", "-z", "flow,mqttlens,standard", "-z", "credentials"]

# name -> tshark arguments
MATRIX = {
    "two-pass, reassembly, every tap, exports": ["-2", "-V"] + TAPS + ["--export-objects", "mqttlens,{out}"],
    "one-pass, reassembly, every tap": ["-V"] + TAPS,
    "one-pass, no reassembly, masked passwords": ["-V", "-o", "mqttlens.desegment:FALSE",
                                                  "-o", "mqttlens.mask_passwords:TRUE", "-z", "credentials"],
    "two-pass, no reassembly, masked passwords, every tap": ["-2", "-V", "-o", "mqttlens.desegment:FALSE",
                                                             "-o", "mqttlens.mask_passwords:TRUE"] + TAPS,
    "two-pass, fields and filter": ["-2", "-Y", "mqttlens.analysis || mqttlens.rule || mqttlens.malformed",
                                    "-T", "fields", "-e", "frame.number", "-e", "_ws.col.Info",
                                    "-e", "_ws.expert.message"],
}


@pytest.fixture(scope="module")
def corpus():
    ts = mqttlens.tshark()
    return mqttlens.concatenate(mqttlens.all_captures() + mqttlens.peer_captures(), ts.work / "corpus.pcapng")


@pytest.mark.parametrize("name", list(MATRIX))
def test_corpus_under_sanitizers(corpus, name):
    ts = mqttlens.tshark()
    out = ts.out / ("objects-" + str(list(MATRIX).index(name)))
    out.mkdir(exist_ok=True)
    os.chmod(out, 0o777)
    args = ["-n", "-r", str(ts.readable(corpus))] + [a.replace("{out}", str(out)) for a in MATRIX[name]]
    import subprocess
    env = dict(ts.env(), WIRESHARK_ABORT_ON_DISSECTOR_BUG="1")
    proc = subprocess.run(ts.command(args), env=env, cwd=ts.work, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, errors="replace")
    report = mqttlens.sanitizer_report(proc.stderr)
    assert report is None, report
    assert proc.returncode == 0, f"tshark exit status {proc.returncode}:\n{proc.stderr[-4000:]}"
