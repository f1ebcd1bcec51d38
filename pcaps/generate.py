#!/usr/bin/env python3
"""mqttlens synthetic capture generator.

Writes small, deterministic libpcap files of hand-built MQTT 3.1 / 3.1.1 / 5.0
conversations over TCP (valid ones and deliberately invalid ones) into
pcaps/generated/, a machine-readable manifest (generated/manifest.json) of what
every capture contains and what an analyser must find in it, and the table
pcaps/README.md (its "## Generated captures" section).  Pure Python 3 standard library.

    python3 pcaps/generate.py              # regenerate everything (byte-identical)
    python3 pcaps/generate.py --check      # regenerate into a temp dir, compare, exit 1 on drift
    python3 pcaps/generate.py --tshark     # also compare with tshark's built-in MQTT dissector
    python3 pcaps/generate.py --large      # additionally write the 2 MB 4-byte-Remaining-Length capture

Layers (top to bottom):
  scenarios   @scenario(...) functions, a few lines each, grouped framing/ invalid/ tracking/
  Conn        one TCP connection: handshake, send MQTT packets (coalesced / split at any
              byte offset), FIN teardown, strict-peer reactions (refuse, abort)
  M           MQTT encoder for one protocol level: every packet type of 3.1, 3.1.1, 5.0,
              with overrides for the first byte, Remaining Length encoding, property block
  primitives  VBI (minimal, padded, raw), UTF-8 strings (raw bytes allowed), binary, properties
  Capture     frames -> Ethernet/IPv4/TCP with correct checksums -> classic pcap
  tracker     derives links / unanswered / unsolicited / topic-alias resolution from the
              packets' metadata, so the manifest cannot contradict the bytes
  self-check  reads every pcap back, verifies checksums, TCP sequence continuity, re-frames
              the MQTT byte streams and compares them with the manifest
"""

import argparse
import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, 'generated')
DEFAULT_README = os.path.join(HERE, 'README.md')
README_SECTION = '## Generated captures'


def splice_readme(path, section):
    """Replace the generated section (from its heading to the end) of the
    README at `path`, keeping everything before it; a missing README gets
    just the section."""
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except FileNotFoundError:
        text = ''
    head = text.split(README_SECTION, 1)[0] if README_SECTION in text else text
    if head and not head.endswith('\n\n'):
        head = head.rstrip('\n') + '\n\n'
    return head + section


def readme_section(path):
    """The generated section of the README at `path` ('' if none)."""
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except FileNotFoundError:
        return ''
    return README_SECTION + text.split(README_SECTION, 1)[1] if README_SECTION in text else ''

BASE_TS_US = 1704067200 * 1000000      # 2024-01-01T00:00:00Z
STEP_US = 1000                         # 1 ms between consecutive frames
CLIENT_IP = bytes([10, 0, 0, 1])
BROKER_IP = bytes([10, 0, 0, 2])
BROKER_PORT = 1883
CLIENT_MAC = bytes.fromhex('020000000001')
BROKER_MAC = bytes.fromhex('020000000002')
MSS = 1460
WINDOW = 65535

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

E, W, N = 'error', 'warning', 'note'
VN = {3: 'v31', 4: 'v311', 5: 'v5'}

TYPE_NAMES = ['RESERVED', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL',
              'PUBCOMP', 'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ',
              'PINGRESP', 'DISCONNECT', 'AUTH']


def type_name(ptype, ver):
    if ptype == 15 and ver != 5:
        return 'RESERVED'
    return TYPE_NAMES[ptype]


# --------------------------------------------------------------------------------------
# primitives
# --------------------------------------------------------------------------------------

def u8(n):
    return bytes([n & 0xFF])


def u16(n):
    return struct.pack('>H', n & 0xFFFF)


def u32(n):
    return struct.pack('>I', n & 0xFFFFFFFF)


def vbi(n, width=None):
    """Variable Byte Integer.  width > minimal length pads with 0x80 continuation
    groups (non-minimal encoding, e.g. vbi(0, 2) == b'\\x80\\x00')."""
    groups = []
    while True:
        groups.append(n & 0x7F)
        n >>= 7
        if not n:
            break
    if width is not None:
        while len(groups) < width:
            groups.append(0)
    out = bytearray()
    for i, g in enumerate(groups):
        out.append(g | (0x80 if i < len(groups) - 1 else 0))
    return bytes(out)


def as_bytes(s):
    return s if isinstance(s, (bytes, bytearray)) else s.encode('utf-8')


def utf8(s):
    """UTF-8 Encoded String; pass bytes to put raw (possibly invalid) data on the wire."""
    b = as_bytes(s)
    return u16(len(b)) + b


def binary(b):
    b = as_bytes(b)
    return u16(len(b)) + b


def text(s):
    """Manifest representation of a string field (invalid UTF-8 -> U+FFFD, like Wireshark)."""
    if isinstance(s, (bytes, bytearray)):
        return bytes(s).decode('utf-8', 'replace')
    return s


def valid_utf8(s):
    if not isinstance(s, (bytes, bytearray)):
        return True
    try:
        bytes(s).decode('utf-8')
        return True
    except UnicodeDecodeError:
        return False


# MQTT 5.0 property identifiers
PFI, MSG_EXPIRY, CONTENT_TYPE, RESPONSE_TOPIC, CORRELATION = 0x01, 0x02, 0x03, 0x08, 0x09
SUB_ID, SESSION_EXPIRY, ASSIGNED_CID, SERVER_KA = 0x0B, 0x11, 0x12, 0x13
AUTH_METHOD, AUTH_DATA, REQ_PROBLEM, WILL_DELAY, REQ_RESPONSE = 0x15, 0x16, 0x17, 0x18, 0x19
RESPONSE_INFO, SERVER_REF, REASON_STRING = 0x1A, 0x1C, 0x1F
RECEIVE_MAX, TOPIC_ALIAS_MAX, TOPIC_ALIAS, MAX_QOS, RETAIN_AVAIL = 0x21, 0x22, 0x23, 0x24, 0x25
USER_PROP, MAX_PACKET, WILDCARD_AVAIL, SUBID_AVAIL, SHARED_AVAIL = 0x26, 0x27, 0x28, 0x29, 0x2A

PROP_TYPE = {}
for _pid in (PFI, REQ_PROBLEM, REQ_RESPONSE, MAX_QOS, RETAIN_AVAIL, WILDCARD_AVAIL, SUBID_AVAIL,
             SHARED_AVAIL):
    PROP_TYPE[_pid] = 'byte'
for _pid in (SERVER_KA, RECEIVE_MAX, TOPIC_ALIAS_MAX, TOPIC_ALIAS):
    PROP_TYPE[_pid] = 'u16'
for _pid in (MSG_EXPIRY, SESSION_EXPIRY, WILL_DELAY, MAX_PACKET):
    PROP_TYPE[_pid] = 'u32'
for _pid in (CONTENT_TYPE, RESPONSE_TOPIC, ASSIGNED_CID, AUTH_METHOD, RESPONSE_INFO, SERVER_REF,
             REASON_STRING):
    PROP_TYPE[_pid] = 'utf8'
PROP_TYPE[CORRELATION] = 'bin'
PROP_TYPE[AUTH_DATA] = 'bin'
PROP_TYPE[SUB_ID] = 'vbi'
PROP_TYPE[USER_PROP] = 'pair'


class Raw:
    """Raw bytes: as a property value (no type encoding), as a whole property item
    (identifier + value exactly as given), or as a property block."""

    def __init__(self, b):
        self.b = bytes(b)


def prop_value(pid, v):
    if isinstance(v, Raw):
        return v.b
    t = PROP_TYPE[pid]
    if t == 'byte':
        return u8(v)
    if t == 'u16':
        return u16(v)
    if t == 'u32':
        return u32(v)
    if t == 'vbi':
        return vbi(v)
    if t == 'utf8':
        return utf8(v)
    if t == 'bin':
        return binary(v)
    return utf8(v[0]) + utf8(v[1])          # pair


def props_block(items, plen=None):
    """Property Length + properties.  items: (id, value) tuples (any id, duplicates allowed)
    or Raw items.  plen: int (claimed length) or bytes (raw Property Length encoding)."""
    body = b''
    for it in items:
        if isinstance(it, Raw):
            body += it.b
        else:
            body += vbi(it[0]) + prop_value(it[0], it[1])
    if isinstance(plen, (bytes, bytearray)):
        return bytes(plen) + body
    return vbi(len(body) if plen is None else plen) + body


def find_prop(items, pid):
    for it in items or ():
        if not isinstance(it, Raw) and it[0] == pid:
            return it[1]
    return None


# --------------------------------------------------------------------------------------
# MQTT packets
# --------------------------------------------------------------------------------------

class Pkt:
    """One MQTT packet: wire bytes + metadata for the manifest + expectations."""

    def __init__(self, raw, meta):
        self.raw = bytes(raw)
        self.meta = meta
        self.viol = []
        self.vat = None          # byte offset in the packet where the violation becomes evident
        self.breaks = False      # framing is lost after this packet's evident byte
        self.incomplete = False  # the packet never completes (its RL claims more than is sent)
        self.focused = False

    def bad(self, ids, rule, severity, version=None):
        if isinstance(ids, str):
            ids = [x.strip() for x in ids.split(',') if x.strip()]
        self.viol.append({'ids': list(ids), 'rule': rule, 'severity': severity,
                          'version': version})
        return self

    def at(self, offset):
        self.vat = offset
        return self

    def focus(self):
        self.focused = True
        return self


class M:
    """MQTT encoder for one protocol level (3 = 3.1, 4 = 3.1.1, 5 = 5.0).

    Every builder accepts these overrides (keyword arguments):
      first=     first byte of the fixed header (type/flags)
      rl=        raw Remaining Length bytes (e.g. b'\\x80\\x80\\x80\\x80\\x01')
      rl_width=  encode the true Remaining Length with this many bytes (non-minimal)
      tail=      extra bytes appended to the packet body (counted in RL)
      plen=      claimed Property Length (int) or raw Property Length bytes
      praw=      raw bytes replacing the whole property block (length included)
    """

    def __init__(self, ver):
        self.ver = ver

    @property
    def v5(self):
        return self.ver == 5

    def _props(self, props, fx):
        plen, praw = fx.pop('plen', None), fx.pop('praw', None)
        if not self.v5:
            return b''
        if praw is not None:
            return bytes(praw)
        return props_block(props or (), plen)

    def _fin(self, ptype, flags, body, meta, first=None, rl=None, rl_width=None, tail=b''):
        body = body + tail
        b0 = (ptype << 4 | flags) if first is None else first
        rlb = bytes(rl) if rl is not None else vbi(len(body), rl_width)
        m = {'type': type_name(b0 >> 4, self.ver)}
        if b0 >> 4 == 3:
            m['qos'] = (b0 >> 1) & 3
            if b0 & 8:
                m['dup'] = True
            if b0 & 1:
                m['retain'] = True
        elif self.ver == 3 and b0 >> 4 in (6, 8, 10) and b0 & 8:
            m['dup'] = True              # MQTT 3.1 generic DUP flag on a retransmission
        for key, val in meta.items():
            if val is not None:
                m[key] = val
        if m['type'] == 'PUBLISH' and m['qos'] not in (1, 2):
            m.pop('id', None)
        return Pkt(bytes([b0]) + rlb + body, m)

    # CONNECT ----------------------------------------------------------------------------
    def connect(self, client_id='lens01', keepalive=60, clean=True, username=None,
                password=None, will=None, props=(), flags=None, name=None, level=None,
                payload=None, **fx):
        if name is None:
            name = 'MQIsdp' if self.ver == 3 else 'MQTT'
        if level is None:
            level = self.ver
        f = 0x02 if clean else 0
        if will is not None:
            f |= 0x04 | ((will.get('qos', 0) & 3) << 3) | (0x20 if will.get('retain') else 0)
        if username is not None:
            f |= 0x80
        if password is not None:
            f |= 0x40
        if flags is not None:
            f = flags
        vh = utf8(name) + u8(level) + u8(f) + u16(keepalive) + self._props(props, fx)
        if payload is None:
            payload = utf8(client_id)
            if will is not None:
                if self.v5:
                    payload += props_block(will.get('props', ()))
                payload += utf8(will['topic']) + binary(will.get('message', b''))
            if username is not None:
                payload += utf8(username)
            if password is not None:
                payload += binary(password)
        info = {'client_id': text(client_id)}
        if f & 0x80:
            info['user_name_flag'] = True
        return self._fin(1, 0, vh + payload, info, **fx)

    def connack(self, rc=0, sp=0, props=(), flags=None, **fx):
        fl = (sp & 1) if flags is None else flags
        body = u8(fl) + u8(rc) + self._props(props, fx)
        meta = {'reason': rc}
        if fl & 1:
            meta['session_present'] = 1
        return self._fin(2, 0, body, meta, **fx)

    # PUBLISH ----------------------------------------------------------------------------
    def publish(self, topic, payload=b'', qos=0, id=None, dup=0, retain=0, props=(), **fx):
        flags = (8 if dup else 0) | ((qos & 3) << 1) | (1 if retain else 0)
        vh = utf8(topic) + (u16(id) if id is not None else b'') + self._props(props, fx)
        meta = {'id': id, 'topic': text(topic)}
        if self.v5:
            meta['alias'] = find_prop(props, TOPIC_ALIAS)
            if isinstance(meta['alias'], Raw):
                meta['alias'] = None
        return self._fin(3, flags, vh + as_bytes(payload), meta, **fx)

    def _ack(self, ptype, flags, id, rc, props, fx):
        body = u16(id)
        if self.v5:
            if props is not None:
                body += u8(rc or 0) + self._props(props, fx)
            elif rc is not None:
                body += u8(rc)
        else:
            fx.pop('plen', None)
            fx.pop('praw', None)
        meta = {'id': id}
        if self.v5:
            meta['reason'] = rc or 0
        return self._fin(ptype, flags, body, meta, **fx)

    def puback(self, id, rc=None, props=None, **fx):
        return self._ack(4, 0, id, rc, props, fx)

    def pubrec(self, id, rc=None, props=None, **fx):
        return self._ack(5, 0, id, rc, props, fx)

    def pubrel(self, id, rc=None, props=None, **fx):
        return self._ack(6, 2, id, rc, props, fx)

    def pubcomp(self, id, rc=None, props=None, **fx):
        return self._ack(7, 0, id, rc, props, fx)

    # SUBSCRIBE / UNSUBSCRIBE --------------------------------------------------------------
    def subscribe(self, id, *filters, props=(), **fx):
        """filters: (filter, options byte) pairs; the filter may be raw bytes."""
        body = u16(id) + self._props(props, fx)
        for flt, opts in filters:
            body += utf8(flt) + u8(opts)
        return self._fin(8, 2, body, {'id': id, 'filters': [text(f) for f, _ in filters]}, **fx)

    def suback(self, id, *codes, props=(), **fx):
        body = u16(id) + self._props(props, fx) + bytes(codes)
        return self._fin(9, 0, body, {'id': id, 'reasons': list(codes)}, **fx)

    def unsubscribe(self, id, *filters, props=(), **fx):
        body = u16(id) + self._props(props, fx) + b''.join(utf8(f) for f in filters)
        return self._fin(10, 2, body, {'id': id, 'filters': [text(f) for f in filters]}, **fx)

    def unsuback(self, id, *codes, props=(), **fx):
        if self.v5:
            body = u16(id) + self._props(props, fx) + bytes(codes)
            meta = {'id': id, 'reasons': list(codes)}
        else:
            body = u16(id)
            meta = {'id': id}
        return self._fin(11, 0, body, meta, **fx)

    # PING / DISCONNECT / AUTH ------------------------------------------------------------
    def pingreq(self, **fx):
        return self._fin(12, 0, b'', {}, **fx)

    def pingresp(self, **fx):
        return self._fin(13, 0, b'', {}, **fx)

    def _rc_props(self, ptype, rc, props, fx):
        body = b''
        if self.v5:
            if props is not None:
                body = u8(rc or 0) + self._props(props, fx)
            elif rc is not None:
                body = u8(rc)
        meta = {'reason': (rc or 0)} if self.v5 else {}
        return self._fin(ptype, 0, body, meta, **fx)

    def disconnect(self, rc=None, props=None, **fx):
        return self._rc_props(14, rc, props, fx)

    def auth(self, rc=None, props=None, **fx):
        return self._rc_props(15, rc, props, fx)

    def raw(self, data, **meta):
        """Escape hatch: any bytes.  meta gives the manifest fields (type defaults to the
        first byte's packet type)."""
        data = bytes(data)
        m = {'type': type_name(data[0] >> 4, self.ver)}
        m.update({k: v for k, v in meta.items() if v is not None})
        return Pkt(data, m)


# --------------------------------------------------------------------------------------
# TCP connections and captures
# --------------------------------------------------------------------------------------

def other(d):
    return 's2c' if d == 'c2s' else 'c2s'


class Frame:
    def __init__(self, ts, conn, d, flags, seq, ack, payload):
        self.ts, self.conn, self.dir, self.flags = ts, conn, d, flags
        self.seq, self.ack, self.payload = seq, ack, payload
        self.ends = []        # packets listed in this frame (ending here, or framing error)
        self.viols = []       # packets whose violation becomes evident in this frame
        self.unframed = False
        self.incomplete = False
        self.focus = False
        self.no = 0


class Conn:
    """One TCP connection client 10.0.0.1:<port> <-> broker 10.0.0.2:1883.

    c(*pkts, cuts=(), hold=0) / s(...) queue packets in one direction and send them:
    all queued bytes go out in one segment unless `cuts` (offsets relative to the first
    unsent byte) split them; `hold` keeps the last n bytes queued for a later flush.
    Segments longer than the MSS are split further.  No pure ACK segments are written
    except the third handshake segment and the last teardown segment.
    """

    def __init__(self, cap, ver, port, isn_c, isn_s, index):
        self.m = M(ver)
        self.cap, self.ver, self.port, self.index = cap, ver, port, index
        self.nxt = {'c2s': isn_c, 's2c': isn_s}
        self.buf = {'c2s': bytearray(), 's2c': bytearray()}
        self.sent = {'c2s': 0, 's2c': 0}
        self.pend = {'c2s': [], 's2c': []}
        self.broken = {'c2s': None, 's2c': None}
        self.resumed = False     # tracker: session resumed (acks for earlier ids are normal)
        self.last_data_ts = {'c2s': None, 's2c': None}

    def __getattr__(self, name):
        # delegate packet builders (self.publish(...), ...) to the encoder
        if name == 'm':
            raise AttributeError(name)
        return getattr(self.m, name)

    # low level ---------------------------------------------------------------------------
    def emit(self, d, flags, payload=b''):
        return self.cap.emit(self, d, flags, payload)

    def handshake(self):
        self.emit('c2s', SYN)
        self.emit('s2c', SYN | ACK)
        self.emit('c2s', ACK)

    def put(self, d, *pkts):
        for p in pkts:
            start = len(self.buf[d])
            self.buf[d] += p.raw
            self.pend[d].append((p, start, start + len(p.raw)))
            if p.breaks and self.broken[d] is None:
                self.broken[d] = start + (p.vat if p.vat is not None else len(p.raw) - 1) + 1

    def flush(self, d, cuts=(), hold=0, ack_every=0):
        start, end = self.sent[d], len(self.buf[d]) - hold
        bounds = sorted(set([start, end] + [start + c for c in cuts if 0 < c < end - start]))
        nseg = 0
        for a, b in zip(bounds, bounds[1:]):
            x = a
            while x < b:
                y = min(b, x + MSS)
                self._segment(d, x, y)
                nseg += 1
                if ack_every and nseg % ack_every == 0:
                    self.emit(other(d), ACK)
                x = y

    def _segment(self, d, a, b):
        fr = self.emit(d, PSH | ACK, bytes(self.buf[d][a:b]))
        self.last_data_ts[d] = fr.ts
        self._account(fr, d, a, b)
        self.sent[d] = b

    def _account(self, fr, d, a, b):
        """Lists in frame `fr` the packets whose bytes [a, b) of the MQTT stream deliver."""
        brk = self.broken[d]
        keep = []
        for ent in self.pend[d]:
            p, ps, pe = ent
            listed_off = ps + (p.vat if (p.breaks and p.vat is not None) else len(p.raw) - 1)
            viol_off = ps + (p.vat if p.vat is not None else len(p.raw) - 1)
            unlisted = p.incomplete or (brk is not None and ps >= brk)
            if not unlisted and a <= listed_off < b:
                fr.ends.append(p)
                if p.focused:
                    fr.focus = True
            if p.focused and a <= ps < b:
                fr.focus = True               # README: also point at the packet's first segment
            if p.viol and a <= viol_off < b:
                fr.viols.append(p)
            if p.incomplete and ps < b and pe > a:
                fr.incomplete = True
            if pe > b or (p.viol and viol_off >= b):
                keep.append(ent)
        self.pend[d] = keep
        if brk is not None and b > brk:
            fr.unframed = True

    def send(self, d, *pkts, cuts=(), hold=0, ack_every=0):
        self.put(d, *pkts)
        self.flush(d, cuts, hold, ack_every)
        return pkts[0] if len(pkts) == 1 else pkts

    def c(self, *pkts, cuts=(), hold=0):
        return self.send('c2s', *pkts, cuts=cuts, hold=hold)

    def s(self, *pkts, cuts=(), hold=0):
        return self.send('s2c', *pkts, cuts=cuts, hold=hold)

    def fin(self, d):
        assert self.sent[d] == len(self.buf[d]), 'unsent data before FIN'
        self.emit(d, FIN | ACK)

    def ack(self, d):
        self.emit(d, ACK)

    def close(self, first='c'):
        a = 'c2s' if first == 'c' else 's2c'
        self.fin(a)
        self.fin(other(a))
        self.ack(a)

    def wait(self, seconds):
        self.cap.wait(seconds)

    def wait_client(self, seconds):
        """Set the clock to `seconds` after the last client data segment."""
        self.cap.t = self.last_data_ts['c2s'] + int(round(seconds * 1e6))

    # conversation helpers -------------------------------------------------------------------
    def open(self, ack=None, **connect_kw):
        """CONNECT (kwargs) then CONNACK (dict `ack`); returns (connect, connack)."""
        a = self.c(self.connect(**connect_kw))
        b = self.s(self.connack(**(ack or {})))
        return a, b

    def bye(self, rc=None, props=None):
        """Client DISCONNECT, then TCP teardown initiated by the client."""
        self.c(self.disconnect(rc, props))
        self.close('c')

    def srv_abort(self, rc):
        """Server reacts to a client violation: 5.0 DISCONNECT rc + close; 3.x close."""
        if self.ver == 5:
            self.s(self.disconnect(rc))
        self.close('s')

    def cli_abort(self, rc):
        """Client reacts to a server violation: DISCONNECT (5.0 with rc) + close."""
        self.c(self.disconnect(rc if self.ver == 5 else None))
        self.close('c')

    def refuse(self, rc5, rc3=None):
        """Server refuses a bad CONNECT: 5.0 CONNACK rc5 then close; 3.x close without
        CONNACK ([MQTT-3.1.4-1]) unless rc3 is given."""
        if self.ver == 5:
            self.s(self.connack(rc=rc5))
        elif rc3 is not None:
            self.s(self.connack(rc=rc3))
        self.close('s')


# --------------------------------------------------------------------------------------
# MQTT over WebSocket (RFC 6455)
# --------------------------------------------------------------------------------------

WS_GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
WS_OPCODES = {'cont': 0, 'text': 1, 'msg': 2, 'first': 2, 'first-text': 1, 'last': 0, 'close': 8, 'ping': 9, 'pong': 10}
WS_ENDS_MESSAGE = ('msg', 'text', 'last')


def ws_frame(opcode, payload, fin=True, mask=None):
    """One WebSocket frame; `mask` is the 4-byte masking key or None."""
    n = len(payload)
    first = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        hdr = first + bytes([bit | n])
    elif n < 65536:
        hdr = first + bytes([bit | 126]) + u16(n)
    else:
        hdr = first + bytes([bit | 127]) + struct.pack('>Q', n)
    if not mask:
        return hdr + payload
    return hdr + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


class WsConn(Conn):
    """One MQTT-over-WebSocket connection: TCP handshake, HTTP upgrade, then every TCP data
    segment carries WebSocket frames whose data payloads are the MQTT bytes of the segment.

    ws(d, *pkts, cuts=(), layouts=()) sends like send(); each segment's frames follow the next
    entry of `layouts` (default one binary message): a list of (kind, n) items taking n MQTT
    bytes in order (None: the rest) -- 'msg' a whole binary message, 'text' a whole text
    message, 'first'/'cont'/'last' the fragments of one message ('first-text': of a text
    message) -- or (control, payload) with
    control 'ping', 'pong', 'close'.  A packet is listed in the frame where the WebSocket
    message holding its last byte completes (that is when a receiver gets its bytes).
    Client frames are masked; server frames too with mask_server=True.
    """

    def __init__(self, cap, ver, port, isn_c, isn_s, index, subprotocol='mqtt', offer='mqtt',
                 mask_server=False):
        super().__init__(cap, ver, port, isn_c, isn_s, index)
        self.subprotocol, self.offer, self.mask_server = subprotocol, offer, mask_server
        self.layouts = {'c2s': [], 's2c': []}
        self.delivered = {'c2s': 0, 's2c': 0}
        self.masks = 0

    def upgrade(self):
        """The HTTP/1.1 upgrade to WebSocket (RFC 6455 §4)."""
        key = base64.b64encode(struct.pack('>IIII', *(zlib.crc32(b'%s/key%d/%d' % (
            self.cap.name.encode(), self.index, i)) for i in range(4))))
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        req = ('GET /mqtt HTTP/1.1\r\nHost: 10.0.0.2:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
               'Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n' % (self.cap.sc['port'], key.decode()))
        if self.offer:
            req += 'Sec-WebSocket-Protocol: %s\r\n' % self.offer
        resp = ('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                'Sec-WebSocket-Accept: %s\r\n' % accept.decode())
        if self.subprotocol:
            resp += 'Sec-WebSocket-Protocol: %s\r\n' % self.subprotocol
        self.emit('c2s', PSH | ACK, (req + '\r\n').encode())
        self.emit('s2c', PSH | ACK, (resp + '\r\n').encode())

    def key(self, d):
        if d == 's2c' and not self.mask_server:
            return None
        self.masks += 1
        return u32(zlib.crc32(b'%s/mask%d/%d' % (self.cap.name.encode(), self.index, self.masks)))

    def ws(self, d, *pkts, cuts=(), layouts=()):
        self.layouts[d] = list(layouts)
        self.send(d, *pkts, cuts=cuts)
        assert not self.layouts[d], 'more layouts than segments'
        return pkts[0] if len(pkts) == 1 else pkts

    def control(self, d, kind, payload=b''):
        """A segment holding one control frame only."""
        self.emit(d, PSH | ACK, ws_frame(WS_OPCODES[kind], payload, True, self.key(d)))

    def _segment(self, d, a, b):
        layout = self.layouts[d].pop(0) if self.layouts[d] else [('msg', None)]
        data = bytes(self.buf[d][a:b])
        wire, pos, end = bytearray(), 0, None
        for kind, arg in layout:
            if kind in ('ping', 'pong', 'close'):
                wire += ws_frame(WS_OPCODES[kind], arg, True, self.key(d))
                continue
            n = len(data) - pos if arg is None else arg
            wire += ws_frame(WS_OPCODES[kind], data[pos:pos + n], kind in WS_ENDS_MESSAGE, self.key(d))
            pos += n
            if kind in WS_ENDS_MESSAGE:
                end = a + pos
        assert pos == len(data), 'layout does not cover the segment'
        fr = self.emit(d, PSH | ACK, bytes(wire))
        self.last_data_ts[d] = fr.ts
        lo = self.delivered[d]
        hi = end if end is not None else lo
        self._account(fr, d, lo, hi)
        self.delivered[d] = hi
        self.sent[d] = b

    def fin(self, d):
        assert self.delivered[d] == len(self.buf[d]), 'a WebSocket message is still open'
        super().fin(d)

    def bye(self, rc=None, props=None):
        """DISCONNECT, the WebSocket closing handshake (1000), then the TCP teardown."""
        self.c(self.disconnect(rc, props))
        self.control('c2s', 'close', u16(1000))
        self.control('s2c', 'close', u16(1000))
        self.close('c')


class Capture:
    def __init__(self, sc):
        self.sc = sc
        self.name = sc['path']
        self.frames = []
        self.conns = []
        self.t = BASE_TS_US
        self.journeys = []   # (delivery Pkt or 'missed', origin Pkt / [Pkt] / None, kind, to)
        self.resends = []    # (DUP copy Pkt, original Pkt on an earlier connection of its session)

    def wait(self, seconds):
        self.t += int(round(seconds * 1e6))

    def conn(self, ver=None, handshake=True):
        ver = ver if ver is not None else self.sc['version']
        idx = len(self.conns)
        h = zlib.crc32(self.name.encode())
        port = 49152 + (h % 12000) + idx
        isn_c = zlib.crc32(('%s/c%d' % (self.name, idx)).encode())
        isn_s = zlib.crc32(('%s/s%d' % (self.name, idx)).encode())
        if self.sc['ws'] is not None:
            k = WsConn(self, ver, port, isn_c, isn_s, idx, **self.sc['ws'])
        else:
            k = Conn(self, ver, port, isn_c, isn_s, idx)
        self.conns.append(k)
        if handshake:
            k.handshake()
            if self.sc['ws'] is not None:
                k.upgrade()
        return k

    def emit(self, conn, d, flags, payload=b''):
        seq = conn.nxt[d]
        ack = conn.nxt[other(d)] if flags & ACK else 0
        fr = Frame(self.t, conn, d, flags, seq, ack, payload)
        self.frames.append(fr)
        fr.no = len(self.frames)
        self.t += STEP_US
        conn.nxt[d] = (seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        return fr

    # pcap writer -----------------------------------------------------------------------------
    def pcap_bytes(self):
        snap = 262144
        out = bytearray(struct.pack('<IHHiIII', 0xA1B2C3D4, 2, 4, 0, 0, snap, 1))
        ipid = {'c2s': 0x1000, 's2c': 0x5000}
        for fr in self.frames:
            k = fr.conn
            if fr.dir == 'c2s':
                smac, dmac, sip, dip = CLIENT_MAC, BROKER_MAC, CLIENT_IP, BROKER_IP
                sport, dport = k.port, self.sc['port']
            else:
                smac, dmac, sip, dip = BROKER_MAC, CLIENT_MAC, BROKER_IP, CLIENT_IP
                sport, dport = self.sc['port'], k.port
            tcp = tcp_segment(sip, dip, sport, dport, fr.seq, fr.ack, fr.flags, fr.payload)
            ipid[fr.dir] = (ipid[fr.dir] + 1) & 0xFFFF
            ip = ipv4_header(sip, dip, len(tcp), ipid[fr.dir])
            pkt = dmac + smac + b'\x08\x00' + ip + tcp
            out += struct.pack('<IIII', fr.ts // 1000000, fr.ts % 1000000, len(pkt), len(pkt))
            out += pkt
        return bytes(out)


def csum16(data):
    if len(data) % 2:
        data += b'\x00'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4_header(src, dst, payload_len, ident):
    hdr = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + payload_len, ident, 0x4000, 64, 6, 0,
                      src, dst)
    return hdr[:10] + struct.pack('!H', csum16(hdr)) + hdr[12:]


def tcp_segment(src, dst, sport, dport, seq, ack, flags, payload):
    hdr = struct.pack('!HHIIBBHHH', sport, dport, seq, ack, 0x50, flags, WINDOW, 0, 0)
    pseudo = src + dst + struct.pack('!BBH', 0, 6, len(hdr) + len(payload))
    c = csum16(pseudo + hdr + payload)
    return hdr[:16] + struct.pack('!H', c) + hdr[18:] + payload


# --------------------------------------------------------------------------------------
# tracker: links, unanswered, unsolicited, topic aliases
# --------------------------------------------------------------------------------------

def _ref(fr_no, idx, n):
    return (fr_no, idx, n)


def _with_index(entry, key, ref):
    if ref[2] > 1:
        entry[key] = ref[1]
    return entry


def track(seq, resumed):
    """seq: [(ref, dir, meta)] in capture order for one connection."""
    links, unanswered, unsolicited, topics = [], [], [], []
    pools = {'c2s': {}, 's2c': {}}     # owner direction -> id -> flow
    connects, pings = [], []
    auth_pending = None
    aliases = {'c2s': {}, 's2c': {}}

    def link(req, resp, kind, pid=None, retrans=False):
        e = {'request': req[0], 'response': resp[0], 'kind': kind}
        if pid is not None:
            e['id'] = pid
        if retrans:
            e['retransmission'] = True
        _with_index(e, 'request_index', req)
        _with_index(e, 'response_index', resp)
        links.append(e)

    def lone(lst, ref, d, t, pid=None):
        e = {'frame': ref[0], 'dir': d, 'type': t}
        if pid is not None:
            e['id'] = pid
        lst.append(_with_index(e, 'index', ref))

    def open_flow(d, pid, flow):
        old = pools[d].get(pid)
        if old is not None:
            flow_unanswered(d, pid, old)
        pools[d][pid] = flow

    def flow_unanswered(d, pid, f):
        if f['kind'] == 'PUB':
            st = f['state']
            if st in ('ack', 'rec'):
                lone(unanswered, f['refs'][0], d, 'PUBLISH', pid)
            elif st == 'rel':
                lone(unanswered, f['pubrec'], other(d), 'PUBREC', pid)
            elif st == 'comp':
                lone(unanswered, f['pubrel'], d, 'PUBREL', pid)
        else:
            lone(unanswered, f['ref'], d, f['kind'], pid)

    for ref, d, m in seq:
        t = m['type']
        pid = m.get('id')
        if t == 'CONNECT':
            connects.append(ref)
        elif t == 'CONNACK':
            if connects:
                link(connects.pop(0), ref, 'CONNECT-CONNACK')
            else:
                lone(unsolicited, ref, d, t)
            auth_pending = None
        elif t == 'PINGREQ':
            pings.append(ref)
        elif t == 'PINGRESP':
            if pings:
                link(pings.pop(0), ref, 'PINGREQ-PINGRESP')
            else:
                lone(unsolicited, ref, d, t)
        elif t in ('SUBSCRIBE', 'UNSUBSCRIBE'):
            f = pools[d].get(pid)
            if m.get('dup') and f is not None and f['kind'] == t:
                continue                      # MQTT 3.1 retransmission with DUP=1
            open_flow(d, pid, {'kind': t, 'ref': ref})
        elif t in ('SUBACK', 'UNSUBACK'):
            want = 'SUBSCRIBE' if t == 'SUBACK' else 'UNSUBSCRIBE'
            f = pools[other(d)].get(pid)
            if f is not None and f['kind'] == want:
                link(f['ref'], ref, want + '-' + t, pid)
                del pools[other(d)][pid]
            else:
                lone(unsolicited, ref, d, t, pid)
        elif t == 'PUBLISH':
            qos = m.get('qos')
            if m.get('alias') is not None:
                a = m['alias']
                e = {'frame': ref[0], 'dir': d, 'alias': a}
                if m.get('topic'):
                    aliases[d][a] = (m['topic'], ref[0])
                    e['topic'], e['alias_set_in'] = m['topic'], ref[0]
                else:
                    hit = aliases[d].get(a)
                    e['topic'] = hit[0] if hit else None
                    e['alias_set_in'] = hit[1] if hit else None
                topics.append(_with_index({'frame': e['frame'], 'topic': e['topic'],
                                           'alias': a, 'alias_set_in': e['alias_set_in'],
                                           'dir': d}, 'index', ref))
            if qos not in (1, 2) or pid is None:
                continue
            f = pools[d].get(pid)
            if m.get('dup') and f is not None and f['kind'] == 'PUB' and f['qos'] == qos:
                f['refs'].append(ref)         # retransmission of an open flow
                continue
            open_flow(d, pid, {'kind': 'PUB', 'qos': qos, 'state': 'ack' if qos == 1 else 'rec',
                               'refs': [ref]})
        elif t == 'PUBACK':
            f = pools[other(d)].get(pid)
            if f is not None and f['kind'] == 'PUB' and f['qos'] == 1:
                for i, r in enumerate(f['refs']):
                    link(r, ref, 'PUBLISH-PUBACK', pid, retrans=i > 0)
                del pools[other(d)][pid]
            else:
                lone(unsolicited, ref, d, t, pid)
        elif t == 'PUBREC':
            f = pools[other(d)].get(pid)
            if f is not None and f['kind'] == 'PUB' and f['qos'] == 2 and f['state'] == 'rec':
                for i, r in enumerate(f['refs']):
                    link(r, ref, 'PUBLISH-PUBREC', pid, retrans=i > 0)
                if m.get('reason', 0) >= 0x80:
                    # the flow ends; a PUBREL that still comes is its step, answered by PUBCOMP 0x92
                    f['state'], f['pubrec'] = 'failed', ref
                else:
                    f['state'], f['pubrec'] = 'rel', ref
            elif f is not None and f['kind'] == 'PUB' and f['state'] == 'rel':
                f['pubrec'] = ref             # repeated PUBREC answering a DUP PUBLISH
            else:
                lone(unsolicited, ref, d, t, pid)
        elif t == 'PUBREL':
            f = pools[d].get(pid)
            if f is not None and f['kind'] == 'PUB' and f.get('state') in ('rel', 'failed'):
                link(f['pubrec'], ref, 'PUBREC-PUBREL', pid)
                f['state'], f['pubrel'] = 'comp', ref
            elif f is not None and f['kind'] == 'PUB' and f.get('state') == 'comp':
                continue                      # re-sent PUBREL
            else:
                if not resumed:
                    lone(unsolicited, ref, d, t, pid)
                pools[d][pid] = {'kind': 'PUB', 'qos': 2, 'state': 'comp', 'pubrel': ref,
                                 'refs': []}
        elif t == 'PUBCOMP':
            f = pools[other(d)].get(pid)
            if f is not None and f['kind'] == 'PUB' and f.get('state') == 'comp':
                link(f['pubrel'], ref, 'PUBREL-PUBCOMP', pid)
                del pools[other(d)][pid]
            else:
                lone(unsolicited, ref, d, t, pid)
        elif t == 'AUTH':
            if auth_pending is not None and auth_pending[1] != d:
                link(auth_pending[0], ref, 'AUTH-AUTH')
                auth_pending = None
            if m.get('reason', 0) in (0x18, 0x19):   # Continue / Re-authenticate expect a reply
                auth_pending = (ref, d)
    for r in connects:
        lone(unanswered, r, 'c2s', 'CONNECT')
    for r in pings:
        lone(unanswered, r, 'c2s', 'PINGREQ')
    for d in ('c2s', 's2c'):
        for pid, f in pools[d].items():
            flow_unanswered(d, pid, f)
    if auth_pending is not None:
        lone(unanswered, auth_pending[0], auth_pending[1], 'AUTH')
    key = lambda e: (e['frame'], e.get('index', 0))
    unanswered.sort(key=key)
    unsolicited.sort(key=key)
    links.sort(key=lambda e: (e['response'], e.get('response_index', 0), e['request']))
    return links, unanswered, unsolicited, topics


# --------------------------------------------------------------------------------------
# scenario registry
# --------------------------------------------------------------------------------------

SCENARIOS = []


def scenario(path, version, summary, notes='', raw=False, large=False, port=BROKER_PORT, ws=None):
    """Register a capture.  The function gets a ready Conn (handshake done, protocol level
    `version`) or, with raw=True, the Capture (to open connections itself).  `port` is the
    broker's; `ws` (a dict of WsConn options) makes every connection MQTT over WebSocket."""
    def deco(fn):
        assert all(s['path'] != path for s in SCENARIOS), path
        SCENARIOS.append({'path': path, 'version': version, 'summary': summary,
                          'notes': notes, 'fn': fn, 'raw': raw, 'large': large, 'port': port,
                          'ws': ws})
        return fn
    return deco


def build(sc):
    cap = Capture(sc)
    if sc['raw']:
        sc['fn'](cap)
    else:
        sc['fn'](cap.conn())
    for k in cap.conns:
        for d in ('c2s', 's2c'):
            assert k.sent[d] == len(k.buf[d]), '%s: unsent bytes' % sc['path']
    return cap


PKT_KEYS = ('type', 'id', 'qos', 'dup', 'retain', 'topic', 'alias', 'reason', 'reasons',
            'session_present', 'client_id', 'user_name_flag', 'filters', 'framing_error')


def manifest_entry(sc, cap):
    multi = len(cap.conns) > 1
    frames, violations = [], []
    seqs = {k.index: [] for k in cap.conns}
    focus = []
    for fr in cap.frames:
        if fr.payload:
            pk = []
            for p in fr.ends:
                pk.append({key: p.meta[key] for key in PKT_KEYS if key in p.meta})
            e = {'frame': fr.no, 'dir': fr.dir}
            if multi:
                e['stream'] = fr.conn.index
            e['packets'] = pk
            if fr.unframed:
                e['unframed'] = True
            if fr.incomplete:
                e['incomplete'] = True
            frames.append(e)
            n = len(fr.ends)
            for i, p in enumerate(fr.ends):
                seqs[fr.conn.index].append((_ref(fr.no, i, n), fr.dir, p.meta))
            if fr.focus or len(fr.ends) > 1:
                focus.append(fr.no)
        for p in fr.viols:
            for v in p.viol:
                e = {'frame': fr.no, 'dir': fr.dir, 'ids': v['ids'],
                     'version': v['version'] if v['version'] is not None else fr.conn.ver,
                     'rule': v['rule'], 'severity': v['severity']}
                if p in fr.ends and len(fr.ends) > 1:
                    e['index'] = fr.ends.index(p)
                violations.append(e)
    links, unanswered, unsolicited, topics = [], [], [], []
    for k in cap.conns:
        a, b, c, d = track(seqs[k.index], k.resumed)
        links += a
        unanswered += b
        unsolicited += c
        topics += d
    links.sort(key=lambda e: (e['response'], e.get('response_index', 0), e['request']))
    entry = {'summary': sc['summary'], 'version': sc['version'], 'frames': frames,
             'violations': violations, 'links': links, 'unanswered': unanswered,
             'unsolicited': unsolicited, 'topics': topics, 'notes': sc['notes']}
    if multi:
        entry['streams'] = [{'stream': k.index, 'client_port': k.port, 'version': k.ver}
                            for k in cap.conns]
    if cap.journeys:
        entry['journeys'] = journey_entries(cap)
    if cap.resends:
        where = {id(p): fr.no for fr in cap.frames for p in fr.ends}
        entry['resends'] = sorted(({'frame': where[id(d)], 'original': where[id(o)]} for d, o in cap.resends),
                                  key=lambda e: e['frame'])
    return entry, focus


def journey_entries(cap):
    """The journeys a capture was built with, by frame: each delivery with its origin
    ('ambiguous' with the candidates when several fit), each missed delivery."""
    where = {id(p): fr.no for fr in cap.frames for p in fr.ends}
    out = []
    for delivery, origin, kind, to in cap.journeys:
        if delivery == 'missed':
            out.append({'origin': where[id(origin)], 'delivery': 'missed', 'to': to})
        elif kind == 'ambiguous':
            out.append({'delivery': where[id(delivery)], 'to': to, 'origin': 'ambiguous',
                        'candidates': sorted(where[id(o)] for o in origin)})
        else:
            out.append({'delivery': where[id(delivery)], 'to': to, 'origin': where[id(origin)], 'kind': kind})
    return sorted(out, key=lambda e: (e['delivery'] if e['delivery'] != 'missed' else 1 << 30,
                                      e['origin'] if isinstance(e['origin'], int) else 0))


# ======================================================================================
# scenarios
# ======================================================================================
#
# Peer policy for invalid captures ("strict peer"): the party that RECEIVES the violating
# packet reacts the way the specification prescribes, so that the capture contains one
# violation only: a 5.0 server answers a client violation with DISCONNECT <reason> and
# closes (a bad CONNECT with CONNACK >= 0x80 and close), a 3.1.1 server just closes
# (without CONNACK for a bad CONNECT, [MQTT-3.1.4-1]); a 5.0 client answers a server
# violation with DISCONNECT <reason>, a 3.1.1 client with DISCONNECT and close.  Heuristic
# (H) and SHOULD-level findings are answered normally.

def pl(n, tag=b''):
    """Deterministic printable payload of n bytes."""
    base = b'mqttlens-synthetic-payload-0123456789-'
    out = (tag + base * (n // len(base) + 2))[:n]
    return out


S_DOWN = ('lens/down/#', 1)       # a subscription used for S->C traffic


# ---------------------------------------------------------------------- framing (valid)

for _v in (5, 4):
    @scenario('generated/framing/%s-publish-three-segments.pcap' % VN[_v], _v,
              'One PUBLISH per direction spread over three TCP segments (C->S split after the '
              'first fixed-header byte and inside the payload; S->C split after the RL).')
    def _(k):
        k.open()
        k.c(k.subscribe(1, S_DOWN))
        k.s(k.suback(1, 1))
        k.c(k.publish('lens/up/big', pl(300), qos=1, id=2).focus(), cuts=[1, 150])
        k.s(k.puback(2))
        k.s(k.publish('lens/down/big', pl(280), qos=1, id=1).focus(), cuts=[3, 120])
        k.c(k.puback(1))
        k.bye()

    @scenario('generated/framing/%s-coalesced-packets.pcap' % VN[_v], _v,
              'Several MQTT packets of different types in single TCP segments, both directions '
              '(CONNECT+PUBLISH, PUBLISH+PUBLISH+SUBSCRIBE+PINGREQ, PUBACK+SUBACK+PINGRESP+'
              'PUBLISH, PUBACK+DISCONNECT).')
    def _(k):
        k.c(k.connect(), k.publish('lens/up/first', b'early'))
        k.s(k.connack())
        k.c(k.publish('lens/up/a', b'zero'), k.publish('lens/up/b', b'one', qos=1, id=1),
            k.subscribe(2, S_DOWN), k.pingreq())
        k.s(k.puback(1), k.suback(2, 1), k.pingresp(),
            k.publish('lens/down/x', b'hello', qos=1, id=1))
        k.c(k.puback(1), k.disconnect())
        k.close('c')

    for _n, _size in ((2, 200), (3, 16500)):
        @scenario('generated/framing/%s-rl-split-%dbyte.pcap' % (VN[_v], _n), _v,
                  'A PUBLISH with a %d-byte Remaining Length split across two TCP segments '
                  'right after the first RL byte (C->S) and after the %s RL byte (S->C).'
                  % (_n, 'first' if _n == 2 else 'second'),
                  notes='The first segment of each split packet carries only the fixed-header '
                        'byte and %s Remaining Length byte(s).' % ('one' if _n == 2 else '1 or 2'))
        def _(k, size=_size, n=_n):
            k.open()
            k.c(k.subscribe(1, S_DOWN))
            k.s(k.suback(1, 1))
            p = k.publish('lens/up/rl', pl(size), qos=1, id=2).focus()
            assert all(b >= 0x80 for b in p.raw[1:n]) and p.raw[n] < 0x80   # n-byte RL
            k.c(p, cuts=[2])
            k.s(k.puback(2))
            q = k.publish('lens/down/rl', pl(size - 20), qos=1, id=1).focus()
            k.s(q, cuts=[2 if n == 2 else 3])
            k.c(k.puback(1))
            k.bye()

    @scenario('generated/framing/%s-mixed-segment.pcap' % VN[_v], _v,
              'A segment carrying the end of one packet, two whole packets and the start of the '
              'next packet, in both directions.')
    def _(k):
        k.open()
        k.c(k.subscribe(1, S_DOWN))
        k.s(k.suback(1, 1))
        p1 = k.publish('lens/up/m1', pl(60), qos=1, id=2)
        p2 = k.publish('lens/up/m2', pl(10))
        p3 = k.pingreq()
        p4 = k.publish('lens/up/m4', pl(40), qos=1, id=3)
        k.c(p1, p2, p3, p4, cuts=[len(p1.raw) - 7, len(p1.raw) + len(p2.raw) + len(p3.raw) + 5])
        q1 = k.publish('lens/down/m1', pl(50), qos=1, id=1)
        q2 = k.puback(2)
        q3 = k.pingresp()
        q4 = k.puback(3)
        k.s(q1, q2, q3, q4, cuts=[11, len(q1.raw) + len(q2.raw) + len(q3.raw) + 2])
        k.c(k.puback(1))
        k.bye()


@scenario('generated/framing/v5-rl-split-4byte-large.pcap', 5,
          'A 2 MB PUBLISH whose 4-byte Remaining Length is split after its first byte.',
          notes='Only written with --large (2.1 MB, over the folder budget). The server sends a '
                'pure ACK after every 32 client segments so that the window never fills.',
          large=True)
def _(k):
    k.open()
    p = k.publish('lens/up/huge', pl(2097200), qos=1, id=1).focus()
    k.put('c2s', p)
    k.flush('c2s', cuts=[2], ack_every=32)
    k.s(k.puback(1))
    k.bye()


# ---------------------------------------------------------------------- framing (invalid)

for _v, _id in ((5, '5.0 §1.5.5'), (4, '3.1.1 §2.2.3')):
    @scenario('generated/framing/%s-rl-5-bytes.pcap' % VN[_v], _v,
              'Mid-stream C->S PUBLISH whose Remaining Length has the continuation bit set on its '
              '4th byte (5-byte VBI); the client byte stream cannot be framed after it.',
              notes='Everything the client sends after the bad Remaining Length (the rest of that '
                    'packet and a PINGREQ in the next segment) cannot be framed: those frames are '
                    'marked "unframed" and list no packets. The server direction stays valid: '
                    'it delivers a PUBLISH and then %s.' %
                    ('sends DISCONNECT 0x81 and closes' if _v == 5 else 'closes'))
    def _(k, rid=_id):
        k.open()
        k.c(k.subscribe(1, S_DOWN))
        k.s(k.suback(1, 1))
        k.c(k.publish('lens/up/ok', b'fine'))
        bad = k.raw(b'\x30\x80\x80\x80\x80\x01' + utf8('lens/up/x') + b'abc', framing_error=True)
        bad.breaks = True
        bad.at(4).bad(rid, 'Remaining Length needs a 5th byte (continuation bit set on the 4th '
                           'byte); a VBI has at most 4 bytes', E)
        k.c(bad)
        k.s(k.publish('lens/down/still-valid', b'server side is fine'))
        k.c(k.pingreq())
        k.srv_abort(0x81)

    @scenario('generated/framing/%s-rl-max-truncated.pcap' % VN[_v], _v,
              'C->S PUBLISH claiming Remaining Length 268,435,455 followed by 18 bytes and the '
              "client's FIN: the packet never completes.",
              notes='The truncated PUBLISH is listed in no frame\'s "packets"; its frame is marked '
                    '"incomplete". The violation id is the Remaining Length section (no statement '
                    'id covers a packet cut short by the end of the connection).')
    def _(k, rid=('5.0 §2.1.4' if _v == 5 else '3.1.1 §2.2.3')):
        k.open()
        k.c(k.publish('lens/up/ok', b'fine', qos=1, id=1))
        k.s(k.puback(1))
        t = k.raw(b'\x30\xff\xff\xff\x7f' + utf8('lens/up/t') + b'partial')
        t.incomplete = True
        t.bad(rid, 'Packet truncated: Remaining Length 268,435,455 but the connection is closed '
                   'after 18 bytes of it', E)
        k.c(t)
        k.close('c')

_NM_RULE = 'Remaining Length not encoded in the minimum number of bytes'
for _v, _ids, _sev in ((5, 'MQTT-1.5.5-1', E), (4, '3.1.1 §2.2.3', W)):
    @scenario('generated/framing/%s-rl-non-minimal.pcap' % VN[_v], _v,
              'PINGREQ whose Remaining Length 0 is encoded as 80 00 (non-minimal).',
              notes='5.0: [MQTT-1.5.5-1] (MUST). 3.1.1 has no numbered rule: reported as a warning; '
                    'the 3.1.1 server answers normally.' )
    def _(k, ids=_ids, sev=_sev, v=_v):
        k.open()
        k.c(k.pingreq(rl_width=2).bad(ids, _NM_RULE + ' (80 00 for 0)', sev))
        if v == 5:
            k.srv_abort(0x81)
        else:
            k.s(k.pingresp())
            k.bye()

    @scenario('generated/framing/%s-rl-non-minimal-4byte-split.pcap' % VN[_v], _v,
              'PUBLISH whose Remaining Length (value < 128) is padded to 4 bytes, split across two '
              'segments after the first RL byte.',
              notes='Also serves as the "split inside a 4-byte Remaining Length" framing case at a '
                    'small size; the genuine 2 MB case is written only with --large.')
    def _(k, ids=_ids, sev=_sev, v=_v):
        k.open()
        p = k.publish('lens/up/nm', b'padded', qos=1, id=1, rl_width=4)
        k.c(p.bad(ids, _NM_RULE + ' (4 bytes for a value below 128)', sev), cuts=[2])
        if v == 5:
            k.srv_abort(0x81)
        else:
            k.s(k.puback(1))
            k.bye()


# ---------------------------------------------------------------------- invalid: helpers

def inv(name, v, summary, notes=''):
    return scenario('generated/invalid/%s-%s.pcap' % (VN[v], name), v, summary, notes)


SCRAM = 'SCRAM-SHA-1'
AD_CLIENT1 = b'n,,n=lens,r=lensClientNonce01'
AD_SERVER1 = b'r=lensClientNonce01lensServerNonce01,s=c2FsdHNhbHQ=,i=4096'
AD_CLIENT2 = b'c=biws,r=lensClientNonce01lensServerNonce01,p=cHJvb2Zwcm9vZnByb29mcHJvb2Y='
AD_SERVER2 = b'v=dmVyaWZpZXJ2ZXJpZmllcnZlcmk='


def am(method=SCRAM, data=None):
    """Authentication Method (+ Data) property list."""
    return [(AUTH_METHOD, method)] + ([(AUTH_DATA, data)] if data is not None else [])


def auth_open(k, method=SCRAM):
    """5.0 CONNECT with enhanced authentication, one challenge round, CONNACK success."""
    k.c(k.connect(props=am(method, AD_CLIENT1)))
    k.s(k.auth(0x18, am(method, AD_SERVER1)))
    k.c(k.auth(0x18, am(method, AD_CLIENT2)))
    k.s(k.connack(props=am(method, AD_SERVER2)))


def sub_down(k, pid=1, qos=1, **kw):
    k.c(k.subscribe(pid, ('lens/down/#', qos), **kw))
    k.s(k.suback(pid, qos))


def gen_flags_id(v):
    return 'MQTT-2.1.3-1' if v == 5 else 'MQTT-2.2.2-1'


def utf_id(v, nul=False):
    if v == 5:
        return 'MQTT-1.5.4-2' if nul else 'MQTT-1.5.4-1'
    return 'MQTT-1.5.3-2' if nul else 'MQTT-1.5.3-1'


# ---------------------------------------------------------------------- invalid: fixed header

for _v in (5, 4):
    @inv('reserved-flags-subscribe', _v, 'SUBSCRIBE with fixed-header flags 0000 instead of 0010.')
    def _(k, v=_v):
        k.open()
        k.c(k.subscribe(1, ('lens/down/#', 1), first=0x80).bad(
            'MQTT-3.8.1-1, ' + gen_flags_id(v), 'SUBSCRIBE fixed-header flags must be 0010', E))
        k.srv_abort(0x81)

    @inv('reserved-flags-unsubscribe', _v, 'UNSUBSCRIBE with fixed-header flags 0000 instead of 0010.')
    def _(k, v=_v):
        k.open()
        sub_down(k)
        k.c(k.unsubscribe(2, 'lens/down/#', first=0xA0).bad(
            'MQTT-3.10.1-1, ' + gen_flags_id(v), 'UNSUBSCRIBE fixed-header flags must be 0010', E))
        k.srv_abort(0x81)

    @inv('reserved-flags-pubrel', _v, 'PUBREL with fixed-header flags 0000 instead of 0010.')
    def _(k, v=_v):
        k.open()
        k.c(k.publish('lens/up/q2', b'x', qos=2, id=1))
        k.s(k.pubrec(1))
        k.c(k.pubrel(1, first=0x60).bad('MQTT-3.6.1-1, ' + gen_flags_id(v),
                                         'PUBREL fixed-header flags must be 0010', E))
        k.srv_abort(0x81)

    @inv('reserved-flags-disconnect', _v, 'Client DISCONNECT with fixed-header flags 0001.')
    def _(k, v=_v):
        k.open()
        k.c(k.disconnect(first=0xE1).bad('MQTT-3.14.1-1, ' + gen_flags_id(v),
                                         'DISCONNECT fixed-header flags must be 0000', E))
        k.close('c')

    @inv('reserved-flags-pingreq', _v, 'PINGREQ with fixed-header flags 0001.')
    def _(k, v=_v):
        k.open()
        k.c(k.pingreq(first=0xC1).bad(gen_flags_id(v), 'PINGREQ fixed-header flags must be 0000', E))
        k.srv_abort(0x81)

    @inv('reserved-flags-connack', _v, 'Server CONNACK with fixed-header flags 0010 (first byte 0x22).')
    def _(k, v=_v):
        k.c(k.connect())
        k.s(k.connack(first=0x22).bad(gen_flags_id(v), 'CONNACK fixed-header flags must be 0000', E))
        k.cli_abort(0x81)

    @inv('qos3', _v, 'PUBLISH with QoS bits 11 (first byte 0x36).')
    def _(k):
        k.open()
        k.c(k.publish('lens/up/q3', b'qos three', qos=3, id=1).bad(
            'MQTT-3.3.1-4', 'PUBLISH QoS bits must not be 11', E))
        k.srv_abort(0x81)

    @inv('qos0-dup', _v, 'QoS 0 PUBLISH with DUP=1 (first byte 0x38).')
    def _(k):
        k.open()
        k.c(k.publish('lens/up/q0', b'dup on qos 0', dup=1).bad(
            'MQTT-3.3.1-2, MQTT-4.3.1-1', 'QoS 0 PUBLISH must have DUP=0', E))
        k.srv_abort(0x81)

    @inv('packet-type-0', _v, 'Client sends a packet of the forbidden type 0 (00 00).')
    def _(k, v=_v):
        k.open()
        k.c(k.raw(b'\x00\x00').bad('5.0 §2.1.2' if v == 5 else '3.1.1 §2.2.1',
                                   'Packet type 0 is reserved/forbidden', E))
        k.srv_abort(0x81)


@inv('packet-type-15', 4, 'Client sends type 15 (F0 00, AUTH in 5.0) on a 3.1.1 connection.')
def _(k):
    k.open()
    k.c(k.raw(b'\xf0\x00').bad('3.1.1 §2.2.1', 'Packet type 15 is reserved in MQTT 3.1.1', E))
    k.srv_abort(0x81)


@inv('reserved-flags-auth', 5, 'AUTH with fixed-header flags 0001 during enhanced authentication.')
def _(k):
    k.c(k.connect(props=am(SCRAM, AD_CLIENT1)))
    k.s(k.auth(0x18, am(SCRAM, AD_SERVER1)))
    k.c(k.auth(0x18, am(SCRAM, AD_CLIENT2), first=0xF1).bad(
        'MQTT-3.15.1-1, MQTT-2.1.3-1', 'AUTH fixed-header flags must be 0000', E))
    k.refuse(0x81)


@inv('subscribe-from-server', 5, 'Server sends a SUBSCRIBE (client-to-server only packet type).')
def _(k):
    k.open()
    k.s(k.subscribe(1, ('lens/x', 0)).bad('5.0 §2.1.2', 'SUBSCRIBE sent server-to-client', E))
    k.cli_abort(0x82)


@inv('pingresp-from-client', 4, 'Client sends a PINGRESP (server-to-client only packet type).')
def _(k):
    k.open()
    k.c(k.pingresp().bad('3.1.1 §2.2.1', 'PINGRESP sent client-to-server', E))
    k.srv_abort(0x81)


@inv('disconnect-from-server', 4, 'Server sends DISCONNECT, which 3.1.1 allows only client-to-server.')
def _(k):
    k.open()
    k.s(k.disconnect().bad('3.1.1 §2.2.1', 'DISCONNECT sent server-to-client on a 3.1.1 connection', E))
    k.close('c')


@inv('connack-from-client', 5, 'Client sends a CONNACK after the handshake (server-to-client only).')
def _(k):
    k.open()
    k.c(k.connack().bad('5.0 §2.1.2', 'CONNACK sent client-to-server', E))
    k.srv_abort(0x82)


# 3.1.1 fixed Remaining Lengths
@inv('connack-wrong-length', 4, 'CONNACK with Remaining Length 3 (3.1.1 requires 2).')
def _(k):
    k.c(k.connect())
    k.s(k.raw(b'\x20\x03\x00\x00\x00', reason=0).bad('3.1.1 §3.2.1', 'CONNACK Remaining Length must be 2', E))
    k.cli_abort(None)


@inv('puback-wrong-length', 4, 'PUBACK with Remaining Length 3 (3.1.1 requires 2).')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'x', qos=1, id=1))
    k.s(k.raw(b'\x40\x03\x00\x01\x00', id=1).bad('3.1.1 §3.4', 'PUBACK Remaining Length must be 2', E))
    k.cli_abort(None)


@inv('pingreq-nonzero-length', 4, 'PINGREQ with Remaining Length 1 (3.1.1 requires 0).')
def _(k):
    k.open()
    k.c(k.pingreq(tail=b'\x00').bad('3.1.1 §3.12', 'PINGREQ Remaining Length must be 0', E))
    k.srv_abort(0x81)


@inv('unsuback-with-payload', 4, 'UNSUBACK carrying a 5.0-style reason code (Remaining Length 3).')
def _(k):
    k.open()
    sub_down(k)
    k.c(k.unsubscribe(2, 'lens/down/#'))
    k.s(k.raw(b'\xb0\x03\x00\x02\x00', id=2).bad('3.1.1 §3.11', 'UNSUBACK Remaining Length must be 2', E))
    k.cli_abort(None)


@inv('disconnect-nonzero-length', 4, 'DISCONNECT with Remaining Length 1 (3.1.1 requires 0).')
def _(k):
    k.open()
    k.c(k.disconnect(tail=b'\x00').bad('3.1.1 §3.14', 'DISCONNECT Remaining Length must be 0', E))
    k.close('c')


@inv('connack-no-property-length', 5, 'CONNACK that ends where the Property Length should be (RL 2).')
def _(k):
    k.c(k.connect())
    k.s(k.connack(praw=b'').bad('MQTT-2.2.2-1', 'Property Length missing (CONNACK ends after the reason code)', E))
    k.cli_abort(0x81)


@inv('publish-no-property-length', 5, 'QoS 0 PUBLISH that ends right after the Topic Name (no Property Length).')
def _(k):
    k.open()
    k.c(k.publish('lens/up/np', praw=b'').bad('MQTT-2.2.2-1', 'Property Length missing in PUBLISH', E))
    k.srv_abort(0x81)


# ---------------------------------------------------------------------- invalid: encoding

for _v in (5, 4):
    @inv('invalid-utf8-topic', _v, 'PUBLISH Topic Name with an ill-formed UTF-8 sequence (C3 28).')
    def _(k, v=_v):
        k.open()
        k.c(k.publish(b'lens/up/\xc3\x28', b'x').bad(utf_id(v) + ', MQTT-3.3.2-1',
                                                      'Topic Name is not well-formed UTF-8', E))
        k.srv_abort(0x81)

    @inv('nul-in-topic', _v, 'PUBLISH Topic Name containing U+0000.')
    def _(k, v=_v):
        k.open()
        k.c(k.publish(b'lens/up/a\x00b', b'x').bad(utf_id(v, True) + ', MQTT-4.7.3-2',
                                                   'Topic Name contains U+0000', E))
        k.srv_abort(0x81)

    @inv('nul-in-clientid', _v, 'CONNECT Client Identifier containing U+0000.')
    def _(k, v=_v):
        k.c(k.connect(client_id=b'lens\x0001').bad(utf_id(v, True), 'Client Identifier contains U+0000', E))
        k.refuse(0x81)

    @inv('invalid-utf8-clientid', _v, 'CONNECT Client Identifier with an invalid UTF-8 byte (FF).')
    def _(k, v=_v):
        k.c(k.connect(client_id=b'lens\xff01').bad(utf_id(v) + ', MQTT-3.1.3-4',
                                                  'Client Identifier is not well-formed UTF-8', E))
        k.refuse(0x81)

    @inv('surrogate-in-username', _v, 'CONNECT User Name containing an encoded surrogate (ED A0 80 = U+D800).')
    def _(k, v=_v):
        k.c(k.connect(username=b'user\xed\xa0\x80').bad(
            utf_id(v) + (', MQTT-3.1.3-12' if v == 5 else ', MQTT-3.1.3-11'),
            'User Name contains a UTF-16 surrogate code point', E))
        k.refuse(0x81)

    @inv('overlong-utf8-will-topic', _v, "CONNECT Will Topic with an overlong encoding of '/' (C0 AF).")
    def _(k, v=_v):
        k.c(k.connect(will={'topic': b'lens/will\xc0\xafx', 'message': b'gone'}).bad(
            utf_id(v) + (', MQTT-3.1.3-11' if v == 5 else ', MQTT-3.1.3-10'),
            'Will Topic is not well-formed UTF-8 (overlong form)', E))
        k.refuse(0x81)

    @inv('control-char-in-topic', _v, 'PUBLISH Topic Name containing the control character U+0001.',
         notes='SHOULD NOT only: the server accepts it and the conversation continues normally.')
    def _(k, v=_v):
        k.open()
        k.c(k.publish('lens/up/\x01bell', b'x', qos=1, id=1).bad(
            '5.0 §1.5.4' if v == 5 else '3.1.1 §1.5.3',
            'Topic Name contains a control character (U+0001)', N))
        k.s(k.puback(1))
        k.bye()

    @inv('subscribe-invalid-utf8-filter', _v, 'SUBSCRIBE Topic Filter with an invalid UTF-8 byte (FE).')
    def _(k, v=_v):
        k.open()
        k.c(k.subscribe(1, (b'lens/\xfe/#', 1)).bad('MQTT-3.8.3-1, ' + utf_id(v),
                                                    'Topic Filter is not well-formed UTF-8', E))
        k.srv_abort(0x81)

    @inv('unsubscribe-invalid-utf8-filter', _v, 'UNSUBSCRIBE Topic Filter with an invalid UTF-8 byte (FE).')
    def _(k, v=_v):
        k.open()
        sub_down(k)
        k.c(k.unsubscribe(2, b'lens/\xfe/#').bad('MQTT-3.10.3-1, ' + utf_id(v),
                                                 'Topic Filter is not well-formed UTF-8', E))
        k.srv_abort(0x81)


@inv('noncharacter-in-topic', 5, 'PUBLISH Topic Name containing the non-character U+FFFF.',
     notes='SHOULD NOT only: the server accepts it and the conversation continues normally.')
def _(k):
    k.open()
    k.c(k.publish('lens/up/\uffff', b'x', qos=1, id=1).bad(
        '5.0 §1.5.4', 'Topic Name contains a Unicode non-character (U+FFFF)', N))
    k.s(k.puback(1))
    k.bye()


@inv('nonminimal-property-length', 5, 'PUBLISH whose Property Length 0 is encoded as 80 00.')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'x', plen=b'\x80\x00').bad(
        'MQTT-1.5.5-1', 'Property Length VBI not minimally encoded', E))
    k.srv_abort(0x81)


@inv('property-length-5-bytes', 5, 'PUBLISH whose Property Length VBI has 5 bytes (80 80 80 80 01).')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'x', plen=b'\x80\x80\x80\x80\x01').bad(
        '5.0 §1.5.5', 'Property Length VBI longer than 4 bytes', E))
    k.srv_abort(0x81)


@inv('invalid-utf8-user-property', 5, 'PUBLISH User Property whose value is not valid UTF-8 (FE).')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'x', props=[(USER_PROP, ('key', b'\xfe'))]).bad(
        'MQTT-1.5.7-1, MQTT-1.5.4-1', 'User Property value is not well-formed UTF-8', E))
    k.srv_abort(0x81)


# ---------------------------------------------------------------------- invalid: CONNECT

for _v in (5, 4):
    @inv('packet-before-connect', _v, 'First client packet after the handshake is a PUBLISH, then CONNECT.')
    def _(k):
        k.c(k.publish('lens/up/early', b'too early').bad('MQTT-3.1.0-1', 'First client packet is not CONNECT', W))
        k.c(k.connect())
        k.close('s')

    @inv('second-connect', _v, 'Client sends a second CONNECT on an established connection.')
    def _(k):
        k.open()
        k.c(k.connect().bad('MQTT-3.1.0-2', 'Second CONNECT on the same connection', W))
        k.srv_abort(0x82)

    @inv('connect-reserved-flag', _v, 'CONNECT with the reserved Connect Flags bit 0 set (flags 0x03).')
    def _(k):
        k.c(k.connect(flags=0x03).bad('MQTT-3.1.2-3', 'Connect Flags reserved bit 0 must be 0', E))
        k.refuse(0x81)

    @inv('will-flag-without-will', _v, 'CONNECT with Will Flag 1 but the payload ends after the Client Identifier.')
    def _(k):
        k.c(k.connect(flags=0x06).bad('MQTT-3.1.2-9', 'Will Flag set but Will fields missing', E))
        k.refuse(0x81)

    @inv('will-qos-without-will', _v, 'CONNECT with Will QoS 1 while the Will Flag is 0 (flags 0x0A).')
    def _(k, v=_v):
        k.c(k.connect(flags=0x0A).bad('MQTT-3.1.2-11' if v == 5 else 'MQTT-3.1.2-11, MQTT-3.1.2-13',
                                      'Will QoS must be 0 when the Will Flag is 0', E))
        k.refuse(0x81)

    @inv('will-qos3', _v, 'CONNECT with Will QoS 3.')
    def _(k, v=_v):
        k.c(k.connect(will={'topic': 'lens/will', 'message': b'gone', 'qos': 3}).bad(
            'MQTT-3.1.2-12' if v == 5 else 'MQTT-3.1.2-14', 'Will QoS must not be 3', E))
        k.refuse(0x81)

    @inv('will-retain-without-will', _v, 'CONNECT with Will Retain 1 while the Will Flag is 0 (flags 0x22).')
    def _(k, v=_v):
        k.c(k.connect(flags=0x22).bad('MQTT-3.1.2-13' if v == 5 else 'MQTT-3.1.2-15',
                                      'Will Retain must be 0 when the Will Flag is 0', E))
        k.refuse(0x81)

    @inv('username-flag-without-username', _v, 'CONNECT with User Name Flag 1 but no User Name in the payload.')
    def _(k, v=_v):
        k.c(k.connect(flags=0x82).bad('MQTT-3.1.2-17' if v == 5 else 'MQTT-3.1.2-19',
                                      'User Name Flag set but User Name missing', E))
        k.refuse(0x81)

    @inv('username-without-flag', _v, 'CONNECT carrying a User Name while the User Name Flag is 0.')
    def _(k, v=_v):
        k.c(k.connect(username='lensuser', flags=0x02).bad(
            'MQTT-3.1.2-16' if v == 5 else 'MQTT-3.1.2-18', 'User Name present although its flag is 0', E))
        k.refuse(0x81)

    @inv('password-flag-without-password', _v, 'CONNECT with Password Flag 1 (and a User Name) but no Password field.')
    def _(k, v=_v):
        k.c(k.connect(username='lensuser', flags=0xC2).bad(
            'MQTT-3.1.2-19' if v == 5 else 'MQTT-3.1.2-21', 'Password Flag set but Password missing', E))
        k.refuse(0x81)

    @inv('password-without-flag', _v, 'CONNECT carrying a Password field while the Password Flag is 0.',
         notes='Contains a one-byte dummy password field (needed by the rule).')
    def _(k, v=_v):
        k.c(k.connect(username='lensuser', password=b'x', flags=0x82).bad(
            'MQTT-3.1.2-18' if v == 5 else 'MQTT-3.1.2-20', 'Password present although its flag is 0', E))
        k.refuse(0x81)

    @inv('no-client-id', _v, 'CONNECT whose payload is empty (no Client Identifier).')
    def _(k):
        k.c(k.connect(payload=b'').bad('MQTT-3.1.3-3', 'Client Identifier missing', E))
        k.refuse(0x81)

    @inv('will-topic-wildcard', _v, "CONNECT Will Topic containing '#'.")
    def _(k, v=_v):
        k.c(k.connect(will={'topic': 'lens/will/#', 'message': b'gone'}).bad(
            'MQTT-4.7.0-1' if v == 5 else 'MQTT-4.7.1-1', 'Will Topic contains a wildcard character', E))
        k.refuse(0x90)

    @inv('server-packet-before-connack', _v, 'Server sends a PUBLISH before its CONNACK.')
    def _(k, v=_v):
        # resumed session (CleanSession 0) so the early PUBLISH can match a stored subscription
        k.c(k.connect(clean=False, props=[(SESSION_EXPIRY, 300)] if v == 5 else ()))
        k.s(k.publish('lens/down/early', b'x').bad('MQTT-3.2.0-1', 'Server packet before CONNACK', W))
        k.s(k.connack(sp=1))
        k.cli_abort(0x82)

    @inv('connack-reserved-flags', _v, 'CONNACK Connect Acknowledge Flags with reserved bit 1 set (0x02).')
    def _(k, v=_v):
        k.c(k.connect())
        k.s(k.connack(flags=0x02).bad('MQTT-3.2.2-1' if v == 5 else '3.1.1 §3.2.2.1',
                                      'CONNACK flags bits 7-1 must be 0', E))
        k.cli_abort(0x81)

    @inv('session-present-with-clean-start', _v, 'CONNACK Session Present 1 answering a CONNECT with Clean Start/CleanSession 1.')
    def _(k, v=_v):
        k.c(k.connect(clean=True))
        k.s(k.connack(sp=1).bad('MQTT-3.2.2-2' if v == 5 else 'MQTT-3.2.2-1',
                                'Session Present must be 0 when the CONNECT had Clean Start 1', W))
        k.cli_abort(0x82)

    @inv('session-present-on-refusal', _v, 'Refusing CONNACK with Session Present 1.')
    def _(k, v=_v):
        k.c(k.connect(clean=False, props=[(SESSION_EXPIRY, 300)] if v == 5 else ()))
        k.s(k.connack(sp=1, rc=0x87 if v == 5 else 0x05).bad(
            'MQTT-3.2.2-6' if v == 5 else 'MQTT-3.2.2-4', 'Session Present must be 0 on a refusal', E))
        k.close('s')

    @inv('connack-refused-not-closed', _v, 'Server refuses the CONNECT, then still answers a pipelined PINGREQ.')
    def _(k, v=_v):
        k.c(k.connect(), k.pingreq())
        k.s(k.connack(rc=0x87 if v == 5 else 0x05))
        k.s(k.pingresp().bad('MQTT-3.1.4-6, MQTT-3.2.2-7, MQTT-4.13.2-1' if v == 5
                             else 'MQTT-3.1.4-5, MQTT-3.2.2-5',
                             'Server keeps processing/sending after a refusing CONNACK', W))
        k.close('s')


@inv('empty-clientid-clean-session-0', 4, 'Zero-length Client Identifier with CleanSession 0; server correctly answers CONNACK 0x02.')
def _(k):
    k.c(k.connect(client_id='', clean=False).bad('MQTT-3.1.3-7', 'Zero-length Client Identifier requires CleanSession 1', E))
    k.s(k.connack(rc=0x02))
    k.close('s')


@inv('empty-clientid-accepted', 4, 'Zero-length Client Identifier with CleanSession 0 accepted with CONNACK 0.',
     notes='Two violations: the client\'s CONNECT and the server accepting it.')
def _(k):
    k.c(k.connect(client_id='', clean=False).bad('MQTT-3.1.3-7', 'Zero-length Client Identifier requires CleanSession 1', E))
    k.s(k.connack(rc=0).bad('MQTT-3.1.3-8', 'Server must answer CONNACK 0x02 and close', W))
    k.c(k.pingreq())
    k.s(k.pingresp())
    k.bye()


@inv('empty-clientid-no-assigned-id', 5, 'Success CONNACK to a zero-length Client Identifier without Assigned Client Identifier.')
def _(k):
    k.c(k.connect(client_id=''))
    k.s(k.connack().bad('MQTT-3.1.3-6, MQTT-3.1.3-7, MQTT-3.2.2-16',
                        'Assigned Client Identifier missing in CONNACK', W))
    k.c(k.pingreq())
    k.s(k.pingresp())
    k.bye()


@inv('protocol-name-wrong', 5, "CONNECT protocol level 5 with protocol name 'MQTX'.")
def _(k):
    k.c(k.connect(name='MQTX').bad('MQTT-3.1.2-1', "Protocol Name must be 'MQTT'", E))
    k.refuse(0x84)


@scenario('generated/invalid/v311-unsupported-level-wrong-code.pcap', None,
          'CONNECT with unsupported protocol level 6 refused with return code 3 instead of 1.',
          notes='The CONNECT carries level 6, so the capture-level version is null; the server answers '
                'in 3.1.1 format (CONNACK RL 2) and the rule is keyed on version 4.', raw=True)
def _(cap):
    k = cap.conn(ver=4)
    k.c(k.connect(level=6))
    k.s(k.connack(rc=0x03).bad('MQTT-3.1.2-2', 'Unsupported protocol level must be refused with return code 0x01', W))
    k.close('s')


@inv('password-without-username', 4, 'CONNECT with Password Flag 1 and User Name Flag 0 (legal in 5.0, not in 3.1.1).',
     notes='Contains a one-byte dummy password field (needed by the rule).')
def _(k):
    k.c(k.connect(password=b'x').bad('MQTT-3.1.2-22', 'Password Flag set without User Name Flag', E))
    k.refuse(0x81)


@inv('second-connack', 5, 'Server sends a second CONNACK on an established connection.')
def _(k):
    k.open()
    k.c(k.pingreq())
    k.s(k.pingresp())
    k.s(k.connack().bad('MQTT-3.2.0-2', 'Second CONNACK on the same connection', W))
    k.cli_abort(0x82)


@inv('second-connack', 4, 'Server sends a second CONNACK on an established connection.')
def _(k):
    k.open()
    k.c(k.pingreq())
    k.s(k.pingresp())
    k.s(k.connack().bad('3.1.1 §3.2', 'Second CONNACK on the same connection (answers nothing)', W))
    k.cli_abort(None)


@inv('connack-reason-not-allowed', 5, 'CONNACK with reason code 0x8B (Server shutting down), which is DISCONNECT-only.')
def _(k):
    k.c(k.connect())
    k.s(k.connack(rc=0x8B).bad('MQTT-3.2.2-8', 'Reason code 0x8B is not allowed in CONNACK', E))
    k.close('s')


@inv('connack-reserved-return-code', 4, 'CONNACK with reserved return code 6.')
def _(k):
    k.c(k.connect())
    k.s(k.connack(rc=0x06).bad('3.1.1 §3.2.2.3', 'CONNACK return codes 6-255 are reserved', E))
    k.close('s')


# ---------------------------------------------------------------------- invalid: 5.0 CONNECT/CONNACK properties

def _bad_connect_prop(name, props, ids, rule, rc=0x82, summary=None):
    @inv(name, 5, summary or 'CONNECT with %s.' % rule)
    def _(k):
        k.c(k.connect(props=props).bad(ids, rule, E))
        k.refuse(rc)


_bad_connect_prop('connect-auth-data-without-method', [(AUTH_DATA, b'data')], '5.0 §3.1.2.11.10',
                  'Authentication Data without Authentication Method')
_bad_connect_prop('connect-receive-maximum-zero', [(RECEIVE_MAX, 0)], '5.0 §3.1.2.11.3', 'Receive Maximum 0')
_bad_connect_prop('connect-maximum-packet-size-zero', [(MAX_PACKET, 0)], '5.0 §3.1.2.11.4', 'Maximum Packet Size 0')
_bad_connect_prop('connect-request-problem-info-invalid', [(REQ_PROBLEM, 2)], '5.0 §3.1.2.11.7',
                  'Request Problem Information value 2 (must be 0 or 1)')
_bad_connect_prop('connect-request-response-info-invalid', [(REQ_RESPONSE, 2)], '5.0 §3.1.2.11.6',
                  'Request Response Information value 2 (must be 0 or 1)')
_bad_connect_prop('duplicate-property-connect', [(SESSION_EXPIRY, 60), (SESSION_EXPIRY, 120)], '5.0 §3.1.2.11',
                  'Session Expiry Interval property included twice')
_bad_connect_prop('property-not-allowed-connect', [(TOPIC_ALIAS, 1)], '5.0 §2.2.2.2',
                  'Topic Alias property (PUBLISH only) in CONNECT', rc=0x81)


def _bad_connack_prop(name, props, ids, rule):
    @inv(name, 5, 'CONNACK with %s.' % rule)
    def _(k):
        k.c(k.connect())
        k.s(k.connack(props=props).bad(ids, rule, E))
        k.cli_abort(0x82)


_bad_connack_prop('connack-maximum-qos-2', [(MAX_QOS, 2)], '5.0 §3.2.2.3.4', 'Maximum QoS 2 (only 0 or 1 allowed)')
_bad_connack_prop('connack-retain-available-invalid', [(RETAIN_AVAIL, 2)], '5.0 §3.2.2.3.5',
                  'Retain Available value 2 (must be 0 or 1)')
_bad_connack_prop('connack-receive-maximum-zero', [(RECEIVE_MAX, 0)], '5.0 §3.2.2.3.3', 'Receive Maximum 0')
_bad_connack_prop('connack-wildcard-available-invalid', [(WILDCARD_AVAIL, 5)], '5.0 §3.2.2.3.11',
                  'Wildcard Subscription Available value 5 (must be 0 or 1)')
_bad_connack_prop('property-not-allowed-connack', [(SUB_ID, 3)], '5.0 §2.2.2.2',
                  'Subscription Identifier property (PUBLISH/SUBSCRIBE only) in CONNACK')


@inv('response-information-unrequested', 5, 'CONNACK carries Response Information although the CONNECT did not request it.')
def _(k):
    k.c(k.connect())
    k.s(k.connack(props=[(RESPONSE_INFO, 'lens/responses')]).bad(
        'MQTT-3.1.2-28', 'Response Information sent without Request Response Information = 1', W))
    k.bye()


@inv('reason-string-without-problem-info', 5, 'Request Problem Information 0, yet the server puts a Reason String in a PUBACK.')
def _(k):
    k.open(props=[(REQ_PROBLEM, 0)])
    k.c(k.publish('lens/up/a', b'x', qos=1, id=1))
    k.s(k.puback(1, 0x10, [(REASON_STRING, 'nobody listens')]).bad(
        'MQTT-3.1.2-29', 'Reason String in PUBACK although Request Problem Information = 0', W))
    k.cli_abort(0x82)


@inv('will-qos-above-maximum', 5, 'Success CONNACK with Maximum QoS 1 answering a CONNECT with Will QoS 2.')
def _(k):
    k.c(k.connect(will={'topic': 'lens/will', 'message': b'gone', 'qos': 2}))
    k.s(k.connack(props=[(MAX_QOS, 1)]).bad('MQTT-3.2.2-12', 'Will QoS above the server Maximum QoS must be refused', W))
    k.bye()


@inv('will-retain-not-available', 5, 'Success CONNACK with Retain Available 0 answering a CONNECT with Will Retain 1.')
def _(k):
    k.c(k.connect(will={'topic': 'lens/will', 'message': b'gone', 'retain': 1}))
    k.s(k.connack(props=[(RETAIN_AVAIL, 0)]).bad('MQTT-3.2.2-13', 'Will Retain 1 must be refused when retain is not available', W))
    k.bye()


@inv('publish-above-maximum-qos', 5, 'CONNACK Maximum QoS 1, then the client publishes at QoS 2.')
def _(k):
    k.open(ack={'props': [(MAX_QOS, 1)]})
    k.c(k.publish('lens/up/a', b'x', qos=2, id=1).bad('MQTT-3.2.2-11', 'PUBLISH QoS above the server Maximum QoS', W))
    k.srv_abort(0x9B)


@inv('retain-not-available', 5, 'CONNACK Retain Available 0, then the client publishes with RETAIN=1.')
def _(k):
    k.open(ack={'props': [(RETAIN_AVAIL, 0)]})
    k.c(k.publish('lens/up/a', b'x', retain=1).bad('MQTT-3.2.2-14', 'RETAIN=1 although Retain Available is 0', W))
    k.srv_abort(0x9A)


@inv('packet-too-large', 5, 'CONNACK Maximum Packet Size 128, then the client sends a 230-byte PUBLISH.')
def _(k):
    k.open(ack={'props': [(MAX_PACKET, 128)]})
    k.c(k.publish('lens/up/a', pl(215)).bad('MQTT-3.2.2-15', 'Packet larger than the server Maximum Packet Size', W))
    k.srv_abort(0x95)


@inv('server-packet-too-large', 5, 'CONNECT Maximum Packet Size 128, then the server sends a 297-byte PUBLISH.')
def _(k):
    k.open(props=[(MAX_PACKET, 128)])
    sub_down(k)
    k.s(k.publish('lens/down/a', pl(280)).bad('MQTT-3.1.2-24', 'Packet larger than the client Maximum Packet Size', W))
    k.cli_abort(0x95)


@inv('connack-reason-string-too-large', 5, 'CONNECT Maximum Packet Size 32; the CONNACK carries a Reason String that makes it 55 bytes.')
def _(k):
    k.c(k.connect(props=[(MAX_PACKET, 32)]))
    k.s(k.connack(props=[(REASON_STRING, 'welcome to the synthetic broker!!!!!!!!!!!!!!!!')]).bad(
        'MQTT-3.2.2-19, MQTT-3.1.2-24', 'Reason String makes the CONNACK exceed the client Maximum Packet Size', W))
    k.cli_abort(0x95)


@inv('puback-reason-string-too-large', 5, 'CONNECT Maximum Packet Size 32; a PUBACK carries a Reason String that makes it 49 bytes.')
def _(k):
    k.open(props=[(MAX_PACKET, 32)])
    k.c(k.publish('lens/up/a', b'x', qos=1, id=1))
    k.s(k.puback(1, 0x10, [(REASON_STRING, 'no subscribers matched this topic, sorry')]).bad(
        'MQTT-3.4.2-2, MQTT-3.1.2-24', 'Reason String makes the PUBACK exceed the client Maximum Packet Size', W))
    k.cli_abort(0x95)


@inv('subscribe-qos-refused-by-maximum-qos', 5, 'CONNACK Maximum QoS 0; the server disconnects when the client subscribes at QoS 2.')
def _(k):
    k.open(ack={'props': [(MAX_QOS, 0)]})
    k.c(k.subscribe(1, ('lens/down/#', 2)))
    k.s(k.disconnect(0x9B).bad('MQTT-3.2.2-10', 'Server must accept SUBSCRIBE with any QoS even if its Maximum QoS is lower', W))
    k.close('s')


# ---------------------------------------------------------------------- invalid: 5.0 PUBLISH properties

@inv('duplicate-property', 5, 'PUBLISH with the Message Expiry Interval property twice.')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'x', props=[(MSG_EXPIRY, 60), (MSG_EXPIRY, 120)]).bad(
        '5.0 §3.3.2.3', 'Message Expiry Interval property included twice', E))
    k.srv_abort(0x82)


@inv('property-not-allowed', 5, 'PUBLISH carrying Session Expiry Interval (a CONNECT/CONNACK/DISCONNECT property).')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'x', props=[(SESSION_EXPIRY, 10)]).bad(
        '5.0 §2.2.2.2', 'Property 0x11 is not allowed in PUBLISH', E))
    k.srv_abort(0x81)


@inv('unknown-property', 5, 'PUBLISH carrying the undefined property identifier 0x04.')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'x', props=[Raw(b'\x04\x00\x00\x00\x01')]).bad(
        '5.0 §2.2.2.2', 'Unknown property identifier 0x04', E))
    k.srv_abort(0x81)


@inv('topic-alias-zero', 5, 'PUBLISH with Topic Alias 0.')
def _(k):
    k.open(ack={'props': [(TOPIC_ALIAS_MAX, 5)]})
    k.c(k.publish('lens/up/a', b'x', props=[(TOPIC_ALIAS, 0)]).bad('MQTT-3.3.2-8', 'Topic Alias 0 is not allowed', E))
    k.srv_abort(0x94)


@inv('topic-alias-above-maximum', 5, 'CONNACK Topic Alias Maximum 2, client uses alias 3.')
def _(k):
    k.open(ack={'props': [(TOPIC_ALIAS_MAX, 2)]})
    k.c(k.publish('lens/up/a', b'x', props=[(TOPIC_ALIAS, 3)]).bad(
        'MQTT-3.3.2-9, MQTT-3.2.2-17', 'Topic Alias above the server Topic Alias Maximum', W))
    k.srv_abort(0x94)


@inv('topic-alias-not-allowed', 5, 'CONNACK without Topic Alias Maximum, client uses alias 1.')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'x', props=[(TOPIC_ALIAS, 1)]).bad(
        'MQTT-3.2.2-18, MQTT-3.3.2-9', 'Topic Alias used although the server allows none', W))
    k.srv_abort(0x94)


@inv('server-topic-alias-above-maximum', 5, 'CONNECT Topic Alias Maximum 2, server uses alias 3.')
def _(k):
    k.open(props=[(TOPIC_ALIAS_MAX, 2)])
    sub_down(k)
    k.s(k.publish('lens/down/a', b'x', props=[(TOPIC_ALIAS, 3)]).bad(
        'MQTT-3.3.2-11, MQTT-3.1.2-26', 'Topic Alias above the client Topic Alias Maximum', W))
    k.cli_abort(0x94)


@inv('server-topic-alias-not-allowed', 5, 'CONNECT without Topic Alias Maximum, server uses alias 1.')
def _(k):
    k.open()
    sub_down(k)
    k.s(k.publish('lens/down/a', b'x', props=[(TOPIC_ALIAS, 1)]).bad(
        'MQTT-3.1.2-27, MQTT-3.3.2-11', 'Topic Alias used although the client allows none', W))
    k.cli_abort(0x94)


@inv('topic-alias-unmapped', 5, 'PUBLISH with an empty Topic Name and a Topic Alias that was never set.')
def _(k):
    k.open(ack={'props': [(TOPIC_ALIAS_MAX, 5)]})
    k.c(k.publish('lens/up/a', b'x', props=[(TOPIC_ALIAS, 1)]))
    k.c(k.publish('', b'y', props=[(TOPIC_ALIAS, 2)]).bad('5.0 §3.3.4', 'Topic Alias 2 has no mapping on this connection', W))
    k.srv_abort(0x82)


@inv('client-rejects-valid-alias', 5, 'Client disconnects with 0x94 after an in-range server Topic Alias.')
def _(k):
    k.open(props=[(TOPIC_ALIAS_MAX, 5)])
    sub_down(k)
    k.s(k.publish('lens/down/a', b'x', props=[(TOPIC_ALIAS, 1)]))
    k.c(k.disconnect(0x94).bad('MQTT-3.3.2-10', 'Client must accept Topic Alias 1..its Topic Alias Maximum', W))
    k.close('c')


@inv('server-rejects-valid-alias', 5, 'Server disconnects with 0x94 after an in-range client Topic Alias.')
def _(k):
    k.open(ack={'props': [(TOPIC_ALIAS_MAX, 5)]})
    k.c(k.publish('lens/up/a', b'x', props=[(TOPIC_ALIAS, 1)]))
    k.s(k.disconnect(0x94).bad('MQTT-3.3.2-12', 'Server must accept Topic Alias 1..its Topic Alias Maximum', W))
    k.close('s')


@inv('empty-topic-without-alias', 5, 'PUBLISH with a zero-length Topic Name and no Topic Alias.')
def _(k):
    k.open()
    k.c(k.publish('', b'x').bad('MQTT-4.7.3-1, 5.0 §3.3.2.1', 'Zero-length Topic Name without Topic Alias', E))
    k.srv_abort(0x82)


@inv('empty-topic', 4, 'PUBLISH with a zero-length Topic Name.')
def _(k):
    k.open()
    k.c(k.publish('', b'x').bad('MQTT-4.7.3-1', 'Zero-length Topic Name', E))
    k.srv_abort(0x81)


@inv('subscription-id-in-client-publish', 5, 'Client PUBLISH carrying a Subscription Identifier.')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'x', props=[(SUB_ID, 5)]).bad('MQTT-3.3.4-6', 'Subscription Identifier in a client PUBLISH', E))
    k.srv_abort(0x82)


@inv('subscription-id-zero', 5, 'SUBSCRIBE with Subscription Identifier 0.')
def _(k):
    k.open()
    k.c(k.subscribe(1, ('lens/down/#', 1), props=[(SUB_ID, 0)]).bad('5.0 §3.8.2.1.2', 'Subscription Identifier 0', E))
    k.srv_abort(0x82)


@inv('duplicate-subscription-id', 5, 'SUBSCRIBE with two Subscription Identifier properties.')
def _(k):
    k.open()
    k.c(k.subscribe(1, ('lens/down/#', 1), props=[(SUB_ID, 1), (SUB_ID, 2)]).bad(
        '5.0 §3.8.2.1.2', 'More than one Subscription Identifier in SUBSCRIBE', E))
    k.srv_abort(0x82)


@inv('server-subscription-id-zero', 5, 'Server PUBLISH with Subscription Identifier 0.')
def _(k):
    k.open()
    sub_down(k, props=[(SUB_ID, 7)])
    k.s(k.publish('lens/down/a', b'x', props=[(SUB_ID, 0)]).bad('5.0 §3.3.2.3.8', 'Subscription Identifier 0 in PUBLISH', E))
    k.cli_abort(0x82)


@inv('unknown-subscription-id-from-server', 5, 'Server PUBLISH carries Subscription Identifier 9 although the client only used 7.')
def _(k):
    k.open()
    sub_down(k, props=[(SUB_ID, 7)])
    k.s(k.publish('lens/down/a', b'x', props=[(SUB_ID, 9)]).bad(
        '5.0 §3.3.4', 'Subscription Identifier not taken from any SUBSCRIBE of this client', W))
    k.cli_abort(0x82)


@inv('payload-format-invalid', 5, 'PUBLISH with Payload Format Indicator 1 but a payload that is not UTF-8; server answers PUBACK 0x99.')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'\xff\xfe\xfd', qos=1, id=1, props=[(PFI, 1)]).bad(
        '5.0 §3.3.2.3.2', 'Payload Format Indicator 1 but payload is not valid UTF-8', W))
    k.s(k.puback(1, 0x99))
    k.bye()


@inv('will-payload-format-invalid', 5, 'CONNECT Will Properties with Payload Format Indicator 1 but a non-UTF-8 Will Payload.')
def _(k):
    k.c(k.connect(will={'topic': 'lens/will', 'message': b'\xff\xfe', 'props': [(PFI, 1)]}).bad(
        '5.0 §3.1.3.2.3', 'Will Payload Format Indicator 1 but Will Payload is not valid UTF-8', W))
    k.refuse(0x99)


@inv('response-topic-wildcard', 5, "PUBLISH Response Topic containing '#'.")
def _(k):
    k.open()
    k.c(k.publish('lens/up/req', b'x', props=[(RESPONSE_TOPIC, 'lens/reply/#')]).bad(
        'MQTT-3.3.2-14, MQTT-4.7.0-1', 'Response Topic contains a wildcard character', E))
    k.srv_abort(0x82)


@inv('response-topic-invalid-utf8', 5, 'PUBLISH Response Topic that is not valid UTF-8.')
def _(k):
    k.open()
    k.c(k.publish('lens/up/req', b'x', props=[(RESPONSE_TOPIC, b'lens/reply/\xff')]).bad(
        'MQTT-3.3.2-13, MQTT-1.5.4-1', 'Response Topic is not well-formed UTF-8', E))
    k.srv_abort(0x81)


@inv('content-type-invalid-utf8', 5, 'PUBLISH Content Type that is not valid UTF-8.')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'x', props=[(CONTENT_TYPE, b'text/\xc3')]).bad(
        'MQTT-3.3.2-19, MQTT-1.5.4-1', 'Content Type is not well-formed UTF-8', E))
    k.srv_abort(0x81)


# ---------------------------------------------------------------------- invalid: PUBLISH / topics / delivery

for _v in (5, 4):
    @inv('publish-topic-wildcard', _v, "PUBLISH whose Topic Name contains '+'.")
    def _(k, v=_v):
        k.open()
        k.c(k.publish('lens/+/temp', b'21.5').bad(
            'MQTT-3.3.2-2, MQTT-4.7.0-1' if v == 5 else 'MQTT-3.3.2-2, MQTT-4.7.1-1',
            'Topic Name contains a wildcard character', E))
        k.srv_abort(0x90)

    @inv('publish-unsubscribed-topic', _v, 'Server delivers a PUBLISH on a topic no subscription of this (fresh) session matches.',
         notes='Heuristic rule: fresh session (Clean Start 1), the only subscription is lens/down/#.')
    def _(k):
        k.open()
        sub_down(k)
        k.s(k.publish('lens/other/x', b'x', qos=1, id=1).bad('MQTT-3.3.2-3', 'PUBLISH matches no subscription of the client', W))
        k.c(k.puback(1))
        k.bye()

    @inv('dollar-topic-wildcard-match', _v, "Server delivers '$SYS/...' to a client whose only subscription is '#'.",
         notes='Heuristic rule: fresh session, only subscription is #.')
    def _(k):
        k.open()
        k.c(k.subscribe(1, ('#', 0)))
        k.s(k.suback(1, 0))
        k.s(k.publish('$SYS/broker/uptime', b'42').bad('MQTT-4.7.2-1', "'#' must not match a topic starting with '$'", W))
        k.bye()

    @inv('delivered-qos-above-granted', _v, 'Subscription granted QoS 0; the server delivers a QoS 1 PUBLISH on it.',
         notes='Heuristic rule: fresh session, single subscription.')
    def _(k, v=_v):
        k.open()
        sub_down(k, qos=0)
        k.s(k.publish('lens/down/a', b'x', qos=1, id=1).bad('MQTT-3.8.4-8' if v == 5 else 'MQTT-3.8.4-6',
                                                           'Delivered QoS above the granted QoS', W))
        k.c(k.puback(1))
        k.bye()

    @inv('retain-not-cleared', _v, 'Client publishes RETAIN=1 on a topic it is subscribed to; the forwarded copy still has RETAIN=1.',
         notes='Heuristic rule: the subscription existed before the PUBLISH'
               + (' and has Retain As Published 0.' if _v == 5 else '.'))
    def _(k, v=_v):
        k.open()
        k.c(k.subscribe(1, ('lens/echo', 0)))
        k.s(k.suback(1, 0))
        k.c(k.publish('lens/echo', b'state', retain=1))
        k.s(k.publish('lens/echo', b'state', retain=1).bad(
            'MQTT-3.3.1-12' if v == 5 else 'MQTT-3.3.1-9',
            'RETAIN must be 0 when forwarding on an established subscription', W))
        k.bye()

    @inv('publish-not-acknowledged', _v, 'Server never acknowledges a QoS 1 PUBLISH but keeps answering later traffic.',
         notes='Heuristic rule: the next QoS 1 PUBLISH (id 2) is acknowledged, id 1 never.')
    def _(k):
        k.open()
        k.c(k.publish('lens/up/a', b'x', qos=1, id=1).bad('MQTT-3.3.4-1', 'QoS 1 PUBLISH never acknowledged', W))
        k.wait(1)
        k.c(k.pingreq())
        k.s(k.pingresp())
        k.c(k.publish('lens/up/b', b'y', qos=1, id=2))
        k.s(k.puback(2))
        k.wait(1)
        k.bye()

    @inv('unanswered-pingreq', _v, 'PINGREQ never answered while the connection carries on.',
         notes='Heuristic rule: later QoS 1 traffic is answered, the PINGREQ never.')
    def _(k):
        k.open()
        k.c(k.pingreq().bad('MQTT-3.12.4-1', 'PINGREQ not answered with PINGRESP', W))
        k.wait(2)
        k.c(k.publish('lens/up/b', b'y', qos=1, id=1))
        k.s(k.puback(1))
        k.bye()


@inv('retain-as-published-mismatch', 5, 'Subscription with Retain As Published 1; the echo of a RETAIN=1 publish arrives with RETAIN=0.',
     notes='Heuristic rule.')
def _(k):
    k.open()
    k.c(k.subscribe(1, ('lens/echo', 0x08)))
    k.s(k.suback(1, 0))
    k.c(k.publish('lens/echo', b'state', retain=1))
    k.s(k.publish('lens/echo', b'state', retain=0).bad('MQTT-3.3.1-13', 'Retain As Published 1: RETAIN must be copied', W))
    k.bye()


@inv('retain-handling-2-retained', 5, 'SUBSCRIBE with Retain Handling 2; the server sends a retained message right away.',
     notes='Heuristic rule: fresh session, the only matching subscription has Retain Handling 2.')
def _(k):
    k.open()
    k.c(k.subscribe(1, ('lens/state/#', 0x20)))
    k.s(k.suback(1, 0))
    k.s(k.publish('lens/state/a', b'old', retain=1).bad('MQTT-3.3.1-11', 'Retained message sent although Retain Handling is 2', W))
    k.bye()


@inv('no-local-echo', 5, 'Subscription with No Local 1; the server echoes the client\'s own PUBLISH back.',
     notes='Heuristic rule.')
def _(k):
    k.open()
    k.c(k.subscribe(1, ('lens/chat', 0x04)))
    k.s(k.suback(1, 0))
    k.c(k.publish('lens/chat', b'hi'))
    k.s(k.publish('lens/chat', b'hi').bad('MQTT-3.8.3-3', 'Own publication delivered despite No Local 1', W))
    k.bye()


@inv('missing-subscription-identifier', 5, 'Subscription made with Subscription Identifier 4; a matching delivery lacks it.',
     notes='Heuristic rule: single subscription.')
def _(k):
    k.open()
    sub_down(k, props=[(SUB_ID, 4)])
    k.s(k.publish('lens/down/a', b'x').bad('MQTT-3.3.4-3, MQTT-3.3.4-4, MQTT-3.3.4-5',
                                          'Subscription Identifier of the matching subscription missing', W))
    k.bye()


@inv('receive-maximum-exceeded', 5, 'CONNACK Receive Maximum 2; the client has three unacknowledged QoS 1 PUBLISHes in flight.')
def _(k):
    k.open(ack={'props': [(RECEIVE_MAX, 2)]})
    k.c(k.publish('lens/up/a', b'1', qos=1, id=1))
    k.c(k.publish('lens/up/a', b'2', qos=1, id=2))
    k.c(k.publish('lens/up/a', b'3', qos=1, id=3).bad('MQTT-3.3.4-7, MQTT-4.9.0-2', 'More unacknowledged QoS>0 PUBLISHes than Receive Maximum', W))
    k.srv_abort(0x93)


@inv('server-receive-maximum-exceeded', 5, 'CONNECT Receive Maximum 2; the server has three unacknowledged QoS 1 PUBLISHes in flight.')
def _(k):
    k.open(props=[(RECEIVE_MAX, 2)])
    sub_down(k)
    k.s(k.publish('lens/down/a', b'1', qos=1, id=1))
    k.s(k.publish('lens/down/a', b'2', qos=1, id=2))
    k.s(k.publish('lens/down/a', b'3', qos=1, id=3).bad('MQTT-3.3.4-9, MQTT-4.9.0-2', 'More unacknowledged QoS>0 PUBLISHes than Receive Maximum', W))
    k.cli_abort(0x93)


@inv('wildcard-subscription-not-available', 5, 'CONNACK Wildcard Subscription Available 0, then the client subscribes to a wildcard filter.')
def _(k):
    k.open(ack={'props': [(WILDCARD_AVAIL, 0)]})
    k.c(k.subscribe(1, ('lens/down/#', 1)).bad('5.0 §3.2.2.3.11', 'Wildcard subscription although not available', W))
    k.srv_abort(0xA2)


@inv('subscription-id-not-available', 5, 'CONNACK Subscription Identifier Available 0, then the client uses one.')
def _(k):
    k.open(ack={'props': [(SUBID_AVAIL, 0)]})
    k.c(k.subscribe(1, ('lens/down/a', 1), props=[(SUB_ID, 3)]).bad('5.0 §3.2.2.3.12', 'Subscription Identifier although not available', W))
    k.srv_abort(0xA1)


@inv('shared-subscription-not-available', 5, 'CONNACK Shared Subscription Available 0, then the client subscribes to $share/...')
def _(k):
    k.open(ack={'props': [(SHARED_AVAIL, 0)]})
    k.c(k.subscribe(1, ('$share/grp/lens/down/a', 1)).bad('5.0 §3.2.2.3.13', 'Shared subscription although not available', W))
    k.srv_abort(0x9E)


# ---------------------------------------------------------------------- invalid: packet identifiers and ack flows

for _v in (5, 4):
    _c_id = 'MQTT-2.2.1-3' if _v == 5 else 'MQTT-2.3.1-1'
    _ack_id = 'MQTT-2.2.1-5' if _v == 5 else 'MQTT-2.3.1-6'
    _sub_id = 'MQTT-2.2.1-6' if _v == 5 else 'MQTT-2.3.1-7'

    @inv('packet-id-zero', _v, 'QoS 1 PUBLISH with Packet Identifier 0.')
    def _(k, cid=_c_id):
        k.open()
        k.c(k.publish('lens/up/a', b'x', qos=1, id=0).bad(cid, 'Packet Identifier 0', E))
        k.srv_abort(0x82)

    @inv('packet-id-in-use', _v, 'New QoS 1 PUBLISH (DUP=0) re-using an identifier that still awaits its PUBACK.')
    def _(k, cid=_c_id):
        k.open()
        k.c(k.publish('lens/up/a', b'first', qos=1, id=5))
        k.c(k.publish('lens/up/a', b'second', qos=1, id=5).bad('MQTT-4.3.2-1, ' + cid,
                                                               'Packet Identifier still in use', W))
        k.srv_abort(0x82)

    @inv('unsolicited-puback', _v, 'Server sends a PUBACK for an identifier the client never used.')
    def _(k, aid=_ack_id, v=_v):
        k.open()
        k.c(k.publish('lens/up/a', b'x', qos=1, id=1))
        k.s(k.puback(1))
        k.s(k.puback(9).bad(aid + (', MQTT-4.3.2-4' if v == 5 else ', MQTT-4.3.2-2'),
                            'PUBACK for an identifier with no open QoS 1 flow', W))
        k.bye()

    @inv('unsolicited-pubrec', _v, 'Server sends a PUBREC for an identifier the client never used.')
    def _(k, aid=_ack_id, v=_v):
        k.open()
        k.s(k.pubrec(9).bad(aid + (', MQTT-4.3.3-8' if v == 5 else ', MQTT-4.3.3-2'),
                            'PUBREC for an identifier with no open QoS 2 flow', W))
        k.bye()

    @inv('pubcomp-without-pubrel', _v, 'Server sends PUBCOMP before the client sent its PUBREL.')
    def _(k, aid=_ack_id, v=_v):
        k.open()
        k.c(k.publish('lens/up/a', b'x', qos=2, id=1))
        k.s(k.pubrec(1))
        k.s(k.pubcomp(1).bad('MQTT-2.2.1-5, MQTT-4.3.3-11' if v == 5 else 'MQTT-4.3.3-2',
                             'PUBCOMP without a preceding PUBREL', W))
        k.c(k.pubrel(1))
        k.s(k.pubcomp(1))
        k.bye()

    @inv('pubrel-unknown-id', _v, 'Client sends a PUBREL for an identifier that never had a PUBLISH/PUBREC.')
    def _(k, aid=_ack_id, v=_v):
        k.open()
        k.c(k.pubrel(7).bad(aid + (', MQTT-4.3.3-4' if v == 5 else ', MQTT-4.3.3-1'),
                            'PUBREL for an identifier that got no PUBREC', W))
        k.s(k.pubcomp(7, 0x92) if v == 5 else k.pubcomp(7))
        k.bye()

    @inv('unsolicited-suback', _v, 'Server sends a SUBACK whose identifier matches no outstanding SUBSCRIBE.')
    def _(k, sid=_sub_id):
        k.open()
        sub_down(k, pid=1)
        k.s(k.suback(5, 1).bad(sid + ', MQTT-3.8.4-2', 'SUBACK for an identifier with no outstanding SUBSCRIBE', W))
        k.bye()

    @inv('unsuback-wrong-id', _v, 'UNSUBSCRIBE id 2 answered by an UNSUBACK with id 3.')
    def _(k, sid=_sub_id, v=_v):
        k.open()
        sub_down(k, pid=1)
        k.c(k.unsubscribe(2, 'lens/down/#'))
        k.s((k.unsuback(3, 0) if v == 5 else k.unsuback(3)).bad(
            sid + ', MQTT-3.10.4-4', 'UNSUBACK identifier does not match the UNSUBSCRIBE', W))
        k.bye()

    @inv('two-unsubacks', _v, 'One UNSUBSCRIBE answered by two UNSUBACKs.')
    def _(k, sid=_sub_id, v=_v):
        k.open()
        sub_down(k, pid=1)
        k.c(k.unsubscribe(2, 'lens/down/#'))
        k.s(k.unsuback(2, 0) if v == 5 else k.unsuback(2))
        k.s((k.unsuback(2, 0x11) if v == 5 else k.unsuback(2)).bad(
            'MQTT-3.10.4-6, ' + sid, 'Second UNSUBACK for one UNSUBSCRIBE', W))
        k.bye()

    @inv('publish-resend-after-pubrel', _v, 'Client re-sends a QoS 2 PUBLISH after it already sent the PUBREL.')
    def _(k, v=_v):
        k.open()
        k.c(k.publish('lens/up/a', b'x', qos=2, id=1))
        k.s(k.pubrec(1))
        k.c(k.pubrel(1))
        k.c(k.publish('lens/up/a', b'x', qos=2, id=1, dup=1).bad(
            'MQTT-4.3.3-6, MQTT-4.4.0-1' if v == 5 else 'MQTT-4.3.3-1',
            'PUBLISH re-sent after PUBREL', W))
        k.s(k.pubcomp(1))
        k.bye()

    @inv('puback-out-of-order', _v, 'Client acknowledges two server QoS 1 PUBLISHes in reverse order.')
    def _(k):
        k.open()
        sub_down(k)
        k.s(k.publish('lens/down/a', b'1', qos=1, id=1))
        k.s(k.publish('lens/down/b', b'2', qos=1, id=2))
        k.c(k.puback(2).bad('MQTT-4.6.0-2', 'PUBACKs not in the order the PUBLISHes arrived', W))
        k.c(k.puback(1))
        k.bye()

    @inv('suback-count-mismatch', _v, 'SUBSCRIBE with two filters answered by a SUBACK with one return code.')
    def _(k, v=_v):
        k.open()
        k.c(k.subscribe(1, ('lens/down/a', 1), ('lens/down/b', 1)))
        k.s(k.suback(1, 1).bad('MQTT-3.8.4-6' if v == 5 else 'MQTT-3.8.4-5',
                               'SUBACK return code count differs from the filter count', W))
        k.cli_abort(0x82)

    @inv('suback-invalid-code', _v, 'SUBACK with return code 0x03.')
    def _(k, v=_v):
        k.open()
        k.c(k.subscribe(1, ('lens/down/#', 1)))
        k.s(k.suback(1, 3).bad('MQTT-3.9.3-2, MQTT-3.8.4-7' if v == 5 else 'MQTT-3.9.3-2, MQTT-3.8.4-5',
                               'SUBACK code 0x03 is not allowed', E))
        k.cli_abort(0x81)

    @inv('suback-granted-above-requested', _v, 'SUBSCRIBE requests QoS 0, SUBACK grants QoS 1.',
         notes='Heuristic rule (suggests the codes are out of order).')
    def _(k):
        k.open()
        k.c(k.subscribe(1, ('lens/down/#', 0)))
        k.s(k.suback(1, 1).bad('MQTT-3.9.3-1', 'Granted QoS above the requested QoS', W))
        k.bye()

    @inv('subscribe-no-filter', _v, 'SUBSCRIBE without any Topic Filter.')
    def _(k, v=_v):
        k.open()
        k.c(k.subscribe(1).bad('MQTT-3.8.3-2, 5.0 §3.8.3' if v == 5 else 'MQTT-3.8.3-3',
                               'SUBSCRIBE has no Topic Filter', E))
        k.srv_abort(0x82)

    @inv('unsubscribe-no-filter', _v, 'UNSUBSCRIBE without any Topic Filter.')
    def _(k, v=_v):
        k.open()
        sub_down(k)
        k.c(k.unsubscribe(2).bad('MQTT-3.10.3-2, 5.0 §3.10.3' if v == 5 else 'MQTT-3.10.3-2',
                                 'UNSUBSCRIBE has no Topic Filter', E))
        k.srv_abort(0x82)

    @inv('filter-hash-not-last', _v, "SUBSCRIBE filter 'lens/#/x' ('#' not last); server answers with a failure code.")
    def _(k, v=_v):
        k.open()
        k.c(k.subscribe(1, ('lens/#/x', 1)).bad('MQTT-4.7.1-1' if v == 5 else 'MQTT-4.7.1-2',
                                                "'#' must be the last character of a Topic Filter", E))
        k.s(k.suback(1, 0x8F if v == 5 else 0x80))
        k.bye()

    @inv('filter-plus-partial-level', _v, "SUBSCRIBE filter 'lens/sens+' ('+' not a whole level); server answers with a failure code.")
    def _(k, v=_v):
        k.open()
        k.c(k.subscribe(1, ('lens/sens+', 1)).bad('MQTT-4.7.1-2' if v == 5 else 'MQTT-4.7.1-3',
                                                  "'+' must occupy an entire topic level", E))
        k.s(k.suback(1, 0x8F if v == 5 else 0x80))
        k.bye()

    @inv('empty-topic-filter', _v, 'SUBSCRIBE with a zero-length Topic Filter; server answers with a failure code.')
    def _(k, v=_v):
        k.open()
        k.c(k.subscribe(1, ('', 1)).bad('MQTT-4.7.3-1', 'Zero-length Topic Filter', E))
        k.s(k.suback(1, 0x8F if v == 5 else 0x80))
        k.bye()

    @inv('after-disconnect', _v, 'Client sends a PINGREQ after its own DISCONNECT.')
    def _(k, v=_v):
        k.open()
        k.c(k.disconnect())
        k.c(k.pingreq().bad('MQTT-3.14.4-1' if v == 5 else 'MQTT-3.14.4-2', 'Packet sent after DISCONNECT', W))
        k.close('c')

    @inv('keepalive-exceeded', _v, 'Keep Alive 5 s: the client stays silent 8 s, then sends PINGREQ, and the server still answers.',
         notes='Timing: the PINGREQ comes 8.000 s after the previous client packet.')
    def _(k, v=_v):
        k.open(keepalive=5)
        k.wait_client(8.0)
        k.c(k.pingreq().bad('MQTT-3.1.2-20' if v == 5 else 'MQTT-3.1.2-23', 'Client silent longer than Keep Alive', W))
        k.s(k.pingresp().bad('MQTT-3.1.2-22' if v == 5 else 'MQTT-3.1.2-24',
                             'Server did not close after 1.5 x Keep Alive without client traffic', W))
        k.bye()


@inv('subscribe-packet-id-zero', 4, 'SUBSCRIBE with Packet Identifier 0.')
def _(k):
    k.open()
    k.c(k.subscribe(0, ('lens/down/#', 1)).bad('MQTT-2.3.1-1', 'Packet Identifier 0', E))
    k.srv_abort(0x82)


@inv('server-packet-id-zero', 5, 'Server QoS 1 PUBLISH with Packet Identifier 0.')
def _(k):
    k.open()
    sub_down(k)
    k.s(k.publish('lens/down/a', b'x', qos=1, id=0).bad('MQTT-2.2.1-4', 'Packet Identifier 0', E))
    k.cli_abort(0x82)


@inv('packet-id-in-use-qos2', 5, 'New QoS 2 PUBLISH (DUP=0) re-using an identifier whose QoS 2 flow is unfinished.')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'first', qos=2, id=3))
    k.s(k.pubrec(3))
    k.c(k.publish('lens/up/a', b'second', qos=2, id=3).bad('MQTT-4.3.3-1, MQTT-2.2.1-3', 'Packet Identifier still in use', W))
    k.srv_abort(0x82)


@inv('packet-id-in-use-subscribe', 5, 'SUBSCRIBE re-using the identifier of an unacknowledged QoS 1 PUBLISH (shared pool).')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'x', qos=1, id=4))
    k.c(k.subscribe(4, ('lens/down/#', 1)).bad('MQTT-2.2.1-3', 'Packet Identifier still in use by a PUBLISH', W))
    k.srv_abort(0x82)


@inv('server-packet-id-in-use', 5, 'Server sends a new QoS 1 PUBLISH (DUP=0) re-using an identifier still awaiting PUBACK.')
def _(k):
    k.open()
    sub_down(k)
    k.s(k.publish('lens/down/a', b'first', qos=1, id=5))
    k.s(k.publish('lens/down/a', b'second', qos=1, id=5).bad('MQTT-4.3.2-1, MQTT-2.2.1-4', 'Packet Identifier still in use', W))
    k.cli_abort(0x82)




@inv('dup-retransmission-same-connection', 5, 'Client re-sends an unacknowledged QoS 1 PUBLISH (DUP=1) on the same connection.',
     notes='Legal in 3.1.1 (see tracking/v311-publish-dup-retransmission.pcap), forbidden in 5.0.')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'x', qos=1, id=2))
    k.wait(1)
    k.c(k.publish('lens/up/a', b'x', qos=1, id=2, dup=1).bad('MQTT-4.4.0-1', 'Retransmission within one connection', W))
    k.s(k.puback(2))
    k.bye()


@inv('retransmit-after-error-ack', 5, 'Client re-sends a QoS 1 PUBLISH (DUP=1) after a PUBACK with 0x80.')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'x', qos=1, id=3))
    k.s(k.puback(3, 0x80))
    k.c(k.publish('lens/up/a', b'x', qos=1, id=3, dup=1).bad('MQTT-4.4.0-2, MQTT-4.4.0-1',
                                                             'Retransmission after a failure acknowledgement', W))
    k.s(k.puback(3, 0x80))
    k.bye()


@inv('first-publish-dup', 5, 'Fresh session: the very first transmission of a QoS 1 PUBLISH has DUP=1.',
     notes='Heuristic rule: Clean Start 1, no earlier PUBLISH with this identifier.')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'x', qos=1, id=1, dup=1).bad('MQTT-4.3.2-2', 'First transmission must have DUP=0', W))
    k.s(k.puback(1))
    k.bye()


@inv('pubrec-out-of-order', 5, 'Client sends PUBRECs for two server QoS 2 PUBLISHes in reverse order.')
def _(k):
    k.open()
    sub_down(k, qos=2)
    k.s(k.publish('lens/down/a', b'1', qos=2, id=1))
    k.s(k.publish('lens/down/b', b'2', qos=2, id=2))
    k.c(k.pubrec(2).bad('MQTT-4.6.0-3', 'PUBRECs not in the order the PUBLISHes arrived', W))
    k.c(k.pubrec(1))
    k.s(k.pubrel(2))
    k.c(k.pubcomp(2))
    k.s(k.pubrel(1))
    k.c(k.pubcomp(1))
    k.bye()


@inv('pubrel-out-of-order', 5, 'Client sends PUBRELs in a different order than the PUBRECs arrived.')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'1', qos=2, id=1))
    k.c(k.publish('lens/up/b', b'2', qos=2, id=2))
    k.s(k.pubrec(1))
    k.s(k.pubrec(2))
    k.c(k.pubrel(2).bad('MQTT-4.6.0-4', 'PUBRELs not in the order the PUBRECs arrived', W))
    k.c(k.pubrel(1))
    k.s(k.pubcomp(2))
    k.s(k.pubcomp(1))
    k.bye()


def _bad_ack_code(name, summary, ids, rule, client_acks=False):
    @inv(name, 5, summary)
    def _(k):
        k.open()
        if not client_acks:
            if name.endswith('puback'):
                k.c(k.publish('lens/up/a', b'x', qos=1, id=1))
                k.s(k.puback(1, 0x81).bad(ids, rule, E))
            elif name.endswith('pubrec'):
                k.c(k.publish('lens/up/a', b'x', qos=2, id=1))
                k.s(k.pubrec(1, 0x92).bad(ids, rule, E))
            elif name.endswith('pubcomp'):
                k.c(k.publish('lens/up/a', b'x', qos=2, id=1))
                k.s(k.pubrec(1))
                k.c(k.pubrel(1))
                k.s(k.pubcomp(1, 0x80).bad(ids, rule, E))
            k.cli_abort(0x81)
        else:
            if name.endswith('pubrel'):
                k.c(k.publish('lens/up/a', b'x', qos=2, id=1))
                k.s(k.pubrec(1))
                k.c(k.pubrel(1, 0x80).bad(ids, rule, E))
            else:
                sub_down(k)
                k.s(k.publish('lens/down/a', b'x', qos=1, id=1))
                k.c(k.puback(1, 0x10).bad(ids, rule, E))
            k.srv_abort(0x81)


_bad_ack_code('reason-code-not-allowed-puback', 'Server PUBACK with reason code 0x81 (CONNACK/DISCONNECT only).',
              'MQTT-3.4.2-1', 'Reason code 0x81 is not allowed in PUBACK')
_bad_ack_code('reason-code-not-allowed-pubrec', 'Server PUBREC with reason code 0x92 (PUBREL/PUBCOMP only).',
              'MQTT-3.5.2-1', 'Reason code 0x92 is not allowed in PUBREC')
_bad_ack_code('reason-code-not-allowed-pubcomp', 'Server PUBCOMP with reason code 0x80.',
              'MQTT-3.7.2-1', 'Reason code 0x80 is not allowed in PUBCOMP')
_bad_ack_code('reason-code-not-allowed-pubrel', 'Client PUBREL with reason code 0x80.',
              'MQTT-3.6.2-1', 'Reason code 0x80 is not allowed in PUBREL', client_acks=True)
_bad_ack_code('puback-0x10-from-client', 'Client PUBACK with reason code 0x10 (No matching subscribers), which only a server may send.',
              'MQTT-3.4.2-1', 'PUBACK reason code 0x10 sent by the client', client_acks=True)


@inv('unsuback-count-mismatch', 5, 'UNSUBSCRIBE with two filters answered by an UNSUBACK with one reason code.')
def _(k):
    k.open()
    k.c(k.subscribe(1, ('lens/down/a', 1), ('lens/down/b', 1)))
    k.s(k.suback(1, 1, 1))
    k.c(k.unsubscribe(2, 'lens/down/a', 'lens/down/b'))
    k.s(k.unsuback(2, 0).bad('MQTT-3.11.3-1', 'UNSUBACK reason code count differs from the filter count', W))
    k.cli_abort(0x82)


@inv('unsuback-invalid-code', 5, 'UNSUBACK with reason code 0x01.')
def _(k):
    k.open()
    sub_down(k)
    k.c(k.unsubscribe(2, 'lens/down/#'))
    k.s(k.unsuback(2, 0x01).bad('MQTT-3.11.3-2', 'UNSUBACK reason code 0x01 is not allowed', E))
    k.cli_abort(0x81)


@inv('subscribe-options-reserved-bits', 5, 'SUBSCRIBE options byte with reserved bit 6 set (0x41).')
def _(k):
    k.open()
    k.c(k.subscribe(1, ('lens/down/#', 0x41)).bad('MQTT-3.8.3-5', 'Subscription Options reserved bits 7-6 must be 0', E))
    k.srv_abort(0x81)


@inv('subscribe-options-qos3', 5, 'SUBSCRIBE options Maximum QoS 3.')
def _(k):
    k.open()
    k.c(k.subscribe(1, ('lens/down/#', 0x03)).bad('5.0 §3.8.3.1', 'Subscription Options Maximum QoS 3', E))
    k.srv_abort(0x81)


@inv('subscribe-retain-handling-3', 5, 'SUBSCRIBE options Retain Handling 3.')
def _(k):
    k.open()
    k.c(k.subscribe(1, ('lens/down/#', 0x31)).bad('5.0 §3.8.3.1', 'Subscription Options Retain Handling 3', E))
    k.srv_abort(0x81)


@inv('shared-subscription-no-local', 5, 'Shared subscription ($share/grp/...) with No Local 1.')
def _(k):
    k.open()
    k.c(k.subscribe(1, ('$share/grp/lens/down/a', 0x05)).bad('MQTT-3.8.3-4', 'No Local 1 on a shared subscription', E))
    k.srv_abort(0x82)


@inv('shared-empty-sharename', 5, "Shared subscription filter '$share//lens/a' with an empty ShareName.")
def _(k):
    k.open()
    k.c(k.subscribe(1, ('$share//lens/a', 1)).bad('MQTT-4.8.2-1', 'ShareName must be at least one character', E))
    k.s(k.suback(1, 0x8F))
    k.bye()


@inv('shared-sharename-wildcard', 5, "Shared subscription filter '$share/g+x/lens/a' with '+' in the ShareName.")
def _(k):
    k.open()
    k.c(k.subscribe(1, ('$share/g+x/lens/a', 1)).bad('MQTT-4.8.2-2', "ShareName must not contain '/', '+' or '#'", E))
    k.s(k.suback(1, 0x8F))
    k.bye()


@inv('subscribe-qos-reserved-bits', 4, 'SUBSCRIBE requested-QoS byte with reserved bit 2 set (0x05).')
def _(k):
    k.open()
    k.c(k.subscribe(1, ('lens/down/#', 0x05)).bad('MQTT-3-8.3-4', 'Requested QoS byte: bits 7-2 must be 0', E))
    k.srv_abort(0x81)


@inv('subscribe-requested-qos3', 4, 'SUBSCRIBE requested QoS 3.')
def _(k):
    k.open()
    k.c(k.subscribe(1, ('lens/down/#', 0x03)).bad('MQTT-3-8.3-4', 'Requested QoS must not be 3', E))
    k.srv_abort(0x81)


# ---------------------------------------------------------------------- invalid: keep alive, DISCONNECT

@inv('server-keepalive-exceeded', 5, 'CONNACK Server Keep Alive 5 s (client asked 60 s); the client stays silent 6 s.',
     notes='Timing: the PINGREQ comes 6.000 s after the previous client packet; 6 s is below 1.5 x 5 s, '
           'so the server is right to still answer.')
def _(k):
    k.open(ack={'props': [(SERVER_KA, 5)]})
    k.wait_client(6.0)
    k.c(k.pingreq().bad('MQTT-3.1.2-21, MQTT-3.2.2-21', 'Client silent longer than the Server Keep Alive', W))
    k.s(k.pingresp())
    k.bye()


@inv('early-keepalive-timeout', 5, 'Keep Alive 60 s; the server sends DISCONNECT 0x8D (Keep Alive timeout) after 10 s of silence.',
     notes='Heuristic rule; timing: the DISCONNECT comes 10.000 s after the last client packet.')
def _(k):
    k.open()
    k.wait_client(10.0)
    k.s(k.disconnect(0x8D).bad('MQTT-3.2.2-22', 'Keep Alive timeout declared before 1.5 x Keep Alive of silence', W))
    k.close('s')


@inv('server-disconnect-before-connack', 5, 'Server sends DISCONNECT before any CONNACK.')
def _(k):
    k.c(k.connect())
    k.s(k.disconnect(0x82).bad('MQTT-3.14.0-1', 'Server DISCONNECT before CONNACK', W))
    k.close('s')


@inv('disconnect-reason-not-allowed', 5, 'Client DISCONNECT with reason code 0x8B (Server shutting down), a server-only code.')
def _(k):
    k.open()
    k.c(k.disconnect(0x8B).bad('MQTT-3.14.2-1', 'Reason code 0x8B may only be sent by the server', E))
    k.close('c')


@inv('server-disconnect-reason-0x04', 5, 'Server DISCONNECT with reason code 0x04 (Disconnect with Will Message), a client-only code.')
def _(k):
    k.open()
    k.s(k.disconnect(0x04).bad('MQTT-3.14.2-1', 'Reason code 0x04 may only be sent by the client', E))
    k.close('s')


@inv('disconnect-0x8c', 5, 'Server DISCONNECT with 0x8C (Bad authentication method), listed only in Table 2-6.',
     notes='The spec is inconsistent about 0x8C in DISCONNECT; the sheet says to report it as a note.')
def _(k):
    k.open()
    k.s(k.disconnect(0x8C).bad('MQTT-3.14.2-1', 'DISCONNECT 0x8C is listed in Table 2-6 but not in Table 3-10', N))
    k.close('s')


@inv('server-disconnect-session-expiry', 5, 'Server DISCONNECT carrying a Session Expiry Interval.')
def _(k):
    k.open()
    k.s(k.disconnect(0x8B, [(SESSION_EXPIRY, 0)]).bad('MQTT-3.14.2-2', 'Session Expiry Interval in a server DISCONNECT', E))
    k.close('s')


@inv('disconnect-session-expiry-raised', 5, 'CONNECT without Session Expiry; the client DISCONNECT sets it to 300.')
def _(k):
    k.open()
    k.c(k.disconnect(0, [(SESSION_EXPIRY, 300)]).bad('5.0 §3.14.2.2.2', 'Session Expiry raised from 0 on DISCONNECT', W))
    k.close('c')


@inv('server-sends-after-disconnect', 5, 'Server sends DISCONNECT 0x89 and then still a PUBLISH.')
def _(k):
    k.open()
    sub_down(k)
    k.s(k.disconnect(0x89))
    k.s(k.publish('lens/down/a', b'late').bad('MQTT-3.14.4-1, MQTT-4.13.2-1', 'Packet sent after own DISCONNECT', W))
    k.close('s')


# ---------------------------------------------------------------------- invalid: 5.0 enhanced authentication

@inv('auth-without-method', 5, 'During enhanced authentication the server AUTH 0x18 lacks the Authentication Method.')
def _(k):
    k.c(k.connect(props=am(SCRAM, AD_CLIENT1)))
    k.s(k.auth(0x18, [(AUTH_DATA, AD_SERVER1)]).bad('MQTT-4.12.0-5, 5.0 §3.15.2.2.2', 'AUTH without Authentication Method', E))
    k.cli_abort(0x82)


@inv('auth-method-changed', 5, 'The client AUTH 0x18 names a different Authentication Method than its CONNECT.')
def _(k):
    k.c(k.connect(props=am(SCRAM, AD_CLIENT1)))
    k.s(k.auth(0x18, am(SCRAM, AD_SERVER1)))
    k.c(k.auth(0x18, am('SCRAM-SHA-256', AD_CLIENT2)).bad('MQTT-4.12.0-5', 'Authentication Method differs from the CONNECT', W))
    k.refuse(0x8C)


@inv('connack-missing-auth-method', 5, 'Success CONNACK after an AUTH exchange without the Authentication Method.')
def _(k):
    k.c(k.connect(props=am(SCRAM, AD_CLIENT1)))
    k.s(k.auth(0x18, am(SCRAM, AD_SERVER1)))
    k.c(k.auth(0x18, am(SCRAM, AD_CLIENT2)))
    k.s(k.connack().bad('MQTT-4.12.0-5', 'Success CONNACK lacks the Authentication Method', W))
    k.cli_abort(0x82)


@inv('reauth-method-changed', 5, 'Re-authentication AUTH 0x19 names a different Authentication Method.')
def _(k):
    auth_open(k)
    k.c(k.auth(0x19, am('PLAIN', b'lens')).bad('MQTT-4.12.1-1', 'Re-authentication uses another Authentication Method', W))
    k.srv_abort(0x82)


@inv('server-auth-without-client-method', 5, 'Server sends AUTH 0x18 although the CONNECT had no Authentication Method.')
def _(k):
    k.c(k.connect())
    k.s(k.auth(0x18, am(SCRAM, AD_SERVER1)).bad('MQTT-4.12.0-6, 5.0 §3.15', 'AUTH without an Authentication Method in CONNECT', W))
    k.cli_abort(0x82)


@inv('client-auth-without-method', 5, 'Client sends AUTH 0x19 although its CONNECT had no Authentication Method.')
def _(k):
    k.open()
    k.c(k.auth(0x19, am(SCRAM, AD_CLIENT1)).bad('MQTT-4.12.0-7, 5.0 §3.15', 'AUTH without an Authentication Method in CONNECT', W))
    k.srv_abort(0x82)


@inv('connack-auth-method-unrequested', 5, 'CONNACK carries an Authentication Method although the CONNECT had none.')
def _(k):
    k.c(k.connect())
    k.s(k.connack(props=am(SCRAM)).bad('MQTT-4.12.0-6', 'Authentication Method in CONNACK without one in CONNECT', W))
    k.cli_abort(0x82)


@inv('server-auth-wrong-code', 5, 'During the initial exchange the server sends AUTH 0x00 instead of 0x18.')
def _(k):
    k.c(k.connect(props=am(SCRAM, AD_CLIENT1)))
    k.s(k.auth(0x00, am(SCRAM, AD_SERVER1)).bad('MQTT-4.12.0-2', 'Server AUTH before CONNACK must carry 0x18', W))
    k.cli_abort(0x82)


@inv('client-auth-wrong-code', 5, 'During the initial exchange the client answers with AUTH 0x19 instead of 0x18.')
def _(k):
    k.c(k.connect(props=am(SCRAM, AD_CLIENT1)))
    k.s(k.auth(0x18, am(SCRAM, AD_SERVER1)))
    k.c(k.auth(0x19, am(SCRAM, AD_CLIENT2)).bad('MQTT-4.12.0-3', 'Client AUTH before CONNACK must carry 0x18', W))
    k.refuse(0x82)


@inv('auth-reason-code-invalid', 5, 'Re-authentication answered by a server AUTH with reason code 0x87.')
def _(k):
    auth_open(k)
    k.c(k.auth(0x19, am(SCRAM, AD_CLIENT1)))
    k.s(k.auth(0x87, am(SCRAM)).bad('MQTT-3.15.2-1', 'AUTH reason code 0x87 is not allowed', E))
    k.cli_abort(0x82)


@inv('client-packet-during-auth', 5, 'Client sends a PUBLISH between its CONNECT (with Authentication Method) and the CONNACK.')
def _(k):
    k.c(k.connect(props=am(SCRAM, AD_CLIENT1)))
    k.s(k.auth(0x18, am(SCRAM, AD_SERVER1)))
    k.c(k.publish('lens/up/a', b'too early').bad('MQTT-3.1.2-30', 'Only AUTH or DISCONNECT allowed before CONNACK during authentication', W))
    k.refuse(0x82)


@inv('auth-rl0', 5, 'Re-authentication answered by an AUTH with Remaining Length 0 (no Authentication Method).',
     notes='§3.15.2.1 allows RL-0 AUTH, §3.15.2.2.2/[MQTT-4.12.0-5] require the method: reported as a warning.')
def _(k):
    auth_open(k)
    k.c(k.auth(0x19, am(SCRAM, AD_CLIENT1)))
    k.s(k.auth().bad('MQTT-4.12.0-5, 5.0 §3.15.2.2.2', 'AUTH with Remaining Length 0 carries no Authentication Method', W))
    k.bye()


@inv('reauth-failure-not-closed', 5, 'After a failed re-authentication (server DISCONNECT 0x87) the client still sends a PINGREQ.',
     notes='The PINGREQ comes 0.5 s after the DISCONNECT (not an in-flight packet).')
def _(k):
    auth_open(k)
    k.c(k.auth(0x19, am(SCRAM, AD_CLIENT1)))
    k.s(k.disconnect(0x87))
    k.wait(0.5)
    k.c(k.pingreq().bad('MQTT-4.12.1-2, MQTT-4.13.2-1', 'Connection used after a DISCONNECT with a failure code', W))
    k.close('s')


# ---------------------------------------------------------------------- invalid: server/receiver obligations (heuristic)

for _v in (5, 4):
    @inv('valid-clientid-rejected', _v, "Server rejects the Client Identifier 'lens01' (6 characters of 0-9a-zA-Z) "
         "with CONNACK %s." % ('0x85' if _v == 5 else '0x02'),
         notes='Heuristic rule: the server may have other reasons to refuse, but then should not use the '
               'identifier-rejected code.')
    def _(k, v=_v):
        k.c(k.connect(client_id='lens01'))
        k.s(k.connack(rc=0x85 if v == 5 else 0x02).bad(
            'MQTT-3.1.3-5', 'Server must accept a 1-23 character [0-9a-zA-Z] Client Identifier', W))
        k.close('s')

    @inv('malformed-connect-accepted', _v, 'CONNECT with the reserved flag bit set, accepted by the server with a '
         'success CONNACK.', notes='Two violations: the client\'s CONNECT and the server accepting it.')
    def _(k, v=_v):
        k.c(k.connect(flags=0x03).bad('MQTT-3.1.2-3', 'Connect Flags reserved bit 0 must be 0', E))
        k.s(k.connack().bad('MQTT-3.1.4-1', 'Server must close on a malformed CONNECT (%s)' %
                            ('no success CONNACK' if v == 5 else 'without any CONNACK'), W))
        k.c(k.pingreq())
        k.s(k.pingresp())
        k.bye()

    @inv('unanswered-unsubscribe', _v, 'UNSUBSCRIBE never answered while the connection carries on.',
         notes='Heuristic rule: later traffic is answered for 2 s, the UNSUBSCRIBE never.')
    def _(k):
        k.open()
        sub_down(k)
        k.c(k.unsubscribe(2, 'lens/down/#').bad('MQTT-3.10.4-4, MQTT-3.10.4-5', 'UNSUBSCRIBE never answered with UNSUBACK', W))
        k.c(k.publish('lens/up/a', b'x', qos=1, id=3))
        k.s(k.puback(3))
        k.wait(2)
        k.c(k.pingreq())
        k.s(k.pingresp())
        k.bye()

    @inv('pubrel-not-answered', _v, 'PUBREL never answered with PUBCOMP while the connection carries on.',
         notes='Heuristic rule: later traffic is answered for 2 s, the PUBREL never.')
    def _(k, v=_v):
        k.open()
        k.c(k.publish('lens/up/a', b'x', qos=2, id=1))
        k.s(k.pubrec(1))
        k.c(k.pubrel(1).bad('MQTT-4.3.3-11' if v == 5 else 'MQTT-4.3.3-2', 'PUBREL never answered with PUBCOMP', W))
        k.c(k.publish('lens/up/b', b'y', qos=1, id=2))
        k.s(k.puback(2))
        k.wait(2)
        k.c(k.pingreq())
        k.s(k.pingresp())
        k.bye()


@scenario('generated/invalid/v5-topic-alias-across-connections.pcap', 5,
          'Topic Alias 1 set on a first connection; a second connection uses it with an empty Topic Name and the '
          'server acknowledges normally.',
          notes='Two connections (stream 0 and 1). Two violations on stream 1: the client uses an alias that '
                'has no mapping on this connection, and the server accepts it as if the mapping had survived.',
          raw=True)
def _(cap):
    a = cap.conn()
    a.open(ack={'props': [(TOPIC_ALIAS_MAX, 5)]})
    a.c(a.publish('lens/up/a', b'1', props=[(TOPIC_ALIAS, 1)]))
    a.bye()
    b = cap.conn()
    b.open(ack={'props': [(TOPIC_ALIAS_MAX, 5)]})
    b.c(b.publish('', b'2', qos=1, id=1, props=[(TOPIC_ALIAS, 1)]).bad(
        '5.0 §3.3.4', 'Topic Alias 1 has no mapping on this connection (it was set on an earlier one)', W))
    b.s(b.puback(1).bad('MQTT-3.3.2-7', 'Server accepted an alias mapping from an earlier connection', W))
    b.bye()


# ---------------------------------------------------------------------- invalid group: MQTT 3.1 (level 3), valid 3.1

@inv('subscribe-dup-flag', 3, 'MQTT 3.1: a SUBSCRIBE retransmitted with DUP=1 (first byte 0x8A) - valid 3.1, invalid nibble in 3.1.1.',
     notes='On a level-3 connection a 3.1-aware analyser reports this as informational (note); the ids are the '
           '3.1.1 statements the same bytes would break.')
def _(k):
    k.open()
    k.c(k.subscribe(1, ('lens/down/#', 1)))
    k.wait(1)
    k.c(k.subscribe(1, ('lens/down/#', 1), first=0x8A).bad(
        'MQTT-3.8.1-1, MQTT-2.2.2-1', 'SUBSCRIBE flags 1010 (DUP retransmission): valid MQTT 3.1, reserved nibble in 3.1.1', N))
    k.s(k.suback(1, 1))
    k.bye()


@inv('pubrel-dup-flag', 3, 'MQTT 3.1: a PUBREL retransmitted with DUP=1 (first byte 0x6A) - valid 3.1, invalid nibble in 3.1.1.',
     notes='On a level-3 connection a 3.1-aware analyser reports this as informational (note); the ids are the '
           '3.1.1 statements the same bytes would break.')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'x', qos=2, id=1))
    k.s(k.pubrec(1))
    k.c(k.pubrel(1))
    k.wait(1)
    k.c(k.pubrel(1, first=0x6A).bad(
        'MQTT-3.6.1-1, MQTT-2.2.2-1', 'PUBREL flags 1010 (DUP retransmission): valid MQTT 3.1, reserved nibble in 3.1.1', N))
    k.s(k.pubcomp(1))
    k.bye()


@inv('unsubscribe-dup-flag', 3, 'MQTT 3.1: an UNSUBSCRIBE retransmitted with DUP=1 (first byte 0xAA) - valid 3.1, invalid nibble in 3.1.1.',
     notes='On a level-3 connection a 3.1-aware analyser reports this as informational (note).')
def _(k):
    k.open()
    sub_down(k)
    k.c(k.unsubscribe(2, 'lens/down/#'))
    k.wait(1)
    k.c(k.unsubscribe(2, 'lens/down/#', first=0xAA).bad(
        'MQTT-3.10.1-1, MQTT-2.2.2-1', 'UNSUBSCRIBE flags 1010 (DUP retransmission): valid MQTT 3.1, reserved nibble in 3.1.1', N))
    k.s(k.unsuback(2))
    k.bye()


# ---------------------------------------------------------------------- tracking (valid traffic)

def trk(name, v, summary, notes='', raw=False):
    return scenario('generated/tracking/%s%s.pcap' % ((VN[v] + '-') if v else '', name), v, summary,
                    notes, raw=raw)


class Lcg:
    """Tiny deterministic PRNG (64-bit LCG), independent of Python's random module."""

    def __init__(self, seed):
        self.x = seed & 0xFFFFFFFFFFFFFFFF

    def below(self, n):
        self.x = (self.x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        return (self.x >> 33) % n

    def shuffle(self, lst):
        for i in range(len(lst) - 1, 0, -1):
            j = self.below(i + 1)
            lst[i], lst[j] = lst[j], lst[i]
        return lst


for _v in (5, 4):
    @trk('basic', _v, 'Reference conversation with every %s packet type: CONNECT/CONNACK, SUBSCRIBE/SUBACK, '
         'QoS 0/1/2 PUBLISH both directions, UNSUBSCRIBE/UNSUBACK, PINGREQ/PINGRESP, DISCONNECT.'
         % ('5.0' if _v == 5 else '3.1.1'))
    def _(k, v=_v):
        k.open(username='lensuser')
        k.c(k.subscribe(1, ('lens/down/#', 2)))
        k.s(k.suback(1, 2))
        k.c(k.publish('lens/up/q0', b'qos0'))
        k.c(k.publish('lens/up/q1', b'qos1', qos=1, id=2))
        k.s(k.puback(2))
        k.c(k.publish('lens/up/q2', b'qos2', qos=2, id=3))
        k.s(k.pubrec(3))
        k.c(k.pubrel(3))
        k.s(k.pubcomp(3))
        k.s(k.publish('lens/down/q0', b'qos0'))
        k.s(k.publish('lens/down/q1', b'qos1', qos=1, id=1))
        k.c(k.puback(1))
        k.s(k.publish('lens/down/q2', b'qos2', qos=2, id=2))
        k.c(k.pubrec(2))
        k.s(k.pubrel(2))
        k.c(k.pubcomp(2))
        k.c(k.unsubscribe(4, 'lens/down/#'))
        k.s(k.unsuback(4, 0) if v == 5 else k.unsuback(4))
        k.c(k.pingreq())
        k.s(k.pingresp())
        k.bye()

    @trk('packet-id-reuse', _v, 'Packet Identifier 1 reused for new transactions after each flow completes '
         '(SUBSCRIBE, QoS 1, QoS 2, UNSUBSCRIBE), and used concurrently by client and server.',
         notes='Client and server identifiers are independent: C->S id 1 (frames 16-18) and S->C id 1 '
               '(frames 17-21) are open at the same time.')
    def _(k, v=_v):
        k.open()
        k.c(k.subscribe(1, ('lens/down/#', 2)))
        k.s(k.suback(1, 2))
        k.c(k.publish('lens/up/a', b'first use', qos=1, id=1))
        k.s(k.puback(1))
        k.c(k.publish('lens/up/b', b'second use', qos=2, id=1))
        k.s(k.pubrec(1))
        k.c(k.pubrel(1))
        k.s(k.pubcomp(1))
        k.s(k.publish('lens/down/a', b'server id 1', qos=1, id=1))
        k.c(k.puback(1))
        k.c(k.publish('lens/up/c', b'client id 1 again', qos=1, id=1).focus())
        k.s(k.publish('lens/down/b', b'server id 1 again', qos=2, id=1).focus())
        k.s(k.puback(1))
        k.c(k.pubrec(1))
        k.s(k.pubrel(1))
        k.c(k.pubcomp(1))
        k.c(k.unsubscribe(1, 'lens/down/#'))
        k.s(k.unsuback(1, 0) if v == 5 else k.unsuback(1))
        k.bye()

    @trk('interleaved-100-flows', _v, '100 interleaved QoS 1 and QoS 2 flows (50 client->server, 50 server->'
         'client); the server acknowledges out of order, the client in arrival order; several packets per '
         'segment; identifiers are reused as soon as they are free.',
         notes='Generated by a seeded scheduler. %sThe client acknowledges in arrival order as '
               '[MQTT-4.6.0-2..4] require; the server acknowledges in any order.'
               % ('Receive Maximum 10 in both directions is respected. ' if _v == 5 else
                  'At most 10 flows per direction are open at a time. '))
    def _(k, v=_v):
        interleaved_flows(k, v)

    @trk('mid-connection', _v, 'Capture that starts in the middle of a %s connection: no handshake, no CONNECT/'
         'CONNACK; PUBLISH/PUBACK, SUBSCRIBE/SUBACK, PINGREQ/PINGRESP, DISCONNECT.' % ('5.0' if _v == 5 else '3.1.1'),
         notes=('No TCP handshake and no CONNECT: the version must be inferred. The 5.0 packets are '
                'recognisable from their bytes: the first PUBACK has Remaining Length 4 (reason code 0x10 + '
                'Property Length 0), the SUBACK and SUBSCRIBE carry a Property Length.' if _v == 5 else
                'No TCP handshake and no CONNECT: the version must be inferred (PUBACK Remaining Length 2, '
                'no Property Length anywhere).'), raw=True)
    def _(cap, v=_v):
        k = cap.conn(handshake=False)
        if v == 5:
            k.c(k.publish('lens/up/mid', b'x', qos=1, id=41, props=[(USER_PROP, ('src', 'lens'))]))
            k.s(k.puback(41, 0x10, []).focus())
            k.c(k.subscribe(42, ('lens/down/#', 1), props=[]))
            k.s(k.suback(42, 1, props=[]))
            k.s(k.publish('lens/down/mid', b'y', qos=1, id=7))
            k.c(k.puback(7, 0x00, []))
            k.c(k.pingreq())
            k.s(k.pingresp())
            k.c(k.disconnect(0x00, []))
        else:
            k.c(k.publish('lens/up/mid', b'x', qos=1, id=41))
            k.s(k.puback(41).focus())
            k.c(k.subscribe(42, ('lens/down/#', 1)))
            k.s(k.suback(42, 1))
            k.s(k.publish('lens/down/mid', b'y', qos=1, id=7))
            k.c(k.puback(7))
            k.c(k.pingreq())
            k.s(k.pingresp())
            k.c(k.disconnect())
        k.close('c')

    @trk('unanswered-subscribe', _v, 'A SUBSCRIBE that is never answered while the rest of the connection works normally.',
         notes='Listed as a (heuristic) violation of [MQTT-3.8.4-1] because the connection stays up for 2 s '
               'with other traffic answered.')
    def _(k):
        k.open()
        k.c(k.subscribe(1, ('lens/down/#', 1)).bad('MQTT-3.8.4-1', 'SUBSCRIBE never answered with SUBACK', W))
        k.c(k.publish('lens/up/a', b'x', qos=1, id=2))
        k.s(k.puback(2))
        k.wait(2)
        k.c(k.pingreq())
        k.s(k.pingresp())
        k.bye()

    @trk('qos2-half-done', _v, 'QoS 2 flow left half done: PUBLISH, PUBREC, then the client DISCONNECTs '
         '(persistent session, flow continues on a later connection).',
         notes='Clean Start/CleanSession 0%s: the PUBREL may legitimately follow on the next connection, so '
               'the open PUBREC is "unanswered" but no violation.' % (' with Session Expiry 3600 s' if _v == 5 else ''))
    def _(k, v=_v):
        k.open(clean=False, props=[(SESSION_EXPIRY, 3600)] if v == 5 else ())
        k.c(k.publish('lens/up/a', b'exactly once', qos=2, id=1))
        k.s(k.pubrec(1).focus())
        k.bye()

    @trk('keepalive-pings', _v, 'Keep Alive 5 s: five PINGREQ/PINGRESP rounds exactly 5 s apart, then DISCONNECT.',
         notes='Timing matters: each PINGREQ comes exactly 5.000 s after the previous client packet (gap == '
               'Keep Alive, allowed), each PINGRESP 20 ms later.')
    def _(k):
        k.open(keepalive=5)
        for _i in range(5):
            k.wait_client(5.0)
            k.c(k.pingreq().focus())
            k.wait(0.019)
            k.s(k.pingresp())
        k.wait_client(3.0)
        k.bye()

    @trk('fin-without-disconnect', _v, 'The client closes the TCP connection (FIN) without sending DISCONNECT.',
         notes='Not a violation (the Will would be published); analysers should note the abnormal close.')
    def _(k):
        k.open()
        k.c(k.publish('lens/up/a', b'x', qos=1, id=1))
        k.s(k.puback(1))
        k.close('c')


def interleaved_flows(k, v):
    rng = Lcg(0x6D71747400 + v)
    rm = 10
    if v == 5:
        k.open(props=[(RECEIVE_MAX, rm)], ack={'props': [(RECEIVE_MAX, rm)]})
    else:
        k.open()
    k.c(k.subscribe(1, ('bulk/down/#', 2)))
    k.s(k.suback(1, 2))
    todo = {d: rng.shuffle([1] * 25 + [2] * 25) for d in ('c2s', 's2c')}
    count = {'c2s': 0, 's2c': 0}
    flows = {'c2s': {}, 's2c': {}}
    c_pubrel, c_puback, c_pubrec, c_pubcomp = [], [], [], []   # client FIFOs
    s_ack, s_pubrel = [], []                                  # server: any order

    def free_id(owner):
        i = 1
        while i in flows[owner]:
            i += 1
        return i

    def actions(side):
        acts = []
        if side == 'c2s':
            if todo['c2s'] and len(flows['c2s']) < rm:
                acts.append(('new', None))
            for q, name in ((c_pubrel, 'pubrel'), (c_puback, 'puback'), (c_pubrec, 'pubrec'),
                            (c_pubcomp, 'pubcomp')):
                if q:
                    acts.append((name, q[0]))
        else:
            if todo['s2c'] and len(flows['s2c']) < rm:
                acts.append(('new', None))
            acts += s_ack
            acts += [('pubrel', i) for i in s_pubrel]
        return acts

    def do(side, act):
        name, i = act
        if name == 'new':
            qos = todo[side].pop(0)
            i = free_id(side)
            flows[side][i] = qos
            count[side] += 1
            n = count[side]
            if side == 'c2s':
                s_ack.append(('puback' if qos == 1 else 'pubrec', i))
                return k.publish('bulk/up/%d' % n, b'reading %d' % n, qos=qos, id=i)
            (c_puback if qos == 1 else c_pubrec).append(i)
            return k.publish('bulk/down/%d' % n, b'command %d' % n, qos=qos, id=i)
        if side == 'c2s':
            if name == 'pubrel':
                c_pubrel.pop(0)
                s_ack.append(('pubcomp', i))
                return k.pubrel(i)
            if name == 'puback':
                c_puback.pop(0)
                del flows['s2c'][i]
                return k.puback(i)
            if name == 'pubrec':
                c_pubrec.pop(0)
                s_pubrel.append(i)
                return k.pubrec(i)
            c_pubcomp.pop(0)
            del flows['s2c'][i]
            return k.pubcomp(i)
        if name == 'pubrel':
            s_pubrel.remove(i)
            c_pubcomp.append(i)
            return k.pubrel(i)
        s_ack.remove(act)
        if name == 'puback':
            del flows['c2s'][i]
            return k.puback(i)
        if name == 'pubrec':
            c_pubrel.append(i)
            return k.pubrec(i)
        del flows['c2s'][i]
        return k.pubcomp(i)

    while True:
        sides = [d for d in ('c2s', 's2c') if actions(d)]
        if not sides:
            break
        side = sides[rng.below(len(sides))]
        pkts = []
        for _i in range(1 + rng.below(3)):
            acts = actions(side)
            if not acts:
                break
            pkts.append(do(side, acts[rng.below(len(acts))]))
        k.send(side, *pkts)
    assert not any(todo.values()) and not flows['c2s'] and not flows['s2c']
    assert count == {'c2s': 50, 's2c': 50}
    k.bye()


@trk('topic-alias-both-directions', 5, 'Topic aliases set, used and remapped in both directions; alias 1 means '
     'different topics C->S and S->C; C->S aliases <= 2 (CONNACK Topic Alias Maximum), S->C aliases <= 3 '
     '(CONNECT Topic Alias Maximum).',
     notes='"topics" gives the resolved topic of every PUBLISH that carries a Topic Alias. C->S alias 1 is '
           'remapped from sensors/temp to sensors/pressure, S->C alias 3 from cmd/fan to cmd/pump.')
def _(k):
    k.open(props=[(TOPIC_ALIAS_MAX, 3)], ack={'props': [(TOPIC_ALIAS_MAX, 2)]})
    k.c(k.subscribe(1, ('cmd/#', 1)))
    k.s(k.suback(1, 1))
    ta = lambda n: [(TOPIC_ALIAS, n)]
    k.c(k.publish('sensors/temp', b'21.5', props=ta(1)).focus())
    k.c(k.publish('', b'21.6', props=ta(1)).focus())
    k.s(k.publish('cmd/led', b'on', props=ta(1)).focus())
    k.c(k.publish('sensors/hum', b'40', qos=1, id=2, props=ta(2)))
    k.s(k.puback(2))
    k.s(k.publish('', b'off', qos=1, id=1, props=ta(1)).focus())
    k.c(k.puback(1))
    k.c(k.publish('', b'41', props=ta(2)))
    k.s(k.publish('cmd/fan', b'50%', props=ta(3)))
    k.c(k.publish('sensors/pressure', b'1013', props=ta(1)).focus())
    k.c(k.publish('', b'1012', qos=1, id=3, props=ta(1)).focus())
    k.s(k.puback(3))
    k.s(k.publish('', b'60%', props=ta(3)))
    k.s(k.publish('cmd/pump', b'start', props=ta(3)).focus())
    k.s(k.publish('', b'stop', props=ta(3)).focus())
    k.s(k.publish('', b'blink', props=ta(1)))
    k.c(k.publish('', b'42', props=ta(2)))
    k.bye()


@trk('publish-dup-retransmission', 4, 'QoS 1 PUBLISH retransmitted with DUP=1 after 2 s (legal in 3.1.1), then '
     'acknowledged once.',
     notes='Both transmissions are linked to the single PUBACK; the link from the DUP copy has '
           '"retransmission": true.')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'x', qos=1, id=5).focus())
    k.wait(2)
    k.c(k.publish('lens/up/a', b'x', qos=1, id=5, dup=1).focus())
    k.s(k.puback(5))
    k.bye()


@trk('keepalive-timeout', 5, 'Keep Alive 5 s: the client goes silent; after 7.6 s the server sends DISCONNECT 0x8D '
     '(Keep Alive timeout) and closes.',
     notes='Timing: the server DISCONNECT comes 7.600 s after the last client packet (> 1.5 x 5 s). The client '
           'broke [MQTT-3.1.2-20]; the violation is reported on the server DISCONNECT frame, the first frame '
           'after the deadline. The server behaves correctly.')
def _(k):
    k.open(keepalive=5)
    k.c(k.publish('lens/up/a', b'last words'))
    k.wait_client(7.6)
    k.s(k.disconnect(0x8D).bad('MQTT-3.1.2-20', 'Client silent longer than Keep Alive (5 s); server timed it out', W))
    k.close('s')


@trk('keepalive-expiry-server-closes', 4, 'Keep Alive 5 s: the client goes silent after a PUBLISH; 7.6 s later the '
     'server closes the TCP connection (FIN), without any further MQTT packet.',
     notes='The client broke [MQTT-3.1.2-23]; with no later MQTT packet the violation is judged at the close and '
           'reported on the connection\'s last MQTT packet, naming the server as the side that closed. The server '
           'closed after 1.5 x Keep Alive as [MQTT-3.1.2-24] requires.')
def _(k):
    k.open(keepalive=5)
    k.c(k.publish('lens/up/a', b'last words').bad('MQTT-3.1.2-23', 'Client silent longer than Keep Alive until the '
                                                  'server closed the connection', W))
    k.wait_client(7.6)
    k.close('s')


@trk('keepalive-server-keep-alive-closes', 5, 'CONNECT Keep Alive 60 s, CONNACK Server Keep Alive 4 s: the client goes '
     'silent for 6.2 s (within its own 60 s, over the 4 s it must use) until the server closes the TCP connection.',
     notes='Server Keep Alive replaces the client\'s value ([MQTT-3.1.2-21], [MQTT-3.2.2-21]); judged at the close, '
           'on the connection\'s last MQTT packet. The server closes after 1.5 x 4 s, as it must.')
def _(k):
    k.open(keepalive=60, ack={'props': [(SERVER_KA, 4)]})
    k.c(k.publish('lens/up/a', b'last words').bad('MQTT-3.2.2-21', 'Client silent longer than the Server Keep Alive', W))
    k.wait_client(6.2)
    k.close('s')


@trk('keepalive-expiry-capture-ends', 4, 'Keep Alive 2 s: the client goes silent after a PUBLISH; the connection is '
     'still open 10 s later, when a last TCP segment (an ACK) ends the capture.',
     notes='Judged at the end of the capture: the client broke [MQTT-3.1.2-23] and the server did not close after '
           '1.5 x Keep Alive ([MQTT-3.1.2-24]); both on the connection\'s last MQTT packet.')
def _(k):
    k.open(keepalive=2)
    k.c(k.publish('lens/up/a', b'last words').bad('MQTT-3.1.2-23', 'Client silent longer than Keep Alive', W)
        .bad('MQTT-3.1.2-24', 'Connection open after 1.5 x Keep Alive of client silence', W))
    k.wait_client(10)
    k.ack('s2c')


@trk('keepalive-silence-within-limits', 5, 'Keep Alive 10 s: the client is silent for 8 s and then closes the TCP '
     'connection without DISCONNECT; on a second connection Keep Alive is 0 and the client is silent for 100 s until '
     'the server closes.', notes='Valid: 8 s is within Keep Alive, and Keep Alive 0 turns the mechanism off '
     '(5.0 section 3.1.2.10, 3.1.1 section 3.1.2.10).', raw=True)
def _(cap):
    k = cap.conn()
    k.open(keepalive=10, client_id='lens-ka10')
    k.c(k.publish('lens/up/a', b'x'))
    k.wait_client(8)
    k.close('c')
    k = cap.conn()
    k.open(keepalive=0, client_id='lens-ka0')
    k.c(k.publish('lens/up/b', b'y'))
    k.wait_client(100)
    k.close('s')


@trk('suback-300-filters', 4, 'SUBSCRIBE with 300 Topic Filters: the first 44 at QoS 0, the others at QoS 2; the '
     'SUBACK grants each what it asked for; the server delivers QoS 2 on lens/f/50 and lens/f/299 and QoS 0 on lens/f/3.',
     notes='Valid. The n-th SUBACK return code is for the n-th filter ([MQTT-3.9.3-1]), also past 256 filters: '
           'lens/f/50 was granted QoS 2, so its QoS 2 delivery is within what was granted.')
def _(k):
    k.open()
    filters = [('lens/f/%d' % i, 0 if i < 44 else 2) for i in range(300)]
    k.c(k.subscribe(1, *filters))
    k.s(k.suback(1, *[q for _f, q in filters]))
    k.s(k.publish('lens/f/50', b'fifty', qos=2, id=1).focus())
    k.c(k.pubrec(1))
    k.s(k.pubrel(1))
    k.c(k.pubcomp(1))
    k.s(k.publish('lens/f/299', b'last', qos=2, id=2).focus())
    k.c(k.pubrec(2))
    k.s(k.pubrel(2))
    k.c(k.pubcomp(2))
    k.s(k.publish('lens/f/3', b'three'))
    k.bye()


@trk('suback-repeated-filter', 4, 'SUBSCRIBE lens/a at QoS 2, lens/b at QoS 0, lens/a again at QoS 0; the SUBACK '
     'grants 2, 0, 0; the server delivers QoS 0 on lens/a and lens/b.',
     notes='Valid: a repeated filter replaces the earlier subscription ([MQTT-3.8.4-3]) and the SUBACK has a return '
           'code per filter ([MQTT-3.8.4-5]); each code is matched to its own position, so lens/b was granted 0 '
           'as it asked.')
def _(k):
    k.open()
    k.c(k.subscribe(1, ('lens/a', 2), ('lens/b', 0), ('lens/a', 0)))
    k.s(k.suback(1, 2, 0, 0).focus())
    k.s(k.publish('lens/a', b'a'))
    k.s(k.publish('lens/b', b'b'))
    k.bye()


@trk('suback-full-table', 4, 'Ten SUBSCRIBEs of 4,096 Topic Filters in all at QoS 0, each granted; then a SUBSCRIBE '
     'of lens/new at QoS 2 and g/5 (again) at QoS 0, granted 2 and 0.',
     notes='Valid. The subscription table holds 4,096 filters (analysis.state_limit on the last SUBSCRIBE, a Note): '
           'lens/new is not kept, and g/5 still gets the second return code, its own.')
def _(k):
    k.open()
    for n in range(10):
        part = [('g/%d' % i, 0) for i in range(n * 410, min(4096, (n + 1) * 410))]
        k.c(k.subscribe(n + 1, *part))
        k.s(k.suback(n + 1, *[0] * len(part)))
    k.c(k.subscribe(11, ('lens/new', 2), ('g/5', 0)).focus())
    k.s(k.suback(11, 2, 0).focus())
    k.bye()


@trk('enhanced-auth', 5, "Enhanced authentication: CONNECT with Authentication Method 'SCRAM-SHA-1' + data, S->C AUTH "
     "0x18, C->S AUTH 0x18, CONNACK success with the method; later a re-authentication AUTH 0x19 -> AUTH 0x00.",
     notes='AUTH-AUTH links pair each AUTH with the next AUTH from the other side; the last client AUTH of '
           'the initial exchange is answered by the CONNACK (covered by the CONNECT-CONNACK link).')
def _(k):
    auth_open(k)
    k.c(k.publish('lens/up/a', b'x', qos=1, id=1))
    k.s(k.puback(1))
    k.c(k.auth(0x19, am(SCRAM, b'n,,n=lens,r=lensClientNonce02')).focus())
    k.s(k.auth(0x00, am(SCRAM, b'v=cmVhdXRoZW50aWNhdGVkb2s=')).focus())
    k.c(k.publish('lens/up/b', b'y', qos=1, id=2))
    k.s(k.puback(2))
    k.bye()


@trk('pubrel-after-failed-pubrec', 5, 'Client sends PUBREL although the PUBREC carried 0x80 (the flow ended there); '
     'the server answers PUBCOMP 0x92 (Packet Identifier not found).',
     notes='No MUST is broken: [MQTT-4.3.3-4] requires a PUBREL after a PUBREC with a Reason Code below 0x80 '
           'only, and after a failed PUBREC the Packet Identifier is free (5.0 section 2.2.1), so the PUBREL is '
           'noted (analysis.pubrel_after_failed_pubrec, a Note), linked to its PUBREC, and the PUBCOMP 0x92 answers it.')
def _(k):
    k.open()
    k.c(k.publish('lens/up/a', b'x', qos=2, id=1))
    k.s(k.pubrec(1, 0x80))
    k.c(k.pubrel(1).focus())
    k.s(k.pubcomp(1, 0x92))
    k.bye()


@trk('session-resume-dup', 5, 'CONNECT Clean Start 0 + Session Expiry, CONNACK Session Present 1, then the resend '
     'burst: client DUP PUBLISH and PUBREL, server DUP PUBLISH and PUBREL for flows of the previous connection.',
     notes='Session caveat (sheet section 7.2): with Session Present 1 the DUP=1 resends and the PUBRELs for '
           'identifiers never seen on this connection are legitimate, so there is no "unsolicited" entry and '
           'no violation.')
def _(k):
    k.resumed = True
    k.open(clean=False, props=[(SESSION_EXPIRY, 3600)], ack={'sp': 1})
    k.c(k.publish('lens/up/a', b'unacked before', qos=1, id=7, dup=1).focus())
    k.c(k.pubrel(8).focus())
    k.s(k.publish('lens/down/b', b'unacked before', qos=2, id=3, dup=1).focus())
    k.s(k.pubrel(4).focus())
    k.s(k.puback(7))
    k.s(k.pubcomp(8))
    k.c(k.pubrec(3))
    k.c(k.pubcomp(4))
    k.s(k.pubrel(3))
    k.c(k.pubcomp(3))
    k.bye()


for _v in (4, 5):
    @trk('session-resume-across-connections', _v,
         'Two sessions that survive their connection (Clean Session / Clean Start 0, 5.0 with a Session Expiry '
         'Interval): the client of one publishes QoS 1 and 2 and loses its connection before the acknowledgements; '
         'the server of the other delivers QoS 1 and 2 and loses the connection. Each reconnects with Session '
         'Present 1: the client re-sends its three PUBLISHes with DUP 1, the server its two and a queued message '
         'it never sent before, also with DUP 1.',
         notes='Valid traffic ([MQTT-4.4.0-1]): every DUP copy of a resumed session is legal, not only the first, '
               'and a server may set DUP on a queued message. "resends" lists each copy with its original on the '
               'earlier connection of the same client id and broker (mqttlens.retransmission_of); the queued '
               'message has none. The first connections end without DISCONNECT and their PUBLISHes stay '
               'unanswered there.', raw=True)
    def _(cap, v=_v):
        keep = dict(clean=False, props=[(SESSION_EXPIRY, 3600)] if v == 5 else ())
        k = cap.conn()
        k.open(client_id='lens-resume-c', **keep)
        sent = [('lens/up/a', b'one', 1, 1), ('lens/up/b', b'two', 2, 2), ('lens/up/c', b'three', 1, 3)]
        orig = [k.c(k.publish(t, body, qos=q, id=i)) for t, body, q, i in sent]
        k.close('c')
        k = cap.conn()
        k.resumed = True
        k.open(client_id='lens-resume-c', ack={'sp': 1}, **keep)
        for (t, body, q, i), o in zip(sent, orig):
            cap.resends.append((k.c(k.publish(t, body, qos=q, id=i, dup=1).focus()), o))
        k.s(k.puback(1))
        k.s(k.pubrec(2))
        k.c(k.pubrel(2))
        k.s(k.pubcomp(2))
        k.s(k.puback(3))
        k.bye()

        k = cap.conn()
        k.open(client_id='lens-resume-s', **keep)
        k.c(k.subscribe(1, ('lens/down/#', 2)))
        k.s(k.suback(1, 2))
        orig = [k.s(k.publish('lens/down/a', b'ten', qos=1, id=10)), k.s(k.publish('lens/down/b', b'eleven', qos=2, id=11))]
        k.close('s')
        k = cap.conn()
        k.resumed = True
        k.open(client_id='lens-resume-s', ack={'sp': 1}, **keep)
        cap.resends.append((k.s(k.publish('lens/down/a', b'ten', qos=1, id=10, dup=1).focus()), orig[0]))
        cap.resends.append((k.s(k.publish('lens/down/b', b'eleven', qos=2, id=11, dup=1).focus()), orig[1]))
        k.s(k.publish('lens/down/c', b'queued', qos=1, id=12, dup=1).focus())
        k.c(k.puback(10))
        k.c(k.pubrec(11))
        k.s(k.pubrel(11))
        k.c(k.pubcomp(11))
        k.c(k.puback(12))
        k.bye()


@trk('basic', 3, 'Valid MQTT 3.1 conversation (protocol name MQIsdp, level 3): CONNECT, CONNACK, SUBSCRIBE, '
     'SUBACK, QoS 0/1/2 PUBLISH, PINGREQ, DISCONNECT.')
def _(k):
    k.open()
    k.c(k.subscribe(1, ('lens/down/#', 1)))
    k.s(k.suback(1, 1))
    k.c(k.publish('lens/up/q0', b'qos0'))
    k.c(k.publish('lens/up/q1', b'qos1', qos=1, id=2))
    k.s(k.puback(2))
    k.c(k.publish('lens/up/q2', b'qos2', qos=2, id=3))
    k.s(k.pubrec(3))
    k.c(k.pubrel(3))
    k.s(k.pubcomp(3))
    k.s(k.publish('lens/down/x', b'down', qos=1, id=1))
    k.c(k.puback(1))
    k.c(k.pingreq())
    k.s(k.pingresp())
    k.bye()


@trk('two-connections', 5, 'Two interleaved 5.0 connections from different client ports; both use Topic Alias 1 '
     'and Packet Identifier 1 for different things.',
     notes='Frames carry "stream" (0 = first connection, client port in "streams"). Alias tables, identifier '
           'pools and the CONNECT/CONNACK state are per connection.', raw=True)
def _(cap):
    a = cap.conn()
    b = cap.conn()
    a.c(a.connect(client_id='lensA'))
    b.c(b.connect(client_id='lensB'))
    b.s(b.connack(props=[(TOPIC_ALIAS_MAX, 4)]))
    a.s(a.connack(props=[(TOPIC_ALIAS_MAX, 4)]))
    a.c(a.publish('room/a', b'1', qos=1, id=1, props=[(TOPIC_ALIAS, 1)]))
    b.c(b.publish('room/b', b'2', qos=1, id=1, props=[(TOPIC_ALIAS, 1)]))
    b.s(b.puback(1))
    a.c(a.publish('', b'3', props=[(TOPIC_ALIAS, 1)]).focus())
    b.c(b.publish('', b'4', props=[(TOPIC_ALIAS, 1)]).focus())
    a.s(a.puback(1))
    a.bye()
    b.bye()


# ---------------------------------------------------------------------- journeys (several clients, one broker)
#
# A capture on the broker's host: the publishers' and the subscribers' connections to one
# broker (10.0.0.2:1883).  cap.journeys records which delivery belongs to which publication;
# the manifest lists it by frame under "journeys".

def jny(name, version, summary, notes=''):
    return scenario('generated/journeys/%s.pcap' % name, version, summary,
                    notes='Valid traffic; "journeys" in the manifest lists each delivery (the '
                          "broker's PUBLISH to a subscriber) with the frame of its origin, or "
                          '"ambiguous" with the candidates, and each "missed" delivery. ' + notes,
                    raw=True)


def j_client(cap, client_id, filters=(), granted=None, ver=None, will=None, ack_props=(), clean=True, sp=0):
    """A connection with CONNECT/CONNACK and, when filters are given, SUBSCRIBE/SUBACK."""
    k = cap.conn(ver)
    k.client_id = client_id
    k.c(k.connect(client_id=client_id, will=will, clean=clean,
                  props=[(TOPIC_ALIAS_MAX, 8)] if k.ver == 5 else ()))
    k.s(k.connack(sp=sp, props=list(ack_props)))
    if filters:
        k.c(k.subscribe(1, *filters))
        k.s(k.suback(1, *(granted if granted is not None else [o & 3 for _f, o in filters])))
    return k


def j_deliver(cap, origin, k, topic, payload, qos=0, id=None, kind='forwarded', **kw):
    """The broker's PUBLISH of `origin` to subscriber k, acknowledged by k."""
    d = k.s(k.publish(topic, payload, qos=qos, id=id, **kw))
    cap.journeys.append((d, origin, kind, k.client_id))
    j_ack_from_client(k, qos, id)
    return d


def j_ack_from_client(k, qos, id):
    if qos == 1:
        k.c(k.puback(id))
    elif qos == 2:
        k.c(k.pubrec(id))
        k.s(k.pubrel(id))
        k.c(k.pubcomp(id))


def j_publish(k, topic, payload, qos=0, id=None, ack=True, **kw):
    """A client's PUBLISH (an origin), acknowledged by the broker."""
    p = k.c(k.publish(topic, payload, qos=qos, id=id, **kw))
    if ack and qos == 1:
        k.s(k.puback(id))
    elif ack and qos == 2:
        k.s(k.pubrec(id))
        k.c(k.pubrel(id))
        k.s(k.pubcomp(id))
    return p


def j_end(*conns):
    for k in conns:
        k.bye()


@jny('v311-fan-out', 4, 'One publisher, three subscribers of one broker: each QoS 1 and QoS 2 publication is '
     'delivered to every matching subscription, downgraded to the QoS each was granted.',
     notes='sub-q0 was granted QoS 0, sub-q1 QoS 1, sub-q2 QoS 2 (filters lens/fan/#, lens/fan/+, lens/+/x).')
def _(cap):
    pub = j_client(cap, 'pub')
    s0 = j_client(cap, 'sub-q0', [('lens/fan/#', 0)])
    s1 = j_client(cap, 'sub-q1', [('lens/fan/+', 1)])
    s2 = j_client(cap, 'sub-q2', [('lens/+/x', 2)])
    o = j_publish(pub, 'lens/fan/x', b'21.5', qos=1, id=1)
    j_deliver(cap, o, s1, 'lens/fan/x', b'21.5', qos=1, id=1)
    j_deliver(cap, o, s0, 'lens/fan/x', b'21.5', qos=0)
    j_deliver(cap, o, s2, 'lens/fan/x', b'21.5', qos=1, id=1)
    o = j_publish(pub, 'lens/fan/x', b'22.0', qos=2, id=2)
    j_deliver(cap, o, s2, 'lens/fan/x', b'22.0', qos=2, id=2)
    j_deliver(cap, o, s0, 'lens/fan/x', b'22.0', qos=0)
    j_deliver(cap, o, s1, 'lens/fan/x', b'22.0', qos=1, id=2)
    o = j_publish(pub, 'lens/fan/y', b'only two')
    j_deliver(cap, o, s0, 'lens/fan/y', b'only two')
    j_deliver(cap, o, s1, 'lens/fan/y', b'only two')
    j_end(pub, s0, s1, s2)


@jny('v311-overlapping-subscriptions', 4, 'A subscriber with two overlapping subscriptions, lens/ov/# granted QoS 2 '
     'and lens/ov/+ granted QoS 1: a QoS 2 publication is delivered once at QoS 2, a QoS 1 one once at QoS 1.',
     notes='3.1.1 requires the maximum QoS of all matching subscriptions ([MQTT-3.3.5-1]), no more than the '
           'publication\'s own ([MQTT-3.8.4-6]).')
def _(cap):
    pub = j_client(cap, 'ov-pub')
    sub = j_client(cap, 'ov-sub', [('lens/ov/#', 2), ('lens/ov/+', 1)])
    o = j_publish(pub, 'lens/ov/x', b'two', qos=2, id=1)
    j_deliver(cap, o, sub, 'lens/ov/x', b'two', qos=2, id=1)
    o = j_publish(pub, 'lens/ov/y', b'one', qos=1, id=2)
    j_deliver(cap, o, sub, 'lens/ov/y', b'one', qos=1, id=2)
    for k in (pub, sub):
        k.bye()


@jny('v5-overlapping-subscriptions', 5, 'A 5.0 subscriber with two overlapping subscriptions, lens/ov/# granted QoS 2 '
     'and lens/ov/+ granted QoS 1: the broker sends a QoS 2 publication twice, one copy per subscription, at QoS 2 '
     'and at QoS 1.',
     notes='5.0 lets the server deliver a copy per matching subscription, each at that subscription\'s QoS, as '
           'long as one respects the maximum ([MQTT-3.3.4-2]): the QoS 1 copy is legal.')
def _(cap):
    pub = j_client(cap, 'ov-pub5')
    sub = j_client(cap, 'ov-sub5', [('lens/ov/#', 2), ('lens/ov/+', 1)])
    o = j_publish(pub, 'lens/ov/x', b'two', qos=2, id=1)
    j_deliver(cap, o, sub, 'lens/ov/x', b'two', qos=2, id=1)
    j_deliver(cap, o, sub, 'lens/ov/x', b'two', qos=1, id=2)
    for k in (pub, sub):
        k.bye()


@scenario('generated/invalid/v311-overlapping-subscriptions-qos-downgraded.pcap', 4,
          'A subscriber with overlapping subscriptions granted QoS 2 (lens/ov/#) and QoS 1 (lens/ov/+) gets a QoS 2 '
          'publication once, at QoS 1.',
          notes='3.1.1 [MQTT-3.3.5-1]: the server must deliver respecting the maximum QoS of all matching '
                'subscriptions, here 2. "journeys" lists the delivery with its origin.', raw=True)
def _(cap):
    pub = j_client(cap, 'ov-pub')
    sub = j_client(cap, 'ov-sub', [('lens/ov/#', 2), ('lens/ov/+', 1)])
    o = j_publish(pub, 'lens/ov/x', b'two', qos=2, id=1)
    d = sub.s(sub.publish('lens/ov/x', b'two', qos=1, id=1).bad('MQTT-3.3.5-1', 'Delivered below the maximum QoS of '
                                                                 'the matching subscriptions', W))
    cap.journeys.append((d, o, 'forwarded', sub.client_id))
    j_ack_from_client(sub, 1, 1)
    for k in (pub, sub):
        k.bye()


# ---- jq16: further copies per matching subscription (3.1.1 §3.3.5) ----
@jny('v311-overlapping-copies', 4, 'A subscriber with overlapping subscriptions granted QoS 0 (a/#) and QoS 2 (a/b) '
     'gets each QoS 2 publication twice, as mosquitto sends it: first the QoS 0 copy of a/#, then the QoS 2 copy of '
     'a/b; a third publication comes in the other order.',
     notes='3.1.1 [MQTT-3.3.5-1]: the server must deliver respecting the maximum QoS of all matching subscriptions '
           'and may deliver further copies, one per other matching subscription at its QoS: no finding, whatever '
           'the order of the copies.')
def _(cap):
    pub = j_client(cap, 'copies-pub')
    sub = j_client(cap, 'copies-sub', [('a/#', 0), ('a/b', 2)])
    for n, payload in enumerate((b'low first', b'low first again'), 1):
        o = j_publish(pub, 'a/b', payload, qos=2, id=n)
        j_deliver(cap, o, sub, 'a/b', payload)
        j_deliver(cap, o, sub, 'a/b', payload, qos=2, id=n)
    o = j_publish(pub, 'a/b', b'max first', qos=2, id=3)
    j_deliver(cap, o, sub, 'a/b', b'max first', qos=2, id=3)
    j_deliver(cap, o, sub, 'a/b', b'max first')
    j_end(pub, sub)
# ---- end of jq16 ----


@jny('v5-aliases', 5, 'A 5.0 publisher that sets and then uses Topic Aliases, a 5.0 subscriber to which the broker '
     'sends with aliases of its own (other numbers), and a 3.1.1 subscriber that gets the full topic.',
     notes='Topics are matched with the aliases resolved on each side.')
def _(cap):
    pub = j_client(cap, 'alias-pub', ack_props=[(TOPIC_ALIAS_MAX, 8)])
    s5 = j_client(cap, 'alias-sub-v5', [('lens/alias/#', 1)])
    s3 = j_client(cap, 'plain-sub-v311', [('lens/alias/#', 1)], ver=4)
    o = j_publish(pub, 'lens/alias/temperature', b'20', props=[(TOPIC_ALIAS, 1)])
    j_deliver(cap, o, s5, 'lens/alias/temperature', b'20', props=[(TOPIC_ALIAS, 5)])
    j_deliver(cap, o, s3, 'lens/alias/temperature', b'20')
    o = j_publish(pub, '', b'21', props=[(TOPIC_ALIAS, 1)])
    j_deliver(cap, o, s5, '', b'21', props=[(TOPIC_ALIAS, 5)])
    j_deliver(cap, o, s3, 'lens/alias/temperature', b'21')
    o = j_publish(pub, 'lens/alias/humidity', b'40', qos=1, id=1, props=[(TOPIC_ALIAS, 2)])
    j_deliver(cap, o, s3, 'lens/alias/humidity', b'40', qos=1, id=1)
    j_deliver(cap, o, s5, 'lens/alias/humidity', b'40', qos=1, id=1, props=[(TOPIC_ALIAS, 6)])
    o = j_publish(pub, '', b'41', qos=1, id=2, props=[(TOPIC_ALIAS, 2)])
    j_deliver(cap, o, s5, '', b'41', qos=1, id=2, props=[(TOPIC_ALIAS, 6)])
    j_deliver(cap, o, s3, 'lens/alias/humidity', b'41', qos=1, id=2)
    j_end(pub, s5, s3)


@jny('v5-retained', 5, 'A retained message, delivered with RETAIN 1 to a subscriber that subscribes after it was '
     'published (and after the 2 s window), then replaced by a newer one that is forwarded live.',
     notes='The late subscriber also gets the newer retained message when it subscribes again.')
def _(cap):
    pub = j_client(cap, 'retainer')
    r1 = j_publish(pub, 'lens/state/door', b'open', qos=1, id=1, retain=1)
    cap.wait(5)
    late = j_client(cap, 'late-sub', [('lens/state/#', 1)])
    j_deliver(cap, r1, late, 'lens/state/door', b'open', qos=1, id=1, retain=1, kind='retained')
    r2 = j_publish(pub, 'lens/state/door', b'closed', qos=1, id=2, retain=1)
    j_deliver(cap, r2, late, 'lens/state/door', b'closed', qos=1, id=2)
    late.c(late.subscribe(2, ('lens/state/door', 1)))
    late.s(late.suback(2, 1))
    j_deliver(cap, r2, late, 'lens/state/door', b'closed', qos=1, id=3, retain=1, kind='retained')
    j_end(pub, late)


@jny('v311-will', 4, "A Will Message the broker publishes after its client's connection closed without DISCONNECT, "
     'delivered to a watcher; another client with a Will disconnects properly and its Will is not published.',
     notes="The Will's delivery is linked to the CONNECT that carried it.")
def _(cap):
    watch = j_client(cap, 'will-watch', [('lens/will/#', 1)])
    victim = j_client(cap, 'will-victim', will={'topic': 'lens/will/victim', 'message': b'gone', 'qos': 1})
    polite = j_client(cap, 'will-polite', will={'topic': 'lens/will/polite', 'message': b'gone', 'qos': 1})
    connect = next(p for fr in cap.frames if fr.conn is victim for p in fr.ends if p.meta['type'] == 'CONNECT')
    polite.bye()
    victim.close('c')
    j_deliver(cap, connect, watch, 'lens/will/victim', b'gone', qos=1, id=1, kind='will')
    j_end(watch)


@jny('v311-identical-payloads', 4, 'Two publishers send the same payload on the same topic within a millisecond: '
     'both deliveries fit both publications (ambiguous); then the same with the second publication after the '
     'first delivery, which time order decides; and one publisher twice, which its order decides.')
def _(cap):
    a = j_client(cap, 'twin-a')
    b = j_client(cap, 'twin-b')
    s = j_client(cap, 'twin-sub', [('lens/twin', 0)])
    x = j_publish(a, 'lens/twin', b'same')
    y = j_publish(b, 'lens/twin', b'same')
    for _i in range(2):
        d = s.s(s.publish('lens/twin', b'same'))
        cap.journeys.append((d, [x, y], 'ambiguous', 'twin-sub'))
    x = j_publish(a, 'lens/twin', b'later')
    j_deliver(cap, x, s, 'lens/twin', b'later')
    y = j_publish(b, 'lens/twin', b'later')
    j_deliver(cap, y, s, 'lens/twin', b'later')
    x1 = j_publish(a, 'lens/twin', b'again')
    x2 = j_publish(a, 'lens/twin', b'again')
    j_deliver(cap, x1, s, 'lens/twin', b'again')
    j_deliver(cap, x2, s, 'lens/twin', b'again')
    j_end(a, b, s)


@jny('v311-missed', 4, 'A publication that one of two subscribers with a matching granted subscription never '
     'receives (the broker drops it, e.g. by an ACL); the capture goes on past the 2 s window.',
     notes='mqttlens.analysis.delivery_missed (a note) on the publication, naming the subscriber.')
def _(cap):
    pub = j_client(cap, 'pub')
    got = j_client(cap, 'gets-it', [('lens/acl/#', 0)])
    lost = j_client(cap, 'misses-it', [('lens/acl/open', 0)])
    o = j_publish(pub, 'lens/acl/open', b'hello')
    j_deliver(cap, o, got, 'lens/acl/open', b'hello')
    cap.journeys.append(('missed', o, None, 'misses-it'))
    cap.wait(3)
    pub.c(pub.pingreq())
    pub.s(pub.pingresp())
    j_end(pub, got, lost)


@jny('v311-subscriber-gone', 4, 'Subscribers of a publication that cannot receive it: one whose TCP connection '
     'closed with FIN (no DISCONNECT) before it; within 50 ms after it (less than the 100 ms mqttlens allows a '
     'broker that delivers in well under 1 ms) one reset with RST, one sent DISCONNECT and one unsubscribed; a '
     'persistent session (Clean Session 0) whose connection closed with FIN within those 50 ms gets it on its '
     'next connection, 5 s later. None of them missed it. Two subscribers did: one that stayed connected and '
     'subscribed, and one that sent DISCONNECT 0.5 s after the publication, long after the other copy went out; '
     'the capture goes on past the window.',
     notes='mqttlens.analysis.delivery_missed (a note) on the publication for stays-open and bye-late only; the '
           "delivery to durable's second connection is linked to the publication.")
def _(cap):
    pub = j_client(cap, 'pub')
    got = j_client(cap, 'gets-it', [('lens/gone/#', 1)])
    before = j_client(cap, 'fin-before', [('lens/gone/#', 0)])
    reset = j_client(cap, 'rst-within', [('lens/gone/#', 0)])
    polite = j_client(cap, 'bye-within', [('lens/gone/#', 0)])
    unsub = j_client(cap, 'unsub-within', [('lens/gone/#', 0)])
    durable = j_client(cap, 'durable', [('lens/gone/#', 1)], clean=False)
    late = j_client(cap, 'bye-late', [('lens/gone/#', 0)])
    stays = j_client(cap, 'stays-open', [('lens/gone/x', 0)])
    before.close('c')
    o = j_publish(pub, 'lens/gone/x', b'farewell', qos=1, id=1)
    j_deliver(cap, o, got, 'lens/gone/x', b'farewell', qos=1, id=1)
    cap.journeys.append(('missed', o, None, 'bye-late'))
    cap.journeys.append(('missed', o, None, 'stays-open'))
    cap.wait(0.01)
    reset.emit('c2s', RST | ACK)
    polite.bye()
    unsub.c(unsub.unsubscribe(2, 'lens/gone/#'))
    unsub.s(unsub.unsuback(2))
    durable.close('c')
    cap.wait(0.5)
    late.bye()
    cap.wait(3)
    pub.c(pub.pingreq())
    pub.s(pub.pingresp())
    cap.wait(2)
    back = j_client(cap, 'durable', clean=False, sp=1)
    j_deliver(cap, o, back, 'lens/gone/x', b'farewell', qos=1, id=1)
    j_end(pub, got, unsub, back, stays)


# ---------------------------------------------------------------------- payloads

@scenario('generated/payloads/v5-payload-kinds.pcap', 5,
          'PUBLISH payloads of several kinds for payload decoding: JSON without and with a Content Type '
          '(with parameters), zlib-compressed JSON, protobuf wire format, CBOR with a Content Type, plain '
          'text, and bytes that are none of these.',
          notes='Valid traffic. Topics: lens/json/raw (JSON, no Content Type), lens/json/typed '
                '("application/json; charset=utf-8"), lens/zip/status (zlib of a JSON object), '
                'lens/pb/reading (protobuf: field 1 varint 150, field 2 string "ok"), lens/cbor/map '
                '("application/cbor", the map {"a": 1}), lens/text/hello (UTF-8 text), lens/bin/blob (bytes).')
def _(k):
    k.open()
    json_doc = b'{"t":21.5,"unit":"C"}'
    k.c(k.publish('lens/json/raw', json_doc).focus())
    k.c(k.publish('lens/json/typed', json_doc, props=[(CONTENT_TYPE, 'application/json; charset=utf-8')]))
    k.c(k.publish('lens/zip/status', zlib.compress(b'{"status":"ok","uptime":3600}', 9)).focus())
    k.c(k.publish('lens/pb/reading', bytes([0x08, 0x96, 0x01, 0x12, 0x02, 0x6F, 0x6B])).focus())
    k.c(k.publish('lens/cbor/map', bytes([0xA1, 0x61, 0x61, 0x01]), props=[(CONTENT_TYPE, 'application/cbor')]))
    k.c(k.publish('lens/text/hello', b'hello, world'))
    k.c(k.publish('lens/bin/blob', bytes([0x00, 0xFF, 0x10, 0x80])))
    k.bye()


# Protocol Buffers wire format (protobuf's encoding guide): a key is (field << 3) | wire
# type; 0 varint, 1 64-bit little endian, 2 length-delimited.

def pb_varint(n):
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def pb_uint(field, n):
    return pb_varint(field << 3) + pb_varint(n)


def pb_double(field, x):
    return pb_varint((field << 3) | 1) + struct.pack('<d', x)


def pb_bytes(field, data):
    data = data.encode() if isinstance(data, str) else data
    return pb_varint((field << 3) | 2) + pb_varint(len(data)) + data


# Sparkplug B's Payload message (sparkplug_b.proto, package com.cirruslink.sparkplug.protobuf /
# org.eclipse.tahu.protobuf): timestamp = 1, metrics = 2, seq = 3; Metric: name = 1,
# timestamp = 3, datatype = 4, int_value = 10, double_value = 13, boolean_value = 14,
# string_value = 15.  DataType: Int32 = 3, Double = 10, Boolean = 11, String = 12.
SPB_TS = 1704067200000


def spb_metric(name, datatype, value_field, value):
    body = pb_bytes(1, name) + pb_uint(3, SPB_TS) + pb_uint(4, datatype)
    if value_field == 13:
        body += pb_double(13, value)
    elif value_field == 15:
        body += pb_bytes(15, value)
    else:
        body += pb_uint(value_field, value)
    return pb_bytes(2, body)


def spb_payload(seq, *metrics):
    return pb_uint(1, SPB_TS) + b''.join(metrics) + pb_uint(3, seq)


@scenario('generated/payloads/v311-sparkplug-b.pcap', 4,
          'Sparkplug B over MQTT 3.1.1: an edge node publishes NDATA and DDATA (protobuf Sparkplug B '
          'payloads) and a PUBLISH on another topic with protobuf bytes, which no topic heuristic claims.',
          notes='Valid traffic. spBv1.0/group/NDATA/node: Payload {timestamp, metrics [Temperature '
                '(Double 21.5), Running (Boolean true)], seq 1}; spBv1.0/group/DDATA/node/pump: Payload '
                '{timestamp, metrics [Speed (Int32 1450), Mode (String "auto")], seq 2}; lens/pb/other: '
                'the same NDATA bytes. Wireshark\'s SparkplugB heuristic (list mqtt.topic) decodes the '
                'first two with the built-in dissector and must with mqttlens.')
def _(k):
    k.open(client_id='spb-edge')
    ndata = spb_payload(1, spb_metric('Temperature', 10, 13, 21.5), spb_metric('Running', 11, 14, 1))
    ddata = spb_payload(2, spb_metric('Speed', 3, 10, 1450), spb_metric('Mode', 12, 15, 'auto'))
    k.c(k.publish('spBv1.0/group/NDATA/node', ndata).focus())
    k.c(k.publish('spBv1.0/group/DDATA/node/pump', ddata, qos=1, id=1).focus())
    k.s(k.puback(1))
    k.c(k.publish('lens/pb/other', ndata))
    k.bye()


# ---------------------------------------------------------------------- MQTT over WebSocket

WS_PORT, WS_PORT2 = 8083, 9001     # mosquitto's and others' usual ws ports (mqttlens.ws_ports)


def ws_scenario(name, v, summary, notes='', port=WS_PORT, **ws):
    return scenario('generated/websocket/%s-%s.pcap' % (VN[v], name), v, summary, notes, port=port, ws=ws)


for _v in (4, 5):
    @ws_scenario('ws-one-packet-per-message', _v,
                 'MQTT over WebSocket on TCP 8083 (subprotocol "mqtt"): one MQTT packet per binary '
                 'message, client frames masked; QoS 1 both ways, PINGREQ, WebSocket close.')
    def _(k):
        k.open()
        k.c(k.subscribe(1, S_DOWN))
        k.s(k.suback(1, 1))
        k.c(k.publish('lens/up/ws', pl(40), qos=1, id=2).focus())
        k.s(k.puback(2))
        k.s(k.publish('lens/down/ws', pl(30), qos=1, id=1))
        k.c(k.puback(1))
        k.c(k.pingreq())
        k.s(k.pingresp())
        k.bye()

    @ws_scenario('ws-several-per-message', _v,
                 'Several MQTT packets in one WebSocket message (CONNECT+PUBLISH; PUBLISH+PUBLISH+'
                 'SUBSCRIBE+PINGREQ), a message that ends inside a packet, and two messages in one '
                 'TCP segment that split a packet (S->C).', port=WS_PORT2)
    def _(k):
        k.c(k.connect(), k.publish('lens/up/first', b'early'))
        k.s(k.connack())
        p1 = k.publish('lens/up/a', b'zero')
        p2 = k.publish('lens/up/b', b'one', qos=1, id=1)
        p3 = k.subscribe(2, S_DOWN)
        p4 = k.pingreq()
        k.c(p1, p2, p3, p4, cuts=[len(p1.raw) + 3])
        q1 = k.puback(1)
        q2 = k.suback(2, 1)
        q3 = k.publish('lens/down/x', pl(20), qos=1, id=1)
        q4 = k.pingresp()
        k.ws('s2c', q1, q2, q3, q4, layouts=[[('msg', len(q1.raw) + len(q2.raw) + 5), ('msg', None)]])
        k.c(k.puback(1))
        k.bye()

    @ws_scenario('ws-rl-split', _v,
                 'Remaining Length split across WebSocket messages: C->S a 2-byte RL split after its '
                 'first byte over two TCP segments; S->C a 3-byte RL split after its second byte '
                 'between two messages of one TCP segment (the 16 kB packet then spans 12 messages).')
    def _(k):
        k.open()
        k.c(k.subscribe(1, S_DOWN))
        k.s(k.suback(1, 1))
        p = k.publish('lens/up/rl', pl(200), qos=1, id=2).focus()
        assert p.raw[1] >= 0x80 and p.raw[2] < 0x80
        k.c(p, cuts=[2])
        k.s(k.puback(2))
        q = k.publish('lens/down/rl', pl(16500), qos=1, id=1).focus()
        assert q.raw[2] >= 0x80 and q.raw[3] < 0x80
        k.ws('s2c', q, layouts=[[('msg', 3), ('msg', None)]])
        k.c(k.puback(1))
        k.bye()

    @ws_scenario('ws-continuation', _v,
                 'Fragmented WebSocket messages: a PUBLISH as first+continuation+final frames in one '
                 'TCP segment; a PUBLISH+PINGREQ message whose first fragment and final fragment are '
                 'in different TCP segments with a ping between them (answered by a pong); a '
                 'fragment boundary inside the Remaining Length.')
    def _(k):
        k.open()
        k.ws('c2s', k.publish('lens/up/frag', pl(60), qos=1, id=1).focus(),
             layouts=[[('first', 3), ('cont', 10), ('last', None)]])
        k.s(k.puback(1))
        p = k.publish('lens/up/frag2', pl(90), qos=1, id=2).focus()
        k.ws('c2s', p, k.pingreq(), cuts=[40],
             layouts=[[('first', None)], [('ping', b'hb'), ('last', None)]])
        k.control('s2c', 'pong', b'hb')
        k.s(k.puback(2), k.pingresp())
        q = k.publish('lens/down/frag', pl(150), qos=1, id=1).focus()
        k.ws('s2c', q, layouts=[[('first', 2), ('last', None)]])
        k.c(k.puback(1))
        k.bye()

    @ws_scenario('ws-control-frames', _v,
                 'Ping, pong and an empty ping between and around MQTT messages, in segments of their '
                 'own and inside segments that carry MQTT.', port=WS_PORT2)
    def _(k):
        k.open()
        k.control('c2s', 'ping', b'keepalive-1')
        k.control('s2c', 'pong', b'keepalive-1')
        k.ws('c2s', k.publish('lens/up/c', pl(20), qos=1, id=1),
             layouts=[[('ping', b''), ('msg', None), ('pong', b'unsolicited')]])
        k.ws('s2c', k.puback(1), layouts=[[('pong', b''), ('msg', None)]])
        k.c(k.pingreq())
        k.s(k.pingresp())
        k.bye()

    @ws_scenario('ws-masked-server', _v,
                 'Server frames masked as well as client frames (RFC 6455 says a server must not mask; '
                 'the MQTT bytes are the same once unmasked).', mask_server=True)
    def _(k):
        k.open()
        k.c(k.subscribe(1, S_DOWN))
        k.s(k.suback(1, 1))
        k.s(k.publish('lens/down/m', pl(25), qos=1, id=1), cuts=[4])
        k.c(k.puback(1))
        k.bye()


@ws_scenario('ws-text-frame', 4,
             'A PUBLISH sent in a WebSocket text frame, which [MQTT-6.0.0-1] forbids; the broker closes.')
def _(k):
    k.open()
    k.ws('c2s', k.publish('lens/up/text', b'{"t":21.5}').bad('3.1.1 MQTT-6.0.0-1', 'rule.websocket_text_frame', W),
         layouts=[[('text', None)]])
    k.control('s2c', 'close', u16(1003))
    k.control('c2s', 'close', u16(1003))
    k.close('s')


@ws_scenario('ws-text-fragmented', 5,
             'A PUBLISH in a fragmented WebSocket text message whose first fragment and final fragment '
             'are in different TCP segments, a ping between them ([MQTT-6.0.0-1]: the message\'s '
             'opcode is its first frame\'s); then a binary message, which is fine.')
def _(k):
    k.open()
    p = k.publish('lens/up/textfrag', pl(30), qos=1, id=1)
    q = k.pingreq()
    k.ws('c2s', p.bad('5.0 MQTT-6.0.0-1', 'rule.websocket_text_frame', W), cuts=[10],
         layouts=[[('first-text', None)], [('ping', b'hb'), ('last', None)]])
    k.s(k.puback(1))
    k.ws('c2s', q, layouts=[[('msg', None)]])
    k.s(k.pingresp())
    k.bye()


@ws_scenario('ws-no-offer', 4,
             'The client\'s upgrade request offers only "chat" ([MQTT-6.0.0-3]: it must offer "mqtt"); '
             'the server selects no subprotocol ([MQTT-6.0.0-4]); MQTT is found through the ws port.',
             subprotocol=None, offer='chat')
def _(k):
    k.c(k.connect().bad('3.1.1 MQTT-6.0.0-3', 'rule.websocket_offer', W)
        .bad('3.1.1 MQTT-6.0.0-4', 'rule.websocket_subprotocol', W))
    k.s(k.connack())
    k.bye()


@ws_scenario('ws-no-subprotocol', 4,
             'The server answers the upgrade without selecting a subprotocol although the client '
             'offered "mqtt" ([MQTT-6.0.0-4]); MQTT is found through the ws port (8083).',
             notes='The client carries on (a strict one would close) so that the finding has an MQTT '
                   'packet to sit on: the first one of the connection.', subprotocol=None)
def _(k):
    k.c(k.connect().bad('3.1.1 MQTT-6.0.0-4', 'rule.websocket_subprotocol', W))
    k.s(k.connack())
    k.bye()


@ws_scenario('ws-mqttv3.1', 3,
             'MQTT 3.1 over WebSocket with the subprotocol "mqttv3.1" of 3.1 clients (not a finding: '
             '3.1 has no WebSocket rules).', port=WS_PORT2, subprotocol='mqttv3.1', offer='mqttv3.1')
def _(k):
    k.open()
    k.c(k.publish('lens/up/v31', pl(12), qos=1, id=1))
    k.s(k.puback(1))
    k.bye()


# ---------------------------------------------------------------------- MQTT on other ports

@scenario('generated/transport/v311-port-11883.pcap', 4,
          'MQTT 3.1.1 on TCP 11883, a port no dissector owns: found by the CONNECT heuristic.',
          port=11883)
def _(k):
    k.open(client_id='lens-port')
    k.c(k.subscribe(1, S_DOWN))
    k.s(k.suback(1, 1))
    k.c(k.publish('lens/up/port', pl(30), qos=1, id=2))
    k.s(k.puback(2))
    k.bye()


@scenario('generated/transport/v5-port-1884-split-connect.pcap', 5,
          'MQTT 5.0 on TCP 1884 whose CONNECT is split after its Protocol Level: the CONNECT '
          'heuristic judges the first segment alone.', port=1884)
def _(k):
    c = k.connect(client_id='lens-split-connect', props=[(SESSION_EXPIRY, 60)])
    k.c(c.focus(), cuts=[9])
    k.s(k.connack())
    k.c(k.publish('lens/up/port', pl(30), qos=1, id=1))
    k.s(k.puback(1))
    k.bye()


# ---------------------------------------------------------------------- legal (issue 15: conditions of silence)
#
# Captures in which every packet follows the specification while exercising one condition under
# which a finding must stay silent (docs/expert-conditions.md names them per finding).  Their
# manifests list no violation; tests/captures/test_rules.py proves that mqttlens raises nothing
# above a Note on them.

def legal(name, version, summary, notes='', raw=False):
    return scenario('generated/legal/%s.pcap' % name, version, summary,
                    notes='Valid traffic: nothing above a Note. ' + notes, raw=raw)


@legal('v311-resume-pubrel-resend', 4, '3.1.1 session resumption: the client gets PUBREC for its QoS 2 PUBLISH, the '
       'server PUBREC for its own, and the connection is lost; on the new connection (Clean Session 0, Session '
       'Present 1) both re-send their PUBREL (not the PUBLISH), the client re-sends an unacknowledged QoS 1 '
       'PUBLISH with DUP 1, and the server re-sends a QoS 1 PUBLISH with DUP 1.',
       notes='[MQTT-4.4.0-1] (3.1.1): on reconnection with CleanSession 0 both sides MUST re-send unacknowledged '
             'PUBLISH packets and PUBRELs; a PUBLISH whose PUBREC was received is not re-sent '
             '([MQTT-4.3.3-1]). The PUBRELs have their PUBREC on the earlier connection of the same client id.',
       raw=True)
def _(cap):
    k = cap.conn()
    k.open(client_id='lens-legal-resume', clean=False)
    k.c(k.subscribe(1, ('lens/down/#', 2)))
    k.s(k.suback(1, 2))
    k.c(k.publish('lens/up/two', b'exactly once', qos=2, id=2))
    k.s(k.pubrec(2))
    o1 = k.c(k.publish('lens/up/one', b'at least once', qos=1, id=3))
    k.s(k.publish('lens/down/two', b'server exactly once', qos=2, id=20))
    k.c(k.pubrec(20))
    o2 = k.s(k.publish('lens/down/one', b'server at least once', qos=1, id=21))
    k.close('c')
    k = cap.conn()
    k.resumed = True
    k.open(client_id='lens-legal-resume', clean=False, ack={'sp': 1})
    k.c(k.pubrel(2).focus())
    cap.resends.append((k.c(k.publish('lens/up/one', b'at least once', qos=1, id=3, dup=1).focus()), o1))
    k.s(k.pubrel(20).focus())
    cap.resends.append((k.s(k.publish('lens/down/one', b'server at least once', qos=1, id=21, dup=1).focus()), o2))
    k.s(k.pubcomp(2))
    k.s(k.puback(3))
    k.c(k.pubcomp(20))
    k.c(k.puback(21))
    k.bye()


@legal('v311-capture-ends-early', 4, 'The capture ends while requests wait for their answers: a SUBSCRIBE, a QoS 1 '
       'and a QoS 2 PUBLISH of the client and a QoS 1 PUBLISH of the server, sent in the last 3 ms; the connection '
       'is still open (no FIN).',
       notes='An answer that may simply come after the capture ends is no violation: only Notes '
             '(analysis.no_response), never rule.response_missing, which needs the peer to go on sending. Keep '
             'Alive 60 s is far from over.')
def _(k):
    k.open(client_id='lens-legal-early')
    k.c(k.subscribe(1, ('lens/down/#', 1)))
    k.s(k.suback(1, 1))
    k.c(k.publish('lens/up/a', b'x', qos=1, id=2))
    k.s(k.puback(2))
    k.wait(1)
    k.c(k.subscribe(3, ('lens/more/#', 1)), k.publish('lens/up/b', b'y', qos=1, id=4),
        k.publish('lens/up/c', b'z', qos=2, id=5))
    k.s(k.publish('lens/down/d', b'w', qos=1, id=1))


@legal('v311-server-assigned-clientid', 4, '3.1.1 CONNECT with a zero-length Client Identifier and Clean Session 1, '
       'accepted (the server assigns an identifier it does not tell); the client subscribes, publishes QoS 1 and '
       'disconnects.',
       notes='[MQTT-3.1.3-6]: a server MAY accept a zero-length ClientId, with CleanSession 1 ([MQTT-3.1.3-7]); '
             'only CleanSession 0 must be refused with return code 2 ([MQTT-3.1.3-8]).')
def _(k):
    k.open(client_id='')
    k.c(k.subscribe(1, ('lens/down/#', 1)))
    k.s(k.suback(1, 1))
    k.c(k.publish('lens/up/anon', b'x', qos=1, id=2))
    k.s(k.puback(2))
    k.s(k.publish('lens/down/anon', b'y', qos=1, id=1))
    k.c(k.puback(1))
    k.bye()


@legal('v5-broker-choices', 5, "A 5.0 server's permitted choices, followed by the client: an empty Client Identifier "
       "answered with an Assigned Client Identifier; Server Keep Alive 3 s replacing the client's 60 s (the client "
       "pings every 3 s); Receive Maximum 2 (the client keeps exactly 2 QoS 1 PUBLISHes in flight); no Topic Alias "
       "Maximum (the client uses no alias); Maximum QoS 1 (a SUBSCRIBE asking QoS 2 is granted 1 and served at QoS "
       "1); Retain Available 0 (nothing retained); the client's Maximum Packet Size 64 is respected.",
       notes='[MQTT-3.2.2-16] Assigned Client Identifier; [MQTT-3.2.2-21] the client uses the Server Keep Alive; '
             '[MQTT-3.3.4-7] at most Receive Maximum in flight; [MQTT-3.2.2-18] no alias without a Topic Alias '
             'Maximum; [MQTT-3.2.2-10] a server with Maximum QoS 1 still accepts SUBSCRIBE at QoS 2, granting '
             'less ([MQTT-3.9.3-1] allows a lower grant).')
def _(k):
    k.open(client_id='', props=[(MAX_PACKET, 64), (RECEIVE_MAX, 5)],
           ack={'props': [(ASSIGNED_CID, 'auto-7f3a'), (SERVER_KA, 3), (RECEIVE_MAX, 2), (MAX_QOS, 1),
                          (RETAIN_AVAIL, 0)]})
    k.c(k.subscribe(1, ('lens/down/#', 2)))
    k.s(k.suback(1, 1))
    k.c(k.publish('lens/up/a', b'one', qos=1, id=2), k.publish('lens/up/b', b'two', qos=1, id=3))
    k.s(k.puback(2))
    k.c(k.publish('lens/up/c', b'three', qos=1, id=4).focus())
    k.s(k.puback(3), k.puback(4))
    k.s(k.publish('lens/down/x', b'granted one', qos=1, id=1))
    k.c(k.puback(1))
    for _i in range(2):
        k.wait_client(3.0)
        k.c(k.pingreq().focus())
        k.s(k.pingresp())
    k.wait_client(2.0)
    k.bye()


@legal('v5-shared-subscription', 5, 'Two subscribers in one shared subscription $share/grp/lens/sh/# (No Local 0, '
       'as [MQTT-3.8.3-4] requires) and one ordinary subscriber of lens/sh/#: the broker gives each publication to '
       'one member of the group only, alternating, and to the ordinary subscriber; a retained message published '
       'first is not sent to the group members when they subscribe.',
       notes='A shared subscription delivers each message to one session of the group (5.0 '
             'section 4.8.2), so the member that gets no copy missed nothing; retained messages are not sent for a '
             'new shared subscription (5.0 section 4.8.2). "journeys" lists the deliveries.', raw=True)
def _(cap):
    pub = j_client(cap, 'sh-pub')
    o = j_publish(pub, 'lens/sh/state', b'retained', qos=1, id=1, retain=1)
    a = j_client(cap, 'sh-a', [('$share/grp/lens/sh/#', 1)])
    b = j_client(cap, 'sh-b', [('$share/grp/lens/sh/#', 1)])
    plain = j_client(cap, 'sh-plain', [('lens/sh/#', 1)])
    j_deliver(cap, o, plain, 'lens/sh/state', b'retained', qos=1, id=1, retain=1, kind='retained')
    for n, member in enumerate((a, b, a)):
        o = j_publish(pub, 'lens/sh/job', b'job %d' % n, qos=1, id=2 + n)
        j_deliver(cap, o, member, 'lens/sh/job', b'job %d' % n, qos=1, id=2 + n)
        j_deliver(cap, o, plain, 'lens/sh/job', b'job %d' % n, qos=1, id=2 + n)
    j_end(pub, a, b, plain)


@legal('v311-unsubscribe-crossing', 4, 'The server delivers a QoS 1 message on lens/down/# after the client sent '
       'UNSUBSCRIBE lens/down/# and before the UNSUBACK (the message crossed the request); after the UNSUBACK the '
       'server sends nothing on it.',
       notes='[MQTT-3.10.4-2]: the server stops adding new messages for the client once it has the UNSUBSCRIBE; a '
             'PUBLISH it sent before reading it matches the subscription, which ends with the UNSUBACK.')
def _(k):
    k.open(client_id='lens-legal-unsub')
    k.c(k.subscribe(1, ('lens/down/#', 1)))
    k.s(k.suback(1, 1))
    k.c(k.unsubscribe(2, 'lens/down/#'))
    k.s(k.publish('lens/down/late', b'crossed the UNSUBSCRIBE', qos=1, id=1).focus())
    k.s(k.unsuback(2))
    k.c(k.puback(1))
    k.bye()


@legal('v5-subscription-identifiers', 5, 'Two overlapping 5.0 subscriptions with Subscription Identifiers, lens/id/# '
       '(identifier 5, QoS 1) and lens/id/+ (identifier 6, QoS 2): the server sends one copy of a message matching '
       'both, at QoS 2 with identifiers 5 and 6, and a message matching only the first with identifier 5.',
       notes='[MQTT-3.3.4-2] the single copy respects the maximum QoS of the matching subscriptions; [MQTT-3.3.4-4] '
             'it carries the identifiers of all of them (a repeated Subscription Identifier is allowed in a '
             'server PUBLISH, 5.0 section 3.3.2.3.8).')
def _(k):
    k.open(client_id='lens-legal-subid')
    k.c(k.subscribe(1, ('lens/id/#', 1), props=[(SUB_ID, 5)]))
    k.s(k.suback(1, 1))
    k.c(k.subscribe(2, ('lens/id/+', 2), props=[(SUB_ID, 6)]))
    k.s(k.suback(2, 2))
    k.s(k.publish('lens/id/x', b'both', qos=2, id=1, props=[(SUB_ID, 5), (SUB_ID, 6)]).focus())
    k.c(k.pubrec(1))
    k.s(k.pubrel(1))
    k.c(k.pubcomp(1))
    k.s(k.publish('lens/id/a/b', b'only the first', qos=1, id=2, props=[(SUB_ID, 5)]).focus())
    k.c(k.puback(2))
    k.bye()


@legal('v5-retain-options', 5, 'Retained messages and the 5.0 subscription options: lens/r/# with Retain Handling 0 '
       'and Retain As Published 1 gets the retained lens/r/state with RETAIN 1 at once, and the echo of the '
       "client's own RETAIN 1 publication with RETAIN 1; lens/q/# with Retain Handling 2 gets no retained message, "
       "and the echo of the client's RETAIN 1 publication with RETAIN 0.",
       notes='[MQTT-3.3.1-9] (5.0) Retain Handling 0 sends the retained message at once, with RETAIN 1 (5.0 section '
             '3.3.1.3); '
             '[MQTT-3.3.1-13] Retain As Published 1 keeps the flag; [MQTT-3.3.1-12] Retain As Published 0 clears it; '
             '[MQTT-3.3.1-11] Retain Handling 2 sends no retained message.')
def _(k):
    k.open(client_id='lens-legal-retain')
    k.c(k.subscribe(1, ('lens/r/#', 1 | 0x08)))
    k.s(k.suback(1, 1))
    k.s(k.publish('lens/r/state', b'stored earlier', qos=1, id=1, retain=1).focus())
    k.c(k.puback(1))
    k.c(k.publish('lens/r/mine', b'own retained', qos=1, id=2, retain=1))
    k.s(k.puback(2))
    k.s(k.publish('lens/r/mine', b'own retained', qos=1, id=2, retain=1).focus())
    k.c(k.puback(2))
    k.c(k.subscribe(3, ('lens/q/#', 1 | 0x20)))
    k.s(k.suback(3, 1))
    k.c(k.publish('lens/q/mine', b'own again', qos=1, id=4, retain=1))
    k.s(k.puback(4))
    k.s(k.publish('lens/q/mine', b'own again', qos=1, id=3).focus())
    k.c(k.puback(3))
    k.bye()


@legal('v5-server-keep-alive-longer', 5, 'CONNECT Keep Alive 5 s, CONNACK Server Keep Alive 20 s: the client pings '
       'every 15 s (longer than its own 5 s, within the 20 s it must use) and then disconnects.',
       notes='[MQTT-3.2.2-21] the client uses the Server Keep Alive instead of its own value; the server closes only '
             'after 1.5 x 20 s of silence.')
def _(k):
    k.open(client_id='lens-legal-ska', keepalive=5, ack={'props': [(SERVER_KA, 20)]})
    for _i in range(2):
        k.wait_client(15.0)
        k.c(k.pingreq().focus())
        k.s(k.pingresp())
    k.wait_client(15.0)
    k.bye()


@legal('v311-overlapping-extra-copies', 4, 'A 3.1.1 subscriber with overlapping subscriptions lens/ov/# granted QoS 2 '
       'and lens/ov/+ granted QoS 1: the broker delivers a QoS 2 publication twice, one copy per subscription, first '
       'at QoS 1, then at QoS 2.',
       notes='3.1.1 section 3.3.5: the server MUST deliver respecting the maximum QoS of all matching subscriptions '
             '([MQTT-3.3.5-1]) and "MAY deliver further copies of the message, one for each additional matching '
             'subscription and respecting the subscription\'s QoS in each case": the QoS 1 copy before the QoS 2 one '
             'is legal. "journeys" lists both deliveries.', raw=True)
def _(cap):
    pub = j_client(cap, 'ov-pub-x')
    sub = j_client(cap, 'ov-sub-x', [('lens/ov/#', 2), ('lens/ov/+', 1)])
    o = j_publish(pub, 'lens/ov/x', b'two', qos=2, id=1)
    j_deliver(cap, o, sub, 'lens/ov/x', b'two', qos=1, id=1)
    j_deliver(cap, o, sub, 'lens/ov/x', b'two', qos=2, id=2)
    j_end(pub, sub)


# ======================================================================================
# reading back (self-check)
# ======================================================================================

def read_pcap(data, broker_port=BROKER_PORT):
    """Own minimal reader: returns [{ts, dir, port, seq, ack, flags, payload}] and verifies
    the IPv4 header checksum and the TCP checksum of every record."""
    magic, _vmaj, _vmin, _tz, _sig, _snap, linktype = struct.unpack('<IHHiIII', data[:24])
    assert magic == 0xA1B2C3D4 and linktype == 1, 'not a classic Ethernet pcap'
    off, out = 24, []
    while off < len(data):
        ts_s, ts_us, incl, orig = struct.unpack('<IIII', data[off:off + 16])
        off += 16
        pkt = data[off:off + incl]
        off += incl
        assert incl == orig, 'truncated record'
        assert pkt[12:14] == b'\x08\x00', 'not IPv4'
        ip = pkt[14:34]
        assert csum16(ip) == 0, 'bad IPv4 header checksum'
        total = struct.unpack('!H', ip[2:4])[0]
        tcp = pkt[34:14 + total]
        src, dst = ip[12:16], ip[16:20]
        pseudo = src + dst + struct.pack('!BBH', 0, 6, len(tcp))
        assert csum16(pseudo + tcp) == 0, 'bad TCP checksum'
        sport, dport, seq, ack, hl, flags = struct.unpack('!HHIIBB', tcp[:14])
        d = 'c2s' if dport == broker_port else 's2c'
        out.append({'ts': ts_s * 1000000 + ts_us, 'dir': d, 'port': sport if d == 'c2s' else dport,
                    'seq': seq, 'ack': ack, 'flags': flags, 'payload': tcp[(hl >> 4) * 4:]})
    return out


class WsReader:
    """One direction of a WebSocket connection read back: skips the HTTP upgrade, then returns
    for each TCP payload the data of the messages that complete in it."""

    def __init__(self):
        self.http = True
        self.buf = bytearray()
        self.msg = None

    def feed(self, payload):
        self.buf += payload
        if self.http:
            end = self.buf.find(b'\r\n\r\n')
            assert end >= 0, 'HTTP upgrade split across segments'
            del self.buf[:end + 4]
            self.http = False
        out = bytearray()
        while len(self.buf) >= 2:
            b0, b1 = self.buf[0], self.buf[1]
            n, off = b1 & 0x7F, 2
            if n == 126:
                n, off = struct.unpack('>H', self.buf[2:4])[0], 4
            elif n == 127:
                n, off = struct.unpack('>Q', self.buf[2:10])[0], 10
            mask = bytes(self.buf[off:off + 4]) if b1 & 0x80 else None
            off += 4 if mask else 0
            assert len(self.buf) >= off + n, 'WebSocket frame split across segments'
            data = bytes(self.buf[off:off + n])
            if mask:
                data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
            del self.buf[:off + n]
            opcode, fin = b0 & 0x0F, b0 & 0x80
            if opcode >= 8:
                continue
            assert (opcode == 0) == (self.msg is not None), 'fragments out of order'
            self.msg = (self.msg or b'') + data
            if fin:
                out += self.msg
                self.msg = None
        return bytes(out)


def type_matches(name, num):
    if name == 'RESERVED':
        return num in (0, 15)
    return TYPE_NAMES[num] == name


def self_check(path, data, cap, entry):
    recs = read_pcap(data, cap.sc['port'])
    assert len(recs) == len(cap.frames), '%s: frame count %d != %d' % (path, len(recs), len(cap.frames))
    prev_ts = None
    nxt = {}
    for i, r in enumerate(recs, 1):
        assert prev_ts is None or r['ts'] > prev_ts, '%s: timestamps not increasing at %d' % (path, i)
        prev_ts = r['ts']
        key, okey = (r['port'], r['dir']), (r['port'], other(r['dir']))
        if key in nxt:
            assert r['seq'] == nxt[key], '%s: frame %d seq discontinuity' % (path, i)
        if r['flags'] & ACK and okey in nxt:
            assert r['ack'] == nxt[okey], '%s: frame %d ack does not match the peer' % (path, i)
        nxt[key] = (r['seq'] + len(r['payload']) + (1 if r['flags'] & (SYN | FIN) else 0)) & 0xFFFFFFFF
    # re-frame the MQTT byte streams and compare with the manifest
    mframes = {f['frame']: f for f in entry['frames']}
    with_payload = {i for i, r in enumerate(recs, 1) if r['payload']}
    assert set(mframes) == with_payload, '%s: manifest frames != frames with payload' % path
    bufs, broken, readers = {}, {}, {}
    for i, r in enumerate(recs, 1):
        if not r['payload']:
            continue
        key = (r['port'], r['dir'])
        buf = bufs.setdefault(key, bytearray())
        found, ferr, unframed = [], [], broken.get(key, False)
        if cap.sc['ws'] is not None:
            delivered = readers.setdefault(key, WsReader()).feed(r['payload'])
        else:
            delivered = r['payload']
        if not unframed:
            buf += delivered
            while len(buf) >= 2:
                val, mult, j, done = 0, 1, 1, False
                while j < len(buf) and j <= 4:
                    val += (buf[j] & 0x7F) * mult
                    mult *= 128
                    j += 1
                    if not buf[j - 1] & 0x80:
                        done = True
                        break
                if not done:
                    if j == 5:                       # 4 RL bytes, all with continuation
                        found.append(buf[0] >> 4)
                        ferr.append(len(found) - 1)
                        broken[key] = True
                        unframed = len(buf) > 5
                        buf.clear()
                    break
                if len(buf) < j + val:
                    break
                found.append(buf[0] >> 4)
                del buf[:j + val]
        m = mframes[i]
        names = [p['type'] for p in m['packets']]
        assert len(names) == len(found) and all(type_matches(a, b) for a, b in zip(names, found)), \
            '%s: frame %d packets %s != re-framed %s' % (path, i, names, found)
        assert [j for j, p in enumerate(m['packets']) if p.get('framing_error')] == ferr, \
            '%s: frame %d framing_error mismatch' % (path, i)
        assert bool(m.get('unframed')) == unframed, '%s: frame %d unframed mismatch' % (path, i)
    leftover = any(len(b) for b in bufs.values())
    assert leftover == any(f.get('incomplete') for f in entry['frames']), '%s: incomplete mismatch' % path
    # every referenced frame carries MQTT bytes, and link ends carry the right packet types
    refs = [v['frame'] for v in entry['violations']] + [u['frame'] for u in entry['unanswered']] + \
           [u['frame'] for u in entry['unsolicited']] + [t['frame'] for t in entry['topics']]
    for lk in entry['links']:
        refs += [lk['request'], lk['response']]
        for end in ('request', 'response'):
            pk = mframes[lk[end]]['packets']
            idx = lk.get(end + '_index', 0)
            want = lk['kind'].split('-')[0 if end == 'request' else 1]
            assert idx < len(pk) and pk[idx]['type'] == want, \
                '%s: link %s %s frame %d is not %s' % (path, lk['kind'], end, lk[end], want)
    for fno in refs:
        assert fno in mframes, '%s: frame %d referenced but carries no MQTT bytes' % (path, fno)
    vframes = {v['frame'] for v in entry['violations']}
    for u in entry['unsolicited']:
        assert u['frame'] in vframes, '%s: unsolicited frame %d has no violation' % (path, u['frame'])
    for v in entry['violations']:
        assert v['severity'] in (E, W, N) and v['ids'], path


# ======================================================================================
# output
# ======================================================================================

def dump_manifest(man):
    """JSON with one line per frame/link/violation entry (diff-friendly, still plain JSON)."""
    lines = ['{']
    paths = list(man)
    for i, path in enumerate(paths):
        e = man[path]
        lines.append(' %s: {' % json.dumps(path, ensure_ascii=False))
        keys = list(e)
        for j, key in enumerate(keys):
            val = e[key]
            comma = ',' if j < len(keys) - 1 else ''
            if isinstance(val, list) and val:
                lines.append('  %s: [' % json.dumps(key))
                for x, item in enumerate(val):
                    lines.append('   %s%s' % (json.dumps(item, ensure_ascii=False),
                                              ',' if x < len(val) - 1 else ''))
                lines.append('  ]' + comma)
            else:
                lines.append('  %s: %s%s' % (json.dumps(key), json.dumps(val, ensure_ascii=False), comma))
        lines.append(' }' + (',' if i < len(paths) - 1 else ''))
    lines.append('}')
    text_ = '\n'.join(lines) + '\n'
    assert json.loads(text_) == man
    return text_


README_HEAD = """## Generated captures

Synthetic, deterministic captures written by `pcaps/generate.py` (pure Python 3 standard library).
Do not edit the files under `pcaps/generated/` or this section by hand: run `python3 pcaps/generate.py`
(byte-identical output every time) and check with `python3 pcaps/generate.py --check` (exit status 1
when the committed files differ from a fresh generation). `--tshark` additionally compares the valid
captures with tshark's built-in MQTT dissector.

* Ethernet/IPv4/TCP, client 10.0.0.1:<port> (port derived from the file name; several connections in
  one file use consecutive ports), broker 10.0.0.2:1883. Correct IPv4 and TCP checksums, continuous
  sequence/acknowledgement numbers, three-way handshake first, FIN/ACK teardown last (client FIN
  first unless the server closes the connection).
* **No pure ACK segments** except the third handshake segment and the final teardown ACK: every data
  segment acknowledges everything received so far. Frame numbers therefore are: 1-3 handshake,
  then one frame per data segment, then FIN, FIN, ACK.
* Timestamps start at 2024-01-01T00:00:00Z and advance by 1 ms per frame; timing captures
  (keep-alive) insert exact gaps, stated in their notes.
* Invalid captures use a *strict peer*: the receiver of the violating packet reacts as the spec
  prescribes (5.0: DISCONNECT / CONNACK with a reason code, then close; 3.1.1: close, without
  CONNACK for a bad CONNECT), so the capture holds exactly the violations listed. Heuristic and
  SHOULD-level findings are answered normally.
* `legal/` captures are valid traffic in which every packet follows the specification while
  exercising one condition under which findings must stay silent (session resumption, a capture
  that ends before the answers, a broker's permitted choices, retained messages, shared
  subscriptions, server-assigned client identifiers); `docs/expert-conditions.md` names them per
  finding, and `tests/captures/test_rules.py` proves that nothing above a Note is raised on them.
* Severity: `error` = the packet itself is malformed or carries a forbidden value (judged from its
  own bytes, direction and the connection's version); `warning` = the violation needs state from
  other packets (sequence, identifiers, negotiated limits, timing, delivery heuristics); `note` =
  SHOULD-level, spec inconsistency, or MQTT 3.1 behaviour that 3.1.1 forbids.
* `generated/manifest.json` describes every capture (frames, violations, request/response links,
  unanswered requests, unsolicited responses, topic-alias resolution). Links, unanswered, unsolicited
  and topics are derived by the generator's tracker from the packets it wrote: CONNACK answers the
  oldest open CONNECT, PINGRESP the oldest open PINGREQ, acknowledgements match by identifier in the
  owner's pool (client pool: its PUBLISH/SUBSCRIBE/UNSUBSCRIBE; server pool: its PUBLISH), an AUTH
  answers the previous AUTH of the other side. `unanswered` lists every request still open at the end
  of the capture, including requests left open because the peer closed after a violation;
  `unsolicited` lists responses with no open request (always accompanied by a violation, except the
  resend burst of a resumed session). Violations that are an absence (keep-alive overrun) are put on
  the first frame after the deadline.
* The "Frame(s)" column below lists the violation frames, or for valid captures the frames to look
  at (split/coalesced segments, aliased PUBLISHes, ...).

Manifest schema notes (beyond the brief): packet entries may also carry `dup`, `retain`, `alias`,
`reasons` (SUBACK/UNSUBACK code list), `filters`, `session_present`, `framing_error`; 5.0 acks,
DISCONNECT and AUTH carry the effective `reason` (0 for the abbreviated forms). Frames may carry
`unframed` (bytes after a framing error) and `incomplete` (bytes of a packet that never completes);
frames in the middle of a packet that spans segments have an empty `packets` list. Links carry
`request_index`/`response_index` (instead of a single `index`) when a frame holds several packets,
and `retransmission: true` for the link from a DUP copy. Violations, unanswered, unsolicited and
topics entries carry `dir`; topic entries whose alias cannot be resolved have `topic: null`.
Multi-connection captures add `stream` to frames and a top-level `streams` list. Strings that are
not valid UTF-8 appear with U+FFFD replacement characters.

| File | Contents | Frame(s) | Rule / statement id |
|---|---|---|---|
"""


def md_cell(s):
    return str(s).replace('|', '\\|').replace('\n', ' ')


def readme_text(rows):
    out = [README_HEAD]
    for path, entry, focus in rows:
        if entry['violations']:
            frames = sorted({v['frame'] for v in entry['violations']})
            ids = []
            for v in entry['violations']:
                tag = '%s (%s, v%s)' % (', '.join(v['ids']), v['severity'], v['version'])
                if tag not in ids:
                    ids.append(tag)
            rule = '; '.join(ids)
        else:
            frames = focus
            rule = 'valid'
        fr = ', '.join(str(f) for f in frames[:10]) + (', ...' if len(frames) > 10 else '') if frames else '-'
        out.append('| [%s](%s) | %s | %s | %s |\n' % (
            path.split('/', 1)[1], path, md_cell(entry['summary']), fr, md_cell(rule)))
    return ''.join(out)


def generate(out_dir, readme_path, large=False, quiet=False):
    for sub in ('framing', 'invalid', 'tracking', 'journeys', 'websocket', 'transport'):
        shutil.rmtree(os.path.join(out_dir, sub), ignore_errors=True)
    os.makedirs(out_dir, exist_ok=True)
    man, rows, total = {}, [], 0
    for sc in sorted(SCENARIOS, key=lambda s: s['path']):
        if sc['large'] and not large:
            continue
        cap = build(sc)
        data = cap.pcap_bytes()
        entry, focus = manifest_entry(sc, cap)
        if not sc['large']:
            assert len(data) < 50 * 1024 or 'interleaved' in sc['path'], '%s too big' % sc['path']
        fn = os.path.join(out_dir, sc['path'].split('/', 1)[1])
        os.makedirs(os.path.dirname(fn), exist_ok=True)
        with open(fn, 'wb') as f:
            f.write(data)
        with open(fn, 'rb') as f:
            self_check(sc['path'], f.read(), cap, entry)      # read back what was written
        total += len(data)
        man[sc['path']] = entry
        rows.append((sc['path'], entry, focus))
    mtext = dump_manifest(man)
    with open(os.path.join(out_dir, 'manifest.json'), 'w', encoding='utf-8', newline='\n') as f:
        f.write(mtext)
    text = splice_readme(readme_path, readme_text(rows))
    with open(readme_path, 'w', encoding='utf-8', newline='\n') as f:
        f.write(text)
    if not quiet:
        groups = {}
        for p in man:
            g = p.split('/')[1]
            groups[g] = groups.get(g, 0) + 1
        print('wrote %d captures (%s), %d bytes of pcap, manifest %d bytes'
              % (len(man), ', '.join('%s %d' % kv for kv in sorted(groups.items())), total, len(mtext)))
    return man


def compare_trees(a_dir, a_readme, b_dir, b_readme):
    diffs = []

    def files(root):
        res = set()
        for dp, _dn, fns in os.walk(root):
            for fn in fns:
                res.add(os.path.relpath(os.path.join(dp, fn), root))
        return res
    fa, fb = files(a_dir), files(b_dir)
    for f in sorted(fa ^ fb):
        diffs.append('only in %s: %s' % ('fresh' if f in fa else 'committed', f))
    for f in sorted(fa & fb):
        with open(os.path.join(a_dir, f), 'rb') as x, open(os.path.join(b_dir, f), 'rb') as y:
            if x.read() != y.read():
                diffs.append('differs: %s' % f)
    if readme_section(a_readme) != readme_section(b_readme):
        diffs.append('differs: the "%s" section of %s' % (README_SECTION, b_readme))
    return diffs


# ---------------------------------------------------------------------- tshark comparison

def tshark_compare(out_dir, man):
    """Compare tshark's built-in MQTT dissector with the manifest (valid captures) and look
    for TCP/IP analysis problems (all captures).  Prints findings; returns their count."""
    exe = shutil.which('tshark')
    if not exe:
        print('tshark not found')
        return 0
    problems = 0
    for path, entry in man.items():
        fn = os.path.join(out_dir, path.split('/', 1)[1])
        r = subprocess.run([exe, '-r', fn, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE',
                            '-Y', 'tcp.analysis.flags || tcp.checksum.status == 0 || ip.checksum.status == 0',
                            '-T', 'fields', '-e', 'frame.number', '-e', '_ws.expert.message',
                            '-E', 'separator=|'], capture_output=True, text=True)
        for line in r.stdout.splitlines():
            if line.strip():
                problems += 1
                print('TCP/IP  %s: frame %s' % (path, line))
        if entry['violations']:
            continue
        r = subprocess.run([exe, '-r', fn, '-Y', 'mqtt', '-T', 'fields', '-e', 'frame.number',
                            '-e', 'mqtt.msgtype', '-e', 'mqtt.msgid', '-e', 'mqtt.topic', '-E', 'separator=|'],
                           capture_output=True, text=True)
        seen = {}
        for line in r.stdout.splitlines():
            parts = line.split('|')
            types = [int(x) for x in parts[1].split(',') if x]
            seen[int(parts[0])] = [TYPE_NAMES[t] for t in types]
        want = {f['frame']: [p['type'] for p in f['packets']] for f in entry['frames'] if f['packets']}
        for fno in sorted(set(seen) | set(want)):
            if seen.get(fno) != want.get(fno):
                problems += 1
                print('MQTT    %s: frame %d manifest %s, tshark %s' % (path, fno, want.get(fno), seen.get(fno)))
    return problems


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', default=DEFAULT_OUT, help='output directory (default: pcaps/generated)')
    ap.add_argument('--readme', default=None, help='README whose "## Generated captures" section is written '
                    '(default: pcaps/README.md, or <out>/../README.md with --out)')
    ap.add_argument('--check', action='store_true', help='regenerate into a temp dir and compare')
    ap.add_argument('--tshark', action='store_true', help='compare with tshark after generating')
    ap.add_argument('--large', action='store_true', help='also write the 2 MB 4-byte-RL capture')
    ap.add_argument('--quiet', action='store_true')
    args = ap.parse_args(argv)
    out = os.path.abspath(args.out)
    readme = args.readme or (DEFAULT_README if out == DEFAULT_OUT else
                             os.path.join(os.path.dirname(out), 'README.md'))
    if args.check:
        tmp = tempfile.mkdtemp(prefix='mqttlens-gen-')
        try:
            generate(os.path.join(tmp, 'generated'), os.path.join(tmp, 'README.md'),
                     large=args.large, quiet=True)
            diffs = compare_trees(os.path.join(tmp, 'generated'), os.path.join(tmp, 'README.md'),
                                  out, readme)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for d in diffs:
            print(d)
        print('check: %s' % ('OK' if not diffs else '%d difference(s)' % len(diffs)))
        return 1 if diffs else 0
    man = generate(out, readme, large=args.large, quiet=args.quiet)
    if args.tshark:
        n = tshark_compare(out, man)
        print('tshark comparison: %d finding(s)' % n)
    return 0


if __name__ == '__main__':
    sys.exit(main())
