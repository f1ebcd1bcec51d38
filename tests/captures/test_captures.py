"""One tshark run per capture in pcaps/, compared with a reviewed baseline.

Each baseline lists, for every frame that mqttlens decodes (two passes), the
fields a user reads: the Info line, the connection's identity, packet ids,
QoS, topics, filters, reason codes, the request/response links and every
expert item mqttlens raised.
After an intended change, regenerate with
    MQTTLENS_UPDATE_BASELINES=1 ctest -R captures
and review the diff before committing it.
"""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import mqttlens  # noqa: E402

BASELINES = Path(__file__).resolve().parent / "baselines"

FIELDS = [
    "frame.number",
    "_ws.col.Info",
    "mqttlens.version",
    "mqttlens.clientid",
    "mqttlens.username",
    "mqttlens.id",
    "mqttlens.qos",
    "mqttlens.topic",
    "mqttlens.filter",
    "mqttlens.reason_code",
    "mqttlens.response_to",
    "mqttlens.response_in",
    "_ws.expert.message",
]


def baseline_path(capture):
    return BASELINES / (mqttlens.capture_id(capture).replace("/", "__") + ".txt")


def describe(capture):
    # Two passes, so that links to later frames and what only the whole
    # capture reveals are part of the baseline too.
    rows = mqttlens.tshark().fields(capture, FIELDS, display_filter="mqttlens", extra=["-2"])
    lines = []
    for row in rows:
        parts = [row[0][0] if row[0] else "?"]
        for name, values in zip(FIELDS[1:], row[1:]):
            if values:
                short = name.replace("mqttlens.", "").replace("_ws.col.", "").replace("_ws.expert.message", "expert")
                parts.append(f"{short}={'|'.join(values)}")
        lines.append("\t".join(parts))
    return "\n".join(lines) + "\n"


CAPTURES = mqttlens.all_captures()


@pytest.mark.parametrize("capture", CAPTURES, ids=[mqttlens.capture_id(c) for c in CAPTURES])
def test_capture_matches_baseline(capture):
    got = describe(capture)
    path = baseline_path(capture)
    if os.environ.get("MQTTLENS_UPDATE_BASELINES") == "1":
        path.write_text(got)
    assert path.exists(), f"no baseline for {mqttlens.capture_id(capture)}: run with MQTTLENS_UPDATE_BASELINES=1 and review it"
    expected = path.read_text()
    assert got == expected, f"output differs from {path.name}"


def test_every_baseline_has_its_capture():
    known = {baseline_path(c).name for c in CAPTURES}
    stale = sorted(p.name for p in BASELINES.glob("*.txt") if p.name not in known)
    assert not stale, f"baselines without a capture: {stale}"


README = mqttlens.PCAPS / "README.md"


@pytest.mark.parametrize("capture", CAPTURES, ids=[mqttlens.capture_id(c) for c in CAPTURES])
def test_capture_is_documented(capture):
    """Each committed capture has its row in pcaps/README.md."""
    text = README.read_text()
    cid = mqttlens.capture_id(capture)
    assert f"`{capture.name}`" in text or f"({cid})" in text, f"{cid} is not described in pcaps/README.md"
