"""The models' one base class, :class:`Model`, read top to bottom: the parameter
container, the pure form :meth:`Model.apply` over each model's ``_forward`` hook, and
CS231n's conveniences on top (the stateful eager :meth:`Model.loss`, ``predict``, the
layer functions as methods).  The package docstring says how state and dropout flow.

Two functions here are shared with the course package (:mod:`portable_layers.cs231n`):
:func:`add_l2` (the L2 term) and :func:`running_stats` / :func:`store_running_stats`
(batchnorm's statistics kept in ``bn_params`` dicts).  :func:`is_model` is the one test
of "is this one of our models".
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _compat
from .. import _validate as check
from .. import layers as L
from .._types import Array

__all__ = ["Model", "add_l2", "is_model", "running_stats", "store_running_stats"]

Backward = Callable[[Array], dict[str, Array]]


def is_model(obj: Any) -> bool:
    """Whether ``obj`` is one of this library's models (a :class:`Model`): pure ``apply``,
    a ``signature`` to cache compiled steps by, and gradients that are fresh arrays."""
    return isinstance(obj, Model)


def add_l2(reg: float, params: dict[str, Array], loss: Array,
           grads: dict[str, Array]) -> tuple[Array, dict[str, Array]]:
    """``loss + 0.5 * reg * sum(W**2)`` over the weights (the parameters named ``W...``)
    and their gradients plus ``reg * W``; ``loss`` and ``grads`` unchanged for ``reg`` 0."""
    if not reg:  # no regularisation: skip a pass over every weight
        return loss, grads
    weights = [k for k in params if k.startswith("W")]
    xp = _compat.array_namespace("add_l2", **{weights[0]: params[weights[0]]})
    loss = loss + 0.5 * reg * sum(xp.sum(params[k] * params[k]) for k in weights)
    return loss, {k: grads[k] + reg * params[k] if k in weights else grads[k] for k in params}


def running_stats(bn_params: list[dict[str, Any]]) -> dict[str, Array]:
    """``{"running_mean1": ..., "running_var1": ...}`` from the ``bn_params`` dicts that
    hold statistics (layer ``i`` is ``bn_params[i - 1]``)."""
    return {f"{key}{i}": bn[key] for i, bn in enumerate(bn_params, start=1)
            if "running_mean" in bn for key in ("running_mean", "running_var")}


def store_running_stats(bn_params: list[dict[str, Any]], state: dict[str, Any]) -> None:
    """Store ``state``'s statistics into the ``bn_params`` dicts (the dict entries are
    replaced, never the arrays written into)."""
    for i, bn in enumerate(bn_params, start=1):
        for key in ("running_mean", "running_var"):
            value = state.get(f"{key}{i}")
            if value is not None:
                bn[key] = value


class Model:
    """The base of the models: parameters, the pure :meth:`apply`, CS231n's :meth:`loss`.

    A subclass validates its arguments, creates its parameters with :meth:`_setup`,
    :meth:`_weights` (or its own draws from ``self._rng``) and :meth:`_finish`, and
    implements the one hook :meth:`_forward`.
    """

    bn_params: list[dict[str, Any]]
    dropout_param: dict[str, Any]

    # -- construction: the parameter container --------------------------------------------

    def _setup(self, weight_scale: Any, reg: Any, xp: Any, dtype: Any, seed: Any,
               device: Any = None) -> None:
        func = type(self).__name__
        self._scale = check.non_negative(func, "weight_scale", weight_scale)
        self.reg = reg
        self.xp = _compat.get_namespace("numpy" if xp is None else xp)
        self.dtype = check.float_dtype(func, self.xp, dtype)
        self.device = check.known_device(func, self.xp, device)
        self._rng = np.random.default_rng(check.seed(func, seed))
        self._params: dict[str, Array] = {}
        self.bn_params, self.dropout_param = [], {"p": 1.0}
        self._calls = 0

    def _array(self, host: np.ndarray) -> Array:
        return _compat.from_numpy(host, self.xp, dtype=self.dtype, device=self.device)

    def _normal(self, name: str, shape: tuple[int, ...], scale: float) -> Array:
        """The parameter ``name``: ``scale`` times normal draws of ``shape``.  A size that
        cannot fit in memory is a MemoryError naming the model and ``name``, before any
        allocation (the draws, their scaled copy on the host, and the array itself)."""
        per_entry = 16 + check.itemsize(self.xp, self.dtype)
        check.allocation(type(self).__name__, math.prod(shape) * per_entry,
                         f"{name} of shape {shape}")
        return self._array(scale * self._rng.standard_normal(shape))

    def _weights(self, i: int, w_shape: tuple[int, ...], size: int) -> None:
        """``W{i}`` (normal, ``weight_scale``) and ``b{i}`` (zeros, ``size``)."""
        self._params[f"W{i}"] = self._normal(f"W{i}", w_shape, self._scale)
        self._params[f"b{i}"] = self._array(np.zeros(size))

    def _finish(self) -> None:
        self._shapes = {k: tuple(v.shape) for k, v in self._params.items()}
        self._dropout_base = int(self._rng.integers(2**31))  # int32: JAX takes it as is
        del self._rng

    @property
    def reg(self) -> float:
        """L2 regularisation strength."""
        return self._reg

    @reg.setter
    def reg(self, value: float) -> None:
        self._reg = check.non_negative(type(self).__name__, "reg", value)

    @property
    def params(self) -> dict[str, Array]:
        """The parameters (``W1 b1 ...``); assign a dict of same-shaped arrays to replace."""
        return self._params

    @params.setter
    def params(self, new: dict[str, Array]) -> None:
        self._params = self._checked_dict(f"{type(self).__name__}.params", new, self._shapes)

    @property
    def state(self) -> dict[str, Array]:
        """Running statistics ``{"running_mean1": ..., "running_var1": ...}`` (batchnorm only)."""
        return running_stats(self.bn_params)

    @state.setter
    def state(self, new: dict[str, Array]) -> None:
        shapes = {k: tuple(v.shape) for k, v in self.state.items()}
        store_running_stats(self.bn_params,
                            self._checked_dict(f"{type(self).__name__}.state", new, shapes))

    @staticmethod
    def _checked_dict(func: str, new: Any, shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
        if not isinstance(new, dict) or set(new) != set(shapes):
            got = sorted(new) if isinstance(new, dict) else type(new).__name__
            raise ValueError(f"{func}: expected a dict with keys {sorted(shapes)}, got {got}")
        for k, v in new.items():
            _compat.array_namespace(func, **{k: v})
            check.shape(func, k, v, shapes[k])
        return dict(new)

    def signature(self) -> tuple[Any, ...]:
        """What determines the model's computation (not its values): a hashable key.

        The class, backend, parameter names, shapes and dtypes, and every plain
        attribute (sizes, ``reg``, normalization, dropout keep ratio, layer options).
        Compiled training steps are cached by it, so a second model of the same
        structure reuses them.
        """
        def plain(v: Any) -> Any:
            if isinstance(v, dict):
                return tuple(sorted((str(k), plain(x)) for k, x in v.items()
                                    if not _compat.is_array_api_obj(x)))
            if isinstance(v, (list, tuple)):
                return tuple(plain(x) for x in v)
            if v is None or isinstance(v, (bool, int, float, str)):
                return v
            return type(v).__name__
        shapes = tuple((k, tuple(v.shape), str(v.dtype)) for k, v in self._params.items())
        values = ("_params", "_calls", "_dropout_base", "_scale")  # used before training only
        attrs = plain({k: v for k, v in vars(self).items() if k not in values})
        return (type(self), _compat.backend_name(self.xp), shapes, attrs)

    # -- the pure form ------------------------------------------------------------------

    @property
    def uses_dropout(self) -> bool:
        """Whether train mode applies dropout (keep ratio below 1)."""
        return self.dropout_param.get("p", 1.0) < 1.0

    def _dropout(self, x: Array, mode: str, seed: Any, layer: int) -> tuple[Array, Any]:
        """Dropout of hidden layer ``layer`` with its own mask, from (``seed``, ``layer``).

        ``dropout_param['seed']``, when set, replaces ``seed`` (CS231n's fixed masks).
        With neither, the masks come from fresh OS entropy (eager only).
        """
        if not self.uses_dropout:
            return x, None
        fixed = self.dropout_param.get("seed")
        base = fixed if fixed is not None else seed
        layer_seed = None if base is None or mode == "test" else _compat.derive_seed(base, layer)
        return L.dropout_forward(x, {**self.dropout_param, "mode": mode, "seed": layer_seed})

    def apply(
        self, X: Array, y: Array | None = None, *, params: dict[str, Array] | None = None,
        state: dict[str, Array] | None = None, dropout_seed: Any = None, checked: bool = True,
    ) -> tuple[Any, dict[str, Array]]:
        """The pure form of :meth:`loss`: nothing is read from or stored into the model.

        Parameters
        ----------
        X, y, params
            As for :meth:`loss`.
        state : dict, optional
            Running statistics (as :attr:`state`; the model's own by default).  Missing
            entries start at zero, so ``{}`` works in train mode on any backend.
        dropout_seed : int or JAX integer array, optional
            Seed of this call's dropout masks in train mode; layer ``i`` draws its
            own mask from ``derive_seed(dropout_seed, i)``.  ``dropout_param['seed']``
            takes its place when set.  None: fresh OS entropy (eager only).
        checked : bool
            False runs the same layers with their argument checks switched off
            (``portable_layers._validate.skipped``): for callers that validated
            ``X``, ``y`` and ``params`` once at their boundary, as the
            :class:`~portable_layers.Solver` does.  Labels are then not range-checked.

        Returns
        -------
        result
            What :meth:`loss` returns.
        new_state : dict
            The updated running statistics (``state`` unchanged in test mode).

        Examples
        --------
        >>> import numpy as np
        >>> from portable_layers import FullyConnectedNet
        >>> model = FullyConnectedNet([3], 2, 2, normalization="batchnorm", seed=0)
        >>> (loss, grads), state = model.apply(np.eye(2), np.array([0, 1]))
        >>> sorted(state), sorted(model.state["running_mean1"].tolist())
        (['running_mean1', 'running_var1'], [0.0, 0.0, 0.0])
        """
        p = self._params if params is None else params
        state = dict(self.state if state is None else state)
        mode = "test" if y is None else "train"
        # unchecked: the caller found X, y and params in one namespace, so X's names it
        xp = None if checked else _compat.array_namespace(f"{type(self).__name__}.apply", X=X)
        with contextlib.nullcontext() if xp is None else check.skipped(xp):
            scores, backward = self._forward(X, p, mode, state, dropout_seed)
            if y is None:
                return scores, state
            data_loss, dscores = L.softmax_loss(scores, y)
            grads = backward(dscores)
        return add_l2(self.reg, p, data_loss, grads), state

    def _forward(self, X: Array, p: dict[str, Array], mode: str, state: dict[str, Array],
                 seed: Any) -> tuple[Array, Backward]:
        """The subclass hook: scores and ``backward(dscores) -> grads``.

        ``p`` the parameters, ``mode`` ``'train'`` or ``'test'``, ``state`` a fresh
        copy of the running statistics that the hook updates in place (train mode),
        ``seed`` the call's dropout seed (use :meth:`_dropout` with a layer index).
        Pure otherwise: nothing is read from or stored on ``self`` but configuration.
        """
        raise NotImplementedError

    # -- CS231n's conveniences on top -----------------------------------------------------

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

    def loss(
        self, X: Array, y: Array | None = None, *, params: dict[str, Array] | None = None
    ) -> Any:
        """Scores for ``X`` (when ``y`` is None, test mode), or ``(loss, grads)`` (train mode).

        The eager CS231n convenience over :meth:`apply`: in train mode the new running
        statistics are stored in ``bn_params`` and, unless ``dropout_param['seed']`` is
        set, each call draws fresh dropout masks.

        Parameters
        ----------
        X : floating array of shape (N, ...) (see the model for the feature shape)
        y : integer array of shape (N,), optional
        params : dict, optional
            Parameters to use instead of ``self.params``.

        Returns
        -------
        scores : array of shape (N, C), when ``y`` is None
        (loss, grads) : 0-d array and a dict of gradients keyed like ``params``;
            the loss includes ``0.5 * reg * sum(W**2)`` over the weights.

        Raises
        ------
        ValueError
            In train mode inside ``jax.jit`` when the model has batch normalization
            or dropout without a fixed seed: that state must be threaded, so use
            :meth:`apply` or :func:`portable_layers.make_train_step` there.
        """
        train = y is not None
        seed = None
        if train:
            p = self._params if params is None else params
            traced = any(_compat.is_traced(v) for v in (X, *p.values()))
            needs_seed = self.uses_dropout and self.dropout_param.get("seed") is None
            if traced and (self.state or needs_seed):
                what = "batch normalization's running statistics" if self.state else (
                    "a fresh dropout mask per call")
                msg = (f"{type(self).__name__}.loss: under jax.jit, {what} cannot be kept on "
                       "the model; thread the state with model.apply(X, y, params=..., "
                       "state=..., dropout_seed=...) or portable_layers.make_train_step")
                raise ValueError(msg)
            if needs_seed:
                self._calls += 1
                seed = _compat.derive_seed(self._dropout_base, self._calls)
        result, new_state = self.apply(X, y, params=params, dropout_seed=seed)
        if train and new_state:
            store_running_stats(self.bn_params, new_state)
        return result

    def predict(self, X: Array) -> Array:
        """Predicted class labels, shape (N,)."""
        xp = _compat.array_namespace(f"{type(self).__name__}.predict", X=X)
        return xp.argmax(self.loss(X), axis=1)
