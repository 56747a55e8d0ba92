"""The one ``xp`` fixture: every test runs once per selected backend.

``PORTABLE_LAYERS_BACKENDS`` selects the backends: a comma-separated list of names
from ``portable_layers._compat.BACKENDS`` plus ``numpy_readonly`` (NumPy whose input
arrays are read-only, so a layer that writes into its input fails loudly), or
``all`` (the default) for every installed one.  The noxfile sets it per session.
``pytest -k jax`` selects one backend locally.
"""

from __future__ import annotations

import os
import types
from typing import Any

import numpy as np
import pytest

from portable_layers import _compat

ALL = ("numpy", "numpy_readonly", "jax", "array_api_strict", "torch")


def _selected() -> list[str]:
    raw = os.environ.get("PORTABLE_LAYERS_BACKENDS", "all").strip()
    installed = _compat.installed_backends()
    if raw == "all":
        names = [b for b in ALL if b.removesuffix("_readonly") in installed]
    else:
        names = [b.strip() for b in raw.split(",") if b.strip()]
        unknown = [b for b in names if b not in ALL]
        if unknown:
            raise pytest.UsageError(f"PORTABLE_LAYERS_BACKENDS: unknown backends {unknown}")
        missing = [b for b in names if b.removesuffix("_readonly") not in installed]
        if missing:
            raise pytest.UsageError(f"PORTABLE_LAYERS_BACKENDS: not installed: {missing}")
    return names


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


def _namespace(name: str) -> Any:
    if name == "numpy_readonly":
        return ReadOnlyNumPy()
    if name == "jax":
        import jax

        jax.config.update("jax_enable_x64", True)
    return _compat.get_namespace(name)


BACKENDS = _selected()


@pytest.fixture(params=BACKENDS)
def xp(request: pytest.FixtureRequest) -> Any:
    """The array namespace of one backend (see the module docstring)."""
    return _namespace(request.param)


def pytest_report_header(config: pytest.Config) -> str:
    return f"portable_layers backends: {', '.join(BACKENDS)}"
