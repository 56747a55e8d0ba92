"""The pytest plugin, run as a user would: a separate pytest process on a user's test file."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

from portable_layers import _compat

USER_TESTS = '''
import numpy as np
import portable_layers as pl


def my_forward(x):
    out = x * x
    return out, x


def my_backward(dout, cache):
    return 2 * cache * dout


def wrong_backward(dout, cache):
    return 3 * cache * dout


def test_square(xp, assert_gradients):
    x = xp.asarray(np.random.default_rng(0).normal(size=(3, 2)))
    assert_gradients(my_forward, my_backward, (x,), oracles=("numerical",))


def test_wrong_square(xp, assert_gradients):
    x = xp.asarray(np.random.default_rng(0).normal(size=(3, 2)))
    assert_gradients(my_forward, wrong_backward, (x,), oracles=("numerical",))
'''


def test_plugin_is_registered_as_an_entry_point() -> None:
    names = {ep.value for ep in importlib.metadata.entry_points(group="pytest11")}
    assert "portable_layers.pytest_plugin" in names


def test_plugin_runs_a_users_test_per_backend(xp: Any, pytester: pytest.Pytester) -> None:
    """The user's file runs on the backend given by --backend; a wrong backward is named.

    (``xp`` comes first so that its imports happen before pytester snapshots sys.modules.)
    """

    backend = _compat.backend_name(_compat.array_namespace("t", a=xp.asarray(0.0)))
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("--backend", backend, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"*portable_layers backends: {backend}*"])
    result.stdout.fnmatch_lines(["*dx * vs numerical * FAIL*", "*dx[[]*[]] analytic*oracle*"])


def test_plugin_rejects_unknown_backends(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("--backend", "tensorflow")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*unknown backends [[]'tensorflow'[]]*"])


USER_CASES = '''
from portable_layers.cases import LayerCase
from portable_layers.pytest_plugin import check_cases


def square_forward(x):
    return x * x, x


def square_backward(dout, x):
    return 2 * x * dout


def wrong_backward(dout, x):
    return 2.02 * x * dout


def inputs(rng):
    return (rng.standard_normal((4, 3)),)


CASES = [LayerCase("square", square_forward, square_backward, inputs, ("x",)),
         LayerCase("wrong_square", square_forward, wrong_backward, inputs, ("x",))]

test_cases = check_cases(CASES, oracles=("numerical",))
'''


def test_check_cases_runs_a_users_table_per_backend(pytester: pytest.Pytester) -> None:
    """One line checks a user's table on every selected backend; the wrong backward fails
    by name, with the report, and the right one passes."""
    pytester.makepyfile(test_cases=USER_CASES)
    result = pytester.runpytest_subprocess("--backend", "numpy", "--backend",
                                           "array_api_strict", "-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*test_cases[[]numpy-square[]] PASSED*",
                                 "*test_cases[[]array_api_strict-wrong_square[]] FAILED*"])
    result.stdout.fnmatch_lines(["wrong_square: FAILED", "*dx * vs numerical error * FAIL",
                                 "*dx[[]*[]] analytic*oracle*"])


def test_check_cases_refuses_what_is_not_a_table() -> None:
    from portable_layers.pytest_plugin import check_cases

    with pytest.raises(TypeError, match="check_cases: cases must be a non-empty sequence of "
                                        "LayerCase, got \\['tuple'\\]"):
        check_cases([("square", None)])


def test_plugin_takes_a_dotted_path(pytester: pytest.Pytester) -> None:
    pytest.importorskip("marray")  # in the test extra
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("--backend", "marray.numpy", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*portable_layers backends: marray.numpy*"])


def test_plugin_names_a_path_that_is_no_namespace(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("--backend", "numpy.linalg")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*unknown backends [[]'numpy.linalg'[]]*'numpy.linalg' "
                                 "resolves to 'numpy.linalg', which is not an array namespace*"])


@pytest.mark.parametrize("name,flags", [
    ("array_api_strict_2023", {"api_version": "2023.12"}),
    ("array_api_strict_nodds", {"data_dependent_shapes": False, "boolean_indexing": False}),
])
def test_strict_settings_are_set_inside_and_restored(name: str, flags: dict[str, Any]) -> None:
    strict = pytest.importorskip("array_api_strict")
    from portable_layers.pytest_plugin import backend

    before = strict.get_array_api_strict_flags()
    with backend(name) as ns:
        assert ns is strict
        now = strict.get_array_api_strict_flags()
        assert {k: now[k] for k in flags} == flags != {k: before[k] for k in flags}
    assert strict.get_array_api_strict_flags() == before
