"""The benchmark tables of the README and the docs pages come from the benchmarks' JSON,
never from a hand.

``benchmarks/render_readme.py`` is run as a user runs it, on a small synthetic results
folder (three runs of a suite of two benchmarks), and on the repository's own README,
docs pages and committed results (``--check``: a hand-typed figure fails it).  Backend-independent:
they take no ``xp``, so the test matrix runs them in one session (tests-numpy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RENDER = ROOT / "benchmarks" / "render_readme.py"

README = """# Title

Untouched text with a figure typed by hand: 0.83.

<!-- bench:meta -->
stale
<!-- /bench:meta -->

<!-- bench:alpha -->
stale alpha
<!-- /bench:alpha -->

Between the blocks.

<!-- bench:others -->
<!-- /bench:others -->
"""

# ratios of four figures in three runs: (id, goal, [run 1, run 2, run 3])
ALPHA = [
    ("alpha.met", 1.5, [1.2, 1.4, 1.3]),
    ("alpha.straddles", 1.15, [1.0, 1.2, 1.1]),
    ("alpha.missed", 0.02, [0.35, 0.31, 0.4]),
    ("alpha.nogoal", None, [2.0, 3.0, 2.5]),
]


def _doc(run: int, figures: list[dict[str, Any]], facts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"machine": {"processor": "Test CPU", "cpus": 2, "python": "3.11.7",
                        "libraries": {"numpy": "2.4.6"},
                        "date": f"2026-11-2{run}T05:0{run}:00Z",
                        "load_start": [float(run), 0.0, 0.0], "load_end": [2.5 * run, 0, 0]},
            "config": {"smoke": False}, "figures": figures, "facts": facts}


def _results(tmp: Path) -> Path:
    results = tmp / "results"
    for k in range(3):
        folder = results / f"run-{k + 1}"
        folder.mkdir(parents=True)
        alpha = [{"id": i, "what": f"what {i}", "compared_with": "base", "ratio": r[k],
                  "goal": g} for i, g, r in ALPHA]
        facts = [{"id": "alpha.caught", "what": "planted error", "value": "caught"},
                 {"id": "alpha.rate", "what": "rows/s", "value": 100 + k}]
        (folder / "bench_alpha.json").write_text(json.dumps(_doc(k + 1, alpha, facts)))
        beta = [{"id": "beta.x", "what": "a new benchmark | with a pipe", "compared_with": "y",
                 "ratio": 0.5 + k / 10, "goal": 1.0}]
        (folder / "bench_beta.json").write_text(json.dumps(_doc(k + 1, beta, [])))
    (results / "notes.txt").write_text("not a run folder")
    return results


def _render(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RENDER), *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def test_renders_median_range_and_verdicts(tmp_path: Path) -> None:
    results, readme = _results(tmp_path), tmp_path / "README.md"
    readme.write_text(README)
    out = _render("--results", results, "--readme", readme)
    assert out.returncode == 0, out.stderr
    text = readme.read_text()
    rows = {ln.split(" | ")[0].removeprefix("| "): ln.split(" | ")[1:]
            for ln in text.splitlines() if ln.startswith("| what") or ln.startswith("| a new")}
    # median and min-max of each figure's three ratios, computed here by hand
    assert rows["what alpha.met"] == ["base", "1.30", "1.20-1.40 (3)", "≤ 1.50", "met |"]
    assert rows["what alpha.straddles"] == ["base", "1.10", "1.00-1.20 (3)", "≤ 1.15",
                                            "straddles |"]
    assert rows["what alpha.missed"] == ["base", "0.35", "0.31-0.40 (3)", "≤ 0.02",
                                         "**not met** |"]
    assert rows["what alpha.nogoal"] == ["base", "2.50", "2.00-3.00 (3)", "-", " |"]
    # a benchmark without its own block goes to "others", in the same generic table
    others = text.split("<!-- bench:others -->")[1]
    assert "**`bench_beta.py`**" in others
    assert "| a new benchmark \\| with a pipe | y | 0.60 | 0.50-0.70 (3) | ≤ 1.00 | met |" in others
    assert "alpha" not in others
    # facts: one value when every run agrees, each run's otherwise
    assert "| planted error | caught |" in text and "| rows/s | 100 / 101 / 102 |" in text
    # machine, dates and load average (1 min, start and end of every benchmark)
    meta = text.split("<!-- bench:meta -->")[1].split("<!-- /bench:meta -->")[0]
    assert "Test CPU, 2 CPUs, Python 3.11.7" in meta and "3 runs" in meta
    assert "2026-11-21 05:01 to 2026-11-23 05:03 UTC" in meta
    assert "load average (1 min) 1.00-7.50" in meta
    # outside the markers nothing moves, stale content inside them is gone
    assert text.startswith("# Title\n\nUntouched text with a figure typed by hand: 0.83.\n")
    assert "Between the blocks." in text and "stale" not in text


def test_check_fails_on_a_hand_typed_figure(tmp_path: Path) -> None:
    results, readme = _results(tmp_path), tmp_path / "README.md"
    readme.write_text(README)
    assert _render("--results", results, "--readme", readme, "--check").returncode == 1
    assert _render("--results", results, "--readme", readme).returncode == 0
    assert _render("--results", results, "--readme", readme, "--check").returncode == 0
    typed = readme.read_text().replace("| 1.30 |", "| 1.25 |")
    assert typed != readme.read_text()
    readme.write_text(typed)
    out = _render("--results", results, "--readme", readme, "--check")
    assert out.returncode == 1 and "1.25" in out.stdout and "differs" in out.stderr


def test_fewer_than_three_runs_and_no_block_are_said(tmp_path: Path) -> None:
    results, readme = _results(tmp_path), tmp_path / "README.md"
    for k in (2, 3):
        for f in (results / f"run-{k}").iterdir():
            f.unlink()
    readme.write_text(README)
    assert _render("--results", results, "--readme", readme).returncode == 0
    assert "Only 1 run(s)" in readme.read_text()
    readme.write_text(README.replace("bench:others", "bench:gone"))
    out = _render("--results", results, "--readme", readme)
    assert out.returncode != 0 and "beta" in out.stderr


PAGE = """# Benchmarks

<!-- bench:alpha -->
<!-- /bench:alpha -->

<!-- bench:others -->
<!-- /bench:others -->
"""


def test_docs_pages_are_rendered_and_checked_with_the_readme(tmp_path: Path) -> None:
    """Blocks in docs/**/*.md beside the README are rendered too: a block standing in two
    files gets the same table in both, a benchmark with a block in any file stays out of
    every ``others`` block, and ``--check`` fails on a figure typed into a page."""
    results, readme = _results(tmp_path), tmp_path / "README.md"
    readme.write_text(README.replace("<!-- bench:others -->\n<!-- /bench:others -->\n", ""))
    page = tmp_path / "docs" / "guide" / "bench.md"
    page.parent.mkdir(parents=True)
    page.write_text(PAGE.replace("alpha", "beta"))
    (tmp_path / "docs" / "plain.md").write_text("no blocks: 0.83\n")
    assert _render("--results", results, "--readme", readme, "--check").returncode == 1
    out = _render("--results", results, "--readme", readme)
    assert out.returncode == 0, out.stderr
    text, docs = readme.read_text(), page.read_text()
    assert "| what alpha.met | base | 1.30 |" in text and "beta" not in text
    assert "| a new benchmark \\| with a pipe | y | 0.60 |" in docs
    others = docs.split("<!-- bench:others -->")[1]
    assert others.startswith("\n(none)\n")  # alpha has its block in the README
    assert (tmp_path / "docs" / "plain.md").read_text() == "no blocks: 0.83\n"
    assert _render("--results", results, "--readme", readme, "--check").returncode == 0
    page.write_text(docs.replace("| 0.60 |", "| 0.59 |"))
    out = _render("--results", results, "--readme", readme, "--check")
    assert out.returncode == 1 and "bench.md differs" in out.stderr and "README" not in out.stderr
    # --output: nothing in place, the README and the pages written beside the output
    page.write_text(docs.replace("| 0.60 |", "| 0.59 |"))
    target = tmp_path / "out" / "R.md"
    assert _render("--results", results, "--readme", readme, "--output", target).returncode == 0
    assert "| 0.59 |" in page.read_text()
    assert (tmp_path / "out" / "R.md-docs" / "guide" / "bench.md").read_text() == docs
    assert target.read_text() == text


def test_the_readme_tables_are_rendered_from_the_committed_results() -> None:
    out = _render("--check")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr
