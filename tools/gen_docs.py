#!/usr/bin/python3
"""Regenerates the reference tables of docs/ from the plugin itself.

docs/fields.md   the display-filter fields, from `tshark -G fields`
docs/expert.md   the expert items as mqttlens registers them: the rows that
                 mqtt_expert_register() hands to Wireshark, printed by the
                 build's mqttlens-expert-dump (tools/expert_dump.c), checked
                 against the fields `tshark -G fields` reports
docs/preferences.md  the preferences, from `tshark -G defaultprefs`

Each document keeps its hand-written text; only the part between
"<!-- generated:NAME -->" and "<!-- end generated -->" is replaced.
With --check nothing is written and the exit status says whether the
documents are up to date (the test suite runs it).
"""

import argparse
import functools
import os
import subprocess
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "tests" / "lib"))
import mqttlens  # noqa: E402

# What each family of findings is about (the severities come from what is
# registered).
FAMILIES = {
    "malformed": "the bytes cannot be what the specification says (truncated fields, surplus bytes, broken lengths)",
    "rule": "a MUST of the specification is broken: a malformed value is an Error; a wrong value or a wrong order "
            "(Protocol Error, sequence) a Warning; a SHOULD a Note",
    "analysis": "what the connection analysis noticed: unanswered requests, retransmissions, assumptions, "
                "payload rules that could not be applied",
    "security": "what an auditor cares about: passwords in clear text, failed and repeated failed logins, "
                "anonymous access, subscriptions to everything",
}
SEVERITY_ORDER = ["Error", "Warning", "Note", "Chat"]


def md(text):
    return str(text).replace("|", "\\|")


def build_dir():
    """The build folder: the one of the plugin under test, else build/."""
    plugin = os.environ.get("MQTTLENS_PLUGIN")
    if plugin:  # <build>/plugins/<abi>/epan/mqttlens.so
        return Path(plugin).resolve().parents[3]
    return Path(os.environ.get("MQTTLENS_BUILD", TOP / "build"))


@functools.lru_cache(maxsize=None)
def rules():
    """The expert items as registered: mqttlens-expert-dump's rows, each
    checked against what tshark reports for the loaded plugin."""
    dump = build_dir() / "mqttlens-expert-dump"
    out = subprocess.run([str(dump)], check=True, stdout=subprocess.PIPE, text=True).stdout
    rows = []
    for line in out.splitlines():
        name, family, group, severity, v311, v5, summary = line.split("\t")
        rows.append({"abbrev": name, "family": family, "group": group, "severity": severity, "v311": v311,
                     "v5": v5, "summary": summary})
    registered = {}
    for line in mqttlens.tshark().run(["-G", "fields"]).splitlines():
        cols = line.split("\t")
        if len(cols) >= 4 and cols[0] == "F" and cols[3] == "FT_NONE" and cols[2].startswith("mqttlens."):
            registered[cols[2]] = cols[1]
    families = {f"mqttlens.{f}" for f in FAMILIES}
    expert = {k: v for k, v in registered.items()
              if k not in families and k.split(".")[1] in FAMILIES and k.count(".") >= 2}
    dumped = {r["abbrev"]: r["summary"] for r in rows}
    if dumped != expert:
        missing = sorted(set(expert) ^ set(dumped)) or sorted(k for k in dumped if dumped[k] != expert.get(k))
        raise SystemExit(f"mqttlens-expert-dump and tshark disagree about: {', '.join(missing)}")
    return rows


def family_table():
    lines = ["| prefix | what | severity |", "| --- | --- | --- |"]
    found = {}
    for r in rules():
        found.setdefault(r["family"], set()).add(r["severity"])
    for family, what in FAMILIES.items():
        sev = ", ".join(s for s in SEVERITY_ORDER if s in found.get(family, ()))
        lines.append(f"| `mqttlens.{family}.*` | {md(what)} | {sev} |")
    return "\n".join(lines)


def expert_table():
    lines = ["| expert field | severity | group | MQTT 3.1.1 | MQTT 5.0 | raised when |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rules():
        lines.append(f"| `{r['abbrev']}` | {r['severity']} | {r['group']} | {md(r['v311']) or '—'} | "
                     f"{md(r['v5']) or '—'} | {md(r['summary'])} |")
    return "\n".join(lines)


def field_table():
    expert = {r["abbrev"] for r in rules()}
    out = mqttlens.tshark().run(["-G", "fields"])
    lines = ["| field | type | label | description |", "| --- | --- | --- | --- |"]
    for line in out.splitlines():
        cols = line.split("\t")
        if len(cols) < 8 or cols[0] != "F" or not cols[2].startswith("mqttlens.") or cols[2] in expert:
            continue
        lines.append(f"| `{cols[2]}` | {cols[3]} | {md(cols[1])} | {md(cols[7])} |")
    return "\n".join(lines)


def preference_table():
    out = mqttlens.tshark().run(["-G", "defaultprefs"])
    lines = ["| preference | default | description |", "| --- | --- | --- |"]
    desc = []
    for line in out.splitlines():
        if line.startswith("# ") and not line.startswith("# mqttlens."):
            desc.append(line[2:].strip())
        elif line.startswith("#mqttlens.") or line.startswith("mqttlens."):
            name, _, value = line.lstrip("#").partition(":")
            text = " ".join(d for d in desc if not d.startswith(("TRUE or FALSE", "One of:", "A string", "(case")))
            lines.append(f"| `{name.strip()}` | `{value.strip()}` | {md(text)} |")
            desc = []
        elif not line.strip():
            desc = []
    return "\n".join(lines)


SECTIONS = {
    "docs/fields.md": {"fields": field_table},
    "docs/expert.md": {"families": family_table, "expert": expert_table},
    "docs/preferences.md": {"preferences": preference_table},
}


def splice(text, name, table):
    start, end = f"<!-- generated:{name} -->", "<!-- end generated -->"
    if start not in text:
        raise SystemExit(f"marker {start} missing")
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    return f"{head}{start}\n{table}\n{end}{tail}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only report whether the documents are up to date")
    args = ap.parse_args()
    stale = []
    for doc, sections in SECTIONS.items():
        path = TOP / doc
        text = path.read_text()
        new = text
        for name, make in sections.items():
            new = splice(new, name, make())
        if new != text:
            stale.append(doc)
            if not args.check:
                path.write_text(new)
    if args.check and stale:
        print("out of date (run tools/gen_docs.py): " + ", ".join(stale))
        return 1
    print("docs up to date" if args.check else f"updated: {', '.join(stale) or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
