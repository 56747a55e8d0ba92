"""The fast mode's noise floor and what it catches (a measurement, not a timing).

1. Noise floor: the error ``check_layer(..., mode="fast")`` reports on CORRECT
   gradients, over ``--seeds`` random directions, for problems from a 4x3 affine layer
   through every case of ``portable_layers.cases`` to the CIFAR-sized
   TwoLayerPerceptron (D=3072, H=100, N=64, C=10) with weight_scale 1e-2 and the
   model's default 1e-3, in float64 and float32.  The floor is the largest error
   seen; the figure is floor / tolerance (goal: at most 0.01).
2. The step: the same floor at several relative steps ``h`` (``--steps``), the
   analysis behind ``gradient_check.FAST_STEP``: rounding grows like 1/h, crossing
   a ReLU kink sets in when h times the number of units nears 1.
3. What it catches: planted errors of relative size 1e-1 ... 1e-7, either a scale
   error of a whole gradient (dW1 or dw multiplied by 1 + delta) or one entry of it
   moved by delta times the gradient's largest entry; the fraction of directions
   (seeds) for which the fast check fails.

    python benchmarks/bench_fastmode.py [--seeds 10] [--out results/fastmode.json] [--smoke]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from harness import fact, parser, write_json

import portable_layers as pl
from portable_layers.cases import CASES
from portable_layers.gradient_check import FAST_STEP, check_layer, tolerance

NAMES = ("W1", "b1", "W2", "b2")
Problem = tuple[Callable[..., Any], Callable[..., Any] | None, tuple[Any, ...], tuple[str, ...]]
DELTAS = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7)


def affine(dtype: str, n: int = 2, d: int = 4, m: int = 3) -> Problem:
    """affine_forward with w of shape (d, m): the 4x3 layer."""
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((n, d)), rng.standard_normal((d, m)), rng.standard_normal(m)
    inputs = tuple(a.astype(dtype) for a in (x, w, b))
    return pl.affine_forward, pl.affine_backward, inputs, ("x", "w", "b")


def perceptron(dtype: str, d: int, h: int, n: int, weight_scale: float) -> Problem:
    """TwoLayerPerceptron's loss as a function of its parameters (a loss: backward None)."""
    model = pl.TwoLayerPerceptron(d, h, 10, weight_scale=weight_scale, xp="numpy",
                                  dtype=dtype, seed=0)
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((n, d)), rng.integers(0, 10, size=n)

    def forward(*params: Any) -> tuple[Any, tuple[Any, ...]]:
        Xd = X.astype(params[0].dtype)  # the oracle calls this with float64 parameters
        loss, grads = model.loss(Xd, y, params=dict(zip(NAMES, params, strict=True)))
        return loss, tuple(grads[k] for k in NAMES)

    return forward, None, tuple(model.params[k] for k in NAMES), NAMES


def problems(dtype: str, smoke: bool) -> dict[str, Problem]:
    found = {"affine 4x3": affine(dtype)}
    for case in CASES:
        host = case.make_inputs(np.random.default_rng(0))
        inputs = tuple(a.astype(dtype) if np.issubdtype(a.dtype, np.floating) else a
                       for a in host)
        found[case.name] = (case.forward, case.backward, inputs, case.names)
    sizes = [(300, 100, 64)] if smoke else [(300, 100, 64), (3072, 100, 64)]
    for d, h, n in sizes:
        for scale in (1e-2, 1e-3):
            found[f"perceptron D={d} H={h} N={n} ws={scale:g}"] = perceptron(dtype, d, h, n, scale)
    return found


def fast_error(problem: Problem, seed: int, h: float | None = None,
               plant: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None) -> float:
    forward, backward, inputs, names = problem
    if plant is not None:
        forward, backward = planted(forward, backward, plant)
    result = check_layer(forward, backward, inputs, names=names, oracles=("numerical",),
                         mode="fast", seed=seed, h=h)
    return result.checks[0].error


def planted(forward: Any, backward: Any, plant: Callable[[tuple[Any, ...]], tuple[Any, ...]]
            ) -> tuple[Any, Any]:
    """The pair with ``plant`` applied to the hand-written gradients."""
    if backward is None:
        def wrong_forward(*args: Any) -> Any:
            loss, grads = forward(*args)
            return loss, plant(tuple(grads))
        return wrong_forward, None

    def wrong_backward(dout: Any, cache: Any) -> Any:
        grads = backward(dout, cache)
        return plant(tuple(grads) if isinstance(grads, tuple) else (grads,))
    return forward, wrong_backward


def scale_error(k: int, delta: float) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    def plant(grads: tuple[Any, ...]) -> tuple[Any, ...]:
        g = list(grads)
        g[k] = g[k] * (1 + delta)
        return tuple(g)
    return plant


def entry_error(k: int, delta: float) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    def plant(grads: tuple[Any, ...]) -> tuple[Any, ...]:
        g = list(grads)
        bump = np.zeros(g[k].shape, dtype=g[k].dtype)
        bump.flat[0] = delta * np.max(np.abs(g[k]))
        g[k] = g[k] + bump
        return tuple(g)
    return plant


def floors(seeds: int, smoke: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dtype in ("float64", "float32"):
        tol = tolerance(dtype, "numerical", "fast")
        rows = {name: max(fast_error(p, s) for s in range(seeds))
                for name, p in problems(dtype, smoke).items()}
        worst = max(rows, key=rows.__getitem__)
        print(f"\n1. noise floor, {dtype} (largest error over {seeds} directions; tol {tol:g})")
        for name, err in rows.items():
            print(f"  {name:40s} {err:9.2e}  ({err / tol:7.2%} of tol)")
        print(f"  floor {rows[worst]:.2e} ({worst}) = {rows[worst] / tol:.2%} of the tolerance")
        out[dtype] = {"tol": tol, "floor": rows[worst], "worst": worst, "errors": rows}
    return out


def steps(seeds: int, smoke: bool, values: list[float]) -> dict[str, Any]:
    big = problems("float64", smoke)
    print("\n2. float64 floor by relative step h (largest over the problems above)")
    out = {}
    for h in values:
        errors = {name: max(fast_error(p, s, h=h) for s in range(seeds)) for name, p in big.items()}
        worst = max(errors, key=errors.__getitem__)
        print(f"  h = {h:7.0e}: floor {errors[worst]:.2e} ({worst})"
              f"{'  <- FAST_STEP' if h == FAST_STEP else ''}")
        out[f"{h:g}"] = {"floor": errors[worst], "worst": worst}
    return out


def catches(seeds: int, smoke: bool) -> dict[str, Any]:
    d = 300 if smoke else 3072
    chosen = {"affine 4x3 (dw)": (affine("float64"), 1),
              f"perceptron D={d} ws=1e-3 (dW1)": (perceptron("float64", d, 100, 64, 1e-3), 0),
              f"perceptron D={d} ws=1e-3 (dW2)": (perceptron("float64", d, 100, 64, 1e-3), 2)}
    print(f"\n3. planted errors: fraction of {seeds} directions for which the fast check fails "
          f"(float64, tol {tolerance('float64', 'numerical', 'fast'):g})")
    print(f"  {'problem':34s} {'error':>6s} " + " ".join(f"{x:>6g}" for x in DELTAS))
    out: dict[str, Any] = {}
    for name, (problem, k) in chosen.items():
        for kind, make in (("scale", scale_error), ("entry", entry_error)):
            fractions = []
            for delta in DELTAS:
                tol = tolerance("float64", "numerical", "fast")
                failed = sum(fast_error(problem, s, plant=make(k, delta)) > tol
                             for s in range(seeds))
                fractions.append(failed / seeds)
            print(f"  {name:34s} {kind:>6s} " + " ".join(f"{f:6.0%}" for f in fractions))
            out[f"{name} {kind}"] = dict(zip((f"{x:g}" for x in DELTAS), fractions, strict=True))
    return out


def main() -> None:
    p = parser(__doc__ or "")
    if not any(a.dest == "smoke" for a in p._actions):
        p.add_argument("--smoke", action="store_true", help="tiny sizes, two directions")
    p.add_argument("--seeds", type=int, default=10, help="random directions per problem")
    p.add_argument("--steps", default="1e-6,1e-5,3e-5,1e-4,3e-4",
                   help="relative steps compared in part 2")
    args = p.parse_args()
    seeds = 2 if args.smoke else args.seeds
    start = time.perf_counter()
    floor = floors(seeds, args.smoke)
    by_step = steps(seeds, args.smoke, [float(v) for v in args.steps.split(",")])
    caught = catches(seeds, args.smoke)
    print(f"\n(total {time.perf_counter() - start:.0f} s)")
    figures = [
        {"id": f"fastmode.floor_{dtype}",
         "what": f"fast-mode error on correct gradients ({dtype}, worst of every problem "
                 f"and {seeds} directions) / its tolerance",
         "compared_with": f"tolerance {floor[dtype]['tol']:g}",
         "ratio": floor[dtype]["floor"] / floor[dtype]["tol"], "goal": 0.01}
        for dtype in ("float64", "float32")
    ]
    write_json(args.out, {"benchmark": "fastmode", "seeds": seeds, "fast_step": FAST_STEP,
                          "figures": figures, "facts": facts(floor, by_step, caught, seeds),
                          "floors": floor, "steps": by_step, "catches": caught})


def facts(floor: dict[str, Any], by_step: dict[str, Any], caught: dict[str, Any],
          seeds: int) -> list[dict[str, Any]]:
    """The README's results: floors, the floor by step, and what the planted errors show."""
    out = [fact(f"fastmode.floor.{dtype}", f"noise floor, {dtype} (worst: {f['worst']})",
                f"{f['floor']:.1e} (tolerance {f['tol']:g})") for dtype, f in floor.items()]
    out += [fact(f"fastmode.step.{h}", f"float64 floor with relative step h = {h}"
                 + (" (FAST_STEP)" if float(h) == FAST_STEP else ""), f"{r['floor']:.1e}")
            for h, r in by_step.items()]
    deltas = ", ".join(f"{x:g}" for x in DELTAS)
    for name, fractions in caught.items():
        problem, kind = name.rsplit(" ", 1)
        what = ("all of it scaled by 1 + δ" if kind == "scale"
                else "one entry off by δ times its largest entry")
        out.append(fact(f"fastmode.catch.{name}",
                        f"{problem}: {what}; failed directions (of {seeds}) for δ = {deltas}",
                        " / ".join(f"{v:.0%}" for v in fractions.values())))
    return out


if __name__ == "__main__":
    main()
