"""Models built from the layers: each a ``params`` dict and a ``loss(X, y=None)``.

``loss`` returns class scores when ``y`` is None, and ``(loss, grads)`` otherwise,
with ``grads`` a dict keyed like ``params`` (CS231n's model interface, which the
:class:`~portable_layers.solver.Solver` drives).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _compat
from . import _validate as check
from . import layers as L

__all__ = ["FullyConnectedNet", "TwoLayerPerceptron"]

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
        msg = (f"{func}: float64 on JAX needs x64 enabled "
               "(jax.config.update('jax_enable_x64', True))")
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


def _hidden_dims(func: str, value: Any) -> list[int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        msg = f"{func}: hidden_dims must be a sequence of positive integers, got {value!r}"
        raise TypeError(msg)
    return [_positive_int(func, f"hidden_dims[{i}]", h) for i, h in enumerate(value)]


class _AffineNet:
    """Shared body of the fully connected models: affine-ReLU blocks, then affine + softmax.

    Subclasses validate their own arguments and call :meth:`_build` with the layer
    sizes ``[D, H1, ..., C]``.  Parameters are ``W1, b1, ..., WL, bL``.
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

    def _build(self, dims: list[int], weight_scale: Any, reg: Any, xp: Any, dtype: Any,
               seed: int | None) -> None:
        func = type(self).__name__
        scale = _non_negative(func, "weight_scale", weight_scale)
        self.reg = reg
        self.xp, self.dtype = _resolve(func, xp, dtype)
        self.num_layers = len(dims) - 1
        rng = np.random.default_rng(seed)
        params: dict[str, Array] = {}
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(dims), start=1):
            w = scale * rng.standard_normal((fan_in, fan_out))
            params[f"W{i}"] = _compat.from_numpy(w, self.xp, dtype=self.dtype)
            params[f"b{i}"] = _compat.from_numpy(np.zeros(fan_out), self.xp, dtype=self.dtype)
        self._params = params
        self._shapes = {k: tuple(v.shape) for k, v in params.items()}

    @property
    def input_dim(self) -> int:
        """D, the number of input features."""
        return self._shapes["W1"][0]

    @property
    def num_classes(self) -> int:
        """C, the number of classes."""
        return self._shapes[f"b{self.num_layers}"][0]

    @property
    def reg(self) -> float:
        """L2 regularisation strength."""
        return self._reg

    @reg.setter
    def reg(self, value: float) -> None:
        self._reg = _non_negative(type(self).__name__, "reg", value)

    @property
    def params(self) -> dict[str, Array]:
        """The parameters ``W1 b1 ... WL bL``; assign a dict of same-shaped arrays to replace."""
        return self._params

    @params.setter
    def params(self, new: dict[str, Array]) -> None:
        func = f"{type(self).__name__}.params"
        if not isinstance(new, dict) or set(new) != set(self._shapes):
            got = sorted(new) if isinstance(new, dict) else type(new).__name__
            raise ValueError(f"{func}: expected a dict with keys {sorted(self._shapes)}, got {got}")
        for k, v in new.items():
            _compat.array_namespace(func, **{k: v})
            check.shape(func, k, v, self._shapes[k])
        self._params = dict(new)

    def loss(
        self, X: Array, y: Array | None = None, *, params: dict[str, Array] | None = None
    ) -> Any:
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
        (loss, grads) : 0-d array and a dict of gradients keyed like ``params``;
            the loss includes ``0.5 * reg * sum(W**2)`` over the weights.
        """
        p = self._params if params is None else params
        n = self.num_layers
        out, caches = X, []
        for i in range(1, n):
            out, cache = L.affine_relu_forward(out, p[f"W{i}"], p[f"b{i}"])
            caches.append(cache)
        scores, last = L.affine_forward(out, p[f"W{n}"], p[f"b{n}"])
        if y is None:
            return scores
        xp = _compat.array_namespace(f"{type(self).__name__}.loss", X=X, W1=p["W1"])
        data_loss, dout = L.softmax_loss(scores, y)
        weights = [p[f"W{i}"] for i in range(1, n + 1)]
        loss = data_loss + 0.5 * self.reg * sum(xp.sum(w * w) for w in weights)
        grads: dict[str, Array] = {}
        dout, grads[f"W{n}"], grads[f"b{n}"] = L.affine_backward(dout, last)
        for i in range(n - 1, 0, -1):
            dout, grads[f"W{i}"], grads[f"b{i}"] = L.affine_relu_backward(dout, caches[i - 1])
        for i, w in enumerate(weights, start=1):
            grads[f"W{i}"] = grads[f"W{i}"] + self.reg * w
        return loss, {k: grads[k] for k in p}

    def predict(self, X: Array) -> Array:
        """Predicted class labels, shape (N,)."""
        xp = _compat.array_namespace(f"{type(self).__name__}.predict", X=X)
        return xp.argmax(self.loss(X), axis=1)


class TwoLayerPerceptron(_AffineNet):
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
        dims = [
            _positive_int(func, "input_dim", input_dim),
            _positive_int(func, "hidden_dim", hidden_dim),
            _positive_int(func, "num_classes", num_classes),
        ]
        self._build(dims, weight_scale, reg, xp, dtype, seed)


class FullyConnectedNet(_AffineNet):
    """A fully connected net of any depth: (affine - ReLU) x (L - 1) - affine - softmax.

    Parameters
    ----------
    hidden_dims : sequence of int
        The sizes of the L - 1 hidden layers (empty for a softmax classifier).
    input_dim : int
        D, the number of input features (3 * 32 * 32 for CIFAR-10).
    num_classes : int
        C.
    reg : float
        L2 regularisation strength; the loss adds ``0.5 * reg * sum(W**2)`` over the
        weight matrices ``W1 ... WL``.
    weight_scale : float
        Standard deviation of the initial weights (biases start at zero).
    dtype : optional
        ``"float32"``, ``"float64"`` or a dtype of ``xp``; float64 where available.
    xp : str or namespace, optional
        Backend name or array namespace for the parameters; NumPy by default.
    seed : int, optional
        Seeds the host generator that draws the initial weights.

    Examples
    --------
    >>> import numpy as np
    >>> model = FullyConnectedNet([5, 4], input_dim=3, num_classes=2, seed=0)
    >>> sorted(model.params), model.predict(np.ones((6, 3))).shape
    (['W1', 'W2', 'W3', 'b1', 'b2', 'b3'], (6,))
    """

    def __init__(
        self,
        hidden_dims: Sequence[int],
        input_dim: int = 3 * 32 * 32,
        num_classes: int = 10,
        *,
        reg: float = 0.0,
        weight_scale: float = 1e-2,
        dtype: Any = None,
        xp: Any = None,
        seed: int | None = None,
    ) -> None:
        func = "FullyConnectedNet"
        dims = [
            _positive_int(func, "input_dim", input_dim),
            *_hidden_dims(func, hidden_dims),
            _positive_int(func, "num_classes", num_classes),
        ]
        self._build(dims, weight_scale, reg, xp, dtype, seed)
