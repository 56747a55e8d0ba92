"""The one registry of backend names, and the lazy imports of particular libraries.

A *short name* (``"numpy"``, ``"jax"``, ...) is a row of :data:`REGISTRY`; every place
that accepts a backend name (models' ``xp=``, :func:`get_namespace`, the ``check`` and
``train`` commands, the pytest plugin and ``PORTABLE_LAYERS_BACKENDS``) also accepts an
importable dotted path to an array namespace (``"marray.numpy"``), resolved by
:func:`portable_layers._compat.namespace.get_namespace`.

``jax``, ``torch`` and ``dask`` are imported only here and in the other modules of this
package (and in the gradient-check oracles): other modules ask :func:`import_jax`,
:func:`import_torch` or :func:`import_dask` for the module.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import NamedTuple

__all__ = [
    "BACKENDS",
    "CHECK_BACKENDS",
    "REGISTRY",
    "TEST_BACKENDS",
    "Backend",
    "import_dask",
    "import_jax",
    "import_torch",
    "installed_backends",
    "is_installed",
    "require_module",
]


class Backend(NamedTuple):
    """One short backend name.

    ``module`` is imported to find out whether it is installed, ``extra`` is the pip
    extra that installs it; ``namespace`` says whether :func:`get_namespace` returns a
    namespace for the name (the test-only variants configure one that does), ``check``
    whether the ``check`` command runs on it by default, ``test`` whether the pytest
    plugin's ``all`` includes it.
    """

    name: str
    module: str
    extra: str
    namespace: bool = True
    check: bool = True
    test: bool = True


#: Every short name, in the order the test matrix and the ``check`` command use.
REGISTRY: dict[str, Backend] = {b.name: b for b in (
    Backend("numpy", "numpy", "numpy"),
    # NumPy whose asarray returns read-only arrays: catches a layer writing into an input
    Backend("numpy_readonly", "numpy", "numpy", namespace=False, check=False),
    Backend("jax", "jax", "jax"),
    Backend("array_api_strict", "array_api_strict", "array-api-strict"),
    # array_api_strict set to revision 2023.12, and without data-dependent shapes and
    # boolean indexing: the pytest plugin sets the flags around each test
    Backend("array_api_strict_2023", "array_api_strict", "array-api-strict",
            namespace=False, check=False, test=False),
    Backend("array_api_strict_nodds", "array_api_strict", "array-api-strict",
            namespace=False, check=False, test=False),
    Backend("torch", "torch", "torch"),
    Backend("dask", "dask.array", "dask", check=False, test=False),
)}

#: Names :func:`get_namespace` knows (a namespace of its own each).
BACKENDS: tuple[str, ...] = tuple(n for n, b in REGISTRY.items() if b.namespace)
#: The ``check`` command's default backends (those installed).
CHECK_BACKENDS: tuple[str, ...] = tuple(n for n, b in REGISTRY.items() if b.check)
#: The pytest plugin's ``all`` (those installed).
TEST_BACKENDS: tuple[str, ...] = tuple(n for n, b in REGISTRY.items() if b.test)


def is_installed(name: str) -> bool:
    """Whether the library behind a short name, or a dotted path's top module, is installed."""
    backend = REGISTRY.get(name)
    top = (backend.module if backend is not None else name).split(".")[0]
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def installed_backends() -> list[str]:
    """Names of :data:`BACKENDS` whose library can be imported, in that order."""
    return [name for name in BACKENDS if is_installed(name)]


def require_module(purpose: str, module: str, extra: str) -> None:
    """Raise ImportError, saying what to install, unless ``module`` can be imported.

    Looks the module up without importing it (``train --plot`` asks before training).
    """
    if importlib.util.find_spec(module) is None:
        msg = f"{purpose} needs {module}; install it with pip install 'portable-layers[{extra}]'"
        raise ImportError(msg)


def _import(module: str, library: str, extra: str, purpose: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        msg = f"{purpose} needs {library}; install it with pip install 'portable-layers[{extra}]'"
        raise ImportError(msg) from None


def import_jax(purpose: str) -> ModuleType:
    """Import and return ``jax``, or raise ImportError saying ``purpose`` needs it."""
    return _import("jax", "JAX", "jax", purpose)


def import_torch(purpose: str) -> ModuleType:
    """Import and return ``torch``, or raise ImportError saying ``purpose`` needs it."""
    return _import("torch", "PyTorch", "torch", purpose)


def import_dask(purpose: str) -> ModuleType:
    """Import ``dask.array`` and return ``dask`` (``dask.array`` is then its ``array``),
    or raise ImportError saying ``purpose`` needs it."""
    _import("dask.array", "Dask", "dask", purpose)
    return importlib.import_module("dask")
