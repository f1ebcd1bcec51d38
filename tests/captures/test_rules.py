"""Conformance findings against what the captures are known to contain.

Generated captures: pcaps/generated/manifest.json names every violation a
capture contains, the frame it is on, the statement id(s) it breaks and its
severity.  mqttlens must report each of them on that frame with an expert
item that
- cites one of those ids exactly, as a whole token of its message
  (`MQTT-3.1.2-2` is not `MQTT-3.1.2-22`; a section may be cited more
  precisely: `§3.14.1` for `§3.14`),
- has the manifest's severity, where a violation the manifest calls an
  error may be reported as a Warning by a rule of the Protocol group (the
  catalogue's documented policy: a malformed value is an Error, a Protocol
  Error a Warning; docs/expert.md), and
- is a `mqttlens.rule.*` or `mqttlens.malformed.*` item registered with
  that severity (the rule catalogue, docs/expert.md, generated from what
  the plugin registers);
and must report nothing else anywhere in the capture, whatever its
severity, except what the manifest's own description of the capture
implies (CONSEQUENCES below, each with its reason).

Lab captures (real broker, real clients) are valid MQTT: they may carry
only the findings listed below with the reason.

Both directions are counted and printed: expected findings missed, and
findings raised where none was expected.
"""

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import mqttlens  # noqa: E402

MANIFEST = mqttlens.PCAPS / "generated" / "manifest.json"
ENTRIES = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
GENERATED = sorted(ENTRIES)
LAB = sorted(mqttlens.capture_id(c) for c in mqttlens.all_captures() if mqttlens.capture_id(c).startswith("lab/"))

SERIOUS = {"error", "warning"}

# Findings that the analysis of request/response flows raises in addition
# to a rule, listed in the manifest as unanswered / unsolicited rather
# than as violations.
FLOW_FINDINGS = {
    "unanswered": {"mqttlens.analysis.no_response", "mqttlens.analysis.qos2_incomplete",
                   "mqttlens.rule.response_missing", "mqttlens.rule.wrong_direction"},
    "unsolicited": {"mqttlens.analysis.unsolicited_response", "mqttlens.rule.ack_unknown_packet_id",
                    "mqttlens.rule.suback_unknown_packet_id", "mqttlens.rule.second_connack",
                    "mqttlens.rule.wrong_direction"},
}

# Lab captures are valid; these security findings are what they were
# recorded to show (see pcaps/README.md).
LAB_EXPECTED = {
    "mqttlens.security.anonymous_accepted": "the lab's clients log in without a user name where the scenario is "
                                            "not about authentication (mosquitto allows anonymous access there)",
    "mqttlens.security.cleartext_password": "the lab logs in with a password over plain TCP on purpose",
    "mqttlens.security.authentication_failed": "wrong-password and anonymous logins are refused on purpose",
    "mqttlens.security.repeated_authentication_failures": "two refused logins come from 127.0.0.1",
}
LAB_EXPECTED_PER_CAPTURE = {
    "lab/will-abrupt.pcapng": {
        "mqttlens.analysis.closed_without_disconnect": "the client is killed to make the broker publish its Will",
    },
    "lab/auth-v311.pcapng": {
        "mqttlens.analysis.delivery_missed":
            "mosquitto's acl_file drops the message of frame 17 without telling anyone (pcaps/README.md)",
    },
    "lab/bridge-v311.pcapng": {
        "mqttlens.rule.connect_protocol_level":
            "mosquitto's bridge marks its 3.1.1 CONNECT with the bridge flag (level 0x84, try_private); the note "
            "says what the byte is",
        "mqttlens.analysis.closed_without_disconnect":
            "the bridging broker is stopped at the end and closes its bridge connection without DISCONNECT",
    },
    "lab/bridge-v5.pcapng": {
        "mqttlens.analysis.closed_without_disconnect":
            "the bridging broker is stopped at the end and closes its bridge connection without DISCONNECT",
    },
    "lab/max-packet-size-v5.pcapng": {
        "mqttlens.rule.client_packet_too_large":
            "the 5.0 client sends 1022 bytes over a Maximum Packet Size of 512 to provoke DISCONNECT 0x95",
        "mqttlens.analysis.no_response":
            "mosquitto answers the two oversized PUBLISHes by ending the connection, without PUBACK",
        "mqttlens.analysis.closed_without_disconnect":
            "mosquitto closes the 3.1.1 connection whose packet exceeds max_packet_size without a word",
    },
    "lab/reconnect-inflight-v311.pcapng": {
        "mqttlens.analysis.qos2_incomplete":
            "the connections are reset in the middle of QoS 2 flows on purpose; the sessions resume them",
        "mqttlens.analysis.no_response":
            "the subscriber leaves a QoS 1 delivery unacknowledged when its connection is reset",
        "mqttlens.analysis.closed_without_disconnect": "both clients' connections are reset (RST) on purpose",
        "mqttlens.analysis.previous_session_flow": "mosquitto re-sends the PUBREL of the cut flow on the resumed session",
        "mqttlens.analysis.retransmission":
            "mosquitto re-sends the unacknowledged delivery with DUP on the resumed session [MQTT-4.4.0-1]",
    },
    "lab/reconnect-inflight-v5.pcapng": {
        "mqttlens.analysis.qos2_incomplete":
            "the connections are reset in the middle of QoS 2 flows on purpose; the sessions resume them",
        "mqttlens.analysis.no_response":
            "the subscriber leaves a QoS 1 delivery unacknowledged when its connection is reset",
        "mqttlens.analysis.closed_without_disconnect": "both clients' connections are reset (RST) on purpose",
        "mqttlens.analysis.previous_session_flow": "mosquitto re-sends the PUBREL of the cut flow on the resumed session",
        "mqttlens.analysis.retransmission":
            "mosquitto re-sends the unacknowledged delivery with DUP on the resumed session [MQTT-4.4.0-1]",
    },
    "lab/reconnect-inflight-js-v311.pcapng": {
        "mqttlens.analysis.qos2_incomplete":
            "the connection is reset after the broker's PUBREC on purpose; the session's next connection resumes it",
        "mqttlens.analysis.closed_without_disconnect": "the client's connection is reset (RST) on purpose",
    },
    "lab/reconnect-inflight-js-v5.pcapng": {
        "mqttlens.analysis.qos2_incomplete":
            "the connection is reset after the broker's PUBREC on purpose; the session's next connection resumes it",
        "mqttlens.analysis.closed_without_disconnect": "the client's connection is reset (RST) on purpose",
    },
    "lab/ping-disconnect-v5.pcapng": {
        "mqttlens.rule.client_topic_alias_above_maximum":
            "the client sends alias 11 over a maximum of 10 to make mosquitto answer DISCONNECT 0x94",
        "mqttlens.rule.client_packet_too_large":
            "the client sends 2021 bytes over a Maximum Packet Size of 1024 to provoke DISCONNECT 0x95",
        "mqttlens.analysis.closed_without_disconnect":
            "the broker closes the connection with DISCONNECT 0x94; the client sends none",
    },
}


def refs_of(violation):
    """The statement ids or sections a finding may cite for a violation."""
    return [re.sub(r"^(3\.1\.1|5\.0|3\.1) ", "", ref) for ref in violation["ids"]]


REF_TOKEN = re.compile(r"MQTT-[0-9]+(?:[.-][0-9]+)+|§[0-9]+(?:\.[0-9]+)*|Table [0-9]+-[0-9]+")


def cited(message):
    """The statement ids, sections and tables a message cites, as tokens."""
    return set(REF_TOKEN.findall(message))


def cites(message, ref):
    """Whether a message cites `ref` exactly, or a subsection of the
    section `ref`."""
    tokens = cited(message)
    if ref in tokens:
        return True
    return ref.startswith("§") and any(t.startswith(ref + ".") for t in tokens)


def catalogue():
    """expert field -> (severity, group) from the generated table of
    docs/expert.md."""
    rows = {}
    text = (mqttlens.SOURCE / "docs" / "expert.md").read_text()
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 6 and cells[0].startswith("`mqttlens."):
            rows[cells[0].strip("`")] = (cells[1].lower(), cells[2].lower())
    return rows


CATALOGUE = catalogue()

# Reviewed disagreements between the generator's severity and mqttlens's,
# (expert field, manifest severity): reason.  Each must still occur.
SEVERITY_DISAGREEMENTS = {
    ("mqttlens.rule.auth_abbreviated", "warning"):
        "the generator calls an AUTH with Reason Code 0 and no properties a Protocol Error; MQTT 5.0 §3.15.2.2.1 "
        "allows the abbreviation when the Authentication Method is unchanged, so mqttlens notes it",
}
_used_disagreements = set()


def severity_agrees(name, expected, got):
    if got == expected:
        return True
    row = CATALOGUE.get(name)
    if expected == "error" and got == "warning" and row and row[1] == "protocol":
        return True
    if (name, expected) in SEVERITY_DISAGREEMENTS:
        _used_disagreements.add((name, expected))
        return True
    return False


def findings(capture):
    out = []
    for p in mqttlens.dissected(mqttlens.PCAPS / capture, "two"):
        for name, message, severity in p.experts:
            out.append((p.frame, name, message, severity))
    return out


def reports(violation, finding):
    """Whether an expert item is the report of a manifest violation."""
    frame, name, message, severity = finding
    if frame != violation["frame"] or not re.match(r"mqttlens\.(rule|malformed)\.", name):
        return False
    row = CATALOGUE.get(name)
    if row is None or row[0] != severity or not severity_agrees(name, violation["severity"], severity):
        return False
    return any(cites(message, ref) for ref in refs_of(violation))


# Findings that follow from what the manifest says about a frame although
# it lists no violation for them: each names the manifest's description
# that implies it.
AUTH_REFUSALS = {4, 5, 0x86, 0x87, 0x8A, 0x8C}


def _packets(entry, frame):
    return [p for f in entry.get("frames", []) if f["frame"] == frame for p in f.get("packets", [])]


def _mqtt_frames(entry):
    return [f["frame"] for f in entry.get("frames", []) if f.get("packets")]


def _anonymous_accepted(entry, frame, capture, message):
    """A CONNACK accepting a CONNECT that carried no User Name (read from
    Wireshark's built-in dissector, not from mqttlens)."""
    if not any(p["type"] == "CONNACK" and p.get("reason", 0) == 0 for p in _packets(entry, frame)):
        return False
    requests = [link["request"] for link in entry.get("links", []) if link["response"] == frame]
    connects = {}
    for p in mqttlens.dissected(mqttlens.PCAPS / capture, "builtin"):
        if p.first("mqtt.msgtype") == "1":
            connects.setdefault(p.frame, []).append(p.first("mqtt.conflag.uname"))
    if requests and not any(r in connects for r in requests):
        # The built-in dissector does not decode this transport (WebSocket,
        # another port): the generator's record of the User Name Flag.
        connects = [p for r in requests for p in _packets(entry, r) if p["type"] == "CONNECT"]
        return bool(connects) and not any(p.get("user_name_flag") for p in connects)
    return bool(requests) and all(connects.get(r) and "1" not in connects[r] for r in requests)


def _closed_without_disconnect(entry, frame, capture, message):
    """The last MQTT packet of its connection (`stream` in captures of
    several), when that connection's client sent no DISCONNECT."""
    frames = entry.get("frames", [])
    stream = next((f.get("stream", 0) for f in frames if f["frame"] == frame), None)
    mine = [f for f in frames if f.get("stream", 0) == stream]
    packets = [p for f in mine if f.get("dir") == "c2s" for p in f.get("packets", [])]
    last = max((f["frame"] for f in mine if f.get("packets")), default=None)
    return not any(p["type"] == "DISCONNECT" for p in packets) and frame == last


def _delivery_missed(entry, frame, capture, message):
    """A publication the generator's journeys say a subscriber misses."""
    return any(j.get("delivery") == "missed" and j.get("origin") == frame for j in entry.get("journeys", []))


def _starts_mid_connection(entry, frame, capture, message):
    """The first MQTT packet of a capture without CONNECT."""
    packets = [p for f in entry.get("frames", []) for p in f.get("packets", [])]
    return not any(p["type"] == "CONNECT" for p in packets) and frame == min(_mqtt_frames(entry), default=None)


def _previous_session_flow(entry, frame, capture, message):
    """An acknowledgement after a CONNACK with Session Present: it may
    belong to a flow of the session's previous connection."""
    acks = ("PUBACK", "PUBREC", "PUBREL", "PUBCOMP")
    resumed = any(p["type"] == "CONNACK" and p.get("session_present")
                  for f in entry.get("frames", []) if f["frame"] < frame for p in f.get("packets", []))
    return resumed and any(p["type"] in acks for p in _packets(entry, frame))


def _retransmission(entry, frame, capture, message):
    """A packet the manifest marks DUP that repeats an earlier packet of the
    same type and id; the message names that type after the summary."""
    for p in _packets(entry, frame):
        if not p.get("dup"):
            continue
        earlier = [q for f in entry.get("frames", []) if f["frame"] < frame for q in f.get("packets", [])
                   if q["type"] == p["type"] and q.get("id") == p.get("id")]
        if earlier and message.startswith("Retransmission (DUP): " + p["type"] + " "):
            return True
    return False


def _duplicate_response(entry, frame, capture, message):
    """A response the manifest marks DUP (3.1 retransmits PUBREL with DUP)."""
    return any(p.get("dup") and p["type"] in message for p in _packets(entry, frame))


def _wide_subscription(entry, frame, capture, message):
    return any(p["type"] == "SUBSCRIBE" and any(f in ("#", "+/#") for f in p.get("filters", []))
               for p in _packets(entry, frame))


def _version_inferred(entry, frame, capture, message):
    """No CONNECT of a defined Protocol Level before the frame: none at
    all, or one the manifest says has an unsupported level."""
    connects = [f["frame"] for f in entry.get("frames", []) if f["frame"] < frame
                for p in f.get("packets", []) if p["type"] == "CONNECT"]
    unsupported = any("MQTT-3.1.2-2" in v["ids"] for v in entry.get("violations", []))
    return not connects or unsupported


def _same_statement_on_request(entry, frame, capture, message):
    """A request whose response the manifest says breaks a statement, when
    the finding cites that statement (the fault is visible on both)."""
    answers = [link["response"] for link in entry.get("links", []) if link["request"] == frame]
    return any(v["frame"] in answers and any(cites(message, r) for r in refs_of(v))
               for v in entry.get("violations", []))


def _pubrel_after_failed_pubrec(entry, frame, capture, message):
    """A 5.0 PUBREL linked to a PUBREC whose Reason Code is a failure: no
    MUST forbids it ([MQTT-4.3.3-4] asks for a PUBREL after a successful
    PUBREC only), so it is noted, not a violation."""
    pubrecs = [link["request"] for link in entry.get("links", [])
               if link["response"] == frame and link["kind"] == "PUBREC-PUBREL"]
    return any(p["type"] == "PUBREC" and p.get("reason", 0) >= 0x80 for r in pubrecs for p in _packets(entry, r))


def _subscription_table_full(entry, frame, capture, message):
    """A SUBSCRIBE that makes the connection's filters (distinct, as the
    manifest lists them) reach the subscription table's 4,096."""
    if "subscription table" not in message:
        return False
    stream = next((f.get("stream", 0) for f in entry.get("frames", []) if f["frame"] == frame), None)
    filters = {flt for f in entry.get("frames", []) if f["frame"] <= frame and f.get("stream", 0) == stream
               for p in f.get("packets", []) if p["type"] == "SUBSCRIBE" for flt in p.get("filters", [])}
    return len(filters) > 4096


CONSEQUENCES = {
    "mqttlens.security.authentication_failed":
        lambda e, f, c, m: any(p["type"] == "CONNACK" and p.get("reason") in AUTH_REFUSALS for p in _packets(e, f)),
    "mqttlens.security.cleartext_password": lambda e, f, c, m: any(p["type"] == "CONNECT" for p in _packets(e, f)),
    "mqttlens.analysis.unframed":
        lambda e, f, c, m: any(x.get("unframed") for x in e.get("frames", []) if x["frame"] == f),
    "mqttlens.security.anonymous_accepted": _anonymous_accepted,
    "mqttlens.analysis.closed_without_disconnect": _closed_without_disconnect,
    "mqttlens.analysis.delivery_missed": _delivery_missed,
    "mqttlens.analysis.retransmission": _retransmission,
    "mqttlens.analysis.duplicate_response": _duplicate_response,
    "mqttlens.security.wide_subscription": _wide_subscription,
    "mqttlens.analysis.version_inferred": _version_inferred,
    "mqttlens.rule.connect_protocol_level": _same_statement_on_request,
    "mqttlens.analysis.capture_starts_mid_connection": _starts_mid_connection,
    "mqttlens.analysis.previous_session_flow": _previous_session_flow,
    "mqttlens.analysis.pubrel_after_failed_pubrec": _pubrel_after_failed_pubrec,
    "mqttlens.analysis.state_limit": _subscription_table_full,
}

# Known plugin defects these tests expose, for the integrator to fix: the
# test is expected to fail until then (strict: it fails once fixed, so the
# entry is removed).
KNOWN_DEFECTS = {
}


def explained_by_consequence(capture, entry, frame, name, message):
    rule = CONSEQUENCES.get(name)
    return bool(rule and rule(entry, frame, capture, message))


def compare_generated(capture):
    entry = ENTRIES[capture]
    got = findings(capture)
    missing, unexpected = [], []
    explained = {i for i, (frame, name, m, _s) in enumerate(got)
                 if explained_by_consequence(capture, entry, frame, name, m)}
    for v in entry.get("violations", []):
        hits = [i for i, finding in enumerate(got) if reports(v, finding)]
        if not hits:
            shown = [f"{n} ({s}): {m}" for f, n, m, s in got if f == v["frame"]]
            missing.append(f"frame {v['frame']}: {v['rule']} {v['ids']} ({v['severity']}) not reported; "
                           f"frame shows {shown}")
        explained.update(hits)
    for kind, names in FLOW_FINDINGS.items():
        for u in entry.get(kind, []):
            explained.update(i for i, (frame, name, _m, _s) in enumerate(got)
                             if frame == u["frame"] and name in names)
    for i, (frame, name, message, severity) in enumerate(got):
        if i not in explained:
            unexpected.append(f"frame {frame}: {name} ({severity}): {message}")
        elif not registered_severity(name, severity):
            unexpected.append(f"frame {frame}: {name} raised as {severity}, registered as "
                              f"{CATALOGUE.get(name, ('unknown',))[0]}: {message}")
    return missing, unexpected


def registered_severity(name, severity):
    """Whether an item comes with the severity the catalogue gives it."""
    row = CATALOGUE.get(name)
    return row is not None and row[0] == severity


@pytest.mark.parametrize("capture", [pytest.param(c, marks=pytest.mark.xfail(reason=KNOWN_DEFECTS[c], strict=True))
                                     if c in KNOWN_DEFECTS else c for c in GENERATED])
def test_generated_capture_findings(capture):
    missing, unexpected = compare_generated(capture)
    print(f"{capture}: {len(ENTRIES[capture].get('violations', []))} expected, "
          f"{len(missing)} missed, {len(unexpected)} unexpected")
    assert not missing and not unexpected, "\n".join(
        ["missed:"] + missing + ["unexpected:"] + unexpected)


# Captures in which every packet follows the specification while exercising
# one condition under which findings must stay silent (docs/expert-conditions.md).
LEGAL = [c for c in GENERATED if c.startswith("generated/legal/")]


@pytest.mark.parametrize("capture", [pytest.param(c, marks=pytest.mark.xfail(reason=KNOWN_DEFECTS[c], strict=True))
                                     if c in KNOWN_DEFECTS else c for c in LEGAL])
def test_legal_capture_nothing_above_note(capture):
    """The standard of issue 15: no Warning or Error on a capture of legal traffic."""
    assert not ENTRIES[capture].get("violations"), "a legal capture's manifest lists no violation"
    serious = [f"frame {f}: {n} ({s}): {m}" for f, n, m, s in findings(capture) if s in SERIOUS]
    assert not serious, "\n".join(serious)


@pytest.mark.parametrize("capture", LAB)
def test_lab_capture_is_clean(capture):
    allowed = dict(LAB_EXPECTED)
    allowed.update(LAB_EXPECTED_PER_CAPTURE.get(capture, {}))
    unexpected = [f"frame {f}: {n} ({s}): {m}" for f, n, m, s in findings(capture)
                  if n not in allowed or not registered_severity(n, s)]
    print(f"{capture}: {len(unexpected)} unexpected findings")
    assert not unexpected, "\n".join(unexpected)


def test_lab_exceptions_are_used():
    seen_anywhere = {n for c in LAB for _f, n, _m, _s in findings(c)}
    for name, reason in LAB_EXPECTED.items():
        assert name in seen_anywhere, f"{name} is listed ({reason}) but no lab capture raises it"
    for capture, names in LAB_EXPECTED_PER_CAPTURE.items():
        assert capture in LAB, f"{capture} is not a lab capture"
        seen = {n for _f, n, _m, _s in findings(capture)}
        for name, reason in names.items():
            assert name in seen, f"{capture}: {name} is listed ({reason}) but no longer raised"


def test_severity_disagreements_are_used():
    """Every reviewed severity disagreement still occurs."""
    for capture in GENERATED:
        compare_generated(capture)
    stale = set(SEVERITY_DISAGREEMENTS) - _used_disagreements
    assert not stale, f"severity disagreements that no longer occur: {sorted(stale)}"
