"""Helpers of the CS231n compatibility package: dtype casts and backend moves."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _compat
from .. import _validate as check
from .._types import Array


def cast_like(func: str, x: Array, *params: Array) -> tuple[Array, ...]:
    """``params`` with integer (or bool) arrays cast to ``x``'s floating dtype.

    The course's cells pass ``np.array([0, 128])`` or ``np.asarray([3, 4, 5])`` as
    biases and scales; NumPy promotes them silently, the library refuses them.
    """
    xp = _compat.array_namespace(func, x=x)
    out = []
    for p in params:
        if _compat.is_array_api_obj(p) and not _compat.is_floating(
                _compat.array_namespace(func, p=p), p.dtype):
            if isinstance(p, np.ndarray) and not isinstance(x, np.ndarray):
                p = _compat.from_numpy(p, xp, dtype=x.dtype, device=_compat.device(x))
            else:
                p = xp.astype(p, x.dtype)
        out.append(p)
    return tuple(out)


def resolve(func: str, xp: Any, dtype: Any) -> tuple[Any, Any]:
    """Namespace and floating dtype of a model (``dtype`` NumPy's, a string, or xp's)."""
    ns = _compat.get_namespace("numpy" if xp is None else xp)
    return ns, check.float_dtype(func, ns, dtype)


def move(a: Any, xp: Any, dtype: Any, device: Any) -> Array:
    """``a`` (an array of any backend, or a host value) as ``xp``'s array of ``dtype``."""
    if _compat.is_array_api_obj(a) and _compat.array_namespace("move", a=a) is xp:
        if dtype is None or a.dtype == dtype:
            return a
        return xp.astype(a, dtype)
    return _compat.from_numpy(_compat.to_numpy(a) if _compat.is_array_api_obj(a) else a,
                              xp, dtype=dtype, device=device)


def copy(a: Array) -> Array:
    """A copy of ``a`` that later writes into ``a`` cannot reach."""
    if isinstance(a, np.ndarray):
        return a.copy()
    xp = _compat.array_namespace("copy", a=a)
    return xp.asarray(a, copy=True)


def take_rows(a: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` (host integers) of ``a``, an array of any backend."""
    if isinstance(a, np.ndarray):
        return a[idx]
    xp = _compat.array_namespace("take_rows", a=a)
    return xp.take(a, _compat.from_numpy(idx, xp, device=_compat.device(a)), axis=0)
