"""Fully connected models: :class:`TwoLayerPerceptron` and :class:`FullyConnectedNet`,
over one forward and backward, :func:`affine_net_forward` (which the course's
``FullyConnectedNet`` reuses)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import _validate as check
from .. import layers as L
from .._types import Array
from .base import Backward, Model

__all__ = ["FullyConnectedNet", "TwoLayerPerceptron"]

_NORMALIZATIONS = (None, "batchnorm", "layernorm")

#: ``dropout(x, mode, layer) -> (out, cache)``, the cache None when nothing was dropped.
Dropout = Callable[[Array, str, int], tuple[Array, Any]]


def affine_net_forward(
    X: Array, p: dict[str, Array], mode: str, state: dict[str, Array], *, num_layers: int,
    normalization: str | None = None, norm_params: Sequence[dict[str, Any]] = (),
    dropout: Dropout | None = None,
) -> tuple[Array, Backward]:
    """{affine - [norm] - ReLU - [dropout]} x (L - 1) - affine: scores and ``backward``.

    Parameters
    ----------
    X : array of shape (N, D)
    p : dict
        ``W1, b1, ..., WL, bL`` and, with a normalization, ``gamma{i}, beta{i}``.
    mode : {'train', 'test'}
    state : dict
        Running statistics ``running_mean{i}``, ``running_var{i}`` (batchnorm); train
        mode stores the new ones into it.
    num_layers : int
        L.
    normalization : {None, 'batchnorm', 'layernorm'}
    norm_params : sequence of dict
        Layer ``i``'s normalization options (``eps``, ``momentum``) in entry ``i - 1``.
    dropout : callable, optional
        Applied after each hidden ReLU.

    Returns
    -------
    scores : array of shape (N, C)
    backward : callable
        ``backward(dscores) -> grads``, keyed like ``p``.
    """
    n, out, caches = num_layers, X, []
    for i in range(1, n):
        param = None
        if normalization is not None:
            param = {**norm_params[i - 1], "mode": mode}
        if normalization == "batchnorm":
            param.update(running_mean=state.get(f"running_mean{i}"),  # type: ignore[union-attr]
                         running_var=state.get(f"running_var{i}"))
        out, cache = L.affine_norm_relu_forward(out, p[f"W{i}"], p[f"b{i}"], p.get(f"gamma{i}"),
                                                p.get(f"beta{i}"), param, normalization)
        if normalization == "batchnorm":
            state[f"running_mean{i}"] = param["running_mean"]  # type: ignore[index]
            state[f"running_var{i}"] = param["running_var"]  # type: ignore[index]
        drop = None
        if dropout is not None:
            out, drop = dropout(out, mode, i)
        caches.append((cache, drop))
    scores, last = L.affine_forward(out, p[f"W{n}"], p[f"b{n}"])

    def backward(dscores: Array) -> dict[str, Array]:
        grads: dict[str, Array] = {}
        dout, grads[f"W{n}"], grads[f"b{n}"] = L.affine_backward(dscores, last)
        for i in range(n - 1, 0, -1):
            cache, drop = caches[i - 1]
            if drop is not None:
                dout = L.dropout_backward(dout, drop)
            dout, dw, db, dgamma, dbeta = L.affine_norm_relu_backward(
                dout, cache, need_dx=i > 1)  # training never uses the input's gradient
            grads[f"W{i}"], grads[f"b{i}"] = dw, db
            if dgamma is not None:
                grads[f"gamma{i}"], grads[f"beta{i}"] = dgamma, dbeta
        return grads

    return scores, backward


def _hidden_dims(func: str, value: Any) -> list[int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        msg = f"{func}: hidden_dims must be a sequence of positive integers, got {value!r}"
        raise TypeError(msg)
    return [check.positive_int(func, f"hidden_dims[{i}]", h) for i, h in enumerate(value)]


class _AffineNet(Model):
    """Fully connected models: (affine - [norm] - ReLU - [dropout]) blocks, then affine.

    Subclasses validate their own arguments and call :meth:`_build` with the layer
    sizes ``[D, H1, ..., C]``.  Parameters are ``W1, b1, ..., WL, bL`` and, with a
    normalization, ``gamma1, beta1, ..., gamma{L-1}, beta{L-1}``.
    """

    def _build(self, dims: list[int], weight_scale: Any, reg: Any, xp: Any, dtype: Any,
               seed: Any, normalization: str | None = None, keep: float = 1.0,
               device: Any = None) -> None:
        self._setup(weight_scale, reg, xp, dtype, seed, device)
        self.num_layers = len(dims) - 1
        self.normalization = normalization
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(dims), start=1):
            self._weights(i, (fan_in, fan_out), fan_out)
        for i, size in enumerate(dims[1:-1], start=1):
            if normalization is not None:
                self._params[f"gamma{i}"] = self._array(np.ones(size))
                self._params[f"beta{i}"] = self._array(np.zeros(size))
            if normalization == "batchnorm":
                zeros = self._array(np.zeros(size))
                self.bn_params.append({"running_mean": zeros, "running_var": zeros})
            else:
                self.bn_params.append({})
        self.dropout_param = {"p": keep}
        self._finish()

    @property
    def input_dim(self) -> int:
        """D, the number of input features."""
        return self._shapes["W1"][0]

    @property
    def num_classes(self) -> int:
        """C, the number of classes."""
        return self._shapes[f"b{self.num_layers}"][0]

    def _forward(self, X: Array, p: dict[str, Array], mode: str, state: dict[str, Array],
                 seed: Any) -> tuple[Array, Backward]:
        dropout = None
        if self.uses_dropout:
            def dropout(x: Array, mode: str, layer: int) -> tuple[Array, Any]:
                return self._dropout(x, mode, seed, layer)
        return affine_net_forward(X, p, mode, state, num_layers=self.num_layers,
                                  normalization=self.normalization, norm_params=self.bn_params,
                                  dropout=dropout)


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
    device : optional
        A device of ``xp`` (``"cuda"`` for PyTorch, ``array_api_strict.Device(...)``);
        the parameters and running statistics are created there.  The default device
        by default.

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
        device: Any = None,
    ) -> None:
        func = "TwoLayerPerceptron"
        dims = [
            check.positive_int(func, "input_dim", input_dim),
            check.positive_int(func, "hidden_dim", hidden_dim),
            check.positive_int(func, "num_classes", num_classes),
        ]
        self._build(dims, weight_scale, reg, xp, dtype, seed, device=device)


class FullyConnectedNet(_AffineNet):
    """A fully connected net of any depth: {affine - [norm] - ReLU - [dropout]} x (L - 1)
    - affine - softmax.

    Parameters
    ----------
    hidden_dims : sequence of int
        The sizes of the L - 1 hidden layers (empty for a softmax classifier).
    input_dim : int
        D, the number of input features (3 * 32 * 32 for CIFAR-10).
    num_classes : int
        C.
    dropout_keep_ratio : float
        Keep probability of the dropout after each hidden ReLU; 1 (the default)
        means no dropout.  Masks: see the package docstring
        (:mod:`portable_layers.models`).
    normalization : {None, 'batchnorm', 'layernorm'}
        Normalization after each hidden affine layer, with parameters ``gamma{i}``
        (ones) and ``beta{i}`` (zeros); batchnorm's running statistics live in
        ``bn_params[i - 1]`` (see the package docstring, :mod:`portable_layers.models`).
    reg : float
        L2 regularisation strength; the loss adds ``0.5 * reg * sum(W**2)`` over the
        weight matrices ``W1 ... WL`` (not over gammas and betas).
    weight_scale : float
        Standard deviation of the initial weights (biases start at zero).
    dtype : optional
        ``"float32"``, ``"float64"`` or a dtype of ``xp``; float64 where available.
    xp : str or namespace, optional
        Backend name or array namespace for the parameters; NumPy by default.
    seed : int, optional
        Seeds the initial weights and the dropout seeds.
    device : optional
        A device of ``xp``; the parameters are created there.

    Raises
    ------
    ValueError
        For a bad size, ``normalization`` or ``dropout_keep_ratio``.

    Examples
    --------
    >>> import numpy as np
    >>> model = FullyConnectedNet([5, 4], input_dim=3, num_classes=2, seed=0)
    >>> sorted(model.params), model.predict(np.ones((6, 3))).shape
    (['W1', 'W2', 'W3', 'b1', 'b2', 'b3'], (6,))
    >>> bn = FullyConnectedNet([5], 3, 2, normalization="batchnorm", dropout_keep_ratio=0.5)
    >>> sorted(bn.params)
    ['W1', 'W2', 'b1', 'b2', 'beta1', 'gamma1']
    """

    def __init__(
        self,
        hidden_dims: Sequence[int],
        input_dim: int = 3 * 32 * 32,
        num_classes: int = 10,
        *,
        dropout_keep_ratio: float = 1.0,
        normalization: str | None = None,
        reg: float = 0.0,
        weight_scale: float = 1e-2,
        dtype: Any = None,
        xp: Any = None,
        seed: int | None = None,
        device: Any = None,
    ) -> None:
        func = "FullyConnectedNet"
        dims = [
            check.positive_int(func, "input_dim", input_dim),
            *_hidden_dims(func, hidden_dims),
            check.positive_int(func, "num_classes", num_classes),
        ]
        if normalization not in _NORMALIZATIONS:
            msg = (f"{func}: normalization must be None, 'batchnorm' or 'layernorm', "
                   f"got {normalization!r}")
            raise ValueError(msg)
        keep = check.number(func, "dropout_keep_ratio", dropout_keep_ratio, high=1.0)
        self._build(dims, weight_scale, reg, xp, dtype, seed, normalization, keep, device)
