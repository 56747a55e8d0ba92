"""One dtype policy on every backend: float32 mixed with float64 in one call is a TypeError.

NumPy and JAX would promote silently, PyTorch raised a bare ``RuntimeError`` from inside
``affine_forward`` and array_api_strict promotes; now every backend gives the same
``TypeError`` naming the function and both dtypes (``_compat.same_float_dtype``, called
by ``_compat.array_namespace`` at every public entry point).  Walked over every case of
the layer table: each floating input in turn in the other dtype, and a ``dout`` of the
other dtype than the forward's.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from helpers import assert_array, base_namespace, randn

import portable_layers as pl
from portable_layers import _compat, optim
from portable_layers.cases import CASES, LayerCase

MESSAGE = re.compile(r"\w+: \w+ and \w+ must have the same floating dtype, got "
                     r"(float32 and float64|float64 and float32)")
OTHER = {"float32": "float64", "float64": "float32"}


def _floating(case: LayerCase) -> list[int]:
    host = case.make_inputs(np.random.default_rng(0))
    return [i for i, a in enumerate(host) if np.issubdtype(a.dtype, np.floating)]


def _inputs(xp: Any, case: LayerCase, dtypes: dict[int, str]) -> list[Any]:
    host = case.make_inputs(np.random.default_rng(0))
    return [xp.asarray(a.astype(dtypes[i])) if i in dtypes else xp.asarray(a)
            for i, a in enumerate(host)]


def _assert_policy_error(info: pytest.ExceptionInfo[TypeError], func: str) -> None:
    text = str(info.value)
    assert MESSAGE.search(text), text
    assert text.startswith(func), (func, text)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_forward_with_one_input_in_the_other_dtype(xp: Any, case: LayerCase, dtype: str) -> None:
    floating = _floating(case)
    if len(floating) < 2:  # one floating input (activations, pooling, dropout, losses)
        inputs = _inputs(xp, case, dict.fromkeys(floating, dtype))
        out = case.forward(*inputs)
        first = out[0] if case.backward is not None else out[1]  # loss cases: (loss, dx)
        assert first.dtype == getattr(base_namespace(xp), dtype)  # nothing to mix: kept
        return
    for odd in floating:
        dtypes = {i: (OTHER[dtype] if i == odd else dtype) for i in floating}
        inputs = _inputs(xp, case, dtypes)
        before = [np.array(_compat.to_numpy(a), copy=True) for a in inputs]
        with pytest.raises(TypeError) as info:
            case.forward(*inputs)
        assert MESSAGE.search(str(info.value)), (case.name, odd, str(info.value))
        for a, b in zip(before, inputs, strict=True):
            np.testing.assert_array_equal(a, _compat.to_numpy(b))


@pytest.mark.parametrize("case", [c for c in CASES if c.backward is not None],
                         ids=[c.name for c in CASES if c.backward is not None])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_backward_with_dout_in_the_other_dtype(xp: Any, case: LayerCase, dtype: str) -> None:
    inputs = _inputs(xp, case, dict.fromkeys(_floating(case), dtype))
    out, cache = case.forward(*inputs)
    dout = xp.asarray(np.ones(tuple(out.shape), dtype=OTHER[dtype]))
    if case.name == "dropout_test":  # test mode: the identity; its cache holds no array
        assert case.backward(dout, cache) is dout  # type: ignore[misc]
        return
    with pytest.raises(TypeError) as info:
        case.backward(dout, cache)  # type: ignore[misc]
    assert MESSAGE.search(str(info.value)), (case.name, str(info.value))
    assert re.match(r"\w+_backward: dout and \w+ must", str(info.value)), str(info.value)
    # the same dout in the forward's dtype works and keeps it
    grads = case.backward(xp.asarray(np.ones(tuple(out.shape), dtype=dtype)), cache)  # type: ignore[misc]
    for g, x in zip(grads if isinstance(grads, tuple) else (grads,), inputs, strict=False):
        assert g.dtype == x.dtype


def test_affine_forward_names_the_function_and_both_dtypes(xp: Any) -> None:
    x, w, b = randn(xp, 4, 6, dtype="float32"), randn(xp, 6, 3), randn(xp, 3)
    with pytest.raises(TypeError) as info:
        pl.affine_forward(x, w, b)
    assert str(info.value).startswith(
        "affine_forward: x and w must have the same floating dtype, got float32 and float64")


@pytest.mark.parametrize("rule", [optim.sgd, optim.sgd_momentum, optim.rmsprop, optim.adam],
                         ids=lambda r: r.__name__)
def test_update_rules(xp: Any, rule: Any) -> None:
    w, dw = randn(xp, 5), randn(xp, 5, seed=1, dtype="float32")
    with pytest.raises(TypeError) as info:
        rule(w, dw, None)
    _assert_policy_error(info, rule.__name__)


def test_model_loss_with_data_of_the_other_dtype(xp: Any) -> None:
    model = pl.TwoLayerPerceptron(6, 5, 3, xp=base_namespace(xp), dtype="float32", seed=0)
    X, y = randn(xp, 4, 6), xp.asarray(np.array([0, 1, 2, 0]))
    with pytest.raises(TypeError) as info:
        model.loss(X, y)
    assert MESSAGE.search(str(info.value)), str(info.value)
    loss, grads = model.loss(xp.asarray(_compat.to_numpy(X).astype("float32")), y)
    assert_array(loss, xp, (), base_namespace(xp).float32)
    assert all(g.dtype == base_namespace(xp).float32 for g in grads.values())


def test_integer_labels_are_not_a_dtype_mix(xp: Any) -> None:
    """Labels (integers) beside float32 scores are fine: only floating dtypes are compared."""
    x = randn(xp, 4, 3, dtype="float32")
    loss, dx = pl.softmax_loss(x, xp.asarray(np.array([0, 1, 2, 0])))
    assert_array(loss, xp, (), base_namespace(xp).float32)
    assert_array(dx, xp, (4, 3), base_namespace(xp).float32)
