"""Bad input gets a ValueError or TypeError naming the function, the argument and the values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from helpers import asxp, randn

import portable_layers as pl
from portable_layers import _compat


def _x(xp: Any) -> Any:
    return randn(xp, 4, 2, 3, seed=1)


# (id, call(xp), exception, message fragments)
CASES: list[tuple[str, Callable[[Any], Any], type[Exception], tuple[str, ...]]] = [
    ("affine w rows", lambda xp: pl.affine_forward(_x(xp), randn(xp, 5, 3), randn(xp, 3)),
     ValueError, ("affine_forward", "w", "(D, M) with D = 6", "(5, 3)")),
    ("affine w 1-d", lambda xp: pl.affine_forward(_x(xp), randn(xp, 6), randn(xp, 3)),
     ValueError, ("affine_forward", "w", "2 dimensions")),
    ("affine b shape", lambda xp: pl.affine_forward(_x(xp), randn(xp, 6, 3), randn(xp, 4)),
     ValueError, ("affine_forward", "b", "(M,) = (3,)", "(4,)")),
    ("affine int x", lambda xp: pl.affine_forward(asxp(xp, np.ones((4, 6), dtype=np.int64)),
                                                  randn(xp, 6, 3), randn(xp, 3)),
     TypeError, ("affine_forward", "x", "floating")),
    ("affine list x", lambda xp: pl.affine_forward([[1.0] * 6], randn(xp, 6, 3), randn(xp, 3)),
     TypeError, ("affine_forward", "x must be an array", "list")),
    ("affine dout shape", lambda xp: pl.affine_backward(
        randn(xp, 4, 2), pl.affine_forward(_x(xp), randn(xp, 6, 3), randn(xp, 3))[1]),
     ValueError, ("affine_backward", "dout", "(4, 3)", "(4, 2)")),
    ("relu int", lambda xp: pl.relu_forward(asxp(xp, np.array([1, 2]))),
     TypeError, ("relu_forward", "x", "floating")),
    ("relu dout shape", lambda xp: pl.relu_backward(randn(xp, 3), randn(xp, 4)),
     ValueError, ("relu_backward", "dout", "(4,)", "(3,)")),
    ("leaky alpha", lambda xp: pl.leaky_relu_forward(randn(xp, 3), alpha="0.1"),
     TypeError, ("leaky_relu_forward", "alpha")),
    ("sigmoid dout", lambda xp: pl.sigmoid_backward(randn(xp, 2, 2), randn(xp, 2, 3)),
     ValueError, ("sigmoid_backward", "dout", "(2, 3)")),
    ("tanh bool", lambda xp: pl.tanh_forward(asxp(xp, np.array([True]))),
     TypeError, ("tanh_forward", "x")),
    ("svm label high", lambda xp: pl.svm_loss(randn(xp, 3, 4), asxp(xp, np.array([0, 4, 1]))),
     ValueError, ("svm_loss", "y", "[0, 4)", "from 0 to 4")),
    ("softmax label negative", lambda xp: pl.softmax_loss(randn(xp, 3, 4),
                                                          asxp(xp, np.array([0, -1, 1]))),
     ValueError, ("softmax_loss", "y", "from -1 to 1")),
    ("softmax float labels", lambda xp: pl.softmax_loss(randn(xp, 3, 4), randn(xp, 3)),
     TypeError, ("softmax_loss", "y", "integer")),
    ("svm y shape", lambda xp: pl.svm_loss(randn(xp, 3, 4), asxp(xp, np.array([0, 1]))),
     ValueError, ("svm_loss", "y", "(N,) = (3,)", "(2,)")),
    ("softmax x 1-d", lambda xp: pl.softmax_loss(randn(xp, 4), asxp(xp, np.array([0]))),
     ValueError, ("softmax_loss", "x", "2 dimensions")),
    ("softmax empty", lambda xp: pl.softmax_loss(randn(xp, 0, 4), asxp(xp, np.zeros(0, int))),
     ValueError, ("softmax_loss", "x", "at least one sample")),
]


@pytest.mark.parametrize("call,exc,fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_named(xp: Any, call: Callable[[Any], Any], exc: type[Exception],
                            fragments: tuple[str, ...]) -> None:
    with pytest.raises(exc) as info:
        call(xp)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_mixing_two_libraries_is_a_type_error(xp: Any) -> None:
    x = randn(xp, 4, 6)
    w = np.ones((6, 3)) if not _compat.is_numpy_array(x) else None
    if w is None:  # x is NumPy: mix with array_api_strict, always installed with the tests
        import array_api_strict as strict

        w = strict.ones((6, 3), dtype=strict.float64)
    with pytest.raises(TypeError, match=r"affine_forward: all arrays must come from one array "
                                        r"library, but x is \w+, w is \w+, b is \w+"):
        pl.affine_forward(x, w, randn(xp, 3))
