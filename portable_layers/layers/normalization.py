"""Normalization layers: batch, layer, spatial batch and spatial group normalization.

All four standardize ``x`` over some axes, ``xhat = (x - mean) / sqrt(var + eps)``
with the population variance (divisor ``m``, the number of values averaged) and
``eps`` inside the square root, then scale and shift: ``out = gamma * xhat + beta``.
They share one forward helper and one backward helper, the compact form of the
standardization's gradient over the ``m`` values of each group::

    dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps)

Batch normalization keeps running statistics for test mode, CS231n's way:
``running = momentum * running + (1 - momentum) * batch_statistic`` with momentum 0.9
by default, starting at zero when ``bn_param`` has none.  The new running arrays are
stored back by replacing the entries of ``bn_param`` (a new array each time; no array
is ever written into), so the caller's dict carries them to the next call.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from .. import _validate as check
from .._compat import array_namespace, device
from .._types import Array

NormCache = tuple[Any, ...]



# ---------------------------------------------------------------------------
# Shared pieces
# ---------------------------------------------------------------------------


def _standardize(xp: Any, x: Array, axis: Any, eps: float) -> tuple[Array, Array, Array, Array]:
    """``(xhat, mean, var, inv_std)`` over ``axis``, statistics with keepdims."""
    mu = xp.mean(x, axis=axis, keepdims=True)
    xc = x - mu
    var = xp.mean(xc * xc, axis=axis, keepdims=True)
    inv_std = 1 / xp.sqrt(var + eps)
    return xc * inv_std, mu, var, inv_std


def _standardize_backward(xp: Any, dxhat: Array, xhat: Array, inv_std: Array, axis: Any) -> Array:
    """Gradient of :func:`_standardize`'s ``xhat`` with respect to ``x``."""
    mean_d = xp.mean(dxhat, axis=axis, keepdims=True)
    mean_dx = xp.mean(dxhat * xhat, axis=axis, keepdims=True)
    return inv_std * (dxhat - mean_d - xhat * mean_dx)


def _affine_setup(func: str, x: Array, gamma: Array, beta: Array, ndim: int | str,
                  param_shape: tuple[Any, ...], hint: str) -> Any:
    xp = array_namespace(func, x=x, gamma=gamma, beta=beta)
    for name, arr in (("x", x), ("gamma", gamma), ("beta", beta)):
        check.floating(func, name, arr, xp)
    check.ndim(func, "x", x, ndim)
    check.nonempty(func, "x", x)
    check.shape(func, "gamma", gamma, param_shape, hint=hint)
    check.shape(func, "beta", beta, param_shape, hint=hint)
    return xp


def _running(func: str, xp: Any, bn_param: Mapping[str, Any], key: str, x: Array) -> Array:
    d = x.shape[1]
    value = bn_param.get(key)
    if value is None:
        return xp.zeros((d,), dtype=x.dtype, device=device(x))
    array_namespace(func, x=x, **{f"bn_param['{key}']": value})
    check.shape(func, f"bn_param[{key!r}]", value, (d,), hint=f"(D,) = ({d},) to match x")
    return value


# ---------------------------------------------------------------------------
# Batch normalization
# ---------------------------------------------------------------------------


def batchnorm_forward(
    x: Array, gamma: Array, beta: Array, bn_param: MutableMapping[str, Any]
) -> tuple[Array, NormCache]:
    """Forward pass of batch normalization over the batch axis.

    In ``'train'`` mode ``x`` is standardized with the batch mean and (population)
    variance of each feature, and the running statistics are updated; in ``'test'``
    mode it is standardized with the running statistics.

    Parameters
    ----------
    x : floating array of shape (N, D)
    gamma, beta : floating arrays of shape (D,)
        Scale and shift.
    bn_param : dict
        ``'mode'`` (``'train'`` or ``'test'``, required), ``'eps'`` (default 1e-5),
        ``'momentum'`` (default 0.9), ``'running_mean'`` and ``'running_var'``
        (arrays (D,), zeros when absent).  Both running entries are replaced by the
        updated arrays (test mode stores them unchanged).

    Returns
    -------
    out : array of shape (N, D)
    cache : tuple
        ``(xhat, gamma, inv_std, mode)``; ``inv_std`` is ``1 / sqrt(var + eps)``
        (1, D) of the statistics used.

    Raises
    ------
    TypeError
        If an array is not floating, the arrays mix libraries or ``bn_param`` is not a dict.
    ValueError
        If the shapes disagree, ``x`` is empty, or ``mode``, ``eps`` or ``momentum``
        is invalid.

    Examples
    --------
    >>> import numpy as np
    >>> bn_param = {"mode": "train"}
    >>> x = np.array([[1.0, 2.0], [3.0, 6.0]])
    >>> out, cache = batchnorm_forward(x, np.ones(2), np.zeros(2), bn_param)
    >>> np.round(out, 4), bn_param["running_mean"]
    (array([[-1., -1.],
           [ 1.,  1.]]), array([0.2, 0.4]))
    """
    func = "batchnorm_forward"
    d = x.shape[1] if getattr(x, "ndim", 0) == 2 else "D"
    xp = _affine_setup(func, x, gamma, beta, 2, (d,), f"(D,) = ({d},) to match x")
    return _batchnorm(func, xp, x, gamma, beta, bn_param)


def _batchnorm(func: str, xp: Any, x: Array, gamma: Array, beta: Array,
               bn_param: MutableMapping[str, Any]) -> tuple[Array, NormCache]:
    """:func:`batchnorm_forward` on validated arrays (x (N, D)); errors name ``func``."""
    params = check.mapping(func, "bn_param", bn_param)
    mode = check.mode(func, "bn_param", params)
    eps = check.number_item(func, "bn_param", params, "eps", 1e-5)
    momentum = check.number_item(func, "bn_param", params, "momentum", 0.9, high=1.0,
                                 closed=True)
    running_mean = _running(func, xp, params, "running_mean", x)
    running_var = _running(func, xp, params, "running_var", x)
    d = x.shape[1]
    if mode == "train":
        xhat, mu, var, inv_std = _standardize(xp, x, 0, eps)
        running_mean = momentum * running_mean + (1 - momentum) * xp.reshape(mu, (d,))
        running_var = momentum * running_var + (1 - momentum) * xp.reshape(var, (d,))
    else:
        inv_std = xp.reshape(1 / xp.sqrt(running_var + eps), (1, d))
        xhat = (x - running_mean) * inv_std
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return gamma * xhat + beta, (xhat, gamma, inv_std, mode)


def batchnorm_backward(dout: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """Backward pass of :func:`batchnorm_forward`; returns ``(dx, dgamma, dbeta)``.

    In train mode the gradient flows through the batch statistics; in test mode
    they are constants and ``dx = dout * gamma / sqrt(running_var + eps)``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, 2.0], [3.0, 6.0]])
    >>> out, cache = batchnorm_forward(x, np.ones(2), np.zeros(2), {"mode": "train"})
    >>> dx, dgamma, dbeta = batchnorm_backward(np.ones((2, 2)), cache)
    >>> float(np.abs(dx).max()), dbeta
    (0.0, array([2., 2.]))
    """
    func = "batchnorm_backward"
    xhat, gamma, inv_std, mode = check.cache(func, cache, 4, "(xhat, gamma, inv_std, mode) "
                                             "from batchnorm_forward")
    xp = array_namespace(func, dout=dout, cache=xhat)
    check.dout_like(func, dout, xhat.shape)
    dgamma = xp.sum(dout * xhat, axis=0)
    dbeta = xp.sum(dout, axis=0)
    dxhat = dout * gamma
    if mode == "train":
        return _standardize_backward(xp, dxhat, xhat, inv_std, 0), dgamma, dbeta
    return dxhat * inv_std, dgamma, dbeta


def spatial_batchnorm_forward(
    x: Array, gamma: Array, beta: Array, bn_param: MutableMapping[str, Any]
) -> tuple[Array, NormCache]:
    """Batch normalization of each channel over N, H and W.

    Parameters
    ----------
    x : floating array of shape (N, C, H, W)
    gamma, beta : floating arrays of shape (C,)
    bn_param : dict
        As for :func:`batchnorm_forward`; the running statistics have shape (C,).

    Returns
    -------
    out : array of shape (N, C, H, W)
    cache : tuple
        The cache of :func:`batchnorm_forward` on ``x`` laid out as (N*H*W, C).

    Raises
    ------
    TypeError, ValueError
        As for :func:`batchnorm_forward`; ``x`` must be 4-d.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(2, 2, 2, 2)
    >>> out, cache = spatial_batchnorm_forward(x, np.ones(2), np.zeros(2), {"mode": "train"})
    >>> round(float(np.mean(out[:, 0])), 12), out.shape
    (0.0, (2, 2, 2, 2))
    """
    func = "spatial_batchnorm_forward"
    c = x.shape[1] if getattr(x, "ndim", 0) == 4 else "C"
    xp = _affine_setup(func, x, gamma, beta, 4, (c,), f"(C,) = ({c},) to match x")
    out, cache = _batchnorm(func, xp, _channels_last(xp, x), gamma, beta, bn_param)
    return _channels_first(xp, out, x.shape), cache


def spatial_batchnorm_backward(dout: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """Backward pass of :func:`spatial_batchnorm_forward`; returns ``(dx, dgamma, dbeta)``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(2, 2, 2, 2)
    >>> out, cache = spatial_batchnorm_forward(x, np.ones(2), np.zeros(2), {"mode": "train"})
    >>> [g.shape for g in spatial_batchnorm_backward(np.ones(x.shape), cache)]
    [(2, 2, 2, 2), (2,), (2,)]
    """
    func = "spatial_batchnorm_backward"
    xp = array_namespace(func, dout=dout, cache=cache[0])
    check.ndim(func, "dout", dout, 4)
    dx, dgamma, dbeta = batchnorm_backward(_channels_last(xp, dout), cache)
    return _channels_first(xp, dx, dout.shape), dgamma, dbeta


def _channels_last(xp: Any, x: Array) -> Array:
    """(N, C, H, W) -> (N*H*W, C)."""
    n, c, h, w = x.shape
    return xp.reshape(xp.permute_dims(x, (0, 2, 3, 1)), (n * h * w, c))


def _channels_first(xp: Any, x2d: Array, shape: tuple[int, ...]) -> Array:
    """(N*H*W, C) -> (N, C, H, W)."""
    n, c, h, w = shape
    return xp.permute_dims(xp.reshape(x2d, (n, h, w, c)), (0, 3, 1, 2))


# ---------------------------------------------------------------------------
# Layer and group normalization
# ---------------------------------------------------------------------------


def layernorm_forward(
    x: Array, gamma: Array, beta: Array, ln_param: Mapping[str, Any]
) -> tuple[Array, NormCache]:
    """Forward pass of layer normalization: each feature vector standardized over its D entries.

    ``x`` of shape (N, D) is CS231n's case; a larger ``x`` of shape (N, ..., D), such
    as a transformer's tokens (N, T, D), is normalized over its last axis alone.

    Parameters
    ----------
    x : floating array of shape (N, ..., D), at least 2 dimensions
    gamma, beta : floating arrays of shape (D,)
    ln_param : dict
        ``'eps'`` (default 1e-5); other keys are ignored.

    Returns
    -------
    out : array of x's shape
    cache : tuple ``(xhat, gamma, inv_std)``, ``inv_std`` of shape (N, ..., 1)

    Raises
    ------
    TypeError
        If an array is not floating, the arrays mix libraries or ``ln_param`` is not a dict.
    ValueError
        If the shapes disagree or ``eps`` is not positive.

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = layernorm_forward(np.array([[1.0, 3.0]]), np.ones(2), np.zeros(2), {})
    >>> np.round(out, 4)
    array([[-1.,  1.]])
    """
    func = "layernorm_forward"
    d = x.shape[-1] if getattr(x, "ndim", 0) >= 2 else "D"
    xp = _affine_setup(func, x, gamma, beta, ">=2", (d,), f"(D,) = ({d},) to match x")
    eps = check.number_item(func, "ln_param", check.mapping(func, "ln_param", ln_param), "eps",
                            1e-5)
    xhat, _, _, inv_std = _standardize(xp, x, -1, eps)
    return gamma * xhat + beta, (xhat, gamma, inv_std)


def layernorm_backward(dout: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """Backward pass of :func:`layernorm_forward`; returns ``(dx, dgamma, dbeta)``.

    ``dx`` has x's shape (N, ..., D); ``dgamma`` and ``dbeta`` are (D,), summed over
    every other axis.

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = layernorm_forward(np.array([[1.0, 3.0]]), np.ones(2), np.zeros(2), {})
    >>> [g.shape for g in layernorm_backward(np.ones((1, 2)), cache)]
    [(1, 2), (2,), (2,)]
    """
    func = "layernorm_backward"
    xhat, gamma, inv_std = cache
    xp = array_namespace(func, dout=dout, cache=xhat)
    check.dout_like(func, dout, xhat.shape)
    dx = _standardize_backward(xp, dout * gamma, xhat, inv_std, -1)
    axes = tuple(range(xhat.ndim - 1))
    return dx, xp.sum(dout * xhat, axis=axes), xp.sum(dout, axis=axes)


def spatial_groupnorm_forward(
    x: Array, gamma: Array, beta: Array, G: int, gn_param: Mapping[str, Any]
) -> tuple[Array, NormCache]:
    """Forward pass of group normalization: each sample's G channel groups standardized.

    The C channels are split into ``G`` consecutive groups of ``C // G``; each
    (sample, group) is standardized over its channels and pixels, then every channel
    is scaled and shifted by its own ``gamma`` and ``beta``.

    Parameters
    ----------
    x : floating array of shape (N, C, H, W)
    gamma, beta : floating arrays of shape (1, C, 1, 1)
    G : int
        Number of groups, a positive divisor of C.
    gn_param : dict
        ``'eps'`` (default 1e-5).

    Returns
    -------
    out : array of shape (N, C, H, W)
    cache : tuple
        ``(xhat, gamma, inv_std, x_shape)``, ``xhat`` of shape (N, G, C//G, H, W).

    Raises
    ------
    TypeError
        If an array is not floating, the arrays mix libraries or ``gn_param`` is not a dict.
    ValueError
        If the shapes disagree, ``G`` does not divide C or ``eps`` is not positive.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 4, 2, 2)
    >>> g, b = np.ones((1, 4, 1, 1)), np.zeros((1, 4, 1, 1))
    >>> out, cache = spatial_groupnorm_forward(x, g, b, 2, {})
    >>> round(float(np.mean(out[0, :2])), 12), out.shape
    (0.0, (1, 4, 2, 2))
    >>> [gr.shape for gr in spatial_groupnorm_backward(np.ones(x.shape), cache)]
    [(1, 4, 2, 2), (1, 4, 1, 1), (1, 4, 1, 1)]
    """
    func = "spatial_groupnorm_forward"
    c = x.shape[1] if getattr(x, "ndim", 0) == 4 else "C"
    xp = _affine_setup(func, x, gamma, beta, 4, (1, c, 1, 1), f"(1, C, 1, 1) = (1, {c}, 1, 1)")
    want = f"a positive integer dividing C = {c}"
    groups = check.integer(func, "G", G, low=1, want=want)
    if c % groups:
        raise ValueError(f"{func}: G must be {want}, got {G!r}")
    eps = check.number_item(func, "gn_param", check.mapping(func, "gn_param", gn_param), "eps",
                            1e-5)
    n, _, h, w = x.shape
    # (N, G, C/G, H, W) rather than (N, G, C/G*H*W): a reshape that only splits C (and
    # later only merges G, C/G) is one Dask supports on batch-chunked arrays
    grouped = xp.reshape(x, (n, groups, int(x.shape[1]) // groups, h, w))
    xhat, _, _, inv_std = _standardize(xp, grouped, (2, 3, 4), eps)
    out = gamma * xp.reshape(xhat, x.shape) + beta
    return out, (xhat, gamma, inv_std, tuple(x.shape))


def spatial_groupnorm_backward(dout: Array, cache: NormCache) -> tuple[Array, Array, Array]:
    """Backward pass of :func:`spatial_groupnorm_forward`; returns ``(dx, dgamma, dbeta)``.

    ``dgamma`` and ``dbeta`` have gamma's shape (1, C, 1, 1); the example of
    :func:`spatial_groupnorm_forward` runs both passes.
    """
    func = "spatial_groupnorm_backward"
    xhat, gamma, inv_std, shape = cache
    xp = array_namespace(func, dout=dout, cache=xhat)
    check.dout_like(func, dout, shape)
    xhat4 = xp.reshape(xhat, shape)
    dgamma = xp.sum(dout * xhat4, axis=(0, 2, 3), keepdims=True)
    dbeta = xp.sum(dout, axis=(0, 2, 3), keepdims=True)
    dxhat = xp.reshape(dout * gamma, xhat.shape)
    dx = _standardize_backward(xp, dxhat, xhat, inv_std, (2, 3, 4))
    return xp.reshape(dx, shape), dgamma, dbeta
