"""Sandwich layers: common sequences of layers as one forward/backward pair."""

from __future__ import annotations

from typing import Any

from .activations import relu_backward, relu_forward
from .dense import AffineCache, affine_backward, affine_forward

Array = Any


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
