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


# Reason code names: 3.1.1 Table 3.1 (CONNACK) and §3.9.3 (SUBACK); 3.1 has the same.  5.0
# Table 2-6: one name per code but 0x00, which is named by the packet (Tables 3-1 to 3-11).
V3_NAMES = {
    2: {0x00: "Connection Accepted", 0x01: "Connection Refused: unacceptable protocol version",
        0x02: "Connection Refused: identifier rejected", 0x03: "Connection Refused: server unavailable",
        0x04: "Connection Refused: bad user name or password", 0x05: "Connection Refused: not authorized"},
    9: {0x00: "Success - Maximum QoS 0", 0x01: "Success - Maximum QoS 1", 0x02: "Success - Maximum QoS 2",
        0x80: "Failure"},
}
V5_NAMES = {
    0x01: "Granted QoS 1", 0x02: "Granted QoS 2", 0x04: "Disconnect with Will Message",
    0x10: "No matching subscribers", 0x11: "No subscription existed", 0x18: "Continue authentication",
    0x19: "Re-authenticate", 0x80: "Unspecified error", 0x81: "Malformed Packet", 0x82: "Protocol Error",
    0x83: "Implementation specific error", 0x84: "Unsupported Protocol Version",
    0x85: "Client Identifier not valid", 0x86: "Bad User Name or Password", 0x87: "Not authorized",
    0x88: "Server unavailable", 0x89: "Server busy", 0x8A: "Banned", 0x8B: "Server shutting down",
    0x8C: "Bad authentication method", 0x8D: "Keep Alive timeout", 0x8E: "Session taken over",
    0x8F: "Topic Filter invalid", 0x90: "Topic Name invalid", 0x91: "Packet Identifier in use",
    0x92: "Packet Identifier not found", 0x93: "Receive Maximum exceeded", 0x94: "Topic Alias invalid",
    0x95: "Packet too large", 0x96: "Message rate too high", 0x97: "Quota exceeded",
    0x98: "Administrative action", 0x99: "Payload format invalid", 0x9A: "Retain not supported",
    0x9B: "QoS not supported", 0x9C: "Use another server", 0x9D: "Server moved",
    0x9E: "Shared Subscriptions not supported", 0x9F: "Connection rate exceeded", 0xA0: "Maximum connect time",
    0xA1: "Subscription Identifiers not supported", 0xA2: "Wildcard Subscriptions not supported",
}
V5_ZERO = {9: "Granted QoS 0", 14: "Normal disconnection"}  # else "Success"


def spec_name(version, ptype, code):
    if version == 5:
        return V5_ZERO.get(ptype, "Success") if code == 0 else V5_NAMES[code]
    return V3_NAMES[ptype][code]


NAMED = [LAB / n for n in ("auth-v311.pcapng", "auth-v5.pcapng", "enhanced-auth-v5.pcapng",
                           "ping-disconnect-v5.pcapng", "publish-qos012-v31.pcapng", "subscribe-v311.pcapng",
                           "subscribe-v5.pcapng", "v5-session-present.pcapng")]


@pytest.mark.parametrize("capture", NAMED, ids=[c.name for c in NAMED])
def test_reason_code_names(capture):
    """A custom column of mqttlens.reason_code and mqttlens.reason_name (-T fields) name every
    code as its packet type's table at its version does, implied codes included."""
    t = mqttlens.tshark()
    rows = t.fields(capture, ["mqttlens.version", "mqttlens.type", "mqttlens.reason_code", "mqttlens.reason_name"],
                    display_filter="mqttlens.reason_code")
    # The custom column as the packet list shows it: tshark's summary lines
    # (4.2 and later no longer take a custom column's title after -e).
    lines = t.run(["-n", "-Y", "mqttlens.reason_code", "-o",
                   'gui.column.format:"No","%m","RC","%Cus:mqttlens.reason_code"'], capture).splitlines()
    columns = [[line.strip().split(None, 1)[1] if len(line.split()) > 1 else ""] for line in lines if line.strip()]
    assert len(columns) == len(rows), "summary lines and field rows differ"
    checked = 0
    for (versions, types, codes, names), column in zip(rows, columns):
        if len(types) != 1:  # several MQTT packets in the frame: the codes cannot be told apart
            continue
        want = [spec_name(int(versions[0]), int(types[0]), int(c, 16)) for c in codes]
        assert names == want, f"{types[0]} {codes}: mqttlens.reason_name {names}"
        assert column == [",".join(want)], f"{types[0]} {codes}: custom column {column}"
        checked += 1
    assert checked, "no packet with a reason code"


REFUSED_V311 = [LAB / "auth-v311.pcapng"] + [mqttlens.PCAPS / "generated" / "invalid" / n for n in (
    "v311-valid-clientid-rejected.pcap", "v311-unsupported-level-wrong-code.pcap")]


@pytest.mark.parametrize("capture", REFUSED_V311, ids=[c.name for c in REFUSED_V311])
def test_refusal_is_said_once(capture):
    """3.1.1's return code names begin with "Connection Refused": the Info line, the
    credentials and the flow graph say "refused: <the rest> (0xNN)", not "refused: Connection
    Refused: ..."."""
    t = mqttlens.tshark()
    rows = t.fields(capture, ["mqttlens.reason_code", "_ws.col.Info"], display_filter="mqttlens.type == 2")
    refused = 0
    for codes, info in rows:
        code = int(codes[0], 16)
        if code:
            rest = V3_NAMES[2][code].split(": ", 1)[1]
            assert info == [f"CONNACK refused: {rest} (0x{code:02x})"], info
            refused += 1
    assert refused
    outputs = t.run(["-n", "-q", "-z", "credentials", "-z", "flow,mqttlens,standard"], capture)
    assert "Connection Refused" not in outputs
    assert outputs.count("refused: ") >= refused
