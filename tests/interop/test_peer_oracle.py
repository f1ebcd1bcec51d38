"""Peer oracle: mqttlens against what other analysers' own test suites assert.

../shared/peer-captures holds real MQTT captures from the test suites of
Suricata (suricata-verify), Zeek, Arkime and nDPI, each with the expected
output that those projects' authors wrote for their own analyser.  Every
MQTT fact those files assert is translated into a statement about the
fields mqttlens shows for the same capture, and compared:

  suricata  each `checks:` filter of test.yaml: the number of EVE records
            (one per Suricata transaction) matching the filter's keys
  zeek      every column of every row of mqtt_connect/publish/subscribe.log
  arkime    every MQTT value set of every session document (.test)
  ndpi      every flow classified as MQTT, and the MQTT flow count

Nothing expected is written here: the expectations are read from the peer
files at run time.  What is written here is the vocabulary needed to read
them (Zeek's return-code strings, Arkime's packet type names, ...), how each
peer groups packets (Suricata transactions, Arkime sessions), and a list of
exclusions: facts that are about the peer's own machinery rather than about
MQTT, each with its reason.  Any other difference is a mismatch and fails
the test; so does a fact that mqttlens has no field for.

Each peer has its own test, which prints how many facts it checked, the
facts it skipped and why, and fails on any mismatch.  The last test prints
the overall summary line.  The module skips when ../shared is absent.
"""

import functools
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import mqttlens  # noqa: E402

PEER = mqttlens.PEER_CAPTURES

if not PEER.is_dir():
    pytest.skip("../shared/peer-captures is absent: peer oracle not run", allow_module_level=True)


# ---------------------------------------------------------------------------
# Known exclusions: the only facts that may be left unchecked.  Each key is
# what the code below asks for when it meets such a fact; the value is the
# reason, printed with the skipped fact.

EXCLUSIONS = {
    # Suricata
    "suricata/dest_port":
        "counts every EVE record whose dest_port is 1883 (flow, mqtt, anomaly and other event "
        "types alike): a property of Suricata's logging, not of an MQTT packet",
    "suricata/alert":
        "an alert raised by the test's own test.rules: it counts matches of Suricata's signature "
        "engine (rule keywords, content matches, per-transaction detection), not an MQTT field",
    "suricata/disconnect-reason-remaining-length-1":
        "Suricata's parser (parser.rs parse_disconnect) reports reason code 0 for every 5.0 "
        "DISCONNECT whose Remaining Length is 1, whatever the Reason Code byte says; in these "
        "captures the byte is 0x04, which mqttlens shows",
    "suricata/frame-without-length":
        "a stream-frame alert that asserts no length: which PDU it concerns is decided only by the "
        "content match of a rule in test.rules (Suricata's detection machinery)",
    "suricata/anomaly/unintroduced_message":
        "Suricata's connection state machine: a message seen before Suricata saw CONNECT/CONNACK "
        "(this capture starts mid-connection, and its suricata.yaml enables stream.midstream); "
        "a capture starting mid-connection is not an MQTT error, and mqttlens has no expert item for it",
    "suricata/anomaly/missing_connect":
        "Suricata's transaction bookkeeping (CONNACK without a CONNECT in its state); mqttlens has "
        "no such expert item",
    "suricata/anomaly/missing_publish":
        "Suricata's transaction bookkeeping (acknowledgement without a PUBLISH in its state)",
    "suricata/anomaly/missing_subscribe":
        "Suricata's transaction bookkeeping (SUBACK without a SUBSCRIBE in its state)",
    "suricata/anomaly/missing_unsubscribe":
        "Suricata's transaction bookkeeping (UNSUBACK without an UNSUBSCRIBE in its state)",
    "suricata/anomaly/double_connect":
        "Suricata's connection state (a second CONNECT after CONNACK); mqttlens has no such expert item",
    "suricata/anomaly/too_many_transactions":
        "Suricata's own resource limit (max-tx)",
    "suricata/anomaly/missing_msg_id":
        "raised by Suricata's parser state, with no one-to-one mqttlens expert item "
        "(mqttlens reports the packet as truncated or malformed instead)",
    "suricata/anomaly/malformed_traffic":
        "Suricata's parser giving up on the stream; mqttlens spreads this over several "
        "malformed.* items, so there is no reliable one-to-one mapping",
    # Arkime
    "arkime/mqtt_synthetic/192.168.1.61:55557/topic":
        "Arkime tagged this session mqtt:message-too-long: its parser buffer cannot hold the "
        "PUBLISH with the ~8 KB topic, so it stops parsing MQTT there and never records that "
        "topic; mqttlens reassembles and decodes the packet",
    "arkime/mqtt_synthetic/192.168.1.61:55557/qos":
        "Arkime tagged this session mqtt:message-too-long and stopped parsing at the PUBLISH "
        "whose QoS it would have recorded (see the topic exclusion)",
    # nDPI
    "ndpi/packet-counts":
        "nDPI counts IP packets and bytes of the flow (TCP handshake, pure ACKs and headers "
        "included), not MQTT packets",
    "ndpi/plain-text":
        "nDPI's PLAIN TEXT is a printable excerpt of raw payload bytes that runs across MQTT field "
        "boundaries (it can start with a length byte, e.g. 'J' = 0x4a), not an MQTT field",
}

# Parts of a Suricata check that do not describe the MQTT traffic; a check
# that has them is still evaluated on its other keys.
SURICATA_INTERNAL_KEYS = {
    "event_type": "selects the kind of record; it decides which translation applies",
    "alert.signature": "which rule of test.rules fired",
    "alert.signature_id": "which rule of test.rules fired",
    "frame.id": "Suricata's own frame counter",
    "frame.complete": "Suricata's stream-frame bookkeeping",
    "pcap_cnt": "the packet during which Suricata's detection ran; for stream data that is a later "
                "packet than the one carrying the bytes (e.g. the ACK), so it only bounds the frame",
}

# Suricata anomaly events that mqttlens reports as expert info.
SURICATA_ANOMALY_EXPERT = {
    "invalid_qos_level": "mqttlens.rule.publish_qos_3",
    "unassigned_msg_type": "mqttlens.rule.type_reserved",
}

# Vocabulary ---------------------------------------------------------------

TYPE_NAMES = ["Reserved", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
              "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"]
EVE_TYPES = {n: name.lower() for n, name in enumerate(TYPE_NAMES) if n}  # Suricata: mqtt.<type>.*
CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
DISCONNECT, AUTH = 14, 15

# Zeek (scripts/base/protocols/mqtt/consts.zeek and main.zeek)
ZEEK_VERSIONS = {3: "3.1", 4: "3.1.1", 5: "5.0"}
ZEEK_QOS = {0: "at most once", 1: "at least once", 2: "exactly once"}
ZEEK_RETURN_CODES = {0: "Connection Accepted", 1: "Refused: unacceptable protocol version",
                     2: "Refused: identifier rejected", 3: "Refused: server unavailable",
                     4: "Refused: bad user name or password", 5: "Refused: not authorized"}
ZEEK_ACTIONS = {"MQTT::SUBSCRIBE": SUBSCRIBE, "MQTT::UNSUBSCRIBE": UNSUBSCRIBE}
ZEEK_LOCATOR_COLUMNS = ("ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p")

# Arkime (capture/parsers/mqtt.c)
ARKIME_VERSIONS = {3: "3.1", 4: "3.1.1", 5: "5.0"}
ARKIME_GAVE_UP = "mqtt:message-too-long"  # the tag Arkime sets when it stops parsing MQTT
ARKIME_MQTT_KEYS = ("clientId", "topic", "type", "version", "qos", "flags", "willTopic", "connackCode")

MISSING = object()


# ---------------------------------------------------------------------------
# mqttlens output, kept as a tree: PDML, one Msg per MQTT packet.

class Field:
    __slots__ = ("name", "show", "size", "scope", "generated")

    def __init__(self, name, show, size, scope):
        self.name = name
        self.show = show
        self.size = size
        self.scope = scope
        self.generated = size == 0


class Msg:
    """One MQTT packet as mqttlens shows it.

    Field scopes: "packet" for the packet's own fields, "props" inside its
    Properties, "will" inside the CONNECT's Will Properties."""

    def __init__(self, capture, frame, index, net, proto):
        self.capture = capture
        self.frame = frame
        self.index = index
        self.stream, self.src, self.dst = net
        self.size = int(proto.get("size", "0"))
        self.fields = []
        self.user_props = {"props": [], "will": []}
        self.experts = []
        self._walk(proto, "packet")
        t = self.first("mqttlens.type")
        self.type = int(t) if t is not None else None

    def _walk(self, element, scope):
        for child in element.findall("field"):
            name = child.get("name", "")
            inner = scope
            if name == "mqttlens.properties":
                inner = "props"
            elif name == "mqttlens.will.properties":
                inner = "will"
            if re.match(r"mqttlens\.(rule|malformed|analysis)\.", name):
                self.experts.append(name)
            if name == "mqttlens.prop.user_property" and scope in self.user_props:
                key = value = None
                for sub in child.iter("field"):
                    if sub.get("name") == "mqttlens.prop.user_property.key":
                        key = sub.get("show", "")
                    elif sub.get("name") == "mqttlens.prop.user_property.value":
                        value = sub.get("show", "")
                self.user_props[scope].append((key, value))
            show = mqttlens.normal_show(name, child.get("show", ""))
            self.fields.append(Field(name, show, int(child.get("size", "0")), scope))
            self._walk(child, inner)

    def all(self, name, scope="packet", generated=False):
        return [f for f in self.fields if f.name == name and f.scope == scope
                and (generated or not f.generated)]

    def vals(self, name, scope="packet"):
        return [f.show for f in self.all(name, scope)]

    def first(self, name, scope="packet"):
        found = self.all(name, scope)
        return found[0].show if found else None

    def has(self, name, scope="packet"):
        return bool(self.all(name, scope))

    def int(self, name, scope="packet", generated=False):
        found = self.all(name, scope, generated)
        return to_int(found[0].show) if found else None

    def flag(self, name, scope="packet"):
        v = self.first(name, scope)
        return None if v is None else bool(to_int(v))

    def bytes(self, name, scope="packet"):
        found = self.all(name, scope, generated=True)
        return None if not found else hex_bytes(found[0].show)

    def header(self):
        """QoS, DUP and RETAIN as the fixed-header bits say, for any type."""
        if self.type == PUBLISH:
            return self.int("mqttlens.qos"), self.flag("mqttlens.dup"), self.flag("mqttlens.retain")
        nibble = self.int("mqttlens.flags")
        if nibble is None:
            return None, None, None
        return (nibble >> 1) & 3, bool(nibble & 8), bool(nibble & 1)

    def part_length(self, part):
        """Length of the whole packet, of its fixed header or of the rest."""
        rl = self.all("mqttlens.length")
        if part == "pdu":
            return self.size
        if not rl:
            return None
        if part == "header":
            return 1 + rl[0].size
        if part == "data":
            return to_int(rl[0].show)
        return None

    def where(self):
        return f"frame {self.frame}" + (f" (packet {self.index + 1} of the frame)" if self.index else "")

    def __repr__(self):
        return f"<{TYPE_NAMES[self.type] if self.type is not None and self.type < 16 else self.type} {self.where()}>"


def to_int(text):
    text = text.strip()
    return int(text, 16) if text.lower().startswith("0x") else int(text)


def hex_bytes(show):
    return bytes.fromhex(show.replace(":", "")) if show else b""


def _net(packet):
    addr = None
    src = dst = None
    stream = None
    for proto in packet.findall("proto"):
        name = proto.get("name")
        if name in ("ip", "ipv6"):
            values = {f.get("name"): f.get("show") for f in proto.iter("field")}
            addr = (values.get(name + ".src"), values.get(name + ".dst"))
        elif name == "tcp":
            values = {f.get("name"): f.get("show") for f in proto.iter("field")}
            stream = int(values.get("tcp.stream", -1))
            src = (addr[0] if addr else None, int(values["tcp.srcport"]))
            dst = (addr[1] if addr else None, int(values["tcp.dstport"]))
    return stream, src, dst


@functools.lru_cache(maxsize=None)
def decode(capture):
    """Every MQTT packet mqttlens shows in the capture, in order."""
    root = mqttlens.xml_root(capture, "one")
    msgs = []
    for packet in root.iter("packet"):
        frame = None
        for proto in packet.findall("proto"):
            if proto.get("name") == "geninfo":
                for f in proto.findall("field"):
                    if f.get("name") == "num":
                        frame = int(f.get("show"))
        net = _net(packet)
        index = 0
        for proto in packet.findall("proto"):
            if proto.get("name") == "mqttlens":
                msgs.append(Msg(capture, frame, index, net, proto))
                index += 1
    return tuple(msgs)


def field_types():
    """mqttlens field name -> Wireshark field type (FT_...)."""
    return {k: v for k, v in mqttlens.field_types().items() if k.startswith("mqttlens.")}


def connection(msgs, a, b):
    """The packets of the TCP connection between endpoints a and b."""
    ends = {a, b}
    return [m for m in msgs if {m.src, m.dst} == ends]


# ---------------------------------------------------------------------------
# Bookkeeping of facts

class Ledger:
    def __init__(self, peer):
        self.peer = peer
        self.checked = 0
        self.facts = []
        self.mismatches = []
        self.skipped = []

    def fact(self, where, what, expected, shown, ok=None, detail=""):
        """One comparison.  `ok` overrides plain equality (for prefixes,
        lower bounds and the like); `detail` explains a mismatch."""
        self.checked += 1
        if ok is None:
            ok = same(expected, shown)
        self.facts.append((where, what, expected, shown, ok))
        if not ok:
            self.mismatches.append(f"[{self.peer}] {where}: {what}: {self.peer} expects {show(expected)}, "
                                   f"mqttlens shows {show(shown)}" + (f" -- {detail}" if detail else ""))
        return ok

    def missing(self, where, what, expected, detail):
        """A fact that cannot be evaluated: that is a mismatch too."""
        self.checked += 1
        self.facts.append((where, what, expected, MISSING, False))
        self.mismatches.append(f"[{self.peer}] {where}: {what}: {self.peer} expects {show(expected)}, "
                               f"mqttlens shows nothing to compare ({detail})")

    def skip(self, where, what, key):
        assert key in EXCLUSIONS, f"no listed exclusion {key!r} for {where}: {what}"
        self.skipped.append(f"[{self.peer}] {where}: {what} -- skipped: {EXCLUSIONS[key]}")

    def summary(self):
        return (f"peer oracle [{self.peer}]: {self.checked} facts checked, "
                f"{len(self.mismatches)} mismatches, {len(self.skipped)} skipped")

    def report(self):
        lines = [self.summary()]
        lines += ["  MISMATCH " + m for m in self.mismatches]
        lines += ["  " + s for s in self.skipped]
        return "\n".join(lines)


def same(a, b):
    """Equality that does not mistake True for 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def show(value):
    if value is MISSING:
        return "(absent)"
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(show(v) for v in sorted(value, key=str)) + "}"
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "...(%d chars)" % len(text)


# ---------------------------------------------------------------------------
# Suricata: EVE records rebuilt from mqttlens fields

def eve_text(data):
    """Suricata's set_string_from_bytes: UTF-8 text, else escaped bytes."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(chr(c) if 0x20 <= c < 0x7F else "\\x%02x" % c for c in data)


def eve_properties(m, scope):
    types = field_types()
    props = {}
    for f in m.fields:
        if f.scope != scope or f.generated or not f.name.startswith("mqttlens.prop."):
            continue
        short = f.name[len("mqttlens.prop."):]
        if short in ("id", "undecoded") or short.startswith("user_property"):
            continue
        kind = types.get(f.name, "")
        if kind.startswith(("FT_UINT", "FT_INT")):
            props[short] = to_int(f.show)
        elif kind == "FT_BYTES":
            props[short] = eve_text(hex_bytes(f.show))
        else:
            props[short] = f.show
    for key, value in m.user_props[scope]:
        props[key] = value
    return props


def eve_message(m):
    """The object Suricata's logger writes for one message (logger.rs)."""
    qos, dup, retain = m.header()
    d = {"qos": qos, "retain": retain, "dup": dup}
    t = m.type
    props = m.has("mqttlens.properties")
    if t == CONNECT:
        d["protocol_string"] = m.first("mqttlens.protocol_name")
        d["protocol_version"] = m.int("mqttlens.version")
        d["client_id"] = m.first("mqttlens.clientid")
        d["flags"] = {k: m.flag("mqttlens.connect_flags." + k)
                      for k in ("username", "password", "will_retain", "will", "clean_session")}
        if m.has("mqttlens.username"):
            d["username"] = m.first("mqttlens.username")
        if m.has("mqttlens.password"):
            d["password"] = m.first("mqttlens.password")
        elif m.has("mqttlens.password_bytes"):
            d["password"] = eve_text(m.bytes("mqttlens.password_bytes"))
        if d["flags"]["will"]:
            will = {}
            if m.has("mqttlens.will.topic"):
                will["topic"] = m.first("mqttlens.will.topic")
            if m.bytes("mqttlens.will.payload") is not None:
                will["message"] = eve_text(m.bytes("mqttlens.will.payload"))
            if m.has("mqttlens.will.properties"):
                will["properties"] = eve_properties(m, "will")
            d["will"] = will
    elif t == CONNACK:
        d["session_present"] = m.flag("mqttlens.session_present")
        d["return_code"] = m.int("mqttlens.reason_code", generated=True)
    elif t == PUBLISH:
        d["topic"] = m.first("mqttlens.topic")
        if m.has("mqttlens.id"):
            d["message_id"] = m.int("mqttlens.id")
        payload = m.bytes("mqttlens.payload")
        if payload is not None:
            d["message"] = eve_text(payload)
    elif t in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        d["message_id"] = m.int("mqttlens.id")
        if m.int("mqttlens.reason_code", generated=True) is not None:
            d["reason_code"] = m.int("mqttlens.reason_code", generated=True)
    elif t == SUBSCRIBE:
        d["message_id"] = m.int("mqttlens.id")
        d["topics"] = [{"topic": f, "qos": to_int(q)}
                       for f, q in zip(m.vals("mqttlens.filter"), m.vals("mqttlens.sub.qos"))]
    elif t == SUBACK:
        d["message_id"] = m.int("mqttlens.id")
        d["qos_granted"] = [to_int(v) for v in m.vals("mqttlens.reason_code")]
        props = False  # Suricata does not log SUBACK properties
    elif t == UNSUBSCRIBE:
        d["message_id"] = m.int("mqttlens.id")
        d["topics"] = m.vals("mqttlens.filter")
        props = False  # nor UNSUBSCRIBE properties
    elif t == UNSUBACK:
        d["message_id"] = m.int("mqttlens.id")
        codes = [to_int(v) for v in m.vals("mqttlens.reason_code")]
        if codes:
            d["reason_codes"] = codes
        props = False  # nor UNSUBACK properties
    elif t in (DISCONNECT, AUTH):
        if m.int("mqttlens.reason_code", generated=True) is not None:
            d["reason_code"] = m.int("mqttlens.reason_code", generated=True)
    if props:
        d["properties"] = eve_properties(m, "props")
    return d


class Tx:
    def __init__(self, m):
        self.msgs = [m]
        self.pending = None
        self.complete = False

    def record(self):
        mqtt = {}
        for m in self.msgs:
            if m.type in EVE_TYPES:
                mqtt.setdefault(EVE_TYPES[m.type], eve_message(m))
        return {"event_type": "mqtt", "mqtt": mqtt}

    def where(self):
        return " + ".join(repr(m) for m in self.msgs)


def suricata_transactions(msgs):
    """Groups packets the way Suricata's MQTT parser does (mqtt.rs
    handle_msg): a request and the responses that carry its packet
    identifier form one transaction, logged as one EVE record."""
    result = []
    streams = {}
    for m in msgs:
        streams.setdefault(m.stream, []).append(m)
    for stream_msgs in streams.values():
        txs = []

        def pending(key):
            for tx in txs:
                if not tx.complete and tx.pending == key:
                    return tx
            return None

        for m in stream_msgs:
            t = m.type
            qos = m.header()[0]
            if t == CONNECT:
                tx = Tx(m)
                tx.pending = "CONNECT"
                txs.append(tx)
            elif t in (PUBLISH, SUBSCRIBE, UNSUBSCRIBE):
                tx = Tx(m)
                if qos == 0:
                    tx.complete = True
                elif qos in (1, 2) and m.has("mqttlens.id"):
                    tx.pending = m.int("mqttlens.id")
                txs.append(tx)
            elif t in (CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK):
                tx = pending("CONNECT" if t == CONNACK else m.int("mqttlens.id"))
                if tx is None:
                    tx = Tx(m)
                    tx.complete = True
                    txs.append(tx)
                else:
                    tx.msgs.append(m)
                    if t not in (PUBREC, PUBREL):
                        tx.complete = True
                        tx.pending = None
            else:
                tx = Tx(m)
                tx.complete = True
                txs.append(tx)
        result += txs
    return result


def eve_lookup(record, key):
    node = record
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        if token.startswith("["):
            i = int(token[1:-1])
            if not isinstance(node, list) or i >= len(node):
                return MISSING
            node = node[i]
        else:
            if not isinstance(node, dict) or token not in node:
                return MISSING
            node = node[token]
    return node


def eve_differences(record, match):
    """The keys of `match` that `record` does not satisfy, as
    (key, expected, shown)."""
    diffs = []
    for key, expected in match.items():
        if key == "has-key":
            if eve_lookup(record, expected) is MISSING:
                diffs.append((expected, "present", MISSING))
        elif key == "not-has-key":
            if eve_lookup(record, expected) is not MISSING:
                diffs.append((expected, "absent", eve_lookup(record, expected)))
        else:
            shown = eve_lookup(record, key)
            if shown is MISSING or not same(expected, shown):
                diffs.append((key, expected, shown))
    return diffs


def suricata_capture(test_dir, spec):
    if spec.get("pcap"):
        return (test_dir / spec["pcap"]).resolve()
    found = sorted(p for p in test_dir.iterdir() if p.suffix in (".pcap", ".pcapng"))
    return found[0] if len(found) == 1 else None


def suricata_mqtt_fact(ledger, where, msgs, match, count, at_least=False):
    """Records matching every mqtt.* key of `match`: `count` of them (or at
    least `count`, for keys that come from an alert record)."""
    records = [(tx, tx.record()) for tx in suricata_transactions(msgs)]
    matching = [tx for tx, rec in records if not eve_differences(rec, match)]
    keys = ", ".join(f"{k}={v!r}" if k not in ("has-key", "not-has-key") else f"{k} {v}"
                     for k, v in match.items())
    what = f"number of EVE mqtt records (transactions) with {keys}"
    ok = len(matching) >= count if at_least else len(matching) == count
    expected = f">= {count}" if at_least else count
    if ok:
        ledger.fact(where, what, expected, len(matching), ok=True)
        return
    # Explain: the record closest to the filter, key by key.
    detail = ""
    scored = [(len(eve_differences(rec, match)), tx, rec) for tx, rec in records]
    scored = [s for s in scored if s[0]]
    if len(matching) < count and scored:
        best = min(s[0] for s in scored)
        for _, tx, rec in [s for s in scored if s[0] == best][:2]:
            parts = "; ".join(f"{k}: {ledger.peer} expects {show(e)}, mqttlens shows {show(s)}"
                              for k, e, s in eve_differences(rec, match))
            detail += f"nearest transaction {tx.where()}: {parts}. "
    elif matching:
        detail = "matching transactions: " + ", ".join(tx.where() for tx in matching)
    ledger.fact(where, what, expected, len(matching), ok=False, detail=detail.strip())


def suricata_key_exclusions(msgs, match):
    """Keys of a filter that assert a value known to come from a Suricata
    parser error rather than from the bytes: key -> exclusion."""
    found = {}
    if "mqtt.disconnect.reason_code" in match:
        if any(m.type == DISCONNECT and m.int("mqttlens.version", generated=True) == 5
               and m.int("mqttlens.length") == 1 for m in msgs):
            found["mqtt.disconnect.reason_code"] = "suricata/disconnect-reason-remaining-length-1"
    return found


def alert_label(match):
    keys = {k: v for k, v in match.items() if k.startswith("alert.")}
    return ", ".join(f"{k}={v!r}" for k, v in keys.items()) or "(any rule)"


def check_suricata_test(ledger, test_dir):
    spec = yaml.safe_load((test_dir / "test.yaml").read_text())
    capture = suricata_capture(test_dir, spec)
    name = test_dir.name
    checks = spec.get("checks") or []
    if capture is None or not capture.exists():
        ledger.missing(f"suricata-verify/{name}", "capture", "a capture to read",
                       f"no capture for {spec.get('pcap')!r}")
        return
    msgs = decode(capture)
    experts = field_types()
    # Alerts on distinct Suricata frames (frame.id) of the same kind and
    # length are distinct PDUs: each such check asks for all of them.
    frame_ids = {}
    for check in checks:
        m = (check.get("filter") or {}).get("match") or {}
        if "frame.length" in m and "frame.id" in m:
            key = (m.get("frame.type"), m["frame.length"], m.get("pcap_cnt"))
            frame_ids.setdefault(key, set()).add(m["frame.id"])
    for n, check in enumerate(checks, 1):
        where = f"suricata-verify/{name} check {n} ({capture.parent.name}/{capture.name})"
        if "filter" not in check:
            ledger.missing(where, f"check of kind {sorted(check)}", "a translation",
                           "this oracle reads filter checks only")
            continue
        filt = check["filter"]
        unknown_filter_keys = set(filt) - {"count", "match", "min-version"}
        if unknown_filter_keys:
            ledger.missing(where, f"filter keys {sorted(unknown_filter_keys)}", "a translation", "not understood")
            continue
        count = filt["count"]
        match = dict(filt.get("match") or {})
        event_type = match.get("event_type")
        mqtt_keys = {k: v for k, v in match.items()
                     if k.startswith("mqtt.") or (k in ("has-key", "not-has-key") and str(v).startswith("mqtt."))}
        rest = {k: v for k, v in match.items() if k not in mqtt_keys and k not in SURICATA_INTERNAL_KEYS}
        is_alert = event_type == "alert" or any(k.startswith("alert.") for k in match)

        if event_type is None and set(rest) == {"dest_port"}:
            ledger.skip(where, f"{count} EVE records with dest_port={rest['dest_port']}", "suricata/dest_port")
        elif event_type == "anomaly":
            event = match.get("anomaly.event")
            extra = set(match) - {"event_type", "anomaly.event"}
            if extra:
                ledger.missing(where, f"anomaly keys {sorted(extra)}", "a translation", "not understood")
            elif event in SURICATA_ANOMALY_EXPERT:
                expert = SURICATA_ANOMALY_EXPERT[event]
                what = f"anomaly events {event} (= MQTT packets with expert item {expert})"
                if expert not in experts:
                    ledger.missing(where, what, count, f"mqttlens has no field {expert}")
                else:
                    hits = [m for m in msgs if expert in m.experts]
                    ledger.fact(where, what + (" (" + ", ".join(m.where() for m in hits) + ")" if hits else ""),
                                count, len(hits))
            else:
                ledger.skip(where, f"{count} anomaly event(s) {event}", f"suricata/anomaly/{event}")
        elif is_alert:
            frame_keys = {k: v for k, v in rest.items() if k.startswith("frame.")}
            leftover = set(rest) - set(frame_keys)
            if leftover:
                ledger.missing(where, f"alert keys {sorted(leftover)}", "a translation", "not understood")
            elif "frame.length" in frame_keys and count > 0:
                part = frame_keys.get("frame.type")
                length = frame_keys["frame.length"]
                frame = match.get("pcap_cnt")
                pool = [m for m in msgs if frame is None or m.frame <= frame]
                hits = [m for m in pool if m.part_length(part) == length]
                place = f"up to frame {frame}" if frame is not None else "in the capture"
                need = max(count, len(frame_ids.get((part, length, frame), ())))
                what = (f"MQTT packets {place} whose {part} (Suricata frame type) is {length} bytes "
                        f"[{', '.join(f'{m.where()}: {m.part_length(part)}' for m in pool)}]")
                ledger.fact(where, what, f">= {need}", len(hits), ok=len(hits) >= need)
            elif frame_keys and count > 0:
                ledger.skip(where, f"{count} alert(s) on Suricata frames {frame_keys}", "suricata/frame-without-length")
            elif mqtt_keys and count > 0:
                # The record of an alert carries the transaction's MQTT
                # metadata: those keys are MQTT facts.  The alert itself is
                # Suricata's; at least `count` transactions must match.
                suricata_mqtt_fact(ledger, where, msgs, mqtt_keys, count, at_least=True)
                ledger.skip(where, f"{count} alert(s) {alert_label(match)}", "suricata/alert")
            else:
                ledger.skip(where, f"{count} alert(s) {alert_label(match)}", "suricata/alert")
        elif event_type == "mqtt" or (event_type is None and mqtt_keys and not rest):
            if rest:
                ledger.missing(where, f"keys {sorted(rest)}", "a translation", "not understood")
            else:
                for key, exclusion in suricata_key_exclusions(msgs, mqtt_keys).items():
                    ledger.skip(where, f"{key}={mqtt_keys.pop(key)!r}", exclusion)
                suricata_mqtt_fact(ledger, where, msgs, mqtt_keys, count)
        else:
            ledger.missing(where, f"filter {match}", "a translation", "no translation for this kind of record")


# ---------------------------------------------------------------------------
# Zeek logs

def zeek_unescape(text):
    out = bytearray()
    i = 0
    while i < len(text):
        if text.startswith("\\x", i) and re.fullmatch(r"[0-9a-fA-F]{2}", text[i + 2:i + 4] or ""):
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        elif text.startswith("\\\\", i):
            out.append(0x5C)
            i += 2
        else:
            out += text[i].encode("utf-8")
            i += 1
    return bytes(out)


def read_zeek_log(path):
    meta = {"separator": "\t", "set_separator": ",", "empty_field": "(empty)", "unset_field": "-"}
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#separator "):
            meta["separator"] = zeek_unescape(line.split(" ", 1)[1]).decode()
        elif line.startswith("#"):
            parts = line[1:].split(meta["separator"])
            if parts[0] in ("fields", "types"):
                meta[parts[0]] = parts[1:]
            elif len(parts) == 2:
                meta[parts[0]] = parts[1]
        elif line.strip():
            rows.append(dict(zip(meta["fields"], line.split(meta["separator"]))))
    types = dict(zip(meta["fields"], meta["types"]))

    def value(column, raw):
        kind = types[column]
        if raw == meta["unset_field"]:
            return None
        if kind.startswith(("vector", "set")):
            if raw == meta["empty_field"]:
                return []
            items = raw.split(meta["set_separator"])
            if "count" in kind:
                return [int(x) for x in items]
            return [zeek_unescape(x).decode("utf-8", "replace") for x in items]
        if kind == "bool":
            return raw == "T"
        if kind in ("count", "int", "port"):
            return int(raw)
        if raw == meta["empty_field"]:
            return ""
        return raw

    return [{c: value(c, raw) for c, raw in row.items()} for row in rows]


def zeek_status(m, conn):
    """Zeek's publish status: "ok" once the QoS handshake is complete."""
    qos = m.header()[0]
    if qos == 0:
        return "ok"
    pid = m.int("mqttlens.id")
    later = conn[conn.index(m) + 1:]
    seen = {x.type for x in later if x.int("mqttlens.id") == pid}
    if qos == 1 and PUBACK in seen:
        return "ok"
    if qos == 2 and {PUBREC, PUBREL, PUBCOMP} <= seen:
        return "ok"
    return "incomplete_qos"


def zeek_reply(m, conn, types):
    """The first response of one of `types` with m's packet identifier."""
    pid = m.int("mqttlens.id")
    for x in conn[conn.index(m) + 1:]:
        if x.type in types and x.int("mqttlens.id") == pid:
            return x
    return None


def check_zeek(ledger, folder):
    captures = sorted(folder.glob("*.pcap")) + sorted(folder.glob("*.pcapng"))
    assert len(captures) == 1, f"expected one capture in {folder}, found {captures}"
    capture = captures[0]
    msgs = decode(capture)
    logs = sorted(folder.glob("mqtt_*.log"))
    assert logs, f"no mqtt_*.log in {folder}"
    for log in logs:
        rows = read_zeek_log(log)
        kind = log.stem
        groups = {}
        for n, row in enumerate(rows, 1):
            orig = (row["id.orig_h"], row["id.orig_p"])
            resp = (row["id.resp_h"], row["id.resp_p"])
            if kind == "mqtt_connect":
                key = (orig, resp, "CONNACK")
            elif kind == "mqtt_publish":
                key = (orig, resp, "from client" if row["from_client"] else "from server")
            elif kind == "mqtt_subscribe":
                key = (orig, resp, row["action"])
            else:
                key = (orig, resp, kind)
            groups.setdefault(key, []).append((n, row))
        for (orig, resp, label), group in groups.items():
            conn = connection(msgs, orig, resp)
            cwhere = f"zeek/{folder.name}/{log.name} connection {orig[0]}:{orig[1]} -> {resp[0]}:{resp[1]}"
            if kind == "mqtt_connect":
                packets = [m for m in conn if m.type == CONNACK]
                noun = "CONNACK packets (one row per CONNACK)"
            elif kind == "mqtt_publish":
                sender = orig if label == "from client" else resp
                packets = [m for m in conn if m.type == PUBLISH and m.src == sender]
                noun = f"PUBLISH packets {label}"
            elif kind == "mqtt_subscribe" and label in ZEEK_ACTIONS:
                packets = [m for m in conn if m.type == ZEEK_ACTIONS[label]]
                noun = f"{TYPE_NAMES[ZEEK_ACTIONS[label]]} packets"
            else:
                ledger.missing(cwhere, f"rows of {label}", len(group), "no translation")
                continue
            ledger.fact(cwhere, f"number of {noun}", len(group), len(packets))
            for (n, row), m in zip(group, packets):
                where = f"{cwhere} row {n} <-> {m!r}"
                for column, expected in row.items():
                    if column in ZEEK_LOCATOR_COLUMNS:
                        continue  # locate the connection; not MQTT facts
                    check_zeek_column(ledger, where, kind, column, expected, m, conn)


def check_zeek_column(ledger, where, kind, column, expected, m, conn):
    if kind == "mqtt_connect":
        connect = [x for x in conn[:conn.index(m)] if x.type == CONNECT]
        c = connect[-1] if connect else None
        if column == "connect_status":
            code = m.int("mqttlens.reason_code")
            ledger.fact(where, "connect_status (CONNACK return code)", expected,
                        ZEEK_RETURN_CODES.get(code, f"unknown-return-code-{code}"))
            return
        if c is None:
            ledger.missing(where, column, expected, "no CONNECT before this CONNACK")
            return
        where = where + f" / {c!r}"
        if column == "proto_name":
            ledger.fact(where, column, expected, c.first("mqttlens.protocol_name"))
        elif column == "proto_version":
            v = c.int("mqttlens.version")
            ledger.fact(where, column, expected, ZEEK_VERSIONS.get(v, f"unknown-version-{v}"))
        elif column == "client_id":
            ledger.fact(where, column, expected, c.first("mqttlens.clientid"))
        elif column == "will_topic":
            ledger.fact(where, column, expected, c.first("mqttlens.will.topic"))
        elif column == "will_payload":
            payload = c.bytes("mqttlens.will.payload")
            ledger.fact(where, column, None if expected is None else zeek_unescape(expected), payload)
        else:
            ledger.missing(where, column, expected, "no translation for this column")
    elif kind == "mqtt_publish":
        if column == "from_client":
            return  # used to group rows with the PUBLISH packets of that side
        if column == "retain":
            ledger.fact(where, column, expected, m.flag("mqttlens.retain"))
        elif column == "qos":
            q = m.int("mqttlens.qos")
            ledger.fact(where, column, expected, ZEEK_QOS.get(q, f"unknown-qos-level-{q}"))
        elif column == "status":
            ledger.fact(where, "status (QoS handshake complete)", expected, zeek_status(m, conn))
        elif column == "topic":
            ledger.fact(where, column, expected, m.first("mqttlens.topic"))
        elif column == "payload":
            zeek = zeek_unescape(expected or "")
            shown = m.bytes("mqttlens.payload") or b""
            ok = shown[:len(zeek)] == zeek
            ledger.fact(where, "payload (Zeek keeps a prefix)", zeek, shown[:max(len(zeek), 1) + 20], ok=ok)
        elif column == "payload_len":
            ledger.fact(where, column, expected, len(m.bytes("mqttlens.payload") or b""))
        else:
            ledger.missing(where, column, expected, "no translation for this column")
    elif kind == "mqtt_subscribe":
        if column == "action":
            return  # used to group rows with the packets of that type
        if column == "topics":
            ledger.fact(where, column, expected, m.vals("mqttlens.filter"))
        elif column == "qos_levels":
            shown = [to_int(v) for v in m.vals("mqttlens.sub.qos")] if m.type == SUBSCRIBE else None
            ledger.fact(where, column, expected, shown)
        elif column == "granted_qos_level":
            ack = zeek_reply(m, conn, (SUBACK,))
            codes = ack.vals("mqttlens.reason_code") if ack else []
            ledger.fact(where, "granted_qos_level (first SUBACK return code)", expected,
                        to_int(codes[0]) if codes else None)
        elif column == "ack":
            ack = zeek_reply(m, conn, (SUBACK,) if m.type == SUBSCRIBE else (UNSUBACK,))
            ledger.fact(where, "ack (acknowledged by the server)", expected, ack is not None)
        else:
            ledger.missing(where, column, expected, "no translation for this column")
    else:
        ledger.missing(where, column, expected, f"no translation for {kind}")


# ---------------------------------------------------------------------------
# Arkime sessions

def arkime_view(msgs):
    """What Arkime's MQTT parser would record for these packets, read from
    mqttlens fields (capture/parsers/mqtt.c)."""
    view = {k: set() for k in ARKIME_MQTT_KEYS}
    view["user"] = set()
    for m in msgs:
        if m.type is None:
            continue
        view["type"].add(TYPE_NAMES[m.type] if m.type < len(TYPE_NAMES) else str(m.type))
        if m.type == CONNECT:
            v = m.int("mqttlens.version")
            view["version"].add(ARKIME_VERSIONS.get(v, "unknown"))
            will = m.flag("mqttlens.connect_flags.will")
            if will:
                view["flags"].add("hasWill")
                wq = m.int("mqttlens.connect_flags.will_qos")
                if wq is not None and wq <= 2:
                    view["qos"].add(str(wq))
                if m.flag("mqttlens.connect_flags.will_retain"):
                    view["flags"].add("willRetain")
                if m.first("mqttlens.will.topic"):
                    view["willTopic"].add(m.first("mqttlens.will.topic"))
            if m.flag("mqttlens.connect_flags.clean_session"):
                view["flags"].add("cleanSession")
            if m.flag("mqttlens.connect_flags.password"):
                view["flags"].add("hasPassword")
            if m.first("mqttlens.clientid"):
                view["clientId"].add(m.first("mqttlens.clientid"))
            if m.first("mqttlens.username"):
                view["user"].add(m.first("mqttlens.username").lower())
        elif m.type == CONNACK:
            if m.has("mqttlens.reason_code"):
                view["connackCode"].add(str(m.int("mqttlens.reason_code")))
        elif m.type == PUBLISH:
            q = m.int("mqttlens.qos")
            if q is not None and q <= 2:
                view["qos"].add(str(q))
            if m.first("mqttlens.topic"):
                view["topic"].add(m.first("mqttlens.topic"))
        elif m.type in (SUBSCRIBE, UNSUBSCRIBE):
            view["topic"].update(f for f in m.vals("mqttlens.filter") if f)
    return view


def check_arkime(ledger, folder):
    tests = sorted(folder.glob("*.test"))
    assert tests, f"no .test in {folder}"
    for test in tests:
        capture = test.with_suffix(".pcap")
        msgs = decode(capture)
        doc = json.loads(test.read_text())
        for session in doc.get("sessions3", []):
            body = session["body"]
            src = (body["source"]["ip"], int(body["source"]["port"]))
            dst = (body["destination"]["ip"], int(body["destination"]["port"]))
            label = f"{src[0]}:{src[1]}"
            where = f"arkime/{folder.name}/{test.name} session {src[0]}:{src[1]} -> {dst[0]}:{dst[1]}"
            conn = connection(msgs, src, dst)
            protocols = body.get("protocol", [])
            if "mqtt" not in protocols:
                continue  # Arkime asserts nothing about MQTT here
            ledger.fact(where, "protocol mqtt (MQTT packets decoded in the session)", True, bool(conn))
            view = arkime_view(conn)
            asserted = body.get("mqtt", {})
            for key in sorted(asserted):
                if key.endswith("Cnt") and key[:-3] in asserted:
                    assert asserted[key] == len(asserted[key[:-3]]), f"{where}: inconsistent {key}"
                elif key not in ARKIME_MQTT_KEYS:
                    ledger.missing(where, f"mqtt.{key}", asserted[key], "no translation for this Arkime field")
            for key in ARKIME_MQTT_KEYS + ("user",):
                source = body if key == "user" else asserted
                expected = {str(v) for v in source.get(key, [])}
                what = (f"mqtt.{key} (set over the session)" if key != "user"
                        else "user (CONNECT user names, lower-cased)")
                exclusion = f"arkime/{folder.name}/{label}/{key}"
                if exclusion in EXCLUSIONS and ARKIME_GAVE_UP in body.get("tags", []):
                    ledger.skip(where, f"{what}: Arkime {show(expected)}, mqttlens {show(view[key])}", exclusion)
                    continue
                ledger.fact(where, what, expected, view[key])


# ---------------------------------------------------------------------------
# nDPI flow summary

def _endpoint(text, port):
    return (text.strip("[]"), int(port))


def check_ndpi(ledger, folder):
    outs = sorted(folder.glob("*.out"))
    assert outs, f"no ndpiReader output in {folder}"
    for out in outs:
        capture = folder / out.name[:-len(".out")]
        msgs = decode(capture)
        where0 = f"ndpi/{folder.name}/{out.name}"
        flows = 0
        for line in out.read_text().splitlines():
            summary = re.match(r"^\s*MQTT\s+(\d+)\s+(\d+)\s+(\d+)\s*$", line)
            if summary:
                packets, octets, nflows = (int(x) for x in summary.groups())
                streams = {m.stream for m in msgs}
                ledger.fact(where0, "number of flows carrying MQTT (TCP connections with MQTT packets)",
                            nflows, len(streams))
                ledger.skip(where0, f"MQTT traffic totals: {packets} packets, {octets} bytes", "ndpi/packet-counts")
                continue
            flow = re.match(r"^\s*(\d+)\s+(TCP|UDP)\s+(\S+):(\d+)\s+(<->|->)\s+(\S+):(\d+)\s+(.*)$", line)
            if not flow:
                continue
            num, l4, a, ap, _, b, bp, rest = flow.groups()
            proto = re.search(r"\[proto: ([^\]]+)\]", rest)
            if not proto or "MQTT" not in proto.group(1).split("/")[-1].split("."):
                continue
            flows += 1
            a, b = _endpoint(a, ap), _endpoint(b, bp)
            where = f"{where0} flow {num} {a[0]}:{a[1]} {flow.group(5)} {b[0]}:{b[1]}"
            conn = connection(msgs, a, b) if l4 == "TCP" else []
            ledger.fact(where, f"flow is MQTT ({proto.group(1)}): MQTT packets decoded in it",
                        "at least one", len(conn), ok=bool(conn))
            counts = re.search(r"\[(\d+ pkts/\d+ bytes (?:<->|->) \d+ pkts/\d+ bytes)\]", rest)
            if counts:
                ledger.skip(where, f"packet counts [{counts.group(1)}]", "ndpi/packet-counts")
            text = re.search(r"\[PLAIN TEXT \(([^)]*)\)\]", rest)
            if text:
                ledger.skip(where, f"PLAIN TEXT ({text.group(1)})", "ndpi/plain-text")
        assert flows, f"{where0}: no MQTT flow found in the ndpiReader output"


# ---------------------------------------------------------------------------
# The tests

def _folders(peer):
    base = PEER / peer
    return sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []


@functools.lru_cache(maxsize=None)
def run_peer(peer):
    ledger = Ledger(peer)
    if peer == "suricata":
        for folder in _folders("suricata-verify"):
            if (folder / "test.yaml").exists():
                check_suricata_test(ledger, folder)
    elif peer == "zeek":
        for folder in _folders("zeek"):
            check_zeek(ledger, folder)
    elif peer == "arkime":
        for folder in _folders("arkime"):
            check_arkime(ledger, folder)
    elif peer == "ndpi":
        for folder in _folders("ndpi"):
            check_ndpi(ledger, folder)
    return ledger


PEERS = ("suricata", "zeek", "arkime", "ndpi")
PEER_FOLDERS = {"suricata": "suricata-verify", "zeek": "zeek", "arkime": "arkime", "ndpi": "ndpi"}


@pytest.mark.parametrize("peer", PEERS)
def test_peer(peer):
    if not (PEER / PEER_FOLDERS[peer]).is_dir():
        pytest.skip(f"{PEER_FOLDERS[peer]} is absent from ../shared/peer-captures")
    ledger = run_peer(peer)
    report = ledger.report()
    print(report)
    assert ledger.checked > 0, f"{peer}: no fact was checked\n{report}"
    assert not ledger.mismatches, "\n".join([ledger.summary()] + ledger.mismatches)


def test_summary():
    ledgers = [run_peer(p) for p in PEERS if (PEER / PEER_FOLDERS[p]).is_dir()]
    total = sum(x.checked for x in ledgers)
    per_peer = ", ".join(f"{x.peer} {x.checked}" for x in ledgers)
    mismatches = sum(len(x.mismatches) for x in ledgers)
    skipped = sum(len(x.skipped) for x in ledgers)
    line = f"peer oracle: {total} facts checked ({per_peer}), {mismatches} mismatches, {skipped} skipped"
    print(line)
    sys.stderr.write(line + "\n")
    assert total > 0, line
