"""Every capture in pcaps/ compared with a reviewed baseline.

Each baseline lists, for every frame that mqttlens decodes (two passes),
the Info line, then for each MQTT packet of the frame the fields a user
reads: the connection's identity, packet ids, QoS, topics, filters, reason
codes, every property, the payload, the request/response links and their
times, the alias and idle-time facts, and every expert item mqttlens
raised, as a sorted set of (expert field, severity, message).  Values are
read from tshark's PDML and written the same way on every Wireshark
version (mqttlens.normal_show; bytes as the raw hex value).
After an intended change, regenerate with
    MQTTLENS_UPDATE_BASELINES=1 ctest -R captures/baselines
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
    "mqttlens.version",
    "mqttlens.clientid",
    "mqttlens.username",
    "mqttlens.id",
    "mqttlens.qos",
    "mqttlens.topic",
    "mqttlens.filter",
    "mqttlens.reason_code",
    "PROPERTIES",
    "mqttlens.payload",
    "mqttlens.response_to",
    "mqttlens.response_in",
    "mqttlens.response_time",
    "mqttlens.alias_frame",
    "mqttlens.client_idle",
]


def baseline_path(capture):
    return BASELINES / (mqttlens.capture_id(capture).replace("/", "__") + ".txt")


def shown(p, name):
    """The values of a field in the packet (real, then generated); bytes
    as their raw hex value, which every version writes alike."""
    types = mqttlens.field_types()
    if types.get(name) == "FT_BYTES":
        real = p.values.get(name, [])
        if len(real) == len(p.get(name)):
            return real + p.generated.get(name, [])
    return p.all(name)


def properties(p):
    """Every mqttlens.prop.* field that has a value, in order of appearance."""
    types = mqttlens.field_types()
    names = []
    for name in list(p.fields) + list(p.generated):
        if name.startswith("mqttlens.prop.") and types.get(name) != "FT_NONE" and name not in names:
            names.append(name)
    return names


def describe_packet(p):
    parts = []
    for name in FIELDS:
        for field in (properties(p) if name == "PROPERTIES" else [name]):
            values = shown(p, field)
            if values:
                parts.append(f"{field.replace('mqttlens.', '')}={'|'.join(values)}")
    lines = ["  " + "\t".join(parts)]
    for name, message, severity in sorted(set(p.experts)):
        lines.append(f"  ! {name.replace('mqttlens.', '')} ({severity}): {message}")
    return lines


def describe(capture):
    # Two passes, so that links to later frames and what only the whole
    # capture reveals are part of the baseline too.
    info = mqttlens.info_columns(capture)
    lines = []
    frame = None
    for p in mqttlens.dissected(capture, "two"):
        if p.frame != frame:
            frame = p.frame
            lines.append(f"{frame}\tInfo={info.get(frame, '?')}")
        lines += describe_packet(p)
    missing = sorted(set(info) - {p.frame for p in mqttlens.dissected(capture, "two")})
    for f in missing:
        lines.append(f"{f}\tInfo={info[f]}\t(no mqttlens PDU in the tree)")
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


# The fixture dissects in batches, one tshark start-up per mode
# (tests/lib/forkserver.c); what every test above reads must be what tshark
# started on that capture alone prints.  A few captures of different kinds
# (a lab recording with taps and exported objects, a generated capture, a
# capture that ends mid-packet), dissected again here one run each.
# Each is a tap capture (tests/lib/dissect.py: lab, framing, payloads).
SEPARATE_RUN = ["lab/auth-v311.pcapng", "generated/payloads/v5-payload-kinds.pcap",
                "generated/framing/v5-rl-max-truncated.pcap"]


def _without_pdml_header(text):
    # PDML's first line names the -r file and the time of the run.
    return "\n".join(line for line in text.splitlines() if not line.startswith("<pdml "))


@pytest.mark.parametrize("name", SEPARATE_RUN)
@pytest.mark.parametrize("mode", ["two", "info", "taps"])
def test_batch_dissection_equals_separate_run(name, mode):
    capture = mqttlens.PCAPS / name
    if not capture.exists():
        pytest.fail(f"{name} is gone: pick another capture of its kind for SEPARATE_RUN")
    t = mqttlens.tshark()
    if mqttlens.cache_dir() is None or not t.batch_possible():
        pytest.skip("the fixture ran no batches here (no MQTTLENS_DISSECTED or no fork server)")
    if mode == "taps" and mqttlens.quick():
        pytest.skip("tools/test.sh --quick runs no taps")
    batch = mqttlens.dissection(capture, mode)
    if mode == "taps":
        objects = mqttlens.exported_objects(capture)
        folder = t.out / ("alone-" + mqttlens.cache_key(capture))
        folder.mkdir()
        os.chmod(folder, 0o777)
        alone = t.run(mqttlens.MODES["taps"] + ["--export-objects", f"mqttlens,{folder}"], capture)
        assert {f.name: f.read_bytes() for f in sorted(folder.iterdir())} == objects
    else:
        alone = t.run(mqttlens.MODES[mode], capture)
    assert _without_pdml_header(batch) == _without_pdml_header(alone)
