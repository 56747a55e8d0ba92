"""The seed's finite-difference contract: x moved in place and restored bitwise.

CS231n checks every model like this::

    for name in sorted(model.params):
        f = lambda _: model.loss(X, y)[0]
        grad_num = eval_numerical_gradient(f, model.params[name], verbose=False, h=1e-5)

``f`` ignores its argument and reads the parameter from the model, so the helpers
must move that very array.  On writable arrays (NumPy, PyTorch, array_api_strict)
they do; on immutable ones (JAX, read-only NumPy) they cannot, and warn.
"""

from __future__ import annotations

import random
import re
from typing import Any

import array_api_compat
import numpy as np
import pytest
from helpers import base_namespace, randn

import portable_layers as pl
from portable_layers import _compat
from portable_layers.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
)

WARNING = "pass the array as f's argument"


def _writable(x: Any) -> bool:
    return bool(array_api_compat.is_writeable_array(x))


def _bits(x: Any) -> bytes:
    return np.array(_compat.to_numpy(x), copy=True).tobytes()


def _model(kind: str, xp: Any) -> tuple[Any, Any, Any, float]:
    """A model, inputs and the largest relative error CS231n's notebooks accept for it."""
    ns = base_namespace(xp)
    rng = np.random.default_rng(231)
    if kind == "two_layer":  # the course's TwoLayerNet cell: N=3, D=5, H=50, C=7
        model = pl.TwoLayerPerceptron(5, 50, 7, weight_scale=1e-1, reg=0.1, xp=ns,
                                      dtype="float64", seed=0)
        X, y = rng.standard_normal((3, 5)), rng.integers(0, 7, size=3)
        bound = 1e-6  # "errors should be around e-7 or less"
    elif kind == "fc":  # the FullyConnectedNet cell: N=2, D=15, H=(20, 30), C=10
        model = pl.FullyConnectedNet([20, 30], 15, 10, weight_scale=5e-2, reg=3.14, xp=ns,
                                     dtype="float64", seed=0)
        X, y = rng.standard_normal((2, 15)), rng.integers(0, 10, size=2)
        bound = 1e-6  # "errors should be around e-7 or less"
    elif kind == "fc_batchnorm":  # the batchnorm cell: N=4, D=5, H=(10, 5), C=10
        model = pl.FullyConnectedNet([10, 5], 5, 10, weight_scale=5e-2, reg=0.0, xp=ns,
                                     dtype="float64", seed=0, normalization="batchnorm")
        X, y = rng.standard_normal((4, 5)), rng.integers(0, 10, size=4)
        bound = 1e-4  # batch statistics of a few rows: the course accepts larger errors
    else:  # the ThreeLayerConvNet cell (3 filters of 3x3, hidden 7) on 8x8 images, not 16x16
        model = pl.ThreeLayerConvNet((3, 8, 8), 3, 3, 7, 10, weight_scale=1e-2, xp=ns,
                                     dtype="float64", seed=0)
        X, y = rng.standard_normal((2, 3, 8, 8)), rng.integers(0, 10, size=2)
        bound = 1e-2  # the course's conv-net check prints errors up to ~1e-3
    return model, ns.asarray(X), ns.asarray(y), bound


@pytest.mark.parametrize("kind", ["two_layer", "fc", "fc_batchnorm", "conv"])
def test_cs231n_idiom_over_every_model(xp: Any, kind: str) -> None:
    model, X, y, bound = _model(kind, xp)
    _, grads = model.loss(X, y)
    for name in sorted(model.params):
        param = model.params[name]
        before = _bits(param)

        def f(_: Any) -> Any:
            return model.loss(X, y)[0]

        if _writable(param):
            grad_num = eval_numerical_gradient(f, model.params[name], verbose=False, h=1e-5)
            assert rel_error(grad_num, grads[name]) < bound, name
            assert _compat.array_namespace("t", g=grad_num) is base_namespace(xp)
            assert grad_num.dtype == param.dtype and tuple(grad_num.shape) == tuple(param.shape)
        else:
            with pytest.warns(UserWarning, match=re.escape(WARNING)):
                eval_numerical_gradient(f, model.params[name], verbose=False, h=1e-5)
        assert model.params[name] is param, name  # the same object, still the model's
        assert _bits(param) == before, name


def test_array_idiom_and_both_ways_of_writing_f(xp: Any) -> None:
    x, w, b = randn(xp, 4, 5, seed=1), randn(xp, 5, 3, seed=2), randn(xp, 3, seed=3)
    dout = randn(xp, 4, 3, seed=4)
    _, cache = pl.affine_forward(x, w, b)
    _, dw, _ = pl.affine_backward(dout, cache)
    uses_argument = eval_numerical_gradient_array(lambda v: pl.affine_forward(x, v, b)[0], w, dout)
    assert rel_error(uses_argument, dw) < 1e-8
    before = _bits(w)
    if _writable(w):  # the seed's notebook: lambda _: affine_forward(x, w, b)[0]
        ignores = eval_numerical_gradient_array(lambda _: pl.affine_forward(x, w, b)[0], w, dout)
        assert rel_error(ignores, dw) < 1e-8
    else:
        with pytest.warns(UserWarning, match=re.escape(WARNING)):
            eval_numerical_gradient_array(lambda _: pl.affine_forward(x, w, b)[0], w, dout)
    assert _bits(w) == before


def test_f_returning_a_view_of_x_is_copied(xp: Any) -> None:
    x = randn(xp, 2, 3, seed=5)
    grad = eval_numerical_gradient_array(lambda v: v, x, xp.ones((2, 3), dtype=x.dtype))
    np.testing.assert_allclose(_compat.to_numpy(grad), np.ones((2, 3)), rtol=1e-9)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_x_restored_bitwise_also_when_f_raises(xp: Any, dtype: str) -> None:
    # Entries where (x + h) - h != x in floating point: only a saved copy restores them.
    x = xp.asarray(np.array([[1e-20, 0.1, -3.3], [1.7, -0.0, 2.5]], dtype=dtype))
    before, calls = _bits(x), []

    def f(v: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:  # the second entry's +h evaluation
            raise RuntimeError("boom")
        return _compat.array_namespace("t", v=v).sum(v * v)

    with pytest.raises(RuntimeError, match="boom"):
        eval_numerical_gradient(f, x, verbose=False)
    assert _bits(x) == before
    with pytest.raises(RuntimeError, match="boom"):
        calls.clear()
        eval_numerical_gradient_array(lambda v: f(v) * xp.ones(2, dtype=x.dtype), x,
                                      xp.ones(2, dtype=x.dtype))
    assert _bits(x) == before
    grad = eval_numerical_gradient(lambda v: _compat.array_namespace("t", v=v).sum(v * v), x,
                                   verbose=False)
    assert _bits(x) == before
    assert grad.dtype == x.dtype


def test_grad_check_sparse_prints_like_cs231n(xp: Any, capsys: Any) -> None:
    model, X, y, _ = _model("two_layer", xp)
    _, grads = model.loss(X, y)
    W1 = model.params["W1"]
    before = _bits(W1)

    def f(_: Any) -> Any:
        return model.loss(X, y)[0]

    random.seed(231)
    if _writable(W1):
        errors = grad_check_sparse(f, W1, grads["W1"], num_checks=5)
        assert len(errors) == 5 and max(errors) < 1e-6
        lines = capsys.readouterr().out.splitlines()
        number = r"-?\d+\.\d{6}"
        pattern = rf"numerical: {number} analytic: {number}, relative error: \d\.\d{{6}}e[+-]\d\d"
        assert len(lines) == 5 and all(re.fullmatch(pattern, ln) for ln in lines), lines
        random.seed(231)
        assert grad_check_sparse(f, W1, grads["W1"], num_checks=5) == errors  # random.seed fixes it
    else:
        with pytest.warns(UserWarning, match=re.escape(WARNING)):
            grad_check_sparse(f, W1, grads["W1"], num_checks=2)
    assert _bits(W1) == before and model.params["W1"] is W1
    errors = grad_check_sparse(lambda v: model.loss(X, y, params={**model.params, "W1": v})[0],
                               W1, grads["W1"], num_checks=3, seed=0)
    assert max(errors) < 1e-6


def test_grad_check_sparse_names_a_wrong_gradient_shape(xp: Any) -> None:
    x = randn(xp, 3, 2, seed=1)
    with pytest.raises(ValueError, match=r"grad_check_sparse: analytic_grad must have x's shape"):
        grad_check_sparse(lambda v: v, x, np.ones((2, 3)))


def test_rel_error_refuses_two_libraries(xp: Any) -> None:
    x = randn(xp, 3, seed=1)
    if array_api_compat.is_numpy_array(x):
        import array_api_strict

        other = array_api_strict.ones(3, dtype=array_api_strict.float64)
        names = ("numpy", "array_api_strict")
    else:
        other = np.ones(3)
        names = ("numpy", type(x).__module__.split(".")[0].replace("jaxlib", "jax"))
    with pytest.raises(TypeError, match="rel_error") as info:
        rel_error(x, other)
    assert all(n in str(info.value) for n in names), str(info.value)
    assert rel_error(x, x) == 0.0
