"""``python -m portable_layers check``: every layer, every backend, every oracle.

Prints a table (layer by backend: forward ok, error against finite differences and
against autodiff) and, for each failure, which input and entries disagree; exits
non-zero when any check fails.  ``--json`` prints the same as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from . import _compat
from ._compat import CHECK_BACKENDS
from .cases import case_names, get_case, run_case
from .gradient_check import ORACLES, LayerCheck
from .gradient_check.oracles import REQUIRES, available, default_oracles

COLUMNS = {"numerical": "vs finite diff", "autodiff": "vs autodiff", "torch": "vs torch"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", action="extend", nargs="+", type=_backends, metavar="NAME",
                        help=f"backends to check: {', '.join(CHECK_BACKENDS)} (several after one "
                        "--backend, repeated, or comma-separated; default: every installed one)")
    parser.add_argument("--dtype", action="append", choices=("float64", "float32"),
                        help="dtype of the inputs (repeatable; default: float64)")
    parser.add_argument("--layer", action="append", choices=case_names(),
                        help="layer to check (repeatable; default: all)")
    parser.add_argument("--oracle", action="append", choices=ORACLES,
                        help="oracle (repeatable; default: numerical, and autodiff (JAX) when "
                        "JAX is installed; torch is torch.autograd)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--fast", action="store_true",
                      help="finite differences along one random direction (vᵀJu) only")
    mode.add_argument("--sampled", type=int, metavar="K",
                      help="finite differences at K random entries of each gradient")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--seed", type=int, default=0, help="seed of the inputs (default 0)")


def _backends(value: str) -> list[str]:
    """``--backend`` values: one name or a comma-separated list of names."""
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in CHECK_BACKENDS
               and (n in _compat.REGISTRY or _compat.namespace_problem(n))]
    if unknown or not names:
        msg = (f"invalid choice: {value!r} (choose from {', '.join(CHECK_BACKENDS)}, or an "
               "importable dotted path to an array namespace such as marray.numpy)")
        raise argparse.ArgumentTypeError(msg)
    return names


def _plan(args: argparse.Namespace) -> tuple[list[str], list[str], str, list[str]]:
    """Backends, oracles, mode and notes; SystemExit with a message for what can't run."""
    installed = _compat.installed_backends()
    chosen = [b for group in args.backend or [] for b in group]
    backends = list(dict.fromkeys(chosen)) or [b for b in CHECK_BACKENDS if b in installed]
    missing = [b for b in backends if b in CHECK_BACKENDS and b not in installed]
    if missing:
        raise SystemExit(f"check: backend(s) not installed: {', '.join(missing)}")
    if args.oracle:
        oracles, notes = list(args.oracle), []
        for oracle in oracles:
            if not available(oracle):
                _, lib, extra = REQUIRES[oracle]
                raise SystemExit(f"check: the {oracle} oracle needs {lib}: "
                                 f"pip install 'portable-layers[{extra}]'")
    else:
        default, left_out = default_oracles()
        oracles, notes = list(default), list(left_out)
    if args.sampled is not None and args.sampled < 1:
        raise SystemExit(f"check: --sampled takes a positive number of entries, got {args.sampled}")
    mode = "fast" if args.fast else "sampled" if args.sampled else "full"
    return backends, oracles, mode, notes


def _results(args: argparse.Namespace) -> tuple[list[tuple[str, str, LayerCheck]], list[str],
                                                  list[str]]:
    backends, oracles, mode, notes = _plan(args)
    results = []
    for name in args.layer or case_names():
        for backend in backends:
            for dtype in args.dtype or ["float64"]:
                result = run_case(get_case(name), backend, dtype, oracles=tuple(oracles),
                                  seed=args.seed, mode=mode, samples=args.sampled or 10)
                results.append((backend, dtype, result))
    return results, oracles, notes


def _fmt(value: float) -> str:
    return "-" if value != value else f"{value:.1e}"  # NaN: oracle not run


def format_table(results: list[tuple[str, str, LayerCheck]], oracles: list[str]) -> str:
    """The check table, one row per layer, backend and dtype."""
    header = ("layer", "backend", "dtype", "forward", *(COLUMNS[o] for o in oracles), "status")
    body = []
    for backend, dtype, r in results:
        failed = [f"{c.gradient} vs {c.oracle}" for c in r.checks if not c.ok]
        status = "ok" if r.ok else "FAIL " + "; ".join(failed + list(r.problems))
        body.append((r.name, backend, dtype, "ok" if r.forward_ok else "FAIL",
                     *(_fmt(r.worst(o)) for o in oracles), status))
    widths = [max(len(str(row[i])) for row in [header, *body]) for i in range(len(header) - 1)]
    lines = ["  ".join([*(str(c).ljust(w) for c, w in zip(row[:-1], widths, strict=True)),
                        str(row[-1])]) for row in [header, *body]]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    """Plain JSON: tuples as lists, NaN and infinity (a check not run or failed) as None."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run(args: argparse.Namespace) -> int:
    results, oracles, notes = _results(args)
    failed = [(b, d, r) for b, d, r in results if not r.ok]
    if args.json:
        doc = {"ok": not failed, "notes": notes, "oracles": oracles,
               "results": [{"backend": b, "dtype": d, **r.to_dict()} for b, d, r in results]}
        print(json.dumps(_json_safe(doc), indent=2, allow_nan=False))
    else:
        print(format_table(results, oracles))
        for backend, dtype, r in failed:
            print(f"\n{backend} {dtype} {r}")
        for note in notes:
            print(f"note: {note}")
        print(f"\n{len(results) - len(failed)} layer checks passed, {len(failed)} failed "
              "(error: max|analytic - oracle| / max|oracle|; see gradient_check.tolerance)")
    return 1 if failed else 0
