"""The fast mode: one projection ``vᵀJd`` of the hand-written gradients, redrawn at kinks.

With the upstream gradient ``v`` (``dout``) and a direction ``d`` (one array per
floating input), the hand-written backward gives ``vᵀJd = sum_i <dinput_i, d_i>`` and
central differences give ``<v, (f(x + h d) - f(x - h d)) / 2h>``; the error is their
difference in units of ``scale = sqrt(sum_i |dinput_i|² rms(input_i)²)``.

The direction: ``d_i = rms(input_i) * (z_i + ALIGN * dinput_i rms(input_i) / scale)``
with ``z_i`` standard normal.  The random part alone gives a projection that is
normal with standard deviation ``scale``; an error ``e`` moves it by a normal amount
and is missed when that lands within the tolerance of 0.  The part along the
hand-written gradient adds ``ALIGN * scale`` to the projection (and a fixed amount
``ALIGN <e_i, dinput_i> rms_i² / scale`` to an error's move), so a gradient scaled by
``1 + ε`` moves the projection by ``ε (Z + ALIGN) scale``, which is below the
tolerance only when ``|Z + 4| < tol / ε`` (probability ~1e-6 for ``ε = 1e-2``
in float32).  A shifted normal lands near 0 less often than a centred one, so no error
is seen less often than with a purely random direction.

When the projection disagrees, the line is probed (:func:`~.kinks.probe`): if the
Richardson extrapolation ``(4 c(h/2) - c(h)) / 3`` of the central differences, whose
``h²`` truncation error cancels, agrees, the check passes on it (a strongly curved
function, not a wrong gradient); if the differences move with the step, the
direction met a kink and another is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import _compat
from .._compat import to_numpy
from .analytic import NOISE, ROUNDING, Run, input_rms
from .differences import central_difference
from .kinks import moved_line, probe
from .reports import GradientCheck

__all__ = ["ALIGN", "FAST_REDRAWS", "fast_directions", "fast_projection"]

#: Weight of the hand-written gradient in the fast mode's direction (see the module).
ALIGN = 4.0
#: Directions drawn at most when each lands on a kink (after half of them the step
#: shrinks by 4 per draw, so a kink at a fixed small distance is left behind).
FAST_REDRAWS = 8
_EPS64 = float(np.finfo(np.float64).eps)


def fast_directions(inputs: Sequence[Any], seed: int, grads: Sequence[Any] | None = None,
                    attempt: int = 0) -> dict[int, tuple[np.ndarray, float]]:
    """The fast mode's direction: floating input ``i`` -> (host ``d_i``, ``rms_i``).

    ``d_i`` is standard normal (seeded by ``seed`` and ``attempt``) times the input's
    root mean square (see :func:`~.analytic.input_rms`), plus, given the hand-written
    gradients ``grads`` (one per floating input, in order), ``ALIGN`` times their
    direction (see the module docstring).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"fast_directions: seed must be a non-negative integer, got {seed!r}")
    if not isinstance(inputs, (tuple, list)):
        raise TypeError(f"fast_directions: inputs must be a tuple or list of arrays, got "
                        f"{type(inputs).__name__}")
    rng = np.random.default_rng((seed, 0xFA) if attempt == 0 else (seed, 0xFA, attempt))
    rms = input_rms(inputs)
    out = {i: rms[i] * rng.standard_normal(tuple(inputs[i].shape)) for i in rms}
    if grads is not None:
        host = {i: np.asarray(to_numpy(g) if not isinstance(g, np.ndarray) else g,
                              dtype=np.float64) for i, g in zip(rms, grads, strict=True)}
        scale = math.sqrt(sum(float(np.sum(g * g)) * rms[i] ** 2 for i, g in host.items()))
        if scale > 0:
            for i, g in host.items():
                out[i] = out[i] + ALIGN * rms[i] ** 2 * g / scale
    return {i: (d, rms[i]) for i, d in out.items()}


def fast_projection(run: Run, h: float, seed: int, attempt: int = 0
                    ) -> tuple[float, float, float, Callable[[float], float]]:
    """(hand-written ``vᵀJd``, its central difference, the scale, the line along ``d``)."""
    if not isinstance(run, Run):
        raise TypeError(f"fast_projection: run must be a Run (from run_pair), got "
                        f"{type(run).__name__}")
    if isinstance(h, bool) or not isinstance(h, (int, float)) or not 0 < h < math.inf:
        raise ValueError(f"fast_projection: h must be a positive finite number, got {h!r}")
    grads = [run.grads[i] for i in run.float_idx]
    directions = fast_directions(run.inputs, seed, grads, attempt)
    analytic = sum(float(np.sum(run.grads[i] * d)) for i, (d, _) in directions.items())
    scale = math.sqrt(sum(float(np.sum(run.grads[i] ** 2)) * s ** 2
                          for i, (_, s) in directions.items()))
    line = moved_line(run, {i: d for i, (d, _) in directions.items()})
    return analytic, float(central_difference(line, h)), scale, line


def fast_check_of(run: Run, tol: float, h: float, seed: int) -> GradientCheck:
    """One projection vᵀJd against central differences, redrawn while it meets a kink."""
    label = ", ".join(run.names[i] for i in run.float_idx)
    if len(run.grads) != len(run.float_idx):
        return GradientCheck(label, "numerical", math.inf, tol, (), "fast")
    size = sum(g.size for g in run.grads.values())
    eps = max(float(np.finfo(np.dtype(_compat.dtype_name(run.dtypes[i]))).eps)
              for i in run.float_idx)
    kinks, at_zero, err = 0, None, math.inf
    for attempt in range(FAST_REDRAWS):
        if attempt > FAST_REDRAWS // 2:  # kinks keep meeting the step: shrink it too
            h = h / 4
        analytic, numeric, scale, line = fast_projection(run, h, seed, attempt)
        floor = (ROUNDING * eps * scale * (1 + ALIGN) + NOISE * _EPS64 * run.magnitude / h) / tol
        denominator = max(scale, floor, float(np.finfo(np.float64).tiny))
        err = abs(analytic - numeric) / denominator
        if err <= tol:
            break
        if at_zero is None:
            at_zero = line(0.0)
        seen = probe(line, h, at_zero)
        smooth = abs(analytic - (4 * seen.half - seen.central) / 3) / denominator
        if smooth <= tol:  # Richardson: the h² truncation error removed, and it agrees
            err = smooth
            break
        if not seen.at_kink(analytic):
            break
        kinks += 1
    return GradientCheck(label, "numerical", err, tol, (), "fast", size, (), kinks)
