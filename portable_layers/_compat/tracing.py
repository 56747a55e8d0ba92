"""JAX's tracing and 64-bit switch, and what they mean for value checks.

Other libraries are eager: :func:`jit` leaves their functions as they are, and an array
is concrete unless it is lazy (array-api-compat's ``is_lazy_array``: Dask, or any library
that says so).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

from array_api_compat import is_array_api_obj, is_jax_array, is_jax_namespace, is_lazy_array

from .._types import Array, Namespace
from .backends import import_jax

__all__ = ["is_concrete", "is_traced", "jax_x64", "jit", "x64_enabled"]


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


def is_concrete(x: Array) -> bool:
    """Whether ``x`` holds values that can be read now.

    False for JAX tracers (inside ``jax.jit``, ``jax.vmap``, ``jax.grad``) and for lazy
    arrays (Dask, or any library array-api-compat calls lazy): value checks on such
    arrays are skipped instead of forcing a compute.
    """
    if is_jax_array(x):
        return not isinstance(x, sys.modules["jax"].core.Tracer)
    return not (is_array_api_obj(x) and is_lazy_array(x))


def is_traced(x: Array) -> bool:
    """Whether ``x`` is a JAX tracer (inside ``jax.jit``, ``jax.vmap``, ...)."""
    return is_jax_array(x) and not is_concrete(x)


def jit(fn: Callable[..., Any], xp: Namespace, **jit_kwargs: Any) -> Callable[..., Any]:
    """``jax.jit(fn)`` when ``xp`` is JAX's namespace, ``fn`` unchanged elsewhere."""
    if is_jax_namespace(xp):
        return import_jax("jit").jit(fn, **jit_kwargs)
    return fn
