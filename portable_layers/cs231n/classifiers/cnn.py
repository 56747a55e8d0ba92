"""CS231n's ``cs231n/classifiers/cnn.py``: ``ThreeLayerConvNet``.

Also exports the layer functions of :mod:`portable_layers.cs231n.layers`,
:mod:`~portable_layers.cs231n.fast_layers` and
:mod:`~portable_layers.cs231n.layer_utils`, as the course's module star-imports them.

Examples
--------
>>> import numpy as np
>>> np.random.seed(0)
>>> model = ThreeLayerConvNet((1, 8, 8), num_filters=2, filter_size=3, hidden_dim=4)
>>> model.loss(np.ones((2, 1, 8, 8))).shape
(2, 10)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...models.convnet import three_layer_convnet_forward
from .. import fast_layers as _fast_layers
from .. import layer_utils as _layer_utils
from .. import layers as _layers
from ._base import CourseModel

for _module in (_layers, _fast_layers, _layer_utils):
    globals().update({n: getattr(_module, n) for n in _module.__all__})

__all__ = ["ThreeLayerConvNet", *_layers.__all__, *_fast_layers.__all__,
           *_layer_utils.__all__]


class ThreeLayerConvNet(CourseModel):
    """conv - relu - 2x2 max pool - affine - relu - affine - softmax (the forward and
    backward of :class:`portable_layers.ThreeLayerConvNet`).

    The convolution has stride 1 and pad ``(filter_size - 1) // 2``; the pool has
    stride 2.  Weights ``W1`` (F, C, HH, WW), ``W2`` (F * H/2 * W/2, hidden_dim),
    ``W3`` (hidden_dim, num_classes) are drawn in that order from NumPy's global
    generator, scaled by ``weight_scale``; biases are zero.

    Parameters
    ----------
    input_dim : tuple
        ``(C, H, W)``.
    num_filters, filter_size, hidden_dim, num_classes : int
    weight_scale, reg : float
    dtype : NumPy dtype or str
        float32 by default, as in the course.
    xp, device : optional
        Backend and device of the parameters (beyond the course).
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
        dtype: Any = np.float32,
        *,
        xp: Any = None,
        device: Any = None,
    ) -> None:
        func = type(self).__name__
        if len(input_dim) != 3:
            raise ValueError(f"{func}: input_dim must be (C, H, W), got {input_dim!r}")
        self._init_backend(func, reg, dtype, xp, device)
        C, H, W = (int(v) for v in input_dim)
        self.conv_param = {"stride": 1, "pad": (filter_size - 1) // 2}
        self.pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
        host = {
            "W1": np.random.randn(num_filters, C, filter_size, filter_size) * weight_scale,
            "b1": np.zeros(num_filters),
            "W2": np.random.randn(num_filters * (H // 2) * (W // 2), hidden_dim) * weight_scale,
            "b2": np.zeros(hidden_dim),
            "W3": np.random.randn(hidden_dim, num_classes) * weight_scale,
            "b3": np.zeros(num_classes),
        }
        self._finish(host)

    def loss(self, X: Any, y: Any = None) -> Any:
        """Scores (N, C) when ``y`` is None, else ``(loss, grads)`` with ``loss`` a float."""
        X, y = self._inputs(X, y)
        p = self._current()
        scores, backward = three_layer_convnet_forward(X, p, self.conv_param, self.pool_param)
        if y is None:
            return scores
        return self._loss(scores, y, p, backward)
