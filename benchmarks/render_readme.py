"""Rewrite the benchmark tables of the README and the docs pages from the JSON of several runs.

Layout read (written by ``benchmarks/run_suite.py``)::

    benchmarks/results/run-1/bench_step.json
    benchmarks/results/run-1/bench_conv.json ...
    benchmarks/results/run-2/...

Every ``bench_*.json`` holds ``"figures": [{"id", "what", "compared_with", "ratio",
"goal"}]`` (a ratio of two times measured in the same run, lower is better; ``goal``
null: reported only) and optionally ``"facts": [{"id", "what", "value"}]`` (results
that are not ratios).  Each figure is reported as the median over the runs and its
range (min-max); it meets its goal only when the whole range does, and "straddles" it
when the range crosses it.

The README and the pages of the documentation site (every ``docs/**/*.md`` beside it)
hold blocks between markers, which this script replaces::

    <!-- bench:meta -->  ...  <!-- /bench:meta -->      machine, dates, load, spread
    <!-- bench:step -->  ...  <!-- /bench:step -->      the figures of bench_step.json
    <!-- bench:others --> ... <!-- /bench:others -->    every benchmark without a block

A benchmark needs no code here: any ``bench_NAME.json`` goes into every ``bench:NAME``
block (a block may stand in several files, the README's front page and a guide page,
and each gets the same table), into ``bench:others`` when no file has a block of its
name.

    python benchmarks/render_readme.py            # rewrite README.md and docs/ in place
    python benchmarks/render_readme.py --check    # fail if any of those files differs

With ``--output PATH`` the rendered README is written to PATH and the rendered docs
pages under ``PATH-docs/`` (same relative paths), nothing in place.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import statistics
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MARKER = re.compile(r"(<!-- bench:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /bench:(?P=name) -->)",
                    re.S)
RUN = re.compile(r"run-(\d+)$")


def load_runs(results: str) -> list[dict[str, dict[str, Any]]]:
    """``[{bench name: doc}]``, one dict per ``run-K`` folder, in K's order."""
    if not os.path.isdir(results):
        raise SystemExit(f"render_readme: no results folder {results!r}")
    folders = sorted((int(m.group(1)), name) for name in os.listdir(results)
                     if (m := RUN.match(name)) and os.path.isdir(os.path.join(results, name)))
    runs = []
    for _, name in folders:
        docs = {}
        for file in sorted(os.listdir(os.path.join(results, name))):
            if file.startswith("bench_") and file.endswith(".json"):
                with open(os.path.join(results, name, file)) as f:
                    docs[file.removeprefix("bench_").removesuffix(".json")] = json.load(f)
        if docs:
            runs.append(docs)
    if not runs:
        raise SystemExit(f"render_readme: no run-K/bench_*.json under {results!r}")
    return runs


def fmt(x: float) -> str:
    """Three significant digits at most, plain notation where readable."""
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 0.1:
        return f"{x:.2f}"
    return f"{x:.2g}"


def verdict(lo: float, hi: float, goal: float | None) -> str:
    """Met only when the whole range is within the goal."""
    if goal is None:
        return ""
    if hi <= goal:
        return "met"
    if lo > goal:
        return "**not met**"
    return "straddles"


def _collect(runs: list[dict[str, dict[str, Any]]], bench: str,
             key: str) -> dict[str, dict[str, Any]]:
    """Entries of ``key`` ("figures" or "facts") by id, first-seen order, values per run."""
    out: dict[str, dict[str, Any]] = {}
    for run in runs:
        for entry in run.get(bench, {}).get(key, []):
            row = out.setdefault(entry["id"], {"values": []})
            row.update({k: v for k, v in entry.items() if k not in ("ratio", "value")})
            row["values"].append(entry["ratio" if key == "figures" else "value"])
    return out


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def bench_block(runs: list[dict[str, dict[str, Any]]], bench: str) -> str:
    """The generic tables of one benchmark's figures and facts."""
    figures, facts = _collect(runs, bench, "figures"), _collect(runs, bench, "facts")
    lines = []
    if figures:
        lines += ["| | compared with | ratio: median | range (runs) | goal | |",
                  "|---|---|---|---|---|---|"]
        for row in figures.values():
            v = [float(x) for x in row["values"]]
            lo, hi, goal = min(v), max(v), row.get("goal")
            lines.append(f"| {_cell(row['what'])} | {_cell(row['compared_with'])} | "
                         f"{fmt(statistics.median(v))} | {fmt(lo)}-{fmt(hi)} ({len(v)}) | "
                         f"{'≤ ' + fmt(goal) if goal is not None else '-'} | "
                         f"{verdict(lo, hi, goal)} |")
    if facts:
        if lines:
            lines.append("")
        lines += ["| result | value in each run |", "|---|---|"]
        for row in facts.values():
            values = [_cell(x) for x in row["values"]]
            shown = values[0] if len(set(values)) == 1 else " / ".join(values)
            lines.append(f"| {_cell(row['what'])} | {shown} |")
    if not lines:
        lines.append(f"(`bench_{bench}.json` has no figures)")
    return "\n".join(lines) + "\n"


def meta_block(runs: list[dict[str, dict[str, Any]]]) -> str:
    """Machine, dates, load and how spread is reported."""
    docs = [doc for run in runs for doc in run.values()]
    machines = {(m.get("processor", "?"), m.get("cpus", "?"), m.get("python", "?"))
                for m in (d.get("machine", {}) for d in docs)}
    libraries: dict[str, set[str]] = {}
    for d in docs:
        for name, version in d.get("machine", {}).get("libraries", {}).items():
            libraries.setdefault(name, set()).add(version)
    # (a document joined from several runs gives the latest of their dates as date_last)
    dates = sorted(m[key] for m in (d.get("machine", {}) for d in docs)
                   for key in ("date", "date_last") if m.get(key))
    loads = [load[0] for d in docs for key in ("load_start", "load_end")
             if (load := d.get("machine", {}).get(key))]
    where = "; ".join(f"{p}, {c} CPUs, Python {py}" for p, c, py in sorted(machines, key=str))
    libs = ", ".join(f"{name} {'/'.join(sorted(v))}" for name, v in sorted(libraries.items()))
    text = [f"Measured on {where} ({libs}): {len(runs)} runs of the whole suite"]
    if dates:
        text[0] += f", {dates[0][:16].replace('T', ' ')} to {dates[-1][:16].replace('T', ' ')} UTC"
    if loads:
        text[0] += (f"; load average (1 min) {fmt(min(loads))}-{fmt(max(loads))} during the runs "
                    "(the machine was shared)")
    text[0] += "."
    text.append("Each ratio is the median over the runs and its range (min-max); a goal is "
                "met only when the whole range meets it, and a range that crosses the goal "
                "is reported as \"straddles\".")
    if any(d.get("config", {}).get("smoke") for d in docs):
        text.append("**Smoke run: tiny sizes, one repeat; these figures mean nothing.**")
    if len(runs) < 3:
        text.append(f"**Only {len(runs)} run(s): too few for a spread.**")
    return "\n".join(text) + "\n"


def block_names(text: str) -> set[str]:
    """The names of the marked blocks in ``text``."""
    return {m.group("name") for m in MARKER.finditer(text)}


def render(readme: str, runs: list[dict[str, dict[str, Any]]],
           names: set[str] | None = None) -> str:
    """``readme`` with every marked block rewritten.

    ``names``: the blocks of every file rendered together (default: ``readme``'s own);
    a benchmark with no block among them goes into ``bench:others``.
    """
    names = block_names(readme) if names is None else names
    benches = sorted({b for run in runs for b in run})
    unplaced = [b for b in benches if b not in names]
    if unplaced and "others" not in names:
        raise SystemExit(f"render_readme: no block for {unplaced} and no "
                         "<!-- bench:others --> block in the README or the docs pages")

    def body(name: str) -> str:
        if name == "meta":
            return meta_block(runs)
        if name == "others":
            if not unplaced:
                return "(none)\n"
            return "\n".join(f"**`bench_{b}.py`**\n\n{bench_block(runs, b)}" for b in unplaced)
        if name in benches:
            return bench_block(runs, name)
        return f"(no `bench_{name}.json` in the results)\n"

    return MARKER.sub(lambda m: m.group(1) + body(m.group("name")) + m.group(4), readme)


def pages(docs: str) -> list[str]:
    """Every ``*.md`` under ``docs`` that holds a marked block, in sorted order."""
    found = []
    for folder, _, files in os.walk(docs):
        for file in files:
            path = os.path.join(folder, file)
            if file.endswith(".md"):
                with open(path, encoding="utf-8") as f:
                    if MARKER.search(f.read()):
                        found.append(path)
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default=os.path.join(HERE, "results"),
                   help="folder of run-K/bench_*.json (default: benchmarks/results)")
    p.add_argument("--readme", default=os.path.join(ROOT, "README.md"))
    p.add_argument("--docs", help="folder of the docs pages rendered too (default: docs/ "
                                   "beside the README; every *.md in it with a block)")
    p.add_argument("--output", help="write the rendered README here (and the docs pages "
                                    "under OUTPUT-docs/) instead of in place")
    p.add_argument("--check", action="store_true",
                   help="fail (exit 1, with a diff) if any file differs from its rendering")
    args = p.parse_args(argv)
    docs = args.docs or os.path.join(os.path.dirname(os.path.abspath(args.readme)), "docs")
    files = [args.readme, *pages(docs)]
    current = {}
    for path in files:
        with open(path, encoding="utf-8") as f:
            current[path] = f.read()
    names = set().union(*(block_names(text) for text in current.values()))
    runs = load_runs(args.results)
    rendered = {path: render(text, runs, names) for path, text in current.items()}
    if args.check:
        differ = [path for path in files if rendered[path] != current[path]]
        for path in differ:
            sys.stdout.writelines(difflib.unified_diff(
                current[path].splitlines(True), rendered[path].splitlines(True), path,
                "rendered"))
        for path in differ:
            print(f"render_readme: {path} differs from the results in {args.results}; "
                  "run python benchmarks/render_readme.py", file=sys.stderr)
        return 1 if differ else 0
    for path in files:
        out = path
        if args.output:
            out = args.output if path == args.readme else os.path.join(
                args.output + "-docs", os.path.relpath(path, docs))
            os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w", encoding="utf-8") as f:
            f.write(rendered[path])
    return 0


if __name__ == "__main__":
    sys.exit(main())
