"""The small argument checks of ``portable_layers._validate`` that the layers, models,
data helpers, gradient checks and the Solver share: what they accept, what they refuse
and the messages (function, argument, value)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from helpers import base_namespace

import portable_layers as pl
from portable_layers import _validate as check


def _refused(exc: type[Exception], message: str, fn: Any, *args: Any, **kw: Any) -> None:
    with pytest.raises(exc, match="^" + re.escape(message) + "$"):
        fn(*args, **kw)


def test_integer_takes_python_numpy_and_0d_integer_arrays(xp: Any) -> None:
    for value in (3, np.int64(3), np.int32(3), xp.asarray(3)):
        got = check.integer("f", "n", value, low=1)
        assert got == 3 and type(got) is int, (value, got)
    assert check.positive_int("f", "n", xp.asarray(2)) == 2
    assert check.integer_type("f", "n", xp.asarray(5)) == 5
    assert check.integer("f", "n", None, allow_none=True) is None


def test_integer_refuses_bools_floats_arrays_and_small_values(xp: Any) -> None:
    for value in (True, np.True_, 2.0, "2", None, xp.asarray(2.0), xp.asarray([2]),
                  xp.asarray(True)):
        with pytest.raises(ValueError, match=r"^f: n must be an integer >= 0, got "):
            check.integer("f", "n", value)
        with pytest.raises(TypeError, match=r"^f: n must be an int, got "):
            check.integer_type("f", "n", value)
    _refused(ValueError, "f: n must be an integer >= 2, got 1", check.integer, "f", "n", 1, low=2)
    _refused(ValueError, "f: n must be a positive integer, got 0", check.positive_int, "f", "n", 0)
    _refused(ValueError, "f: n must be a positive integer or None, got -1",
             check.positive_int, "f", "n", -1, allow_none=True)
    _refused(ValueError, "f: n must be a non-negative integer, got -1",
             check.integer, "f", "n", -1, want="a non-negative integer")


def test_integer_item_requires_the_key_and_names_it() -> None:
    assert check.integer_item("f", "p", {"stride": np.int64(2)}, "stride", 1) == 2
    _refused(ValueError, "f: p must have the key 'pad', got keys ['stride']",
             check.integer_item, "f", "p", {"stride": 1}, "pad", 0)
    _refused(ValueError, "f: p['pad'] must be an integer >= 0, got -1",
             check.integer_item, "f", "p", {"pad": -1}, "pad", 0)
    _refused(ValueError, "f: p['stride'] must be a positive integer, got 1.5",
             check.integer_item, "f", "p", {"stride": 1.5}, "stride", 1)


def test_number_bounds_and_messages() -> None:
    assert check.number("f", "x", 2) == 2.0 and type(check.number("f", "x", 2)) is float
    assert check.number("f", "x", 1.0, high=1.0) == 1.0
    assert check.number("f", "x", 0.0, high=1.0, closed=True) == 0.0
    for bad in (0, -1.0, float("nan"), True, "1", None):
        with pytest.raises(ValueError, match=r"^f: x must be a positive number, got "):
            check.number("f", "x", bad)
    _refused(ValueError, "f: x must be a number in (0, 1], got 0.0",
             check.number, "f", "x", 0.0, high=1.0)
    _refused(ValueError, "f: x must be a number in [0, 1], got 1.5",
             check.number, "f", "x", 1.5, high=1.0, closed=True)
    _refused(ValueError, "f: x must be a number >= 2, got 1", check.number, "f", "x", 1,
             low=2, closed=True)
    assert check.number_item("f", "p", {}, "eps", 1e-5) == 1e-5
    _refused(ValueError, "f: p['eps'] must be a positive number, got -1",
             check.number_item, "f", "p", {"eps": -1}, "eps", 1e-5)
    assert check.positive_number("f", "x", 3) == 3.0


def test_mapping_mode_and_image_checks(xp: Any) -> None:
    params = {"mode": "train"}
    assert check.mapping("f", "p", params) is params
    _refused(TypeError, "f: p must be a dict, got list", check.mapping, "f", "p", [1])
    assert check.mode("f", "p", params) == "train"
    _refused(ValueError, "f: p['mode'] must be 'train' or 'test', got None",
             check.mode, "f", "p", {})
    assert check.image_shape("f", [1, np.int64(8), 8]) == (1, 8, 8)
    _refused(ValueError, "f: input_dim must be a tuple (C, H, W), got '188'",
             check.image_shape, "f", "188")
    _refused(ValueError, "f: input_dim[2] must be a positive integer, got 0",
             check.image_shape, "f", (1, 8, 0))
    check.images("f", xp.zeros((2, 1, 8, 8)), (1, 8, 8))
    _refused(ValueError, "f: X must have shape (N, 1, 8, 8) (images N, C, H, W), got (2, 64)",
             check.images, "f", xp.zeros((2, 64)), (1, 8, 8))


def test_public_functions_take_numpy_integer_sizes(xp: Any) -> None:
    """The checks return Python ints, so NumPy integers work as sizes everywhere."""
    x = xp.asarray(np.arange(16.0).reshape(1, 1, 4, 4))
    out, _ = pl.max_pool_forward(x, {"pool_height": np.int64(2), "pool_width": 2,
                                     "stride": np.int32(2)})
    assert tuple(out.shape) == (1, 1, 2, 2)
    np.testing.assert_array_equal(np.asarray(pl._compat.to_numpy(out)).ravel(), [5, 7, 13, 15])
    model = pl.FullyConnectedNet([np.int64(3)], np.int64(4), 2, xp=base_namespace(xp), seed=0)
    assert tuple(model.params["W1"].shape) == (4, 3)
