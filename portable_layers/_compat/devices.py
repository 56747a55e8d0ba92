"""Device guards: one device for all arrays of a call (run by every namespace lookup,
:func:`portable_layers._compat.array_namespace`), and a device the backend really has
(the models' ``device=`` and :func:`portable_layers._compat.from_numpy`).
:mod:`portable_layers._validate` re-exports both names.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from .._types import Array, Namespace


def same_device(func: str, **arrays: Array) -> None:
    """Require every keyword-named array to be on one device; the error names ``func``,
    both arguments and both devices (as the mixing-libraries error names both libraries).

    O(1) per array and jit-safe; plain NumPy arrays, all on the CPU, are let through
    without a lookup, and an array whose device is unknown (a JAX tracer reports None)
    is not compared.
    """
    if all(type(a) is np.ndarray for a in arrays.values()):  # one device: skip the lookups
        return
    known = [(name, _device_of(a)) for name, a in arrays.items()]
    # JAX: a tracer reports None, and an array sharded over several devices its sharding
    # (which jit reconciles itself): neither is compared.
    known = [(name, where) for name, where in known
             if where is not None and not hasattr(where, "device_set")]
    if not known:
        return
    first, where = known[0]
    for name, other in known[1:]:
        if other != where:
            msg = (f"{func}: all arrays must be on one device, but {first} is on {where!r} "
                   f"and {name} is on {other!r}")
            raise ValueError(msg)


def beside(x: Array) -> dict[str, Any]:
    """The ``device=`` keyword that puts a new array on ``x``'s device, as
    ``device=device(x)`` does; empty for a NumPy array (all on the CPU), where
    array-api-compat's lookup and check of the keyword take 3 of the 4 microseconds a
    0-d constant costs, which a layer on a small batch notices."""
    return {} if type(x) is np.ndarray else {"device": array_api_compat.device(x)}


def _device_of(a: Array) -> Any:
    """``a``'s device, or None for a library that cannot say (no ``device`` attribute)."""
    try:
        return array_api_compat.device(a)
    except (AttributeError, TypeError, NotImplementedError):
        return None


def known_device(func: str, xp: Namespace, device: Any) -> Any:
    """Require ``device`` (None: the default) to be a device that ``xp``'s library has;
    return it.  Tried with an empty array, so nothing is allocated; the error names the
    backend and the device."""
    if device is None:
        return None
    try:
        xp.empty((0,), device=device)
    except Exception as err:  # each library has its own error (RuntimeError, ValueError, ...)
        backend = getattr(xp, "__name__", type(xp).__name__).removeprefix("array_api_compat.")
        msg = (f"{func}: the backend {backend} has no device {device!r} "
               f"({type(err).__name__}: {err})")
        raise ValueError(msg) from None
    return device
