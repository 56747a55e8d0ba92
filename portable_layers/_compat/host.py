"""Host transfer: arrays of any library to NumPy and back, through the standard.

:func:`to_numpy` takes the libraries we know by their fast paths; any other library goes
through DLPack (``numpy.from_dlpack``), the standard's interchange.  The standard lets
a library refuse to export (``BufferError``; a masked or a lazy array may), so two
fallbacks follow, in this order:

1. ``__array__``, only if it gives a numeric (never an object) array;
2. element access with ``float()``/``int()``/``bool()`` (``__float__`` and friends are
   part of the standard), for arrays of at most :data:`ELEMENT_LIMIT` entries: the
   losses, gradients and reports that checks need.

A lazy array is materialised first (``compute()`` where the library has one; DLPack
export computes it otherwise).  When nothing works, a TypeError names the library and
what it lacks.  The result is never an object array.
"""

from __future__ import annotations

from typing import Any

import array_api_compat as compat
import numpy as np

from .._types import Array, Namespace
from .backends import import_dask, import_jax
from .devices import known_device
from .namespace import dtype_name, library_name

__all__ = ["ELEMENT_LIMIT", "from_numpy", "to_float", "to_numpy"]

#: The most entries :func:`to_numpy` reads one by one from an array that neither exports
#: DLPack nor converts with ``__array__``.
ELEMENT_LIMIT = 1_000_000


def to_numpy(x: Array) -> np.ndarray:
    """A NumPy array with the values of ``x`` (from any Array API library), on the host.

    Raises TypeError, naming the library and what it lacks, for an array whose values
    cannot be read through DLPack, a numeric ``__array__`` or element access.
    """
    if compat.is_numpy_array(x):
        return x if type(x) is np.ndarray else np.asarray(x)
    if compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    if compat.is_jax_array(x):
        return np.asarray(x)
    if compat.is_dask_array(x):
        return np.asarray(x.compute())
    lazy = compat.is_array_api_obj(x) and compat.is_lazy_array(x)
    if lazy and callable(getattr(x, "compute", None)):
        x = x.compute()
        if compat.is_numpy_array(x):
            return np.asarray(x)
    return _through_the_standard(x)


def to_float(x: Any) -> float:
    """``float(x)`` for a number or a one-element array of any library; an array that
    refuses (a lazy one: the standard lets ``__float__`` raise there) goes through
    :func:`to_numpy`."""
    try:
        return float(x)
    except (TypeError, ValueError, RuntimeError):
        if not compat.is_array_api_obj(x):
            raise
    return float(to_numpy(x).reshape(()))


def _through_the_standard(x: Array) -> np.ndarray:
    try:
        return np.from_dlpack(x)
    except (BufferError, TypeError, AttributeError, RuntimeError, ValueError) as e:
        no_dlpack = f"DLPack export ({type(e).__name__}: {e})"
    try:  # a numeric __array__ (not in the standard, but a plain conversion where it exists)
        a = np.asarray(x)
    except Exception:  # any failure means: not this way
        a = None
    if a is not None and a.dtype.kind in "biufc":
        return a
    shape = tuple(getattr(x, "shape", ()) or ())
    if any(not isinstance(n, int) for n in shape):
        msg = (f"to_numpy: cannot bring a {library_name(x)} array to the host: no "
               f"{no_dlpack}, no numeric __array__, and its shape {shape} is not known")
        raise TypeError(msg)
    size = int(np.prod(shape, dtype=np.int64))
    if size > ELEMENT_LIMIT:
        msg = (f"to_numpy: cannot bring a {library_name(x)} array to the host: no "
               f"{no_dlpack}, no numeric __array__, and its {size} entries are more than "
               f"the {ELEMENT_LIMIT} read one by one")
        raise TypeError(msg)
    return _by_element(x, shape, size, no_dlpack)


def _by_element(x: Array, shape: tuple[int, ...], size: int, no_dlpack: str) -> np.ndarray:
    """The entries of ``x`` read with ``float()``/``int()``/``bool()``/``complex()``."""
    from .namespace import array_namespace

    xp = array_namespace("to_numpy", x=x)
    kinds = (("bool", bool, np.bool_), ("integral", int, np.int64),
             ("real floating", float, np.float64), ("complex floating", complex, np.complex128))
    found = next((k for k in kinds if xp.isdtype(x.dtype, k[0])), None)
    if found is None:
        msg = f"to_numpy: a {library_name(x)} array of dtype {x.dtype} has no numeric values"
        raise TypeError(msg)
    _, convert, fallback = found
    try:
        dtype = np.dtype(dtype_name(x.dtype))
    except TypeError:
        dtype = np.dtype(fallback)
    try:
        if shape:
            flat = xp.reshape(x, (size,)) if len(shape) != 1 else x
            values = [convert(flat[i]) for i in range(size)]
        else:
            values = [convert(x)]
    except Exception as e:  # the message says what failed
        msg = (f"to_numpy: cannot bring a {library_name(x)} array to the host: no "
               f"{no_dlpack}, no numeric __array__, and reading an entry with "
               f"{convert.__name__}() failed ({type(e).__name__}: {e})")
        raise TypeError(msg) from None
    return np.asarray(values, dtype=dtype).reshape(shape)


def from_numpy(a: Any, xp: Namespace, *, dtype: Any = None, device: Any = None) -> Array:
    """Convert a host array (or anything NumPy accepts) into an array of ``xp``.

    The result never shares memory with ``a``, so a caller may write into ``a`` later.
    A ``device`` that ``xp``'s library does not have is a ValueError naming both.
    """
    a = np.array(a, copy=True)
    if compat.is_dask_namespace(xp):
        da = import_dask("a Dask array").array
        return da.from_array(a if dtype is None else a.astype(dtype))
    try:
        if compat.is_jax_namespace(xp):  # device_put: about 10x cheaper than jnp.asarray(device=)
            jax = import_jax("a JAX array")
            return jax.device_put(a if dtype is None else a.astype(np.dtype(dtype)), device)
        return xp.asarray(a, dtype=dtype, device=device)
    except Exception:  # the library's own error; a device it lacks is said in words
        known_device("from_numpy", xp, device)
        raise
