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
