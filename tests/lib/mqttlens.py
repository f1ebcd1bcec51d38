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
  MQTTLENS_SHARED   the folder of the peers' captures and the rules sheet
                    (default: ../shared next to the source)
  MQTTLENS_DISSECTED  a folder where each capture's dissection is kept,
                    one file per capture and mode (see dissection()), so
                    that every test reads the one tshark run it needs
                    instead of starting its own; filled by
                    tests/lib/dissect.py (the ctest fixture
                    captures/dissect) or on first use
  MQTTLENS_PRELOAD  the sanitizer runtime, for a plugin built with
                    -DMQTTLENS_SANITIZE=ON (tshark itself is not built with
                    it, so the runtime is preloaded); ASAN_OPTIONS,
                    UBSAN_OPTIONS and WIRESHARK_DEBUG_WMEM_OVERRIDE are
                    passed on.  Any sanitizer report fails the run.
"""

import atexit
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

SOURCE = Path(os.environ.get("MQTTLENS_SOURCE", Path(__file__).resolve().parents[2]))
PCAPS = SOURCE / "pcaps"
SHARED = Path(os.environ.get("MQTTLENS_SHARED", SOURCE.parent / "shared"))
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
    """A capture's name in test ids and baselines: its path under pcaps/,
    or "peer:" and its path under the peers' captures."""
    path = Path(path)
    try:
        return str(path.relative_to(PCAPS))
    except ValueError:
        pass
    try:
        return "peer:" + str(path.relative_to(PEER_CAPTURES))
    except ValueError:
        return str(path)


def peer_captures():
    """The peers' captures (../shared/peer-captures), sorted; empty when absent."""
    if not PEER_CAPTURES.is_dir():
        return []
    return sorted(p for p in PEER_CAPTURES.rglob("*") if p.suffix in (".pcap", ".pcapng"))


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
        else:
            # Most of a test's tshark run is Wireshark's start-up, and a
            # third of that is the kernel faulting in the heap page by page.
            # Transparent huge pages for malloc (glibc 2.35+, ignored by
            # older ones) cut its CPU time by about 15 % (docs/testing.md);
            # what tshark prints does not change.
            env["GLIBC_TUNABLES"] = "glibc.malloc.hugetlb=1"
        for name in SANITIZER_ENV:
            if name in os.environ:
                env[name] = os.environ[name]
        return env

    def readable(self, capture):
        """A path to the capture that tshark's user can read."""
        capture = Path(capture)
        if not self.as_nobody:
            return capture
        with _lock:
            return self._readable(capture)

    def _readable(self, capture):
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
        failure = _failure(args, proc.returncode if check else 0, proc.stderr)
        if failure:
            raise RuntimeError(failure)
        return proc.stdout

    def batch_possible(self):
        """Whether run_batch() can share one start-up (the fork server is
        built and no sanitizer runtime is preloaded)."""
        server = os.environ.get("MQTTLENS_FORKSERVER")
        return bool(server) and Path(server).exists() and not os.environ.get("MQTTLENS_PRELOAD") \
            and os.environ.get("MQTTLENS_NO_FORKSERVER") != "1"

    def run_batch(self, args, captures, parallel=1, prepare=None):
        """tshark `args` on each capture, as if started on each alone, with
        one start-up shared by all (tests/lib/forkserver.c).  Returns one
        (stdout, folder, failure) per capture: failure is None or what
        run() would have raised; the folder is where that tshark ran (a
        relative --export-objects folder is in it; `prepare` is called with
        each folder before tshark starts) and is the caller's to remove.
        Raises when the batch itself fails."""
        with _lock:
            batch = Path(tempfile.mkdtemp(prefix="batch-", dir=self.out))
        os.chmod(batch, 0o755)
        folders = []
        lines = []
        for i, capture in enumerate(captures):
            folder = batch / str(i)
            folder.mkdir()
            os.chmod(folder, 0o777)
            if prepare is not None:
                prepare(folder)
            folders.append(folder)
            lines.append(f"{self.readable(capture)}\t{folder}\n")
        jobs = batch / "jobs"
        jobs.write_text("".join(lines))
        os.chmod(jobs, 0o644)
        server = self.work / "forkserver.so"
        with _lock:
            if not server.exists():
                shutil.copy(os.environ["MQTTLENS_FORKSERVER"], server)
                os.chmod(server, 0o755)
        env = self.env()
        env.update(LD_PRELOAD=str(server), MQTTLENS_FORK_JOBS=str(jobs),
                   MQTTLENS_FORK_PARALLEL=str(parallel))
        cmd = self.command(["-r", str(self.readable(captures[0]))] + list(args))
        proc = subprocess.run(cmd, env=env, cwd=self.work, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"tshark batch {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        results = []
        for capture, folder in zip(captures, folders):
            status = (folder / "status").read_text().strip() if (folder / "status").exists() else "no status"
            stderr = (folder / "stderr").read_text(errors="replace") if (folder / "stderr").exists() else ""
            failure = _failure(["-r", str(capture)] + list(args), 0 if status == "0" else status, stderr)
            results.append(((folder / "stdout").read_text(errors="replace"), folder, failure))
        return results

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
_lock = threading.Lock()


def _failure(args, returncode, stderr):
    """What is wrong with a tshark run (a sanitizer report, a non-zero exit
    code), or None."""
    report = sanitizer_report(stderr)
    if report:
        return f"tshark {' '.join(args)}: sanitizer report:\n{report}"
    if returncode != 0:
        return f"tshark {' '.join(args)} failed ({returncode}):\n{stderr}"
    return None


def tshark():
    """The Tshark environment shared by a test run."""
    global _shared
    with _lock:
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
            target.setdefault(name, []).append(normal_show(name, el.get("show", "")))
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
    """Every `proto` PDU of the capture, in order, as Packet objects, from a
    tshark run of its own (dissected() shares one run per mode)."""
    t = env or tshark()
    args = ["-n", "-T", "pdml", "-Y", proto] + list(extra)
    return parse_pdml(t.run(args, capture), proto)


# ---------------------------------------------------------------------------
# One dissection per capture and mode, shared by every test that needs it.
#
# Each mode is one tshark run over one capture (a capture is never merged
# with another here: the connection and capture analysis would then see
# them as one).  The output is kept in MQTTLENS_DISSECTED/<mode>/ when that
# is set, else in this process only.  A stamp of the plugin and tshark in
# use guards against reading another build's results.

MODES = {
    # every mqttlens PDU, two passes (what Wireshark shows once a file is loaded)
    "two": ["-n", "-2", "-T", "pdml", "-Y", "mqttlens", "-J", "frame ip ipv6 tcp mqttlens"],
    # every mqttlens PDU, one pass (what a live capture shows)
    "one": ["-n", "-T", "pdml", "-Y", "mqttlens", "-J", "frame ip ipv6 tcp mqttlens"],
    # Wireshark's own MQTT dissector
    "builtin": ["-n", "-T", "pdml", "-Y", "mqtt", "--disable-protocol", "mqttlens", "-J", "frame ip ipv6 tcp mqtt"],
    # the Info column of every mqttlens frame, two passes (JSON escapes
    # text the same way on every version; -T fields does not)
    "info": ["-n", "-2", "-T", "json", "-Y", "mqttlens", "-e", "frame.number", "-e", "_ws.col.Info"],
    # every mqttlens tap in one run (two passes): stats tree, response
    # times, flow graph, and the exported objects in <key>.objects/
    "taps": ["-n", "-2", "-q", "-z", "mqttlens,tree", "-z", "mqttlens,srt", "-z", "flow,mqttlens,standard"],
}

# One run that writes both "info" and "taps" (dissect.py uses it for the
# captures that need both): the taps print after the JSON array, and a
# display filter does not restrict what taps see, so each part is what its
# own run prints (checked on every tap capture when this was introduced).
INFO_AND_TAPS = "info+taps"

# tools/test.sh --quick (MQTTLENS_QUICK=1): only these modes, only our
# captures; a test that needs another mode skips itself.
QUICK_MODES = ("two", "info")


def quick():
    return os.environ.get("MQTTLENS_QUICK") == "1"
_TAP_ARGS = MODES["taps"][3:]


def _split_json_array(out):
    """(the JSON array tshark -T json printed, what followed it)."""
    if out.startswith("[]\n"):
        return "[]\n", out[3:]
    end = out.find("\n]\n")
    if not out.startswith("[") or end < 0:
        return "", out
    return out[:end + 3], out[end + 3:]


def _file_stamp(path):
    try:
        st = Path(path).stat()
        return f"{path}:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        return f"{path}:absent"


@functools.lru_cache(maxsize=None)
def stamp():
    """What the dissections depend on besides the capture: the plugin and
    tshark (and whether a sanitizer runtime is preloaded)."""
    tshark_bin = shutil.which("tshark") or "tshark"
    parts = [_file_stamp(tshark_bin), os.environ.get("MQTTLENS_PRELOAD", ""),
             "installed" if os.environ.get("MQTTLENS_USE_INSTALLED") == "1" else _file_stamp(_plugin_path())]
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def cache_dir():
    d = os.environ.get("MQTTLENS_DISSECTED")
    return Path(d) if d else None


def cache_key(capture):
    return capture_id(capture).replace("peer:", "peer__").replace("/", "__")


_memory = {}


def dissection(capture, mode):
    """tshark's output for `capture` in `mode` (see MODES): read from the
    shared folder when a run with this plugin wrote it there, else run
    once and keep it."""
    capture = Path(capture)
    key = (str(capture), mode)
    if key in _memory:
        return _memory[key]
    folder = cache_dir()
    path = None
    if folder is not None:
        path = folder / stamp() / mode / (cache_key(capture) + ".out")
        if path.exists():
            return path.read_text(errors="replace")
    if mode == INFO_AND_TAPS:
        return _info_and_taps(capture)
    if quick() and mode not in QUICK_MODES:
        import pytest
        pytest.skip(f"tools/test.sh --quick dissects only in {', '.join(QUICK_MODES)}, not {mode}")
    t = tshark()
    args = list(MODES[mode])
    if mode == "taps":
        args += _objects_args(capture)
    out = t.run(args, capture)
    _keep(capture, mode, out)
    return out


def _cache_path(capture, mode):
    folder = cache_dir()
    return None if folder is None else folder / stamp() / mode / (cache_key(capture) + ".out")


def _keep(capture, mode, out):
    path = _cache_path(capture, mode)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(out)
        os.replace(tmp, path)
    else:
        _memory[(str(capture), mode)] = out


def _objects_path(capture):
    """The folder that holds the objects the taps mode exported."""
    path = _cache_path(capture, "taps")
    return path.with_suffix(".objects") if path is not None else tshark().out / ("objects-" + cache_key(capture))


def _writable_folder(path):
    """`path`, emptied, as a folder tshark's user can write into."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.chmod(path, 0o777)
    return path


def _objects_args(capture):
    """--export-objects into the capture's (emptied) folder of the taps mode."""
    objects = _writable_folder(_objects_path(capture))
    os.chmod(objects.parent, 0o755)
    return ["--export-objects", f"mqttlens,{objects}"]


def _batch_objects_folder(folder):
    """A batch's taps run exports into "objects" of the folder it runs in."""
    _writable_folder(folder / "objects")


def _keep_info_and_taps(capture, out):
    """Keeps what one INFO_AND_TAPS run printed as "info" and "taps"."""
    info, taps = _split_json_array(out)
    _keep(capture, "info", info)
    _keep(capture, "taps", taps)


def _info_and_taps(capture):
    """The "info" and "taps" outputs of the capture from one tshark run."""
    out = tshark().run(MODES["info"] + _TAP_ARGS + _objects_args(capture), capture)
    _keep_info_and_taps(capture, out)
    return out


def dissect_batch(captures, mode, parallel=1):
    """dissection() of every capture in `mode` (or INFO_AND_TAPS), with one
    tshark start-up for all of them (Tshark.run_batch): each capture still
    has a tshark process of its own, started as if on it alone.  Returns
    what failed, one line per capture; the others are kept."""
    taps = mode == INFO_AND_TAPS
    if taps:
        # relative: each capture's tshark runs in a folder of its own
        args = MODES["info"] + _TAP_ARGS + ["--export-objects", "mqttlens,objects"]
        prepare = _batch_objects_folder
    else:
        args, prepare = list(MODES[mode]), None
    failed = []
    for capture, (out, folder, failure) in zip(captures, tshark().run_batch(args, captures, parallel, prepare)):
        if failure:
            failed.append(f"{capture_id(capture)} ({mode}): {failure}")
        elif taps:
            _keep_info_and_taps(capture, out)
            objects = _objects_path(capture)
            shutil.rmtree(objects, ignore_errors=True)
            shutil.move(str(folder / "objects"), str(objects))
        else:
            _keep(capture, mode, out)
        shutil.rmtree(folder, ignore_errors=True)
    return failed


def exported_objects(capture):
    """The files --export-objects mqttlens wrote for the capture: name -> bytes."""
    dissection(capture, "taps")
    objects = _objects_path(capture)
    return {f.name: f.read_bytes() for f in sorted(objects.iterdir())}


def tap_outputs(capture):
    """The three text taps of one "taps" run, split: {"flow", "srt", "tree"}.
    Each starts at its own heading, whatever order tshark prints them in."""
    out = dissection(capture, "taps")
    lines = out.splitlines(keepends=True)
    starts = {}
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.startswith("====") and nxt.startswith("MQTTlens SRT Statistics"):
            starts.setdefault("srt", i - 1 if i and lines[i - 1].strip() == "" else i)
        elif line.startswith("====") and nxt.startswith("MQTT/Packets"):
            starts.setdefault("tree", i - 1 if i and lines[i - 1].strip() == "" else i)
    flow_start = 0
    bounds = sorted((v, k) for k, v in starts.items())
    result = {}
    # the flow graph is what precedes (or follows) the two statistics blocks
    edges = [b for b, _k in bounds] + [len(lines)]
    for (begin, name), end in zip(bounds, edges[1:]):
        result[name] = "".join(lines[begin:end])
    first = bounds[0][0] if bounds else len(lines)
    result["flow"] = "".join(lines[flow_start:first])
    return result


@functools.lru_cache(maxsize=None)
def field_types():
    """Field name -> Wireshark field type (FT_...), for every registered
    field, from `tshark -G fields` (kept with the dissections)."""
    folder = cache_dir()
    path = folder / stamp() / "fields.txt" if folder is not None else None
    if path is not None and path.exists():
        out = path.read_text()
    else:
        out = tshark().run(["-G", "fields"])
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".fields.{os.getpid()}")
            tmp.write_text(out)
            os.replace(tmp, path)
    types = {}
    for line in out.splitlines():
        cols = line.split("\t")
        if cols[0] == "F" and len(cols) > 3:
            types[cols[2]] = cols[3]
    return types


_RELATIVE = re.compile(r"^\s*(-?[0-9.]+)\s*(seconds?|milliseconds?|microseconds?|nanoseconds?|s|ms|µs|us|ns)?\s*$")
_UNIT = {"": 1, "s": 1, "second": 1, "seconds": 1, "ms": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3,
         "µs": 1e-6, "us": 1e-6, "microsecond": 1e-6, "microseconds": 1e-6,
         "ns": 1e-9, "nanosecond": 1e-9, "nanoseconds": 1e-9}


def normal_show(name, show):
    """A field's PDML `show` written the same way on every Wireshark
    version: booleans as 1/0 (4.2+ print True/False), relative times as
    seconds with nine decimals (4.6 prints small ones in microseconds)."""
    ftype = field_types().get(name)
    if ftype == "FT_BOOLEAN":
        if show in ("True", "TRUE", "true"):
            return "1"
        if show in ("False", "FALSE", "false"):
            return "0"
        return show
    if ftype == "FT_RELATIVE_TIME":
        m = _RELATIVE.match(show)
        if m:
            return f"{float(m.group(1)) * _UNIT[m.group(2) or '']:.9f}"
    return show


TCP_SEGMENT_SUFFIX = " [TCP segment of a reassembled PDU]"

# What Wireshark's JSON dissector appends to the Info column of a payload it
# decodes: its name, "JavaScript Object Notation" up to 4.2, "JSON" from 4.4
# on (then the media type in parentheses, if any).  JSON's text, not
# mqttlens's: written the 4.0 way.
_JSON_INFO = re.compile(r", JSON(?=$| \(|, )")
JSON_INFO_NAME = ", JavaScript Object Notation"


def info_columns(capture):
    """frame number -> Info column of every mqttlens frame (two passes),
    without TCP's "[TCP segment of a reassembled PDU]" suffix (gone in
    4.4), which is TCP's text, not mqttlens's, and with the JSON
    dissector's name as 4.0 writes it (_JSON_INFO)."""
    text = dissection(capture, "info").strip()
    rows = json.loads(text) if text else []
    out = {}
    for row in rows:
        layers = row.get("_source", {}).get("layers", {})
        frame = int(layers["frame.number"][0])
        # 4.6 names the column field _ws.col.info in its JSON
        info = (layers.get("_ws.col.Info") or layers.get("_ws.col.info") or [""])[0]
        if info.endswith(TCP_SEGMENT_SUFFIX):
            info = info[:-len(TCP_SEGMENT_SUFFIX)]
        out[frame] = _JSON_INFO.sub(JSON_INFO_NAME, info)
    return out


def parse_pdml(text, proto):
    """Packet objects for every `proto` element of tshark's PDML output."""
    import xml.etree.ElementTree as ET
    out = _XML_INVALID.sub("\ufffd", text)
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


@functools.lru_cache(maxsize=64)
def _dissected(capture, mode):
    return tuple(parse_pdml(dissection(capture, mode), "mqtt" if mode == "builtin" else "mqttlens"))


def dissected(capture, mode="two"):
    """The PDUs of one shared dissection: mqttlens's in "one" and "two",
    the built-in dissector's in "builtin"."""
    return list(_dissected(Path(capture), mode))


def xml_root(capture, mode):
    """The whole PDML of a shared dissection, as an ElementTree element."""
    import xml.etree.ElementTree as ET
    out = _XML_INVALID.sub("\ufffd", dissection(capture, mode))
    return ET.fromstring("<pdml_wrap>" + out.split("?>", 1)[-1] + "</pdml_wrap>")
