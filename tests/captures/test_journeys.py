"""Message journeys, link by link, in one pass and in two.

Generated captures: pcaps/generated/manifest.json lists under "journeys"
each delivery (the broker's PUBLISH to a subscriber) with the frame of the
publication it carries, "ambiguous" with the candidates when several fit,
and each delivery that never came ("missed").  Lab captures (mosquitto
2.0.11 on 127.0.0.1, publisher and subscribers in one capture): the links
below were reviewed by hand against pcaps/README.md's description of each
capture.

A delivery names its origin in one pass already; an origin names its
deliveries, and a missed one, only once the whole capture was seen (two
passes), like response_in.  Every link mqttlens shows must be one of the
expected ones, and every expected one must be shown.
"""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import mqttlens  # noqa: E402

MANIFEST = mqttlens.PCAPS / "generated" / "manifest.json"
ENTRIES = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
GENERATED = sorted(c for c, e in ENTRIES.items() if e.get("journeys"))

KIND = {"none": 0, "forwarded": 1, "retained": 2, "will": 3, "ambiguous": 4}
J = "mqttlens.journey."

# Lab captures: (delivery, origin, kind, to) and ("missed", origin, to) / ("refused", origin, by).
LAB = {
    "lab/publish-qos012-v311.pcapng": [
        (19, 18, "forwarded", "lab-sub-v311"), (35, 34, "forwarded", "lab-sub-v311"),
        (56, 52, "forwarded", "lab-sub-v311")],
    "lab/publish-qos012-v5.pcapng": [
        (19, 18, "forwarded", "lab-sub-v5"), (35, 34, "forwarded", "lab-sub-v5"),
        (56, 52, "forwarded", "lab-sub-v5")],
    # One copy per matching subscription to a 5.0 client: 19 and 21, 26 and 29.
    "lab/subscribe-v5.pcapng": [
        (19, 18, "forwarded", "lab-sub-v5"), (21, 18, "forwarded", "lab-sub-v5"),
        (26, 24, "forwarded", "lab-sub-v5"), (29, 24, "forwarded", "lab-sub-v5"),
        (38, 34, "forwarded", "lab-sub-v5"), (51, 50, "forwarded", "lab-sub-v5")],
    # Frame 57 comes after the last UNSUBSCRIBE: nobody is expected to get it.
    "lab/subscribe-v311.pcapng": [
        (19, 18, "forwarded", "lab-sub-v311"), (24, 22, "forwarded", "lab-sub-v311"),
        (34, 30, "forwarded", "lab-sub-v311"), (47, 46, "forwarded", "lab-sub-v311")],
    # Retained copy 24 of PUBLISH 11 (which replaced 8); the clearing PUBLISH 32 forwarded twice.
    "lab/v5-retained.pcapng": [
        (24, 11, "retained", "lab-v5-retain-late"), (33, 32, "forwarded", "lab-v5-retain-late"),
        (35, 32, "forwarded", "lab-v5-retain-late")],
    # Aliases set by the publisher; mosquitto sends full topics.
    "lab/v5-topic-alias.pcapng": [
        (19, 18, "forwarded", "lab-v5-alias-sub"), (24, 22, "forwarded", "lab-v5-alias-sub"),
        (28, 26, "forwarded", "lab-v5-alias-sub"), (35, 34, "forwarded", "lab-v5-alias-sub"),
        (41, 40, "forwarded", "lab-v5-alias-sub"), (46, 44, "forwarded", "lab-v5-alias-sub"),
        (50, 48, "forwarded", "lab-v5-alias-sub")],
    # Queued for a persistent session and delivered when it comes back.
    "lab/v5-session-present.pcapng": [
        (42, 22, "forwarded", "lab-v5-persistent"), (44, 25, "forwarded", "lab-v5-persistent")],
    # SIGKILLed clients: their Wills, linked to the CONNECTs that carried them.
    "lab/will-abrupt.pcapng": [
        (21, 14, "will", "lab-will-watch"), (35, 28, "will", "lab-will-watch")],
    # DISCONNECT 0x04 asks for the Will; 57 and 70 are answered with a failure DISCONNECT.
    "lab/ping-disconnect-v5.pcapng": [
        (25, 14, "will", "lab-v5-watch"), ("refused", 57, 58), ("refused", 70, 71)],
    # mosquitto's acl_file grants lab/secret/# but drops PUBLISH 17 (3.1.1 cannot say so); its
    # subscriber stays 0.3 s more before DISCONNECT 20, where the broker delivered frame 11 in
    # 0.14 ms: it missed it ...
    "lab/auth-v311.pcapng": [
        (12, 11, "forwarded", "lab-auth-ok-v311"), ("missed", 17, "lab-auth-ok-v311")],
    # ... which 5.0 answers with PUBACK 0x87.
    "lab/auth-v5.pcapng": [(12, 11, "forwarded", "lab-auth-ok-v5"), ("refused", 18, 20)],
}


def expected_of(capture):
    """The manifest's journeys in the lab tables' form."""
    if capture in LAB:
        return LAB[capture]
    out = []
    for e in ENTRIES[capture]["journeys"]:
        if e["delivery"] == "missed":
            out.append(("missed", e["origin"], e["to"]))
        elif e["origin"] == "ambiguous":
            out.append((e["delivery"], tuple(e["candidates"]), "ambiguous", e["to"]))
        else:
            out.append((e["delivery"], e["origin"], e["kind"], e["to"]))
    return out


def path_of(capture):
    return mqttlens.PCAPS / capture


def by_frame(capture, two_pass):
    """The PUBLISH and CONNECT packets of a capture, by frame."""
    out = {}
    for p in mqttlens.dissected(path_of(capture), "two" if two_pass else "one"):
        if p.first("mqttlens.type") in ("3", "1") or p.all(J + "origin_kind") or p.all(J + "deliveries"):
            out.setdefault(p.frame, p)
    return out


def ints(p, name):
    return [int(v) for v in p.all(J + name)] if p else []


def client_of(p):
    return (p.all("mqttlens.clientid") or [None])[0]


def check_deliveries(pk, expected, two_pass):
    problems = []
    links = [e for e in expected if e[0] not in ("missed", "refused")]
    for delivery, origin, kind, to in links:
        d = pk.get(delivery)
        if d is None:
            problems.append(f"frame {delivery}: no such PUBLISH")
            continue
        if ints(d, "origin_kind") != [KIND[kind]]:
            problems.append(f"frame {delivery}: origin_kind {ints(d, 'origin_kind')}, expected {kind}")
        if kind == "ambiguous":
            if sorted(ints(d, "candidate")) != sorted(origin):
                problems.append(f"frame {delivery}: candidates {ints(d, 'candidate')}, expected {list(origin)}")
            if ints(d, "delivery_of"):
                problems.append(f"frame {delivery}: ambiguous but delivery_of {ints(d, 'delivery_of')}")
            continue
        if ints(d, "delivery_of") != [origin]:
            problems.append(f"frame {delivery}: delivery_of {ints(d, 'delivery_of')}, expected {origin}")
        o = pk.get(origin)
        if d.all(J + "from_client") != [client_of(o)]:
            problems.append(f"frame {delivery}: from_client {d.all(J + 'from_client')}, publisher {client_of(o)}")
        latency = d.all(J + "broker_latency")
        if kind == "forwarded":
            want = d.time - o.time
            if len(latency) != 1 or abs(float(latency[0].split()[0]) - want) > 2e-6:
                problems.append(f"frame {delivery}: broker_latency {latency}, frames are {want:.6f} s apart")
        elif latency:
            problems.append(f"frame {delivery}: {kind} has a broker_latency {latency}")
    # No other packet claims an origin.
    listed = {e[0] for e in links}
    for frame, p in pk.items():
        if p.all(J + "delivery_of") and frame not in listed:
            problems.append(f"frame {frame}: unexpected delivery_of {p.all(J + 'delivery_of')}")
    return problems


def check_origins(pk, expected, two_pass):
    problems = []
    certain, maybe, missed, refused = {}, {}, {}, {}
    for e in expected:
        if e[0] == "missed":
            missed.setdefault(e[1], set()).add(e[2])
        elif e[0] == "refused":
            refused[e[1]] = e[2]
        elif e[2] == "ambiguous":
            for o in e[1]:
                maybe.setdefault(o, set()).add((e[0], e[3]))
        else:
            certain.setdefault(e[1], set()).add((e[0], e[3]))
    for frame, p in pk.items():
        got = ints(p, "delivered_in")
        got_maybe = ints(p, "maybe_delivered_in")
        want = sorted(d for d, _to in certain.get(frame, ()))
        want_maybe = sorted(d for d, _to in maybe.get(frame, ()))
        if not two_pass:
            # A delivery comes after its origin: not known yet when the origin is shown.
            if got or got_maybe or p.all(J + "missed_by"):
                problems.append(f"frame {frame}: forward links in one pass: {got} {got_maybe}")
            continue
        if sorted(got) != want or sorted(got_maybe) != want_maybe:
            problems.append(f"frame {frame}: delivered_in {got} / maybe {got_maybe}, expected {want} / {want_maybe}")
        tos = sorted(p.all(J + "to_client"))
        want_to = sorted(to for _d, to in certain.get(frame, set()) | maybe.get(frame, set()))
        if tos != want_to:
            problems.append(f"frame {frame}: to_client {tos}, expected {want_to}")
        if set(p.all(J + "missed_by")) != missed.get(frame, set()):
            problems.append(f"frame {frame}: missed_by {p.all(J + 'missed_by')}, expected {missed.get(frame)}")
        notes = [n for n in p.expert_names() if n == "mqttlens.analysis.delivery_missed"]
        if len(notes) != len(missed.get(frame, ())):
            problems.append(f"frame {frame}: {len(notes)} delivery_missed notes, expected {len(missed.get(frame, ()))}")
        if ints(p, "refused_in") != ([refused[frame]] if frame in refused else []):
            problems.append(f"frame {frame}: refused_in {ints(p, 'refused_in')}, expected {refused.get(frame)}")
    return problems


@pytest.mark.parametrize("two_pass", [False, True], ids=["one-pass", "two-pass"])
@pytest.mark.parametrize("capture", GENERATED + sorted(LAB))
def test_journey_links(capture, two_pass):
    expected = expected_of(capture)
    pk = by_frame(capture, two_pass)
    problems = check_deliveries(pk, expected, two_pass) + check_origins(pk, expected, two_pass)
    assert not problems, "\n".join(problems)


def test_generated_journeys_cover_the_cases():
    """The manifest holds every case the journeys are built to tell apart."""
    kinds = {e[2] for c in GENERATED for e in expected_of(c) if e[0] != "missed"}
    assert kinds >= {"forwarded", "retained", "will", "ambiguous"}, kinds
    assert any(e[0] == "missed" for c in GENERATED for e in expected_of(c))


def test_flow_comment_names_the_origin():
    """The flow graph's comment of a delivery: 'from <publisher> frame N, +x ms'."""
    capture = "generated/journeys/v311-fan-out.pcap"
    out = mqttlens.tshark().run(["-n", "-q", "-2", "-z", "flow,mqttlens,standard"], path_of(capture))
    for delivery, origin, _kind, _to in (e for e in expected_of(capture) if e[0] != "missed"):
        assert f"from pub frame {origin}, +" in out, out
