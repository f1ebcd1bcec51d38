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

- The same taps on the generated framing, tracking and payload captures,
  against pcaps/generated/manifest.json (independent of mqttlens's
  fields): the flow graph's arrows are the manifest's packets in order,
  the stats tree counts its packet types, the response-time table counts
  its request/response links.
- Credentials (-z credentials) list each CONNECT's user name, the
  password shown or masked with mqttlens.mask_passwords, as Wireshark's
  built-in dissector reads them.

Every tap's output comes from one shared tshark run per capture
(mqttlens.tap_outputs).
Regenerate the golden files after an intended change with
MQTTLENS_UPDATE_BASELINES=1 and review the diff.
"""

import json
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


def golden_kind(kind):
    """The flow graph's drawing is tshark's own and changed in 4.4 (both
    nodes in the header, answers drawn right to left; 4.0 draws every arrow
    left to right): one reviewed golden per drawing, the same arrows and
    texts in both.  Every other tap prints the same on every version."""
    abi = tuple(int(x) for x in os.environ.get("MQTTLENS_WS_ABI", "4.0").split("."))
    return f"{kind}-4.4" if kind == "flow" and abi >= (4, 4) else kind


def golden(capture, kind, text):
    path = GOLDEN / (mqttlens.capture_id(capture).replace("/", "__") + f".{golden_kind(kind)}.txt")
    if os.environ.get("MQTTLENS_UPDATE_BASELINES") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path.name}: run with MQTTLENS_UPDATE_BASELINES=1 and review it"
    # Blank lines around a block depend on the order tshark prints the taps in (4.6: another).
    assert text.strip("\n") == path.read_text().strip("\n"), f"output differs from {path.name}"


def ids(captures):
    return [mqttlens.capture_id(c) for c in captures]


@pytest.mark.parametrize("capture", LAB + TRACKING, ids=ids(LAB + TRACKING))
def test_flow_graph_has_one_arrow_per_mqtt_packet(capture):
    out = mqttlens.tap_outputs(capture)["flow"]
    all_labels = flow_labels(out)
    labels = [label for label in all_labels if label != "TLS"]  # an encrypted connection's row
    arrows = sum(1 for line in out.splitlines() if ARROW.search(line)) - (len(all_labels) - len(labels))
    # A WebSocket connection's first frame carries a zero-length mqttlens
    # item (its subprotocol) that is no MQTT packet.
    packets = len([p for p in mqttlens.dissected(capture, "two") if p.all("mqttlens.type")])
    assert arrows == packets, f"{arrows} arrows for {packets} MQTT packets"
    assert len(labels) == packets
    assert all(label in TYPES for label in labels), f"labels that are not MQTT types: {set(labels) - set(TYPES)}"
    if capture in LAB:
        golden(capture, "flow", out)


@pytest.mark.parametrize("capture", LAB, ids=ids(LAB))
def test_stats_tree(capture):
    golden(capture, "tree", mqttlens.tap_outputs(capture)["tree"])


IMPLIED = "implied (omitted on the wire)"


def reason_rows(out):
    """The stats tree's "Reason codes by packet type": {(type, code): [count, implied]} (a code
    named differently in 3.1.1 and 5.0 has a row per name; they are added up)."""
    rows, inside, kind, code = {}, False, None, None
    for line in out.splitlines():
        if line.startswith("Reason codes by packet type"):
            inside = True
            continue
        if not inside:
            continue
        m = re.match(r"^( +)(\S.*?)\s{2,}(\d+)", line)
        if not m:
            break
        depth, name, count = len(m.group(1)), m.group(2), int(m.group(3))
        if depth == 1:
            kind = name
        elif depth == 2:
            code = int(name.split()[0], 16)
            rows.setdefault((kind, code), [0, 0])[0] += count
        elif depth == 3 and name == IMPLIED:
            rows[(kind, code)][1] += count
    return rows


def reason_fields(capture):
    """The same counts from the mqttlens.reason_code fields of the dissection: every value,
    and the generated ones (a code the packet left out) as implied."""
    rows = {}
    for p in mqttlens.dissected(capture, "two"):
        kind = NAMES.get(int(p.first("mqttlens.type", "0")))
        for implied, values in ((0, p.get("mqttlens.reason_code")), (1, p.generated.get("mqttlens.reason_code", []))):
            for v in values:
                row = rows.setdefault((kind, int(v, 16)), [0, 0])
                row[0] += 1
                row[1] += implied
    return rows


@pytest.mark.parametrize("capture", LAB, ids=ids(LAB))
def test_stats_tree_reason_codes_are_the_field(capture):
    """The tree counts what mqttlens.reason_code shows, implied codes included."""
    assert reason_rows(mqttlens.tap_outputs(capture)["tree"]) == reason_fields(capture)


SRT_ROWS = {"CONNACK": "CONNECT -> CONNACK", "SUBACK": "SUBSCRIBE -> SUBACK", "UNSUBACK": "UNSUBSCRIBE -> UNSUBACK",
            "PINGRESP": "PINGREQ -> PINGRESP", "PUBACK": "PUBLISH QoS 1 -> PUBACK",
            "PUBCOMP": "PUBLISH QoS 2 -> PUBCOMP (whole flow)", "AUTH": "AUTH -> AUTH"}
NAMES = {i + 1: t for i, t in enumerate(TYPES[:15])}


def srt_calls(out):
    calls = {}
    for line in out.splitlines():
        for row in SRT_ROWS.values():
            if row in line:
                calls[row] = int(line.split(row, 1)[1].split()[0])
    return calls


@pytest.mark.parametrize("capture", LAB, ids=ids(LAB))
def test_response_times(capture):
    out = mqttlens.tap_outputs(capture)["srt"]
    calls = srt_calls(out)
    expected = {}
    for p in mqttlens.dissected(capture, "two"):
        name = NAMES.get(int(p.first("mqttlens.type", "0")))
        if name in SRT_ROWS and p.generated.get("mqttlens.response_to"):
            if name == "PUBCOMP" and not p.generated.get("mqttlens.flow_start"):
                continue
            expected[SRT_ROWS[name]] = expected.get(SRT_ROWS[name], 0) + 1
    assert calls == expected
    golden(capture, "srt", out)


@pytest.mark.parametrize("capture", LAB, ids=ids(LAB))
def test_exported_objects_are_the_payloads(capture):
    files = {}
    for name, data in mqttlens.exported_objects(capture).items():
        frame = int(re.search(r"_frame(\d+)", name).group(1))
        files.setdefault(frame, []).append(data)
    expected = {}
    for p in mqttlens.dissected(capture, "two"):
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


# The built-in dissector's own "Message Decoding" table (Preferences > Protocols > MQTT), which a
# user may have filled for the built-in: criteria, topic pattern, "none"/"compressed", protocol.
BUILTIN_DECODINGS = ['uat:mqtt_message_decoding:"Starts with","lens/text/","none","data-text-lines"',
                     'uat:mqtt_message_decoding:"Regular Expression","^lens/b[a-z]+/","none","data-text-lines"',
                     'uat:mqtt_message_decoding:"Equal to","lens/zip/status","compressed","json"']


def test_builtin_message_decoding_honoured():
    """A payload the built-in dissector's Message Decoding table sends to a dissector goes to
    the same dissector under mqttlens (after mqttlens's own payload rules), compressed too."""
    extra = [x for r in BUILTIN_DECODINGS for x in ("-o", r)]
    fields = ["frame.number", "frame.protocols"]
    ours = {r[0][0]: r[1][0].split(":tcp:", 1)[1].split(":")[1:] for r in mqttlens.tshark().fields(
        PAYLOADS, fields, display_filter="mqttlens.type == 3", extra=extra)}
    theirs = {r[0][0]: r[1][0].split(":tcp:", 1)[1].split(":")[1:] for r in mqttlens.tshark().fields(
        PAYLOADS, fields, display_filter="mqtt.msgtype == 3", extra=extra + ["--disable-protocol", "mqttlens"])}
    rows = mqttlens.tshark().fields(PAYLOADS, ["mqttlens.topic", "mqttlens.payload_decoded_as"],
                                    display_filter="mqttlens.type == 3", extra=extra)
    how = {r[0][0]: (r[1] or [""])[0] for r in rows}
    assert how["lens/text/hello"].startswith("data-text-lines (the built-in MQTT dissector's Message Decoding")
    assert "Regular Expression" in how["lens/bin/blob"]
    assert how["lens/zip/status"].endswith("compressed)")
    decoded = {f: stack for f, stack in theirs.items() if stack}
    assert len(decoded) >= 3, theirs
    for frame, stack in decoded.items():
        assert ours[frame] == stack, (frame, ours[frame], stack)
    # mqttlens's own rule comes first.
    own = ["-o", 'uat:mqttlens_payload:"lens/text/#","json","","FALSE"']
    rows = mqttlens.tshark().fields(PAYLOADS, ["mqttlens.topic", "mqttlens.payload_decoded_as"],
                                    display_filter="mqttlens.topic == \"lens/text/hello\"", extra=extra + own)
    assert rows and "payload rule" in rows[0][1][0], rows


# What each payload of v5-payload-kinds is (the generator's notes), as a file extension:
# by Content Type, by a payload rule, else by the bytes (JSON, UTF-8 text, zlib, bytes).
EXTENSIONS = {"lens_json_raw": ".json", "lens_json_typed": ".json", "lens_zip_status": ".zlib",
              "lens_pb_reading": ".bin", "lens_cbor_map": ".cbor", "lens_text_hello": ".txt", "lens_bin_blob": ".bin"}
EXTENSIONS_BY_RULES = dict(EXTENSIONS, lens_zip_status=".json.zlib", lens_pb_reading=".pb")


@pytest.mark.parametrize("with_rules", [False, True], ids=["defaults", "payload-rules"])
def test_exported_objects_are_named_by_kind(with_rules):
    t = mqttlens.tshark()
    folder = t.out / f"kinds-{with_rules}"
    folder.mkdir(exist_ok=True)
    os.chmod(folder, 0o777)
    extra = [x for r in RULES for x in ("-o", r)] if with_rules else []
    t.run(["-n", "-q", "--export-objects", f"mqttlens,{folder}"] + extra, PAYLOADS)
    names = {re.sub(r"_frame\d+.*", "", f.name): f.name[f.name.index("_frame"):].split(".", 1)[1]
             for f in folder.iterdir()}
    want = EXTENSIONS_BY_RULES if with_rules else EXTENSIONS
    assert {k: "." + v for k, v in names.items()} == want


SPARKPLUG = mqttlens.PCAPS / "generated" / "payloads" / "v311-sparkplug-b.pcap"
# The part of Sparkplug B's Payload message (sparkplug_b.proto) the capture uses, so that the
# protobuf dissector names the fields: a payload that does not follow the schema shows here.
SPARKPLUG_PROTO = """syntax = "proto2";
package com.cirruslink.sparkplug.protobuf;
message Payload {
    message Metric {
        optional string name = 1;
        optional uint64 alias = 2;
        optional uint64 timestamp = 3;
        optional uint32 datatype = 4;
        oneof value {
            uint32 int_value = 10;
            uint64 long_value = 11;
            float float_value = 12;
            double double_value = 13;
            bool boolean_value = 14;
            string string_value = 15;
        }
    }
    optional uint64 timestamp = 1;
    repeated Metric metrics = 2;
    optional uint64 seq = 3;
}
"""


def sparkplug_view(extra):
    """Per PUBLISH frame: the protocols above TCP and every field of the SparkplugB subtree."""
    import xml.etree.ElementTree as ET
    t = mqttlens.tshark()
    protos = t.work / "sparkplug-proto"
    protos.mkdir(exist_ok=True)
    (protos / "sparkplug_b.proto").write_text(SPARKPLUG_PROTO)
    os.chmod(protos, 0o755)
    os.chmod(protos / "sparkplug_b.proto", 0o644)
    out = t.run(["-n", "-T", "pdml", "-Y", "mqtt.msgtype == 3 || mqttlens.type == 3",
                 "-o", f'uat:protobuf_search_paths:"{protos}","TRUE"', "-o", "protobuf.pbf_as_hf:TRUE"]
                + extra, SPARKPLUG)
    view = {}
    for packet in ET.fromstring(mqttlens._XML_INVALID.sub("", out)).iter("packet"):
        shows = {f.get("name"): f.get("show") for f in packet.iter("field")}
        stack = shows["frame.protocols"].split(":tcp:", 1)[1].split(":")
        fields = [(f.get("name"), f.get("show")) for p in packet.iter("proto") if p.get("name") == "sparkplugb"
                  for f in p.iter("field") if f.get("name")]
        view[int(shows["frame.number"])] = (stack[1:], fields, shows.get("mqttlens.payload_decoded_as"))
    return view


def test_sparkplug_b_handed_off_as_by_the_builtin():
    """Wireshark's SparkplugB heuristic (on the built-in's "mqtt.topic" list) decodes the spBv1.0
    payloads under mqttlens as it does under the built-in dissector, field for field."""
    ours = sparkplug_view([])
    builtin = sparkplug_view(["--disable-protocol", "mqttlens"])
    assert sorted(ours) == sorted(builtin) == [6, 7, 9]
    for frame in (6, 7):
        stack, fields, how = ours[frame]
        assert stack == ["sparkplugb", "protobuf"], f"frame {frame}: {stack}"
        assert how.startswith("sparkplugb (heuristic on the topic"), how
        assert (stack, fields) == builtin[frame][:2], f"frame {frame} differs from the built-in"
    names = [v for f in (6, 7) for n, v in ours[f][1] if n.endswith("Payload.Metric.name")]
    assert names == ["Temperature", "Running", "Speed", "Mode"]
    assert ("sparkplugb.messagetype", "NDATA") in ours[6][1] and ("sparkplugb.deviceid", "pump") in ours[7][1]
    assert ours[9][0] == builtin[9][0] == [], "a protobuf payload on another topic is no Sparkplug B"


@pytest.mark.parametrize("option, decoded", [("--disable-protocol=mqtt", True),
                                             ("--disable-heuristic=sparkplugb_mqtt", False)],
                         ids=["builtin-disabled", "heuristic-disabled"])
def test_sparkplug_b_hand_off_follows_enabled_protocols(option, decoded):
    """The list is there with the built-in dissector disabled; the heuristic itself can be turned off."""
    rows = mqttlens.tshark().fields(SPARKPLUG, ["frame.protocols"], display_filter="mqttlens.type == 3",
                                    extra=[option])
    assert [("sparkplugb" in r[0][0]) for r in rows] == [decoded, decoded, False]


# ---- the taps against the generator's manifest ------------------------------------

MANIFEST = json.loads((mqttlens.PCAPS / "generated" / "manifest.json").read_text())
GENERATED_TAPS = [c for c in mqttlens.all_captures() if mqttlens.capture_id(c).split("/")[1:2] in
                  (["framing"], ["tracking"], ["payloads"])]
LINK_ROWS = {"CONNECT-CONNACK": "CONNECT -> CONNACK", "SUBSCRIBE-SUBACK": "SUBSCRIBE -> SUBACK",
             "UNSUBSCRIBE-UNSUBACK": "UNSUBSCRIBE -> UNSUBACK", "PINGREQ-PINGRESP": "PINGREQ -> PINGRESP",
             "PUBLISH-PUBACK": "PUBLISH QoS 1 -> PUBACK", "PUBREL-PUBCOMP": "PUBLISH QoS 2 -> PUBCOMP (whole flow)",
             "AUTH-AUTH": "AUTH -> AUTH"}


def manifest_packets(capture):
    entry = MANIFEST[mqttlens.capture_id(capture)]
    return [p for f in sorted(entry["frames"], key=lambda f: f["frame"]) for p in f.get("packets", [])]


def tree_counts(out, heading):
    """The rows under one top-level heading of the stats tree: name -> count."""
    counts, inside = {}, False
    for line in out.splitlines():
        if line.startswith(heading):
            inside = True
            continue
        if inside:
            if not line.startswith(" ") or line.startswith("  "):
                if not line.startswith(" "):
                    break
                continue
            name, count = re.match(r"^ (\S.*?)\s{2,}(\d+)", line).groups()
            counts[name] = int(count)
    return counts


# Disagreements with the manifest, for the integrator to decide (strict:
# the test fails once they agree, so the entry is removed).
TAP_DEFECTS = {
    "generated/tracking/v5-enhanced-auth.pcap":
        "the response-time table counts 3 AUTH -> AUTH exchanges; the manifest has 2 AUTH/AUTH links "
        "(and CONNECT -> AUTH -> AUTH -> CONNACK)",
}


@pytest.mark.parametrize("capture", [pytest.param(c, marks=pytest.mark.xfail(reason=TAP_DEFECTS[mqttlens.capture_id(c)],
                                                                              strict=True))
                                     if mqttlens.capture_id(c) in TAP_DEFECTS else c for c in GENERATED_TAPS],
                         ids=ids(GENERATED_TAPS))
def test_taps_match_manifest(capture):
    taps = mqttlens.tap_outputs(capture)
    types = [p["type"] for p in manifest_packets(capture)]
    assert flow_labels(taps["flow"]) == types, "flow graph arrows are not the manifest's packets in order"
    want = {}
    for t in types:
        want[t] = want.get(t, 0) + 1
    assert tree_counts(taps["tree"], "Packets by type") == want, "stats tree packet types"
    codes = {}
    for p in manifest_packets(capture):
        for code in ([p["reason"]] if "reason" in p else []) + p.get("reasons", []):
            codes[(p["type"], code)] = codes.get((p["type"], code), 0) + 1
    tree = reason_rows(taps["tree"])
    assert {k: v[0] for k, v in tree.items()} == codes, "stats tree reason codes (implied ones included)"
    assert tree == reason_fields(capture), "stats tree reason codes against mqttlens.reason_code"
    calls = {}
    for link in MANIFEST[mqttlens.capture_id(capture)]["links"]:
        if link["kind"] in LINK_ROWS and not link.get("retransmission"):
            calls[LINK_ROWS[link["kind"]]] = calls.get(LINK_ROWS[link["kind"]], 0) + 1
    assert srt_calls(taps["srt"]) == calls, "response-time calls per exchange"


# ---- credentials and masked passwords ------------------------------------------------

# the lab captures that log in with a password
AUTH = [mqttlens.PCAPS / "lab" / n for n in ("acl-dynsec.pcapng", "auth-v311.pcapng", "auth-v5.pcapng")]


def builtin_logins(capture):
    """(frame, user name, password) of every CONNECT with a password, as
    Wireshark's built-in dissector reads them."""
    out = []
    for p in mqttlens.dissected(capture, "builtin"):
        if p.first("mqtt.msgtype") == "1" and p.get("mqtt.passwd"):
            out.append((p.frame, p.first("mqtt.username", ""), p.first("mqtt.passwd")))
    return out


@pytest.mark.parametrize("masked", [False, True], ids=["shown", "masked"])
@pytest.mark.parametrize("capture", AUTH, ids=ids(AUTH))
def test_credentials(capture, masked):
    logins = builtin_logins(capture)
    assert logins, "the capture logs in with a password"
    extra = ["-o", "mqttlens.mask_passwords:TRUE"] if masked else []
    t = mqttlens.tshark()
    out = t.run(["-n", "-q", "-z", "credentials"] + extra, capture)
    rows = [line for line in out.splitlines() if re.match(r"^\s*\d+\s", line)]
    ours = [r for r in rows if "mqttlens" in r.lower() or "MQTT" in r]
    # Anonymous attempts are listed too, as "(anonymous)": each is a
    # CONNECT without User Name Flag by the built-in dissector's reading.
    anonymous = [int(r.split()[0]) for r in ours if r.split()[2] == "(anonymous)"]
    unnamed = {p.frame for p in mqttlens.dissected(capture, "builtin")
               if p.first("mqtt.msgtype") == "1" and "1" not in p.get("mqtt.conflag.uname")}
    assert set(anonymous) <= unnamed, f"anonymous rows {anonymous}, CONNECTs without user name {sorted(unnamed)}"
    ours = [r for r in ours if r.split()[2] != "(anonymous)"]
    frames = [int(r.split()[0]) for r in ours]
    assert frames == [f for f, _u, _p in logins], f"credentials rows {ours} for logins {logins}"
    for row, (_f, user, _p) in zip(ours, logins):
        assert user in row, f"{row}: user name {user!r}"
    pdus = [p for p in t_packets(capture, extra) if p.first("mqttlens.type") == "1" and p.get("mqttlens.password")]
    assert [p.frame for p in pdus] == [f for f, _u, _p in logins]
    for p, (_f, _u, password) in zip(pdus, logins):
        shown = p.first("mqttlens.password")
        if masked:
            assert password not in shown and "*" in shown, f"frame {p.frame}: password shown as {shown!r}"
        else:
            assert shown == password, f"frame {p.frame}: password {shown!r}, built-in {password!r}"


def t_packets(capture, extra):
    if not extra:
        return mqttlens.dissected(capture, "one")
    return mqttlens.packets(capture, extra=extra)
