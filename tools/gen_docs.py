#!/usr/bin/python3
"""Regenerates the reference tables of docs/ from the plugin itself.

docs/fields.md   the display-filter fields, from `tshark -G fields`
docs/expert.md   the expert items, from the rule catalogue in plugin/core/mqtt_rules.h
docs/preferences.md  the preferences, from `tshark -G defaultprefs`

Each document keeps its hand-written text; only the part between
"<!-- generated:NAME -->" and "<!-- end generated -->" is replaced.
With --check nothing is written and the exit status says whether the
documents are up to date (the test suite runs it).
"""

import argparse
import re
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TOP / "tests" / "lib"))
import mqttlens  # noqa: E402

GROUPS = {
    "MALFORMED": "Malformed", "PROTOCOL": "Protocol", "SEQUENCE": "Sequence", "RESPONSE": "Response code",
    "SECURITY": "Security", "COMMENT": "Comment", "UNDECODED": "Undecoded", "ASSUMPTION": "Assumption",
}
SEVERITIES = {"ERROR": "Error", "WARN": "Warning", "NOTE": "Note", "CHAT": "Chat"}


def md(text):
    return str(text).replace("|", "\\|")


def rules():
    """The rows of the MQTT_RULES X-macro."""
    text = (TOP / "plugin" / "core" / "mqtt_rules.h").read_text()
    body = text.split("#define MQTT_RULES(X)", 1)[1].split("enum mqtt_rule {", 1)[0]
    body = re.sub(r"\\\n", " ", body)
    body = re.sub(r"/\*.*?\*/", " ", body)
    pattern = re.compile(
        r'X\((\w+),\s*"([^"]+)",\s*(\w+),\s*(\w+),\s*(NULL|"(?:[^"\\]|\\.)*"),\s*(NULL|"(?:[^"\\]|\\.)*"),\s*'
        r'"((?:[^"\\]|\\.)*)"\s*\)')
    out = []
    for m in pattern.finditer(body):
        def lit(s):
            return "" if s == "NULL" else s[1:-1].replace('\\"', '"')
        out.append({"abbrev": "mqttlens." + m.group(2), "group": GROUPS[m.group(3)],
                    "severity": SEVERITIES[m.group(4)], "v311": lit(m.group(5)), "v5": lit(m.group(6)),
                    "summary": m.group(7).replace('\\"', '"')})
    return out


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


SECTIONS = {
    "docs/fields.md": {"fields": field_table},
    "docs/expert.md": {"expert": expert_table},
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
