#!/usr/bin/python3
"""Regenerates the reference tables of docs/ from the plugin itself.

docs/fields.md   the display-filter fields, from `tshark -G fields`
docs/expert.md   the expert items as mqttlens registers them: the rows that
                 mqtt_expert_register() hands to Wireshark, printed by the
                 build's mqttlens-expert-dump (tools/expert_dump.c), checked
                 against the fields `tshark -G fields` reports
docs/preferences.md  the preferences, from `tshark -G defaultprefs`
docs/expert.md   also, per finding, the statement it enforces, when it stays
                 silent and the captures that test it: docs/expert-conditions.md
                 (hand-written, keyed by expert field) merged with what is
                 registered; every registered finding needs an entry there,
                 and an entry may name only registered fields and existing
                 captures

Each document keeps its hand-written text; only the part between
"<!-- generated:NAME -->" and "<!-- end generated -->" is replaced.
With --check nothing is written and the exit status says whether the
documents are up to date (the test suite runs it).
"""

import argparse
import functools
import os
import re
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
            # tshark's own hints about the value's syntax (lower case from 4.4; 4.6 adds the
            # "Equivalently" line).
            text = " ".join(d for d in desc
                            if not d.lower().startswith(("true or false", "one of:", "equivalently, one of:",
                                                         "a string", "(case")))
            lines.append(f"| `{name.strip()}` | `{value.strip()}` | {md(text)} |")
            desc = []
        elif not line.strip():
            desc = []
    return "\n".join(lines)


CONDITIONS = TOP / "docs" / "expert-conditions.md"
CONDITION_KEYS = ("Spec", "Silent when", "Tested by")
CAPTURE_TOKEN = re.compile(r"`([^`]+\.pcap(?:ng)?)`")


def parse_conditions(text):
    """docs/expert-conditions.md as [("section", title) | ("entry", names,
    {key: text})]; the prose before the first "## " is not part of it."""
    items, entry = [], None
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("## "):
            entry = None
            items.append(("section", line[3:].strip()))
        elif line.startswith("### "):
            names = re.findall(r"`(mqttlens\.[a-z0-9_.]+)`", line)
            if not names:
                raise SystemExit(f"{CONDITIONS.name}:{n}: a heading names no expert field")
            entry = {}
            items.append(("entry", names, entry, n))
        elif line.startswith("- ") and entry is not None:
            key, sep, value = line[2:].partition(": ")
            if not sep or key not in CONDITION_KEYS or key in entry:
                raise SystemExit(f"{CONDITIONS.name}:{n}: expected one of {', '.join(CONDITION_KEYS)} once each")
            entry[key] = value.strip()
        elif line.strip() and entry is not None:
            raise SystemExit(f"{CONDITIONS.name}:{n}: text outside the {', '.join(CONDITION_KEYS)} lines")
    return items


def conditions():
    """The entries of docs/expert-conditions.md, checked against what is
    registered and against the captures that exist."""
    items = parse_conditions(CONDITIONS.read_text())
    registered = {r["abbrev"]: r for r in rules()}
    problems, seen = [], {}
    for item in items:
        if item[0] != "entry":
            continue
        _kind, names, fields, line = item
        for name in names:
            if name not in registered:
                problems.append(f"line {line}: {name} is not a registered expert field")
            elif name in seen:
                problems.append(f"line {line}: {name} has another entry on line {seen[name]}")
            seen.setdefault(name, line)
        for key in CONDITION_KEYS:
            if not fields.get(key):
                problems.append(f"line {line}: {', '.join(names)}: no \"{key}:\"")
        captures = CAPTURE_TOKEN.findall(fields.get("Tested by", ""))
        if fields.get("Tested by") and not captures:
            problems.append(f"line {line}: {', '.join(names)}: \"Tested by:\" names no capture")
        for capture in captures:
            if not (TOP / "pcaps" / capture).is_file():
                problems.append(f"line {line}: {capture} is not a capture under pcaps/")
    for name in registered:
        if name not in seen:
            problems.append(f"{name} is registered but has no entry")
    if problems:
        raise SystemExit(f"{CONDITIONS.relative_to(TOP)} disagrees with what mqttlens registers:\n  "
                         + "\n  ".join(problems))
    return items, registered


def conditions_text():
    items, registered = conditions()
    out = []
    for item in items:
        if item[0] == "section":
            out += [f"### {item[1]}", ""]
            continue
        _kind, names, fields, _line = item
        out.append("#### " + ", ".join(f"`{n}`" for n in names))
        out.append("")
        for n in names:
            r = registered[n]
            refs = "; ".join(f"{v} {md(r[k])}" for v, k in (("3.1.1", "v311"), ("5.0", "v5")) if r[k]) or "no statement id"
            out.append(f"- `{n}`: {r['severity']}, {r['group']} ({refs}): {md(r['summary'])}")
        out.append(f"- **Spec:** {fields['Spec']}")
        out.append(f"- **Silent when:** {fields['Silent when']}")
        tested = CAPTURE_TOKEN.sub(lambda m: f"[`{m.group(1)}`](../pcaps/{m.group(1)})", fields["Tested by"])
        out.append(f"- **Tested by:** {tested}")
        out.append("")
    return "\n".join(out).rstrip("\n")


SECTIONS = {
    "docs/fields.md": {"fields": field_table},
    "docs/expert.md": {"families": family_table, "expert": expert_table, "conditions": conditions_text},
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
