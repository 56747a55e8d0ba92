"""Transformer layers: temporal (per-token) affine, patch embedding, multi-head attention.

Each forward returns ``(out, cache)`` beside its backward taking ``(dout, cache)``,
written against the Array API standard only (``@`` on stacks of matrices,
``permute_dims``, ``reshape``, ``tensordot``), so the same code runs on every backend
and under ``jax.jit``.

Multi-head self-attention, for ``x`` of shape (N, T, D) and ``h`` heads of size
``d = D / h``::

    q | k | v = x @ w_qkv + b_qkv                       (N, T, 3D), split into (N, h, T, d)
    s = q @ k^T / sqrt(d)                                (N, h, T, T), hidden keys -> -inf
    p = softmax(s) over the keys (last axis), stably: exp(s - max(s)) / sum
    o = p @ v                                            (N, h, T, d) -> heads concatenated
    out = o @ w_out + b_out                              (N, T, D)

and its backward, from the bottom up::

    do = dout @ w_out^T;  dp = do @ v^T;  dv = p^T @ do
    ds = p * (dp - sum(dp * p, keys)) / sqrt(d)       (the softmax's Jacobian-vector product)
    dq = ds @ k;  dk = ds^T @ q
    dx = [dq | dk | dv] @ w_qkv^T
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from .. import _validate as check
from .._compat import array_namespace, device, is_concrete, isdtype
from .._types import Array

__all__ = [
    "AttentionCache",
    "multihead_attention_backward",
    "multihead_attention_forward",
    "patch_embed_backward",
    "patch_embed_forward",
    "temporal_affine_backward",
    "temporal_affine_forward",
]


def _floats(func: str, **arrays: Array) -> Any:
    xp = array_namespace(func, **arrays)
    for name, arr in arrays.items():
        check.floating(func, name, arr, xp)
    return xp


def _tokens_times(xp: Any, x: Array, g: Array) -> Array:
    """``sum over n, t of x[n, t, :]^T g[n, t, :]``: the weight gradient of a per-token affine."""
    return xp.tensordot(x, g, axes=([0, 1], [0, 1]))


# ---------------------------------------------------------------------------
# Temporal affine
# ---------------------------------------------------------------------------


def temporal_affine_forward(x: Array, w: Array, b: Array) -> tuple[Array, tuple[Array, ...]]:
    """Forward pass of an affine layer applied to every token (time step) alike.

    Parameters
    ----------
    x : floating array of shape (N, T, D)
        Exactly three dimensions.
    w : floating array of shape (D, M)
    b : floating array of shape (M,)

    Returns
    -------
    out : array of shape (N, T, M)
        ``x @ w + b``.
    cache : tuple ``(x, w, b, out)`` (CS231n's)

    Raises
    ------
    TypeError
        If an argument is not a floating array, or the arrays mix libraries.
    ValueError
        If ``x`` is not 3-dimensional, ``w`` is not (D, M) or ``b`` is not (M,).

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = temporal_affine_forward(np.ones((2, 3, 4)), np.ones((4, 5)), np.zeros(5))
    >>> out.shape
    (2, 3, 5)
    """
    func = "temporal_affine_forward"
    _floats(func, x=x, w=w, b=b)
    check.ndim(func, "x", x, 3)
    d = x.shape[2]
    check.ndim(func, "w", w, 2)
    check.shape(func, "w", w, (d, w.shape[1]), hint=f"(D, M) with D = {d} to match x")
    check.shape(func, "b", b, (w.shape[1],), hint=f"(M,) = ({w.shape[1]},) to match w")
    out = x @ w + b
    return out, (x, w, b, out)


def temporal_affine_backward(
    dout: Array, cache: tuple[Array, ...]
) -> tuple[Array, Array, Array]:
    """Backward pass of :func:`temporal_affine_forward`; returns ``(dx, dw, db)``.

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = temporal_affine_forward(np.ones((2, 3, 4)), np.ones((4, 5)), np.zeros(5))
    >>> [g.shape for g in temporal_affine_backward(np.ones((2, 3, 5)), cache)]
    [(2, 3, 4), (4, 5), (5,)]
    """
    func = "temporal_affine_backward"
    x, w = cache[0], cache[1]
    xp = array_namespace(func, dout=dout, cache=x)
    check.dout_like(func, dout, (x.shape[0], x.shape[1], w.shape[1]))
    return dout @ w.T, _tokens_times(xp, x, dout), xp.sum(dout, axis=(0, 1))


# ---------------------------------------------------------------------------
# Patch embedding
# ---------------------------------------------------------------------------


def _patch_size(func: str, patch_param: Any, h: int, w: int) -> int:
    params = check.mapping(func, "patch_param", patch_param)
    p = check.integer_type(func, "patch_param['patch_size']", params.get("patch_size"))
    if p < 1 or h % p or w % p:
        msg = (f"{func}: patch_param['patch_size'] must be a positive integer dividing "
               f"H = {h} and W = {w}, got {p}")
        raise ValueError(msg)
    return p


def patch_embed_forward(
    x: Array, w: Array, b: Array, patch_param: Mapping[str, Any]
) -> tuple[Array, tuple[Any, ...]]:
    """Forward pass of a patch embedding: images cut into P x P patches, each projected.

    Patches come in row-major order over the ``(H // P, W // P)`` grid; each is
    flattened in ``(C, P, P)`` order to ``C * P * P`` values, then ``@ w + b``.  (The
    same as a convolution with P x P filters and stride P, written as one matmul.)

    Parameters
    ----------
    x : floating array of shape (N, C, H, W)
    w : floating array of shape (C * P * P, D)
    b : floating array of shape (D,)
    patch_param : dict
        ``{"patch_size": P}``, an int dividing H and W.

    Returns
    -------
    out : array of shape (N, T, D), ``T = (H // P) * (W // P)``
    cache : tuple ``(patches, w, x_shape, P)``, ``patches`` of shape (N, T, C * P * P)

    Raises
    ------
    TypeError
        If an argument is not a floating array, the arrays mix libraries,
        ``patch_param`` is not a dict or the patch size is not an int.
    ValueError
        If ``x`` is not 4-dimensional, P does not divide H and W, or ``w``, ``b``
        have the wrong shapes.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> out, cache = patch_embed_forward(x, np.eye(4), np.zeros(4), {"patch_size": 2})
    >>> out[0, 1]  # the top-right patch
    array([2., 3., 6., 7.])
    """
    func = "patch_embed_forward"
    xp = _floats(func, x=x, w=w, b=b)
    check.ndim(func, "x", x, 4)
    n, c, h, wd = x.shape
    p = _patch_size(func, patch_param, h, wd)
    k = c * p * p
    check.ndim(func, "w", w, 2)
    check.shape(func, "w", w, (k, w.shape[1]), hint=f"(C*P*P, D) with C*P*P = {k}")
    check.shape(func, "b", b, (w.shape[1],), hint=f"(D,) = ({w.shape[1]},) to match w")
    hp, wp = h // p, wd // p
    grid = xp.reshape(x, (n, c, hp, p, wp, p))
    patches = xp.reshape(xp.permute_dims(grid, (0, 2, 4, 1, 3, 5)), (n, hp * wp, k))
    return patches @ w + b, (patches, w, tuple(x.shape), p)


def patch_embed_backward(dout: Array, cache: tuple[Any, ...]) -> tuple[Array, Array, Array]:
    """Backward pass of :func:`patch_embed_forward`; returns ``(dx, dw, db)``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((2, 3, 4, 4))
    >>> out, cache = patch_embed_forward(x, np.ones((12, 5)), np.zeros(5), {"patch_size": 2})
    >>> [g.shape for g in patch_embed_backward(np.ones((2, 4, 5)), cache)]
    [(2, 3, 4, 4), (12, 5), (5,)]
    """
    func = "patch_embed_backward"
    patches, w, (n, c, h, wd), p = cache
    xp = array_namespace(func, dout=dout, cache=patches)
    check.dout_like(func, dout, (n, patches.shape[1], w.shape[1]))
    hp, wp = h // p, wd // p
    dpatches = xp.reshape(dout @ w.T, (n, hp, wp, c, p, p))
    dx = xp.reshape(xp.permute_dims(dpatches, (0, 3, 1, 4, 2, 5)), (n, c, h, wd))
    return dx, _tokens_times(xp, patches, dout), xp.sum(dout, axis=(0, 1))


# ---------------------------------------------------------------------------
# Multi-head self-attention
# ---------------------------------------------------------------------------


class AttentionCache(NamedTuple):
    """What :func:`multihead_attention_backward` needs; ``probs`` are the attention maps."""

    x: Array
    w_qkv: Array
    w_out: Array
    q: Array
    k: Array
    v: Array
    probs: Array  # (N, h, T, T): probs[n, i, t, s] is how much query t attends to key s
    heads: Array  # (N, T, D), the heads' outputs concatenated
    scale: float


def _num_heads(func: str, params: Mapping[str, Any], d: int) -> int:
    h = check.integer_type(func, "attn_param['num_heads']", params.get("num_heads"))
    if h < 1 or d % h:
        msg = f"{func}: attn_param['num_heads'] must be a positive divisor of D = {d}, got {h}"
        raise ValueError(msg)
    return h


def _mask(func: str, xp: Any, params: Mapping[str, Any], x: Array) -> Array | None:
    mask = params.get("mask")
    if mask is None:
        return None
    array_namespace(func, x=x, **{"attn_param['mask']": mask})
    if not isdtype(xp, mask.dtype, "bool"):
        msg = f"{func}: attn_param['mask'] must be a boolean array, got dtype {mask.dtype}"
        raise TypeError(msg)
    t = x.shape[1]
    check.shape(func, "attn_param['mask']", mask, (t, t), hint=f"(T, T) = ({t}, {t}) to match x")
    if is_concrete(mask):
        seen = xp.any(mask, axis=1)
        if is_concrete(seen) and not bool(xp.all(seen)):
            rows = [i for i in range(t) if not bool(seen[i])]
            msg = (f"{func}: attn_param['mask'] hides every key from the queries {rows} "
                   f"(row i must be True somewhere)")
            raise ValueError(msg)
    return mask


def _split_heads(xp: Any, a: Array, h: int) -> Array:
    """(N, T, D) -> (N, h, T, D / h)."""
    n, t, d = a.shape
    return xp.permute_dims(xp.reshape(a, (n, t, h, d // h)), (0, 2, 1, 3))


def _merge_heads(xp: Any, a: Array) -> Array:
    """(N, h, T, d) -> (N, T, h * d)."""
    n, h, t, d = a.shape
    return xp.reshape(xp.permute_dims(a, (0, 2, 1, 3)), (n, t, h * d))


def multihead_attention_forward(
    x: Array, w_qkv: Array, b_qkv: Array, w_out: Array, b_out: Array,
    attn_param: Mapping[str, Any],
) -> tuple[Array, AttentionCache]:
    """Forward pass of multi-head self-attention over the T tokens of each sample.

    Head ``i`` uses the columns ``i*D/h:(i+1)*D/h`` of each of ``q``, ``k`` and ``v``
    (the ``[q | k | v]`` blocks of ``x @ w_qkv + b_qkv``); scores are scaled by
    ``1 / sqrt(D / h)``; the softmax over the keys subtracts each row's maximum; the
    heads' outputs are concatenated in order and projected by ``w_out``, ``b_out``.

    Parameters
    ----------
    x : floating array of shape (N, T, D)
    w_qkv : floating array of shape (D, 3D)
    b_qkv : floating array of shape (3D,)
    w_out : floating array of shape (D, D)
    b_out : floating array of shape (D,)
    attn_param : dict
        ``"num_heads"``: h, an int dividing D.  ``"mask"`` (optional): None or a
        boolean array of x's library of shape exactly (T, T), False where query ``i``
        may not see key ``j``.

    Returns
    -------
    out : array of shape (N, T, D)
    cache : AttentionCache
        Its ``probs`` (N, h, T, T) are the attention maps.

    Raises
    ------
    TypeError
        If an array is not floating, the arrays mix libraries, ``attn_param`` is not a
        dict, ``num_heads`` is not an int or the mask is not boolean.
    ValueError
        If the shapes disagree, ``num_heads`` does not divide D, the mask is not
        (T, T), or (where the mask's values are concrete) a mask row hides every key.
        Under ``jax.jit`` with a traced mask no value check is possible: a row that
        hides every key gives NaN in that query's output instead (as the losses do
        for traced labels out of range).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3, 4))
    >>> w_qkv, b_qkv = rng.standard_normal((4, 12)), np.zeros(12)
    >>> w_out, b_out = np.eye(4), np.zeros(4)
    >>> causal = np.tril(np.ones((3, 3), dtype=bool))
    >>> out, cache = multihead_attention_forward(
    ...     x, w_qkv, b_qkv, w_out, b_out, {"num_heads": 2, "mask": causal})
    >>> out.shape, cache.probs.shape
    ((2, 3, 4), (2, 2, 3, 3))
    >>> np.round(cache.probs[0, 0].sum(axis=-1), 12)  # each query's weights sum to 1
    array([1., 1., 1.])
    """
    func = "multihead_attention_forward"
    xp = _floats(func, x=x, w_qkv=w_qkv, b_qkv=b_qkv, w_out=w_out, b_out=b_out)
    check.ndim(func, "x", x, 3)
    d = x.shape[2]
    check.shape(func, "w_qkv", w_qkv, (d, 3 * d), hint=f"(D, 3D) = ({d}, {3 * d}) to match x")
    check.shape(func, "b_qkv", b_qkv, (3 * d,), hint=f"(3D,) = ({3 * d},) to match x")
    check.shape(func, "w_out", w_out, (d, d), hint=f"(D, D) = ({d}, {d}) to match x")
    check.shape(func, "b_out", b_out, (d,), hint=f"(D,) = ({d},) to match x")
    params = check.mapping(func, "attn_param", attn_param)
    h = _num_heads(func, params, d)
    mask = _mask(func, xp, params, x)
    scale = 1.0 / math.sqrt(d // h)

    qkv = x @ w_qkv + b_qkv
    q, k, v = (_split_heads(xp, qkv[..., i * d:(i + 1) * d], h) for i in range(3))
    s = (q @ xp.matrix_transpose(k)) * scale
    if mask is not None:
        hidden = xp.asarray(-xp.inf, dtype=s.dtype, device=device(s))
        s = xp.where(mask, s, hidden)
    # a row hiding every key has max -inf, so its exps are NaN: the documented traced case
    e = xp.exp(s - xp.max(s, axis=-1, keepdims=True))
    probs = e / xp.sum(e, axis=-1, keepdims=True)
    heads = _merge_heads(xp, probs @ v)
    out = heads @ w_out + b_out
    return out, AttentionCache(x, w_qkv, w_out, q, k, v, probs, heads, scale)


def multihead_attention_backward(
    dout: Array, cache: AttentionCache
) -> tuple[Array, Array, Array, Array, Array]:
    """Backward pass of :func:`multihead_attention_forward`.

    Returns
    -------
    dx : array of shape (N, T, D)
    dw_qkv : array of shape (D, 3D)
    db_qkv : array of shape (3D,)
    dw_out : array of shape (D, D)
    db_out : array of shape (D,)

    Raises
    ------
    TypeError, ValueError
        If ``dout`` is not a floating array of the output's shape (N, T, D).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x, w_qkv, w_out = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 12)), np.eye(4)
    >>> out, cache = multihead_attention_forward(
    ...     x, w_qkv, np.zeros(12), w_out, np.zeros(4), {"num_heads": 2})
    >>> [g.shape for g in multihead_attention_backward(np.ones((2, 3, 4)), cache)]
    [(2, 3, 4), (4, 12), (12,), (4, 4), (4,)]
    """
    func = "multihead_attention_backward"
    x, w_qkv, w_out, q, k, v, probs, heads, scale = cache
    xp = array_namespace(func, dout=dout, cache=x)
    check.dout_like(func, dout, tuple(x.shape))
    h = probs.shape[1]
    dw_out = _tokens_times(xp, heads, dout)
    db_out = xp.sum(dout, axis=(0, 1))
    do = _split_heads(xp, dout @ w_out.T, h)
    dp = do @ xp.matrix_transpose(v)
    dv = xp.matrix_transpose(probs) @ do
    ds = probs * (dp - xp.sum(dp * probs, axis=-1, keepdims=True)) * scale
    dq = ds @ k
    dk = xp.matrix_transpose(ds) @ q
    dqkv = xp.concat([_merge_heads(xp, g) for g in (dq, dk, dv)], axis=-1)
    dx = dqkv @ w_qkv.T
    return dx, _tokens_times(xp, x, dqkv), xp.sum(dqkv, axis=(0, 1)), dw_out, db_out
