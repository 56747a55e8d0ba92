"""First-order update rules, CS231n's interface: ``rule(w, dw, config) -> (next_w, config)``.

Each rule is a pure function.  It never writes into ``w`` or into an array held by
``config``; it returns the new weights and a *new* config dict holding the updated
state.  The config keys and defaults are CS231n's:

| rule | hyperparameters (defaults) | state (created on first use) |
|---|---|---|
| `sgd` | learning_rate (1e-2) | none |
| `sgd_momentum` | learning_rate (1e-2), momentum (0.9) | velocity |
| `rmsprop` | learning_rate (1e-2), decay_rate (0.99), epsilon (1e-8) | cache |
| `adam` | learning_rate (1e-3), beta1 (0.9), beta2 (0.999), epsilon (1e-8) | m, v, t |

Adam's ``m`` and ``v`` are the uncorrected moments, ``t`` the step count.

State arrays start as ``zeros_like(w)``.  The config is checked at every call: the
learning rate a finite number > 0, ``momentum``, ``decay_rate`` and the betas in
[0, 1), ``epsilon`` > 0, ``t`` an integer >= 0, and each state array of ``w``'s shape,
dtype, library and device.  Hyperparameters may be Python or NumPy numbers or 0-d
arrays; none of them changes ``w``'s dtype (float32 stays float32).  Under
``jax.jit`` every config entry is an argument of the compiled step, so ``t`` and the
hyperparameters become 0-d arrays there (their values are then not checked); the
rules contain no Python branch on array values, so both forms give the same update.
:func:`init_config` fills in the defaults and the zero state up front, so a config
has the same structure from the first step on (which lets ``jax.jit`` compile the
step once).

Each rule's arithmetic is written once (``_sgd`` ... ``_adam`` below);
:func:`get_update_rule` gives it with the checks switched off, or writing into
buffers its caller owns, for the :class:`~portable_layers.solver.Solver`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple, cast

from . import _optim_checks as _checks
from ._compat import array_namespace, device
from ._types import Array

__all__ = ["UPDATE_RULES", "adam", "get_update_rule", "init_config", "rmsprop", "sgd",
           "sgd_momentum", "state_keys"]

Config = dict[str, Any]
UpdateRule = Callable[[Array, Array, "Config | None"], tuple[Array, Config]]


# -- the arithmetic, each rule once ------------------------------------------------------
#
# ``owned`` says whose arrays ``w``, ``dw`` and the state arrays are.  False (the public
# rules): the caller's, and every result is a new array.  True (the Solver, which owns
# its copy of the parameters, its optimiser state and the gradients it just computed):
# the first operation on each writes into it, which saves the temporaries (bench_step,
# part d).  The operations and their order are the same either way; the in-place
# operators that follow touch only arrays made here (on JAX and Dask they rebind).


def _times(a: Array, s: Any, owned: bool) -> Array:
    """``a * s``, written into ``a`` when the caller owns it."""
    if owned:
        a *= s
        return a
    return a * s


def _minus(a: Array, b: Array, owned: bool) -> Array:
    """``a - b``, written into ``a`` when the caller owns it."""
    if owned:
        a -= b
        return a
    return a - b


def _plus(a: Array, b: Array, owned: bool) -> Array:
    """``a + b``, written into ``a`` when the caller owns it."""
    if owned:
        a += b
        return a
    return a + b


def _sgd(xp: Any, w: Array, dw: Array, c: Config, owned: bool) -> tuple[Array, Config]:
    return _minus(w, _times(dw, c["learning_rate"], owned), owned), {}


def _sgd_momentum(xp: Any, w: Array, dw: Array, c: Config,
                  owned: bool) -> tuple[Array, Config]:
    v = _times(c["velocity"], c["momentum"], owned)
    v -= _times(dw, c["learning_rate"], owned)
    return _plus(w, v, owned), {"velocity": v}


def _rmsprop(xp: Any, w: Array, dw: Array, c: Config, owned: bool) -> tuple[Array, Config]:
    decay = c["decay_rate"]
    g2 = dw * dw
    g2 *= 1 - decay
    cache = _times(c["cache"], decay, owned)
    cache += g2
    den = xp.sqrt(cache)
    den += c["epsilon"]
    step = _times(dw, c["learning_rate"], owned)
    step /= den
    return _minus(w, step, owned), {"cache": cache}


def _adam(xp: Any, w: Array, dw: Array, c: Config, owned: bool) -> tuple[Array, Config]:
    b1, b2 = c["beta1"], c["beta2"]
    t = c["t"] + 1  # of the type it came in (a 0-d array in a TrainState)
    c1, c2 = _bias_corrections(xp, w, b1, b2, int(t) if owned else t)
    m = _times(c["m"], b1, owned)
    m += (1 - b1) * dw
    g2 = _times(dw, dw, owned)
    g2 *= 1 - b2
    v = _times(c["v"], b2, owned)
    v += g2
    den = xp.sqrt(v)  # sqrt(vhat) + epsilon, vhat = v / (1 - beta2**t)
    den /= c2
    den += c["epsilon"]
    step = m * (c["learning_rate"] / c1)  # learning_rate * mhat, mhat = m / (1 - beta1**t)
    step /= den
    return _minus(w, step, owned), {"m": m, "v": v, "t": t}


def _bias_corrections(xp: Any, w: Array, b1: Any, b2: Any, t: Any) -> tuple[Any, Any]:
    """``1 - b1**t`` and ``sqrt(1 - b2**t)``: Python floats from Python numbers, else 0-d
    arrays of ``w``'s dtype (``t`` may be a 0-d integer array or a JAX tracer)."""
    if all(isinstance(x, (int, float)) for x in (b1, b2, t)):
        return 1 - b1**t, math.sqrt(1 - b2**t)
    tf = xp.astype(xp.asarray(t, device=device(w)), w.dtype)
    return 1 - b1**tf, xp.sqrt(1 - b2**tf)


class _Rule(NamedTuple):
    defaults: dict[str, float]
    state: tuple[str, ...]
    update: Callable[[Any, Array, Array, Config, bool], tuple[Array, Config]]


_RULES: dict[str, _Rule] = {
    "sgd": _Rule({"learning_rate": 1e-2}, (), _sgd),
    "sgd_momentum": _Rule({"learning_rate": 1e-2, "momentum": 0.9}, ("velocity",),
                          _sgd_momentum),
    "rmsprop": _Rule({"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
                     ("cache",), _rmsprop),
    "adam": _Rule({"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
                  ("m", "v", "t"), _adam),
}
_DEFAULTS = {name: rule.defaults for name, rule in _RULES.items()}


def _run(name: str, w: Array, dw: Array, config: Config | None, *, checked: bool = True,
         owned: bool = False) -> tuple[Array, Config]:
    """Rule ``name``: the one place its checks are switched (``checked``) and its
    buffers chosen (``owned``)."""
    if checked:
        xp, config = _checks.checked(name, w, dw, config, _RULES[name])
    else:  # a full config (init_config) and gradients the caller computed itself
        xp = array_namespace(name, w=w)
    c = cast(Config, config)
    if owned:  # eager: hyperparameters as host numbers, no 0-d array operations
        c = {**c, **{k: float(c[k]) for k in _RULES[name].defaults}}
    next_w, state = _RULES[name].update(xp, w, dw, c, owned)
    return next_w, {**cast(Config, config), **state}


# -- the public rules ------------------------------------------------------------------


def sgd(w: Array, dw: Array, config: Config | None = None) -> tuple[Array, Config]:
    """Vanilla stochastic gradient descent: ``w - learning_rate * dw``.

    Returns and raises as :func:`sgd` does; the new config holds the new ``velocity``.

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

    Raises
    ------
    TypeError, ValueError
        For a bad argument or config entry; the message names the rule and the key.

    Examples
    --------
    >>> import numpy as np
    >>> sgd(np.array([1.0, 2.0]), np.array([10.0, -10.0]))[0]
    array([0.9, 2.1])
    """
    return _run("sgd", w, dw, config)


def sgd_momentum(w: Array, dw: Array, config: Config | None = None) -> tuple[Array, Config]:
    """SGD with momentum: ``v = momentum * v - learning_rate * dw; w + v``.

    Returns and raises as :func:`sgd` does; the new config holds the new ``velocity``.

    Parameters
    ----------
    w, dw : floating arrays of one shape
    config : dict, optional
        ``learning_rate`` (1e-2), ``momentum`` (0.9), ``velocity`` (zeros like w).

    Examples
    --------
    >>> import numpy as np
    >>> w, config = sgd_momentum(np.array([1.0]), np.array([10.0]))
    >>> w, config["velocity"]
    (array([0.9]), array([-0.1]))
    """
    return _run("sgd_momentum", w, dw, config)


def rmsprop(w: Array, dw: Array, config: Config | None = None) -> tuple[Array, Config]:
    """RMSProp: a running average of squared gradients scales each step.

    ``cache = decay_rate * cache + (1 - decay_rate) * dw**2``;
    ``w - learning_rate * dw / (sqrt(cache) + epsilon)``.

    Returns and raises as :func:`sgd` does; the new config holds the new ``cache``.

    Parameters
    ----------
    w, dw : floating arrays of one shape
    config : dict, optional
        ``learning_rate`` (1e-2), ``decay_rate`` (0.99), ``epsilon`` (1e-8),
        ``cache`` (zeros like w).

    Examples
    --------
    >>> import numpy as np
    >>> w, config = rmsprop(np.array([1.0]), np.array([2.0]))
    >>> np.round(w, 4)
    array([0.9])
    """
    return _run("rmsprop", w, dw, config)


def adam(w: Array, dw: Array, config: Config | None = None) -> tuple[Array, Config]:
    """Adam: bias-corrected running averages of the gradient and its square.

    ``t += 1``; ``m = beta1 * m + (1 - beta1) * dw``;
    ``v = beta2 * v + (1 - beta2) * dw**2``;
    ``w - learning_rate * mhat / (sqrt(vhat) + epsilon)`` with
    ``mhat = m / (1 - beta1**t)`` and ``vhat = v / (1 - beta2**t)``.  The config
    stores ``m`` and ``v`` uncorrected and the incremented ``t``.

    Returns and raises as :func:`sgd` does (e.g. ``adam: config['beta1'] must be in
    [0, 1), got 1.5``); the new config holds the new ``m``, ``v`` and ``t``.

    Parameters
    ----------
    w, dw : floating arrays of one shape
    config : dict, optional
        ``learning_rate`` (1e-3), ``beta1`` (0.9), ``beta2`` (0.999), ``epsilon``
        (1e-8), ``m`` and ``v`` (zeros like w), ``t`` (0; a Python int or a 0-d
        integer array).

    Examples
    --------
    >>> import numpy as np
    >>> w, config = adam(np.array([1.0]), np.array([5.0]))
    >>> np.round(w, 6), config["t"]
    (array([0.999]), 1)
    """
    return _run("adam", w, dw, config)


UPDATE_RULES: dict[str, UpdateRule] = {
    "sgd": sgd,
    "sgd_momentum": sgd_momentum,
    "rmsprop": rmsprop,
    "adam": adam,
}


def get_update_rule(name: str, *, checked: bool = True, owned: bool = False) -> UpdateRule:
    """The update rule called ``name`` (a key of :data:`UPDATE_RULES`).

    Parameters
    ----------
    name : str
    checked : bool
        False: the rule without its checks, for a caller that validated the config
        once (:func:`init_config`) and computed the gradients itself (the Solver's
        step).  The config must then be full (every key of :func:`init_config`).
    owned : bool
        True: the rule writes into ``w``, ``dw`` and the state arrays, for a caller
        that owns them and gives them up (the Solver on NumPy, PyTorch and
        array_api_strict).  The result is the pure rule's.

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
    if checked and not owned:
        return UPDATE_RULES[name]
    rule = functools.partial(_run, name, checked=checked, owned=owned)
    return functools.update_wrapper(rule, UPDATE_RULES[name])


def state_keys(name: str) -> tuple[str, ...]:
    """The keys of rule ``name``'s state in its config (``("m", "v", "t")`` for adam).

    Examples
    --------
    >>> state_keys("sgd_momentum")
    ('velocity',)
    """
    get_update_rule(name)
    return _RULES[name].state


def init_config(name: str, w: Array, config: Config | None = None) -> Config:
    """A full config for rule ``name`` and weights ``w``: defaults plus zero state.

    Calling the rule with this config gives the same result as calling it with
    ``config``; the point is that the config's structure (its keys) does not change
    on the first step, so a step compiled by ``jax.jit`` is compiled once.  The
    hyperparameters are checked as the rule checks them, and state arrays for their
    shape and dtype (they may be host arrays for now, moved later in one transfer).

    Examples
    --------
    >>> import numpy as np
    >>> sorted(init_config("adam", np.zeros(2), {"learning_rate": 0.1}))
    ['beta1', 'beta2', 'epsilon', 'learning_rate', 'm', 't', 'v']
    """
    get_update_rule(name)
    xp = array_namespace(name, w=w)
    return _checks.filled(name, xp, w, config, _RULES[name], same_library=False)
