"""A small harness for ratio benchmarks: interleaved repetitions, medians, ratios, JSON.

The machines these run on are shared and noisy, so an absolute time means little.
Every benchmark times portable_layers and its alternatives in the same run,
interleaving them (A B C A B C ...) so that a slow spell hits all of them, and
reports the median of each and the ratios of medians.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

# The load average when this benchmark started (the machine is shared: say how busy it was).
_LOAD_AT_START = os.getloadavg() if hasattr(os, "getloadavg") else None


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


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """Where and when: CPU, Python and library versions, date, load average (1, 5, 15 min)
    at the start of the benchmark and at the end."""
    libraries = {}
    for name in ("numpy", "jax", "torch", "dask"):
        module = sys.modules.get(name)
        if module is not None:
            libraries[name] = getattr(module, "__version__", "?")
    return {"python": platform.python_version(), "machine": platform.machine(),
            "processor": _cpu_model(), "cpus": os.cpu_count(), "libraries": libraries,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "load_start": list(_LOAD_AT_START) if _LOAD_AT_START else None,
            "load_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def figure(id: str, what: str, compared_with: str, ratio: float,
           goal: float | None) -> dict[str, Any]:
    """One figure of the JSON contract: ``ratio`` of two times measured in the same run
    (lower is better), met when ``ratio <= goal``; ``goal`` None: reported only."""
    return {"id": id, "what": what, "compared_with": compared_with, "ratio": float(ratio),
            "goal": goal}


def fact(id: str, what: str, value: Any) -> dict[str, Any]:
    """A measured result that is not a ratio (a throughput, caught or missed, ...)."""
    return {"id": id, "what": what, "value": value}


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
    """The options every benchmark takes: ``--out``, ``--repeats``, ``--smoke``."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", help="write the results as JSON to this path")
    p.add_argument("--repeats", type=int, default=7, help="interleaved repetitions")
    p.add_argument("--smoke", action="store_true",
                   help="tiny sizes and one repeat: checks that the benchmark runs, "
                        "its figures mean nothing")
    return p


def parse(p: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse; ``--smoke`` sets one repeat."""
    args = p.parse_args(argv)
    if args.smoke:
        args.repeats = 1
    return args
