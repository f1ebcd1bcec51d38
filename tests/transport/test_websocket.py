"""MQTT over WebSocket and on other ports, beyond the baselines.

* The ws port preference decides whether a WebSocket connection on 8083
  is found when HTTP's own heuristic is off.
* Every WebSocket capture shows the same MQTT packets in the same frames
  with one pass as with two (the stream is rebuilt on the first pass and
  replayed later).
* On the captures of MQTT on other ports, mqttlens (which finds them by
  their CONNECT) and the built-in dissector (told the port with Decode As)
  see the same packets.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import mqttlens  # noqa: E402

CAPTURES = mqttlens.all_captures()
WEBSOCKET = [c for c in CAPTURES if "websocket" in mqttlens.capture_id(c) or c.name.startswith("wss-")]
OTHER_PORTS = {"port-11883-v5.pcapng": "tcp.port==11883", "tls-18883-v5-keys.pcapng": "tls.port==18883",
               "v311-port-11883.pcap": "tcp.port==11883", "v5-port-1884-split-connect.pcap": "tcp.port==1884"}


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


@pytest.mark.parametrize("capture", WEBSOCKET, ids=[mqttlens.capture_id(c) for c in WEBSOCKET])
def test_one_and_two_passes_agree(capture):
    one = types_by_frame(capture, "mqttlens")
    two = types_by_frame(capture, "mqttlens", ["-2"])
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
