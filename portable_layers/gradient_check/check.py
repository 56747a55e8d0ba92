"""``check_layer``: run a forward/backward pair and compare it with the oracles."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import _compat
from .. import _validate as check
from .._compat import device, float64_context, from_numpy, to_numpy
from .differences import _is_float, _replace, partial
from .oracles import ORACLE_FUNCTIONS, ORACLES, default_oracles, promote, require
from .reports import _TINY, Entry, GradientCheck, LayerCheck, scaled_error, tolerance

__all__ = ["FAST_STEP", "MODES", "STEP", "assert_layer_gradients", "check_layer", "fast_check",
           "fast_directions"]

MODES = ("full", "sampled", "fast")
#: Step of the full and sampled modes' central differences (absolute, as the seed's).
STEP = 1e-5
#: Step of the fast mode, relative: each input moves by ``FAST_STEP * rms(input) * u``.
FAST_STEP = 3e-5


def check_layer(
    forward: Callable[..., Any],
    backward: Callable[[Any, Any], Any] | None,
    inputs: Sequence[Any],
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
        returns ``(loss, grads)`` instead, ``grads`` one array or a tuple.
    backward : callable or None
        ``backward(dout, cache)`` returning the gradient (or a tuple of gradients) of
        the floating inputs, in order.  ``None`` for a loss, as above.
    inputs : sequence
        Arrays of one backend; non-floating ones (labels) get no gradient.  Choose
        them away from kinks (see the package docstring).
    dout : array, optional
        Upstream gradient; random normal (seeded by ``seed``) of out's shape by
        default, 1 for a loss.
    names : sequence of str, optional
        Names of the inputs for the report (``x``, ``w``, ... by default).
    oracles : sequence of str, optional
        Any of ``"numerical"`` (finite differences), ``"autodiff"`` (JAX) and
        ``"torch"`` (torch.autograd).  Default: numerical and autodiff, or numerical
        alone with a note in the result when JAX is not installed.  Naming an oracle
        whose library is missing raises ImportError.
    mode : {"full", "sampled", "fast"}
        How the numerical oracle works: every entry; ``samples`` random entries per
        input; or one random projection ``vᵀJu`` whatever the size (see
        :func:`fast_check`).  The autodiff oracles always give every entry.
    samples : int
        Entries per input in ``"sampled"`` mode.
    tol : float or dict, optional
        Tolerance, one for all or per oracle; by default
        :func:`~portable_layers.gradient_check.tolerance` of the result's dtype and
        the mode.
    h : float, optional
        Finite-difference step: absolute in the full and sampled modes
        (:data:`STEP`), relative to each input's root mean square in the fast mode
        (:data:`FAST_STEP`).
    seed : int
        Seeds the default ``dout``, the sampled entries and the fast directions.
    name : str
        Name of the layer in the report.

    Returns
    -------
    LayerCheck
        ``.ok``, ``.checks`` (one per input and oracle), ``.notes`` and a readable
        ``str`` that names, for a failed check, the worst entries with both values
        and whether each lies near a kink.

    Raises
    ------
    ImportError
        If an oracle named in ``oracles`` needs a library that is not installed.

    Examples
    --------
    >>> import numpy as np
    >>> from portable_layers import tanh_forward, tanh_backward
    >>> x = np.linspace(-2.0, 2.0, 5)
    >>> check_layer(tanh_forward, tanh_backward, (x,), oracles=("numerical",)).ok
    True
    """
    chosen, notes = _choose("check_layer", oracles, mode, samples)
    run = _analytic("check_layer", forward, backward, inputs, dout, names, seed)
    if run.problems and not run.grads:
        return LayerCheck(name, (), run.forward_ok, run.problems, notes)
    checks: list[GradientCheck] = []
    for oracle in chosen:
        if oracle == "numerical" and mode == "fast":
            checks.append(_fast(run, tol, FAST_STEP if h is None else h, seed))
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
    inputs: Sequence[Any],
    dout: Any = None,
    **kwargs: Any,
) -> LayerCheck:
    """Check a backward pass along one random direction, in a handful of evaluations.

    With a random direction ``d`` (one array per floating input: standard normal
    entries times the input's root mean square, so every input moves by the same
    relative amount) and the upstream gradient ``v`` (``dout``), the hand-written
    backward gives ``vᵀJd = sum_i <dinput_i, d_i>`` and central differences give
    ``<v, (f(x + h d) - f(x - h d)) / 2h>`` with the relative step ``h``
    (:data:`FAST_STEP`): three forward evaluations and one backward, whatever the
    sizes.  The error is ``|a - n| / sqrt(sum_i |dinput_i|² rms(input_i)²)``: the
    difference in units of the projection's typical size (its standard deviation
    over directions).

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
    scale of a whole gradient.  An error confined to a few entries of a large
    array moves it by their share only: use ``mode="sampled"`` or ``"full"``.

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
    inputs: Sequence[Any],
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


@dataclasses.dataclass
class _Run:
    """A forward/backward run: everything the oracles compare against."""

    value: Callable[..., Any]
    inputs: tuple[Any, ...]
    names: tuple[str, ...]
    float_idx: list[int]
    dout: Any
    grads: dict[int, np.ndarray]
    dtypes: dict[int, Any]
    xp: Any
    forward_ok: bool
    problems: tuple[str, ...]


def _choose(func: str, oracles: Sequence[str] | None, mode: str,
            samples: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The oracles to run and notes on those left out; errors for bad options."""
    if mode not in MODES:
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


def _analytic(
    func: str,
    forward: Callable[..., Any],
    backward: Callable[[Any, Any], Any] | None,
    inputs: Sequence[Any],
    dout: Any,
    names: Sequence[str] | None,
    seed: int,
) -> _Run:
    """Run the pair once and collect the hand-written gradients on the host."""
    inputs = tuple(inputs)
    float_idx = [i for i, x in enumerate(inputs) if _is_float(x)]
    if not float_idx:
        raise TypeError(f"{func}: inputs must include at least one floating array")
    names = tuple(names) if names is not None else _default_names(len(inputs))
    first = inputs[float_idx[0]]
    xp = _compat.array_namespace(func, x=first)
    if backward is None:
        out, analytic = forward(*inputs)
        dout = 1.0 if dout is None else dout
        scale = float(to_numpy(dout)) if _compat.is_array_api_obj(dout) else float(dout)
        analytic = tuple(g * scale for g in _as_tuple(analytic))
    else:
        out, cache = forward(*inputs)
        if dout is None:  # a stream of its own, apart from inputs drawn with the same seed
            rng = np.random.default_rng((seed, 0xD0))
            dout = from_numpy(rng.standard_normal(tuple(out.shape)), xp, dtype=out.dtype,
                              device=device(out))
        analytic = _as_tuple(backward(dout, cache))
    problems: list[str] = []
    forward_ok = _forward_ok(out, first, xp, problems)
    grads: dict[int, np.ndarray] = {}
    if len(analytic) != len(float_idx):
        problems.append(
            f"backward returned {len(analytic)} gradients for {len(float_idx)} floating inputs"
        )
    else:
        for i, g in zip(float_idx, analytic, strict=True):
            if tuple(g.shape) != tuple(inputs[i].shape) or g.dtype != inputs[i].dtype:
                problems.append(
                    f"d{names[i]} has shape {tuple(g.shape)} and dtype {g.dtype}, "
                    f"but {names[i]} has {tuple(inputs[i].shape)} and {inputs[i].dtype}"
                )
            else:
                grads[i] = np.asarray(to_numpy(g), dtype=np.float64)

    def value(*args: Any) -> Any:
        return forward(*args)[0]

    dtypes = {i: inputs[i].dtype for i in float_idx}
    return _Run(value, inputs, names, float_idx, dout, grads, dtypes, xp, forward_ok,
                tuple(problems))


def _compare(run: _Run, i: int, oracle: str, expected: np.ndarray | None, tol: Any,
             h: float) -> GradientCheck:
    """A full comparison of input ``i``'s gradient, naming the worst entries on failure."""
    t = _tol(tol, oracle, run.dtypes[i])
    assert expected is not None
    if i not in run.grads:
        return GradientCheck(run.names[i], oracle, math.inf, t, tuple(expected.shape))
    analytic = run.grads[i]
    err = scaled_error(analytic, expected)
    worst: tuple[Entry, ...] = ()
    if err > t:
        diff = np.abs(analytic - expected) / max(float(np.max(np.abs(expected))), _TINY)
        flat = [k for k in np.argsort(-diff, axis=None)[:3] if diff.flat[k] > t]
        worst = tuple(_entry(run, i, np.unravel_index(k, analytic.shape), expected, h, t,
                             oracle == "numerical") for k in flat)
    return GradientCheck(run.names[i], oracle, err, t, tuple(analytic.shape), "full",
                         analytic.size, worst)


def _entry(run: _Run, i: int, index: tuple[Any, ...], expected: np.ndarray, h: float,
           tol: float, probe_kink: bool) -> Entry:
    ix = tuple(int(k) for k in index)
    a, e = float(run.grads[i][ix]), float(expected[ix])
    kink = False
    if probe_kink:
        coarse = _partial(run, i, ix, 10 * h)
        kink = abs(coarse - e) > tol * max(abs(e), abs(coarse), 1.0)
    return Entry(ix, a, e, kink)


def _partial(run: _Run, i: int, ix: tuple[int, ...], h: float) -> float:
    """One entry of the numerical VJP, in float64."""
    with float64_context(run.xp):
        inputs, dout = promote(run.inputs, run.xp), promote((run.dout,), run.xp)[0]
        base = np.array(to_numpy(inputs[i]), dtype=np.float64)
        x = inputs[i]

        def value_at(step: float) -> Any:
            moved = base.copy()
            moved[ix] += step
            return run.value(*_replace(inputs, i, from_numpy(moved, run.xp, dtype=x.dtype,
                                                             device=device(x))))

        return partial(value_at, dout, h)


def _sampled(run: _Run, tol: Any, h: float, seed: int, samples: int) -> list[GradientCheck]:
    """``samples`` random entries of each gradient against central differences."""
    rng = np.random.default_rng((seed, 0x5A))
    checks = []
    for i in run.float_idx:
        shape = tuple(run.inputs[i].shape)
        t = _tol(tol, "numerical", run.dtypes[i])
        if i not in run.grads:
            checks.append(GradientCheck(run.names[i], "numerical", math.inf, t, shape, "sampled"))
            continue
        size = int(np.prod(shape))
        picks = rng.choice(size, size=min(samples, size), replace=False)
        indices = [tuple(int(k) for k in np.unravel_index(p, shape)) for p in picks]
        numeric = {ix: _partial(run, i, ix, h) for ix in indices}
        scale = max(float(np.max(np.abs(run.grads[i]))) if size else 0.0,
                    *(abs(v) for v in numeric.values()), _TINY)
        diffs = {ix: abs(run.grads[i][ix] - v) / scale for ix, v in numeric.items()}
        err = max(diffs.values(), default=0.0)
        worst: tuple[Entry, ...] = ()
        if err > t:
            ranked = [ix for ix in sorted(diffs, key=diffs.__getitem__, reverse=True)[:3]
                      if diffs[ix] > t]
            expected = np.zeros(shape)
            for ix in ranked:
                expected[ix] = numeric[ix]
            worst = tuple(_entry(run, i, ix, expected, h, t, True) for ix in ranked)
        checks.append(GradientCheck(run.names[i], "numerical", err, t, shape, "sampled",
                                    len(indices), worst))
    return checks


def fast_directions(inputs: Sequence[Any], seed: int) -> dict[int, tuple[np.ndarray, float]]:
    """The fast mode's direction: floating input ``i`` -> (host ``d_i``, its scale ``rms_i``).

    ``d_i`` is standard normal (seeded by ``seed``) times the input's root mean
    square; an all-zero input (a bias at initialization) uses the root mean square of
    all floating inputs together, or 1.
    """
    rng = np.random.default_rng((seed, 0xFA))
    hosts = {i: np.asarray(to_numpy(x), dtype=np.float64) for i, x in enumerate(inputs)
             if _is_float(x)}
    total = sum(a.size for a in hosts.values())
    overall = math.sqrt(sum(float(np.sum(a * a)) for a in hosts.values()) / max(total, 1))
    out = {}
    for i, a in hosts.items():
        rms = math.sqrt(float(np.mean(a * a))) if a.size else 0.0
        scale = rms if rms > 0 else overall if overall > 0 else 1.0
        out[i] = (scale * rng.standard_normal(a.shape), scale)
    return out


def fast_projection(run: _Run, h: float, seed: int) -> tuple[float, float, float]:
    """The fast mode's numbers: (hand-written ``vᵀJd``, central differences, scale)."""
    directions = fast_directions(run.inputs, seed)
    analytic = sum(float(np.sum(run.grads[i] * d)) for i, (d, _) in directions.items())
    scale = math.sqrt(sum(float(np.sum(run.grads[i] ** 2)) * s ** 2
                          for i, (_, s) in directions.items()))
    with float64_context(run.xp):
        inputs, dout = promote(run.inputs, run.xp), promote((run.dout,), run.xp)[0]
        hosts = {i: np.asarray(to_numpy(inputs[i]), dtype=np.float64) for i in directions}

        def value_at(step: float) -> Any:
            moved = list(inputs)
            for i, (d, _) in directions.items():
                moved[i] = from_numpy(hosts[i] + step * d, run.xp, dtype=inputs[i].dtype,
                                      device=device(inputs[i]))
            return run.value(*moved)

        numeric = partial(value_at, dout, h)
    return analytic, numeric, scale


def _fast(run: _Run, tol: Any, h: float, seed: int) -> GradientCheck:
    """One random projection vᵀJd: hand-written against central differences."""
    label = ", ".join(run.names[i] for i in run.float_idx)
    t = max(_tol(tol, "numerical", run.dtypes[i], "fast") for i in run.float_idx)
    if len(run.grads) != len(run.float_idx):
        return GradientCheck(label, "numerical", math.inf, t, (), "fast")
    analytic, numeric, scale = fast_projection(run, h, seed)
    err = abs(analytic - numeric) / max(scale, abs(numeric), _TINY)
    size = sum(g.size for g in run.grads.values())
    return GradientCheck(label, "numerical", err, t, (), "fast", size)


def _default_names(n: int) -> tuple[str, ...]:
    base = ("x", "w", "b", "y")
    return tuple(base[i] if i < len(base) else f"input{i}" for i in range(n))


def _as_tuple(grads: Any) -> tuple[Any, ...]:
    return tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)


def _forward_ok(out: Any, first: Any, xp: Any, problems: list[str]) -> bool:
    if _compat.array_namespace("check_layer", out=out) is not xp:
        problems.append("forward output is in another namespace than the inputs")
        return False
    if out.dtype != first.dtype:
        problems.append(f"forward output has dtype {out.dtype}, inputs {first.dtype}")
        return False
    if not bool(np.all(np.isfinite(to_numpy(out)))):
        problems.append("forward output is not finite")
        return False
    return True


def _tol(tol: float | dict[str, float] | None, oracle: str, dtype: Any,
         mode: str = "full") -> float:
    if tol is None:
        return tolerance(dtype, oracle, mode)
    if isinstance(tol, dict):
        return tol[oracle] if oracle in tol else tolerance(dtype, oracle, mode)
    return float(tol)

