"""Models built from the layers: each a ``params`` dict and a ``loss(X, y=None)``.

``loss`` returns class scores when ``y`` is None, and ``(loss, grads)`` otherwise,
with ``grads`` a dict keyed like ``params`` (CS231n's model interface, which the
:class:`~portable_layers.solver.Solver` drives).

State: running statistics and dropout randomness
------------------------------------------------
State is data.  :meth:`apply` is the pure form: ``(X, y, params, state,
dropout_seed) -> (result, new_state)``, ``state`` the running statistics
``{"running_mean1": ..., "running_var1": ...}``; nothing is read from or stored
into the model, so it can be traced by ``jax.jit``, scanned, vmapped or sharded.
:func:`portable_layers.make_train_step` builds the training step on it.

:meth:`loss` is the CS231n convenience on top, eager only: it reads the running
statistics from ``bn_params`` and, in train mode, stores the new ones back by
replacing the dict entries.  It never crosses a ``jax.jit`` boundary by a side
channel: traced in train mode with batch normalization (or with dropout and no
fixed seed) it raises and points to :meth:`apply`.

Dropout masks are derived, not drawn from a hidden stream.  The seed of a call
(``dropout_param['seed']`` when set, CS231n's fixed mask for gradient checks;
otherwise ``apply``'s ``dropout_seed``) is combined with the layer index by
:func:`portable_layers._compat.derive_seed`, so every layer draws its own mask:
on the host with ``numpy.random.SeedSequence`` for an int seed, with
``jax.random.fold_in`` for a (traced) JAX integer.  The training step passes the
seed derived from ``(seed, step)``; eager ``loss`` calls without a fixed seed use
``(model seed, call count)``.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _compat
from . import _validate as check
from . import layers as L
from ._types import Array
from .layers import activations, dense, losses

__all__ = ["FullyConnectedNet", "ThreeLayerConvNet", "TwoLayerPerceptron"]

Backward = Callable[[Array], dict[str, Array]]
_NORMALIZATIONS = (None, "batchnorm", "layernorm")


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


_positive_int = check.positive_int
_non_negative = check.non_negative


def _hidden_dims(func: str, value: Any) -> list[int]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        msg = f"{func}: hidden_dims must be a sequence of positive integers, got {value!r}"
        raise TypeError(msg)
    return [_positive_int(func, f"hidden_dims[{i}]", h) for i, h in enumerate(value)]


def _keep_ratio(func: str, value: Any) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and 0 < value <= 1
    if not ok:
        raise ValueError(f"{func}: dropout_keep_ratio must be a number in (0, 1], got {value!r}")
    return float(value)


class _Parameters:
    """The parameter container: ``params`` and ``state`` (running statistics), ``reg``,
    the structure :meth:`signature`, on one namespace, dtype and device.

    A subclass creates its parameters with :meth:`_setup`, :meth:`_weights` and
    :meth:`_finish`.
    """

    bn_params: list[dict[str, Any]]
    dropout_param: dict[str, Any]

    def _setup(self, weight_scale: Any, reg: Any, xp: Any, dtype: Any, seed: int | None,
               device: Any = None) -> None:
        func = type(self).__name__
        self._scale = _non_negative(func, "weight_scale", weight_scale)
        self.reg = reg
        self.xp, self.dtype = _resolve(func, xp, dtype)
        self.device = device
        self._rng = np.random.default_rng(seed)
        self._params: dict[str, Array] = {}
        self.bn_params, self.dropout_param = [], {"p": 1.0}
        self._calls = 0

    def _array(self, host: np.ndarray) -> Array:
        return _compat.from_numpy(host, self.xp, dtype=self.dtype, device=self.device)

    def _weights(self, i: int, w_shape: tuple[int, ...], size: int) -> None:
        """``W{i}`` (normal, ``weight_scale``) and ``b{i}`` (zeros, ``size``)."""
        self._params[f"W{i}"] = self._array(self._scale * self._rng.standard_normal(w_shape))
        self._params[f"b{i}"] = self._array(np.zeros(size))

    def _finish(self) -> None:
        self._shapes = {k: tuple(v.shape) for k, v in self._params.items()}
        self._dropout_base = int(self._rng.integers(2**31))
        del self._rng

    @property
    def reg(self) -> float:
        """L2 regularisation strength."""
        return self._reg

    @reg.setter
    def reg(self, value: float) -> None:
        self._reg = _non_negative(type(self).__name__, "reg", value)

    @property
    def params(self) -> dict[str, Array]:
        """The parameters (``W1 b1 ...``); assign a dict of same-shaped arrays to replace."""
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

    # -- state -----------------------------------------------------------------------------

    @property
    def state(self) -> dict[str, Array]:
        """Running statistics ``{"running_mean1": ..., "running_var1": ...}`` (batchnorm only)."""
        return {f"{key}{i}": bn[key] for i, bn in enumerate(self.bn_params, start=1)
                if "running_mean" in bn for key in ("running_mean", "running_var")}

    @state.setter
    def state(self, new: dict[str, Array]) -> None:
        func = f"{type(self).__name__}.state"
        current = self.state
        if not isinstance(new, dict) or set(new) != set(current):
            got = sorted(new) if isinstance(new, dict) else type(new).__name__
            raise ValueError(f"{func}: expected a dict with keys {sorted(current)}, got {got}")
        for k, v in new.items():
            _compat.array_namespace(func, **{k: v})
            check.shape(func, k, v, tuple(current[k].shape))
        self._store(new)

    def _store(self, new_state: dict[str, Any]) -> None:
        """Replace the running statistics in ``bn_params`` (the dict entries, never the arrays)."""
        for i, bn in enumerate(self.bn_params, start=1):
            for key in ("running_mean", "running_var"):
                value = new_state.get(f"{key}{i}")
                if value is not None:
                    bn[key] = value

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


class _PureModel(_Parameters):
    """The pure form: :meth:`apply` over the subclass hook :meth:`_forward`."""

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
            False skips the layers' argument checks where the model has a path without
            them (fully connected, no normalization or dropout): for callers that
            validated ``X``, ``y`` and ``params`` once at their boundary, as the
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
        >>> model = FullyConnectedNet([3], 2, 2, normalization="batchnorm", seed=0)
        >>> (loss, grads), state = model.apply(np.eye(2), np.array([0, 1]))
        >>> sorted(state), sorted(model.state["running_mean1"].tolist())
        (['running_mean1', 'running_var1'], [0.0, 0.0, 0.0])
        """
        p = self._params if params is None else params
        state = dict(self.state if state is None else state)
        mode = "test" if y is None else "train"
        fast = not checked and self._unchecked_ok(mode)
        if fast:
            xp = _compat.array_namespace(f"{type(self).__name__}.apply", X=X, W1=p["W1"])
            scores, backward = self._forward_unchecked(xp, X, p)
        else:  # the layers check the arguments (their messages name them)
            scores, backward = self._forward(X, p, mode, state, dropout_seed)
        if y is None:
            return scores, state
        xp = _compat.array_namespace(f"{type(self).__name__}.loss", X=X, W1=p["W1"])
        loss_fn = functools.partial(losses._softmax_loss, xp) if fast else L.softmax_loss
        data_loss, dscores = loss_fn(scores, y)
        grads = backward(dscores)
        if not self.reg:  # no regularisation: skip a pass over every weight
            return (data_loss, grads), state
        weights = [k for k in p if k.startswith("W")]
        loss = data_loss + 0.5 * self.reg * sum(xp.sum(p[k] * p[k]) for k in weights)
        grads = {k: grads[k] + self.reg * p[k] if k in weights else grads[k] for k in p}
        return (loss, grads), state

    def _unchecked_ok(self, mode: str) -> bool:
        """Whether :meth:`_forward_unchecked` computes this model in ``mode``."""
        return False

    def _forward_unchecked(self, xp: Any, X: Array,
                           p: dict[str, Array]) -> tuple[Array, Backward]:
        """:meth:`_forward` without the layers' checks (see ``apply``'s ``checked``)."""
        raise NotImplementedError

    def _forward(self, X: Array, p: dict[str, Array], mode: str, state: dict[str, Array],
                 seed: Any) -> tuple[Array, Backward]:
        """The subclass hook: scores and ``backward(dscores) -> grads``.

        ``p`` the parameters, ``mode`` ``'train'`` or ``'test'``, ``state`` a fresh
        copy of the running statistics that the hook updates in place (train mode),
        ``seed`` the call's dropout seed (use :meth:`_dropout` with a layer index).
        Pure otherwise: nothing is read from or stored on ``self`` but configuration.
        """
        raise NotImplementedError


class _Model(_PureModel):
    """A model with CS231n's conveniences on top of the pure form: the layer functions as
    methods, the stateful eager :meth:`loss` (``bn_params``) and :meth:`predict`.

    A subclass implements :meth:`_forward` (see there) and builds its parameters
    (see :class:`_Parameters`).
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
            self._store(new_state)
        return result

    def predict(self, X: Array) -> Array:
        """Predicted class labels, shape (N,)."""
        xp = _compat.array_namespace(f"{type(self).__name__}.predict", X=X)
        return xp.argmax(self.loss(X), axis=1)


class _AffineNet(_Model):
    """Fully connected models: (affine - [norm] - ReLU - [dropout]) blocks, then affine.

    Subclasses validate their own arguments and call :meth:`_build` with the layer
    sizes ``[D, H1, ..., C]``.  Parameters are ``W1, b1, ..., WL, bL`` and, with a
    normalization, ``gamma1, beta1, ..., gamma{L-1}, beta{L-1}``.
    """

    def _build(self, dims: list[int], weight_scale: Any, reg: Any, xp: Any, dtype: Any,
               seed: int | None, normalization: str | None = None, keep: float = 1.0,
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

    def _block(self, x: Array, p: dict[str, Array], i: int, mode: str,
               state: dict[str, Array], seed: Any) -> tuple[Array, tuple[Any, Any]]:
        """Hidden block ``i``: affine - [norm] - ReLU - [dropout]; stores new running stats."""
        norm = self.normalization
        param = {**self.bn_params[i - 1], "mode": mode}
        if norm == "batchnorm":
            param.update(running_mean=state.get(f"running_mean{i}"),
                         running_var=state.get(f"running_var{i}"))
        gamma, beta = p.get(f"gamma{i}"), p.get(f"beta{i}")
        out, cache = L.affine_norm_relu_forward(x, p[f"W{i}"], p[f"b{i}"], gamma, beta,
                                                param, norm)
        if norm == "batchnorm":
            state[f"running_mean{i}"] = param["running_mean"]
            state[f"running_var{i}"] = param["running_var"]
        out, drop = self._dropout(out, mode, seed, i)
        return out, (cache, drop)

    def _forward(self, X: Array, p: dict[str, Array], mode: str, state: dict[str, Array],
                 seed: Any) -> tuple[Array, Backward]:
        n = self.num_layers
        out, caches = X, []
        for i in range(1, n):
            out, cache = self._block(out, p, i, mode, state, seed)
            caches.append(cache)
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


    def _unchecked_ok(self, mode: str) -> bool:
        # Only for this class's own forward: a subclass that overrides it keeps it.
        return (type(self)._forward is _AffineNet._forward and self.normalization is None
                and (mode == "test" or not self.uses_dropout))

    def _forward_unchecked(self, xp: Any, X: Array,
                           p: dict[str, Array]) -> tuple[Array, Backward]:
        """Affine - ReLU blocks and the last affine, on the layers' unchecked cores."""
        n = self.num_layers
        out, caches, hidden = X, [], []
        for i in range(1, n + 1):
            out, cache = dense._affine_forward(xp, out, p[f"W{i}"], p[f"b{i}"])
            caches.append(cache)
            if i < n:
                hidden.append(out)  # the ReLU's input
                out = activations._relu(xp, out)

        def backward(dscores: Array) -> dict[str, Array]:
            grads: dict[str, Array] = {}
            dout = dscores
            for i in range(n, 0, -1):
                if i < n:
                    dout = activations._relu_grad(xp, dout, hidden[i - 1])
                dout, grads[f"W{i}"], grads[f"b{i}"] = dense._affine_backward(
                    xp, dout, caches[i - 1], need_dx=i > 1)
            return grads

        return out, backward


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
            _positive_int(func, "input_dim", input_dim),
            _positive_int(func, "hidden_dim", hidden_dim),
            _positive_int(func, "num_classes", num_classes),
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
        means no dropout.  Masks: see the module docstring.
    normalization : {None, 'batchnorm', 'layernorm'}
        Normalization after each hidden affine layer, with parameters ``gamma{i}``
        (ones) and ``beta{i}`` (zeros); batchnorm's running statistics live in
        ``bn_params[i - 1]`` (see the module docstring).
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
            _positive_int(func, "input_dim", input_dim),
            *_hidden_dims(func, hidden_dims),
            _positive_int(func, "num_classes", num_classes),
        ]
        if normalization not in _NORMALIZATIONS:
            msg = (f"{func}: normalization must be None, 'batchnorm' or 'layernorm', "
                   f"got {normalization!r}")
            raise ValueError(msg)
        keep = _keep_ratio(func, dropout_keep_ratio)
        self._build(dims, weight_scale, reg, xp, dtype, seed, normalization, keep, device)


class ThreeLayerConvNet(_Model):
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
        if isinstance(input_dim, (str, bytes)) or not isinstance(input_dim, Sequence) or len(
                input_dim) != 3:
            raise ValueError(f"{func}: input_dim must be a tuple (C, H, W), got {input_dim!r}")
        c, h, w = (_positive_int(func, f"input_dim[{i}]", v) for i, v in enumerate(input_dim))
        f = _positive_int(func, "num_filters", num_filters)
        fs = _positive_int(func, "filter_size", filter_size)
        hidden = _positive_int(func, "hidden_dim", hidden_dim)
        classes = _positive_int(func, "num_classes", num_classes)
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
        if getattr(X, "ndim", None) != 4 or tuple(X.shape[1:]) != self.input_shape:
            c, h, w = self.input_shape
            msg = (f"ThreeLayerConvNet.loss: X must have shape (N, {c}, {h}, {w}) "
                   f"(images N, C, H, W), got {tuple(getattr(X, 'shape', ()))}")
            raise ValueError(msg)
        a1, c1 = L.conv_relu_pool_forward(X, p["W1"], p["b1"], self.conv_param, self.pool_param)
        a2, c2 = L.affine_relu_forward(a1, p["W2"], p["b2"])
        scores, c3 = L.affine_forward(a2, p["W3"], p["b3"])

        def backward(dscores: Array) -> dict[str, Array]:
            grads: dict[str, Array] = {}
            da2, grads["W3"], grads["b3"] = L.affine_backward(dscores, c3)
            da1, grads["W2"], grads["b2"] = L.affine_relu_backward(da2, c2)
            _, grads["W1"], grads["b1"] = L.conv_relu_pool_backward(da1, c1, need_dx=False)
            return grads

        return scores, backward
