"""GUI smoke test: Wireshark (Qt) under Xvfb opens a lab capture with the
plugin loaded, shows mqttlens' sessions table (so the plugin and its taps
are registered), and exits without a warning from the plugin.

Skipped, with the reason, where wireshark-qt, Xvfb or xdotool is missing
(apt-get install wireshark-qt xvfb xdotool).  Runs on display :79 (the
screenshots use :77).
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
import mqttlens  # noqa: E402

SOURCE = Path(__file__).resolve().parents[2]
DISPLAY = ":79"
MISSING = [tool for tool in ("wireshark", "Xvfb", "xdotool") if not shutil.which(tool)]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} "
                                "(apt-get install wireshark-qt xvfb xdotool)")


def windows(name):
    proc = subprocess.run(["xdotool", "search", "--name", name], env={"DISPLAY": DISPLAY, "PATH": os.environ["PATH"]},
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc.stdout.split()


def wait_for(name, proc, seconds=90):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if windows(name):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(1)
    return False


@pytest.fixture
def xvfb():
    proc = subprocess.Popen(["Xvfb", DISPLAY, "-screen", "0", "1280x860x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    assert proc.poll() is None, f"Xvfb could not start on {DISPLAY}"
    yield
    proc.terminate()
    proc.wait(10)


def test_wireshark_opens_lab_capture_without_plugin_warnings(xvfb):
    t = mqttlens.tshark()  # its folder holds the built plugin, readable by tshark's user
    home = Path(tempfile.mkdtemp(prefix="home-", dir=t.work))
    os.chmod(home, 0o777)
    capture = t.readable(SOURCE / "pcaps" / "lab" / "subscribe-v311.pcapng")
    env = dict(t.env(), DISPLAY=DISPLAY, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               LANG="C.UTF-8", LC_ALL="C.UTF-8")
    cmd = t.command(["-r", str(capture), "-z", "mqttlens,sessions"])
    cmd[cmd.index("tshark")] = "wireshark"
    proc = subprocess.Popen(cmd, env=env, cwd=t.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace")
    try:
        shown = wait_for("MQTT Sessions", proc)
        time.sleep(5)  # let it finish reading and dissecting the capture
        alive = proc.poll() is None
    finally:
        proc.terminate()  # Wireshark quits on SIGTERM like on File → Quit
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert shown and alive, f"no MQTT Sessions window, or Wireshark died:\n{err}"
    bad = [line for line in err.splitlines()
           if "mqttlens" in line.lower() or "plugin" in line.lower() or "CRITICAL" in line
           or "[Epan WARNING]" in line or "[Epan ERROR]" in line or "Dissector bug" in line]
    assert not bad, "\n".join(bad)
