"""Convolution forward + backward: portable layers against torch.nn.functional.conv2d.

N=64 images 3x32x32, 32 filters 3x3, pad 1, stride 1, float32.  Contenders run
interleaved in one process by :func:`harness.interleaved`; the table gives each
median and its ratio to PyTorch's autograd (goals: NumPy <= 3x, JAX under jit
<= 1.5x).  No assertions: this reports, it does not judge.  Every side computes and
returns the forward output and the three gradients, and the JAX side blocks on all
four (a dropped output would let XLA drop its product).

    python benchmarks/bench_conv.py --repeats 7 --out conv.json
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from harness import figure, interleaved, parse, parser, print_table, summary, write_json

import portable_layers as pl
from portable_layers import _compat

PARAM = {"stride": 1, "pad": 1}
BASELINE = "torch conv2d + autograd"


def _host(n: int, size: int = 32, filters: int = 32) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 3, size, size)).astype("float32")
    w = (0.1 * rng.standard_normal((filters, 3, 3, 3))).astype("float32")
    b = np.zeros(filters, dtype="float32")
    return x, w, b, rng.standard_normal((n, filters, size, size)).astype("float32")


def _portable(xp: Any, host: tuple[np.ndarray, ...]) -> Callable[[], Any]:
    x, w, b, dout = (xp.asarray(a) for a in host)

    def step(x: Any, w: Any, b: Any, dout: Any) -> Any:
        out, cache = pl.conv_forward(x, w, b, PARAM)
        return (out, *pl.conv_backward(dout, cache))  # the forward output is returned too

    fn = _compat.jit(step, xp)
    if _compat.is_jax_namespace(xp):
        import jax

        return lambda: jax.block_until_ready(fn(x, w, b, dout))
    return lambda: fn(x, w, b, dout)


def _torch(host: tuple[np.ndarray, ...]) -> Callable[[], Any]:
    import torch

    x, w, b, dout = (torch.tensor(a) for a in host)

    def run() -> Any:
        xs, ws, bs = (t.clone().requires_grad_(True) for t in (x, w, b))
        out = torch.nn.functional.conv2d(xs, ws, bs, stride=1, padding=1)
        return (out, *torch.autograd.grad(out, (xs, ws, bs), dout))

    return run


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=64, help="batch size N")
    args = parse(p, argv)
    installed = _compat.installed_backends()
    if "torch" not in installed:
        raise SystemExit("bench_conv: the baseline needs PyTorch (pip install torch)")
    if args.smoke:
        args.n = 2
    host = _host(args.n, *((8, 4) if args.smoke else ()))
    candidates = {BASELINE: _torch(host),
                  "portable numpy": _portable(_compat.get_namespace("numpy"), host)}
    if "jax" in installed:
        candidates["portable jax.jit"] = _portable(_compat.get_namespace("jax"), host)
    times = interleaved(candidates, repeats=args.repeats)  # warm-up compiles JAX
    rows = summary(times, BASELINE)
    print_table(f"conv forward+backward, N={args.n}, 3x32x32, 32 filters 3x3, "
                        f"float32, {args.repeats} interleaved repeats", rows, BASELINE)
    x, w = host[0], host[1]
    what = (f"conv forward + backward (N={x.shape[0]}, 3x{x.shape[2]}x{x.shape[3]}, "
            f"{w.shape[0]} filters 3x3, float32), portable on")
    figures = [figure("conv.numpy", f"{what} NumPy", "torch conv2d + autograd",
                      rows["portable numpy"]["ratio"], 3.0)]
    if "portable jax.jit" in rows:
        figures.append(figure("conv.jax", f"{what} JAX under jax.jit",
                              "torch conv2d + autograd", rows["portable jax.jit"]["ratio"], 1.5))
    doc = {"benchmark": "conv", "config": vars(args), "seconds": times, "results": rows,
           "figures": figures}
    write_json(args.out, doc)
    return doc


if __name__ == "__main__":
    main()
