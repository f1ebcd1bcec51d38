"""Bounded state: the hostile captures of hostile.py decode completely and
correctly, and every per-connection limit of docs/analysis.md says so once
(mqttlens.analysis.state_limit) when reached and never before.

Timing and memory are not asserted here (a timed test fails on a slow
machine and passes on a fast one): tools/benchmark.py measures them against
the built-in dissector.
"""

import os
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import hostile  # noqa: E402
import mqttlens  # noqa: E402

STATE_LIMIT = "mqttlens.analysis.state_limit"


@pytest.fixture(scope="module")
def ts():
    return mqttlens.tshark()


@pytest.fixture(scope="module")
def made(ts):
    """hostile capture name (and scale) -> path, written once per run."""
    cache = {}

    def make(name, scale=1.0, connections=100000):
        key = (name, scale, connections)
        if key not in cache:
            path = ts.work / f"hostile-{name}-{scale}.pcap"
            cache[key] = hostile.write(ts.work, name, scale, connections, path=path)
        return cache[key]
    return make


def rows(ts, capture, fields, display_filter=None, two_pass=True):
    extra = ["-2"] if two_pass else []
    return ts.fields(capture, fields, display_filter, extra=extra)


def from_client(dport):
    """"c" for a frame the client sent, "s" for one from the broker."""
    return "c" if dport[0] == str(hostile.MQTT_PORT) else "s"


def notable(ts, capture):
    """One run: the state-limit notes as [(frame, [messages])], and the
    frames with an expert error (malformed data, a dissector exception)."""
    out = rows(ts, capture, ["frame.number", "_ws.expert.message", "_ws.expert.severity", "_ws.malformed"],
               f"{STATE_LIMIT} || _ws.expert.severity == error || _ws.malformed")
    limits = [(int(r[0][0]), [m for m in r[1] if "limit reached" in m]) for r in out]
    errors = [int(r[0][0]) for r in out if "8388608" in r[2] or r[3]]
    return [lim for lim in limits if lim[1]], errors


# ---- 65,535 packet ids in flight in each direction ----------------------------------

@pytest.mark.parametrize("two_pass", [True, False], ids=["two-pass", "one-pass"])
def test_ids_in_flight(ts, made, two_pass):
    cap = made("ids-in-flight")
    fields = ["frame.number", "tcp.dstport", "mqttlens.type", "mqttlens.id", "mqttlens.response_in",
              "mqttlens.response_to"]
    publish = {"c": {}, "s": {}}   # id -> frame of the PUBLISH
    answered = {"c": {}, "s": {}}  # id -> (frame of the PUBACK, the frame it answers)
    for frame, dport, types, ids, resp_in, resp_to in rows(ts, cap, fields, "mqttlens.type == 3 || mqttlens.type == 4",
                                                           two_pass):
        d = from_client(dport)
        f = int(frame[0])
        if types[0] == "3":
            assert all(t == "3" for t in types)
            for i in ids:
                assert int(i) not in publish[d], f"id {i} published twice"
                publish[d][int(i)] = f
            # Two passes: every PUBLISH knows its PUBACK.  One pass: none can.
            assert len(resp_in) == (len(ids) if two_pass else 0)
        else:
            assert all(t == "4" for t in types) and len(resp_to) == len(ids)
            for i, r in zip(ids, resp_to):
                answered["s" if d == "c" else "c"][int(i)] = (f, int(r))
    for d in "cs":
        assert sorted(publish[d]) == list(range(1, 65536))
        assert sorted(answered[d]) == list(range(1, 65536))
        for i, (ack_frame, request_frame) in answered[d].items():
            assert request_frame == publish[d][i] < ack_frame
    assert notable(ts, cap) == ([], [])


# ---- Topic Aliases set and remapped in both directions ------------------------------

def alias_uses(ts, cap):
    """Per direction and round, the alias-only PUBLISHes: (alias, resolved topic or None)."""
    fields = ["frame.number", "tcp.dstport", "mqttlens.prop.topic_alias", "mqttlens.topic", "mqttlens.alias_frame",
              "mqttlens.analysis.topic_alias_unresolved"]
    uses = {}
    rnd = {"c": "first", "s": "first"}
    for frame, dport, aliases, topics, alias_frames, _ in rows(ts, cap, fields, "mqttlens.prop.topic_alias"):
        d = from_client(dport)
        named = [t for t in topics if t]
        if any(t.startswith("remapped/") for t in named) and len(alias_frames) == 0:
            rnd[d] = "remapped"
        if len(named) == len(aliases) and not alias_frames:
            continue  # a frame of PUBLISHes that set aliases
        out = uses.setdefault((d, rnd[d]), [])
        if len(named) == len(aliases):
            out += list(zip(map(int, aliases), named))
        else:
            # Some are unresolved: their topics cannot be aligned with their
            # aliases; what is resolved must still name its own round.
            out += [(None, t) for t in named] + [(None, None)] * (len(aliases) - len(named))
    return uses


def test_aliases_within_limit(ts, made):
    cap = made("aliases", 0.1)
    uses = alias_uses(ts, cap)
    assert sorted(uses) == [(d, r) for d in "cs" for r in ("first", "remapped")]
    for (d, rnd), found in uses.items():
        assert len(found) == len(range(1, 6554, 97))
        for alias, topic in found:
            assert topic == "%s/topic/alias/%05d" % (rnd, alias)
    assert notable(ts, cap) == ([], [])


def test_aliases_beyond_byte_budget(ts, made):
    """1.5 MB of topics per direction against a budget of 1 MiB: reported once
    per direction; an alias beyond it is unresolved, never a stale topic."""
    cap = made("aliases")
    limits, errors = notable(ts, cap)
    assert len(limits) == 2, limits
    assert all("topic alias table holds 1048576 bytes" in m[0] for _, m in limits)
    uses = alias_uses(ts, cap)
    for (d, rnd), found in uses.items():
        resolved = [t for _, t in found if t]
        assert resolved, (d, rnd)
        assert all(t.startswith(rnd + "/") for t in resolved), (d, rnd)
        assert len(found) == len(range(1, 65536, 97))
        for alias, topic in found:
            if alias is not None:
                assert topic == "%s/topic/alias/%05d" % (rnd, alias)
    assert errors == []


# ---- many connections, big packets, claims without data ---------------------------

def test_connections(ts, made):
    # Under the sanitizers (each tshark allocation instrumented) a tenth of
    # them: the full count runs in the ordinary suite.
    n = 10000 if os.environ.get("MQTTLENS_PRELOAD") else 100000
    cap = made("connections", connections=n)
    fields = ["mqttlens.type", "mqttlens.clientid", "mqttlens.response_to"]
    by_type = Counter()
    clients = set()
    linked = 0
    for types, clientids, resp_to in rows(ts, cap, fields, "mqttlens"):
        by_type.update(types)
        clients.update(clientids)
        linked += len(resp_to)
    assert by_type == {"1": n, "2": n, "3": n, "14": n}
    assert len(clients) == n
    assert linked == n  # every CONNACK answers its CONNECT
    assert notable(ts, cap) == ([], [])


def test_remaining_length_claims(ts, made):
    """Each connection announces a 268,435,455-byte PUBLISH and closes after
    a few bytes: an error on the frame where it starts, nothing buffered."""
    cap = made("rl-max")
    starts = rows(ts, cap, ["frame.number", "_ws.expert.message"], "mqttlens.malformed.connection_ends_mid_packet")
    assert len(starts) == 20
    assert all(any("268435460 bytes announced" in m for m in r[1]) for r in starts)
    clients = rows(ts, cap, ["mqttlens.clientid"], "mqttlens.type == 1")
    assert sorted(r[0][0] for r in clients) == sorted("rl%d" % i for i in range(20))


def test_ten_thousand_user_properties(ts, made):
    cap = made("user-properties")
    out = rows(ts, cap, ["mqttlens.prop.user_property.key", "mqttlens.prop.user_property.value", "mqttlens.payload"],
               "mqttlens.type == 3")
    assert len(out) == 1
    keys, values, payload = out[0]
    assert keys == ["k%d" % i for i in range(10000)]
    assert values == ["v"] * 10000
    assert payload == ["7061796c6f6164"]
    assert notable(ts, cap) == ([], [])


def test_ten_thousand_filters(ts, made):
    """All filters decoded and answered; the subscription table keeps 4,096
    of them and says so."""
    cap = made("filters")
    sub = rows(ts, cap, ["mqttlens.filter", "mqttlens.sub.qos"], "mqttlens.type == 8")
    assert len(sub) == 1 and sub[0][0] == ["f/%d/+" % i for i in range(10000)]
    ack = rows(ts, cap, ["mqttlens.reason_code", "mqttlens.response_to"], "mqttlens.type == 9")
    assert len(ack) == 1 and ack[0][0] == ["0x01"] * 10000 and len(ack[0][1]) == 1
    limits, errors = notable(ts, cap)
    assert len(limits) == 1 and "subscription table holds 4096 topic filters" in limits[0][1][0]
    assert errors == []


# ---- the other per-connection limits -----------------------------------------------

def test_pending_pings(ts, made):
    """70 PINGREQs without an answer: the 65th reaches the limit of 64; all
    70 are reported unanswered."""
    cap = made("pings")
    pings = [int(r[0][0]) for r in rows(ts, cap, ["frame.number"], "mqttlens.type == 12")]
    assert len(pings) == 70
    limits, errors = notable(ts, cap)
    assert [f for f, _ in limits] == [pings[64]]
    assert "64 PINGREQs await a PINGRESP" in limits[0][1][0]
    unanswered = rows(ts, cap, ["frame.number"], "mqttlens.type == 12 && mqttlens.analysis.no_response")
    assert len(unanswered) == 70


def test_subscription_identifiers(ts, made):
    """4,100 SUBSCRIBEs with their own identifiers and filters: the 4,097th
    reaches both the identifier limit and the subscription table limit."""
    cap = made("subscription-ids")
    subs = [int(r[0][0]) for r in rows(ts, cap, ["frame.number"], "mqttlens.type == 8")]
    assert len(subs) == 4100
    limits, errors = notable(ts, cap)
    assert [f for f, _ in limits] == [subs[4096]]
    messages = " ".join(limits[0][1])
    assert "4096 Subscription Identifiers remembered" in messages
    assert "subscription table holds 4096 topic filters" in messages
    acks = rows(ts, cap, ["mqttlens.response_to"], "mqttlens.type == 9")
    assert len(acks) == 4100 and all(len(r[0]) == 1 for r in acks)


def test_acknowledgement_order(ts, made):
    """One server PUBLISH stays open while 70,000 others are acknowledged:
    each acknowledgement breaks the order rule until the order list reaches
    65,536 flows; then the check stops, once said."""
    cap = made("ack-order")
    limits, errors = notable(ts, cap)
    assert len(limits) == 1 and "acknowledgement order no longer checked" in limits[0][1][0]
    limit_frame = limits[0][0]
    out_of_order = rows(ts, cap, ["frame.number", "mqttlens.rule.client_ack_order"],
                        "mqttlens.rule.client_ack_order")
    assert out_of_order and all(int(r[0][0]) < limit_frame for r in out_of_order)
    assert sum(len(r[1]) for r in out_of_order) >= 65535 - 1000
