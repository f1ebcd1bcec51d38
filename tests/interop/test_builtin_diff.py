"""Differential test: mqttlens against Wireshark's built-in MQTT dissector.

For every MQTT packet of every capture in pcaps/ and ../shared/peer-captures,
the type, packet id, QoS, topic or filters, client id, user name and reason
codes that mqttlens shows must equal what the built-in dissector (run with
--disable-protocol mqttlens) shows.  Where the built-in is wrong, the
difference is listed in KNOWN_BUILTIN_ERRORS with the reason; any other
difference fails the test, and so does an exception that no longer excuses
any difference (the built-in was fixed, or mqttlens changed).
"""

import fnmatch
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import mqttlens  # noqa: E402

PUBLISH, SUBSCRIBE, UNSUBSCRIBE, CONNECT, CONNACK, SUBACK = 3, 8, 10, 1, 2, 9

# (capture pattern, frame or None for all, fact, reason)
KNOWN_BUILTIN_ERRORS = [
    ("generated/framing/*-rl-5-bytes.pcap", None, "count",
     "built-in takes a 5-byte Remaining Length for a PDU still being reassembled and decodes the "
     "bytes after it as packets; mqttlens shows them as unframed"),
    ("generated/framing/*-rl-split-*byte.pcap", None, "*",
     "built-in mis-frames a Remaining Length split across TCP segments and loses the stream"),
    ("generated/framing/*-rl-non-minimal-4byte-split.pcap", None, "*",
     "built-in mis-frames a Remaining Length split across TCP segments and loses the stream"),
    ("generated/websocket/*", None, "count",
     "built-in 4.0 does not register for the WebSocket subprotocol mqtt: it decodes nothing there"),
    ("lab/websocket-*", None, "count",
     "built-in 4.0 does not register for the WebSocket subprotocol mqtt: it decodes nothing there"),
    ("lab/wss-*", None, "count",
     "built-in 4.0 does not register for the WebSocket subprotocol mqtt: it decodes nothing there"),
    ("generated/transport/*", None, "count",
     "built-in has no heuristic: nothing on ports other than its own (tests/transport/test_websocket.py "
     "compares these with the built-in told the port by Decode As)"),
    ("lab/port-11883-v5.pcapng", None, "count",
     "built-in has no heuristic (compared with Decode As in tests/transport/test_websocket.py)"),
    ("lab/tls-18883-v5-keys.pcapng", None, "count",
     "built-in has no heuristic (compared with Decode As in tests/transport/test_websocket.py)"),
    ("lab/bridge-*", None, "count",
     "built-in has no heuristic: nothing on 1884, the second broker's port (the bridge's own "
     "connection to 1883 is compared)"),
    ("generated/tracking/v5-mid-connection.pcap", None, "*",
     "without the CONNECT the built-in cannot tell 5.0 from 3.1.1: it misses the reason codes and "
     "reports the SUBSCRIBE as malformed; mqttlens infers 5.0 from the PUBACK's bytes"),
]

BUILTIN_REASON_FIELDS = [
    "mqtt.conack.val", "mqtt.connack.reason_code", "mqtt.puback.reason_code", "mqtt.pubrec.reason_code",
    "mqtt.pubrel.reason_code", "mqtt.pubcomp.reason_code", "mqtt.suback.reason_code",
    "mqtt.unsuback.reason_code", "mqtt.disconnect.reason_code", "mqtt.auth.reason_code",
]


def _ints(values):
    out = []
    for v in values:
        try:
            out.append(int(v, 0))
        except ValueError:
            out.append(v)
    return out


def _strings(values):
    """The built-in leaves zero-length strings out of the tree; mqttlens
    shows them (an empty Client Identifier or Topic Name means something).
    Compare them as absent."""
    return [v for v in values if v != ""]


def facts_mqttlens(p):
    t = int(p.first("mqttlens.type", "-1"))
    facts = {"type": t, "id": _ints(p.get("mqttlens.id"))}
    if t == PUBLISH:
        facts["qos"] = _ints(p.get("mqttlens.qos"))
        facts["topic"] = _strings(p.get("mqttlens.topic"))
    if t in (SUBSCRIBE, UNSUBSCRIBE):
        facts["topic"] = _strings(p.get("mqttlens.filter"))
    if t == CONNECT:
        facts["clientid"] = _strings(p.get("mqttlens.clientid"))
        facts["username"] = _strings(p.get("mqttlens.username"))
    facts["reason"] = _ints(p.get("mqttlens.reason_code"))
    return facts


def facts_builtin(p):
    t = int(p.first("mqtt.msgtype", "-1"))
    facts = {"type": t, "id": _ints(p.get("mqtt.msgid"))}
    if t == PUBLISH:
        facts["qos"] = _ints(p.get("mqtt.qos"))
        facts["topic"] = _strings(p.get("mqtt.topic"))
    if t in (SUBSCRIBE, UNSUBSCRIBE):
        facts["topic"] = _strings(p.get("mqtt.topic"))
    if t == CONNECT:
        facts["clientid"] = _strings(p.get("mqtt.clientid"))
        facts["username"] = _strings(p.get("mqtt.username"))
    reasons = []
    for f in BUILTIN_REASON_FIELDS:
        reasons += p.get(f)
    if t == SUBACK and not reasons:
        reasons = p.get("mqtt.suback.qos")
    facts["reason"] = _ints(reasons)
    return facts


def by_frame(pkts, facts):
    frames = {}
    for p in pkts:
        frames.setdefault(p.frame, []).append(facts(p))
    return frames


def known(capture_id, frame, fact, used=None):
    """Whether a difference is a listed built-in error; records which
    exception excused it in `used`."""
    for i, (pattern, f, name, _reason) in enumerate(KNOWN_BUILTIN_ERRORS):
        if fnmatch.fnmatch(capture_id, pattern) and f in (None, frame) and name in (fact, "*"):
            if used is not None:
                used.add(i)
            return True
    return False


def captures():
    return [(mqttlens.capture_id(c), c) for c in mqttlens.all_captures() + mqttlens.peer_captures()]


CAPTURES = captures()


def compare(capture_id, capture, used=None):
    # both sides one pass, as tshark shows them by default
    ours = by_frame(mqttlens.dissected(capture, "one"), facts_mqttlens)
    theirs = by_frame(mqttlens.dissected(capture, "builtin"), facts_builtin)
    problems = []
    compared = 0
    for frame in sorted(set(ours) | set(theirs)):
        a, b = ours.get(frame, []), theirs.get(frame, [])
        if len(a) != len(b):
            if not known(capture_id, frame, "count", used):
                problems.append(f"frame {frame}: mqttlens has {len(a)} packets, built-in {len(b)}")
            continue
        for i, (fa, fb) in enumerate(zip(a, b)):
            for name in sorted(set(fa) | set(fb)):
                compared += 1
                if fa.get(name) != fb.get(name) and not known(capture_id, frame, name, used):
                    problems.append(f"frame {frame} packet {i}: {name}: mqttlens {fa.get(name)!r}, "
                                    f"built-in {fb.get(name)!r}")
    return compared, problems


@pytest.mark.parametrize("capture_id,capture", CAPTURES, ids=[c[0] for c in CAPTURES])
def test_agrees_with_builtin(capture_id, capture):
    compared, problems = compare(capture_id, capture)
    print(f"{capture_id}: {compared} facts compared, {len(problems)} unexplained differences")
    assert not problems, "\n".join(problems[:40])


def test_known_errors_are_still_needed():
    """Every listed exception must still match a real difference, so the
    list does not keep excusing what the built-in no longer gets wrong."""
    used = set()
    for capture_id, capture in CAPTURES:
        if any(fnmatch.fnmatch(capture_id, e[0]) for e in KNOWN_BUILTIN_ERRORS):
            compare(capture_id, capture, used)
    for i, (pattern, frame, fact, reason) in enumerate(KNOWN_BUILTIN_ERRORS):
        assert reason, f"exception {pattern} has no reason"
        assert i in used, f"exception ({pattern}, frame {frame}, {fact}) excuses no difference any more: remove it"
