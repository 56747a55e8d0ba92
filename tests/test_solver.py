"""The Solver: overfits a tiny problem on every backend, compiled once on JAX."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest
from helpers import assert_array, assert_close, base_namespace

from portable_layers import _compat
from portable_layers.checkpoint import load_checkpoint, read_checkpoint_meta
from portable_layers.models import TwoLayerPerceptron
from portable_layers.solver import Solver

N, D, C = 20, 4, 3


def tiny_data(xp: Any, dtype: str = "float64") -> dict[str, Any]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, 1, 2, 2)).astype(dtype)
    y = np.arange(N) % C
    return {"X_train": xp.asarray(X), "y_train": xp.asarray(y),
            "X_val": xp.asarray(X[:9]), "y_val": xp.asarray(y[:9])}


class CountingModel(TwoLayerPerceptron):
    """Counts the train-mode calls of the ``_forward`` hook (traces, under jax.jit)."""

    grad_calls = 0

    def _forward(self, X: Any, p: Any, mode: str, state: Any, seed: Any) -> Any:
        if mode == "train":
            type(self).grad_calls += 1
        return super()._forward(X, p, mode, state, seed)


def model_for(xp: Any, dtype: str = "float64", cls: type = TwoLayerPerceptron) -> Any:
    return cls(D, 16, C, weight_scale=0.1, xp=base_namespace(xp), dtype=dtype, seed=0)


def test_overfits_tiny_problem_histories_and_best_params(xp: Any) -> None:
    model = model_for(xp)
    solver = Solver(model, tiny_data(xp), update_rule="adam", optim_config={"learning_rate": 5e-2},
                    num_epochs=40, batch_size=10, verbose=False, seed=0)
    solver.train()
    assert len(solver.loss_history) == 40 * 2
    assert len(solver.train_acc_history) == len(solver.val_acc_history) == 41
    assert solver.train_acc_history[-1] == 1.0
    assert solver.loss_history[-1] < 0.5 * solver.loss_history[0]
    assert solver.best_val_acc == max(solver.val_acc_history) == 1.0
    assert all(model.params[k] is v for k, v in solver.best_params.items())
    X_val, y_val = tiny_data(xp)["X_val"], tiny_data(xp)["y_val"]
    assert solver.check_accuracy(X_val, y_val) == solver.best_val_acc


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum", "rmsprop", "adam"])
def test_float32_stays_float32_and_jit_compiles_once(xp: Any, rule: str) -> None:
    counting = type(f"Counting_{rule}", (CountingModel,), {})  # one compiled cache entry each
    model = model_for(xp, "float32", counting)
    solver = Solver(model, tiny_data(np, "float64"), update_rule=rule, lr_decay=0.9,
                    num_epochs=3, batch_size=5, verbose=False, seed=1)
    solver.train()
    f32 = base_namespace(xp).float32
    for k, w in model.params.items():
        assert_array(w, xp, tuple(w.shape), f32)
        for value in solver.optim_configs[k].values():
            if value.ndim:
                assert value.dtype == f32
    assert len(solver.loss_history) == 12
    jitted = _compat.is_jax_namespace(base_namespace(xp))
    assert counting.grad_calls == (1 if jitted else 12)
    assert_close(solver.optim_configs["W1"]["learning_rate"],
                 (1e-3 if rule == "adam" else 1e-2) * 0.9**3, rtol=1e-6)


def test_data_not_mutated_and_numpy_data_moved(xp: Any) -> None:
    data = tiny_data(xp)
    before = {k: np.array(_compat.to_numpy(v)) for k, v in data.items()}
    solver = Solver(model_for(xp), data, num_epochs=1, batch_size=10, verbose=False, seed=0)
    solver.train()
    for k, v in data.items():
        assert_close(v, before[k])
    host = Solver(model_for(xp), tiny_data(np), verbose=False)
    assert_array(host.X_train, xp, (N, 1, 2, 2), base_namespace(xp).float64)


def test_nan_loss_stops_naming_epoch_and_iteration(xp: Any) -> None:
    data = tiny_data(np)
    X = np.array(data["X_train"])
    X[7] = np.nan
    data["X_train"] = xp.asarray(X)
    model = model_for(xp)
    solver = Solver(model, data, num_epochs=50, batch_size=4, verbose=False, seed=0)
    msg = (
        r"at epoch \d+ of 50, iteration \d+ of 250"
    )
    with pytest.raises(FloatingPointError, match=msg) as info:
        solver.train()
    iteration = int(re.search(r"iteration (\d+)", str(info.value)).group(1))
    assert len(solver.loss_history) == iteration - 1
    assert all(math.isfinite(v) for v in solver.loss_history)
    assert all(model.params[k] is v for k, v in solver.best_params.items())
    assert all(np.isfinite(_compat.to_numpy(v)).all() for v in model.params.values())


def test_option_and_data_errors(xp: Any) -> None:
    model, data = model_for(xp), tiny_data(xp)
    msg = (
        r"get_update_rule: name must be one of \['adam', 'rmsprop', 'sgd', "
        r"'sgd_momentum'\], got 'adagrad'"
    )
    with pytest.raises(ValueError, match=msg):
        Solver(model, data, update_rule="adagrad")
    msg = (
        r"Solver: unknown options \['learning_rate'\]; valid options are "
        r"\[.*'batch_size'.*'update_rule'"
    )
    with pytest.raises(ValueError, match=msg):
        Solver(model, data, learning_rate=1.0)
    with pytest.raises(ValueError, match="Solver: batch_size must be a positive integer, got 0"):
        Solver(model, data, batch_size=0)
    with pytest.raises(ValueError, match=r"Solver: data must hold .* missing \['y_val'\]"):
        Solver(model, {k: v for k, v in data.items() if k != "y_val"})
    wide = {**data, "X_val": xp.asarray(np.zeros((9, 5)))}
    msg = (
        r"Solver: X_val must have 4 features per sample for the model, "
        r"got shape \(9, 5\)"
    )
    with pytest.raises(ValueError, match=msg):
        Solver(model, wide)
    labels = {**data, "y_train": xp.asarray(np.arange(N))}
    msg = (
        r"Solver: y_train must hold labels in \[0, 3\) for the model, "
        r"got values from 0 to 19"
    )
    with pytest.raises(ValueError, match=msg):
        Solver(model, labels)
    short = {**data, "y_train": xp.asarray(np.zeros(3, dtype=np.int64))}
    msg = (
        r"Solver: y_train must be integer labels of shape \(20,\)"
    )
    with pytest.raises(ValueError, match=msg):
        Solver(model, short)


def test_checkpoints_per_epoch_and_verbose_output(xp: Any, tmp_path: Any, capsys: Any) -> None:
    model = model_for(xp)
    name = tmp_path / "run"
    solver = Solver(model, tiny_data(xp), update_rule="sgd_momentum", num_epochs=2,
                    batch_size=10, checkpoint_name=str(name), print_every=1, seed=0)
    solver.train()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"run_epoch_{e}.npz" for e in range(3)]
    assert "(Epoch 2 / 2) train acc:" in capsys.readouterr().out
    meta = read_checkpoint_meta(tmp_path / "run_epoch_2.npz")
    assert meta["epoch"] == 2 and meta["update_rule"] == "sgd_momentum"
    assert meta["loss_history"].shape == (4,)
    fresh = TwoLayerPerceptron(D, 16, C, seed=5)
    configs = load_checkpoint(tmp_path / "run_epoch_2.npz", fresh)
    assert sorted(configs) == sorted(model.params)
    assert configs["W1"]["velocity"].shape == (D, 16)
    assert configs["W1"]["learning_rate"] == pytest.approx(1e-2)
