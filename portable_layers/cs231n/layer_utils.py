"""CS231n's ``cs231n/layer_utils.py``: the "sandwich" layers, on the library's layers.

Examples
--------
>>> import numpy as np
>>> x, w, b = np.ones((2, 3)), np.ones((3, 4)), np.zeros(4)
>>> out, cache = affine_relu_forward(x, w, b)
>>> [g.shape for g in affine_relu_backward(np.ones_like(out), cache)]
[(2, 3), (3, 4), (4,)]
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from .. import _validate as check
from .. import layers as L
from .._types import Array
from ._util import cast_like

__all__ = [
    "affine_relu_backward",
    "affine_relu_forward",
    "conv_bn_relu_backward",
    "conv_bn_relu_forward",
    "conv_relu_backward",
    "conv_relu_forward",
    "conv_relu_pool_backward",
    "conv_relu_pool_forward",
]


affine_relu_backward = L.affine_relu_backward
conv_relu_backward = L.conv_relu_backward


def affine_relu_forward(x: Array, w: Array, b: Array) -> tuple[Array, Any]:
    """Affine then ReLU; cache ``(fc_cache, relu_cache)``."""
    w, b = cast_like("affine_relu_forward", x, w, b)
    return L.affine_relu_forward(x, w, b)


def conv_relu_forward(x: Array, w: Array, b: Array,
                      conv_param: Mapping[str, int]) -> tuple[Array, Any]:
    """Convolution then ReLU; cache ``(conv_cache, relu_cache)``."""
    w, b = cast_like("conv_relu_forward", x, w, b)
    return L.conv_relu_forward(x, w, b, conv_param)


def conv_relu_pool_forward(x: Array, w: Array, b: Array, conv_param: Mapping[str, int],
                           pool_param: Mapping[str, int]) -> tuple[Array, Any]:
    """Convolution, ReLU, then max pooling."""
    w, b = cast_like("conv_relu_pool_forward", x, w, b)
    return L.conv_relu_pool_forward(x, w, b, conv_param, pool_param)


def conv_relu_pool_backward(dout: Array, cache: Any) -> tuple[Array, Array, Array]:
    """Backward pass of :func:`conv_relu_pool_forward`: ``(dx, dw, db)``."""
    dx, dw, db = L.conv_relu_pool_backward(dout, cache)
    return dx, dw, db


def conv_bn_relu_forward(x: Array, w: Array, b: Array, gamma: Array, beta: Array,
                         conv_param: Mapping[str, int],
                         bn_param: MutableMapping[str, Any]) -> tuple[Array, Any]:
    """Convolution, spatial batch normalization, then ReLU.

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = conv_bn_relu_forward(np.ones((2, 1, 3, 3)), np.ones((2, 1, 3, 3)),
    ...     np.zeros(2), np.ones(2), np.zeros(2), {"stride": 1, "pad": 1}, {"mode": "train"})
    >>> [g.shape for g in conv_bn_relu_backward(np.ones(out.shape), cache)]
    [(2, 1, 3, 3), (2, 1, 3, 3), (2,), (2,), (2,)]
    """
    w, b, gamma, beta = cast_like("conv_bn_relu_forward", x, w, b, gamma, beta)
    a, conv_cache = L.conv_forward(x, w, b, conv_param)
    an, bn_cache = L.spatial_batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = L.relu_forward(an)
    return out, (conv_cache, bn_cache, relu_cache)


def conv_bn_relu_backward(dout: Array, cache: Any) -> tuple[Array, ...]:
    """Backward pass of :func:`conv_bn_relu_forward`: ``(dx, dw, db, dgamma, dbeta)``."""
    conv_cache, bn_cache, relu_cache = check.cache(
        "conv_bn_relu_backward", cache, 3, "(conv, batchnorm, relu caches) from "
        "conv_bn_relu_forward")
    dan = L.relu_backward(dout, relu_cache)
    da, dgamma, dbeta = L.spatial_batchnorm_backward(dan, bn_cache)
    dx, dw, db = L.conv_backward(da, conv_cache)
    return dx, dw, db, dgamma, dbeta
