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
``array_api_strict`` and ``torch``.  A backend may also be named by an importable
dotted path to an array namespace (``--backend marray.numpy``), and by two settings of
array_api_strict that ``all`` leaves out: ``array_api_strict_2023`` (revision 2023.12,
the oldest the library supports) and ``array_api_strict_nodds`` (no data-dependent
shapes, no boolean indexing); the plugin sets those flags around each test and restores
them.  A table of :class:`~portable_layers.cases.LayerCase` runs on every selected
backend in one line (:func:`check_cases`)::

    from portable_layers.pytest_plugin import check_cases

    test_my_layers = check_cases(MY_CASES)

Disable the plugin with ``-p no:portable_layers.pytest_plugin``.
"""

from __future__ import annotations

import contextlib
import os
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest

from . import _compat
from .gradient_check import assert_layer_gradients

__all__ = ["ALL_BACKENDS", "ENV", "ReadOnlyNumPy", "backend", "check_cases", "namespace",
           "selected_backends"]

#: The backends ``all`` selects (those installed), from the one registry of names.
ALL_BACKENDS = _compat.TEST_BACKENDS
ENV = "PORTABLE_LAYERS_BACKENDS"

# array_api_strict's flags for its two test settings
_STRICT_FLAGS: dict[str, dict[str, Any]] = {
    "array_api_strict_2023": {"api_version": "2023.12"},
    "array_api_strict_nodds": {"data_dependent_shapes": False, "boolean_indexing": False},
}


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
    """The namespace for a backend name (a short name of the registry or a dotted path;
    JAX gets x64 on).  The array_api_strict settings need :func:`backend` around them."""
    if name == "numpy_readonly":
        return ReadOnlyNumPy()
    if name in _STRICT_FLAGS:
        return _compat.get_namespace("array_api_strict")
    if name == "jax":
        _compat.import_jax("the jax backend").config.update("jax_enable_x64", True)
    return _compat.get_namespace(name)


@contextlib.contextmanager
def backend(name: str) -> Iterator[Any]:
    """The namespace of ``name``, with array_api_strict's flags set for its settings
    inside the block and restored after it."""
    ns = namespace(name)
    if name not in _STRICT_FLAGS:
        yield ns
        return
    with ns.ArrayAPIStrictFlags(**_STRICT_FLAGS[name]):
        _compat.forget_namespaces()  # the revision is looked up afresh
        try:
            yield ns
        finally:
            _compat.forget_namespaces()


def _unusable(name: str) -> str | None:
    """Why ``name`` cannot be a test backend, or None."""
    if name in _compat.REGISTRY:
        return None if _compat.is_installed(name) else "not installed"
    try:
        _compat.get_namespace(name)
    except (ImportError, TypeError, ValueError) as e:
        return str(e)
    return None


def selected_backends(config: pytest.Config) -> list[str]:
    """The backends this run tests on (see the module docstring)."""
    if not callable(getattr(config, "getoption", None)):
        raise TypeError(f"selected_backends: config must be a pytest.Config, got "
                        f"{type(config).__name__}")
    chosen = config.getoption("portable_layers_backend") or [
        b for b in os.environ.get(ENV, "all").split(",") if b.strip()
    ]
    chosen = [b.strip() for b in chosen]
    if chosen == ["all"]:
        return [b for b in ALL_BACKENDS if _compat.is_installed(b)]
    problems = {b: why for b in chosen if (why := _unusable(b)) is not None}
    missing = [b for b, why in problems.items() if why == "not installed"]
    if missing:
        raise pytest.UsageError(f"portable_layers: backends not installed: {missing}")
    if problems:
        said = "".join(f"; {why}" for why in problems.values() if "unknown backend" not in why)
        raise pytest.UsageError(
            f"portable_layers: unknown backends {list(problems)}; choose from "
            f"{', '.join(_compat.REGISTRY)} or an importable dotted path to an array "
            f"namespace{said}")
    return chosen


def check_cases(cases: Sequence[Any], *, dtype: str = "float64",
                **kwargs: Any) -> Callable[..., None]:
    """A test that checks every :class:`~portable_layers.cases.LayerCase` of ``cases`` on
    every selected backend: ``test_mine = check_cases(MY_CASES)`` in a test module.

    Each case runs :func:`~portable_layers.cases.run_case` (``kwargs`` go to
    :func:`~portable_layers.gradient_check.check_layer`: ``oracles``, ``mode``, ...) and
    the test fails with the check's report when the forward or a gradient is wrong.
    """
    from .cases import LayerCase, run_case

    if isinstance(cases, (str, bytes)) or not isinstance(cases, Iterable):
        raise TypeError(f"check_cases: cases must be a non-empty sequence of LayerCase, got "
                        f"{type(cases).__name__}")
    cases = list(cases)
    bad = [type(c).__name__ for c in cases if not isinstance(c, LayerCase)]
    if bad or not cases:
        msg = (f"check_cases: cases must be a non-empty sequence of LayerCase, got "
               f"{bad or 'an empty sequence'}")
        raise TypeError(msg)

    @pytest.mark.parametrize("case", cases, ids=[c.name for c in cases])
    def test_layer_case(case: Any, xp: Any) -> None:
        result = run_case(case, xp, dtype, **kwargs)
        if not result.ok:
            pytest.fail(str(result), pytrace=False)

    return test_layer_case


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("portable_layers")
    group.addoption("--backend", action="append", dest="portable_layers_backend",
                    metavar="NAME", help=f"array backend for the xp fixture (repeatable; "
                    f"default ${ENV} or all installed): {', '.join(ALL_BACKENDS)}, "
                    "another name of the registry or a dotted path to an array namespace")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "xp" in metafunc.fixturenames:
        backends = selected_backends(metafunc.config)
        metafunc.parametrize("xp", backends, indirect=True, ids=backends)


@pytest.fixture
def xp(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The array namespace of one backend; tests using it run once per backend."""
    with backend(request.param) as ns:
        yield ns


@pytest.fixture
def assert_gradients() -> Any:
    """:func:`portable_layers.gradient_check.assert_layer_gradients`.

    Without JAX it checks against finite differences alone; the returned result's
    ``notes`` say that the autodiff oracle was skipped.
    """
    return assert_layer_gradients


def pytest_report_header(config: pytest.Config) -> str:
    return f"portable_layers backends: {', '.join(selected_backends(config))}"
