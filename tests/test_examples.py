"""The examples run as a user runs them, on every backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from portable_layers import _compat

EXAMPLES = Path(__file__).parent.parent / "examples"


def _backend(xp: Any) -> str:
    return _compat.backend_name(_compat.array_namespace("t", a=xp.asarray(0.0)))


def _run(script: str, *args: str) -> str:
    out = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_seed_walkthrough_prints_the_notebooks_numbers(xp: Any) -> None:
    lines = _run("seed_walkthrough.py", "--backend", _backend(xp)).splitlines()
    seed = (Path(__file__).parent / "data" / "seed_notebook.txt").read_text().splitlines()
    scores = seed[71:81]  # the notebook's printed scores (lines 72-81)
    start = lines.index("Scores of shape :  (10, 5)")
    assert lines[start + 1 : start + 11] == scores
    losses = [float(ln.split()[-1]) for ln in lines if ln.startswith("loss: ")]
    assert losses == pytest.approx([8.999602749096233, 2.302545844500738], rel=1e-14)
    errors = [float(ln.split()[-1]) for ln in lines if "error: " in ln]
    assert len(errors) == 6 and max(errors) < 1e-7


@pytest.mark.slow
def test_train_digits_example_reaches_97_percent(xp: Any) -> None:
    pytest.importorskip("sklearn", reason="the digits extra")
    out = _run("train_digits.py", "--backend", _backend(xp))
    assert float(out.split()[-1]) >= 0.97
