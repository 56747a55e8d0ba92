"""``check_layer``: run a forward/backward pair and compare it with the oracles.

The parts: :mod:`.analytic` checks the arguments, runs the pair and holds the scales
errors are judged on; :mod:`.kinks` tells a difference that straddles a kink from a
wrong gradient; :mod:`.fast` is the fast mode.  Here: the full and sampled
comparisons and the public entry points.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .. import _validate as check
from .analytic import Run, check_options, run_pair
from .fast import fast_check_of, fast_directions, fast_projection
from .kinks import Probe, entry_line, entry_partial, moved_line, probe
from .oracles import ORACLE_FUNCTIONS, ORACLES, default_oracles, require
from .reports import Entry, GradientCheck, LayerCheck, tolerance

__all__ = ["FAST_STEP", "MAX_PROBES", "MODES", "STEP", "assert_layer_gradients", "check_layer",
           "fast_check", "fast_directions", "fast_projection"]

MODES = ("full", "sampled", "fast")
#: Step of the full and sampled modes' central differences (absolute, as the seed's).
STEP = 1e-5
#: Step of the fast mode, relative: each input moves by ``FAST_STEP * rms(input) * d``.
FAST_STEP = 3e-5
#: Failing entries of one gradient probed for a kink in full mode (the worst first).
MAX_PROBES = 64
#: Entries a failed check reports (``GradientCheck.worst``), the worst first.
REPORTED = 3


def check_layer(
    forward: Callable[..., Any],
    backward: Callable[[Any, Any], Any] | None,
    inputs: Sequence[Any] | Mapping[str, Any],
    dout: Any = None,
    *,
    names: Sequence[str] | None = None,
    oracles: Sequence[str] | None = None,
    mode: str = "full",
    samples: int = 10,
    tol: float | dict[str, float] | None = None,
    h: float | None = None,
    seed: int = 0,
    name: str = "layer",
) -> LayerCheck:
    """Check a hand-written backward pass against finite differences and autodiff.

    Parameters
    ----------
    forward : callable
        ``forward(*inputs) -> (out, cache)``.  For a loss (``backward=None``) it
        returns ``(loss, grads)`` instead, ``grads`` one array, a tuple, or a dict
        keyed by the inputs' names (a model's ``loss`` returns one).
    backward : callable or None
        ``backward(dout, cache)`` returning the gradient (or a tuple of gradients) of
        the floating inputs, in order.  ``None`` for a loss, as above.
    inputs : sequence or dict of arrays
        Arrays of one backend; non-floating ones (labels) get no gradient.  A dict
        (a model's ``params``) names them: ``forward`` is then called with keyword
        arguments and the report says ``dW1``, ``dgamma1``.  Kinks within the step
        are recognised (see :mod:`~portable_layers.gradient_check.kinks`).
    dout : array, optional
        Upstream gradient; random normal (seeded by ``seed``) of out's shape by
        default, 1 for a loss.
    names : sequence of str, optional
        Names of the inputs for the report: a dict's keys, else ``x``, ``w``, ``b``,
        ``y``, ``input4``, ...
    oracles : sequence of str, optional
        Any of ``"numerical"`` (finite differences), ``"autodiff"`` (JAX) and
        ``"torch"`` (torch.autograd).  Default: numerical and autodiff, or numerical
        alone with a note in the result when JAX is not installed.  Naming an oracle
        whose library is missing raises ImportError.
    mode : {"full", "sampled", "fast"}
        How the numerical oracle works: every entry; ``samples`` random entries per
        input, half of them where the analytic gradient is not 0
        (:func:`sample_entries`); or one random projection ``vᵀJd`` whatever the size (see
        :func:`fast_check`).  The autodiff oracles always give every entry.
    samples : int
        Entries per input in ``"sampled"`` mode.
    tol : float or dict, optional
        Tolerance (positive, finite), one for all or per oracle; by default
        :func:`~portable_layers.gradient_check.tolerance` of the result's dtype and
        the mode.
    h : float, optional
        Finite-difference step (positive, finite): absolute in the full and sampled modes
        (:data:`STEP`), relative to each input's root mean square in the fast mode
        (:data:`FAST_STEP`).
    seed : int
        A non-negative integer; seeds the default ``dout``, the sampled entries and the
        fast directions.
    name : str
        Name of the layer in the report.

    Returns
    -------
    LayerCheck
        ``.ok``, ``.checks`` (one per input and oracle), ``.notes`` and a readable
        ``str`` that names, for a failed check, the worst entries with both values
        and whether each lies near a kink, and for every check how many entries or
        directions met a kink (``GradientCheck.kinks``).

    Raises
    ------
    ImportError
        If an oracle named in ``oracles`` needs a library that is not installed.
    TypeError
        If an input or ``dout`` is not an array (a list: wrap it with ``xp.asarray``),
        no input is floating, or ``forward`` does not return a pair.
    ValueError
        If ``mode``, ``oracles``, ``samples``, ``tol``, ``h``, ``seed`` or ``names``
        is out of range.

    Examples
    --------
    >>> import numpy as np
    >>> from portable_layers import tanh_forward, tanh_backward
    >>> x = np.linspace(-2.0, 2.0, 5)
    >>> check_layer(tanh_forward, tanh_backward, (x,), oracles=("numerical",)).ok
    True
    """
    chosen, notes = _choose("check_layer", oracles, mode, samples)
    check_options("check_layer", tol, h, seed, name)
    run = run_pair("check_layer", forward, backward, inputs, dout, names, seed)
    if run.problems and not run.grads:
        return LayerCheck(name, (), run.forward_ok, run.problems, notes)
    checks: list[GradientCheck] = []
    for oracle in chosen:
        if oracle == "numerical" and mode == "fast":
            t = max(_tol(tol, "numerical", run.dtypes[i], "fast") for i in run.float_idx)
            checks.append(fast_check_of(run, t, FAST_STEP if h is None else h, seed))
        elif oracle == "numerical" and mode == "sampled":
            checks += _sampled(run, tol, STEP if h is None else h, seed, samples)
        else:
            step = STEP if h is None else h
            expected = ORACLE_FUNCTIONS[oracle](run.value, run.inputs, run.dout, step, run.xp)
            checks += [_compare(run, i, oracle, expected[i], tol, step) for i in run.float_idx]
    return LayerCheck(name, tuple(checks), run.forward_ok, run.problems, notes)


def fast_check(
    forward: Callable[..., Any],
    backward: Callable[[Any, Any], Any] | None,
    inputs: Sequence[Any] | Mapping[str, Any],
    dout: Any = None,
    **kwargs: Any,
) -> LayerCheck:
    """Check a backward pass along one random direction, in a handful of evaluations.

    With a random direction ``d`` (one array per floating input: standard normal
    entries times the input's root mean square, so every input moves by the same
    relative amount, plus a share along the hand-written gradient: see
    :mod:`~portable_layers.gradient_check.fast`) and the upstream gradient ``v``
    (``dout``), the hand-written backward gives ``vᵀJd = sum_i <dinput_i, d_i>`` and
    central differences give ``<v, (f(x + h d) - f(x - h d)) / 2h>`` with the
    relative step ``h`` (:data:`FAST_STEP`): three forward evaluations and one
    backward, whatever the sizes.  The error is ``|a - n| / sqrt(sum_i |dinput_i|²
    rms(input_i)²)``: the difference in units of the random part's standard
    deviation.  A direction along which the differences meet a kink is redrawn
    (``GradientCheck.kinks`` counts them).

    Steps relative to the inputs keep the moved point clear of kinks that a fixed
    step crosses (with small weights, ``h = 1e-5`` moves a ReLU network's
    pre-activations by a percent); ``benchmarks/bench_fastmode.py`` measures the
    noise floor (the error on a correct gradient) and what the mode catches.

    Prior art: ``torch.autograd.gradcheck(fast_mode=True)`` compares the same
    projection, but of autograd's own backward; ``jax.test_util.check_grads``
    compares JAX's JVP and VJP with finite differences along random directions.
    Here the backward under test is hand-written and the directions are drawn on the
    host, so the check runs on any backend.

    What it catches and misses: errors that move the projection by more than the
    tolerance in its units: a wrong formula, a transposed or missing term, a wrong
    scale of the whole gradient (always, thanks to the aligned share).  An error
    confined to a few entries of a large array, or to an input whose share of the
    scale is small, moves it by that share only: use ``mode="sampled"`` or
    ``"full"`` and the autodiff oracle.

    Takes the arguments of :func:`check_layer` (``mode`` is set to ``"fast"``).

    Examples
    --------
    >>> import numpy as np
    >>> from portable_layers import affine_forward, affine_backward
    >>> rng = np.random.default_rng(0)
    >>> x, w, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    >>> fast_check(affine_forward, affine_backward, (x, w, b), oracles=("numerical",)).ok
    True
    """
    return check_layer(forward, backward, inputs, dout, **{**kwargs, "mode": "fast"})


def assert_layer_gradients(
    forward: Callable[..., Any],
    backward: Callable[[Any, Any], Any] | None,
    inputs: Sequence[Any] | Mapping[str, Any],
    dout: Any = None,
    **kwargs: Any,
) -> LayerCheck:
    """:func:`check_layer`, raising AssertionError with the full report when it fails.

    Without JAX the autodiff oracle is left out (unless named in ``oracles``) and the
    returned result's ``notes`` say so.

    Examples
    --------
    >>> import numpy as np
    >>> from portable_layers import tanh_forward, tanh_backward
    >>> _ = assert_layer_gradients(tanh_forward, tanh_backward, (np.ones(3),),
    ...                            oracles=("numerical",))
    """
    result = check_layer(forward, backward, inputs, dout, **kwargs)
    if not result.ok:
        raise AssertionError(str(result))
    return result


# ---------------------------------------------------------------------------
# check_layer's parts
# ---------------------------------------------------------------------------


def _choose(func: str, oracles: Sequence[str] | None, mode: str,
            samples: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The oracles to run and notes on those left out; errors for bad options."""
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"{func}: unknown mode {mode!r}; choose from {MODES}")
    check.positive_int(func, "samples", samples)
    if oracles is None:
        return default_oracles()
    if isinstance(oracles, str):
        raise TypeError(f"{func}: oracles must be a sequence of names, got the string "
                        f"{oracles!r}; write ({oracles!r},)")
    for oracle in oracles:
        if oracle not in ORACLES:
            raise ValueError(f"{func}: unknown oracle {oracle!r}; choose from {ORACLES}")
        require(func, oracle)
    return tuple(oracles), ()


def _at_zero(run: Run) -> float:
    """The function's value at the point itself (shared by every probe of a check)."""
    if "at_zero" not in run.cache:
        run.cache["at_zero"] = moved_line(run, {})(0.0)
    return float(run.cache["at_zero"])


def _probe(run: Run, i: int, ix: tuple[int, ...], h: float) -> Probe:
    return probe(entry_line(run, i, ix), h, _at_zero(run))


def _compare(run: Run, i: int, oracle: str, expected: np.ndarray | None, tol: Any,
             h: float) -> GradientCheck:
    """Every entry of input ``i``'s gradient; entries at a kink left out and counted."""
    t = _tol(tol, oracle, run.dtypes[i])
    assert expected is not None
    if i not in run.grads:
        return GradientCheck(run.names[i], oracle, math.inf, t, tuple(expected.shape))
    analytic = run.grads[i]
    scale = run.scale(i, expected, t, oracle, h if oracle == "numerical" else None)
    diff = np.abs(analytic - expected) / scale
    kinks, near, wrong = 0, set(), 0
    for k in np.argsort(-diff, axis=None)[:MAX_PROBES]:
        if diff.flat[k] <= t:
            break
        ix = tuple(int(j) for j in np.unravel_index(k, analytic.shape))
        seen = _probe(run, i, ix, h)
        if seen.at_kink(float(analytic[ix]), t * scale):
            diff[ix], kinks = 0.0, kinks + 1
            continue
        if seen.signature > t * scale:  # the differences move with the step
            near.add(ix)
        wrong += 1
        if wrong == REPORTED:
            # the verdict, the error and the reported entries (the worst first) are
            # settled: more probes could only count more kinks
            break
    err = float(np.max(diff)) if diff.size else 0.0
    worst: tuple[Entry, ...] = ()
    if err > t:
        flat = [k for k in np.argsort(-diff, axis=None)[:REPORTED] if diff.flat[k] > t]
        worst = tuple(_entry(run, i, ix, float(expected[ix]), ix in near)
                      for ix in (tuple(int(j) for j in np.unravel_index(k, analytic.shape))
                                 for k in flat))
    return GradientCheck(run.names[i], oracle, err, t, tuple(analytic.shape), "full",
                         analytic.size, worst, kinks)


def _entry(run: Run, i: int, ix: tuple[int, ...], expected: float, near: bool) -> Entry:
    return Entry(ix, float(run.grads[i][ix]), expected, near)


def sample_entries(rng: np.random.Generator, grad: np.ndarray, samples: int) -> np.ndarray:
    """Flat indices of the entries sampled mode compares, then those it may redraw.

    Half the ``samples`` (rounded up) are drawn among the entries where the analytic
    gradient ``grad`` is not 0, the rest and ``samples + 8`` spares for redraws uniformly
    among all the others.  A uniform draw alone can land only on zeros (max pooling's
    ``dx`` is three quarters zeros) and miss an error of the whole gradient; the uniform
    half still sees an entry wrongly left at 0.  :func:`entry_chance` is the chance of
    one entry."""
    size = grad.size
    nonzero = np.flatnonzero(grad)
    first = rng.choice(nonzero, size=min(-(-samples // 2), nonzero.size), replace=False)
    spread = rng.choice(size, size=min(2 * samples + 8 + first.size, size), replace=False)
    rest = spread[~np.isin(spread, first)][:2 * samples + 8 - first.size]
    return np.concatenate([first, rest]).astype(np.int64)


def entry_chance(size: int, nonzero: int, samples: int, zero: bool = False) -> float:
    """The chance :func:`sample_entries` compares a given entry of a gradient with ``size``
    entries, ``nonzero`` of them not 0 (the entry among them unless ``zero``)."""
    first = min(-(-samples // 2), nonzero)
    uniform = min(1.0, (samples - first) / (size - first)) if size > first else 0.0
    if zero or nonzero == 0:
        return uniform
    return first / nonzero + (1 - first / nonzero) * uniform


def _sampled(run: Run, tol: Any, h: float, seed: int, samples: int) -> list[GradientCheck]:
    """``samples`` entries of each gradient (:func:`sample_entries`) against central
    differences; an entry at a kink is redrawn from the spares."""
    rng = np.random.default_rng((seed, 0x5A))
    checks = []
    for i in run.float_idx:
        shape = tuple(run.inputs[i].shape)
        t = _tol(tol, "numerical", run.dtypes[i])
        if i not in run.grads:
            checks.append(GradientCheck(run.names[i], "numerical", math.inf, t, shape, "sampled"))
            continue
        picks = sample_entries(rng, run.grads[i], samples)
        queue = [tuple(int(k) for k in np.unravel_index(p, shape)) for p in picks]
        wanted, queue = queue[:samples], queue[samples:]
        numeric = {ix: entry_partial(run, i, ix, h) for ix in wanted}
        scale = run.scale(i, np.array(list(numeric.values())), t, "numerical", h)
        kinks, near, wrong, reached = 0, set(), 0, []
        # as in full mode, after REPORTED entries found wrong the verdict is settled: the
        # entries not yet reached are left out (a failing check probes no more)
        for ix in list(numeric):
            current = ix
            while abs(run.grads[i][current] - numeric[current]) > t * scale:
                seen = _probe(run, i, current, h)
                a = float(run.grads[i][current])
                if not seen.at_kink(a, t * scale):
                    if seen.signature > t * scale:
                        near.add(current)
                    wrong += 1
                    break
                del numeric[current]
                kinks += 1
                if not queue:
                    break
                current = queue.pop(0)
                numeric[current] = entry_partial(run, i, current, h)
            reached.append(current)
            if wrong == REPORTED:
                numeric = {k: numeric[k] for k in reached if k in numeric}
                break
        scale = run.scale(i, np.array(list(numeric.values())), t, "numerical", h)
        diffs = {ix: abs(run.grads[i][ix] - v) / scale for ix, v in numeric.items()}
        err = max(diffs.values(), default=0.0)
        worst: tuple[Entry, ...] = ()
        if err > t:
            ranked = [ix for ix in sorted(diffs, key=diffs.__getitem__, reverse=True)[:REPORTED]
                      if diffs[ix] > t]
            worst = tuple(_entry(run, i, ix, numeric[ix], ix in near) for ix in ranked)
        checks.append(GradientCheck(run.names[i], "numerical", err, t, shape, "sampled",
                                    len(numeric), worst, kinks))
    return checks


def _tol(tol: float | dict[str, float] | None, oracle: str, dtype: Any,
         mode: str = "full") -> float:
    if tol is None:
        return tolerance(dtype, oracle, mode)
    if isinstance(tol, dict):
        return tol[oracle] if oracle in tol else tolerance(dtype, oracle, mode)
    return float(tol)
