"""Running tshark with the mqttlens plugin, the same way on every machine.

tshark run as root ignores WIRESHARK_PLUGIN_DIR and the personal plugin
folder.  So, as root, the tests copy the plugin and each capture into a
world-readable temporary folder and run tshark as the unprivileged user
`nobody` (setpriv).  As an ordinary user they point WIRESHARK_PLUGIN_DIR
at the same folder.  With MQTTLENS_USE_INSTALLED=1 they use whatever
plugin is installed (global or personal folder) and run tshark directly.

The environment is pinned (LANG=C, TZ=UTC, an empty HOME so that no
personal preferences apply), so output is the same everywhere.

Configuration comes from environment variables set by ctest:
  MQTTLENS_PLUGIN   path of the built mqttlens.so
  MQTTLENS_WS_ABI   Wireshark ABI folder name, e.g. "4.0"
  MQTTLENS_SOURCE   the project's top folder
  MQTTLENS_PRELOAD  the sanitizer runtime, for a plugin built with
                    -DMQTTLENS_SANITIZE=ON (tshark itself is not built with
                    it, so the runtime is preloaded); ASAN_OPTIONS,
                    UBSAN_OPTIONS and WIRESHARK_DEBUG_WMEM_OVERRIDE are
                    passed on.  Any sanitizer report fails the run.
"""

import atexit
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(os.environ.get("MQTTLENS_SOURCE", Path(__file__).resolve().parents[2]))
PCAPS = SOURCE / "pcaps"
SHARED = SOURCE.parent / "shared"
PEER_CAPTURES = SHARED / "peer-captures"
RULES_SHEET = SHARED / "reference" / "mqtt-wire-rules.md"

SANITIZER_ENV = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "WIRESHARK_DEBUG_WMEM_OVERRIDE")
_SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")

NOBODY_UID = 65534
NOBODY_GID = 65534


def _plugin_path():
    path = os.environ.get("MQTTLENS_PLUGIN")
    if path:
        return Path(path)
    abi = os.environ.get("MQTTLENS_WS_ABI", "4.0")
    return SOURCE / "build" / "plugins" / abi / "epan" / "mqttlens.so"


def sanitizer_report(stderr):
    """The part of tshark's error output from the first sanitizer report on,
    or None."""
    starts = [stderr.find(m) for m in _SANITIZER_MARKS if m in stderr]
    if not starts:
        return None
    start = stderr.rfind("\n", 0, min(starts)) + 1
    return stderr[start:start + 8000]


def all_captures():
    """Every capture committed under pcaps/, sorted, as paths."""
    found = [p for p in PCAPS.rglob("*") if p.suffix in (".pcap", ".pcapng")]
    return sorted(found, key=lambda p: str(p.relative_to(PCAPS)))


def concatenate(captures, dest):
    """One pcapng holding the given captures one after another (mergecap -a)."""
    subprocess.run(["mergecap", "-a", "-F", "pcapng", "-w", str(dest)] + [str(p) for p in captures], check=True)
    os.chmod(dest, 0o644)
    return dest


def capture_id(path):
    return str(Path(path).relative_to(PCAPS))


class Tshark:
    """One prepared environment in which tshark sees mqttlens."""

    def __init__(self):
        self.installed = os.environ.get("MQTTLENS_USE_INSTALLED") == "1"
        self.as_nobody = os.geteuid() == 0 and not self.installed
        self.work = Path(tempfile.mkdtemp(prefix="mqttlens-test-"))
        atexit.register(shutil.rmtree, self.work, True)
        os.chmod(self.work, 0o755)
        self.home = self.work / "home"
        self.home.mkdir()
        os.chmod(self.home, 0o777)
        self.out = self.work / "out"
        self.out.mkdir()
        os.chmod(self.out, 0o777)
        self.captures = self.work / "captures"
        self.captures.mkdir()
        os.chmod(self.captures, 0o755)
        self._copied = {}
        if not self.installed:
            plugin = _plugin_path()
            if not plugin.exists():
                raise RuntimeError(f"mqttlens plugin not built: {plugin}")
            abi = os.environ.get("MQTTLENS_WS_ABI", "4.0")
            epan = self.work / "plugins" / abi / "epan"
            epan.mkdir(parents=True)
            shutil.copy(plugin, epan / "mqttlens.so")
            for d in (self.work / "plugins", self.work / "plugins" / abi, epan):
                os.chmod(d, 0o755)
            os.chmod(epan / "mqttlens.so", 0o755)

    def env(self):
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C",
            "LC_ALL": "C",
            "TZ": "UTC",
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
        }
        if not self.installed:
            env["WIRESHARK_PLUGIN_DIR"] = str(self.work / "plugins")
        if os.environ.get("MQTTLENS_PRELOAD"):
            env["LD_PRELOAD"] = os.environ["MQTTLENS_PRELOAD"]
        for name in SANITIZER_ENV:
            if name in os.environ:
                env[name] = os.environ[name]
        return env

    def readable(self, capture):
        """A path to the capture that tshark's user can read."""
        capture = Path(capture)
        if not self.as_nobody:
            return capture
        if capture not in self._copied:
            dest = self.captures / f"{len(self._copied)}-{capture.name}"
            shutil.copy(capture, dest)
            os.chmod(dest, 0o644)
            self._copied[capture] = dest
        return self._copied[capture]

    def command(self, args):
        cmd = ["tshark"] + list(args)
        if self.as_nobody:
            cmd = ["setpriv", f"--reuid={NOBODY_UID}", f"--regid={NOBODY_GID}", "--clear-groups"] + cmd
        return cmd

    def run(self, args, capture=None, check=True):
        """Runs tshark (on `capture` with -r if given); returns stdout."""
        args = list(args)
        if capture is not None:
            args = ["-r", str(self.readable(capture))] + args
        proc = subprocess.run(self.command(args), env=self.env(), cwd=self.work,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              errors="replace")
        report = sanitizer_report(proc.stderr)
        if report:
            raise RuntimeError(f"tshark {' '.join(args)}: sanitizer report:\n{report}")
        if check and proc.returncode != 0:
            raise RuntimeError(f"tshark {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc.stdout

    def fields(self, capture, fields, display_filter=None, extra=()):
        """One row per frame (matching the filter): a list of lists, the
        values of each field in the order they occur in the frame."""
        args = ["-n", "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=\x1f",
                "-E", "quote=n"]
        for f in fields:
            args += ["-e", f]
        if display_filter:
            args += ["-Y", display_filter]
        args += list(extra)
        rows = []
        for line in self.run(args, capture).splitlines():
            cols = line.split("\t")
            cols += [""] * (len(fields) - len(cols))
            rows.append([c.split("\x1f") if c else [] for c in cols])
        return rows


_shared = None


def tshark():
    """The Tshark environment shared by a test run."""
    global _shared
    if _shared is None:
        _shared = Tshark()
    return _shared


# tshark writes control characters of field values into PDML unescaped;
# XML 1.0 does not allow them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class Packet:
    """One MQTT packet (one <proto> element of tshark's PDML output)."""

    def __init__(self, frame, proto, time=None):
        self.frame = frame
        self.time = time      # capture timestamp (seconds since the epoch, float)
        self.fields = {}      # name -> [show values], in order
        self.generated = {}   # name -> [show values] of zero-length (generated) items
        self.experts = []     # (expert field name, message, severity name)
        self.values = {}      # name -> [raw "value" attributes (hex bytes)] of real items
        for el in proto.iter("field"):
            name = el.get("name")
            if not name:
                continue
            if name == "_ws.expert":
                self._expert(el)
                continue
            target = self.generated if el.get("size") == "0" else self.fields
            target.setdefault(name, []).append(el.get("show", ""))
            if el.get("size") != "0" and el.get("value") is not None:
                self.values.setdefault(name, []).append(el.get("value"))

    _SEVERITIES = {"2097152": "chat", "4194304": "note", "6291456": "warning", "8388608": "error"}

    def _expert(self, el):
        name = message = severity = None
        for child in el:
            cname = child.get("name", "")
            if cname == "_ws.expert.message":
                message = child.get("show")
            elif cname == "_ws.expert.severity":
                severity = self._SEVERITIES.get(child.get("show"), child.get("show"))
            elif cname.startswith("mqttlens."):
                name = cname
        if name:
            self.experts.append((name, message or "", severity))

    def expert_names(self):
        return [e[0] for e in self.experts]

    def all(self, name):
        """Values of a field, real and generated."""
        return self.fields.get(name, []) + self.generated.get(name, [])

    def get(self, name):
        return self.fields.get(name, [])

    def first(self, name, default=None):
        values = self.fields.get(name)
        return values[0] if values else default

    def __repr__(self):
        return f"Packet(frame={self.frame}, fields={self.fields})"


def packets(capture, proto="mqttlens", extra=(), env=None):
    """Every `proto` PDU of the capture, in order, as Packet objects."""
    import xml.etree.ElementTree as ET
    t = env or tshark()
    args = ["-n", "-T", "pdml", "-Y", proto] + list(extra)
    out = _XML_INVALID.sub("\ufffd", t.run(args, capture))
    result = []
    for packet in ET.fromstring("<pdml_wrap>" + out.split("?>", 1)[-1] + "</pdml_wrap>").iter("packet"):
        frame = time = None
        for p in packet.findall("proto"):
            if p.get("name") == "geninfo":
                for f in p.findall("field"):
                    if f.get("name") == "num":
                        frame = int(f.get("show"))
                    elif f.get("name") == "timestamp":
                        time = float(f.get("value"))
            elif p.get("name") == proto:
                result.append(Packet(frame, p, time))
    return result
