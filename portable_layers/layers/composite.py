"""Sandwich layers: common sequences of layers as one forward/backward pair."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._types import Array
from .activations import relu_backward, relu_forward
from .conv import conv_backward, conv_forward
from .dense import AffineCache, affine_backward, affine_forward
from .normalization import (
    batchnorm_backward,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
)
from .pooling import max_pool_backward, max_pool_forward


def affine_relu_forward(x: Array, w: Array, b: Array) -> tuple[Array, tuple[AffineCache, Array]]:
    """Affine layer followed by ReLU.

    Returns
    -------
    out : array of shape (N, M)
    cache : tuple ``(affine_cache, relu_cache)``

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = affine_relu_forward(np.ones((2, 3)), -np.ones((3, 4)), np.zeros(4))
    >>> float(out.max())
    0.0
    """
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, relu_cache)


def affine_relu_backward(
    dout: Array, cache: tuple[AffineCache, Array]
) -> tuple[Array, Array, Array]:
    """Backward pass of :func:`affine_relu_forward`; returns ``(dx, dw, db)``.

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = affine_relu_forward(np.ones((2, 3)), np.ones((3, 4)), np.zeros(4))
    >>> [g.shape for g in affine_relu_backward(np.ones((2, 4)), cache)]
    [(2, 3), (3, 4), (4,)]
    """
    fc_cache, relu_cache = cache
    da = relu_backward(dout, relu_cache)
    return affine_backward(da, fc_cache)


def conv_relu_forward(
    x: Array, w: Array, b: Array, conv_param: Mapping[str, int]
) -> tuple[Array, tuple[Any, Array]]:
    """Convolution followed by ReLU.

    Returns
    -------
    out : array of shape (N, F, Ho, Wo)
    cache : tuple ``(conv_cache, relu_cache)``

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = conv_relu_forward(np.ones((1, 1, 3, 3)), -np.ones((2, 1, 3, 3)),
    ...                                np.zeros(2), {"stride": 1, "pad": 0})
    >>> out.shape, float(out.max())
    ((1, 2, 1, 1), 0.0)
    """
    a, conv_cache = conv_forward(x, w, b, conv_param)
    out, relu_cache = relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout: Array, cache: tuple[Any, Array]) -> tuple[Array, Array, Array]:
    """Backward pass of :func:`conv_relu_forward`; returns ``(dx, dw, db)``.

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = conv_relu_forward(np.ones((1, 1, 3, 3)), np.ones((2, 1, 3, 3)),
    ...                                np.zeros(2), {"stride": 1, "pad": 1})
    >>> [g.shape for g in conv_relu_backward(np.ones(out.shape), cache)]
    [(1, 1, 3, 3), (2, 1, 3, 3), (2,)]
    """
    conv_cache, relu_cache = cache
    return conv_backward(relu_backward(dout, relu_cache), conv_cache)


def conv_relu_pool_forward(
    x: Array, w: Array, b: Array, conv_param: Mapping[str, int], pool_param: Mapping[str, int]
) -> tuple[Array, tuple[Any, Array, Any]]:
    """Convolution, ReLU, then max pooling.

    Returns
    -------
    out : array of shape (N, F, Hp, Wp)
    cache : tuple ``(conv_cache, relu_cache, pool_cache)``

    Examples
    --------
    >>> import numpy as np
    >>> pool = {"pool_height": 2, "pool_width": 2, "stride": 2}
    >>> out, cache = conv_relu_pool_forward(np.ones((1, 1, 4, 4)), np.ones((2, 1, 3, 3)),
    ...                                     np.zeros(2), {"stride": 1, "pad": 1}, pool)
    >>> out.shape
    (1, 2, 2, 2)
    >>> [g.shape for g in conv_relu_pool_backward(np.ones(out.shape), cache)]
    [(1, 1, 4, 4), (2, 1, 3, 3), (2,)]
    """
    a, conv_cache = conv_forward(x, w, b, conv_param)
    s, relu_cache = relu_forward(a)
    out, pool_cache = max_pool_forward(s, pool_param)
    return out, (conv_cache, relu_cache, pool_cache)


def conv_relu_pool_backward(
    dout: Array, cache: tuple[Any, Array, Any], *, need_dx: bool = True
) -> tuple[Array | None, Array, Array]:
    """Backward pass of :func:`conv_relu_pool_forward`; returns ``(dx, dw, db)``.

    ``need_dx=False`` skips ``dx`` (None), as in :func:`conv_backward`.  The example of
    :func:`conv_relu_pool_forward` runs both passes.
    """
    conv_cache, relu_cache, pool_cache = cache
    ds = max_pool_backward(dout, pool_cache)
    return conv_backward(relu_backward(ds, relu_cache), conv_cache, need_dx=need_dx)


_NORMS = {
    "batchnorm": (batchnorm_forward, batchnorm_backward),
    "layernorm": (layernorm_forward, layernorm_backward),
}


def affine_norm_relu_forward(
    x: Array,
    w: Array,
    b: Array,
    gamma: Array | None = None,
    beta: Array | None = None,
    norm_param: dict[str, Any] | None = None,
    normalization: str | None = None,
) -> tuple[Array, tuple[Any, ...]]:
    """Affine layer, optional batch or layer normalization, then ReLU.

    Parameters
    ----------
    x, w, b : arrays
        As for :func:`affine_forward`.
    gamma, beta : arrays of shape (M,), optional
        Scale and shift of the normalization; unused when ``normalization`` is None.
    norm_param : dict, optional
        ``bn_param`` or ``ln_param`` of the normalization (batchnorm needs ``'mode'``
        and stores its running statistics here).
    normalization : {None, 'batchnorm', 'layernorm'}

    Returns
    -------
    out : array of shape (N, M)
    cache : tuple ``(fc_cache, norm_cache, relu_cache, normalization)``

    Raises
    ------
    ValueError
        If ``normalization`` is not one of the three choices (others as the layers).

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = affine_norm_relu_forward(np.ones((2, 3)), np.ones((3, 4)), np.zeros(4),
    ...     np.ones(4), np.zeros(4), {}, "layernorm")
    >>> out.shape
    (2, 4)
    """
    if normalization is not None and normalization not in _NORMS:
        msg = (
            "affine_norm_relu_forward: normalization must be None, 'batchnorm' or "
            f"'layernorm', got {normalization!r}"
        )
        raise ValueError(msg)
    a, fc_cache = affine_forward(x, w, b)
    norm_cache = None
    if normalization is not None:
        param = {} if norm_param is None else norm_param
        a, norm_cache = _NORMS[normalization][0](a, gamma, beta, param)
    out, relu_cache = relu_forward(a)
    return out, (fc_cache, norm_cache, relu_cache, normalization)


def affine_norm_relu_backward(
    dout: Array, cache: tuple[Any, ...], *, need_dx: bool = True
) -> tuple[Array | None, Array, Array, Array | None, Array | None]:
    """Backward pass of :func:`affine_norm_relu_forward`.

    ``need_dx=False`` skips ``dx`` (None), as in :func:`affine_backward`.

    Returns
    -------
    dx, dw, db : arrays (dx None when not needed)
    dgamma, dbeta : arrays of shape (M,), or None when there is no normalization

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = affine_norm_relu_forward(np.ones((2, 3)), np.ones((3, 4)), np.zeros(4))
    >>> affine_norm_relu_backward(np.ones((2, 4)), cache)[3:]
    (None, None)
    """
    fc_cache, norm_cache, relu_cache, normalization = cache
    da = relu_backward(dout, relu_cache)
    dgamma = dbeta = None
    if normalization is not None:
        da, dgamma, dbeta = _NORMS[normalization][1](da, norm_cache)
    return (*affine_backward(da, fc_cache, need_dx=need_dx), dgamma, dbeta)
