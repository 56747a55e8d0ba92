"""pytest plugin: run a test once per array backend, and check gradients in one line.

Installed with the package (entry point ``pytest11``), so in any project that has
``portable-layers`` installed::

    def test_my_layer(xp, assert_gradients):
        x = xp.asarray(np.random.default_rng(0).normal(size=(4, 3)))
        assert_gradients(my_forward, my_backward, (x,))

runs ``test_my_layer`` on every installed backend (against finite differences and,
when JAX is installed, autodiff).  The backends come from
``--backend NAME`` (repeatable), else the ``PORTABLE_LAYERS_BACKENDS`` environment
variable (comma-separated), else ``all``: every installed one of ``numpy``,
``numpy_readonly`` (NumPy whose ``asarray`` returns read-only arrays, so a layer that
writes into its input fails loudly), ``jax`` (with 64-bit floats enabled),
``array_api_strict`` and ``torch``.  Disable the plugin with
``-p no:portable_layers.pytest_plugin``.
"""

from __future__ import annotations

import os
import types
from typing import Any

import numpy as np
import pytest

from . import _compat
from .gradient_check import assert_layer_gradients

__all__ = ["ALL_BACKENDS", "ENV", "ReadOnlyNumPy", "namespace", "selected_backends"]

ALL_BACKENDS = ("numpy", "numpy_readonly", "jax", "array_api_strict", "torch")
ENV = "PORTABLE_LAYERS_BACKENDS"


class ReadOnlyNumPy(types.ModuleType):
    """array_api_compat.numpy, except that ``asarray`` returns read-only arrays."""

    def __init__(self) -> None:
        super().__init__("numpy_readonly")
        self._xp = _compat.get_namespace("numpy")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._xp, name)

    def asarray(self, obj: Any, **kwargs: Any) -> np.ndarray:
        a = np.array(self._xp.asarray(obj, **kwargs), copy=True)
        a.flags.writeable = False
        return a


def namespace(name: str) -> Any:
    """The namespace for a backend name of :data:`ALL_BACKENDS` (JAX gets x64 on)."""
    if name == "numpy_readonly":
        return ReadOnlyNumPy()
    if name == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
    return _compat.get_namespace(name)


def selected_backends(config: pytest.Config) -> list[str]:
    """The backends this run tests on (see the module docstring)."""
    chosen = config.getoption("portable_layers_backend") or [
        b for b in os.environ.get(ENV, "all").split(",") if b.strip()
    ]
    chosen = [b.strip() for b in chosen]
    installed = _compat.installed_backends()
    if chosen == ["all"]:
        return [b for b in ALL_BACKENDS if b.removesuffix("_readonly") in installed]
    unknown = [b for b in chosen if b not in ALL_BACKENDS]
    if unknown:
        raise pytest.UsageError(
            f"portable_layers: unknown backends {unknown}; choose from {', '.join(ALL_BACKENDS)}"
        )
    missing = [b for b in chosen if b.removesuffix("_readonly") not in installed]
    if missing:
        raise pytest.UsageError(f"portable_layers: backends not installed: {missing}")
    return chosen


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("portable_layers")
    group.addoption("--backend", action="append", dest="portable_layers_backend",
                    metavar="NAME", help=f"array backend for the xp fixture (repeatable; "
                    f"default ${ENV} or all installed): {', '.join(ALL_BACKENDS)}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "xp" in metafunc.fixturenames:
        backends = selected_backends(metafunc.config)
        metafunc.parametrize("xp", backends, indirect=True, ids=backends)


@pytest.fixture
def xp(request: pytest.FixtureRequest) -> Any:
    """The array namespace of one backend; tests using it run once per backend."""
    return namespace(request.param)


@pytest.fixture
def assert_gradients() -> Any:
    """:func:`portable_layers.gradient_check.assert_layer_gradients`.

    Without JAX it checks against finite differences alone; the returned result's
    ``notes`` say that the autodiff oracle was skipped.
    """
    return assert_layer_gradients


def pytest_report_header(config: pytest.Config) -> str:
    return f"portable_layers backends: {', '.join(selected_backends(config))}"
