"""Namespace lookup (from arrays, names or namespace objects) and the dtype policy.

Any library that array-api-compat's ``array_namespace`` accepts and that implements
revision :data:`MIN_API_VERSION` or later of the Array API standard works; an older
revision is refused here, at the boundary, with the function's name.  A backend is
named by a short name of :data:`~.backends.REGISTRY` or by an importable dotted path to
an array namespace (``"marray.numpy"``).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any

import array_api_compat as compat
import numpy as np

from .._types import Array, Namespace
from .backends import BACKENDS, REGISTRY
from .devices import same_device
from .tracing import jax_x64, x64_enabled

__all__ = [
    "MIN_API_VERSION",
    "array_namespace",
    "backend_name",
    "dtype_name",
    "float64_context",
    "get_namespace",
    "is_array_namespace",
    "is_floating",
    "is_integral",
    "isdtype",
    "library_name",
    "namespace_problem",
    "require_revision",
    "same_float_dtype",
    "supports_float64",
]

#: The oldest revision of the standard the library runs on (ReLU and the losses call
#: ``maximum``, new in 2023.12).
MIN_API_VERSION = "2023.12"

# Namespaces by the types of the arrays: the lookup runs at every layer call, and
# array_api_compat's own costs microseconds that a small batch notices.
_NAMESPACES: dict[tuple[type, ...], Namespace] = {}


def array_namespace(func: str, **arrays: Array) -> Namespace:
    """Namespace shared by keyword-named ``arrays``; errors name ``func`` and the argument.

    Raises TypeError for something that is not an array, for arrays of two libraries,
    for a library older than revision :data:`MIN_API_VERSION` of the standard, and for
    real floating arrays of two dtypes (see :func:`same_float_dtype`); ValueError for
    arrays on two devices (see :func:`~portable_layers._compat.devices.same_device`).
    """
    key = tuple(map(type, arrays.values()))
    xp = _NAMESPACES.get(key)
    if xp is None:
        xp = _array_namespace(func, arrays)
        if len(_NAMESPACES) < 1024:
            _NAMESPACES[key] = xp
    if len(arrays) > 1:
        same_float_dtype(func, xp, arrays)
        same_device(func, **arrays)
    return xp


def forget_namespaces() -> None:
    """Empty the lookup's memory (after a library changed its revision, as
    ``array_api_strict.set_array_api_strict_flags`` does)."""
    _NAMESPACES.clear()


def _array_namespace(func: str, arrays: dict[str, Array]) -> Namespace:
    for name, value in arrays.items():
        if not compat.is_array_api_obj(value):
            msg = (f"{func}: {name} must be an array of an Array API library (NumPy, JAX, "
                   f"PyTorch, array_api_strict, Dask, ...), got {type(value).__name__}")
            raise TypeError(msg)
    try:
        xp = compat.array_namespace(*arrays.values())
    except TypeError:
        kinds = [library_name(a) for a in arrays.values()]
        if len(set(kinds)) == 1:  # the names alone would not say what clashes: add the types
            kinds = [f"{k} ({type(a).__module__}.{type(a).__qualname__})"
                     for k, a in zip(kinds, arrays.values(), strict=True)]
        said = ", ".join(f"{n} is {k}" for n, k in zip(arrays, kinds, strict=True))
        msg = f"{func}: all arrays must come from one array library, but {said}"
        raise TypeError(msg) from None
    require_revision(func, xp)
    return xp


def require_revision(func: str, xp: Namespace) -> None:
    """TypeError naming ``func`` unless ``xp`` implements revision :data:`MIN_API_VERSION`
    or later (a namespace that does not say, ``__array_api_version__``, is taken at its
    word only if array-api-compat knows it)."""
    version = getattr(xp, "__array_api_version__", None)
    if version is None or str(version) >= MIN_API_VERSION:
        return
    msg = (f"{func}: {backend_name(xp)} implements revision {version} of the Array API "
           f"standard; portable_layers needs {MIN_API_VERSION} or later")
    raise TypeError(msg)


def library_name(x: Array) -> str:
    """The array library of ``x`` (a backend name, see :func:`backend_name`), else its type.

    Decided by array-api-compat's predicates, as ``array_namespace`` decides: a NumPy
    subclass that JAX hands to a ``custom_vjp`` rule (``TypedNdArray``, defined in a
    ``jax`` module) is NumPy; a JAX tracer is JAX.
    """
    if compat.is_numpy_array(x):
        return "numpy"
    if compat.is_jax_array(x):
        return "jax"
    if compat.is_torch_array(x):
        return "torch"
    if compat.is_dask_array(x):
        return "dask"
    try:
        return backend_name(compat.array_namespace(x))
    except TypeError:
        return f"{type(x).__module__}.{type(x).__qualname__}"


_KNOWN = ((compat.is_numpy_namespace, "numpy"), (compat.is_jax_namespace, "jax"),
          (compat.is_torch_namespace, "torch"),
          (compat.is_array_api_strict_namespace, "array_api_strict"),
          (compat.is_dask_namespace, "dask"))


def _known_name(obj: Any) -> str | None:
    """The short name of a namespace array-api-compat knows, else None."""
    if isinstance(getattr(obj, "__name__", None), str):  # what the predicates read
        for is_ns, name in _KNOWN:
            if is_ns(obj):
                return name
    return None


def is_array_namespace(obj: Any) -> bool:
    """Whether ``obj`` looks like an array namespace: one array-api-compat knows, or an
    object with ``asarray`` and ``__array_api_version__`` (a library's own namespace)."""
    if _known_name(obj) is not None:
        return True
    return callable(getattr(obj, "asarray", None)) and hasattr(obj, "__array_api_version__")


def backend_name(xp: Namespace) -> str:
    """A stable name of an array namespace: a short name of :data:`BACKENDS` for the
    libraries we know, else the namespace's module path (``"marray.numpy"``), which
    :func:`get_namespace` resolves back.  TypeError for what is not a namespace."""
    known = _known_name(xp)
    if known is not None:
        return known
    if not is_array_namespace(xp):
        msg = f"backend_name: {_describe(xp)} is not an array namespace"
        raise TypeError(msg)
    name = getattr(xp, "__name__", None)
    return name if isinstance(name, str) else f"{type(xp).__module__}.{type(xp).__qualname__}"


def _describe(obj: Any) -> str:
    name = getattr(obj, "__name__", None)
    return repr(name) if isinstance(name, str) else f"a {type(obj).__name__}"


def get_namespace(backend: str | Namespace) -> Namespace:
    """The array namespace for a backend name, or ``backend`` itself if it is a namespace.

    A name is a short name of :data:`BACKENDS` or an importable dotted path to an array
    namespace (resolved as a module, then as attributes: ``"marray.numpy"``).  Raises
    ValueError for a name that is neither, ImportError (saying what to install) for a
    short name whose library is not installed, and TypeError for an object that is not an
    array namespace or implements a revision of the standard older than
    :data:`MIN_API_VERSION`.
    """
    if not isinstance(backend, str):
        if not is_array_namespace(backend):
            msg = (f"get_namespace: {_describe(backend)} is not an array namespace (no "
                   f"asarray and __array_api_version__); pass a backend name or a namespace")
            raise TypeError(msg)
        require_revision("get_namespace", backend)
        return backend
    if backend in BACKENDS:
        ns = _short_namespace(backend)
        require_revision("get_namespace", ns)
        return ns
    if backend in REGISTRY:
        msg = (f"get_namespace: {backend!r} names a test backend of the pytest plugin, not a "
               f"namespace; choose one of {', '.join(BACKENDS)} or a dotted path")
        raise ValueError(msg)
    ns = _RESOLVED.get(backend)
    if ns is None:
        ns = _resolve(backend)
    if not is_array_namespace(ns):
        msg = (f"get_namespace: {backend!r} resolves to {_describe(ns)}, which is not an "
               "array namespace (no asarray and __array_api_version__)")
        raise TypeError(msg)
    require_revision("get_namespace", ns)
    _RESOLVED[backend] = ns
    return ns


# Dotted names resolved once: a library may make a new namespace (with its own array
# type) at each attribute access, as marray's module __getattr__ does, and arrays of two
# such namespaces cannot meet in one call.
_RESOLVED: dict[str, Namespace] = {}


def namespace_problem(name: str) -> str | None:
    """Why the backend name ``name`` does not give an array namespace, or None if it does
    (for the commands, which report it as a usage error)."""
    try:
        get_namespace(name)
    except (ImportError, TypeError, ValueError) as e:
        return str(e)
    return None


def _short_namespace(backend: str) -> Namespace:
    try:
        importlib.import_module(REGISTRY[backend].module)
    except ImportError:
        msg = (f"get_namespace: backend {backend!r} is not installed; "
               f"install it with pip install 'portable-layers[{REGISTRY[backend].extra}]'")
        raise ImportError(msg) from None
    if backend == "jax":
        return importlib.import_module("jax.numpy")
    if backend == "array_api_strict":
        return importlib.import_module("array_api_strict")
    return importlib.import_module(f"array_api_compat.{REGISTRY[backend].module}")


def _resolve(path: str) -> Any:
    """The object a dotted path names: the longest importable module prefix, then
    attributes (a module may make them in its ``__getattr__``)."""
    parts = path.split(".")
    unknown = (f"get_namespace: unknown backend {path!r}; choose one of {', '.join(BACKENDS)} "
               "or give an importable dotted path to an array namespace (e.g. 'marray.numpy')")
    if not all(p.isidentifier() for p in parts):
        raise ValueError(unknown)
    for cut in range(len(parts), 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            # only the module tried (or a parent) is missing: try a shorter prefix
            if e.name is not None and module_name.startswith(e.name):
                continue
            raise
        for i, attr in enumerate(parts[cut:], start=cut):
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                where = ".".join(parts[:i])
                msg = f"{unknown}: {where!r} has no attribute {attr!r}"
                raise ValueError(msg) from None
        return obj
    raise ValueError(unknown)


# The dtype policy, one for every backend: real floating arrays of two dtypes in one call
# (float32 with float64) raise a TypeError naming the function and both dtypes.  NumPy and
# JAX would promote silently, PyTorch's matmul raises a bare RuntimeError from inside the
# layer, and array_api_strict promotes: four outcomes for one call.  Promoting in the
# library would break "float32 in, float32 out" without a word; refusing matches the
# TypeError every layer already gives for an integer or complex argument.
def same_float_dtype(func: str, xp: Namespace, arrays: dict[str, Array]) -> None:
    """Raise TypeError if the real floating arrays among ``arrays`` differ in dtype.

    Integer and boolean arrays (labels, masks, seeds) are not compared; a floating array
    of another dtype than the first floating one is named with both dtypes.
    """
    first: tuple[str, Any] | None = None
    for name, value in arrays.items():
        dtype = value.dtype
        if first is not None and dtype == first[1]:
            continue
        if not is_floating(xp, dtype):
            continue
        if first is None:
            first = (name, dtype)
            continue
        msg = (f"{func}: {first[0]} and {name} must have the same floating dtype, got "
               f"{dtype_name(first[1])} and {dtype_name(dtype)}; cast one of them "
               f"(xp.astype) to choose the precision")
        raise TypeError(msg)


# Dtype kinds by namespace and dtype: checked at every layer call, and some libraries'
# isdtype costs microseconds.
_KINDS: dict[tuple[int, Any, str], bool] = {}


def isdtype(xp: Namespace, dtype: Any, kind: str) -> bool:
    """``xp.isdtype(dtype, kind)``, remembered per namespace, dtype and kind."""
    key = (id(xp), dtype, kind)
    known = _KINDS.get(key)
    if known is None:
        known = _KINDS[key] = bool(xp.isdtype(dtype, kind))
    return known


def is_floating(xp: Namespace, dtype: Any) -> bool:
    """Whether ``dtype`` is a real floating dtype of ``xp``."""
    return isdtype(xp, dtype, "real floating")


def is_integral(xp: Namespace, dtype: Any) -> bool:
    """Whether ``dtype`` is an integer dtype of ``xp``."""
    return isdtype(xp, dtype, "integral")


def dtype_name(dtype: Any) -> str:
    """A dtype's plain name (``"float32"``) for any library's dtype object."""
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype).rsplit(".", 1)[-1]


def supports_float64(xp: Namespace) -> bool:
    """Whether ``xp`` can hold float64 arrays right now (JAX only with x64 enabled)."""
    if compat.is_jax_namespace(xp):
        return x64_enabled()
    return True


@contextlib.contextmanager
def float64_context(xp: Namespace) -> Iterator[None]:
    """A block in which ``xp`` can hold float64: JAX's x64 switch, nothing elsewhere."""
    if compat.is_jax_namespace(xp) and not x64_enabled():
        with jax_x64():
            yield
    else:
        yield
