"""The body shared by the compatibility models: parameters, backend, dtype, and the loss
with the L2 term of :mod:`portable_layers.models` (their forwards are the models')."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import _compat
from ... import layers as L
from ..._types import Array
from ...models.base import add_l2
from .. import _util


class CourseModel:
    """CS231n's model interface: a plain ``params`` dict, ``reg``, ``loss(X, y=None)``.

    ``params`` and ``reg`` are plain attributes read at every ``loss`` call, so
    ``model.params['W1'] = ...`` and ``model.reg = 1.0`` take effect; a value assigned
    from another library or dtype (a NumPy ``np.linspace`` on a PyTorch model) is moved
    to the model's backend and dtype when used.  ``X`` and ``y`` may be NumPy arrays
    whatever the backend.
    """

    params: dict[str, Array]
    reg: float

    def _init_backend(self, func: str, reg: float, dtype: Any, xp: Any, device: Any) -> None:
        self.reg = reg
        self.xp, self.dtype = _util.resolve(func, xp, dtype)
        self.device = device
        self.params = {}

    def _finish(self, host: dict[str, np.ndarray]) -> None:
        """Store host parameters cast to the model's dtype, on its backend."""
        self.params = {k: _compat.from_numpy(v, self.xp, dtype=self.dtype, device=self.device)
                       for k, v in host.items()}

    def _inputs(self, X: Any, y: Any) -> tuple[Array, Array | None]:
        X = _util.move(X, self.xp, self.dtype, self.device)
        if y is not None:
            y = _util.move(y, self.xp, None, self.device)
        return X, y

    def _current(self) -> dict[str, Array]:
        return {k: _util.move(v, self.xp, self.dtype, self.device) for k, v in self.params.items()}

    def _loss(self, scores: Array, y: Array, p: dict[str, Array],
              backward: Any) -> tuple[float, dict[str, Array]]:
        """Softmax loss plus ``0.5 * reg * sum(W**2)`` over the weights (the models' L2
        term), as a Python float, and the gradients."""
        data_loss, dscores = L.softmax_loss(scores, y)
        loss, grads = add_l2(float(self.reg), p, data_loss, backward(dscores))
        return float(loss), grads
