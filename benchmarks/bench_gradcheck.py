"""Gradient checks at CIFAR size: fast mode against torch.autograd.gradcheck's fast mode,
and exact finite differences on JAX (vmapped) against the seed notebook's loop.

TwoLayerPerceptron, N=64, D=3072, H=100, C=10, float64.

1. The fast check (one random projection vᵀJu of all four parameter arrays) of the
   hand-written gradients, against ``torch.autograd.gradcheck(fast_mode=True)`` of the
   same loss (the same portable forward on torch tensors, differentiated by autograd).
2. The exact numerical gradient of W1 (307,200 entries): JAX's compiled central
   differences (``numerical_vjp`` on JAX arrays) against the seed's element-by-element
   loop on NumPy.  Both are timed
   on a sample of entries and extrapolated to all of W1 (the loop alone would take
   minutes); ``--entries`` sets the sample.
3. A planted error of 1e-4 relative in one entry of dW1: which modes catch it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from harness import interleaved, parser, print_table, summary, write_json

import portable_layers as pl
from portable_layers.gradient_check import _jax_batched_differences, check_layer

N, D, H, C = 64, 3072, 100, 10
NAMES = ("W1", "b1", "W2", "b2")


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
            scale[17, 3] += planted
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

    def torch_loss(*params: Any) -> Any:
        scores = tmodel.loss(tX, params=dict(zip(NAMES, params, strict=True)))
        return pl.softmax_loss(scores, ty)[0]

    def ours() -> None:
        assert check_layer(forward, None, inputs, oracles=("numerical",), mode="fast").ok

    def theirs() -> None:
        assert torch.autograd.gradcheck(torch_loss, tparams, fast_mode=True)

    times = interleaved({"portable fast check (numpy)": ours,
                         "torch.autograd.gradcheck fast_mode": theirs}, repeats)
    rows = summary(times, "torch.autograd.gradcheck fast_mode")
    print_table("1. fast check of all four parameter arrays (N=64, D=3072, H=100, C=10, "
                "float64)", rows, "torch gradcheck")
    return rows


def bench_exact(entries: int) -> dict[str, Any]:
    import jax

    jax.config.update("jax_enable_x64", True)
    model, X, y = problem("numpy")
    W1 = model.params["W1"]  # the seed's loop writes into it and restores it

    def seed_loop() -> None:
        h = 1e-5
        for k in range(entries):
            ix = np.unravel_index(k, W1.shape)
            old = W1[ix]
            W1[ix] = old + h
            fxph = model.loss(X, y)[0]
            W1[ix] = old - h
            fxmh = model.loss(X, y)[0]
            W1[ix] = old
            _ = (fxph - fxmh) / (2 * h)

    jmodel, jX, jy = problem("jax")
    jparams = jmodel.params

    def value(w1: Any) -> Any:
        return jmodel.loss(jX, jy, params={**jparams, "W1": w1})[0]

    def compiled(count: int) -> Callable[[], None]:
        def run() -> None:
            out = _jax_batched_differences(value, jparams["W1"], 1.0, 1e-5, 1 << 24, limit=count)
            out.block_until_ready()
        return run

    # Each call compiles once (a second or so, negligible over 307,200 entries): time
    # `entries` and 3x as many, and take the difference per extra entry.
    times = interleaved({"seed loop (numpy)": seed_loop, "short": compiled(entries),
                         "long": compiled(3 * entries)}, 3, 0)
    short, long = statistics.median(times.pop("short")), statistics.median(times.pop("long"))
    times["compiled (jax)"] = [(long - short) / 2]
    one = jax.jit(value)
    one(jparams["W1"]).block_until_ready()
    start = time.perf_counter()
    for _ in range(20):
        one(jparams["W1"]).block_until_ready()
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
            "entries_timed": entries, "floor_two_evals_s": floor}


def bench_planted() -> dict[str, Any]:
    """Which modes catch a 1e-4 relative error in dW1[17, 3] (at CIFAR size, on JAX)."""
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
    print("\n3. planted error of 1e-4 relative in dW1[17, 3] (307,200 entries):")
    for k, v in caught.items():
        print(f"  {k:32s} {'caught' if v else 'missed'}")
    print(f"  fast-mode error {fast.checks[0].error:.2e} (tol {fast.checks[0].tol:.0e}); "
          f"autodiff names dW1{list(named[0]) if named else '?'}")
    return {**caught, "named": [list(n) for n in named]}


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--entries", type=int, default=64, help="entries of W1 timed in part 2")
    args = p.parse_args()
    start = time.perf_counter()
    doc = {"fast": bench_fast(args.repeats), "exact": bench_exact(args.entries),
           "planted": bench_planted()}
    print(f"\n(total {time.perf_counter() - start:.0f} s)")
    write_json(args.out, doc)


if __name__ == "__main__":
    main()
