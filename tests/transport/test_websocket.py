"""MQTT over WebSocket and on other ports, beyond the baselines.

* The ws port preference decides whether a WebSocket connection on 8083
  is found when HTTP's own heuristic is off.
* Every WebSocket capture shows the same MQTT packets in the same frames
  with one pass as with two (the stream is rebuilt on the first pass and
  replayed later).
* [MQTT-6.0.0-1/3/4] are judged the same in one and two passes, only
  where the capture holds the upgrade, and the websocket_fields preference
  turns the reading of Wireshark's fields off.
* On the captures of MQTT on other ports, mqttlens (which finds them by
  their CONNECT) and the built-in dissector (told the port with Decode As)
  see the same packets.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import mqttlens  # noqa: E402

CAPTURES = mqttlens.all_captures()
WEBSOCKET = [c for c in CAPTURES if "websocket" in mqttlens.capture_id(c) or c.name.startswith("wss-")]
OTHER_PORTS = {"port-11883-v5.pcapng": "tcp.port==11883", "tls-18883-v5-keys.pcapng": "tls.port==18883",
               "v311-port-11883.pcap": "tcp.port==11883", "v5-port-1884-split-connect.pcap": "tcp.port==1884",
               "bridge-v311.pcapng": "tcp.port==1884", "bridge-v5.pcapng": "tcp.port==1884"}


def types_by_frame(capture, proto, extra=()):
    field = "mqttlens.type" if proto == "mqttlens" else "mqtt.msgtype"
    out = mqttlens.tshark().run(["-n", "-T", "fields", "-e", "frame.number", "-e", field, "-Y", proto] + list(extra),
                                capture)
    return [tuple(line.split("\t")) for line in out.splitlines()]


def test_ws_port_preference():
    """HTTP's own TCP heuristic finds most upgrades anyway; without it, the
    ws_ports preference decides whether 8083 is HTTP (and so WebSocket)."""
    capture = next(c for c in CAPTURES if c.name == "v311-ws-one-packet-per-message.pcap")
    no_heur = ["--disable-heuristic", "http_tcp"]
    assert types_by_frame(capture, "mqttlens"), "not found on 8083"
    assert types_by_frame(capture, "mqttlens", no_heur), "not found on 8083 with the default ws_ports"
    assert not types_by_frame(capture, "mqttlens", no_heur + ["-o", "mqttlens.ws_ports:"]), \
        "found on 8083 although ws_ports is empty"


def test_websocket_captures_present():
    names = {c.name for c in WEBSOCKET}
    for want in ("websocket-v311.pcapng", "websocket-split-v311.pcapng", "websocket-packed-v311.pcapng",
                 "websocket-paho-v311.pcapng", "wss-paho-v311-keys.pcapng", "v5-ws-rl-split.pcap"):
        assert want in names


def shared_types_by_frame(capture, mode):
    """(frame, its packet types) from the shared dissection in `mode`."""
    out = {}
    for p in mqttlens.dissected(capture, mode):
        out.setdefault(p.frame, []).extend(p.get("mqttlens.type"))
    return [(str(frame), ",".join(types)) for frame, types in out.items() if types]


@pytest.mark.parametrize("capture", WEBSOCKET, ids=[mqttlens.capture_id(c) for c in WEBSOCKET])
def test_one_and_two_passes_agree(capture):
    one = shared_types_by_frame(capture, "one")
    two = shared_types_by_frame(capture, "two")
    assert one, "no MQTT found"
    assert one == two


@pytest.mark.parametrize("name", sorted(OTHER_PORTS))
def test_other_ports_agree_with_builtin_decode_as(name):
    capture = next(c for c in CAPTURES if c.name == name)
    ours = types_by_frame(capture, "mqttlens", ["-2"])
    theirs = types_by_frame(capture, "mqtt", ["-2", "--disable-protocol", "mqttlens", "-d", f"{OTHER_PORTS[name]},mqtt"])
    assert ours and ours == theirs


def test_no_subprotocol_found_by_websocket_heuristic():
    """Without a subprotocol and off the ws ports, the WebSocket heuristic
    list (mqttlens_ws: the first message is a CONNECT) finds the
    connection, and the server's missing subprotocol is reported."""
    capture = next(c for c in CAPTURES if c.name == "v311-ws-no-subprotocol.pcap")
    rows = mqttlens.packets(capture, extra=["-o", "mqttlens.ws_ports:"])
    types = [p.first("mqttlens.type") for p in rows if p.first("mqttlens.type")]
    assert types[:2] == ["1", "2"]
    assert any("mqttlens.rule.websocket_subprotocol" in p.expert_names() for p in rows)
    off = mqttlens.packets(capture, extra=["-o", "mqttlens.ws_ports:", "--disable-heuristic", "mqttlens_ws"])
    assert not off


def _findings(capture, extra=None, mode="one"):
    """(frame, WebSocket findings) of every frame with one: from a run of
    its own with `extra`, else from the shared dissection in `mode`."""
    pdus = mqttlens.dissected(capture, mode) if extra is None else mqttlens.packets(capture, extra=list(extra))
    return [(str(p.frame), sorted(n for n in p.expert_names() if "websocket" in n))
            for p in pdus if any("websocket" in n for n in p.expert_names())]


def test_websocket_findings_with_one_pass_two_passes_and_no_tree_shown():
    """[MQTT-6.0.0-1/3/4] are decided on the first pass from Wireshark's
    fields, which mqttlens' postdissector has built even where no tree is
    shown: two passes report the same on the same frames, and a run that
    filters on the finding in the second pass only (-2 -Y) finds it."""
    for name, want in (("v311-ws-text-frame.pcap", ["mqttlens.rule.websocket_text_frame"]),
                       ("v5-ws-text-fragmented.pcap", ["mqttlens.rule.websocket_text_frame"]),
                       ("v311-ws-no-offer.pcap", ["mqttlens.rule.websocket_offer",
                                                  "mqttlens.rule.websocket_subprotocol"])):
        capture = next(c for c in CAPTURES if c.name == name)
        one = _findings(capture)
        assert [names for _frame, names in one] == [want], (name, one)
        assert _findings(capture, mode="two") == one
        rule = want[0]
        frames = mqttlens.tshark().run(["-n", "-2", "-Y", rule, "-T", "fields", "-e", "frame.number"], capture).split()
        assert frames == [one[0][0]], (name, frames)


def test_binary_messages_with_mqtt_offer_are_clean():
    """The ordinary captures (mqtt.js, paho, and the generated ones that
    offer and select "mqtt") have no WebSocket finding, and their opcode
    is known (binary) where the transport item is shown."""
    for capture in WEBSOCKET:
        if any(bad in capture.name for bad in ("text", "no-offer", "no-subprotocol")):
            continue
        assert not _findings(capture), capture.name


def test_capture_starting_after_the_upgrade_is_not_judged(tmp_path):
    """Without the HTTP upgrade in the capture (WebSocket then found by
    Decode As), neither the offer nor the subprotocol is judged; with it,
    the same connection has the finding."""
    capture = next(c for c in CAPTURES if c.name == "v311-ws-no-subprotocol.pcap")
    late = tmp_path / "after-upgrade.pcap"
    subprocess.run(["editcap", str(capture), str(late), "4-5"], check=True)  # the request and the 101
    os.chmod(late, 0o644)
    decode_as = ["-d", "tcp.port==8083,websocket"]
    rows = mqttlens.packets(late, extra=decode_as)
    assert [p.first("mqttlens.type") for p in rows if p.first("mqttlens.type")][:2] == ["1", "2"]
    assert not any("websocket" in n for p in rows for n in p.expert_names())
    assert _findings(capture)


def test_websocket_fields_preference():
    """Off, the headers and opcodes are not read: no text-frame finding;
    the subprotocol entry "mqtt" still tells what the server selected."""
    text = next(c for c in CAPTURES if c.name == "v311-ws-text-frame.pcap")
    assert not _findings(text, ["-o", "mqttlens.websocket_fields:FALSE"])
    rows = mqttlens.packets(text, extra=["-o", "mqttlens.websocket_fields:FALSE"])
    assert [v for p in rows for v in p.all("mqttlens.ws.subprotocol")] == ["mqtt"]
