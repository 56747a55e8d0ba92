"""Gradient checks at CIFAR size: fast mode against torch.autograd.gradcheck's fast mode,
and exact finite differences on JAX (vmapped) against the seed notebook's loop.

TwoLayerPerceptron, N=64, D=3072, H=100, C=10, float64.

1. The fast check (one random projection vᵀJu of all four parameter arrays) of the
   hand-written gradients, against ``torch.autograd.gradcheck(fast_mode=True)`` of the
   same loss (the same portable forward on torch tensors, differentiated by autograd).
2. The exact numerical gradient of W1 (307,200 entries), loss-only evaluations on both
   sides: JAX's compiled central differences (public ``numerical_vjp`` on JAX arrays,
   one perturbation at a time in a compiled loop) against the seed notebook's
   ``eval_numerical_gradient`` as the seed writes it (copied below, in-place writes
   into ``x``) with ``f`` the loss alone.  Both are timed on the first ``--rows`` rows
   of W1 (a view for the seed's loop, so its writes reach the model's W1) and
   extrapolated to all of W1 (the loop alone would take minutes).
3. A planted error of 1e-4 relative in one entry of dW1: which modes catch it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from harness import fact, figure, interleaved, parse, parser, print_table, summary, write_json

import portable_layers as pl
from portable_layers.gradient_check import check_layer, numerical_vjp

N, D, H, C = 64, 3072, 100, 10
NAMES = ("W1", "b1", "W2", "b2")
PLANTED = (17, 3)


def eval_numerical_gradient(f, x, verbose=True, h=0.00001):  # type: ignore[no-untyped-def]
    """
    a naive implementation of numerical gradient of f at x
    - f should be a function that takes a single argument
    - x is the point (numpy array) to evaluate the gradient at
    """
    # The seed notebook's helper, verbatim (tests/data/seed_notebook.txt): the loop the
    # compiled differences are compared with.

    fx = f(x)  # evaluate function value at original point  # noqa: F841
    grad = np.zeros_like(x)
    # iterate over all indexes in x
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:

        # evaluate function at x+h
        ix = it.multi_index
        oldval = x[ix]
        x[ix] = oldval + h  # increment by h
        fxph = f(x)  # evalute f(x + h)
        x[ix] = oldval - h
        fxmh = f(x)  # evaluate f(x - h)
        x[ix] = oldval  # restore

        # compute the partial derivative with centered formula
        grad[ix] = (fxph - fxmh) / (2 * h)  # the slope
        if verbose:
            print(ix, grad[ix])
        it.iternext()  # step to next dimension

    return grad


def problem(xp: str) -> tuple[pl.TwoLayerPerceptron, Any, Any]:
    model = pl.TwoLayerPerceptron(D, H, C, weight_scale=1e-2, xp=xp, dtype="float64", seed=0)
    rng = np.random.default_rng(1)
    X = model.xp.asarray(rng.standard_normal((N, D)))
    y = model.xp.asarray(rng.integers(0, C, size=N))
    return model, X, y


def ours_fast(model: pl.TwoLayerPerceptron, X: Any, y: Any, planted: float = 0.0) -> Any:
    def forward(*params: Any) -> tuple[Any, tuple[Any, ...]]:
        loss, grads = model.loss(X, y, params=dict(zip(NAMES, params, strict=True)))
        g = [grads[k] for k in NAMES]
        if planted:
            scale = np.ones(tuple(g[0].shape))
            scale[PLANTED] += planted
            g[0] = g[0] * model.xp.asarray(scale, dtype=g[0].dtype)
        return loss, tuple(g)

    inputs = tuple(model.params[k] for k in NAMES)
    return forward, inputs


def bench_fast(repeats: int) -> dict[str, Any]:
    import torch

    model, X, y = problem("numpy")
    forward, inputs = ours_fast(model, X, y)
    tmodel, tX, ty = problem("torch")
    tparams = tuple(tmodel.params[k].clone().requires_grad_(True) for k in NAMES)
    passed: dict[str, list[bool]] = {"ours": [], "theirs": []}

    def torch_loss(*params: Any) -> Any:
        scores = tmodel.loss(tX, params=dict(zip(NAMES, params, strict=True)))
        return pl.softmax_loss(scores, ty)[0]

    def ours() -> None:
        passed["ours"].append(bool(check_layer(forward, None, inputs, oracles=("numerical",),
                                               mode="fast").ok))

    def theirs() -> None:
        passed["theirs"].append(bool(torch.autograd.gradcheck(torch_loss, tparams,
                                                              fast_mode=True)))

    times = interleaved({"portable fast check (numpy)": ours,
                         "torch.autograd.gradcheck fast_mode": theirs}, repeats)
    rows = summary(times, "torch.autograd.gradcheck fast_mode")
    print_table(f"1. fast check of all four parameter arrays (N={N}, D={D}, H={H}, C={C}, "
                "float64)", rows, "torch gradcheck")
    return {"rows": rows, "passed": {k: all(v) for k, v in passed.items()}}


def bench_exact(rows: int) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    model, X, y = problem("numpy")
    W1 = model.params["W1"]
    entries = rows * H

    def loss_only(_: Any) -> float:  # the seed's f: the loss alone, at the model's W1
        return pl.softmax_loss(model.loss(X), y)[0]

    def seed_loop() -> None:  # x: a view of W1's first rows, written in place by the loop
        eval_numerical_gradient(loss_only, W1[:rows], verbose=False)

    jmodel, jX, jy = problem("jax")
    jparams = jmodel.params
    jW1 = jparams["W1"]

    def value(w1: Any) -> Any:  # the loss alone, on JAX
        return pl.softmax_loss(jmodel.loss(jX, params={**jparams, "W1": w1}), jy)[0]

    def compiled(r: int) -> Callable[[], None]:
        def block_value(block: Any) -> Any:
            return value(jnp.concatenate([block, jW1[r:]]))

        def run() -> None:  # chunk_bytes=1: one perturbation at a time, as for all of W1
            (grad,) = numerical_vjp(block_value, (jW1[:r],), 1.0, chunk_bytes=1)
            jax.block_until_ready(grad)
        return run

    # Each call compiles once (a second or so, negligible over 307,200 entries): time
    # `rows` rows and 3x as many, and take the difference per extra entry.
    times = interleaved({"seed loop (numpy)": seed_loop, "short": compiled(rows),
                         "long": compiled(3 * rows)}, 3, 0)
    short, long = statistics.median(times.pop("short")), statistics.median(times.pop("long"))
    times["compiled (jax)"] = [(long - short) / 2]
    one = jax.jit(value)
    one(jW1).block_until_ready()
    start = time.perf_counter()
    for _ in range(20):
        one(jW1).block_until_ready()
    floor = (time.perf_counter() - start) / 20 * 2  # two loss evaluations per entry
    per_entry = {k: statistics.median(v) / entries for k, v in times.items()}
    full = {k: v * D * H for k, v in per_entry.items()}
    ratio = full["compiled (jax)"] / full["seed loop (numpy)"]
    print(f"\n2. exact numerical gradient of W1 ({D * H} entries), from {entries} timed entries")
    for k, v in full.items():
        print(f"  {k:20s} {per_entry[k] * 1e3:8.3f} ms/entry -> {v:8.1f} s for all of W1")
    print(f"  ratio compiled / seed loop: {ratio:.3f} (goal: at most 0.02)")
    print(f"  floor: two jitted loss evaluations per entry = {floor * 1e3:.3f} ms/entry "
          f"({floor / per_entry['seed loop (numpy)']:.3f} of the seed loop)")
    return {"per_entry_s": per_entry, "extrapolated_s": full, "ratio": ratio,
            "entries_timed": entries, "floor_two_evals_s": floor,
            "floor_ratio": floor / per_entry["seed loop (numpy)"]}


def bench_planted() -> dict[str, Any]:
    """Which modes catch a 1e-4 relative error in one entry of dW1 (on JAX)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    model, X, y = problem("jax")  # X and y in the closure are JAX arrays, like the params
    forward, inputs = ours_fast(model, X, y, planted=1e-4)
    fast = check_layer(forward, None, inputs, oracles=("numerical",), mode="fast")
    sampled = check_layer(forward, None, inputs, oracles=("numerical",), mode="sampled",
                          samples=50)
    auto = check_layer(forward, None, inputs, oracles=("autodiff",))
    named = [c.worst[0].index for c in auto.checks if c.worst]
    caught = {"fast (vᵀJu)": not fast.ok, "sampled, 50 entries per array": not sampled.ok,
              "autodiff (every entry)": not auto.ok}
    print(f"\n3. planted error of 1e-4 relative in dW1{list(PLANTED)} ({D * H} entries):")
    for k, v in caught.items():
        print(f"  {k:32s} {'caught' if v else 'missed'}")
    print(f"  fast-mode error {fast.checks[0].error:.2e} (tol {fast.checks[0].tol:.0e}); "
          f"autodiff names dW1{list(named[0]) if named else '?'}")
    return {**caught, "named": [list(n) for n in named],
            "fast_error": float(fast.checks[0].error), "fast_tol": float(fast.checks[0].tol)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    global N, D, H, PLANTED
    p = parser(__doc__ or "")
    p.add_argument("--rows", type=int, default=1,
                   help=f"rows of W1 ({H} entries each) timed in part 2")
    args = parse(p, argv)
    if args.smoke:
        N, D, H, PLANTED = 4, 16, 8, (3, 2)
    start = time.perf_counter()
    fast, exact, planted = bench_fast(args.repeats), bench_exact(args.rows), bench_planted()
    size = f"N={N}, D={D}, H={H}, C={C}, float64"
    figures = [
        figure("gradcheck.fast", f"fast check (vᵀJu) of all four parameter arrays ({size})",
               "torch.autograd.gradcheck(fast_mode=True), same loss",
               fast["rows"]["portable fast check (numpy)"]["ratio"], 1.0),
        figure("gradcheck.exact", f"exact numerical gradient of W1 ({D * H} entries), "
               "compiled on JAX, loss-only", "the seed's eval_numerical_gradient loop, "
               "loss-only f, NumPy", exact["ratio"], 0.02),
        figure("gradcheck.exact_floor", "two jitted loss evaluations (the floor of exact "
               "central differences, per entry)", "the seed's loop, per entry",
               exact["floor_ratio"], None),
    ]
    where = f"dW1{list(PLANTED)}"
    facts = [
        fact("gradcheck.fast_passed", "the fast check passes the correct gradients "
             "(ours / torch's)", f"{fast['passed']['ours']} / {fast['passed']['theirs']}"),
        fact("gradcheck.seed_ms_per_entry", "seed loop, ms per entry of W1",
             round(exact["per_entry_s"]["seed loop (numpy)"] * 1e3, 3)),
        fact("gradcheck.compiled_ms_per_entry", "compiled JAX differences, ms per entry",
             round(exact["per_entry_s"]["compiled (jax)"] * 1e3, 3)),
        fact("gradcheck.planted_fast", f"1e-4 relative error planted in {where}: fast mode",
             "caught" if planted["fast (vᵀJu)"] else "missed"),
        fact("gradcheck.planted_fast_error", "fast-mode error with the plant (tolerance "
             f"{planted['fast_tol']:.0e})", float(f"{planted['fast_error']:.2e}")),
        fact("gradcheck.planted_sampled", "the same plant: sampled mode, 50 entries per array",
             "caught" if planted["sampled, 50 entries per array"] else "missed"),
        fact("gradcheck.planted_autodiff", "the same plant: autodiff oracle, every entry",
             ("caught, names dW1" + str(planted["named"][0]) if planted["named"] else "caught")
             if planted["autodiff (every entry)"] else "missed"),
    ]
    print(f"\n(total {time.perf_counter() - start:.0f} s)")
    doc = {"benchmark": "gradcheck", "config": {**vars(args), "N": N, "D": D, "H": H, "C": C},
           "fast": fast, "exact": exact, "planted": planted, "figures": figures,
           "facts": facts}
    write_json(args.out, doc)
    return doc


if __name__ == "__main__":
    main()
