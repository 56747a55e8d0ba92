"""Checks at the public boundary: each raises a ValueError or TypeError naming the
function, the argument and the shapes or values involved.

Shape and dtype checks are O(1) and work under ``jax.jit`` (shapes are static there).
Value checks (labels in range) run only where values are concrete; see
:func:`portable_layers._compat.is_concrete`.
"""

from __future__ import annotations

import contextvars
import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import array_api_compat
import numpy as np

from . import _compat
from ._compat import array_namespace, is_array_api_obj, is_concrete, is_floating, is_integral
from ._compat.devices import known_device as known_device  # re-exported: check.known_device
from ._compat.devices import same_device as same_device
from ._types import Array, Namespace

# -- the one switch of the layers' checks ---------------------------------------------------

_TRUSTED: contextvars.ContextVar[Any] = contextvars.ContextVar("trusted", default=None)


def enabled() -> bool:
    """Whether the layers check their arguments: True except inside :func:`skipped`.

    The public layer functions consult it (through :func:`trusted`), so the checked and
    the unchecked paths are the same functions (same names, same signatures), switched
    here and nowhere else.
    """
    return _TRUSTED.get() is None


def trusted() -> Namespace | None:
    """The namespace a caller vouched for with :func:`skipped`; None while checks run."""
    return _TRUSTED.get()


class skipped:
    """Switch the layers' argument checks off inside the block (this thread or task only).

    For a caller that validated its data once at its boundary, as the
    :class:`~portable_layers.Solver`'s step does (``model.apply(..., checked=False)``),
    and found it all in namespace ``xp``, which the layers then use without looking it
    up.  The arithmetic is unchanged, only the checks are skipped.
    """

    def __init__(self, xp: Namespace) -> None:
        self._xp = xp

    def __enter__(self) -> None:
        self._token = _TRUSTED.set(self._xp)

    def __exit__(self, *exc: object) -> None:
        _TRUSTED.reset(self._token)


def floating(func: str, name: str, x: Array, xp: Namespace) -> None:
    """Require a real floating-point array."""
    if not is_floating(xp, x.dtype):
        msg = f"{func}: {name} must have a real floating dtype, got {x.dtype}"
        raise TypeError(msg)


def ndim(func: str, name: str, x: Array, expected: int | str) -> None:
    """Require ``x.ndim == expected``; ``expected`` may be ">=2" for a lower bound."""
    if isinstance(expected, str):
        low = int(expected.removeprefix(">="))
        if x.ndim < low:
            msg = f"{func}: {name} must have at least {low} dimensions, got shape {tuple(x.shape)}"
            raise ValueError(msg)
    elif x.ndim != expected:
        msg = f"{func}: {name} must have {expected} dimensions, got shape {tuple(x.shape)}"
        raise ValueError(msg)


def shape(func: str, name: str, x: Array, expected: tuple[Any, ...], hint: str = "") -> None:
    """Require ``x.shape == expected``; ``hint`` spells the expected shape symbolically."""
    if tuple(x.shape) != tuple(expected):
        want = hint or str(tuple(expected))
        msg = f"{func}: {name} must have shape {want}, got {tuple(x.shape)}"
        raise ValueError(msg)


def dout_like(func: str, dout: Array, out_shape: tuple[Any, ...]) -> None:
    """Require the upstream gradient to be a real floating array of the output's shape.

    (An integer, boolean or complex ``dout`` used to pass and give a gradient of that
    dtype, silently truncated or complex.)
    """
    if not is_floating(array_namespace(func, dout=dout), dout.dtype):
        msg = f"{func}: dout must have a real floating dtype, got {dout.dtype}"
        raise TypeError(msg)
    if tuple(dout.shape) != tuple(out_shape):
        msg = (
            f"{func}: dout must have the forward output's shape {tuple(out_shape)}, "
            f"got {tuple(dout.shape)}"
        )
        raise ValueError(msg)


def labels(func: str, y: Array, n: int, num_classes: int, xp: Namespace) -> bool:
    """Require integer labels of shape (n,) with values in [0, num_classes).

    The range is checked where the values are concrete, and then True is returned;
    for traced (``jax.jit``) or lazy (Dask) labels it returns False, and the losses
    fold the check into their result as NaN instead (JAX would otherwise clamp the
    index silently).
    """
    if not is_integral(xp, y.dtype):
        msg = f"{func}: y must hold integer class labels, got dtype {y.dtype}"
        raise TypeError(msg)
    shape(func, "y", y, (n,), hint=f"(N,) = ({n},) to match x")
    if n == 0:
        return True
    if not is_concrete(y):
        return False
    low_arr, high_arr = xp.min(y), xp.max(y)
    if not is_concrete(low_arr):  # a concrete y captured inside a JAX trace
        return False
    low, high = int(low_arr), int(high_arr)
    if low < 0 or high >= num_classes:
        msg = (
            f"{func}: y must hold labels in [0, {num_classes}) for x with {num_classes} "
            f"classes, got values from {low} to {high}"
        )
        raise ValueError(msg)
    return True


def nonempty(func: str, name: str, x: Array) -> None:
    """Require at least one sample along the first axis."""
    if x.shape[0] == 0:
        msg = f"{func}: {name} must hold at least one sample, got shape {tuple(x.shape)}"
        raise ValueError(msg)


# -- Parameter dicts and image models' shapes ----------------------------------------


def mapping(func: str, name: str, value: Any) -> Mapping[str, Any]:
    """Require a dict-like parameter argument (``conv_param``, ``bn_param``, ...); return it."""
    if not isinstance(value, Mapping):
        msg = f"{func}: {name} must be a dict, got {type(value).__name__}"
        raise TypeError(msg)
    return value


def image_shape(func: str, value: Any) -> tuple[int, int, int]:
    """Require an image model's ``input_dim``: a sequence ``(C, H, W)`` of positive ints."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 3:
        raise ValueError(f"{func}: input_dim must be a tuple (C, H, W), got {value!r}")
    c, h, w = (positive_int(func, f"input_dim[{i}]", v) for i, v in enumerate(value))
    return c, h, w


def images(func: str, X: Any, input_shape: tuple[int, int, int]) -> None:
    """Require images ``X`` of shape (N, C, H, W) with ``(C, H, W) == input_shape``."""
    if getattr(X, "ndim", None) != 4 or tuple(X.shape[1:]) != input_shape:
        c, h, w = input_shape
        msg = (f"{func}: X must have shape (N, {c}, {h}, {w}) "
               f"(images N, C, H, W), got {tuple(getattr(X, 'shape', ()))}")
        raise ValueError(msg)


def mode(func: str, name: str, params: Mapping[str, Any]) -> str:
    """``params['mode']``, which must be ``'train'`` or ``'test'`` (``bn_param``, ...)."""
    value = params.get("mode")
    if value not in ("train", "test"):
        raise ValueError(f"{func}: {name}['mode'] must be 'train' or 'test', got {value!r}")
    return value


# -- Python-number arguments (layers' parameters, models, Solver, data, distributed) -----


def _index(value: Any) -> int | None:
    """``value`` as a Python int when it is an integer: a Python or NumPy integer or a 0-d
    integer array of any library; None for anything else (bools, floats, larger arrays,
    which ``operator.index`` alone lets through for PyTorch's one-element tensors)."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if is_array_api_obj(value) and (getattr(value, "ndim", None) != 0 or not is_integral(
            array_api_compat.array_namespace(value), value.dtype)):
        return None
    try:
        return operator.index(value)
    except TypeError:  # not an integer, or a traced one
        return None


def integer_type(func: str, name: str, value: Any) -> int:
    """Require an integer (TypeError otherwise: for sizes whose range is checked apart,
    e.g. against a dimension they must divide); return it as an int."""
    number = _index(value)
    if number is None:
        raise TypeError(f"{func}: {name} must be an int, got {value!r}")
    return number


def integer(func: str, name: str, value: Any, *, low: int = 0, allow_none: bool = False,
            want: str | None = None) -> Any:
    """Require an integer ``>= low`` (``None`` too with ``allow_none``); return it as an int.

    Python and NumPy integers and 0-d integer arrays count; booleans do not.  The
    message says ``{name} must be {want}``, ``want`` by default ``"an integer >= {low}"``.
    """
    if allow_none and value is None:
        return None
    number = _index(value)
    if number is None or number < low:
        none = " or None" if allow_none else ""
        raise ValueError(f"{func}: {name} must be {want or f'an integer >= {low}'}{none}, "
                         f"got {value!r}")
    return number


def positive_int(func: str, name: str, value: Any, *, allow_none: bool = False) -> Any:
    """Require a positive integer (``None`` too with ``allow_none``); return it as an int."""
    return integer(func, name, value, low=1, allow_none=allow_none, want="a positive integer")


def seed(func: str, value: Any) -> int | None:
    """Require a seed: None or a non-negative integer (Python, NumPy or 0-d array).

    TypeError for another kind (a float, a string, a bool), ValueError for a negative one.
    """
    if value is None:
        return None
    number = _index(value)
    if number is None:
        raise TypeError(f"{func}: seed must be a non-negative integer or None, got {value!r}")
    if number < 0:
        raise ValueError(f"{func}: seed must be a non-negative integer or None, got {value!r}")
    return number


def float_dtype(func: str, xp: Namespace, dtype: Any) -> Any:
    """The floating dtype of ``xp`` that ``dtype`` names: the one resolver of the package.

    ``dtype`` is None (float64 where ``xp`` has it, else float32), ``"float32"`` or
    ``"float64"``, or a dtype object of ``xp`` or NumPy.  A string naming anything else is
    a ValueError; a dtype object that is not float32 or float64 (an integer dtype) is a
    TypeError; float64 on JAX without x64 is a ValueError saying how to enable it.
    """
    if dtype is None:
        return xp.float64 if _compat.supports_float64(xp) else xp.float32
    if isinstance(dtype, str):
        if dtype not in ("float32", "float64"):
            raise ValueError(f"{func}: dtype must be 'float32' or 'float64', got {dtype!r}")
        name = dtype
    else:
        try:
            name = _compat.dtype_name(dtype)
        except Exception:  # an object no library reads as a dtype
            name = ""
        if name not in ("float32", "float64"):
            raise TypeError(f"{func}: dtype must be a floating dtype (float32 or float64), "
                            f"got {dtype!r}")
    if name == "float64" and not _compat.supports_float64(xp):
        msg = (f"{func}: float64 on JAX needs x64 enabled "
               "(jax.config.update('jax_enable_x64', True)), or pass dtype='float32'")
        raise ValueError(msg)
    return getattr(xp, name)


def integer_item(func: str, name: str, params: Mapping[str, Any], key: str, low: int) -> int:
    """``params[key]`` (required) as an int ``>= low``; errors name ``name[key]``."""
    if key not in params:
        raise ValueError(f"{func}: {name} must have the key {key!r}, got keys {sorted(params)}")
    want = "a positive integer" if low == 1 else None
    return int(integer(func, f"{name}[{key!r}]", params[key], low=low, want=want))


def number(func: str, name: str, value: Any, *, low: float = 0.0, high: float | None = None,
           closed: bool = False) -> float:
    """Require a Python number above ``low`` (at least ``low`` if ``closed``) and at most
    ``high``; return it as a float.  With the defaults: a positive number."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    if ok:
        ok = (value >= low if closed else value > low) and (high is None or value <= high)
    if not ok:
        if high is not None:
            want = f"a number in {'[' if closed else '('}{low:g}, {high:g}]"
        elif low == 0 and not closed:
            want = "a positive number"
        else:
            want = f"a number {'>=' if closed else '>'} {low:g}"
        raise ValueError(f"{func}: {name} must be {want}, got {value!r}")
    return float(value)


def positive_number(func: str, name: str, value: Any) -> float:
    """Require a number > 0; return it as a float."""
    return number(func, name, value)


def number_item(func: str, name: str, params: Mapping[str, Any], key: str, default: float, *,
                low: float = 0.0, high: float | None = None, closed: bool = False) -> float:
    """``params.get(key, default)`` checked by :func:`number`; errors name ``name[key]``."""
    return number(func, f"{name}[{key!r}]", params.get(key, default), low=low, high=high,
                  closed=closed)


def non_negative(func: str, name: str, value: Any) -> float:
    """Require a finite number >= 0; return it as a float."""
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.floating))
            or not 0 <= value < math.inf):
        raise ValueError(f"{func}: {name} must be a finite non-negative number, got {value!r}")
    return float(value)


# -- Memory (issue 21: sizes that cannot fit; the device guards are in _compat.devices) -------


def available_memory() -> int | None:
    """Bytes of memory a new allocation can still get: psutil's ``available`` where it is
    installed, else ``MemAvailable`` (plus free swap) from ``/proc/meminfo``, else the
    physical memory from ``os.sysconf``; None where none of them answers."""
    try:
        import psutil  # optional
    except ImportError:
        pass
    else:
        vm, swap = psutil.virtual_memory(), psutil.swap_memory()
        return int(vm.available + swap.free)
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        swap = fields.get("SwapFree", "0 kB")
        return (int(fields["MemAvailable"].split()[0]) + int(swap.split()[0])) * 1024
    except (OSError, KeyError, ValueError):
        pass
    try:
        import os

        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


#: Allocations below this many bytes are not checked (no system call on a hot path).
SMALL_ALLOCATION = 1 << 28  # 256 MiB


def allocation(func: str, nbytes: int, what: str) -> None:
    """Raise MemoryError naming ``func`` and ``what`` when ``nbytes`` cannot fit in the
    memory still available, before anything is allocated.

    ``nbytes`` is a Python int (any size: ``pad=10**9`` gives ~1e19 bytes, no overflow).
    Allocations under :data:`SMALL_ALLOCATION` return at once; larger ones are compared
    with :func:`available_memory` (host memory: an upper bound for an accelerator too).
    """
    if nbytes < SMALL_ALLOCATION:
        return
    available = available_memory()
    if available is not None and nbytes > available:
        msg = (f"{func}: {what} would need {_bytes(nbytes)}, more than the "
               f"{_bytes(available)} of memory available")
        raise MemoryError(msg)


def _bytes(n: int) -> str:
    """``n`` bytes in words: '3.2 GiB', '1.2e+10 GiB'."""
    gib = n / 2**30
    return f"{gib:.3g} GiB" if gib >= 0.1 else f"{n / 2**20:.3g} MiB"


def itemsize(xp: Namespace, dtype: Any) -> int:
    """Bytes per element of a numeric ``dtype`` of ``xp``."""
    info = xp.finfo(dtype) if is_floating(xp, dtype) else xp.iinfo(dtype)
    return int(info.bits) // 8


def cache(func: str, value: Any, size: int, spelled: str) -> tuple[Any, ...]:
    """Require a backward's ``cache``: the ``size``-tuple its forward returned
    (``spelled`` names its parts, e.g. ``"(x, w, b, conv_param) from conv_forward"``)."""
    if not isinstance(value, tuple) or len(value) != size:
        what = f"a tuple of {len(value)}" if isinstance(value, tuple) else type(value).__name__
        raise TypeError(f"{func}: cache must be the tuple {spelled}, got {what}")
    return value
