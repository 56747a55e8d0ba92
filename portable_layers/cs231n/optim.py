"""CS231n's ``cs231n/optim.py``: the library's update rules, state written back.

Each rule is ``rule(w, dw, config=None) -> (next_w, config)`` with the course's keys
and defaults (see :mod:`portable_layers.optim`).  As in the course, the new state
(``velocity``, ``cache``, ``m``, ``v``, ``t``) and the defaults are written into the
caller's ``config`` dict, which is also the one returned, so a cell can read
``config['velocity']`` after the call.  Keys the rule does not know are kept and
ignored, as ``config.setdefault`` does in the course.  A gradient or state array of
another floating dtype is cast to ``w``'s (the course's NumPy would promote ``w``
instead); the hyperparameters are checked as the library's rules check them.  No
array is written into.

Examples
--------
>>> import numpy as np
>>> config = {"learning_rate": 0.1}
>>> w, out = sgd_momentum(np.array([1.0]), np.array([1.0]), config)
>>> out is config, config["velocity"]
(True, array([-0.1]))
"""

from __future__ import annotations

from typing import Any

from .. import _compat
from .. import optim as _optim
from .._types import Array

__all__ = ["adam", "rmsprop", "sgd", "sgd_momentum"]

Config = dict[str, Any]


def _run(name: str, w: Array, dw: Array, config: Config | None) -> tuple[Array, Config]:
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise TypeError(f"{name}: config must be a dict or None, got {type(config).__name__}")
    known = set(_optim.init_config(name, w))
    xp = _compat.array_namespace(name, w=w)
    given = {k: v for k, v in config.items() if k in known}
    if _compat.is_floating(xp, w.dtype):  # the course's NumPy would promote w silently
        dw, given = _cast(xp, w, dw), {k: _cast(xp, w, v) for k, v in given.items()}
    next_w, new = _optim.get_update_rule(name)(w, dw, given)
    config.update(new)
    return next_w, config


def _cast(xp: Any, w: Array, a: Any) -> Any:
    """A floating array ``a`` of ``w``'s library in ``w``'s dtype (anything else as is)."""
    if (_compat.is_array_api_obj(a) and getattr(a, "ndim", 0) > 0
            and _compat.array_namespace("cs231n.optim", a=a) is xp
            and _compat.is_floating(xp, a.dtype) and a.dtype != w.dtype):
        return xp.astype(a, w.dtype)
    return a


def sgd(w: Array, dw: Array, config: Config | None = None) -> tuple[Array, Config]:
    """Vanilla SGD; ``learning_rate`` (1e-2)."""
    return _run("sgd", w, dw, config)


def sgd_momentum(w: Array, dw: Array, config: Config | None = None) -> tuple[Array, Config]:
    """SGD with momentum; ``learning_rate`` (1e-2), ``momentum`` (0.9), ``velocity``."""
    return _run("sgd_momentum", w, dw, config)


def rmsprop(w: Array, dw: Array, config: Config | None = None) -> tuple[Array, Config]:
    """RMSProp; ``learning_rate`` (1e-2), ``decay_rate`` (0.99), ``epsilon``, ``cache``."""
    return _run("rmsprop", w, dw, config)


def adam(w: Array, dw: Array, config: Config | None = None) -> tuple[Array, Config]:
    """Adam; ``learning_rate`` (1e-3), ``beta1``, ``beta2``, ``epsilon``, ``m``, ``v``, ``t``."""
    return _run("adam", w, dw, config)

