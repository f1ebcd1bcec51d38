"""Conformance findings against what the captures are known to contain.

Generated captures: pcaps/generated/manifest.json names every violation a
capture contains, the frame it is on and the statement id(s) it breaks.
mqttlens must report each of them on that frame, citing one of those ids,
and must report no other error or warning anywhere in the capture.

Lab captures (real broker, real clients) are valid MQTT: they may carry
only the security findings they were recorded to show, listed below with
the reason.

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
                    "mqttlens.rule.wrong_direction", "mqttlens.rule.pubrel_after_failed_pubrec"},
}

# Lab captures are valid; these security findings are what they were
# recorded to show (see pcaps/README.md).
LAB_EXPECTED = {
    "mqttlens.security.cleartext_password": "the lab logs in with a password over plain TCP on purpose",
    "mqttlens.security.authentication_failed": "wrong-password and anonymous logins are refused on purpose",
    "mqttlens.security.repeated_authentication_failures": "two refused logins come from 127.0.0.1",
}
LAB_EXPECTED_PER_CAPTURE = {
    "lab/ping-disconnect-v5.pcapng": {
        "mqttlens.rule.client_topic_alias_above_maximum":
            "the client sends alias 11 over a maximum of 10 to make mosquitto answer DISCONNECT 0x94",
        "mqttlens.rule.client_packet_too_large":
            "the client sends 2021 bytes over a Maximum Packet Size of 1024 to provoke DISCONNECT 0x95",
    },
}


def refs_of(violation):
    """The statement ids or sections a finding may cite for a violation."""
    refs = []
    for ref in violation["ids"]:
        refs.append(re.sub(r"^(3\.1\.1|5\.0|3\.1) ", "", ref))
    return refs


def cites(message, refs):
    return any(ref in message for ref in refs)


def findings(capture):
    out = []
    for p in mqttlens.packets(mqttlens.PCAPS / capture, extra=["-2"]):
        for name, message, severity in p.experts:
            out.append((p.frame, name, message, severity))
    return out


# Consequences of a capture's contents that are right to report although
# the manifest lists no violation for them, derived from the manifest's own
# description of the frame.
AUTH_REFUSALS = {4, 5, 0x86, 0x87, 0x8A, 0x8C}


def consequence(entry, frame, name):
    packets = [p for f in entry.get("frames", []) if f["frame"] == frame for p in f.get("packets", [])]
    marks = [f for f in entry.get("frames", []) if f["frame"] == frame]
    if name == "mqttlens.security.authentication_failed":
        return any(p["type"] == "CONNACK" and p.get("reason") in AUTH_REFUSALS for p in packets)
    if name == "mqttlens.security.cleartext_password":
        return any(p["type"] == "CONNECT" for p in packets)
    if name == "mqttlens.analysis.unframed":
        return any(m.get("unframed") for m in marks)
    return False


def compare_generated(capture):
    entry = ENTRIES[capture]
    got = findings(capture)
    missing, unexpected = [], []
    explained = {i for i, (frame, name, _m, _s) in enumerate(got) if consequence(entry, frame, name)}
    for v in entry.get("violations", []):
        refs = refs_of(v)
        hits = [i for i, (frame, _n, msg, _s) in enumerate(got) if frame == v["frame"] and cites(msg, refs)]
        if not hits:
            shown = [f"{n}: {m}" for f, n, m, _s in got if f == v["frame"]]
            missing.append(f"frame {v['frame']}: {v['rule']} {v['ids']} not reported; frame shows {shown}")
        explained.update(hits)
    for kind, names in FLOW_FINDINGS.items():
        for u in entry.get(kind, []):
            explained.update(i for i, (frame, name, _m, _s) in enumerate(got)
                             if frame == u["frame"] and name in names)
    for i, (frame, name, message, severity) in enumerate(got):
        if severity in SERIOUS and i not in explained:
            unexpected.append(f"frame {frame}: {name} ({severity}): {message}")
    return missing, unexpected


@pytest.mark.parametrize("capture", GENERATED)
def test_generated_capture_findings(capture):
    missing, unexpected = compare_generated(capture)
    print(f"{capture}: {len(ENTRIES[capture].get('violations', []))} expected, "
          f"{len(missing)} missed, {len(unexpected)} unexpected")
    assert not missing and not unexpected, "\n".join(
        ["missed:"] + missing + ["unexpected:"] + unexpected)


@pytest.mark.parametrize("capture", LAB)
def test_lab_capture_is_clean(capture):
    allowed = dict(LAB_EXPECTED)
    allowed.update(LAB_EXPECTED_PER_CAPTURE.get(capture, {}))
    unexpected = [f"frame {f}: {n} ({s}): {m}" for f, n, m, s in findings(capture)
                  if s in SERIOUS and n not in allowed]
    print(f"{capture}: {len(unexpected)} unexpected errors or warnings")
    assert not unexpected, "\n".join(unexpected)


def test_lab_exceptions_are_used():
    for capture, names in LAB_EXPECTED_PER_CAPTURE.items():
        assert capture in LAB, f"{capture} is not a lab capture"
        seen = {n for _f, n, _m, _s in findings(capture)}
        for name, reason in names.items():
            assert name in seen, f"{capture}: {name} is listed ({reason}) but no longer raised"
