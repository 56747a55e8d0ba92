"""What an update rule's config may hold, checked at :mod:`portable_layers.optim`'s
public boundary: errors name the rule and the key (``adam: config['beta1'] must be in
[0, 1), got 1.5``).  Values are checked where they are concrete (not under
``jax.jit``)."""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from ._compat import (
    array_namespace,
    device,
    dtype_name,
    is_array_api_obj,
    is_concrete,
    is_floating,
    library_name,
)
from ._types import Array

Config = dict[str, Any]


class Rule(Protocol):
    """A rule's table entry: its hyperparameters with defaults and its state keys."""

    @property
    def defaults(self) -> dict[str, float]: ...

    @property
    def state(self) -> tuple[str, ...]: ...


# Hyperparameters: (lowest, highest, closed at the lowest); None: no upper bound.
_RANGES: dict[str, tuple[float, float | None, bool]] = {
    "learning_rate": (0.0, None, False), "epsilon": (0.0, None, False),
    "momentum": (0.0, 1.0, True), "decay_rate": (0.0, 1.0, True),
    "beta1": (0.0, 1.0, True), "beta2": (0.0, 1.0, True),
}


def checked(name: str, w: Array, dw: Array, config: Config | None,
            rule: Rule) -> tuple[Any, Config]:
    """Namespace and a new, checked config with defaults and zero state filled in."""
    xp = array_namespace(name, w=w, dw=dw)
    # Integer or complex weights used to pass (an integer w came back float): refuse them.
    for arg, a in (("w", w), ("dw", dw)):
        if not is_floating(xp, a.dtype):
            raise TypeError(f"{name}: {arg} must have a real floating dtype, got {a.dtype}")
    if tuple(dw.shape) != tuple(w.shape):
        raise ValueError(f"{name}: dw must have w's shape {tuple(w.shape)}, got {tuple(dw.shape)}")
    return xp, filled(name, xp, w, config, rule, same_library=True)


def filled(name: str, xp: Any, w: Array, config: Config | None, rule: Rule, *,
           same_library: bool) -> Config:
    """``config`` checked, with ``rule``'s defaults and zero state filled in; state
    arrays of ``w``'s library and device only with ``same_library``."""
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise TypeError(f"{name}: config must be a dict or None, got {type(config).__name__}")
    valid = (*rule.defaults, *rule.state)
    unknown = sorted(set(config) - set(valid))
    if unknown:
        raise ValueError(f"{name}: unknown config keys {unknown}; valid keys are {list(valid)}")
    filled = {**rule.defaults, **config}
    for key in rule.defaults:
        filled[key] = _hyperparameter(name, key, filled[key], xp, w)
    for key in rule.state:
        if key not in filled:
            filled[key] = 0 if key == "t" else xp.zeros_like(w)
        elif key == "t":
            filled[key] = _step_count(name, filled[key])
        else:
            _state_array(name, key, filled[key], xp, w, same_library)
    return filled


def _hyperparameter(name: str, key: str, value: Any, xp: Any, w: Array) -> Any:
    """``value`` checked: a Python float, or a 0-d array of ``w``'s library in its dtype."""
    low, high, closed = _RANGES[key]
    what = f"{name}: config[{key!r}]"
    if is_array_api_obj(value) and getattr(value, "ndim", None) == 0:
        ns = array_namespace(name, **{f"config[{key!r}]": value})
        if ns is not xp or not is_floating(ns, value.dtype):
            if not is_concrete(value):
                raise TypeError(f"{what} must be a number or a 0-d floating array of w's "
                                f"library, got {value!r}")
            value = float(value)  # another library's number: read it on the host
        else:
            if value.dtype != w.dtype:
                value = xp.astype(value, w.dtype)  # no promotion of w
            if not is_concrete(value):
                return value
            number = float(value)
            _in_range(what, number, low, high, closed)
            return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{what} must be a number, got {value!r}")
    if isinstance(value, np.complexfloating):
        raise TypeError(f"{what} must be a real number, got {value!r}")
    number = float(value)  # a NumPy float64 too: Python floats do not promote w
    _in_range(what, number, low, high, closed)
    return number


def _in_range(what: str, number: float, low: float, high: float | None,
              closed: bool) -> None:
    if high is not None:
        if not low <= number < high:
            raise ValueError(f"{what} must be in [{low:g}, {high:g}), got {number!r}")
    elif not (math.isfinite(number) and number > low):
        raise ValueError(f"{what} must be a finite number > 0, got {number!r}")


def _step_count(name: str, t: Any) -> Any:
    """Adam's ``t``: a Python int >= 0, or a 0-d integer array (checked where concrete)."""
    what = f"{name}: config['t']"
    if is_array_api_obj(t):
        ns = array_namespace(name, t=t)
        if t.ndim != 0 or not ns.isdtype(t.dtype, "integral"):
            raise TypeError(f"{what} must be an integer or a 0-d integer array, got {t!r}")
        if is_concrete(t) and int(t) < 0:
            raise ValueError(f"{what} must be an integer >= 0, got {int(t)}")
        return t
    if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer)):
        raise TypeError(f"{what} must be an integer >= 0, got {t!r}")
    if t < 0:
        raise ValueError(f"{what} must be an integer >= 0, got {t!r}")
    return int(t)


def _state_array(name: str, key: str, a: Any, xp: Any, w: Array, same_library: bool) -> None:
    """A state array must have ``w``'s shape and dtype, and (``same_library``) its
    library and device."""
    what = f"{name}: config[{key!r}]"
    if not is_array_api_obj(a):
        raise TypeError(f"{what} must be an array like w, got {type(a).__name__}")
    if tuple(a.shape) != tuple(w.shape):
        raise ValueError(f"{what} must have w's shape {tuple(w.shape)}, got {tuple(a.shape)}")
    if same_library:
        ns = array_namespace(name, **{f"config[{key!r}]": a})
        if ns is not xp:
            raise TypeError(f"{what} must be an array of w's library ({library_name(w)}), "
                            f"got {library_name(a)}")
    if a.dtype != w.dtype:
        raise TypeError(f"{what} must have w's dtype {dtype_name(w.dtype)}, got "
                        f"{dtype_name(a.dtype)}")
    if same_library and is_concrete(a) and is_concrete(w) and device(a) != device(w):
        raise ValueError(f"{what} must be on w's device {device(w)}, got {device(a)}")
