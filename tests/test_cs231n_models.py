"""The course's model cells through ``portable_layers.cs231n`` on every backend:
TwoLayerNet, FullyConnectedNet (plain, batchnorm, dropout), ThreeLayerConvNet, the
Solver, get_CIFAR10_data (on a synthetic CIFAR-10) and visualize_grid.

The models draw their weights from NumPy's global generator, so each cell's
``np.random.seed(231)`` gives the course's printed initial losses exactly.

Gradient checks: on writable parameters (NumPy, PyTorch) the course's idiom
``f = lambda _: model.loss(X, y)[0]`` needs the in-place finite-difference contract
of portable_layers.gradient_check (it lands with ``grad_check_sparse``); before it
and on immutable arrays (JAX) the numerical gradient is taken with ``f`` setting
the perturbed array into ``model.params``.

On NumPy every parameter's analytic gradient is checked against finite differences
of the model's own loss. On the other backends the finite differences of every
parameter are taken on the model's NumPy twin (built alike, holding the backend
model's parameters and ``reg``: the same function), and the backend's analytic
gradients are checked against them; the differences on the backend's own arrays run
for one parameter per cell (the last bias). The cells take thousands of losses, which
on eager JAX cost milliseconds each: this is the same check at NumPy's speed.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import assert_array, base_namespace

import portable_layers.gradient_check as core_gc
from portable_layers import _compat
from portable_layers.cs231n.classifiers.cnn import ThreeLayerConvNet
from portable_layers.cs231n.classifiers.fc_net import *  # noqa: F403 (the course's import)
from portable_layers.cs231n.classifiers.fc_net import FullyConnectedNet, TwoLayerNet
from portable_layers.cs231n.data_utils import get_CIFAR10_data
from portable_layers.cs231n.gradient_check import eval_numerical_gradient, rel_error
from portable_layers.cs231n.solver import Solver
from portable_layers.cs231n.vis_utils import visualize_grid

IN_PLACE_CONTRACT = hasattr(core_gc, "grad_check_sparse")


def host(a: Any) -> np.ndarray:
    return np.asarray(_compat.to_numpy(a))


def err(a: Any, b: Any) -> float:
    return rel_error(host(a), host(b))


def writable(a: Any) -> bool:
    return (isinstance(a, np.ndarray) and a.flags.writeable) or type(a).__module__.startswith(
        "torch")


def numerical(model: Any, name: str, X: Any, y: Any, h: float = 1e-5) -> Any:
    """The cells' numerical gradient of ``model.loss(X, y)[0]`` in ``model.params[name]``."""
    if writable(model.params[name]) and IN_PLACE_CONTRACT:
        f = lambda _: model.loss(X, y)[0]  # noqa: E731 (the course's idiom, verbatim)
        return eval_numerical_gradient(f, model.params[name], verbose=False, h=h)

    def g(w: Any) -> float:
        old = model.params[name]
        model.params[name] = w
        try:
            return model.loss(X, y)[0]
        finally:
            model.params[name] = old

    return eval_numerical_gradient(g, model.params[name], verbose=False, h=h)


def numpy_twin(xp: Any, make: Any) -> Any:
    """``make("numpy")``, the model built again on NumPy, on a backend other than NumPy
    (None on NumPy); NumPy's global generator is left as it was, so the cell's next
    draws stay the course's."""
    if base_namespace(xp) is _compat.get_namespace("numpy"):
        return None
    state = np.random.get_state()
    try:
        return make("numpy")
    finally:
        np.random.set_state(state)


def reference(model: Any, twin: Any, name: str, X: Any, y: Any, h: float = 1e-5) -> Any:
    """The finite differences of ``model``'s loss in ``name``: taken on ``model`` itself
    on NumPy (``twin`` None), else on ``twin`` holding ``model``'s parameters and reg."""
    if twin is None:
        return numerical(model, name, X, y, h)
    twin.params = {k: host(v) for k, v in model.params.items()}
    twin.reg = model.reg
    return numerical(twin, name, host(X), host(y), h)


def last_bias(grads: dict[str, Any]) -> str:
    """The output layer's bias (``b2``, ``b3``): a parameter no normalization follows."""
    return max((k for k in grads if k[0] == "b" and k[1:].isdigit()), key=lambda k: int(k[1:]))


def fc_cell_data(xp: Any) -> tuple[Any, Any]:
    np.random.seed(231)
    N, D, C = 2, 15, 10
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))
    return xp.asarray(X), xp.asarray(y)


def test_two_layer_net_cell(xp: Any) -> None:
    ns = base_namespace(xp)
    np.random.seed(231)
    N, D, H, C = 3, 5, 50, 7
    np.random.randn(N, D)
    np.random.randint(C, size=N)
    std = 1e-3
    make = lambda xp: TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C,  # noqa: E731
                                  weight_scale=std, xp=xp)
    model, twin = make(ns), numpy_twin(xp, make)
    assert abs(host(model.params["W1"]).std() - std) < std / 10
    assert abs(host(model.params["W2"]).std() - std) < std / 10
    assert np.all(host(model.params["b1"]) == 0) and np.all(host(model.params["b2"]) == 0)

    model.params["W1"] = np.linspace(-0.7, 0.3, num=D * H).reshape(D, H)  # item assignment
    model.params["b1"] = np.linspace(-0.1, 0.9, num=H)
    model.params["W2"] = np.linspace(-0.3, 0.4, num=H * C).reshape(H, C)
    model.params["b2"] = np.linspace(-0.9, 0.1, num=C)
    X = xp.asarray(np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T)
    scores = model.loss(X)
    correct_scores = np.asarray([
        [11.53165108, 12.2917344, 13.05181771, 13.81190102, 14.57198434, 15.33206765,
         16.09215096],
        [12.05769098, 12.74614105, 13.43459113, 14.1230412, 14.81149128, 15.49994135,
         16.18839143],
        [12.58373087, 13.20054771, 13.81736455, 14.43418138, 15.05099822, 15.66781506,
         16.2846319]])
    assert_array(scores, xp, (N, C), ns.float64)
    assert np.abs(host(scores) - correct_scores).sum() < 1e-6
    y = xp.asarray(np.asarray([0, 5, 1]))
    loss, grads = model.loss(X, y)
    assert isinstance(loss, float) and abs(loss - 3.4702243556) < 1e-10
    model.reg = 1.0
    loss, grads = model.loss(X, y)
    assert abs(loss - 26.5948426952) < 1e-10
    for reg in [0.0, 0.7]:
        model.params = {k: xp.asarray(v) for k, v in model.params.items()}
        model.reg = reg
        loss, grads = model.loss(X, y)
        for name in sorted(grads):
            # the published run: at most 2.5e-07
            assert err(reference(model, twin, name, X, y), grads[name]) < 1e-6, (reg, name)
        if twin is not None:
            name = last_bias(grads)
            assert err(numerical(model, name, X, y), grads[name]) < 1e-6, (reg, name)


@pytest.mark.parametrize(("normalization", "keep", "losses"), [
    (None, 1, {0: 2.3004790897684924, 3.14: 7.052114776533016}),
    ("batchnorm", 1, {0: 2.2611955101340957, 3.14: 6.996533220108303}),
])
def test_fc_net_initial_loss_and_gradient_cells(xp: Any, normalization: str | None, keep: float,
                                                losses: dict[float, float]) -> None:
    X, y = fc_cell_data(xp)
    for reg, expected in losses.items():
        make = lambda ns, reg=reg: FullyConnectedNet(  # noqa: E731
            [20, 30], input_dim=15, num_classes=10, reg=reg, weight_scale=5e-2,
            dtype=np.float64, normalization=normalization, xp=ns)
        model, twin = make(base_namespace(xp)), numpy_twin(xp, make)
        loss, grads = model.loss(X, y)
        assert abs(loss - expected) < 1e-12, (reg, loss)  # the published "Initial loss"
        assert sorted(grads) == sorted(model.params)
        for name in sorted(grads):
            if normalization == "batchnorm" and name in ("b1", "b2"):
                # batchnorm subtracts the batch mean, so the loss does not depend on these
                # biases: both gradients are zero up to rounding (the published run prints
                # 0.00e+00; on JAX the finite differences leave 4e-11 of noise, which the
                # relative error's 1e-8 floor would turn into 4e-3).  A constant f is what
                # the finite differences warn about on immutable arrays; here it is right.
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", "eval_numerical_gradient: f returned")
                    num = reference(model, twin, name, X, y)
                assert np.abs(host(num)).max() < 1e-9 and np.abs(host(grads[name])).max() < 1e-12
                continue
            # the cells: "errors around 1e-6 or less", W up to 1e-4 with batchnorm
            tol = 1e-3 if name.startswith("W") else 1e-6
            assert err(reference(model, twin, name, X, y), grads[name]) < tol, (reg, name)
        if twin is not None:
            name = last_bias(grads)
            assert err(numerical(model, name, X, y), grads[name]) < 1e-6, (reg, name)


def test_fc_net_dropout_cell(xp: Any) -> None:
    X, y = fc_cell_data(xp)
    published = {1: 2.3004790897684924, 0.75: 2.302371489704412, 0.5: 2.3042759220785896}
    for keep, expected in published.items():
        make = lambda ns, keep=keep: FullyConnectedNet(  # noqa: E731
            [20, 30], input_dim=15, num_classes=10, weight_scale=5e-2, dtype=np.float64,
            dropout_keep_ratio=keep, seed=123, xp=ns)
        model, twin = make(base_namespace(xp)), numpy_twin(xp, make)
        loss, grads = model.loss(X, y)
        assert abs(loss - expected) < 1e-12, (keep, loss)
        for name in sorted(grads):
            # "Relative errors should be around e-6 or less" (W2 e-5 without dropout)
            assert err(reference(model, twin, name, X, y), grads[name]) < 1e-4, (keep, name)
        if twin is not None:
            name = last_bias(grads)
            assert err(numerical(model, name, X, y), grads[name]) < 1e-4, (keep, name)


def test_three_layer_convnet_cells(xp: Any) -> None:
    ns = base_namespace(xp)
    np.random.seed(231)
    model = ThreeLayerConvNet(xp=ns)  # the course's defaults, float32
    X = np.random.randn(50, 3, 32, 32)  # float64 data into a float32 model
    y = np.random.randint(10, size=50)
    loss, grads = model.loss(X, y)
    assert abs(loss - np.log(10)) < 0.01  # "about log(C)"
    assert_array(grads["W1"], xp, (32, 3, 7, 7), ns.float32)
    model.reg = 0.5
    loss_reg, _ = model.loss(X, y)
    assert loss < loss_reg < loss + 0.5  # "the loss should go up slightly"

    np.random.seed(231)
    input_dim = (3, 16, 16)
    X = xp.asarray(np.random.randn(2, *input_dim))
    y = xp.asarray(np.random.randint(10, size=2))
    make = lambda ns: ThreeLayerConvNet(num_filters=3, filter_size=3,  # noqa: E731
                                        input_dim=input_dim, hidden_dim=7, dtype=np.float64,
                                        xp=ns)
    model, twin = make(ns), numpy_twin(xp, make)
    loss, grads = model.loss(X, y)
    for name in sorted(model.params):
        # "correct implementations may have relative errors up to the order of e-2";
        # the published run: W2 1.822723e-02, the others at most 2.5e-03
        assert err(reference(model, twin, name, X, y, h=1e-6), grads[name]) < 5e-2, name
    if twin is not None:
        name = last_bias(grads)
        assert err(numerical(model, name, X, y, h=1e-6), grads[name]) < 5e-2, name


def test_star_import_and_model_attributes(xp: Any) -> None:
    assert callable(affine_forward) and callable(affine_relu_backward)  # noqa: F405
    assert callable(batchnorm_backward_alt) and callable(conv_bn_relu_forward)  # noqa: F405
    np.random.seed(0)
    model = FullyConnectedNet([4], input_dim=3, num_classes=2, normalization="batchnorm",
                              xp=base_namespace(xp))
    assert sorted(model.params) == ["W1", "W2", "b1", "b2", "beta1", "gamma1"]
    assert model.params["W1"].dtype == base_namespace(xp).float32
    X = xp.asarray(np.random.randn(5, 3))
    model.loss(X, xp.asarray(np.array([0, 1, 0, 1, 1])))
    assert "running_mean" in model.bn_params[0]  # statistics kept in the course's dicts
    assert_array(model.loss(X), xp, (5, 2), base_namespace(xp).float32)
    with pytest.raises(ValueError, match="normalization"):
        FullyConnectedNet([4], normalization="groupnorm")


def test_solver_histories(xp: Any) -> None:
    ns = base_namespace(xp)
    np.random.seed(231)
    n, d = 300, 6
    X = np.random.randn(n, d)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)  # linearly separable
    data = {"X_train": X[:200], "y_train": y[:200], "X_val": X[200:], "y_val": y[200:]}
    model = FullyConnectedNet([10], input_dim=d, num_classes=2, weight_scale=0.1, xp=ns)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 5e-2},
                    lr_decay=0.9, num_epochs=5, batch_size=20, verbose=False)
    solver.train()
    assert len(solver.loss_history) == 5 * 10  # one per iteration
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 5 + 1
    assert solver.best_val_acc == max(solver.val_acc_history) > 0.9
    assert solver.check_accuracy(data["X_val"], data["y_val"]) == solver.best_val_acc
    assert np.mean(solver.loss_history[-5:]) < 0.5 * np.mean(solver.loss_history[:5])
    config = solver.optim_configs["W1"]
    assert config["t"] == 50 and abs(config["learning_rate"] - 5e-2 * 0.9**5) < 1e-15
    with pytest.raises(ValueError, match="update_rule"):
        Solver(model, data, update_rule="nesterov")
    with pytest.raises(ValueError, match="unrecognized"):
        Solver(model, data, learning_rate=1.0)


def test_get_cifar10_data_and_visualize_grid(tmp_path: Path, xp: Any) -> None:
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in ("data_batch_1", "data_batch_2", "test_batch"):
        batch = {b"data": rng.integers(0, 256, (10, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, 10)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    data = get_CIFAR10_data(num_training=15, num_validation=3, num_test=4, cifar10_dir=folder)
    shapes = {k: v.shape for k, v in data.items()}
    assert shapes == {"X_train": (15, 3, 32, 32), "y_train": (15,), "X_val": (3, 3, 32, 32),
                      "y_val": (3,), "X_test": (4, 3, 32, 32), "y_test": (4,)}
    np.testing.assert_allclose(data["X_train"].mean(axis=0), 0, atol=1e-12)
    raw = get_CIFAR10_data(15, 3, 4, subtract_mean=False, cifar10_dir=folder)
    np.testing.assert_allclose(raw["X_val"] - raw["X_train"].mean(axis=0), data["X_val"])
    with pytest.raises(ValueError, match="asked for"):
        get_CIFAR10_data(cifar10_dir=folder)

    np.random.seed(0)
    model = ThreeLayerConvNet(num_filters=5, filter_size=3, xp=base_namespace(xp))
    W1 = xp.permute_dims(model.params["W1"], (0, 2, 3, 1))
    grid = visualize_grid(W1)
    assert grid.shape == (3 * 3 + 2, 3 * 3 + 2, 3)  # ceil(sqrt(5)) = 3 tiles a side
    assert grid.min() == 0 and grid.max() == 255
    first = host(W1)[0]
    expected = 255 * (first - first.min()) / (first.max() - first.min())
    np.testing.assert_allclose(grid[:3, :3], expected, rtol=1e-5)


def test_course_idiom_checks_writable_params_in_place(xp: Any) -> None:
    """The course's ``f = lambda _: model.loss(X, y)[0]`` on parameters it can perturb."""
    import portable_layers.cs231n.gradient_check as cs_gc

    if not IN_PLACE_CONTRACT:
        pytest.skip("needs portable_layers.gradient_check's in-place contract (grad_check_sparse)")
    assert cs_gc.grad_check_sparse is core_gc.grad_check_sparse
    X, y = fc_cell_data(xp)
    model = FullyConnectedNet([20, 30], input_dim=15, num_classes=10, reg=3.14,
                              weight_scale=5e-2, dtype=np.float64, xp=base_namespace(xp))
    if not writable(model.params["W1"]):
        pytest.skip("immutable arrays: the course's idiom cannot perturb them (JAX)")
    _, grads = model.loss(X, y)
    for name in sorted(grads):
        before = model.params[name]
        saved = host(before).copy()
        f = lambda _: model.loss(X, y)[0]  # noqa: E731 (verbatim)
        grad_num = eval_numerical_gradient(f, model.params[name], verbose=False, h=1e-5)
        assert err(grad_num, grads[name]) < 1e-6, name  # published: at most 6.9e-08
        assert model.params[name] is before  # the same array, restored bit for bit
        assert np.array_equal(host(before), saved)
