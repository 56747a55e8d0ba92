"""The package surface: imports, __all__, typing marker, doctests."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import portable_layers as pl

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(pl.__path__, prefix="portable_layers.")
    if not m.name.endswith("__main__")
)


def test_import_loads_neither_jax_nor_torch() -> None:
    code = (
        "import sys, portable_layers, portable_layers.gradient_check, portable_layers.cases\n"
        "print(sorted(m for m in ('jax', 'torch', 'array_api_strict', 'dask') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_all_is_complete_and_resolves() -> None:
    for name in pl.__all__:
        assert hasattr(pl, name), name
    public = {n for n in vars(pl) if not n.startswith("_") and callable(getattr(pl, n))}
    assert public <= set(pl.__all__), public - set(pl.__all__)
    for name in ("affine", "relu", "leaky_relu", "sigmoid", "tanh", "affine_relu"):
        assert f"{name}_forward" in pl.__all__ and f"{name}_backward" in pl.__all__
    assert {"svm_loss", "softmax_loss", "TwoLayerPerceptron", "gradient_check"} <= set(pl.__all__)


def test_py_typed_marker_ships() -> None:
    assert (Path(pl.__file__).parent / "py.typed").is_file()


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module: str) -> None:
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
