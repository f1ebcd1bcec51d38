"""What mqttlens gives Wireshark's taps, on the lab captures.

- Flow graph (tshark -z flow,mqttlens,standard): one arrow per MQTT packet,
  none for TCP-only segments, each labelled with an MQTT packet type; the
  whole output is compared with a reviewed golden file.
- Statistics tree (-z mqttlens,tree) and response times (-z mqttlens,srt):
  golden files, and the response-time call counts equal the answers that
  mqttlens links to their requests.
- Export objects (--export-objects mqttlens,DIR): one file per PUBLISH,
  byte for byte its payload.
- Payload decoding: JSON, Content Type, user rules with zlib and protobuf.

Regenerate the golden files after an intended change with
MQTTLENS_UPDATE_BASELINES=1 and review the diff.
"""

import os
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import mqttlens  # noqa: E402

GOLDEN = Path(__file__).resolve().parent / "golden"
LAB = [c for c in mqttlens.all_captures() if mqttlens.capture_id(c).startswith("lab/")]
TRACKING = [c for c in mqttlens.all_captures() if "/tracking/" in mqttlens.capture_id(c)]
TYPES = ("CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK",
         "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH", "Reserved")
ARROW = re.compile(r"-{5,}>|<-{5,}")


def flow_labels(out):
    """The first word of each arrow's label (the line above the arrow)."""
    lines = out.splitlines()
    labels = []
    for i, line in enumerate(lines):
        if not ARROW.search(line) or i == 0:
            continue
        segments = [seg.strip() for seg in lines[i - 1].split("|")]
        for k, seg in enumerate(segments):
            if re.fullmatch(r"\d+\.\d+", seg):
                rest = [x for x in segments[k + 1:] if x]
                labels.append(rest[0].split()[0] if rest else "")
                break
    return labels


def golden(capture, kind, text):
    path = GOLDEN / (mqttlens.capture_id(capture).replace("/", "__") + f".{kind}.txt")
    if os.environ.get("MQTTLENS_UPDATE_BASELINES") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}: run with MQTTLENS_UPDATE_BASELINES=1 and review it"
    assert text == path.read_text(), f"output differs from {path.name}"


def ids(captures):
    return [mqttlens.capture_id(c) for c in captures]


@pytest.mark.parametrize("capture", LAB + TRACKING, ids=ids(LAB + TRACKING))
def test_flow_graph_has_one_arrow_per_mqtt_packet(capture):
    out = mqttlens.tshark().run(["-q", "-z", "flow,mqttlens,standard"], capture)
    labels = [label for label in flow_labels(out) if label != "TLS"]  # an encrypted connection's row
    arrows = sum(1 for line in out.splitlines() if ARROW.search(line)) - (len(flow_labels(out)) - len(labels))
    packets = len(mqttlens.packets(capture))
    assert arrows == packets, f"{arrows} arrows for {packets} MQTT packets"
    assert len(labels) == packets
    assert all(label in TYPES for label in labels), f"labels that are not MQTT types: {set(labels) - set(TYPES)}"
    if capture in LAB:
        golden(capture, "flow", out)


@pytest.mark.parametrize("capture", LAB, ids=ids(LAB))
def test_stats_tree(capture):
    golden(capture, "tree", mqttlens.tshark().run(["-q", "-z", "mqttlens,tree"], capture))


SRT_ROWS = {"CONNACK": "CONNECT -> CONNACK", "SUBACK": "SUBSCRIBE -> SUBACK", "UNSUBACK": "UNSUBSCRIBE -> UNSUBACK",
            "PINGRESP": "PINGREQ -> PINGRESP", "PUBACK": "PUBLISH QoS 1 -> PUBACK",
            "PUBCOMP": "PUBLISH QoS 2 -> PUBCOMP (whole flow)", "AUTH": "AUTH -> AUTH"}
NAMES = {i + 1: t for i, t in enumerate(TYPES[:15])}


@pytest.mark.parametrize("capture", LAB, ids=ids(LAB))
def test_response_times(capture):
    out = mqttlens.tshark().run(["-q", "-z", "mqttlens,srt"], capture)
    calls = {}
    for line in out.splitlines():
        for row in SRT_ROWS.values():
            if row in line:
                calls[row] = int(line.split(row, 1)[1].split()[0])
    expected = {}
    for p in mqttlens.packets(capture):
        name = NAMES.get(int(p.first("mqttlens.type", "0")))
        if name in SRT_ROWS and p.generated.get("mqttlens.response_to"):
            if name == "PUBCOMP" and not p.generated.get("mqttlens.flow_start"):
                continue
            expected[SRT_ROWS[name]] = expected.get(SRT_ROWS[name], 0) + 1
    assert calls == expected
    golden(capture, "srt", out)


@pytest.mark.parametrize("capture", LAB, ids=ids(LAB))
def test_exported_objects_are_the_payloads(capture):
    t = mqttlens.tshark()
    out = t.out / mqttlens.capture_id(capture).replace("/", "_")
    out.mkdir()
    os.chmod(out, 0o777)
    t.run(["-q", "--export-objects", f"mqttlens,{out}"], capture)
    files = {}
    for f in out.iterdir():
        frame = int(re.search(r"_frame(\d+)", f.name).group(1))
        files.setdefault(frame, []).append(f.read_bytes())
    expected = {}
    for p in mqttlens.packets(capture):
        if p.first("mqttlens.type") == "3":
            hexes = p.values.get("mqttlens.payload", [""])
            expected.setdefault(p.frame, []).append(bytes.fromhex(hexes[0]) if hexes else b"")
    assert sorted(files) == sorted(expected), "one file per PUBLISH"
    for frame in expected:
        assert sorted(files[frame]) == sorted(expected[frame]), f"frame {frame}: file differs from the payload"


PAYLOADS = mqttlens.PCAPS / "generated" / "payloads" / "v5-payload-kinds.pcap"
RULES = ['uat:mqttlens_payload:"lens/zip/#","json","","TRUE"',
         'uat:mqttlens_payload:"lens/pb/+","protobuf","lens.Reading","FALSE"']


@pytest.mark.parametrize("with_rules", [False, True], ids=["defaults", "payload-rules"])
def test_payload_decoding(with_rules):
    extra = []
    if with_rules:
        for r in RULES:
            extra += ["-o", r]
    rows = mqttlens.tshark().fields(PAYLOADS, ["mqttlens.topic", "frame.protocols", "mqttlens.payload_decoded_as"],
                                    display_filter="mqttlens.type == 3", extra=extra)
    seen = {r[0][0]: (r[1][0].split(":")[-1], r[2]) for r in rows}
    assert seen["lens/json/raw"][0] == "json"              # valid JSON
    assert seen["lens/json/typed"][0] == "json"            # Content Type with parameters
    assert seen["lens/cbor/map"][0] == "cbor"              # Content Type
    assert seen["lens/text/hello"][0] == "mqttlens"        # text stays text
    assert seen["lens/bin/blob"][0] == "mqttlens"
    if with_rules:
        assert seen["lens/zip/status"][0] == "json", seen["lens/zip/status"]
        assert seen["lens/pb/reading"][0] == "protobuf"
        assert "payload rule" in seen["lens/zip/status"][1][0]
    else:
        assert seen["lens/zip/status"][0] == "mqttlens"
        assert seen["lens/pb/reading"][0] == "mqttlens"
