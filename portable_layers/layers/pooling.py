"""Max pooling (NCHW), forward beside backward.

Like the convolution, pooling stacks the ``pool_height * pool_width`` strided slices
of the input (one per window offset, in row-major window order) and reduces over
them, with no loop over output pixels; the backward places each offset's share of
the gradient back without writing into an array, so both compile under ``jax.jit``.

Ties
----
When a window's maximum occurs more than once, the whole gradient goes to the
*first* maximum in row-major window order (smallest row offset, then smallest
column offset); the other maxima get 0.  Finite differences and autodiff disagree
with any such rule at a tie, so gradient checks use inputs whose window maxima are
unique.  Windows are ``1 + (H - pool_height) // stride`` per column, and trailing
rows (columns) not covered by a window get a zero gradient, as in PyTorch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import _validate as check
from .._compat import array_namespace, device
from .._types import Array
from .conv import _out_size, _scatter_windows, _windows

PoolCache = tuple[Array, dict[str, int]]


def _pool_setup(func: str, x: Array, pool_param: Any) -> tuple[Any, dict[str, int], int, int]:
    xp = array_namespace(func, x=x)
    check.floating(func, "x", x, xp)
    check.ndim(func, "x", x, 4)
    params = check.mapping(func, "pool_param", pool_param)
    param = {
        key: check.integer_item(func, "pool_param", params, key, 1)
        for key in ("pool_height", "pool_width", "stride")
    }
    _, _, h, w = x.shape
    ho = _out_size(func, "pool_height", h, param["pool_height"], param["stride"])
    wo = _out_size(func, "pool_width", w, param["pool_width"], param["stride"])
    n, c = x.shape[:2]
    windows = n * c * param["pool_height"] * param["pool_width"] * ho * wo  # stacked slices
    check.allocation(func, check.itemsize(xp, x.dtype) * windows,
                     f"the {param['pool_height']}x{param['pool_width']} windows of x of "
                     f"shape {tuple(x.shape)} with stride {param['stride']}")
    return xp, param, ho, wo


def max_pool_forward(x: Array, pool_param: Mapping[str, int]) -> tuple[Array, PoolCache]:
    """Forward pass of max pooling over ``pool_height x pool_width`` windows.

    Parameters
    ----------
    x : floating array of shape (N, C, H, W)
    pool_param : dict
        ``'pool_height'``, ``'pool_width'`` and ``'stride'``, positive ints.

    Returns
    -------
    out : array of shape (N, C, Ho, Wo)
        ``Ho = 1 + (H - pool_height) // stride``, ``Wo`` likewise.
    cache : tuple
        ``(x, pool_param)`` with ``pool_param`` a copy holding ints.

    Raises
    ------
    TypeError
        If ``x`` is not a floating array or ``pool_param`` not a dict.
    ValueError
        If ``x`` is not 4-d, a parameter is missing or not a positive int, or the
        window is larger than the input.
    MemoryError
        If the stacked windows cannot fit in the memory available (a huge ``x`` with
        overlapping windows), raised before anything is allocated.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> max_pool_forward(x, {"pool_height": 2, "pool_width": 2, "stride": 2})[0][0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    xp, param, ho, wo = _pool_setup("max_pool_forward", x, pool_param)
    ph, pw, stride = param["pool_height"], param["pool_width"], param["stride"]
    out = xp.max(_windows(xp, x, ph, pw, stride, ho, wo), axis=2)
    return out, (x, param)


def max_pool_backward(dout: Array, cache: PoolCache) -> Array:
    """Backward pass of :func:`max_pool_forward`: ``dout`` routed to each window's maximum.

    At a tie the gradient goes to the first maximum in row-major window order (see
    the module docstring); overlapping windows add their contributions.

    Parameters
    ----------
    dout : array of shape (N, C, Ho, Wo)
    cache : tuple
        ``(x, pool_param)`` from :func:`max_pool_forward`.

    Returns
    -------
    dx : array of shape (N, C, H, W)

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])
    >>> out, cache = max_pool_forward(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    >>> max_pool_backward(np.ones((1, 1, 1, 1)), cache)[0, 0]
    array([[0., 1.],
           [0., 0.]])
    """
    func = "max_pool_backward"
    x, pool_param = check.cache(func, cache, 2, "(x, pool_param) from max_pool_forward")
    _, param, ho, wo = _pool_setup(func, x, pool_param)
    xp = array_namespace(func, dout=dout, x=x)
    n, c, h, w = x.shape
    check.dout_like(func, dout, (n, c, ho, wo))
    ph, pw, stride = param["pool_height"], param["pool_width"], param["stride"]
    windows = _windows(xp, x, ph, pw, stride, ho, wo)
    out = xp.max(windows, axis=2)
    taken = xp.zeros(out.shape, dtype=xp.bool, device=device(x))
    shares = []
    for k in range(ph * pw):
        first = (windows[:, :, k, :, :] == out) & ~taken
        taken = taken | first
        shares.append(xp.where(first, dout, xp.zeros_like(dout)))
    return _scatter_windows(xp, xp.stack(shares, axis=2), ph, pw, stride, h, w)
