"""Kinks: telling a difference that straddles a non-differentiable point from a wrong gradient.

A central difference with step ``h`` along a line is exact up to ``h² f'''`` where
the function is smooth.  Where a kink (ReLU at 0, a hinge, a tie in a max) lies
within ``h`` of the point, it returns a mixture of the two one-sided slopes and
disagrees with any correct gradient.  :func:`probe` evaluates the function on the
line at ``0, ±h/2, ±h`` and looks at two signatures that vanish, up to ``h²`` and
rounding, on a smooth function:

* the central differences at ``h`` and ``h/2`` differ (a kink at distance ``δ`` from
  the point moves them apart by ``J δ / 2h``, ``J`` the jump of the slope);
* the second differences do not scale with the step
  (``(f(h) - 2f(0) + f(-h)) / h`` is ``h f''`` when smooth, about ``J`` across a kink),
  which catches a kink at the point itself, where central differences of every
  step agree.

Over a single kink with linear pieces one of the two is at least 0.4 times the
central difference's error (the worst case is a kink at ``0.4 h``), so a
disagreement with the hand-written value that the differences cannot account for
shows as a *smooth* line.  A disagreement is put down to a kink only when the
signature is at least :data:`KINK_RATIO` times the disagreement.  (Caffe's proposal
#1334 also asks the hand-written value to lie between the one-sided slopes; that holds
at a single kink but not where several meet at the point, so it is not required.)
Chainer's ``numerical_grad(..., detect_nondifferentiable=True)`` is the model:
several steps, a verdict of non-differentiability instead of a false alarm.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _compat
from .._compat import device, float64_context, from_numpy, to_numpy
from .analytic import Run
from .differences import central_difference
from .oracles import promote

__all__ = ["KINK_RATIO", "Probe", "entry_line", "probe"]

#: A disagreement is a kink's when the step-dependence of the differences is at least
#: this share of it (0.4 is the least a single kink gives; 0.25 leaves room for curvature).
KINK_RATIO = 0.25


@dataclasses.dataclass(frozen=True)
class Probe:
    """The function on a line at ``0, ±h/2, ±h``: differences and one-sided slopes."""

    central: float  # central difference at h
    half: float  # central difference at h / 2
    signature: float  # how much the differences depend on the step
    low: float  # smallest one-sided slope (at h and h / 2)
    high: float  # largest one-sided slope

    def at_kink(self, analytic: float, slack: float = 0.0) -> bool:
        """Whether ``|analytic - central|`` is a kink's doing: the differences depend on
        the step by at least :data:`KINK_RATIO` of it.  (``low``/``high`` bracket the
        hand-written value at a single kink, Caffe's test; where several kinks meet at
        the point, as for units whose input is exactly 0, a correct subgradient need not
        lie between the line's one-sided slopes, so the bracket is reported, not
        required.)"""
        del slack
        gap = abs(analytic - self.central)
        return self.signature >= KINK_RATIO * gap


def probe(line: Callable[[float], float], h: float, at_zero: float | None = None) -> Probe:
    """Evaluate ``line`` (step -> the function's value, a float) at ``0, ±h/2, ±h``;
    ``at_zero`` reuses a known ``line(0)``."""
    if not callable(line):
        raise TypeError(f"probe: line must be callable, got {type(line).__name__}")
    if isinstance(h, bool) or not isinstance(h, (int, float)) or not 0 < h < math.inf:
        raise ValueError(f"probe: h must be a positive finite number, got {h!r}")
    f0 = line(0.0) if at_zero is None else at_zero
    fp, fm = line(h), line(-h)
    fp2, fm2 = line(h / 2), line(-h / 2)
    central = central_difference(lambda s: fp if s > 0 else fm, h)
    half = central_difference(lambda s: fp2 if s > 0 else fm2, h / 2)
    curvature = (fp - 2 * f0 + fm) / h - 2 * (fp2 - 2 * f0 + fm2) / (h / 2)
    slopes = ((fp - f0) / h, (f0 - fm) / h, (fp2 - f0) / (h / 2), (f0 - fm2) / (h / 2))
    return Probe(central, half, max(abs(central - half), abs(curvature)),
                 min(slopes), max(slopes))


def entry_line(run: Run, i: int, ix: tuple[int, ...]) -> Callable[[float], float]:
    """``step -> sum(fn(inputs with inputs[i][ix] moved by step) * dout)`` in float64."""
    _is_run("entry_line", run)
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i not in run.float_idx:
        raise ValueError(f"entry_line: i must be the index of a floating input, one of "
                         f"{run.float_idx}, got {i!r}")
    shape = tuple(run.inputs[i].shape)
    if (not isinstance(ix, tuple) or len(ix) != len(shape)
            or not all(isinstance(k, (int, np.integer)) and 0 <= k < n
                       for k, n in zip(ix, shape, strict=True))):
        raise ValueError(f"entry_line: ix must be an index into inputs[{i}] of shape "
                         f"{shape}, got {ix!r}")
    return moved_line(run, {i: _unit(run, i, ix)})


def _is_run(func: str, run: Any) -> None:
    if not isinstance(run, Run):
        raise TypeError(f"{func}: run must be a Run (from run_pair), got {type(run).__name__}")


def _unit(run: Run, i: int, ix: tuple[int, ...]) -> np.ndarray:
    e = np.zeros(tuple(run.inputs[i].shape))
    e[ix] = 1.0
    return e


def moved_line(run: Run, directions: dict[int, np.ndarray]) -> Callable[[float], float]:
    """``step -> sum(fn(inputs + step * directions) * dout)`` in float64 on the inputs'
    backend (inside its float64 context; the promoted inputs are made once)."""
    xp = run.xp
    made: dict[str, Any] = {}

    def line(step: float) -> float:
        with float64_context(xp):
            if not made:
                inputs = promote(run.inputs, xp)
                made["inputs"] = inputs
                made["bases"] = {i: np.asarray(to_numpy(inputs[i]), dtype=np.float64)
                                 for i in directions}
                dout = run.dout
                made["weights"] = np.asarray(
                    to_numpy(dout) if _compat.is_array_api_obj(dout) else dout,
                    dtype=np.float64)
            inputs = made["inputs"]
            moved = list(inputs)
            for i, d in directions.items():
                moved[i] = from_numpy(made["bases"][i] + step * d, xp, dtype=inputs[i].dtype,
                                      device=device(inputs[i]))
            host = np.asarray(to_numpy(run.value(*moved)), dtype=np.float64)
            return float(np.sum(host * made["weights"]))

    return line


def entry_partial(run: Run, i: int, ix: tuple[int, ...], h: float) -> float:
    """One entry of the numerical VJP in float64 (two evaluations)."""
    return float(central_difference(entry_line(run, i, ix), h))

