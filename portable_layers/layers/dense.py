"""The affine (fully connected) layer: ``out = x.reshape(N, D) @ w + b``."""

from __future__ import annotations

import math
from typing import Any

from .. import _validate as check
from .._compat import array_namespace, is_array_api_obj
from .._types import Array


class AffineCache(tuple):
    """``(x, w, b)`` with ``x`` flattened to (N, D), remembering x's original shape.

    It unpacks as the plain tuple the seed notebook uses (``_, (x, w, b) =
    affine_forward(...)``); :func:`affine_backward` also accepts such a plain tuple,
    and then returns ``dx`` in the shape of its ``x``.
    """

    x_shape: tuple[int, ...]

    def __new__(cls, x2d: Array, w: Array, b: Array, x_shape: tuple[int, ...]) -> AffineCache:
        self = super().__new__(cls, (x2d, w, b))
        self.x_shape = tuple(x_shape)
        return self


def affine_forward(x: Array, w: Array, b: Array) -> tuple[Array, AffineCache]:
    """Forward pass of an affine layer.

    Parameters
    ----------
    x : array of shape (N, d1, ..., dk)
        Inputs; each sample is flattened to D = d1 * ... * dk features.
    w : array of shape (D, M)
        Weights.
    b : array of shape (M,)
        Biases.

    Returns
    -------
    out : array of shape (N, M)
        ``x.reshape(N, D) @ w + b``.
    cache : AffineCache
        ``(x2d, w, b)`` with ``x2d`` of shape (N, D); it remembers x's shape.

    Raises
    ------
    TypeError
        If an argument is not a floating array, or the arrays mix libraries.
    ValueError
        If ``w`` is not (D, M) or ``b`` is not (M,).

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = affine_forward(np.ones((2, 3)), np.ones((3, 4)), np.zeros(4))
    >>> out.shape
    (2, 4)
    """
    func = "affine_forward"
    xp = check.trusted()
    if xp is not None:  # validated at the caller's boundary (_validate.skipped)
        return _affine_forward(xp, x, w, b)
    xp = array_namespace(func, x=x, w=w, b=b)
    for name, arr in (("x", x), ("w", w), ("b", b)):
        check.floating(func, name, arr, xp)
    check.ndim(func, "x", x, ">=1")
    d = math.prod(x.shape[1:])
    check.ndim(func, "w", w, 2)
    check.shape(func, "w", w, (d, w.shape[1]), hint=f"(D, M) with D = {d} features of x")
    check.shape(func, "b", b, (w.shape[1],), hint=f"(M,) = ({w.shape[1]},) to match w")
    return _affine_forward(xp, x, w, b)


def _affine_forward(xp: Any, x: Array, w: Array, b: Array) -> tuple[Array, AffineCache]:
    n = x.shape[0]
    x2d = x if x.ndim == 2 else xp.reshape(x, (n, math.prod(x.shape[1:])))
    return x2d @ w + b, AffineCache(x2d, w, b, x.shape)


def affine_backward(
    dout: Array, cache: tuple[Array, Array, Array], *, need_dx: bool = True
) -> tuple[Array | None, Array, Array]:
    """Backward pass of an affine layer.

    Parameters
    ----------
    dout : array of shape (N, M)
        Upstream gradient.
    cache : tuple
        ``(x, w, b)`` from :func:`affine_forward`.
    need_dx : bool
        False skips ``dx`` (returned as None): a model's first layer needs only the
        parameter gradients, and ``dx`` there costs as much as ``dw``.

    Returns
    -------
    dx : array in x's original shape (N, d1, ..., dk), or None
    dw : array of shape (D, M)
    db : array of shape (M,)

    Raises
    ------
    TypeError
        If ``cache`` is not an ``(x, w, b)`` tuple of arrays (as ``affine_forward``
        returns), or ``dout`` is not a floating array of the same library and dtype.
    ValueError
        If ``dout`` is not (N, M), or the cache's ``x`` and ``w`` do not fit together.

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = affine_forward(np.ones((2, 1, 3)), np.ones((3, 4)), np.zeros(4))
    >>> dx, dw, db = affine_backward(np.ones((2, 4)), cache)
    >>> dx.shape, dw.shape, db.shape
    ((2, 1, 3), (3, 4), (4,))
    """
    func = "affine_backward"
    xp = check.trusted()  # not None: validated at the caller's boundary (_validate.skipped)
    if xp is None:
        xp = _check_backward(func, dout, cache)
    x, w, _ = cache
    x_shape = getattr(cache, "x_shape", tuple(x.shape))
    x2d = x if x.ndim == 2 else xp.reshape(x, (x.shape[0], math.prod(x.shape[1:])))
    dx = None
    if need_dx:
        dx = dout @ w.T
        dx = dx if tuple(dx.shape) == tuple(x_shape) else xp.reshape(dx, x_shape)
    return dx, x2d.T @ dout, xp.sum(dout, axis=0)


def _check_backward(func: str, dout: Array, cache: Any) -> Any:
    """Check ``affine_backward``'s arguments; return their namespace."""
    x, w = _unpack_cache(func, cache)
    xp = array_namespace(func, dout=dout, x=x, w=w)
    n = x.shape[0]
    d = math.prod(x.shape[1:])
    if w.ndim != 2 or d != w.shape[0]:
        msg = (f"{func}: cache must hold (x, w, b) from affine_forward with w of shape (D, M) "
               f"and x of D features, got x of shape {tuple(x.shape)} and w of shape "
               f"{tuple(w.shape)}")
        raise ValueError(msg)
    check.dout_like(func, dout, (n, w.shape[1]))
    return xp


def _unpack_cache(func: str, cache: Any) -> tuple[Array, Array]:
    """``x`` and ``w`` of an ``(x, w, b)`` cache; TypeError naming ``func`` and the cache."""
    if not isinstance(cache, tuple) or len(cache) != 3:
        got = f"a tuple of {len(cache)} items" if isinstance(cache, tuple) else type(cache).__name__
        msg = f"{func}: cache must be the (x, w, b) tuple affine_forward returns, got {got}"
        raise TypeError(msg)
    x, w, _ = cache
    for name, value in (("x", x), ("w", w)):
        if not is_array_api_obj(value) or value.ndim < 1:
            msg = (f"{func}: cache must be the (x, w, b) tuple affine_forward returns, but its "
                   f"{name} is {type(value).__name__}")
            raise TypeError(msg)
    return x, w
