"""The convolutional model: :class:`ThreeLayerConvNet` (CS231n's), over one forward and
backward, :func:`three_layer_convnet_forward` (which the course's ``ThreeLayerConvNet``
reuses)."""

from __future__ import annotations

import math
from typing import Any

from .. import _validate as check
from .. import layers as L
from .._types import Array
from .base import Backward, Model

__all__ = ["ThreeLayerConvNet"]


def three_layer_convnet_forward(X: Array, p: dict[str, Array], conv_param: dict[str, int],
                                pool_param: dict[str, int]) -> tuple[Array, Backward]:
    """conv - ReLU - max pool - affine - ReLU - affine: scores and ``backward(dscores)``
    giving the gradients of ``W1, b1, W2, b2, W3, b3``."""
    a1, c1 = L.conv_relu_pool_forward(X, p["W1"], p["b1"], conv_param, pool_param)
    a2, c2 = L.affine_relu_forward(a1, p["W2"], p["b2"])
    scores, c3 = L.affine_forward(a2, p["W3"], p["b3"])

    def backward(dscores: Array) -> dict[str, Array]:
        grads: dict[str, Array] = {}
        da2, grads["W3"], grads["b3"] = L.affine_backward(dscores, c3)
        da1, grads["W2"], grads["b2"] = L.affine_relu_backward(da2, c2)
        _, grads["W1"], grads["b1"] = L.conv_relu_pool_backward(da1, c1, need_dx=False)
        return grads

    return scores, backward


class ThreeLayerConvNet(Model):
    """conv - ReLU - 2x2 max pool - affine - ReLU - affine - softmax (CS231n's).

    The convolution has stride 1 and pad ``(filter_size - 1) // 2`` (the same size
    for odd filters); the pool has stride 2.

    Parameters
    ----------
    input_dim : tuple of int
        ``(C, H, W)`` of the images; ``X`` must have shape (N, C, H, W).  The
        attribute :attr:`input_shape` holds it and :attr:`input_dim` is ``C * H * W``,
        the feature count the Solver checks.
    num_filters : int
        F, the number of convolution filters.
    filter_size : int
        Height and width of the filters.
    hidden_dim : int
        Units of the hidden affine layer.
    num_classes : int
        C, the number of classes.
    weight_scale : float
        Standard deviation of the initial weights (biases start at zero).
    reg : float
        L2 regularisation strength over ``W1, W2, W3``.
    dtype, xp, seed, device
        As for :class:`TwoLayerPerceptron`.

    Raises
    ------
    ValueError
        For a bad size, or filters or pool larger than the image.

    Examples
    --------
    >>> import numpy as np
    >>> model = ThreeLayerConvNet((1, 8, 8), num_filters=4, filter_size=3, hidden_dim=5, seed=0)
    >>> [tuple(model.params[k].shape) for k in ("W1", "W2", "W3")]
    [(4, 1, 3, 3), (64, 5), (5, 10)]
    >>> model.loss(np.ones((2, 1, 8, 8))).shape
    (2, 10)
    """

    def __init__(
        self,
        input_dim: tuple[int, int, int] = (3, 32, 32),
        num_filters: int = 32,
        filter_size: int = 7,
        hidden_dim: int = 100,
        num_classes: int = 10,
        weight_scale: float = 1e-3,
        reg: float = 0.0,
        *,
        dtype: Any = None,
        xp: Any = None,
        seed: int | None = None,
        device: Any = None,
    ) -> None:
        func = "ThreeLayerConvNet"
        c, h, w = check.image_shape(func, input_dim)
        f = check.positive_int(func, "num_filters", num_filters)
        fs = check.positive_int(func, "filter_size", filter_size)
        hidden = check.positive_int(func, "hidden_dim", hidden_dim)
        classes = check.positive_int(func, "num_classes", num_classes)
        self.input_shape = (c, h, w)
        self.conv_param = {"stride": 1, "pad": (fs - 1) // 2}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        pooled = [1 + (1 + size + 2 * self.conv_param["pad"] - fs - 2) // 2 for size in (h, w)]
        if min(pooled) < 1:
            msg = (f"{func}: filter_size {fs} and the 2x2 pool leave no output for images "
                   f"of shape {self.input_shape}")
            raise ValueError(msg)
        self._setup(weight_scale, reg, xp, dtype, seed, device)
        self._weights(1, (f, c, fs, fs), f)
        self._weights(2, (f * pooled[0] * pooled[1], hidden), hidden)
        self._weights(3, (hidden, classes), classes)
        self._finish()

    @property
    def input_dim(self) -> int:
        """``C * H * W``, the number of features per image (see :attr:`input_shape`)."""
        return math.prod(self.input_shape)

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return self._shapes["b3"][0]

    def _forward(self, X: Array, p: dict[str, Array], mode: str, state: dict[str, Array],
                 seed: Any) -> tuple[Array, Backward]:
        check.images("ThreeLayerConvNet.loss", X, self.input_shape)
        return three_layer_convnet_forward(X, p, self.conv_param, self.pool_param)
