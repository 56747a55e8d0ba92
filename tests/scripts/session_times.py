"""Render the time of each nox session into docs/guide/reliability.md.

``python3 -m nox --report nox-report.json`` (``.ci/run`` writes ``.nox/report.json``)
records each session's duration.  This script reads one or more such reports (a session
in a later report replaces the same session in an earlier one, so sessions timed one by
one can be merged), stores them in ``docs/guide/session-times.json`` and rewrites the
table between the markers ``<!-- session-times -->`` and ``<!-- /session-times -->``
of the reliability page.  With ``--check`` it rewrites nothing and exits with status 1
when the page's table is not the rendering of the stored JSON (``tests/test_package.py``
runs it so), so the table cannot be typed by hand::

    python3 tests/scripts/session_times.py .nox/report.json --wall 1234 --note "..."
    python3 tests/scripts/session_times.py --check
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "guide" / "reliability.md"
STORE = ROOT / "docs" / "guide" / "session-times.json"
BEGIN, END = "<!-- session-times -->", "<!-- /session-times -->"


def _minutes(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def merge(reports: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Sessions by name, a later report's entry replacing an earlier one's."""
    out: dict[str, dict[str, Any]] = {}
    for report in reports:
        for entry in report["sessions"]:
            out[entry["name"]] = {"duration": round(float(entry["duration"]), 1),
                                  "result": entry["result"]}
    return out


def render(data: dict[str, Any]) -> str:
    """The Markdown between the markers: a row per session, slowest first, and the sum."""
    sessions = data["sessions"]
    rows = ["| session | time | result |", "|---|---:|---|"]
    for name, entry in sorted(sessions.items(), key=lambda kv: -kv[1]["duration"]):
        rows.append(f"| `{name}` | {_minutes(entry['duration'])} | {entry['result']} |")
    total = sum(entry["duration"] for entry in sessions.values())
    rows.append(f"| sum of the sessions | {_minutes(total)} | |")
    lines = ["\n".join(rows), ""]
    if data.get("wall") is not None:
        lines.append(f"Wall time of the whole run (sessions two at a time): "
                     f"{_minutes(data['wall'])}.")
    if data.get("note"):
        lines.append(data["note"])
    return "\n".join(lines).strip() + "\n"


def replace_block(page: str, block: str) -> str:
    start, end = page.index(BEGIN) + len(BEGIN), page.index(END)
    return page[:start] + "\n" + block + page[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="*", type=Path, help="nox --report JSON files")
    parser.add_argument("--wall", type=float, help="wall time of the whole run, seconds")
    parser.add_argument("--note", help="a sentence printed under the table (machine, load)")
    parser.add_argument("--check", action="store_true",
                        help="only check that the page is the rendering of the stored JSON")
    args = parser.parse_args(argv)
    page = PAGE.read_text(encoding="utf-8")
    if args.check:
        data = json.loads(STORE.read_text(encoding="utf-8"))
        if replace_block(page, render(data)) != page:
            print(f"{PAGE.relative_to(ROOT)}: the session-times table is not the rendering "
                  f"of {STORE.relative_to(ROOT)}; run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    if not args.reports:
        parser.error("give at least one nox --report JSON file (or --check)")
    reports = [json.loads(path.read_text(encoding="utf-8")) for path in args.reports]
    data = {"sessions": merge(reports), "wall": args.wall, "note": args.note}
    STORE.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    PAGE.write_text(replace_block(page, render(data)), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
