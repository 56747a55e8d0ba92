"""Transformer layers against PyTorch (an independent implementation), and their errors.

The case table (tests/test_layer_table.py) already walks gelu, layernorm over tokens,
temporal_affine, patch_embed and multi-head attention through finite differences and
JAX autodiff (<= 1e-8 in float64) on every backend, float32 and float64, under
``jax.jit`` and with read-only inputs.  Here the forward values, and the gradients, are
compared with PyTorch's own layers: ``F.gelu(approximate="tanh")``, ``F.layer_norm``,
``F.linear``, ``F.conv2d`` (a patch embedding is a stride-P convolution) and
``F.multi_head_attention_forward``, with ``torch.autograd`` for the gradients.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest
from helpers import assert_array, assert_close, base_namespace, randn

import portable_layers as pl
from portable_layers import _compat

HAVE_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="the PyTorch reference needs torch")


def _host(*arrays: Any) -> list[np.ndarray]:
    return [np.asarray(_compat.to_numpy(a), dtype=np.float64) for a in arrays]


def _torch_grads(fn: Any, host: list[np.ndarray], dout: np.ndarray) -> tuple[Any, list[Any]]:
    """PyTorch's output of ``fn`` and the gradients of ``sum(out * dout)``, on the host."""
    import torch

    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in host]
    out = fn(*ts)
    (out * torch.tensor(dout)).sum().backward()
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


def _compare(ours: tuple[Any, ...], theirs: tuple[Any, list[Any]], rtol: float = 1e-10) -> None:
    out, grads = ours
    ref_out, ref_grads = theirs
    assert_close(out, ref_out, rtol=rtol, atol=1e-12)
    for g, r in zip(grads, ref_grads, strict=True):
        assert_close(g, r, rtol=rtol, atol=1e-12)


def _attention_args(xp: Any, n: int = 2, t: int = 5, d: int = 8) -> list[Any]:
    return [randn(xp, n, t, d, seed=1), randn(xp, d, 3 * d, seed=2, scale=0.5),
            randn(xp, 3 * d, seed=3, scale=0.1), randn(xp, d, d, seed=4, scale=0.5),
            randn(xp, d, seed=5, scale=0.1)]


def _causal(xp: Any, t: int) -> Any:
    return xp.asarray(np.tril(np.ones((t, t), dtype=bool)))


# ---------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------


@needs_torch
def test_gelu_matches_torch_tanh_gelu(xp: Any) -> None:
    import torch.nn.functional as F

    x = randn(xp, 4, 7, seed=0, scale=3.0)
    dout = randn(xp, 4, 7, seed=1)
    out, cache = pl.gelu_forward(x)
    ours = (out, (pl.gelu_backward(dout, cache),))
    _compare(ours, _torch_grads(lambda t: F.gelu(t, approximate="tanh"), _host(x), *_host(dout)))


@needs_torch
@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 6), (2, 2, 3, 6)])
def test_layernorm_matches_torch_layer_norm(xp: Any, shape: tuple[int, ...]) -> None:
    import torch.nn.functional as F

    x = randn(xp, *shape, seed=0, scale=2.0)
    gamma, beta = randn(xp, 6, seed=1), randn(xp, 6, seed=2)
    dout = randn(xp, *shape, seed=3)
    out, cache = pl.layernorm_forward(x, gamma, beta, {})
    dx, dgamma, dbeta = pl.layernorm_backward(dout, cache)
    assert_array(dx, xp, shape, base_namespace(xp).float64)

    def ref(t: Any, g: Any, b: Any) -> Any:
        return F.layer_norm(t, (6,), g, b, eps=1e-5)

    _compare((out, (dx, dgamma, dbeta)), _torch_grads(ref, _host(x, gamma, beta), *_host(dout)))


def test_layernorm_over_tokens_is_the_2d_case_row_by_row(xp: Any) -> None:
    """(N, T, D) normalizes each of the N*T rows as CS231n's (N*T, D) case does."""
    x = randn(xp, 2, 3, 5, seed=0)
    gamma, beta, dout = randn(xp, 5, seed=1), randn(xp, 5, seed=2), randn(xp, 2, 3, 5, seed=3)
    out, cache = pl.layernorm_forward(x, gamma, beta, {"eps": 1e-3})
    grads = pl.layernorm_backward(dout, cache)
    flat = base_namespace(xp).reshape
    out2, cache2 = pl.layernorm_forward(flat(x, (6, 5)), gamma, beta, {"eps": 1e-3})
    grads2 = pl.layernorm_backward(flat(dout, (6, 5)), cache2)
    assert_close(flat(out, (6, 5)), out2)
    assert_close(flat(grads[0], (6, 5)), grads2[0])
    assert_close(grads[1], grads2[1])
    assert_close(grads[2], grads2[2])


@needs_torch
def test_temporal_affine_matches_torch_linear(xp: Any) -> None:
    import torch.nn.functional as F

    x, w, b = randn(xp, 2, 3, 4, seed=0), randn(xp, 4, 5, seed=1), randn(xp, 5, seed=2)
    dout = randn(xp, 2, 3, 5, seed=3)
    out, cache = pl.temporal_affine_forward(x, w, b)
    ours = (out, pl.temporal_affine_backward(dout, cache))
    _compare(ours, _torch_grads(lambda t, v, c: F.linear(t, v.T, c), _host(x, w, b),
                                *_host(dout)))


@needs_torch
def test_patch_embed_matches_torch_strided_conv(xp: Any) -> None:
    """A patch embedding is a P x P convolution with stride P, patches in row-major order."""
    import torch.nn.functional as F

    n, c, h, w, p, d = 2, 3, 4, 6, 2, 5
    x, wt, b = randn(xp, n, c, h, w, seed=0), randn(xp, c * p * p, d, seed=1), randn(xp, d, seed=2)
    dout = randn(xp, n, (h // p) * (w // p), d, seed=3)
    out, cache = pl.patch_embed_forward(x, wt, b, {"patch_size": p})
    assert_array(out, xp, (n, 6, d), base_namespace(xp).float64)

    def ref(t: Any, v: Any, bias: Any) -> Any:
        conv = F.conv2d(t, v.T.reshape(d, c, p, p), bias, stride=p)  # (N, D, H/P, W/P)
        return conv.flatten(2).transpose(1, 2)

    _compare((out, pl.patch_embed_backward(dout, cache)),
             _torch_grads(ref, _host(x, wt, b), *_host(dout)))


@needs_torch
@pytest.mark.parametrize("heads", [1, 2, 4])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_torch_multi_head_attention(xp: Any, heads: int, causal: bool) -> None:
    import torch
    import torch.nn.functional as F

    args = _attention_args(xp)
    n, t, d = args[0].shape
    mask = _causal(xp, t) if causal else None
    dout = randn(xp, n, t, d, seed=6)
    out, cache = pl.multihead_attention_forward(*args, {"num_heads": heads, "mask": mask})
    ours = (out, pl.multihead_attention_backward(dout, cache))
    hidden = None if mask is None else torch.tensor(~np.asarray(_compat.to_numpy(mask)))
    probs = {}

    def ref(x: Any, w_qkv: Any, b_qkv: Any, w_out: Any, b_out: Any) -> Any:
        o, p = F.multi_head_attention_forward(
            x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1), d, heads,
            w_qkv.T, b_qkv, None, None, False, 0.0, w_out.T, b_out,
            need_weights=True, attn_mask=hidden, average_attn_weights=False)
        probs["p"] = p
        return o.transpose(0, 1)

    _compare(ours, _torch_grads(ref, _host(*args), *_host(dout)))
    assert_close(cache.probs, probs["p"].detach().numpy(), rtol=1e-10, atol=1e-14)


def test_attention_without_mask_key_is_none_mask(xp: Any) -> None:
    args = _attention_args(xp)
    a = pl.multihead_attention_forward(*args, {"num_heads": 2})[0]
    b = pl.multihead_attention_forward(*args, {"num_heads": 2, "mask": None})[0]
    assert_close(a, b, rtol=0)


def test_attention_mask_hides_keys(xp: Any) -> None:
    """Causal: changing the last token changes no earlier query's output."""
    args = _attention_args(xp)
    x = _compat.to_numpy(args[0]).copy()
    x[:, -1] += 1.0
    param = {"num_heads": 2, "mask": _causal(xp, 5)}
    a = pl.multihead_attention_forward(*args, param)[0]
    b = pl.multihead_attention_forward(xp.asarray(x), *args[1:], param)[0]
    assert_close(_compat.to_numpy(a)[:, :-1], _compat.to_numpy(b)[:, :-1], rtol=1e-12)
    assert not np.allclose(_compat.to_numpy(a)[:, -1], _compat.to_numpy(b)[:, -1])


def test_attention_float32_stays_float32(xp: Any) -> None:
    args = [base_namespace(xp).astype(a, base_namespace(xp).float32) for a in _attention_args(xp)]
    out, cache = pl.multihead_attention_forward(*args, {"num_heads": 4})
    assert_array(out, xp, (2, 5, 8), base_namespace(xp).float32)
    assert_array(cache.probs, xp, (2, 4, 5, 5), base_namespace(xp).float32)


def test_fully_hidden_row_is_nan_under_jit(xp: Any) -> None:
    """A traced mask cannot be checked: the query that sees no key gets NaN, the rest not."""
    jax = pytest.importorskip("jax", reason="jax.jit needs JAX")
    import jax.numpy as jnp

    host = np.tril(np.ones((5, 5), dtype=bool))
    host[2] = False
    args = [jnp.asarray(_compat.to_numpy(a), dtype=jnp.float32) for a in _attention_args(xp)]

    def forward(mask: Any, *arrays: Any) -> Any:
        return pl.multihead_attention_forward(*arrays, {"num_heads": 2, "mask": mask})[0]

    out = np.asarray(jax.jit(forward)(jnp.asarray(host), *args))
    assert np.isnan(out[:, 2]).all()
    assert np.isfinite(np.delete(out, 2, axis=1)).all()


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_attention_errors(xp: Any) -> None:
    args = _attention_args(xp)
    f = pl.multihead_attention_forward
    with pytest.raises(TypeError, match=r"multihead_attention_forward: attn_param\['num_heads'\] "
                                        r"must be an int, got 2.0"):
        f(*args, {"num_heads": 2.0})
    with pytest.raises(TypeError, match="num_heads'] must be an int, got None"):
        f(*args, {})
    with pytest.raises(ValueError, match=r"num_heads'\] must be a positive divisor of D = 8, "
                                         "got 3"):
        f(*args, {"num_heads": 3})
    with pytest.raises(TypeError, match="attn_param must be a dict"):
        f(*args, None)
    ints = xp.asarray(np.tril(np.ones((5, 5), dtype=np.int64)))
    with pytest.raises(TypeError, match=r"attn_param\['mask'\] must be a boolean array"):
        f(*args, {"num_heads": 2, "mask": ints})
    with pytest.raises(ValueError, match=r"attn_param\['mask'\] must have shape \(T, T\) = "
                                         r"\(5, 5\) to match x, got \(4, 4\)"):
        f(*args, {"num_heads": 2, "mask": _causal(xp, 4)})
    with pytest.raises(TypeError, match="multihead_attention_forward"):
        f(*args, {"num_heads": 2, "mask": np.tril(np.ones((5, 5), dtype=bool)).tolist()})
    hidden = np.tril(np.ones((5, 5), dtype=bool))
    hidden[[1, 3]] = False
    with pytest.raises(ValueError, match=r"hides every key from the queries \[1, 3\]"):
        f(*args, {"num_heads": 2, "mask": xp.asarray(hidden)})
    with pytest.raises(ValueError, match=r"w_qkv must have shape \(D, 3D\) = \(8, 24\)"):
        f(args[0], args[3], *args[2:], {"num_heads": 2})
    with pytest.raises(ValueError, match="x must have 3 dimensions"):
        f(args[1], *args[1:], {"num_heads": 2})


def test_patch_embed_errors(xp: Any) -> None:
    x, w, b = randn(xp, 2, 3, 4, 6), randn(xp, 12, 5), randn(xp, 5)
    f = pl.patch_embed_forward
    with pytest.raises(TypeError, match=r"patch_embed_forward: patch_param\['patch_size'\] must "
                                        "be an int, got 2.0"):
        f(x, w, b, {"patch_size": 2.0})
    with pytest.raises(ValueError, match=r"patch_size'\] must be a positive integer dividing "
                                         "H = 4 and W = 6, got 3"):
        f(x, randn(xp, 27, 5), b, {"patch_size": 3})
    with pytest.raises(ValueError, match=r"w must have shape \(C\*P\*P, D\) with C\*P\*P = 12"):
        f(x, randn(xp, 11, 5), b, {"patch_size": 2})
    with pytest.raises(TypeError, match="patch_param must be a dict"):
        f(x, w, b, 2)
    with pytest.raises(ValueError, match="x must have 4 dimensions"):
        f(w, w, b, {"patch_size": 2})


def test_temporal_affine_and_layernorm_errors(xp: Any) -> None:
    with pytest.raises(ValueError, match="temporal_affine_forward: x must have 3 dimensions"):
        pl.temporal_affine_forward(randn(xp, 2, 4), randn(xp, 4, 5), randn(xp, 5))
    with pytest.raises(ValueError, match=r"temporal_affine_forward: w must have shape \(D, M\)"):
        pl.temporal_affine_forward(randn(xp, 2, 3, 4), randn(xp, 3, 5), randn(xp, 5))
    with pytest.raises(ValueError, match="layernorm_forward: x must have at least 2 dimensions"):
        pl.layernorm_forward(randn(xp, 5), randn(xp, 5), randn(xp, 5), {})
    with pytest.raises(ValueError, match=r"layernorm_forward: gamma must have shape \(D,\) = "
                                         r"\(5,\)"):
        pl.layernorm_forward(randn(xp, 2, 3, 5), randn(xp, 3), randn(xp, 3), {})


def test_assert_gradients_fixture_on_attention_with_four_heads(xp: Any,
                                                               assert_gradients: Any) -> None:
    """The pytest plugin's one-line check, on a larger attention than the case table's."""
    oracles = ("numerical", "autodiff") if importlib.util.find_spec("jax") else ("numerical",)
    mask = xp.asarray(np.triu(np.ones((5, 5), dtype=bool)))  # query i sees keys j >= i

    def forward(*arrays: Any) -> Any:
        ns = _compat.array_namespace("test", x=arrays[0])  # the mask, in the oracle's library
        m = ns.asarray(_compat.to_numpy(mask)) if ns is not base_namespace(xp) else mask
        return pl.multihead_attention_forward(*arrays, {"num_heads": 4, "mask": m})

    assert_gradients(forward, pl.multihead_attention_backward, tuple(_attention_args(xp)),
                     oracles=oracles, mode="sampled", samples=6)
