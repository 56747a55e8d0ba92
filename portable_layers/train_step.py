"""The pure training step: state in, state out.

Training state is plain data, a :class:`TrainState` (a ``NamedTuple``, hence a JAX
pytree):

``params``
    the model's parameters, ``{"W1": ..., "b1": ...}``;
``model_state``
    its running statistics (batch normalization), ``{"running_mean1": ...}``,
    ``{}`` without;
``opt_state``
    one optimiser config per parameter (:func:`portable_layers.optim.init_config`:
    hyperparameters as 0-d arrays in the parameter's dtype, ``velocity``/``m``/``v``
    buffers, adam's ``t``);
``step``
    the number of steps taken;
``seed``
    the dropout seed; step ``t``'s masks derive from ``(seed, t, layer)``.

:func:`make_train_step` returns ``step(state, X, y) -> (loss, state)``, built on
``model.apply``: no attribute of the model is read or written while it runs except
its configuration (sizes, ``reg``, keep ratio), and the randomness is derived from
the state.  So it can be wrapped in ``jax.jit``, run under ``jax.lax.scan`` over the
minibatches of an epoch, or sharded over a device mesh, and on NumPy, PyTorch or
array_api_strict it simply runs eagerly.  The :class:`~portable_layers.solver.Solver`
is a loop around it.

Examples
--------
>>> import numpy as np
>>> from portable_layers import FullyConnectedNet, init_train_state, make_train_step
>>> model = FullyConnectedNet([8], 4, 2, normalization="batchnorm", seed=0)
>>> state = init_train_state(model, "adam", {"learning_rate": 1e-2})
>>> step = make_train_step(model, "adam")
>>> X, y = np.random.default_rng(0).standard_normal((10, 4)), np.arange(10) % 2
>>> for _ in range(3):
...     loss, state = step(state, X, y)
>>> state.step, sorted(state.model_state)
(3, ['running_mean1', 'running_var1'])
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from . import _compat, optim
from . import _validate as check
from ._types import Array
from .models.base import is_model

__all__ = ["TrainState", "init_train_state", "make_train_step"]

Step = Callable[["TrainState", Array, Array], tuple[Array, "TrainState"]]


class TrainState(NamedTuple):
    """Everything a training step reads and renews (see the module docstring)."""

    params: dict[str, Array]
    model_state: dict[str, Array]
    opt_state: dict[str, dict[str, Any]]
    step: Any
    seed: Any


def _rule(func: str, update_rule: Any) -> tuple[Callable[..., Any], str | None]:
    if callable(update_rule):
        return update_rule, None
    if update_rule not in optim.UPDATE_RULES:
        msg = (f"{func}: update_rule must be a callable or one of "
               f"{sorted(optim.UPDATE_RULES)}, got {update_rule!r}")
        raise ValueError(msg)
    return optim.get_update_rule(update_rule), update_rule


def init_train_state(model: Any, update_rule: Any = "sgd",
                     optim_config: dict[str, Any] | None = None, *,
                     seed: int | None = None) -> TrainState:
    """The state before the first step: the model's parameters and statistics, fresh
    optimiser state, step 0.

    Parameters
    ----------
    model : object
        A model with ``params`` (and ``state`` for running statistics).
    update_rule : str or callable
        A name in :data:`portable_layers.optim.UPDATE_RULES`, or a function
        ``(w, dw, config) -> (next_w, config)`` (its config starts as a copy of
        ``optim_config``).
    optim_config : dict, optional
        Hyperparameters shared by all parameters.
    seed : int, optional
        The dropout seed; by default the one the model's constructor seed fixed.

    Returns
    -------
    TrainState
        On JAX ``step`` and ``seed`` are 0-d int32 arrays (so a jitted step traces
        them instead of recompiling); elsewhere Python ints.  Numbers in the
        optimiser configs are 0-d arrays on the parameter's device.
    """
    func = "init_train_state"
    params = getattr(model, "params", None)
    if not isinstance(params, dict) or not params:
        raise TypeError(f"{func}: model must have a non-empty params dict, got {params!r}")
    if optim_config is not None and not isinstance(optim_config, dict):
        raise TypeError(f"{func}: optim_config must be a dict or None, got {optim_config!r}")
    _, name = _rule(func, update_rule)
    name0, first = next(iter(params.items()))
    xp = _compat.array_namespace(func, **{name0: first})
    jax = _compat.is_jax_namespace(xp)
    opt = {k: _init_config(xp, name, w, optim_config or {}, host=jax) for k, w in params.items()}
    seed = check.seed(func, seed)
    if seed is None:
        seed = getattr(model, "_dropout_base", 0)
    seed = int(seed)
    if seed >= 2**31:  # JAX keeps it as an int32: derive a narrower one (a model's is below)
        seed = int(np.random.SeedSequence(seed).generate_state(1)[0] >> 1)
    step: Any = 0
    if jax:  # built on the host, moved in one transfer (one array at a time costs ~10x)
        jax_ = _compat.import_jax("init_train_state")
        opt, step, seed = jax_.device_put((opt, np.int32(0), np.int32(seed)),
                                          _compat.device(first))
    return TrainState(dict(params), dict(getattr(model, "state", {}) or {}), opt, step, seed)


def _init_config(xp: Any, name: str | None, w: Array, config: dict[str, Any],
                 host: bool = False) -> dict[str, Any]:
    """Rule ``name``'s full config for ``w``, numbers as 0-d arrays; with ``host`` (JAX)
    NumPy arrays to be moved in one transfer (``jnp.zeros_like`` would compile per
    shape)."""
    if name is None:
        return dict(config)
    dev = _compat.device(w)
    if host:
        dtype = np.dtype(w.dtype)
        zeros = np.zeros(tuple(w.shape), dtype=dtype)
        config = {**{k: zeros.copy() for k in optim.state_keys(name) if k != "t"}, **config}
    filled = optim.init_config(name, w, config)

    def as_array(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value
        if host:
            return np.asarray(value, dtype=dtype if isinstance(value, float) else None)
        if isinstance(value, float):
            return _compat.from_numpy(value, xp, dtype=w.dtype, device=dev)
        return _compat.from_numpy(value, xp, device=dev)

    return {k: as_array(v) for k, v in filled.items()}


def loss_function(model: Any, checked: bool = True) -> tuple[Callable[..., Any], bool]:
    """``f(params, model_state, X, y, dropout_seed) -> ((loss, grads), model_state)`` and
    whether ``f`` is pure (traceable by ``jax.jit``).

    Models of this library use ``model.apply``; a CS231n-style model whose ``loss``
    takes ``params=`` is pure without state; one whose ``loss(X, y)`` reads
    ``model.params`` gets them assigned first (eager only).
    """
    func = "make_train_step"
    params: Any = getattr(model, "params", None)
    loss: Any = getattr(model, "loss", None)
    ours = is_model(model)
    missing = []
    if not isinstance(params, dict) or not params:
        missing.append("a non-empty params dict (model.params)")
    if not callable(loss) and not ours:
        missing.append("a loss(X, y) method")
    if missing:
        raise TypeError(f"{func}: model {type(model).__name__} lacks " + " and ".join(missing))
    if ours:
        def pure(p: Any, s: Any, X: Array, y: Array, seed: Any) -> Any:
            return model.apply(X, y, params=p, state=s, dropout_seed=seed, checked=checked)

        return pure, True
    if _takes_params(loss):
        def functional(p: Any, s: Any, X: Array, y: Array, seed: Any) -> Any:
            return loss(X, y, params=p), s

        return functional, True

    def assigned(p: Any, s: Any, X: Array, y: Array, seed: Any) -> Any:
        model.params = p
        return loss(X, y), s

    return assigned, False


def _takes_params(fn: Any) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return any(p.name == "params" or p.kind is p.VAR_KEYWORD for p in sig.parameters.values())


def make_train_step(model: Any, update_rule: Any = "sgd", *, checked: bool = True) -> Step:
    """``step(state, X, y) -> (loss, next_state)``: one minibatch of gradient descent.

    The step computes the loss and gradients with ``model.apply`` from
    ``state.params`` and ``state.model_state``, with dropout seeded by
    ``derive_seed(state.seed, state.step)`` (each layer then derives its own), and
    applies ``update_rule`` to every parameter.  It returns a new
    :class:`TrainState`; the input state and the model are left untouched.

    Parameters
    ----------
    model : object
        A model of this library, or any CS231n-style model: ``params`` and
        ``loss(X, y, *, params=None)`` (pure), or ``loss(X, y)`` reading
        ``model.params`` (then the step assigns ``model.params`` first and is not
        traceable).
    update_rule : str or callable
        As for :func:`init_train_state` (use the same one).
    checked : bool
        False skips the argument checks of the layers and of the update rule inside
        the step, for a caller that validated its data once at its boundary (the
        :class:`~portable_layers.Solver` does; see ``model.apply``'s ``checked``).
        The public layer functions always check.

    Returns
    -------
    step : callable
        ``step(state, X, y)``; its attribute ``pure`` says whether it may be
        wrapped in ``jax.jit``.  The model's ``reg`` is read when it runs (when it
        is traced, under ``jax.jit``).

    Raises
    ------
    TypeError
        If the model lacks a params dict or a loss method (the message names what).
    ValueError
        For an unknown update rule.

    Examples
    --------
    On JAX, jit it, or scan it over an epoch's minibatches::

        step = jax.jit(make_train_step(model, "adam"))
        state, losses = jax.lax.scan(lambda s, b: step(s, *b)[::-1], state, (Xs, ys))
    """
    rule, name = _rule("make_train_step", update_rule)
    forward, pure = loss_function(model, checked)
    if not checked and name is not None:
        rule = optim.get_update_rule(name, checked=False)
    dropout = bool(getattr(model, "uses_dropout", False))

    def step(state: TrainState, X: Array, y: Array) -> tuple[Array, TrainState]:
        seed = _compat.derive_seed(state.seed, state.step) if dropout else None
        (loss, grads), model_state = forward(state.params, state.model_state, X, y, seed)
        params, opt = {}, {}
        for k, w in state.params.items():
            params[k], opt[k] = rule(w, grads[k], state.opt_state[k])
        return loss, TrainState(params, model_state, opt, state.step + 1, state.seed)

    step.pure = pure  # type: ignore[attr-defined]
    return step
