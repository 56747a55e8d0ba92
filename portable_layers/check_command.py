"""``python -m portable_layers check``: every layer, every backend, both oracles.

Prints a table (layer by backend: forward ok, error against finite differences and
against JAX autodiff) and exits non-zero when any check fails.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from . import _compat
from .cases import case_names, get_case, run_case
from .gradient_check import LayerCheck

CHECK_BACKENDS = ("numpy", "jax", "array_api_strict", "torch")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", action="append", choices=CHECK_BACKENDS,
                        help="backend to check (repeatable; default: every installed one)")
    parser.add_argument("--dtype", action="append", choices=("float64", "float32"),
                        help="dtype of the inputs (repeatable; default: float64)")
    parser.add_argument("--layer", action="append", choices=case_names(),
                        help="layer to check (repeatable; default: all)")
    parser.add_argument("--oracle", action="append", choices=("numerical", "autodiff"),
                        help="oracle (repeatable; default: both, autodiff when JAX is installed)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--seed", type=int, default=0, help="seed of the inputs (default 0)")


def _rows(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str]]:
    installed = _compat.installed_backends()
    notes = []
    backends = args.backend or [b for b in CHECK_BACKENDS if b in installed]
    missing = [b for b in backends if b not in installed]
    if missing:
        raise SystemExit(f"check: backend(s) not installed: {', '.join(missing)}")
    oracles = args.oracle or (["numerical", "autodiff"] if "jax" in installed else ["numerical"])
    if "autodiff" in oracles and "jax" not in installed:
        raise SystemExit("check: the autodiff oracle needs JAX: pip install 'portable-layers[jax]'")
    if "jax" not in installed and not args.oracle:
        notes.append("JAX is not installed: autodiff oracle skipped "
                     "(pip install 'portable-layers[jax]')")
    rows = []
    for name in args.layer or case_names():
        for backend in backends:
            for dtype in args.dtype or ["float64"]:
                result = run_case(get_case(name), backend, dtype, oracles=tuple(oracles),
                                  seed=args.seed)
                rows.append(_row(name, backend, dtype, result))
    return rows, notes


def _row(name: str, backend: str, dtype: str, result: LayerCheck) -> dict[str, Any]:
    return {
        "layer": name, "backend": backend, "dtype": dtype, "forward_ok": result.forward_ok,
        "numerical": result.worst("numerical"), "autodiff": result.worst("autodiff"),
        "ok": result.ok, "problems": list(result.problems),
        "failed": [f"d{c.input} vs {c.oracle}" for c in result.checks if not c.ok],
    }


def _fmt(value: float) -> str:
    return "-" if value != value else f"{value:.1e}"  # NaN: oracle not run


def format_table(rows: list[dict[str, Any]]) -> str:
    header = ("layer", "backend", "dtype", "forward", "vs finite diff", "vs autodiff", "status")
    body = [
        (r["layer"], r["backend"], r["dtype"], "ok" if r["forward_ok"] else "FAIL",
         _fmt(r["numerical"]), _fmt(r["autodiff"]),
         "ok" if r["ok"] else "FAIL " + "; ".join(r["failed"] + r["problems"]))
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in [header, *body]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *body]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, str(row[-1])]))
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    rows, notes = _rows(args)
    failed = [r for r in rows if not r["ok"]]
    if args.json:
        print(json.dumps({"results": rows, "notes": notes, "ok": not failed}, indent=2,
                         default=lambda v: None))
    else:
        print(format_table(rows))
        for note in notes:
            print(f"note: {note}")
        print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed"
              " (errors are max|analytic - oracle| / max|oracle|; see gradient_check.tolerance)")
    return 1 if failed else 0
