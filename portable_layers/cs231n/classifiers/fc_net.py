"""CS231n's ``cs231n/classifiers/fc_net.py``: ``TwoLayerNet`` and ``FullyConnectedNet``.

Like the course's module, it also exports the layer functions of
:mod:`portable_layers.cs231n.layers` and :mod:`portable_layers.cs231n.layer_utils`,
so ``from portable_layers.cs231n.classifiers.fc_net import *`` brings them in.

Examples
--------
>>> import numpy as np
>>> np.random.seed(0)
>>> model = FullyConnectedNet([5], input_dim=3, num_classes=2, dtype=np.float64)
>>> sorted(model.params), model.loss(np.ones((4, 3))).shape
(['W1', 'W2', 'b1', 'b2'], (4, 2))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import _validate as check
from ..._types import Array
from ...models.base import running_stats, store_running_stats
from ...models.fully_connected import affine_net_forward
from .. import layer_utils as _layer_utils
from .. import layers as _layers
from ..layers import dropout_forward
from ._base import CourseModel

globals().update({n: getattr(_layers, n) for n in _layers.__all__})
globals().update({n: getattr(_layer_utils, n) for n in _layer_utils.__all__})

__all__ = ["FullyConnectedNet", "TwoLayerNet", *_layers.__all__, *_layer_utils.__all__]


class FullyConnectedNet(CourseModel):
    """{affine - [batch/layer norm] - relu - [dropout]} x (L - 1) - affine - softmax (the
    forward and backward of :class:`portable_layers.FullyConnectedNet`).

    Parameters
    ----------
    hidden_dims : list of int
        Sizes of the hidden layers.
    input_dim, num_classes : int
        Input features and classes.
    dropout_keep_ratio : float
        Keep probability of dropout after each ReLU; 1 means no dropout.
    normalization : {None, 'batchnorm', 'layernorm'}
    reg : float
        L2 strength; the loss adds ``0.5 * reg * sum(W**2)`` over ``W1 ... WL``.
    weight_scale : float
        Standard deviation of the weights, drawn from NumPy's global generator in
        the course's order (``np.random.randn(D, H1) * weight_scale`` for ``W1``, ...).
    dtype : NumPy dtype or str
        float32 (the course's default) or float64 (for gradient checks).
    seed : int, optional
        Fixes the dropout masks (see :func:`~portable_layers.cs231n.layers.dropout_forward`).
    xp : str or namespace, optional
        Backend of the parameters (``"numpy"``, ``"jax"``, ``"torch"``, ...); NumPy by
        default.  Beyond the course.
    device : optional
        Device of the parameters.  Beyond the course.

    Attributes
    ----------
    params : dict
        ``W1 b1 ... WL bL`` and, with a normalization, ``gamma1 beta1 ...``.
    bn_params : list of dict
        Per hidden layer: ``mode`` and batchnorm's running statistics.
    dropout_param : dict
        ``mode``, ``p`` and ``seed`` (when given).
    """

    def __init__(
        self,
        hidden_dims: Sequence[int],
        input_dim: int = 3 * 32 * 32,
        num_classes: int = 10,
        dropout_keep_ratio: float = 1,
        normalization: str | None = None,
        reg: float = 0.0,
        weight_scale: float = 1e-2,
        dtype: Any = np.float32,
        seed: int | None = None,
        *,
        xp: Any = None,
        device: Any = None,
    ) -> None:
        func = type(self).__name__
        if normalization not in (None, "batchnorm", "layernorm"):
            msg = (f"{func}: normalization must be None, 'batchnorm' or 'layernorm', "
                   f"got {normalization!r}")
            raise ValueError(msg)
        keep = dropout_keep_ratio
        if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 < keep <= 1:
            raise ValueError(f"{func}: dropout_keep_ratio must be in (0, 1], got {keep!r}")
        dims = [input_dim, *hidden_dims, num_classes]
        if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1
               for d in dims):
            raise ValueError(f"{func}: layer sizes must be positive integers, got {dims}")
        seed = check.seed(func, seed)
        if seed is not None and seed >= 2**32:  # np.random.seed's range: derive a narrower one
            seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
        self._init_backend(func, reg, dtype, xp, device)
        self.normalization = normalization
        self.use_dropout = keep != 1
        self.num_layers = 1 + len(hidden_dims)
        host: dict[str, np.ndarray] = {}
        for i in range(self.num_layers):  # the course's order: W1, b1, W2, b2, ...
            host[f"W{i + 1}"] = np.random.randn(dims[i], dims[i + 1]) * weight_scale
            host[f"b{i + 1}"] = np.zeros(dims[i + 1])
        if normalization is not None:
            for i, h in enumerate(hidden_dims, start=1):
                host[f"gamma{i}"] = np.ones(h)
                host[f"beta{i}"] = np.zeros(h)
        self._finish(host)
        self.dropout_param: dict[str, Any] = {}
        if self.use_dropout:
            self.dropout_param = {"mode": "train", "p": keep}
            if seed is not None:
                self.dropout_param["seed"] = seed
        self.bn_params: list[dict[str, Any]] = []
        if normalization == "batchnorm":
            self.bn_params = [{"mode": "train"} for _ in range(self.num_layers - 1)]
        if normalization == "layernorm":
            self.bn_params = [{} for _ in range(self.num_layers - 1)]

    def loss(self, X: Any, y: Any = None) -> Any:
        """Scores (N, C) when ``y`` is None, else ``(loss, grads)`` with ``loss`` a float."""
        X, y = self._inputs(X, y)
        p = self._current()
        mode = "test" if y is None else "train"
        if self.use_dropout:
            self.dropout_param["mode"] = mode
        for bn_param in self.bn_params:
            bn_param["mode"] = mode
        state = running_stats(self.bn_params)
        scores, backward = affine_net_forward(
            X, p, mode, state, num_layers=self.num_layers, normalization=self.normalization,
            norm_params=self.bn_params, dropout=self._dropout if self.use_dropout else None)
        store_running_stats(self.bn_params, state)  # the course keeps them in its dicts
        if y is None:
            return scores
        return self._loss(scores, y, p, backward)

    def _dropout(self, x: Array, mode: str, layer: int) -> tuple[Array, Any]:
        """The course's dropout: every layer with ``dropout_param`` (its ``seed`` reseeds
        NumPy's global generator, so the same masks every call)."""
        return dropout_forward(x, self.dropout_param)


class TwoLayerNet(FullyConnectedNet):
    """affine - relu - affine - softmax, CS231n's ``TwoLayerNet``.

    ``TwoLayerNet(input_dim=3*32*32, hidden_dim=100, num_classes=10,
    weight_scale=1e-3, reg=0.0)``; ``W1`` then ``W2`` drawn from NumPy's global
    generator.  ``dtype`` (float64 by default, as the course's NumPy arrays),
    ``xp`` and ``device`` are keywords beyond the course.
    """

    def __init__(
        self,
        input_dim: int = 3 * 32 * 32,
        hidden_dim: int = 100,
        num_classes: int = 10,
        weight_scale: float = 1e-3,
        reg: float = 0.0,
        *,
        dtype: Any = np.float64,
        xp: Any = None,
        device: Any = None,
    ) -> None:
        super().__init__([hidden_dim], input_dim, num_classes, reg=reg,
                         weight_scale=weight_scale, dtype=dtype, xp=xp, device=device)
