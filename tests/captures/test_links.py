"""Connection analysis against what the capture generator wrote.

For every generated capture, pcaps/generated/manifest.json lists each
request/response pair, the requests left unanswered, the responses with
no request, and the topic every Topic Alias stands for.  This test checks
mqttlens' generated fields against that list:

- two passes (tshark -2): response_in on the request, response_to and
  response_time on the response, the QoS 2 chain step by step, DUP copies
  linked to their original, unanswered and unsolicited packets reported;
- one pass: the same, except what needs the future (response_in and
  "no response"), which must then be absent;
- both: the resolved topic of every alias-only PUBLISH and the frame that
  set the alias.
"""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import mqttlens  # noqa: E402

MANIFEST = mqttlens.PCAPS / "generated" / "manifest.json"
ENTRIES = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
WITH_ANALYSIS = sorted(k for k, v in ENTRIES.items()
                       if v.get("links") or v.get("topics") or v.get("unanswered") or v.get("unsolicited")
                       or v.get("resends"))

# A response without a request is reported as such, or by the rule it
# breaks when that rule says more (a second CONNACK, a CONNACK from the
# client).
UNSOLICITED = {"mqttlens.analysis.unsolicited_response", "mqttlens.rule.ack_unknown_packet_id",
               "mqttlens.rule.suback_unknown_packet_id", "mqttlens.analysis.previous_session_flow",
               "mqttlens.rule.second_connack", "mqttlens.rule.wrong_direction"}
# An unanswered request is reported as such, as a broken obligation when
# the peer went on talking, or as a packet the peer must not answer.
NEEDS_FUTURE = {"mqttlens.analysis.no_response", "mqttlens.analysis.qos2_incomplete", "mqttlens.rule.response_missing"}
UNANSWERED = {"mqttlens.analysis.no_response", "mqttlens.analysis.qos2_incomplete", "mqttlens.rule.response_missing",
              "mqttlens.rule.wrong_direction"}


def frames_of(capture, two_pass):
    by_frame = {}
    for p in mqttlens.dissected(mqttlens.PCAPS / capture, "two" if two_pass else "one"):
        by_frame.setdefault(p.frame, []).append(p)
    return by_frame


def values(packets, name):
    out = []
    for p in packets:
        out += p.all(name)
    return out


def experts(packets):
    return {e for p in packets for e in p.expert_names()}


def check_link(link, frames, two_pass, problems):
    req, resp = link["request"], link["response"]
    a, b = frames.get(req, []), frames.get(resp, [])
    if not a or not b:
        problems.append(f"{link}: frame without mqttlens packets")
        return
    if link.get("retransmission"):
        if str(link.get("original", "")) and str(link["original"]) not in values(a, "mqttlens.retransmission_of"):
            problems.append(f"{link}: DUP copy not linked to its original")
        if not values(a, "mqttlens.retransmission_of"):
            problems.append(f"{link}: DUP copy in frame {req} has no mqttlens.retransmission_of")
        return
    if str(req) not in values(b, "mqttlens.response_to"):
        problems.append(f"{link}: frame {resp} response_to {values(b, 'mqttlens.response_to')}, expected {req}")
    else:
        want = b[0].time - a[0].time
        got = [float(t) for t in values(b, "mqttlens.response_time")]
        if not any(abs(t - want) < 1e-6 for t in got):
            problems.append(f"{link}: response_time {got}, expected {want:.9f}")
    response_in = values(a, "mqttlens.response_in")
    if two_pass and str(resp) not in response_in:
        problems.append(f"{link}: frame {req} response_in {response_in}, expected {resp}")
    if not two_pass and response_in:
        problems.append(f"{link}: one pass shows response_in {response_in} in frame {req} (needs the future)")


def check_topic(t, frames, problems):
    pkts = frames.get(t["frame"], [])
    topics = values(pkts, "mqttlens.topic")
    if t["topic"] is None:
        if "mqttlens.analysis.topic_alias_unresolved" not in experts(pkts) and \
                "mqttlens.rule.topic_alias_unknown" not in experts(pkts):
            problems.append(f"{t}: unresolvable alias not reported")
        return
    if t["topic"] not in topics:
        problems.append(f"{t}: frame {t['frame']} topics {topics}")
    if t.get("alias_set_in") and t["alias_set_in"] != t["frame"]:
        if str(t["alias_set_in"]) not in values(pkts, "mqttlens.alias_frame"):
            problems.append(f"{t}: alias_frame {values(pkts, 'mqttlens.alias_frame')}")


def analyse(capture, two_pass):
    entry = ENTRIES[capture]
    frames = frames_of(capture, two_pass)
    problems = []
    checked = 0
    for link in entry.get("links", []):
        check_link(link, frames, two_pass, problems)
        checked += 1
    for t in entry.get("topics", []):
        check_topic(t, frames, problems)
        checked += 1
    for u in entry.get("unanswered", []):
        found = experts(frames.get(u["frame"], []))
        if two_pass and not found & UNANSWERED:
            problems.append(f"unanswered {u}: not reported")
        if not two_pass and found & NEEDS_FUTURE:
            problems.append(f"unanswered {u}: reported on one pass, which cannot know yet")
        checked += 1
    # A DUP copy of a resumed session links to its original on an earlier
    # connection of the session (one pass too: the original comes first).
    for r in entry.get("resends", []):
        got = values(frames.get(r["frame"], []), "mqttlens.retransmission_of")
        if got != [str(r["original"])]:
            problems.append(f"resend {r}: retransmission_of {got}")
        checked += 1
    for u in entry.get("unsolicited", []):
        if not experts(frames.get(u["frame"], [])) & UNSOLICITED:
            problems.append(f"unsolicited {u}: not reported")
        checked += 1
    return checked, problems


@pytest.mark.parametrize("two_pass", [False, True], ids=["one-pass", "two-pass"])
@pytest.mark.parametrize("capture", WITH_ANALYSIS)
def test_links_and_topics(capture, two_pass):
    checked, problems = analyse(capture, two_pass)
    print(f"{capture} ({'two' if two_pass else 'one'} pass): {checked} facts, {len(problems)} problems")
    assert not problems, "\n".join(problems[:30])


def test_manifest_present():
    assert ENTRIES, f"{MANIFEST} missing: run pcaps/generate.py"
