"""A small harness for ratio benchmarks: interleaved repetitions, medians, ratios, JSON.

The machines these run on are shared and noisy, so an absolute time means little.
Every benchmark times portable_layers and its alternatives in the same run,
interleaving them (A B C A B C ...) so that a slow spell hits all of them, and
reports the median of each and the ratios of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any


def interleaved(candidates: dict[str, Callable[[], Any]], repeats: int = 7,
                warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each candidate, run in turn ``repeats`` times after ``warmup``."""
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def summary(times: dict[str, list[float]], baseline: str) -> dict[str, dict[str, float]]:
    """Median seconds and the ratio to ``baseline``'s median, per candidate."""
    base = statistics.median(times[baseline])
    return {name: {"median_s": statistics.median(t), "ratio": statistics.median(t) / base,
                   "min_s": min(t), "repeats": len(t)} for name, t in times.items()}


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "machine": platform.machine(),
            "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()}


def print_table(title: str, rows: dict[str, dict[str, float]], baseline: str) -> None:
    print(f"\n{title}")
    width = max(len(n) for n in rows)
    print(f"  {'candidate'.ljust(width)}  median      ratio to {baseline}")
    for name, r in rows.items():
        print(f"  {name.ljust(width)}  {r['median_s'] * 1e3:9.3f} ms  {r['ratio']:.3f}")


def write_json(path: str | None, doc: dict[str, Any]) -> None:
    """Write ``doc`` atomically (temp file in the same folder, then rename)."""
    if not path:
        return
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump({"machine": machine(), **doc}, f, indent=2)
    os.replace(tmp, path)


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", help="write the results as JSON to this path")
    p.add_argument("--repeats", type=int, default=7, help="interleaved repetitions")
    return p
