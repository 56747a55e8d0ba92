"""Convolution forward + backward: portable layers against torch.nn.functional.conv2d.

N=64 images 3x32x32, 32 filters 3x3, pad 1, stride 1, float32.  Contenders are
timed interleaved in the same process (one round runs each once, in turn), over
several rounds; the table gives each median and its ratio to PyTorch's autograd.
No assertions: this reports, it does not judge.

    python benchmarks/bench_conv.py --rounds 7 --out conv.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import portable_layers as pl
from portable_layers import _compat

PARAM = {"stride": 1, "pad": 1}


def _host(n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 3, 32, 32)).astype("float32")
    w = (0.1 * rng.standard_normal((32, 3, 3, 3))).astype("float32")
    b = np.zeros(32, dtype="float32")
    return x, w, b, rng.standard_normal((n, 32, 32, 32)).astype("float32")


def _portable(xp: Any, host: tuple[np.ndarray, ...]) -> Callable[[], Any]:
    x, w, b, dout = (xp.asarray(a) for a in host)

    def step(x: Any, w: Any, b: Any, dout: Any) -> Any:
        _out, cache = pl.layers.conv_forward(x, w, b, PARAM)
        return pl.layers.conv_backward(dout, cache)

    fn = _compat.jit(step, xp)
    if _compat.is_jax_namespace(xp):
        return lambda: [g.block_until_ready() for g in fn(x, w, b, dout)]
    return lambda: fn(x, w, b, dout)


def _torch(host: tuple[np.ndarray, ...]) -> Callable[[], Any]:
    import torch

    x, w, b, dout = (torch.tensor(a) for a in host)

    def run() -> Any:
        xs, ws, bs = (t.clone().requires_grad_(True) for t in (x, w, b))
        out = torch.nn.functional.conv2d(xs, ws, bs, stride=1, padding=1)
        return torch.autograd.grad(out, (xs, ws, bs), dout)

    return run


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    host = _host(args.n)
    installed = _compat.installed_backends()
    runs: dict[str, Callable[[], Any]] = {}
    if "torch" in installed:
        runs["torch conv2d + autograd"] = _torch(host)
    runs["portable numpy"] = _portable(_compat.get_namespace("numpy"), host)
    if "jax" in installed:
        runs["portable jax.jit"] = _portable(_compat.get_namespace("jax"), host)
    for run in runs.values():  # warm-up (and compile)
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians.get("torch conv2d + autograd")
    print(f"conv forward+backward, N={args.n}, 3x32x32, 32 filters 3x3, float32, "
          f"{args.rounds} interleaved rounds")
    print(f"{'contender':<26} {'median ms':>10} {'ratio to torch':>15}")
    for name, med in medians.items():
        ratio = f"{med / base:.2f}" if base else "-"
        print(f"{name:<26} {1e3 * med:>10.2f} {ratio:>15}")
    result = {"config": vars(args), "seconds": times, "median_s": medians,
              "ratio_to_torch": {k: (v / base if base else None) for k, v in medians.items()}}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
