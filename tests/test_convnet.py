"""ThreeLayerConvNet: shapes, gradients (finite differences and JAX autodiff), Solver, digits."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest
from helpers import (
    assert_array,
    base_namespace,
    check_model_gradients,
    randn,
    train_command_val_accuracy,
)

from portable_layers.models import ThreeLayerConvNet
from portable_layers.solver import Solver

# The autodiff oracle where JAX is installed (everywhere but the nojax session).
ORACLES = ("numerical", "autodiff") if importlib.util.find_spec("jax") else ("numerical",)

SHAPE = (2, 4, 4)


def make(xp: Any, dtype: str = "float64", reg: float = 0.0) -> ThreeLayerConvNet:
    return ThreeLayerConvNet(SHAPE, num_filters=3, filter_size=3, hidden_dim=5, num_classes=4,
                             weight_scale=0.3, reg=reg, xp=base_namespace(xp), dtype=dtype,
                             seed=0)


def test_shapes_and_attributes(xp: Any) -> None:
    model = make(xp)
    shapes = {k: tuple(v.shape) for k, v in model.params.items()}
    assert shapes == {"W1": (3, 2, 3, 3), "b1": (3,), "W2": (12, 5), "b2": (5,),
                      "W3": (5, 4), "b3": (4,)}
    assert (model.input_shape, model.input_dim, model.num_classes) == (SHAPE, 32, 4)
    assert model.conv_param == {"stride": 1, "pad": 1}
    default = ThreeLayerConvNet(xp=base_namespace(xp), dtype="float32", seed=0)
    assert tuple(default.params["W1"].shape) == (32, 3, 7, 7)
    assert tuple(default.params["W2"].shape) == (32 * 16 * 16, 100)
    X = randn(xp, 3, *SHAPE, dtype="float32")
    assert_array(make(xp, "float32").loss(X), xp, (3, 4), base_namespace(xp).float32)
    assert tuple(make(xp, "float32").predict(X).shape) == (3,)


def test_gradients_check_layer(xp: Any) -> None:
    model = make(xp, reg=0.2)
    X, y = randn(xp, 3, *SHAPE, seed=1), xp.asarray(np.array([0, 3, 1]))
    result = check_model_gradients(model, X, y, 8, ORACLES)
    assert result.ok, str(result)


def test_wrong_image_shape_is_a_clear_value_error(xp: Any) -> None:
    model = make(xp)
    msg = r"ThreeLayerConvNet.loss: X must have shape \(N, 2, 4, 4\) \(images N, C, H, W\), got"
    with pytest.raises(ValueError, match=msg + r" \(3, 32\)"):
        model.loss(randn(xp, 3, 32))
    with pytest.raises(ValueError, match=msg + r" \(3, 4, 4, 2\)"):
        model.predict(randn(xp, 3, 4, 4, 2))
    y = np.zeros(4, dtype=np.int64)
    flat = {"X_train": np.zeros((4, 32)), "y_train": y, "X_val": np.zeros((4, 32)), "y_val": y}
    # 32 features, the model's count, but not its image layout: refused up front
    with pytest.raises(ValueError, match=r"Solver: X_train must have shape \(N, 2, 4, 4\)"):
        Solver(model, flat, num_epochs=1, batch_size=2, verbose=False)
    small = {k: np.zeros((4, 2, 3, 5)) if k.startswith("X") else v for k, v in flat.items()}
    with pytest.raises(ValueError, match="Solver: X_train must have 32 features per sample"):
        Solver(model, small, verbose=False)


def test_constructor_errors(xp: Any) -> None:
    ns = base_namespace(xp)
    with pytest.raises(ValueError, match=r"ThreeLayerConvNet: input_dim must be a tuple"):
        ThreeLayerConvNet(64, xp=ns)
    with pytest.raises(ValueError, match=r"ThreeLayerConvNet: input_dim\[2\] must be a positive"):
        ThreeLayerConvNet((1, 8, 0), xp=ns)
    with pytest.raises(ValueError, match="ThreeLayerConvNet: num_filters must be a positive"):
        ThreeLayerConvNet((1, 8, 8), num_filters=0, xp=ns)
    with pytest.raises(ValueError, match="filter_size 4 and the 2x2 pool leave no output"):
        ThreeLayerConvNet((1, 2, 2), filter_size=4, xp=ns)


def test_trains_with_solver(xp: Any) -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, *SHAPE))
    y = (np.mean(X[:, 0], axis=(1, 2)) > 0).astype(np.int64)
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    model = make(xp, "float32")
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 2e-2},
                    num_epochs=10, batch_size=20, verbose=False, seed=0)
    solver.train()
    assert solver.loss_history[-1] < solver.loss_history[0]
    assert_array(model.params["W1"], xp, (3, 2, 3, 3), base_namespace(xp).float32)
    assert solver.best_val_acc > 0.7


@pytest.mark.slow
def test_digits_reach_97_percent(xp: Any, capsys: Any) -> None:
    """The ``train --model convnet`` digits defaults (cli.recipes.CONVNET_DEFAULTS), 1-4 s each."""
    pytest.importorskip("sklearn")
    val, out = train_command_val_accuracy("convnet", xp, capsys)
    assert val >= 0.97, out

