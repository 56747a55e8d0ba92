"""Populations of correct gradients, and planted errors: what the checker is measured on.

A *family* draws a problem (a forward/backward pair or a loss and its inputs) from
a seed: the course's CIFAR-size TwoLayerPerceptron at weight scales 1e-3, 1e-2 and
1e-1; FullyConnectedNets with batchnorm, layernorm and dropout (fixed seed); the
ThreeLayerConvNet; the VisionTransformer; and the layer case table at random inputs
(not the table's kink-free ones).  :func:`outcome` checks one draw in one mode,
correct and with planted errors.  ``benchmarks/bench_population.py`` runs hundreds
of draws per family; ``tests/test_population.py`` a smaller population.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _compat
from .check import check_layer, entry_chance

__all__ = ["FAMILIES", "Problem", "draw", "outcome", "planted"]


#: evaluations of a model's loss made eagerly on JAX before it is compiled
EAGER_CALLS = 16


@dataclasses.dataclass
class Problem:
    """One drawn problem: a pair (``backward`` None for a loss) and its host inputs."""

    forward: Callable[..., Any]
    backward: Callable[..., Any] | None
    inputs: tuple[np.ndarray, ...]
    names: tuple[str, ...]


def _model_problem(make: Callable[[str], Any], dtype: str, X: np.ndarray, y: np.ndarray
                   ) -> Problem:
    """The model's loss as a function of its parameters, through the pure
    :meth:`~portable_layers.models.Model.apply` with fresh running statistics (``{}``,
    created in the parameters' library: the oracles move them to JAX, the checks run
    on any backend); the oracles' float64 calls go to a float64 twin.  On JAX the
    function is compiled (``jax.jit``) at its 17th evaluation: a sampled or full check
    evaluates it hundreds of times, where JAX's eager dispatch was ten times slower than
    NumPy, while a fast check's 3 evaluations cost less than a compilation."""
    model = make(dtype)
    twin = model if dtype == "float64" else make("float64")
    names = tuple(model.params)

    def evaluate(*ws: Any) -> tuple[Any, tuple[Any, ...]]:
        ns = _compat.array_namespace("population", w=ws[0])  # oracles move ws to JAX
        Xs, ys = ns.asarray(X, dtype=ws[0].dtype), ns.asarray(y)
        m = model if _compat.dtype_name(ws[0].dtype) == dtype else twin
        (loss, grads), _ = m.apply(Xs, ys, params=dict(zip(names, ws, strict=True)), state={})
        return loss, tuple(grads[k] for k in names)

    eager = [0]  # JAX evaluations so far, until compiled
    compiled: dict[str, Callable[..., Any]] = {}

    def forward(*ws: Any) -> tuple[Any, tuple[Any, ...]]:
        ns = _compat.array_namespace("population", w=ws[0])
        if not _compat.is_jax_namespace(ns):
            return evaluate(*ws)
        if eager[0] < EAGER_CALLS:
            eager[0] += 1
            return evaluate(*ws)
        if not compiled:
            compiled["jit"] = _compat.jit(evaluate, ns)
        return compiled["jit"](*ws)

    params = tuple(np.asarray(_compat.to_numpy(model.params[k])) for k in names)
    return Problem(forward, None, params, names)


def _memo(problem: Problem) -> tuple[Problem, list[int]]:
    """The problem with its forward remembered by the inputs' bytes (the planted checks
    evaluate the same points as the correct one) and a count of real evaluations."""
    seen: dict[bytes, Any] = {}
    calls = [0]
    forward = problem.forward

    def remembered(*args: Any) -> Any:
        if any(_compat.is_traced(a) for a in args):  # JAX's vectorised differences: no bytes
            calls[0] += 1
            return forward(*args)
        key = b"".join(np.ascontiguousarray(_compat.to_numpy(a)).tobytes() + str(a.dtype).encode()
                       for a in args)
        if key not in seen:
            calls[0] += 1
            seen[key] = forward(*args)
        return seen[key]

    return Problem(remembered, problem.backward, problem.inputs, problem.names), calls


def _data(rng: np.random.Generator, n: int, shape: tuple[int, ...], c: int
          ) -> tuple[np.ndarray, np.ndarray]:
    return rng.standard_normal((n, *shape)), rng.integers(0, c, size=n)


def cifar(seed: int, dtype: str, n: int = 64, d: int = 3072) -> Problem:
    """TwoLayerPerceptron(d, 100, 10) (the course's 3072) at weight scale 1e-3, 1e-2,
    1e-1 (by seed), on ``n`` random normal images."""
    import portable_layers as pl

    scale = (1e-3, 1e-2, 1e-1)[seed % 3]
    return _model_problem(lambda t: pl.TwoLayerPerceptron(
        d, 100, 10, weight_scale=scale, xp="numpy", dtype=t, seed=seed),
        dtype, *_data(np.random.default_rng((seed, 1)), n, (d,), 10))


def _fc(normalization: str | None, keep: float) -> Callable[[int, str], Problem]:
    def make(seed: int, dtype: str) -> Problem:
        import portable_layers as pl

        dims = [40, 30] if keep < 1 else [12, 10]  # see the dropout note in the guide

        def model(t: str) -> Any:
            m = pl.FullyConnectedNet(dims, input_dim=8, num_classes=5, xp="numpy",
                                     dtype=t, seed=seed, normalization=normalization,
                                     dropout_keep_ratio=keep, weight_scale=5e-2)
            if keep < 1:
                m.dropout_param["seed"] = seed  # fixed masks: the same function every call
            return m

        return _model_problem(model, dtype, *_data(np.random.default_rng((seed, 1)), 8, (8,), 5))

    return make


def convnet(seed: int, dtype: str) -> Problem:
    import portable_layers as pl

    return _model_problem(lambda t: pl.ThreeLayerConvNet(
        (2, 4, 4), 2, 3, 6, 3, weight_scale=1e-1, xp="numpy", dtype=t, seed=seed),
        dtype, *_data(np.random.default_rng((seed, 1)), 3, (2, 4, 4), 3))


def vit(seed: int, dtype: str) -> Problem:
    import portable_layers as pl

    return _model_problem(lambda t: pl.VisionTransformer(
        (1, 4, 4), 2, 4, 1, 2, 2, 3, xp="numpy", dtype=t, seed=seed),
        dtype, *_data(np.random.default_rng((seed, 1)), 2, (1, 4, 4), 3))


def cases(seed: int, dtype: str) -> Problem:
    """A case of the layer table (by seed) at random normal inputs of the case's shapes,
    scale and centre: no distance from kinks is kept."""
    from ..cases import CASES

    case = CASES[seed % len(CASES)]
    rng = np.random.default_rng((seed, 2))
    host = case.make_inputs(rng)
    inputs = tuple(
        rng.standard_normal(a.shape) * max(float(np.std(a)), 0.1) + float(np.mean(a))
        if np.issubdtype(a.dtype, np.floating) else a for a in host)
    return Problem(case.forward, case.backward, inputs, case.names)


FAMILIES: dict[str, Callable[[int, str], Problem]] = {
    "cifar": cifar,
    "fc_batchnorm": _fc("batchnorm", 1.0),
    "fc_layernorm": _fc("layernorm", 1.0),
    "fc_dropout": _fc(None, 0.7),
    "convnet": convnet,
    "vit": vit,
    "cases": cases,
}


def draw(family: str, seed: int, dtype: str, **kwargs: Any) -> Problem:
    """The problem ``seed`` of ``family`` with floating inputs in ``dtype``."""
    p = FAMILIES[family](seed, dtype, **kwargs)
    p.inputs = tuple(a.astype(dtype) if np.issubdtype(a.dtype, np.floating) else a
                     for a in p.inputs)
    return p


def planted(problem: Problem, plant: Callable[[list[Any]], list[Any]]) -> Problem:
    """The problem with ``plant`` applied to the hand-written gradients."""
    forward, backward = problem.forward, problem.backward
    if backward is None:
        def wrong_forward(*args: Any) -> Any:
            loss, grads = forward(*args)
            return loss, tuple(plant(list(grads) if isinstance(grads, (tuple, list))
                                     else [grads]))
        return Problem(wrong_forward, None, problem.inputs, problem.names)

    def wrong_backward(dout: Any, cache: Any) -> Any:
        grads = backward(dout, cache)
        return tuple(plant(list(grads) if isinstance(grads, (tuple, list)) else [grads]))
    return Problem(forward, wrong_backward, problem.inputs, problem.names)


def whole(delta: float) -> Callable[[list[Any]], list[Any]]:
    """Every gradient scaled by ``1 + delta``."""
    return lambda grads: [g * (1 + delta) for g in grads]


def one_entry(k: int, index: int, delta: float) -> Callable[[list[Any]], list[Any]]:
    """Entry ``index`` (flat) of gradient ``k`` moved by ``delta`` times its largest entry."""
    def plant(grads: list[Any]) -> list[Any]:
        g = grads[k]
        host = np.array(_compat.to_numpy(g), dtype=np.float64)
        largest = float(np.max(np.abs(host)))
        bump = np.zeros(host.shape)
        bump.flat[index] = delta * (largest if largest > 0 else 1.0)
        xp = _compat.array_namespace("population", g=g)
        grads[k] = g + _compat.from_numpy(bump, xp, dtype=g.dtype, device=_compat.device(g))
        return grads
    return plant


def run(problem: Problem, xp: Any, mode: str, oracles: tuple[str, ...], seed: int,
        samples: int = 10) -> tuple[Any, float]:
    """(check result, seconds) of one check of ``problem``."""
    inputs = tuple(xp.asarray(a) for a in problem.inputs)
    start = time.perf_counter()
    result = check_layer(problem.forward, problem.backward, inputs, names=problem.names,
                         oracles=oracles, mode=mode, seed=seed, samples=samples)
    return result, time.perf_counter() - start


def _gradients(problem: Problem) -> list[np.ndarray]:
    """The hand-written gradients at the problem's inputs (``dout`` of ones), on the host."""
    if problem.backward is None:
        grads = problem.forward(*problem.inputs)[1]
    else:
        out, cache = problem.forward(*problem.inputs)
        grads = problem.backward(np.ones(out.shape, dtype=out.dtype), cache)
    grads = grads if isinstance(grads, (tuple, list)) else (grads,)
    return [np.asarray(_compat.to_numpy(g)) for g in grads]


def _meaningful(hosts: list[np.ndarray]) -> list[int]:
    """Positions (among the gradients) of those not zero in exact arithmetic: a planted
    error of 1e-2 of a gradient's largest entry means nothing for a bias before batch
    normalization, whose largest entry is rounding (1e-17 in float64, 1e-8 in float32:
    the bar is 1000 roundings of the largest gradient, at least 1e-8 of it)."""
    sizes = [float(np.max(np.abs(g), initial=0.0)) for g in hosts]
    bar = max(1e-8, 1e3 * max(float(np.finfo(g.dtype).eps) for g in hosts)) * max(sizes)
    return [k for k, s in enumerate(sizes) if s > bar] or [0]


def baseline(problem: Problem, mode: str, samples: int) -> int:
    """Forward evaluations of a check that meets no kink: 1, plus 2 per difference."""
    sizes = [a.size for a in problem.inputs if np.issubdtype(a.dtype, np.floating)]
    if mode == "fast":
        return 3
    if mode == "sampled":
        return 1 + 2 * sum(min(samples, s) for s in sizes)
    return 1 + 2 * sum(sizes)


def outcome(family: str, seed: int, dtype: str, mode: str, xp: Any = np,
            oracles: tuple[str, ...] = ("numerical",), samples: int = 10,
            entry: bool = True, **kwargs: Any) -> dict[str, Any]:
    """One draw in one mode: the correct check (error / tolerance, kinks, evaluations,
    seconds), and whether a 1% error of the whole gradient and (``entry``) one entry off
    by 1e-2 of its gradient's largest entry fail it.  The entry is drawn by ``seed``
    among the floating inputs' entries; ``entry_share`` is the chance sampled mode compares
    it (:func:`~portable_layers.gradient_check.check.entry_chance`; 1 in the other modes)."""
    problem, calls = _memo(draw(family, seed, dtype, **kwargs))
    floats = [i for i, a in enumerate(problem.inputs) if np.issubdtype(a.dtype, np.floating)]
    result, seconds = run(problem, xp, mode, oracles, seed, samples)
    worst = max(c.error / c.tol for c in result.checks)
    out = {"ok": result.ok, "worst": worst, "kinks": sum(c.kinks for c in result.checks),
           "calls": calls[0], "extra": calls[0] - baseline(problem, mode, samples),
           "seconds": seconds, "report": "" if result.ok else f"seed {seed}: {result}"}
    out["whole"] = not run(planted(problem, whole(1e-2)), xp, mode, oracles, seed,
                           samples)[0].ok
    if entry:
        rng = np.random.default_rng((seed, 3))
        grads = _gradients(problem)
        k = int(rng.choice(_meaningful(grads)))
        size = problem.inputs[floats[k]].size
        index = int(rng.integers(size))
        wrong = run(planted(problem, one_entry(k, index, 1e-2)), xp, mode, oracles, seed,
                    samples)[0]
        out["entry"] = not wrong.ok
        # the planted entry is not 0 in the planted gradient
        nonzero = int(np.count_nonzero(grads[k])) + int(grads[k].flat[index] == 0)
        out["entry_share"] = (entry_chance(size, nonzero, samples) if mode == "sampled"
                              else 1.0)
    return out
