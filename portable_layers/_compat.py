"""The one module that knows about particular array libraries.

Everything in ``portable_layers`` outside this file is written against the Python
Array API standard and takes its namespace from its inputs.  Whatever needs to know
*which* library an array comes from lives here: namespace lookup with clear errors,
backend names, conversion through the host, value checks that must be skipped for
lazy or traced arrays, JAX's x64 switch and ``jax.jit``.

``jax`` and ``torch`` are imported lazily, only when an array or a backend name asks
for them, so ``import portable_layers`` loads neither.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import array_api_compat
import numpy as np
from array_api_compat import (
    device,
    is_array_api_obj,
    is_array_api_strict_namespace,
    is_dask_array,
    is_dask_namespace,
    is_jax_array,
    is_jax_namespace,
    is_lazy_array,
    is_numpy_array,
    is_numpy_namespace,
    is_torch_array,
    is_torch_namespace,
)

from ._types import Array, Namespace

__all__ = [
    "BACKENDS",
    "array_namespace",
    "backend_name",
    "device",
    "from_numpy",
    "get_namespace",
    "import_jax",
    "installed_backends",
    "is_concrete",
    "is_dask_array",
    "is_jax_array",
    "is_jax_namespace",
    "is_numpy_array",
    "is_torch_array",
    "jit",
    "library_name",
    "same_float_dtype",
    "supports_float64",
    "to_numpy",
    "x64_enabled",
]


#: Backend names in the order the test matrix and the ``check`` command use.
BACKENDS: tuple[str, ...] = ("numpy", "jax", "array_api_strict", "torch", "dask")

_BACKEND_MODULES = {
    "numpy": "numpy",
    "jax": "jax",
    "array_api_strict": "array_api_strict",
    "torch": "torch",
    "dask": "dask.array",
}


# Namespaces by the types of the arrays: the lookup runs at every layer call, and
# array_api_compat's own costs microseconds that a small batch notices.
_NAMESPACES: dict[tuple[type, ...], Namespace] = {}


def array_namespace(func: str, **arrays: Array) -> Namespace:
    """Namespace shared by keyword-named ``arrays``; errors name ``func`` and the argument.

    Raises TypeError for something that is not an array, for arrays of two libraries,
    and for real floating arrays of two dtypes (see :func:`same_float_dtype`).
    """
    key = tuple(map(type, arrays.values()))
    xp = _NAMESPACES.get(key)
    if xp is None:
        xp = _array_namespace(func, arrays)
        if len(_NAMESPACES) < 1024:
            _NAMESPACES[key] = xp
    if len(arrays) > 1:
        same_float_dtype(func, xp, arrays)
    return xp


def _array_namespace(func: str, arrays: dict[str, Array]) -> Namespace:
    for name, value in arrays.items():
        if not is_array_api_obj(value):
            msg = (
                f"{func}: {name} must be an array (NumPy, JAX, PyTorch, array_api_strict "
                f"or Dask), got {type(value).__name__}"
            )
            raise TypeError(msg)
    try:
        return array_api_compat.array_namespace(*arrays.values())
    except TypeError:
        kinds = [library_name(a) for a in arrays.values()]
        if len(set(kinds)) == 1:  # the names alone would not say what clashes: add the types
            kinds = [f"{k} ({type(a).__module__}.{type(a).__qualname__})"
                     for k, a in zip(kinds, arrays.values(), strict=True)]
        said = ", ".join(f"{n} is {k}" for n, k in zip(arrays, kinds, strict=True))
        msg = f"{func}: all arrays must come from one array library, but {said}"
        raise TypeError(msg) from None


def library_name(x: Array) -> str:
    """The array library of ``x`` (a backend name of :data:`BACKENDS`), else its type.

    Decided by array-api-compat's predicates, as ``array_namespace`` decides: a NumPy
    subclass that JAX hands to a ``custom_vjp`` rule (``TypedNdArray``, defined in a
    ``jax`` module) is NumPy; a JAX tracer is JAX.
    """
    if is_numpy_array(x):
        return "numpy"
    if is_jax_array(x):
        return "jax"
    if is_torch_array(x):
        return "torch"
    if is_dask_array(x):
        return "dask"
    try:
        return backend_name(array_api_compat.array_namespace(x))
    except TypeError:
        return f"{type(x).__module__}.{type(x).__qualname__}"


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


def backend_name(xp: Namespace) -> str:
    """The backend name (one of :data:`BACKENDS`) of an array namespace."""
    if is_numpy_namespace(xp):
        return "numpy"
    if is_jax_namespace(xp):
        return "jax"
    if is_torch_namespace(xp):
        return "torch"
    if is_array_api_strict_namespace(xp):
        return "array_api_strict"
    if is_dask_namespace(xp):
        return "dask"
    name = getattr(xp, "__name__", repr(xp))
    raise TypeError(f"backend_name: unsupported array namespace {name}")


def get_namespace(backend: str | Namespace) -> Namespace:
    """The array namespace for a backend name, or ``backend`` itself if it is a namespace.

    Names are those of :data:`BACKENDS`.  Raises ValueError for an unknown name and
    ImportError, saying what to install, for a library that is not installed.
    """
    if not isinstance(backend, str):
        backend_name(backend)  # raises TypeError for something that is not a namespace
        return backend
    if backend not in _BACKEND_MODULES:
        msg = f"get_namespace: unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}"
        raise ValueError(msg)
    try:
        importlib.import_module(_BACKEND_MODULES[backend])
    except ImportError:
        extra = backend.replace("_", "-")
        msg = (
            f"get_namespace: backend {backend!r} is not installed; "
            f"install it with pip install 'portable-layers[{extra}]'"
        )
        raise ImportError(msg) from None
    if backend == "jax":
        import jax.numpy as jnp

        return jnp
    if backend == "array_api_strict":
        import array_api_strict

        return array_api_strict
    return importlib.import_module(f"array_api_compat.{_BACKEND_MODULES[backend]}")


def installed_backends() -> list[str]:
    """Names of the backends whose library can be imported, in :data:`BACKENDS` order."""
    found = []
    for name in BACKENDS:
        top = _BACKEND_MODULES[name].split(".")[0]
        if importlib.util.find_spec(top) is not None:
            found.append(name)
    return found


def require_module(purpose: str, module: str, extra: str) -> None:
    """Raise ImportError, saying what to install, unless ``module`` can be imported.

    Looks the module up without importing it (``train --plot`` asks before training).
    """
    if importlib.util.find_spec(module) is None:
        msg = f"{purpose} needs {module}; install it with pip install 'portable-layers[{extra}]'"
        raise ImportError(msg)


def import_jax(purpose: str) -> ModuleType:
    """Import and return ``jax``, or raise ImportError saying ``purpose`` needs it."""
    try:
        import jax
    except ImportError:
        msg = f"{purpose} needs JAX; install it with pip install 'portable-layers[jax]'"
        raise ImportError(msg) from None
    return jax


def import_torch(purpose: str) -> ModuleType:
    """Import and return ``torch``, or raise ImportError saying ``purpose`` needs it."""
    try:
        import torch
    except ImportError:
        msg = f"{purpose} needs PyTorch; install it with pip install 'portable-layers[torch]'"
        raise ImportError(msg) from None
    return torch


def x64_enabled() -> bool:
    """Whether JAX is imported and running with 64-bit floats enabled."""
    jax = sys.modules.get("jax")
    return bool(jax is not None and jax.config.jax_enable_x64)


@contextlib.contextmanager
def jax_x64() -> Iterator[None]:
    """Run the block with JAX's 64-bit mode on, whatever the process setting is."""
    jax = import_jax("64-bit JAX computation")
    with jax.enable_x64(True):
        yield


def supports_float64(xp: Namespace) -> bool:
    """Whether ``xp`` can hold float64 arrays right now (JAX only with x64 enabled)."""
    if is_jax_namespace(xp):
        return x64_enabled()
    return True


@contextlib.contextmanager
def float64_context(xp: Namespace) -> Iterator[None]:
    """A block in which ``xp`` can hold float64: JAX's x64 switch, nothing elsewhere."""
    if is_jax_namespace(xp) and not x64_enabled():
        with jax_x64():
            yield
    else:
        yield


def is_concrete(x: Array) -> bool:
    """Whether ``x`` holds values that can be read now.

    False for JAX tracers (inside ``jax.jit``, ``jax.vmap``, ``jax.grad``) and for lazy
    Dask arrays: value checks on such arrays are skipped instead of forcing a compute.
    """
    if is_jax_array(x):
        import jax

        return not isinstance(x, jax.core.Tracer)
    return not (is_array_api_obj(x) and is_lazy_array(x))


def to_numpy(x: Array) -> np.ndarray:
    """A NumPy array with the values of ``x`` (from any backend), on the host."""
    if is_numpy_array(x):
        return x if type(x) is np.ndarray else np.asarray(x)
    if is_torch_array(x):
        return x.detach().cpu().numpy()
    if is_dask_array(x):
        return np.asarray(x.compute())
    if is_array_api_obj(x) and is_array_api_strict_namespace(array_api_compat.array_namespace(x)):
        return np.from_dlpack(x)
    return np.asarray(x)


def from_numpy(a: Any, xp: Namespace, *, dtype: Any = None, device: Any = None) -> Array:
    """Convert a host array (or anything NumPy accepts) into an array of ``xp``.

    The result never shares memory with ``a``, so a caller may write into ``a`` later.
    """
    a = np.array(a, copy=True)
    if is_dask_namespace(xp):
        import dask.array as da

        return da.from_array(a if dtype is None else a.astype(dtype))
    if is_jax_namespace(xp):  # device_put: about 10x cheaper than jnp.asarray(device=)
        import jax

        return jax.device_put(a if dtype is None else a.astype(np.dtype(dtype)), device)
    return xp.asarray(a, dtype=dtype, device=device)


def jit(fn: Callable[..., Any], xp: Namespace, **jit_kwargs: Any) -> Callable[..., Any]:
    """``jax.jit(fn)`` when ``xp`` is JAX's namespace, ``fn`` unchanged elsewhere."""
    if is_jax_namespace(xp):
        import jax

        return jax.jit(fn, **jit_kwargs)
    return fn


def dtype_name(dtype: Any) -> str:
    """A dtype's plain name (``"float32"``) for any library's dtype object."""
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype).rsplit(".", 1)[-1]


def bernoulli(
    xp: Namespace, shape: tuple[int, ...], p: float, seed: Any, *, device: Any = None
) -> Array:
    """A boolean array of ``xp`` whose entries are True with probability ``p``.

    The generator follows the kind of ``seed``:

    * a Python int (or a concrete integer array of NumPy, PyTorch, array_api_strict):
      ``numpy.random.default_rng(seed).random(shape) < p`` on the host, converted to
      ``xp``.  The same seed gives the same mask on every backend and dtype; under
      ``jax.jit`` the mask is drawn at trace time and becomes a constant of the
      compiled function (as it must: the seed is a constant there too).
    * a JAX integer array (concrete or traced, e.g. a per-step seed passed into a
      jitted training step): ``jax.random.bernoulli(jax.random.key(seed), p, shape)``,
      the same eagerly and under ``jax.jit``, but a different mask than NumPy's.
    * None: fresh OS entropy via ``numpy.random.default_rng()``.  (Callers refuse
      this inside a JAX trace, where it would silently freeze one mask.)
    """
    if seed is not None and is_jax_array(seed):
        import jax

        return jax.random.bernoulli(jax.random.key(seed), p, shape)
    rng = np.random.default_rng(None if seed is None else int(seed))
    return from_numpy(rng.random(shape) < p, xp, device=device)


# ---------------------------------------------------------------------------
# Dask and JAX device meshes: the library-specific half of portable_layers.distributed
# (added for scaling past one machine; dask and jax are imported only when called)
# ---------------------------------------------------------------------------


def dask_row_blocks(func: str, X: Array, y: Array) -> list[tuple[Any, Any]]:
    """``X`` and ``y`` as a list of ``(X_block, y_block)`` delayed pairs along axis 0.

    ``X`` keeps its row chunks and gets one chunk along every other axis (a sample
    is never split); ``y`` is rechunked to the same rows.  Nothing is computed: each
    pair is a ``dask.delayed`` object whose task graph produces just that block.
    """
    X, y = dask_rows(func, X, y)
    xs = X.to_delayed().reshape(-1)
    ys = y.to_delayed().reshape(-1)
    return list(zip(xs, ys, strict=True))


def dask_rows(func: str, X: Array, y: Array) -> tuple[Any, Any]:
    """``X`` and ``y`` as Dask arrays chunked along axis 0 only (a sample is never split),
    ``y`` rechunked to ``X``'s rows."""
    import dask.array as da

    X = da.asarray(X)
    y = da.asarray(y)
    if y.shape[0] != X.shape[0]:
        msg = f"{func}: y must have shape ({X.shape[0]},) to match X, got {tuple(y.shape)}"
        raise ValueError(msg)
    rows = X.chunks[0]
    return X.rechunk((rows, *(-1 for _ in X.shape[1:]))), y.rechunk((rows,))


def dask_constant_array(value: np.ndarray) -> Any:
    """The host array ``value`` as a one-chunk Dask array."""
    import dask.array as da

    return da.from_array(value, chunks=value.shape)


def dask_delayed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``dask.delayed(fn, pure=True)(*args, **kwargs)``."""
    import dask

    return dask.delayed(fn, pure=True)(*args, **kwargs)


def dask_constant(value: Any) -> Any:
    """``value`` as one shared key of a Dask graph (sent to each worker once)."""
    import dask

    return dask.delayed(value, pure=True)


def dask_compute(obj: Any) -> Any:
    """``dask.compute(obj)[0]``: on the current ``distributed.Client`` if there is one."""
    import dask

    return dask.compute(obj)[0]


def dask_take_rows(X: Array, idx: np.ndarray) -> np.ndarray:
    """Rows ``idx`` (host integers, in that order) of the Dask array ``X``, computed.

    Only the chunks holding those rows are read.
    """
    order = np.argsort(idx, kind="stable")
    rows = np.asarray(X[np.asarray(idx)[order]].compute())
    return rows[np.argsort(order)]  # the inverse permutation: back to idx's order


def jax_mesh(func: str, devices: Any = None, axis_name: str = "batch") -> Any:
    """A 1-D ``jax.sharding.Mesh`` over ``devices``.

    ``devices`` is None (every device of the default backend), an int k (its first
    k devices), a sequence of JAX devices, or a 1-D mesh (returned as it is).
    """
    jax = import_jax(f"{func}: a device mesh")
    from jax.sharding import Mesh

    if isinstance(devices, Mesh):
        if len(devices.axis_names) != 1:
            msg = f"{func}: mesh must have one axis, got axes {devices.axis_names}"
            raise ValueError(msg)
        return devices
    available = jax.devices()
    if devices is None:
        chosen = available
    elif isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            msg = (f"{func}: devices must be between 1 and the {len(available)} devices "
                   f"available, got {devices}")
            raise ValueError(msg)
        chosen = available[: int(devices)]
    else:
        chosen = list(devices)
        if not chosen:
            raise ValueError(f"{func}: devices must not be empty")
    return Mesh(np.array(chosen), (axis_name,))


def jax_shard_rows(func: str, x: Array, mesh: Any) -> Array:
    """``x`` split along axis 0 over the (1-D) mesh; its length must divide evenly."""
    jax = _check_mesh(func, mesh)
    from jax.sharding import NamedSharding, PartitionSpec

    size = mesh.devices.size
    if x.shape[0] % size:
        msg = (f"{func}: the batch of {x.shape[0]} rows must divide evenly over the "
               f"{size} devices of the mesh")
        raise ValueError(msg)
    spec = PartitionSpec(mesh.axis_names[0], *([None] * (x.ndim - 1)))
    return jax.device_put(x, NamedSharding(mesh, spec))


def jax_replicated(mesh: Any) -> Any:
    """The sharding that puts a full copy of an array on every device of ``mesh``."""
    from jax.sharding import NamedSharding, PartitionSpec

    return NamedSharding(mesh, PartitionSpec())


def jax_replicate(tree: Any, mesh: Any, func: str = "replicate") -> Any:
    """Every array of the pytree ``tree`` copied onto each device of ``mesh``."""
    jax = _check_mesh(func, mesh)
    return jax.device_put(tree, jax_replicated(mesh))


def _check_mesh(func: str, mesh: Any) -> ModuleType:
    """``jax``, once ``mesh`` is known to be a ``jax.sharding.Mesh`` (TypeError naming
    ``func`` otherwise; ImportError saying what to install without JAX)."""
    jax = import_jax(f"{func}: a device mesh")
    from jax.sharding import Mesh

    if not isinstance(mesh, Mesh):
        msg = (f"{func}: mesh must be a jax.sharding.Mesh (see data_parallel_mesh), "
               f"got {type(mesh).__name__}")
        raise TypeError(msg)
    return jax


# -- JAX tracing and derived randomness ------------------------------------------------


def is_traced(x: Array) -> bool:
    """Whether ``x`` is a JAX tracer (inside ``jax.jit``, ``jax.vmap``, ...)."""
    return is_jax_array(x) and not is_concrete(x)


def derive_seed(seed: Any, *salts: Any) -> Any:
    """A new int seed from ``seed`` and the ``salts`` (e.g. a step count and a layer index).

    Pure and stateless: the same inputs give the same seed.  When ``seed`` or a salt is
    a JAX array (a traced step count inside a jitted training step), the result is a
    0-d int32 JAX array from ``jax.random.fold_in`` (no recompilation per step);
    otherwise it is a Python int in [0, 2**31) from ``numpy.random.SeedSequence``.
    """
    if is_jax_array(seed) or any(is_jax_array(s) for s in salts):
        import jax

        key = jax.random.key(seed)
        for salt in salts:
            key = jax.random.fold_in(key, salt)
        bits = jax.random.bits(key, dtype=jax.numpy.uint32)
        return jax.lax.shift_right_logical(bits, jax.numpy.uint32(1)).astype(jax.numpy.int32)
    words = [int(seed), *(int(s) for s in salts)]
    return int(np.random.SeedSequence(words).generate_state(1)[0] & 0x7FFFFFFF)
