"""Models built from the layers: each a ``params`` dict and a ``loss(X, y=None)``.

``loss`` returns class scores when ``y`` is None, and ``(loss, grads)`` otherwise,
with ``grads`` a dict keyed like ``params`` (CS231n's model interface, which the
:class:`~portable_layers.solver.Solver` drives).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _compat
from . import layers as L
from . import _validate as check

__all__ = ["TwoLayerPerceptron"]

Array = Any


def _resolve(func: str, xp: Any, dtype: Any) -> tuple[Any, Any]:
    """Namespace and floating dtype for a model's parameters."""
    xp = _compat.get_namespace("numpy" if xp is None else xp)
    if dtype is None:
        dtype = xp.float64 if _compat.supports_float64(xp) else xp.float32
    elif isinstance(dtype, str):
        if dtype not in ("float32", "float64"):
            raise ValueError(f"{func}: dtype must be 'float32' or 'float64', got {dtype!r}")
        dtype = getattr(xp, dtype)
    if dtype == xp.float64 and not _compat.supports_float64(xp):
        msg = f"{func}: float64 on JAX needs x64 enabled (jax.config.update('jax_enable_x64', True))"
        raise ValueError(msg)
    return xp, dtype


def _positive_int(func: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{func}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _non_negative(func: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{func}: {name} must be a non-negative number, got {value!r}")
    return float(value)


class TwoLayerPerceptron:
    """A two-layer fully connected net: affine - ReLU - affine - softmax.

    The layer functions are also its methods (``model.affine_forward(...)``), as in
    the seed notebook.

    Parameters
    ----------
    input_dim : int
        D, the number of input features (3 * 32 * 32 for CIFAR-10).
    hidden_dim : int
        H, the number of hidden units.
    num_classes : int
        C.
    weight_scale : float
        Standard deviation of the initial weights (biases start at zero).
    reg : float
        L2 regularisation strength; the loss adds ``0.5 * reg * sum(W**2)`` over the
        two weight matrices.
    xp : str or namespace, optional
        Where the parameters live: a backend name (``"numpy"``, ``"jax"``,
        ``"torch"``, ``"array_api_strict"``, ``"dask"``) or an array namespace.
        NumPy by default.
    dtype : optional
        ``"float32"``, ``"float64"`` or a dtype of ``xp``; float64 where available.
    seed : int, optional
        Seeds the host generator that draws the initial weights.

    Examples
    --------
    >>> import numpy as np
    >>> model = TwoLayerPerceptron(input_dim=4, hidden_dim=3, num_classes=2, seed=0)
    >>> model.loss(np.ones((5, 4))).shape
    (5, 2)
    """

    affine_forward = staticmethod(L.affine_forward)
    affine_backward = staticmethod(L.affine_backward)
    relu_forward = staticmethod(L.relu_forward)
    relu_backward = staticmethod(L.relu_backward)
    leaky_relu_forward = staticmethod(L.leaky_relu_forward)
    leaky_relu_backward = staticmethod(L.leaky_relu_backward)
    sigmoid_forward = staticmethod(L.sigmoid_forward)
    sigmoid_backward = staticmethod(L.sigmoid_backward)
    tanh_forward = staticmethod(L.tanh_forward)
    tanh_backward = staticmethod(L.tanh_backward)
    affine_relu_forward = staticmethod(L.affine_relu_forward)
    affine_relu_backward = staticmethod(L.affine_relu_backward)
    svm_loss = staticmethod(L.svm_loss)
    softmax_loss = staticmethod(L.softmax_loss)

    def __init__(
        self,
        input_dim: int = 3 * 32 * 32,
        hidden_dim: int = 100,
        num_classes: int = 10,
        weight_scale: float = 1e-3,
        reg: float = 0.0,
        *,
        xp: Any = None,
        dtype: Any = None,
        seed: int | None = None,
    ) -> None:
        func = "TwoLayerPerceptron"
        d = _positive_int(func, "input_dim", input_dim)
        h = _positive_int(func, "hidden_dim", hidden_dim)
        c = _positive_int(func, "num_classes", num_classes)
        scale = _non_negative(func, "weight_scale", weight_scale)
        self.reg = reg
        self.xp, self.dtype = _resolve(func, xp, dtype)
        rng = np.random.default_rng(seed)

        def make(a: np.ndarray) -> Array:
            return _compat.from_numpy(a, self.xp, dtype=self.dtype)

        self._params: dict[str, Array] = {
            "W1": make(scale * rng.standard_normal((d, h))),
            "b1": make(np.zeros(h)),
            "W2": make(scale * rng.standard_normal((h, c))),
            "b2": make(np.zeros(c)),
        }
        self._shapes = {k: tuple(v.shape) for k, v in self._params.items()}

    @property
    def reg(self) -> float:
        """L2 regularisation strength."""
        return self._reg

    @reg.setter
    def reg(self, value: float) -> None:
        self._reg = _non_negative("TwoLayerPerceptron", "reg", value)

    @property
    def params(self) -> dict[str, Array]:
        """The parameters ``W1 b1 W2 b2``; assign a dict of same-shaped arrays to replace them."""
        return self._params

    @params.setter
    def params(self, new: dict[str, Array]) -> None:
        func = "TwoLayerPerceptron.params"
        if not isinstance(new, dict) or set(new) != set(self._shapes):
            got = sorted(new) if isinstance(new, dict) else type(new).__name__
            raise ValueError(f"{func}: expected a dict with keys {sorted(self._shapes)}, got {got}")
        for k, v in new.items():
            _compat.array_namespace(func, **{k: v})
            check.shape(func, k, v, self._shapes[k])
        self._params = dict(new)

    def loss(self, X: Array, y: Array | None = None, *, params: dict[str, Array] | None = None) -> Any:
        """Scores for ``X`` (when ``y`` is None), or ``(loss, grads)``.

        Parameters
        ----------
        X : floating array of shape (N, d1, ..., dk) with D = d1 * ... * dk
        y : integer array of shape (N,), optional
        params : dict, optional
            Parameters to use instead of ``self.params``; with them ``loss`` is a pure
            function of its arguments, which ``jax.jit`` can compile.

        Returns
        -------
        scores : array of shape (N, C), when ``y`` is None
        (loss, grads) : 0-d array and a dict of gradients keyed like ``params``
        """
        p = self._params if params is None else params
        hidden, cache1 = L.affine_relu_forward(X, p["W1"], p["b1"])
        scores, cache2 = L.affine_forward(hidden, p["W2"], p["b2"])
        if y is None:
            return scores
        data_loss, dscores = L.softmax_loss(scores, y)
        w1, w2 = p["W1"], p["W2"]
        xp = _compat.array_namespace("TwoLayerPerceptron.loss", X=X, W1=w1)
        loss = data_loss + 0.5 * self.reg * (xp.sum(w1 * w1) + xp.sum(w2 * w2))
        dhidden, dw2, db2 = L.affine_backward(dscores, cache2)
        _, dw1, db1 = L.affine_relu_backward(dhidden, cache1)
        grads = {"W1": dw1 + self.reg * w1, "b1": db1, "W2": dw2 + self.reg * w2, "b2": db2}
        return loss, grads

    def predict(self, X: Array) -> Array:
        """Predicted class labels, shape (N,)."""
        xp = _compat.array_namespace("TwoLayerPerceptron.predict", X=X)
        return xp.argmax(self.loss(X), axis=1)
