"""``python -m portable_layers check``: every layer, every backend, every oracle.

Prints a table (layer by backend: forward ok, error against finite differences and
against autodiff) and, for each failure, which input and entries disagree; exits 1
when any check fails.  ``--json`` prints the same as JSON.  ``--cases MODULE:ATTR``
checks a user's own table of :class:`~portable_layers.cases.LayerCase` instead of the
library's.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from .. import _compat
from ..cases import CASES, LayerCase, run_case
from ..gradient_check import ORACLES, LayerCheck
from ..gradient_check.oracles import REQUIRES, available, default_oracles
from ._common import (
    UsageError,
    backend,
    positive_int,
    require_namespace,
    require_parser,
    seed,
    suggest,
)

__all__ = ["add_arguments", "format_table", "load_cases", "run"]

COLUMNS = {"numerical": "vs finite diff", "autodiff": "vs autodiff", "torch": "vs torch"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``check`` options to ``parser``."""
    require_parser("cli.check.add_arguments", parser)
    parser.add_argument("--backend", action="extend", nargs="+", type=_names, metavar="NAME",
                        help=f"array libraries to check: {', '.join(_compat.BACKENDS)}, or an "
                        "importable array namespace such as marray.numpy (several after one "
                        "--backend, repeated, or comma-separated; default: the installed ones of "
                        f"{', '.join(_compat.CHECK_BACKENDS)}; Dask's lazy chunks only slow "
                        "the table's small inputs down)")
    parser.add_argument("--cases", metavar="MODULE:ATTR",
                        help="check your own layers: ATTR of MODULE (importable from the "
                        "current folder) is a sequence of portable_layers.cases.LayerCase "
                        "(default: the library's own table)")
    parser.add_argument("--dtype", action="append", choices=("float64", "float32"),
                        help="dtype of the inputs (repeatable; default: float64)")
    parser.add_argument("--layer", action="append", metavar="NAME",
                        help="layer (case name) to check (repeatable; default: all)")
    parser.add_argument("--oracle", action="append", choices=ORACLES,
                        help="oracle (repeatable; default: numerical, and autodiff (JAX) when "
                        "JAX is installed; torch is torch.autograd)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--fast", action="store_true",
                      help="finite differences along one random direction (vᵀJu) only")
    mode.add_argument("--sampled", type=positive_int, metavar="K",
                      help="finite differences at K random entries of each gradient, "
                      "half of them where it is not 0 (default: every entry)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the inputs")


def _names(value: str) -> list[str]:
    """``--backend`` values: one name or a comma-separated list of names."""
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected a backend name, got {value!r}")
    return names


def load_cases(spec: str) -> tuple[LayerCase, ...]:
    """The table ``MODULE:ATTR`` names; the current folder is searched first for MODULE.

    Raises :class:`UsageError` naming what is wrong: the form, the import (with the
    file and line where the module failed), the attribute or an item of the table.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"--cases {spec}: expected MODULE:ATTR, e.g. my_layers:CASES")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise UsageError(f"--cases {spec}: no module named {err.name!r} "
                         f"(looked in {os.getcwd()} and sys.path)") from None
    except Exception as err:  # the user's module failed: say where, without a traceback
        where = traceback.extract_tb(err.__traceback__)[-1]
        raise UsageError(f"--cases {spec}: importing {module_name} raised "
                         f"{type(err).__name__}: {err} ({where.filename}:{where.lineno})") from None
    if not hasattr(module, attr):
        names = [n for n in dir(module) if not n.startswith("_")]
        raise UsageError(f"--cases {spec}: module {module_name} has no attribute "
                         f"{attr!r}{suggest(attr, names)}")
    table = getattr(module, attr)
    if isinstance(table, LayerCase):
        table = (table,)
    if isinstance(table, (str, bytes)) or not isinstance(table, Sequence) or not table:
        raise UsageError(f"--cases {spec}: expected a non-empty sequence of LayerCase, "
                         f"got {type(table).__name__}")
    for i, case in enumerate(table):
        if not isinstance(case, LayerCase):
            raise UsageError(f"--cases {spec}: item {i} is a {type(case).__name__}, "
                             "not a portable_layers.cases.LayerCase")
    names = [c.name for c in table]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"--cases {spec}: case names must be unique; repeated: "
                         f"{', '.join(twice)}")
    return tuple(table)


def _plan(args: argparse.Namespace) -> dict[str, Any]:
    """Everything the run needs, checked before any layer runs (UsageError otherwise)."""
    chosen = [b for group in args.backend or [] for b in group]
    if chosen:
        backends = list(dict.fromkeys(chosen))
        for name in backends:
            backend("--backend", name)
    else:
        installed = _compat.installed_backends()
        backends = [b for b in _compat.CHECK_BACKENDS if b in installed]
    if args.oracle:
        oracles, notes = list(dict.fromkeys(args.oracle)), []
        for oracle in oracles:
            if not available(oracle):
                _, lib, extra = REQUIRES[oracle]
                raise UsageError(f"--oracle {oracle} needs {lib}: "
                                 f"pip install 'portable-layers[{extra}]'")
    else:
        default, left_out = default_oracles()
        oracles, notes = list(default), list(left_out)
    table = load_cases(args.cases) if args.cases else CASES
    by_name = {c.name: c for c in table}
    for name in args.layer or []:
        if name not in by_name:
            raise UsageError(f"--layer {name}: no such case{suggest(name, by_name)}; "
                             f"choose from {', '.join(by_name)}")
    cases = [by_name[n] for n in dict.fromkeys(args.layer)] if args.layer else list(table)
    mode = "fast" if args.fast else "sampled" if args.sampled else "full"
    return {"backends": backends, "oracles": oracles, "notes": notes, "cases": cases,
            "mode": mode, "dtypes": list(dict.fromkeys(args.dtype or ["float64"]))}


def _check(case: LayerCase, backend_name: str, dtype: str, plan: dict[str, Any],
           args: argparse.Namespace) -> LayerCheck:
    """``run_case``; a layer that raises is a failed check naming the exception."""
    try:
        return run_case(case, backend_name, dtype, oracles=tuple(plan["oracles"]),
                        seed=args.seed, mode=plan["mode"], samples=args.sampled or 10)
    except Exception as err:  # the layer under test raised: report it, go on
        where = traceback.extract_tb(err.__traceback__)[-1]
        return LayerCheck(case.name, (), forward_ok=False, problems=(
            f"raised {type(err).__name__}: {err} ({where.filename}:{where.lineno}) "
            f"on inputs {', '.join(case.names)}",))


def _fmt(value: float) -> str:
    return "-" if value != value else f"{value:.1e}"  # NaN: oracle not run


def format_table(results: list[tuple[str, str, LayerCheck]], oracles: list[str]) -> str:
    """The check table, one row per layer, backend and dtype."""
    header = ("layer", "backend", "dtype", "forward", *(COLUMNS[o] for o in oracles), "status")
    body = []
    for backend_name, dtype, r in results:
        failed = [f"{c.gradient} vs {c.oracle}" for c in r.checks if not c.ok]
        status = "ok" if r.ok else "FAIL " + "; ".join(failed + list(r.problems))
        body.append((r.name, backend_name, dtype, "ok" if r.forward_ok else "FAIL",
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
    """Run the checks ``args`` ask for and print them; 1 when any fails, else 0."""
    require_namespace("cli.check.run", args, add_arguments)
    plan = _plan(args)
    results = [(b, d, _check(case, b, d, plan, args))
               for case in plan["cases"] for b in plan["backends"] for d in plan["dtypes"]]
    failed = [(b, d, r) for b, d, r in results if not r.ok]
    oracles, notes = plan["oracles"], plan["notes"]
    if args.json:
        doc = {"ok": not failed, "notes": notes, "oracles": oracles,
               "results": [{"backend": b, "dtype": d, **r.to_dict()} for b, d, r in results]}
        print(json.dumps(_json_safe(doc), indent=2, allow_nan=False))
    else:
        print(format_table(results, oracles))
        for backend_name, dtype, r in failed:
            print(f"\n{backend_name} {dtype} {r}")
        for note in notes:
            print(f"note: {note}")
        print(f"\n{len(results) - len(failed)} layer checks passed, {len(failed)} failed "
              "(error: max|analytic - oracle| / max|oracle|; see gradient_check.tolerance)")
    return 1 if failed else 0
