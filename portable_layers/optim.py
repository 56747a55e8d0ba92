"""First-order update rules, CS231n's interface: ``rule(w, dw, config) -> (next_w, config)``.

Each rule is a pure function.  It never writes into ``w`` or into an array held by
``config``; it returns the new weights and a *new* config dict holding the updated
state.  The config keys and defaults are CS231n's:

=================  ===========================================================
rule               hyperparameters (defaults) / state (created on first use)
=================  ===========================================================
``sgd``            learning_rate (1e-2) / none
``sgd_momentum``   learning_rate (1e-2), momentum (0.9) / velocity
``rmsprop``        learning_rate (1e-2), decay_rate (0.99), epsilon (1e-8) / cache
``adam``           learning_rate (1e-3), beta1 (0.9), beta2 (0.999),
                   epsilon (1e-8) / m, v (uncorrected moments), t (step count)
=================  ===========================================================

State arrays start as ``zeros_like(w)``.  Hyperparameters may be Python numbers or
0-d arrays of ``w``'s dtype; adam's ``t`` a Python int or a 0-d integer array.
Under ``jax.jit`` (as in the :class:`~portable_layers.solver.Solver`) every config
entry is an argument of the compiled step, so ``t`` and the hyperparameters become
0-d arrays there; the rules contain no Python branch on array values, so both forms
give the same update.  :func:`init_config` fills in the defaults and the zero
state up front, so a config has the same structure from the first step on (which
lets ``jax.jit`` compile the step once).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ._compat import array_namespace, device, is_floating
from ._types import Array

__all__ = ["UPDATE_RULES", "adam", "get_update_rule", "init_config", "rmsprop", "sgd",
           "sgd_momentum"]

Config = dict[str, Any]
UpdateRule = Callable[[Array, Array, "Config | None"], tuple[Array, Config]]

_DEFAULTS: dict[str, dict[str, float]] = {
    "sgd": {"learning_rate": 1e-2},
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
}
_STATE: dict[str, tuple[str, ...]] = {
    "sgd": (),
    "sgd_momentum": ("velocity",),
    "rmsprop": ("cache",),
    "adam": ("m", "v", "t"),
}


def _prepare(func: str, w: Array, dw: Array, config: Config | None) -> tuple[Any, Config]:
    """Namespace and a new config with defaults and zero state filled in."""
    xp = array_namespace(func, w=w, dw=dw)
    # Integer or complex weights used to pass (an integer w came back float, a float32
    # w with a float64 dw came back float64): refuse them instead.
    for name, a in (("w", w), ("dw", dw)):
        if not is_floating(xp, a.dtype):
            raise TypeError(f"{func}: {name} must have a real floating dtype, got {a.dtype}")
    if dw.dtype != w.dtype:
        raise TypeError(f"{func}: dw must have w's dtype {w.dtype}, got {dw.dtype}")
    if tuple(dw.shape) != tuple(w.shape):
        raise ValueError(f"{func}: dw must have w's shape {tuple(w.shape)}, got {tuple(dw.shape)}")
    return xp, _filled(func, w, config)


def _filled(func: str, w: Array, config: Config | None) -> Config:
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise TypeError(f"{func}: config must be a dict or None, got {type(config).__name__}")
    valid = (*_DEFAULTS[func], *_STATE[func])
    unknown = sorted(set(config) - set(valid))
    if unknown:
        raise ValueError(f"{func}: unknown config keys {unknown}; valid keys are {list(valid)}")
    xp = array_namespace(func, w=w)
    filled = {**_DEFAULTS[func], **config}
    for key in _STATE[func]:
        if key not in filled:
            filled[key] = 0 if key == "t" else xp.zeros_like(w)
    return filled


def sgd(w: Array, dw: Array, config: Config | None = None) -> tuple[Array, Config]:
    """Vanilla stochastic gradient descent: ``w - learning_rate * dw``.

    Parameters
    ----------
    w, dw : floating arrays of one shape
        Weights and their gradient.
    config : dict, optional
        ``learning_rate`` (default 1e-2).

    Returns
    -------
    next_w : array like ``w``
    config : dict
        A new dict with every key filled in.

    Examples
    --------
    >>> import numpy as np
    >>> sgd(np.array([1.0, 2.0]), np.array([10.0, -10.0]))[0]
    array([0.9, 2.1])
    """
    _, config = _prepare("sgd", w, dw, config)
    return w - config["learning_rate"] * dw, config


def sgd_momentum(w: Array, dw: Array, config: Config | None = None) -> tuple[Array, Config]:
    """SGD with momentum: ``v = momentum * v - learning_rate * dw; w + v``.

    Parameters
    ----------
    w, dw : floating arrays of one shape
    config : dict, optional
        ``learning_rate`` (1e-2), ``momentum`` (0.9), ``velocity`` (zeros like w).

    Returns
    -------
    next_w : array like ``w``
    config : dict
        A new dict holding the new ``velocity``.

    Examples
    --------
    >>> import numpy as np
    >>> w, config = sgd_momentum(np.array([1.0]), np.array([10.0]))
    >>> w, config["velocity"]
    (array([0.9]), array([-0.1]))
    """
    _, config = _prepare("sgd_momentum", w, dw, config)
    v = config["momentum"] * config["velocity"] - config["learning_rate"] * dw
    return w + v, {**config, "velocity": v}


def rmsprop(w: Array, dw: Array, config: Config | None = None) -> tuple[Array, Config]:
    """RMSProp: a running average of squared gradients scales each step.

    ``cache = decay_rate * cache + (1 - decay_rate) * dw**2``;
    ``w - learning_rate * dw / (sqrt(cache) + epsilon)``.

    Parameters
    ----------
    w, dw : floating arrays of one shape
    config : dict, optional
        ``learning_rate`` (1e-2), ``decay_rate`` (0.99), ``epsilon`` (1e-8),
        ``cache`` (zeros like w).

    Returns
    -------
    next_w : array like ``w``
    config : dict
        A new dict holding the new ``cache``.

    Examples
    --------
    >>> import numpy as np
    >>> w, config = rmsprop(np.array([1.0]), np.array([2.0]))
    >>> np.round(w, 4)
    array([0.9])
    """
    xp, config = _prepare("rmsprop", w, dw, config)
    decay = config["decay_rate"]
    cache = decay * config["cache"] + (1 - decay) * (dw * dw)
    next_w = w - config["learning_rate"] * dw / (xp.sqrt(cache) + config["epsilon"])
    return next_w, {**config, "cache": cache}


def adam(w: Array, dw: Array, config: Config | None = None) -> tuple[Array, Config]:
    """Adam: bias-corrected running averages of the gradient and its square.

    ``t += 1``; ``m = beta1 * m + (1 - beta1) * dw``;
    ``v = beta2 * v + (1 - beta2) * dw**2``;
    ``w - learning_rate * mhat / (sqrt(vhat) + epsilon)`` with
    ``mhat = m / (1 - beta1**t)`` and ``vhat = v / (1 - beta2**t)``.  The config
    stores ``m`` and ``v`` uncorrected and the incremented ``t``.

    Parameters
    ----------
    w, dw : floating arrays of one shape
    config : dict, optional
        ``learning_rate`` (1e-3), ``beta1`` (0.9), ``beta2`` (0.999), ``epsilon``
        (1e-8), ``m`` and ``v`` (zeros like w), ``t`` (0; a Python int or a 0-d
        integer array).

    Returns
    -------
    next_w : array like ``w``
    config : dict
        A new dict holding the new ``m``, ``v`` and ``t``.

    Examples
    --------
    >>> import numpy as np
    >>> w, config = adam(np.array([1.0]), np.array([5.0]))
    >>> np.round(w, 6), config["t"]
    (array([0.999]), 1)
    """
    xp, config = _prepare("adam", w, dw, config)
    return _adam(xp, w, dw, config)


def _adam(xp: Any, w: Array, dw: Array, config: Config) -> tuple[Array, Config]:
    """:func:`adam` without its checks, on a config with every key filled in."""
    b1, b2 = config["beta1"], config["beta2"]
    t = config["t"] + 1
    # t as w's dtype, whether a Python int, a 0-d integer array or a JAX tracer.
    tf = xp.astype(xp.asarray(t, device=device(w)), w.dtype)
    m = b1 * config["m"] + (1 - b1) * dw
    v = b2 * config["v"] + (1 - b2) * (dw * dw)
    mhat = m / (1 - b1**tf)
    vhat = v / (1 - b2**tf)
    next_w = w - config["learning_rate"] * mhat / (xp.sqrt(vhat) + config["epsilon"])
    return next_w, {**config, "m": m, "v": v, "t": t}


UPDATE_RULES: dict[str, UpdateRule] = {
    "sgd": sgd,
    "sgd_momentum": sgd_momentum,
    "rmsprop": rmsprop,
    "adam": adam,
}


def get_update_rule(name: str) -> UpdateRule:
    """The update rule called ``name`` (a key of :data:`UPDATE_RULES`).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid ones.

    Examples
    --------
    >>> get_update_rule("adam").__name__
    'adam'
    """
    if not isinstance(name, str) or name not in UPDATE_RULES:
        msg = f"get_update_rule: name must be one of {sorted(UPDATE_RULES)}, got {name!r}"
        raise ValueError(msg)
    return UPDATE_RULES[name]


def init_config(name: str, w: Array, config: Config | None = None) -> Config:
    """A full config for rule ``name`` and weights ``w``: defaults plus zero state.

    Calling the rule with this config gives the same result as calling it with
    ``config``; the point is that the config's structure (its keys) does not change
    on the first step, so a step compiled by ``jax.jit`` is compiled once.

    Examples
    --------
    >>> import numpy as np
    >>> sorted(init_config("adam", np.zeros(2), {"learning_rate": 0.1}))
    ['beta1', 'beta2', 'epsilon', 'learning_rate', 'm', 't', 'v']
    """
    get_update_rule(name)
    return _filled(name, w, config)


def _unchecked(name: str, xp: Any) -> UpdateRule:
    """Rule ``name`` without its argument checks where it has such a form, for a caller
    that owns full configs (:func:`init_config`) and gradients it computed itself."""
    if name == "adam":
        return functools.partial(_adam, xp)
    return get_update_rule(name)


def _state_keys(name: str) -> tuple[str, ...]:
    """The keys of rule ``name``'s state in its config (``("m", "v", "t")`` for adam)."""
    get_update_rule(name)
    return _STATE[name]


def _adam_in_place(w: Array, dw: Array, config: Config) -> tuple[Array, Config]:
    """:func:`adam` for NumPy buffers its caller owns: ``w``, ``m``, ``v`` and ``dw`` are
    written into (the same arithmetic, in the same order, as :func:`adam`).

    Not public: the update rules stay pure.  The Solver uses it on NumPy, where it owns
    its copy of the parameters and its optimiser state, to save the temporaries.
    """
    import numpy as np

    b1, b2, lr = config["beta1"], config["beta2"], config["learning_rate"]
    t = config["t"] + 1
    tf = np.asarray(t).astype(w.dtype)
    m, v = config["m"], config["v"]
    np.multiply(m, b1, out=m)
    m += (1 - b1) * dw
    np.multiply(dw, dw, out=dw)
    np.multiply(v, b2, out=v)
    np.multiply(dw, 1 - b2, out=dw)
    v += dw
    step = np.divide(m, 1 - b1**tf, out=dw)  # mhat, in dw's buffer
    np.multiply(lr, step, out=step)
    denom = np.divide(v, 1 - b2**tf)  # vhat
    np.sqrt(denom, out=denom)
    denom += config["epsilon"]
    step /= denom
    w -= step
    return w, {**config, "t": t}


def _adam_owned(w: Array, dw: Array, config: Config) -> tuple[Array, Config]:
    """:func:`adam` for mutable arrays its caller owns (PyTorch, array_api_strict):
    ``w``, ``m``, ``v`` and ``dw`` are updated with the standard's in-place operators,
    the hyperparameters and bias corrections as Python numbers.

    Not public, like :func:`_adam_in_place` (NumPy's form, which also avoids the
    temporaries with ``out=``): per parameter and step it dispatches thirteen array
    operations instead of about twenty (counted in the code), which is what an eager
    step on small arrays costs.
    """
    b1, b2 = float(config["beta1"]), float(config["beta2"])
    lr, eps = float(config["learning_rate"]), float(config["epsilon"])
    t = config["t"] + 1  # of the type it came in (a 0-d array in a TrainState)
    m, v, n = config["m"], config["v"], int(t)
    m *= b1
    m += (1 - b1) * dw
    dw *= dw
    v *= b2
    v += (1 - b2) * dw
    step = (lr / (1 - b1**n)) * m
    step /= (v / (1 - b2**n)) ** 0.5 + eps
    w -= step
    return w, {**config, "t": t}

