"""Comparisons and reports: the error measures, the tolerances and the result objects."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from .. import _compat
from .._compat import to_numpy
from .oracles import ORACLES

__all__ = ["FAST_TOLERANCE", "Entry", "GradientCheck", "LayerCheck", "rel_error",
           "scaled_error", "tolerance"]

_TINY = float(np.finfo(np.float64).tiny)

#: Tolerance of the fast mode's error by the dtype's precision (float64, and coarser):
#: 100 times the largest noise floor measured by ``benchmarks/bench_fastmode.py``.
FAST_TOLERANCE = {"float64": 3e-5, "float32": 1e-4}


def rel_error(x: Any, y: Any) -> float:
    """The seed's relative error ``max |x - y| / max(1e-8, |x| + |y|)``, element-wise.

    Takes arrays of one library (or Python numbers); returns a float.

    Raises
    ------
    TypeError
        If ``x`` and ``y`` are arrays of two different libraries (convert one first:
        comparing a NumPy result with a JAX one hides which backend produced what).

    Examples
    --------
    >>> import numpy as np
    >>> rel_error(np.array([1.0]), np.array([1.0 + 1e-9]))  # doctest: +ELLIPSIS
    5.0...e-10
    """
    if _compat.is_array_api_obj(x) and _compat.is_array_api_obj(y):
        _compat.array_namespace("rel_error", x=x, y=y)  # TypeError naming both libraries
    a = to_numpy(x) if _compat.is_array_api_obj(x) else np.asarray(x)
    b = to_numpy(y) if _compat.is_array_api_obj(y) else np.asarray(y)
    try:
        shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    except ValueError:
        msg = f"rel_error: x and y must have one shape, got {np.shape(a)} and {np.shape(b)}"
        raise ValueError(msg) from None
    if math.prod(shape) == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def scaled_error(analytic: Any, oracle: Any) -> float:
    """``max|analytic - oracle| / max|oracle|`` on the host in float64 (0 for empty arrays).

    The measure :func:`~portable_layers.gradient_check.check_layer` uses; robust to
    entries that cancel to zero.

    Examples
    --------
    >>> import numpy as np
    >>> scaled_error(np.array([1.0, 0.0]), np.array([2.0, 1e-20]))
    0.5
    """
    a = np.asarray(to_numpy(analytic), dtype=np.float64)
    b = np.asarray(to_numpy(oracle), dtype=np.float64)
    if a.shape != b.shape:
        msg = f"scaled_error: shapes differ, analytic {a.shape} and oracle {b.shape}"
        raise ValueError(msg)
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(b))), _TINY)
    return float(np.max(np.abs(a - b)) / scale)


def tolerance(dtype: Any, oracle: str, mode: str = "full") -> float:
    """Default tolerance of a check of a result of ``dtype``.

    ``"autodiff"`` and ``"torch"`` are exact up to float64 rounding (1e-8 in
    float64); ``"numerical"`` carries the finite-difference error (1e-6).  Lower
    precision: the layer's own rounding dominates (1e-4 is ~840 float32 roundings).
    ``mode="fast"``: :data:`FAST_TOLERANCE`, set from the fast mode's measured noise
    floor.

    Examples
    --------
    >>> tolerance("float64", "numerical"), tolerance("float64", "numerical", "fast")
    (1e-06, 3e-05)
    """
    if oracle not in ORACLES:
        raise ValueError(f"tolerance: unknown oracle {oracle!r}; choose from {ORACLES}")
    try:
        kind = np.dtype(_compat.dtype_name(dtype))
    except TypeError:
        raise TypeError(f"tolerance: dtype must be a floating dtype, got {dtype!r}") from None
    if not np.issubdtype(kind, np.floating):
        raise TypeError(f"tolerance: dtype must be a floating dtype, got {dtype!r}")
    eps = float(np.finfo(kind).eps)
    double = eps <= np.finfo(np.float64).eps
    if mode == "fast":
        if double:
            return FAST_TOLERANCE["float64"]
        return FAST_TOLERANCE["float32"] * max(1.0, eps / float(np.finfo(np.float32).eps))
    if double:
        return 1e-6 if oracle == "numerical" else 1e-8
    return max(1e-4, 100 * eps)


@dataclasses.dataclass(frozen=True)
class Entry:
    """One gradient entry where the hand-written value and an oracle differ most."""

    index: tuple[int, ...]
    analytic: float
    expected: float
    near_kink: bool = False

    def __str__(self) -> str:
        kink = ("  (near a kink: the differences change with the step, but the analytic "
                "value is not between the one-sided slopes)" if self.near_kink else "")
        return (f"[{', '.join(map(str, self.index))}] analytic {self.analytic:.10g}, "
                f"oracle {self.expected:.10g}{kink}")


@dataclasses.dataclass(frozen=True)
class GradientCheck:
    """One gradient compared with one oracle.

    ``mode`` is ``"full"`` (every entry), ``"sampled"`` (``entries_checked`` random
    entries) or ``"fast"`` (one random projection vᵀJd; ``input`` then names all
    inputs together, ``"x, w, b"``).  ``worst`` holds the entries that differ most
    when the check failed (none in fast mode, which cannot tell entries apart).
    ``kinks`` counts the entries (full mode: left out of ``error``; sampled mode:
    redrawn) or directions (fast mode: redrawn) where the finite differences met a
    kink (see :mod:`~portable_layers.gradient_check.kinks`); in a failed full-mode
    check, those among the entries probed before three were found wrong.
    """

    input: str
    oracle: str
    error: float
    tol: float
    shape: tuple[int, ...]
    mode: str = "full"
    entries_checked: int = 0
    worst: tuple[Entry, ...] = ()
    kinks: int = 0

    @property
    def ok(self) -> bool:
        return bool(self.error <= self.tol)

    @property
    def gradient(self) -> str:
        """The gradient's name in reports: ``dw``; ``dx, dw, db`` for a fast check."""
        return ", ".join(f"d{name}" for name in self.input.split(", "))


@dataclasses.dataclass(frozen=True)
class LayerCheck:
    """The result of ``check_layer``: one :class:`GradientCheck` per input and oracle.

    ``notes`` says what was left out and why (an oracle whose library is missing).
    """

    name: str
    checks: tuple[GradientCheck, ...]
    forward_ok: bool = True
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.forward_ok and not self.problems and all(c.ok for c in self.checks)

    def worst(self, oracle: str) -> float:
        """The largest error against ``oracle`` (NaN when it was not run)."""
        errors = [c.error for c in self.checks if c.oracle == oracle]
        return max(errors) if errors else math.nan

    def __str__(self) -> str:
        lines = [f"{self.name}: {'ok' if self.ok else 'FAILED'}"]
        lines += [f"  problem: {p}" for p in self.problems]
        for c in self.checks:
            mark = "ok" if c.ok else "FAIL"
            how = {"full": "", "fast": " (fast: vᵀJd)"}.get(
                c.mode, f" ({c.mode}, {c.entries_checked} entries)")
            if c.kinks:
                what = {"full": "entries left out", "sampled": "entries redrawn",
                        "fast": "directions redrawn"}.get(c.mode, "redrawn")
                how += f" [{c.kinks} at a kink: {what}]"
            lines.append(f"  {c.gradient:<9} vs {c.oracle:<9} error {c.error:.2e} "
                         f"(tol {c.tol:.0e}){how} {mark}")
            lines += [f"      {c.gradient}{e}" for e in c.worst]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the result."""
        return {
            "name": self.name, "ok": self.ok, "forward_ok": self.forward_ok,
            "problems": list(self.problems), "notes": list(self.notes),
            "checks": [{**dataclasses.asdict(c), "ok": c.ok} for c in self.checks],
        }
