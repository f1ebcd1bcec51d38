"""What the tree and the columns say, where the words depend on the protocol version or the
packet type: the labels of the SUBSCRIBE options byte, the names of reason codes in custom
columns and in mqttlens.reason_name, the Info line of a refused login.

The expectations are the specifications' words (MQTT 3.1.1 §3.8.3 and Table 3.1, MQTT 5.0
§3.8.3.1 and the reason code tables of chapter 3), written here, not read from mqttlens.
"""

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import mqttlens  # noqa: E402

LAB = mqttlens.PCAPS / "lab"


def pdml(capture, display_filter, extra=()):
    out = mqttlens.tshark().run(["-n", "-T", "pdml", "-Y", display_filter] + list(extra), capture)
    return ET.fromstring(mqttlens._XML_INVALID.sub("", out))


def options_items(capture):
    """Each SUBSCRIBE options byte: its label and the labels of the items below it."""
    out = []
    for item in pdml(capture, "mqttlens.type == 8").iter("field"):
        if item.get("name") == "mqttlens.sub.options":
            out.append((item.get("showname"), [(f.get("name"), f.get("showname")) for f in item.iter("field")
                                               if f is not item]))
    return out


def test_v311_requested_qos_byte():
    """3.1.1 §3.8.3: each filter is followed by a Requested QoS byte whose upper 6 bits are
    reserved [MQTT-3.8.3-4]; it has no Subscription Options."""
    items = options_items(LAB / "subscribe-v311.pcapng")
    assert items
    for label, children in items:
        assert label.startswith("Requested QoS: "), label
        names = [n for n, _ in children]
        assert names == ["mqttlens.sub.qos", "mqttlens.sub.reserved"], names
        assert children[1][1].startswith("Reserved bits (7-2): "), children[1][1]


def test_v5_subscription_options():
    """5.0 §3.8.3.1: QoS, No Local, Retain As Published, Retain Handling, bits 7-6 reserved."""
    items = options_items(LAB / "subscribe-v5.pcapng")
    assert items
    for label, children in items:
        assert label.startswith("Subscription Options: "), label
        assert [n for n, _ in children] == ["mqttlens.sub.qos", "mqttlens.sub.no_local",
                                            "mqttlens.sub.retain_as_published", "mqttlens.sub.retain_handling",
                                            "mqttlens.sub.reserved"]
        assert children[-1][1].startswith("Reserved bits: ")
