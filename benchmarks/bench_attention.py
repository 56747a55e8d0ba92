"""Multi-head attention forward + backward: hand-written against autodiff and PyTorch.

N=64 samples of T=64 tokens, D=64, 4 heads, float32.  Two ratios, each measured in
one run with the contenders interleaved (:func:`harness.interleaved`):

* JAX: ``multihead_attention_forward`` + ``multihead_attention_backward`` under
  ``jax.jit`` against ``jax.value_and_grad`` of the same forward, jitted (goal <= 1.10).
  Both sides return ``sum(out * dout)`` and the five gradients.
* NumPy: the same two functions on NumPy against PyTorch eager,
  ``F.multi_head_attention_forward`` with the same projections and ``autograd``
  (no goal: reported).

    python benchmarks/bench_attention.py --repeats 7 --out attention.json
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import numpy as np
from harness import interleaved, parser, print_table, summary, write_json

import portable_layers as pl
from portable_layers import _compat

GOAL_JIT = 1.10


def _host(n: int, t: int, d: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    s = 1 / np.sqrt(d)
    arrays = (rng.standard_normal((n, t, d)), s * rng.standard_normal((d, 3 * d)),
              0.1 * rng.standard_normal(3 * d), s * rng.standard_normal((d, d)),
              0.1 * rng.standard_normal(d), rng.standard_normal((n, t, d)))
    return tuple(a.astype("float32") for a in arrays)


def _hand(xp: Any, heads: int) -> Callable[..., Any]:
    def step(x: Any, w_qkv: Any, b_qkv: Any, w_out: Any, b_out: Any, dout: Any) -> Any:
        out, cache = pl.multihead_attention_forward(x, w_qkv, b_qkv, w_out, b_out,
                                                    {"num_heads": heads})
        return xp.sum(out * dout), pl.multihead_attention_backward(dout, cache)

    return step


def _blocking(fn: Callable[..., Any], args: tuple[Any, ...]) -> Callable[[], Any]:
    import jax

    return lambda: jax.block_until_ready(fn(*args))


def _jax_pair(host: tuple[np.ndarray, ...], heads: int) -> dict[str, Callable[[], Any]]:
    import jax

    xp = _compat.get_namespace("jax")
    args = tuple(xp.asarray(a) for a in host)

    def loss(x: Any, w_qkv: Any, b_qkv: Any, w_out: Any, b_out: Any, dout: Any) -> Any:
        out, _ = pl.multihead_attention_forward(x, w_qkv, b_qkv, w_out, b_out,
                                                {"num_heads": heads})
        return xp.sum(out * dout)

    autodiff = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3, 4)))
    return {"jax.value_and_grad (jit)": _blocking(autodiff, args),
            "hand-written (jax.jit)": _blocking(jax.jit(_hand(xp, heads)), args)}


def _numpy_pair(host: tuple[np.ndarray, ...], heads: int) -> dict[str, Callable[[], Any]]:
    import torch
    import torch.nn.functional as F

    xp = _compat.get_namespace("numpy")
    step = _hand(xp, heads)
    tensors = [torch.tensor(a) for a in host]
    d = host[0].shape[2]

    def torch_step() -> Any:
        x, w_qkv, b_qkv, w_out, b_out = (a.clone().requires_grad_(True) for a in tensors[:5])
        xt = x.transpose(0, 1)
        out, _ = F.multi_head_attention_forward(
            xt, xt, xt, d, heads, w_qkv.T, b_qkv, None, None, False, 0.0, w_out.T, b_out,
            need_weights=False)
        value = (out.transpose(0, 1) * tensors[5]).sum()
        return value, torch.autograd.grad(value, (x, w_qkv, b_qkv, w_out, b_out))

    return {"torch eager + autograd": torch_step,
            "hand-written (numpy)": lambda: step(*host)}


def _add_smoke(p: argparse.ArgumentParser) -> None:
    try:
        p.add_argument("--smoke", action="store_true", help="tiny sizes, one repeat")
    except argparse.ArgumentError:  # the shared parser has it already
        pass


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = parser(__doc__.splitlines()[0])
    _add_smoke(p)
    p.add_argument("--n", type=int, default=64, help="batch size N")
    p.add_argument("--tokens", type=int, default=64, help="tokens T")
    p.add_argument("--dim", type=int, default=64, help="embedding width D")
    p.add_argument("--heads", type=int, default=4, help="attention heads")
    args = p.parse_args(argv)
    if args.smoke:
        args.n, args.tokens, args.dim, args.repeats = 2, 8, 16, 1
    installed = _compat.installed_backends()
    host = _host(args.n, args.tokens, args.dim)
    shape = (f"N={args.n}, T={args.tokens}, D={args.dim}, {args.heads} heads, float32, "
             f"{args.repeats} interleaved repeats")
    doc: dict[str, Any] = {"benchmark": "attention", "config": vars(args), "seconds": {},
                           "results": {}, "figures": []}
    if "jax" in installed:
        base = "jax.value_and_grad (jit)"
        times = interleaved(_jax_pair(host, args.heads), repeats=args.repeats)
        rows = summary(times, base)
        print_table(f"attention forward+backward under jax.jit, {shape}", rows, base)
        doc["seconds"]["jax"], doc["results"]["jax"] = times, rows
        doc["figures"].append({
            "id": "attention.jax_jit_vs_value_and_grad",
            "what": "hand-written attention forward + backward under jax.jit",
            "compared_with": "jax.value_and_grad of the same forward, jitted",
            "ratio": rows["hand-written (jax.jit)"]["ratio"], "goal": GOAL_JIT})
    if "torch" in installed:
        base = "torch eager + autograd"
        times = interleaved(_numpy_pair(host, args.heads), repeats=args.repeats)
        rows = summary(times, base)
        print_table(f"attention forward+backward on NumPy, {shape}", rows, base)
        doc["seconds"]["numpy"], doc["results"]["numpy"] = times, rows
        doc["figures"].append({
            "id": "attention.numpy_vs_torch_autograd",
            "what": "hand-written attention forward + backward on NumPy",
            "compared_with": "PyTorch eager F.multi_head_attention_forward + autograd",
            "ratio": rows["hand-written (numpy)"]["ratio"], "goal": None})
    write_json(args.out, doc)
    return doc


if __name__ == "__main__":
    main()
