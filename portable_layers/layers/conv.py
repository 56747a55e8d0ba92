"""The convolutional layer (NCHW, cross-correlation), forward beside backward.

The convolution is built from standard operations only, with a Python loop over the
``HH * WW`` kernel offsets and never over output pixels: for each offset ``(i, j)``
the strided slice ``xpad[:, :, i::stride, j::stride]`` (cut to ``Ho x Wo``) is the
input seen by that kernel tap.  Stacking these slices gives the "im2col" array
``cols`` of shape (N, C, HH*WW, Ho, Wo), and the layer is one ``tensordot`` with the
weights.  The backward pass is symmetric: ``dcols`` from one ``tensordot``, then each
offset's slice is placed back where it came from (:func:`_scatter_windows`, with
zero padding and zero interleaving instead of writes into an array), so every
function here compiles under ``jax.jit``.

Zero padding is built with ``xp.concat`` (the standard has no ``pad``).  The output
size is ``1 + (H + 2*pad - HH) // stride``: when the stride does not divide
``H + 2*pad - HH`` the last rows (columns) of the padded input are not covered by any
window and get a zero gradient, as in PyTorch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import _validate as check
from .._compat import array_namespace, device
from .._types import Array

ConvCache = tuple[Array, Array, Array, dict[str, int]]


# ---------------------------------------------------------------------------
# Shared helpers (also used by pooling)
# ---------------------------------------------------------------------------


def _windows(xp: Any, x: Array, hh: int, ww: int, stride: int, ho: int, wo: int) -> Array:
    """Array (N, C, hh*ww, ho, wo): for each offset (i, j), row-major, the strided slice."""
    hstop, wstop = stride * (ho - 1) + 1, stride * (wo - 1) + 1
    slices = [
        x[:, :, i : i + hstop : stride, j : j + wstop : stride]
        for i in range(hh)
        for j in range(ww)
    ]
    return xp.stack(slices, axis=2)


def _place(xp: Any, d: Array, start: int, stride: int, size: int, axis: int) -> Array:
    """``d`` along ``axis`` put at ``start, start + stride, ...`` in zeros of length ``size``."""
    n = d.shape[axis]
    if stride > 1:  # interleave stride - 1 zeros after each entry
        zero = xp.zeros_like(d)
        d = xp.stack([d] + [zero] * (stride - 1), axis=axis + 1)
        shape = list(d.shape)
        shape[axis : axis + 2] = [n * stride]
        d = xp.reshape(d, tuple(shape))
    length = min(n * stride, size - start)
    d = d[(slice(None),) * axis + (slice(0, length), ...)]
    parts = []
    for count in (start, size - start - length):
        if count > 0:
            shape = list(d.shape)
            shape[axis] = count
            parts.append(xp.zeros(tuple(shape), dtype=d.dtype, device=device(d)))
    if not parts:
        return d
    before = parts[:1] if start > 0 else []
    after = parts[len(before) :]
    return xp.concat([*before, d, *after], axis=axis)


def _scatter_windows(
    xp: Any, dcols: Array, hh: int, ww: int, stride: int, height: int, width: int
) -> Array:
    """Adjoint of :func:`_windows`: sum each offset's slice back into (N, C, height, width)."""
    total = None
    for k in range(hh * ww):
        i, j = divmod(k, ww)
        part = _place(xp, dcols[:, :, k, :, :], i, stride, height, axis=2)
        part = _place(xp, part, j, stride, width, axis=3)
        total = part if total is None else total + part
    return total


def _pad_hw(xp: Any, x: Array, pad: int) -> Array:
    """``x`` (N, C, H, W) with ``pad`` zeros on each side of H and W."""
    if pad == 0:
        return x
    n, c, h, w = x.shape
    rows = xp.zeros((n, c, pad, w), dtype=x.dtype, device=device(x))
    x = xp.concat([rows, x, rows], axis=2)
    cols = xp.zeros((n, c, h + 2 * pad, pad), dtype=x.dtype, device=device(x))
    return xp.concat([cols, x, cols], axis=3)


def _out_size(func: str, what: str, size: int, kernel: int, stride: int) -> int:
    if kernel > size:
        raise ValueError(f"{func}: {what} {kernel} is larger than the {size} it slides over")
    return 1 + (size - kernel) // stride


# ---------------------------------------------------------------------------
# The layer
# ---------------------------------------------------------------------------


def _conv_setup(func: str, x: Array, w: Array, b: Array, conv_param: Any) -> tuple[Any, ...]:
    xp = array_namespace(func, x=x, w=w, b=b)
    for name, arr in (("x", x), ("w", w), ("b", b)):
        check.floating(func, name, arr, xp)
    check.ndim(func, "x", x, 4)
    check.ndim(func, "w", w, 4)
    _, c, h, wd = x.shape
    f, _, hh, ww = w.shape
    check.shape(func, "w", w, (f, c, hh, ww), hint=f"(F, C, HH, WW) with C = {c} channels of x")
    check.shape(func, "b", b, (f,), hint=f"(F,) = ({f},) to match w")
    params = check.mapping(func, "conv_param", conv_param)
    stride = check.integer_item(func, "conv_param", params, "stride", 1)
    pad = check.integer_item(func, "conv_param", params, "pad", 0)
    hp, wp = h + 2 * pad, wd + 2 * pad
    ho = _out_size(func, "kernel height HH =", hp, hh, stride)
    wo = _out_size(func, "kernel width WW =", wp, ww, stride)
    n = x.shape[0]
    # the padded input and the stacked windows (im2col), before either is allocated
    size = check.itemsize(xp, x.dtype)
    check.allocation(func, size * n * c * (hp * wp + hh * ww * ho * wo),
                     f"x of shape {tuple(x.shape)} with pad={pad}, stride={stride} and a "
                     f"{hh}x{ww} kernel")
    return xp, {"stride": stride, "pad": pad}, ho, wo


def conv_forward(
    x: Array, w: Array, b: Array, conv_param: Mapping[str, int]
) -> tuple[Array, ConvCache]:
    """Forward pass of a convolutional layer (cross-correlation, NCHW).

    ``out[n, f, r, s] = b[f] + sum_{c, i, j} w[f, c, i, j] * xpad[n, c, r*stride + i,
    s*stride + j]`` with ``xpad`` the input zero-padded by ``pad`` on each side of H and W.

    Parameters
    ----------
    x : floating array of shape (N, C, H, W)
    w : floating array of shape (F, C, HH, WW)
    b : floating array of shape (F,)
    conv_param : dict
        ``'stride'`` (positive int) and ``'pad'`` (non-negative int).

    Returns
    -------
    out : array of shape (N, F, Ho, Wo)
        ``Ho = 1 + (H + 2*pad - HH) // stride``, ``Wo`` likewise.
    cache : tuple
        ``(x, w, b, conv_param)`` with ``conv_param`` a copy holding ints.

    Raises
    ------
    TypeError
        If an array is not floating, the arrays mix libraries or ``conv_param`` is
        not a dict.
    ValueError
        If the shapes disagree, ``stride``/``pad`` are missing or invalid, the
        kernel is larger than the padded input, or the arrays are on two devices.
    MemoryError
        If the padded input and its windows cannot fit in the memory available
        (``pad=10**9``), raised before anything is allocated.

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = conv_forward(np.ones((1, 2, 4, 4)), np.ones((3, 2, 3, 3)), np.zeros(3),
    ...                           {"stride": 1, "pad": 1})
    >>> out.shape, float(out[0, 0, 1, 1]), float(out[0, 0, 0, 0])
    ((1, 3, 4, 4), 18.0, 8.0)
    """
    xp, param, ho, wo = _conv_setup("conv_forward", x, w, b, conv_param)
    f, c, hh, ww = w.shape
    cols = _windows(xp, _pad_hw(xp, x, param["pad"]), hh, ww, param["stride"], ho, wo)
    w3 = xp.reshape(w, (f, c, hh * ww))
    out = xp.tensordot(cols, w3, axes=([1, 2], [1, 2]))  # (N, Ho, Wo, F)
    out = xp.permute_dims(out, (0, 3, 1, 2)) + xp.reshape(b, (f, 1, 1))
    return out, (x, w, b, param)


def conv_backward(
    dout: Array, cache: ConvCache, *, need_dx: bool = True
) -> tuple[Array | None, Array, Array]:
    """Backward pass of :func:`conv_forward`.

    Parameters
    ----------
    dout : array of shape (N, F, Ho, Wo)
        Upstream gradient.
    cache : tuple
        ``(x, w, b, conv_param)`` from :func:`conv_forward`.
    need_dx : bool
        False skips ``dx`` (returned as None), for a model's first layer.

    Returns
    -------
    dx : array of shape (N, C, H, W), or None
    dw : array of shape (F, C, HH, WW)
    db : array of shape (F,)

    Raises
    ------
    ValueError
        If ``dout`` does not have the forward output's shape.

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = conv_forward(np.ones((1, 2, 4, 4)), np.ones((3, 2, 3, 3)), np.zeros(3),
    ...                           {"stride": 2, "pad": 1})
    >>> [g.shape for g in conv_backward(np.ones(out.shape), cache)]
    [(1, 2, 4, 4), (3, 2, 3, 3), (3,)]
    """
    func = "conv_backward"
    x, w, b, conv_param = check.cache(func, cache, 4, "(x, w, b, conv_param) from conv_forward")
    _, param, ho, wo = _conv_setup(func, x, w, b, conv_param)
    xp = array_namespace(func, dout=dout, x=x)
    n, c, h, wd = x.shape
    f, _, hh, ww = w.shape
    stride, pad = param["stride"], param["pad"]
    check.dout_like(func, dout, (n, f, ho, wo))
    cols = _windows(xp, _pad_hw(xp, x, pad), hh, ww, stride, ho, wo)
    dw = xp.reshape(xp.tensordot(dout, cols, axes=([0, 2, 3], [0, 3, 4])), w.shape)
    db = xp.sum(dout, axis=(0, 2, 3))
    if not need_dx:
        return None, dw, db
    w3 = xp.reshape(w, (f, c, hh * ww))
    dcols = xp.permute_dims(xp.tensordot(dout, w3, axes=([1], [0])), (0, 3, 4, 1, 2))
    dxpad = _scatter_windows(xp, dcols, hh, ww, stride, h + 2 * pad, wd + 2 * pad)
    dx = dxpad[:, :, pad : pad + h, pad : pad + wd]
    return dx, dw, db
