"""TwoLayerPerceptron and FullyConnectedNet: scores, loss, gradients (by finite differences)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import assert_array, assert_close, base_namespace, randn

from portable_layers import _compat
from portable_layers.gradient_check import eval_numerical_gradient, scaled_error
from portable_layers.models import FullyConnectedNet, TwoLayerPerceptron

N, D, C = 4, 5, 3


def make(kind: str, xp: Any, dtype: str = "float64", reg: float = 0.0) -> Any:
    ns = base_namespace(xp)
    if kind == "two_layer":
        return TwoLayerPerceptron(D, 6, C, weight_scale=0.5, reg=reg, xp=ns, dtype=dtype, seed=0)
    return FullyConnectedNet([6, 4], D, C, reg=reg, weight_scale=0.5, xp=ns, dtype=dtype, seed=0)


def inputs(xp: Any, dtype: str = "float64") -> tuple[Any, Any]:
    return randn(xp, N, 1, D, seed=3, dtype=dtype), xp.asarray(np.array([0, 2, 1, 2]))


@pytest.mark.parametrize("kind", ["two_layer", "fc"])
@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_grads_match_finite_differences(xp: Any, kind: str, reg: float) -> None:
    model = make(kind, xp, reg=reg)
    X, y = inputs(xp)
    value, grads = model.loss(X, y)
    assert_array(value, xp, (), base_namespace(xp).float64)
    for k, w in model.params.items():

        def loss(w: Any, k: str = k) -> float:
            return float(model.loss(X, y, params={**model.params, k: w})[0])

        numeric = eval_numerical_gradient(loss, w, verbose=False)
        assert_array(grads[k], xp, tuple(w.shape), base_namespace(xp).float64)
        assert scaled_error(grads[k], numeric) < 1e-7, k


@pytest.mark.parametrize("kind", ["two_layer", "fc"])
def test_reg_term(xp: Any, kind: str) -> None:
    X, y = inputs(xp)
    plain, g0 = make(kind, xp).loss(X, y)
    model = make(kind, xp, reg=0.3)
    loss, g1 = model.loss(X, y)
    weights = [_compat.to_numpy(v) for k, v in model.params.items() if k.startswith("W")]
    assert len(weights) == model.num_layers
    expected = float(plain) + 0.5 * 0.3 * sum(float(np.sum(w * w)) for w in weights)
    assert_close(loss, expected, rtol=1e-12)
    for k, w in model.params.items():
        extra = 0.3 * _compat.to_numpy(w) if k.startswith("W") else 0.0
        assert_close(g1[k], _compat.to_numpy(g0[k]) + extra, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", ["two_layer", "fc"])
def test_float32_scores_predict_and_inputs_untouched(xp: Any, kind: str) -> None:
    model = make(kind, xp, dtype="float32")
    X, y = inputs(xp, "float32")
    X_host = np.array(_compat.to_numpy(X))
    f32 = base_namespace(xp).float32
    scores = model.loss(X)
    assert_array(scores, xp, (N, C), f32)
    loss, grads = model.loss(X, y)
    assert_array(loss, xp, (), f32)
    for k, g in grads.items():
        assert_array(g, xp, tuple(model.params[k].shape), f32)
    pred = model.predict(X)
    assert tuple(pred.shape) == (N,)
    assert_close(pred, np.argmax(_compat.to_numpy(scores), axis=1))
    assert_close(X, X_host)


def test_two_layer_is_fc_with_one_hidden_layer(xp: Any) -> None:
    ns = base_namespace(xp)
    two = TwoLayerPerceptron(D, 6, C, weight_scale=0.1, reg=0.2, xp=ns, seed=1)
    fc = FullyConnectedNet([6], D, C, weight_scale=0.1, reg=0.2, xp=ns, seed=1)
    X, y = inputs(xp)
    (l1, g1), (l2, g2) = two.loss(X, y), fc.loss(X, y)
    assert_close(l1, l2)
    assert list(g1) == list(g2) == ["W1", "b1", "W2", "b2"]
    for k in g1:
        assert_close(g1[k], g2[k])
    assert (two.input_dim, two.num_classes, fc.num_layers) == (D, C, 2)


def test_fc_shapes_and_softmax_only(xp: Any) -> None:
    ns = base_namespace(xp)
    model = FullyConnectedNet([7, 6, 5], D, C, xp=ns, seed=0)
    shapes = {k: tuple(v.shape) for k, v in model.params.items()}
    assert shapes == {"W1": (D, 7), "b1": (7,), "W2": (7, 6), "b2": (6,), "W3": (6, 5),
                      "b3": (5,), "W4": (5, C), "b4": (C,)}
    linear = FullyConnectedNet([], D, C, xp=ns, seed=0)
    assert sorted(linear.params) == ["W1", "b1"]
    X, y = inputs(xp)
    assert tuple(linear.loss(X).shape) == (N, C)
    assert sorted(linear.loss(X, y)[1]) == ["W1", "b1"]


@pytest.mark.parametrize("kind", ["two_layer", "fc"])
def test_params_setter_errors_leave_model_unchanged(xp: Any, kind: str) -> None:
    model = make(kind, xp)
    before = dict(model.params)
    name = type(model).__name__
    with pytest.raises(ValueError, match=rf"{name}.params: expected a dict with keys"):
        model.params = {"W1": before["W1"]}
    bad = {**before, "b1": randn(xp, 2)}
    with pytest.raises(ValueError, match=rf"{name}.params: b1 must have shape \(6,\), got \(2,\)"):
        model.params = bad
    with pytest.raises(TypeError, match=rf"{name}.params: W1 must be an array"):
        model.params = {**before, "W1": [[0.0]]}
    assert all(model.params[k] is v for k, v in before.items())
    with pytest.raises(ValueError, match=rf"{name}: reg must be a non-negative number"):
        model.reg = -1.0
    new = {k: v * 2 for k, v in before.items()}
    model.params = new
    assert model.params["W1"] is new["W1"]


def test_constructor_errors(xp: Any) -> None:
    ns = base_namespace(xp)
    with pytest.raises(TypeError, match="FullyConnectedNet: hidden_dims must be a sequence"):
        FullyConnectedNet(5, xp=ns)
    with pytest.raises(ValueError, match=r"FullyConnectedNet: hidden_dims\[1\] must be a positive"):
        FullyConnectedNet([3, 0], xp=ns)
    with pytest.raises(ValueError, match="TwoLayerPerceptron: hidden_dim must be a positive"):
        TwoLayerPerceptron(4, 0, xp=ns)
    with pytest.raises(ValueError, match="FullyConnectedNet: weight_scale must be"):
        FullyConnectedNet([3], weight_scale=-1.0, xp=ns)
