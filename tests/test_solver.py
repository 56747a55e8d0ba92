"""The Solver: overfits a tiny problem on every backend, compiled once on JAX."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest
from helpers import assert_array, assert_close, base_namespace

from portable_layers import _compat, optim
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
    model = model_for(xp)  # a learning rate of 1e200 overflows the scores in two steps
    solver = Solver(model, tiny_data(xp), optim_config={"learning_rate": 1e200},
                    num_epochs=50, batch_size=4, verbose=False, seed=0)
    msg = (
        r"at epoch \d+ of 50, iteration \d+ of 250"
    )
    with pytest.raises(FloatingPointError, match=msg) as info, np.errstate(all="ignore"):
        solver.train()
    iteration = int(re.search(r"iteration (\d+)", str(info.value)).group(1))
    assert iteration > 1
    assert len(solver.loss_history) == iteration - 1
    assert all(math.isfinite(v) for v in solver.loss_history)
    assert all(model.params[k] is v for k, v in solver.best_params.items())
    assert all(np.isfinite(_compat.to_numpy(v)).all() for v in model.params.values())


@pytest.mark.parametrize("key", ["X_train", "X_val"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_features_refused_at_construction_and_at_train(xp: Any, key: str,
                                                                  value: float) -> None:
    data = tiny_data(np)
    bad = np.array(data[key])
    bad[3, 0, 1, 0] = value
    msg = rf"Solver: {key} must hold finite values, got NaN or inf in row 3"
    with pytest.raises(ValueError, match=msg):
        Solver(model_for(xp), {**data, key: xp.asarray(bad)}, verbose=False)
    solver = Solver(model_for(xp), tiny_data(xp), num_epochs=1, verbose=False, seed=0)
    setattr(solver, key, xp.asarray(bad))
    with pytest.raises(ValueError, match=msg):
        solver.train()
    assert solver.loss_history == []


def test_data_checked_again_at_train(xp: Any) -> None:
    """Labels replaced after construction: refused at train(), not trained on (the loss
    history used to read [0.0, 0.0, ...])."""
    solver = Solver(model_for(xp), tiny_data(xp), num_epochs=1, verbose=False, seed=0)
    solver.y_train = tiny_data(np)["y_train"] + 7
    with pytest.raises(ValueError, match=r"Solver: y_train must hold labels in \[0, 3\)"):
        solver.train()
    solver.y_train = tiny_data(np)["y_train"] * 1.0
    with pytest.raises(ValueError, match="Solver: y_train must be integer labels"):
        solver.train()
    solver.X_val = np.zeros((9, 5))
    solver.y_train = tiny_data(np)["y_train"]
    with pytest.raises(ValueError, match="Solver: X_val must have 4 features"):
        solver.train()
    assert solver.loss_history == []
    solver.X_val = tiny_data(np)["X_val"]  # host data again: moved, and training runs
    solver.train()
    assert len(solver.loss_history) == 1
    assert_array(solver.X_val, xp, (9, 1, 2, 2), base_namespace(xp).float64)


@pytest.mark.parametrize("rule", ["sgd", "sgd_momentum", "rmsprop", "adam"])
def test_solver_rules_equal_the_pure_public_rules(xp: Any, rule: str) -> None:
    """The Solver's step (checks off, its own buffers written on NumPy, PyTorch and
    array_api_strict) gives the numbers of the public, pure rule."""
    finals = []
    for update in (rule, lambda w, dw, c, r=rule: getattr(optim, r)(w, dw, c)):
        model = model_for(xp, "float32")
        given = {k: np.array(_compat.to_numpy(v)) for k, v in model.params.items()}
        solver = Solver(model, tiny_data(xp, "float32"), update_rule=update, num_epochs=3,
                        batch_size=5, optim_config={"learning_rate": 1e-2}, verbose=False,
                        seed=0, lr_decay=0.5)
        originals = dict(model.params)
        solver.train()
        for k, v in originals.items():  # the caller's arrays are not written
            np.testing.assert_array_equal(_compat.to_numpy(v), given[k])
        finals.append((solver.loss_history, {k: _compat.to_numpy(v)
                                             for k, v in solver.train_state.params.items()}))
        for w in solver.train_state.params.values():
            assert_array(w, xp, tuple(w.shape), base_namespace(xp).float32)
    np.testing.assert_allclose(finals[0][0], finals[1][0], rtol=1e-5)
    for k in finals[0][1]:
        np.testing.assert_allclose(finals[0][1][k], finals[1][1][k], rtol=1e-4, atol=1e-6)


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


def test_seed_checkpoint_folder_and_optim_config_checked_at_construction(
        xp: Any, tmp_path: Any) -> None:
    model, data = model_for(xp), tiny_data(xp)
    for seed in (-1, 1.5, "0"):
        with pytest.raises(ValueError, match="Solver: seed must be a non-negative integer"):
            Solver(model, data, seed=seed)
    Solver(model, data, seed=2**40, num_epochs=1, verbose=False).train()
    missing = tmp_path / "missing" / "dir"
    with pytest.raises(ValueError, match=f"Solver: checkpoint_name's folder '{missing}'"):
        Solver(model, data, checkpoint_name=str(missing / "ck"))
    with pytest.raises(ValueError, match=r"adam: config\['beta1'\] must be in \[0, 1\), got 1.5"):
        Solver(model, data, update_rule="adam", optim_config={"beta1": 1.5})
    with pytest.raises(ValueError, match=r"sgd: config\['learning_rate'\] must be a finite"):
        Solver(model, data, optim_config={"learning_rate": -1})
    with pytest.raises(TypeError, match=r"sgd: config\['learning_rate'\] must be a number"):
        Solver(model, data, optim_config={"learning_rate": "1e-3"})
    solver = Solver(model, data, update_rule="sgd_momentum", verbose=False)
    bad = {k: {"velocity": np.zeros((3, 4, 2))} for k in model.params}
    with pytest.raises(ValueError, match=r"sgd_momentum: config\['velocity'\] must have w's"):
        solver.optim_configs = bad


def test_streamed_dask_features_checked_batch_by_batch(xp: Any) -> None:
    da = pytest.importorskip("dask.array")
    data = tiny_data(np)
    X = np.array(data["X_train"])
    X[11] = np.nan
    lazy = {**data, "X_train": da.from_array(X, chunks=5), "y_train": da.from_array(
        data["y_train"], chunks=5)}
    solver = Solver(model_for(xp), lazy, num_epochs=5, batch_size=10, verbose=False, seed=0)
    with pytest.raises(ValueError, match="Solver: X_train must hold finite values, got NaN "
                                         "or inf in a batch"):
        solver.train()


def test_optim_configs_set_are_checked_copied_and_trained_with(xp: Any) -> None:
    ns = base_namespace(xp)
    model = model_for(xp, "float32")
    solver = Solver(model, tiny_data(xp, "float32"), update_rule="adam", num_epochs=2,
                    batch_size=10, verbose=False, seed=0)
    given = {k: {"learning_rate": 0.5, "t": 3, "m": ns.zeros(tuple(w.shape), dtype=w.dtype)}
             for k, w in model.params.items()}
    solver.optim_configs = given
    solver.train()
    config = solver.optim_configs["W1"]
    assert int(config["t"]) == 3 + 4
    assert float(config["learning_rate"]) == 0.5
    assert_array(config["v"], xp, (D, 16), ns.float32)
    for c in given.values():  # the caller's state arrays were not written into
        assert not np.any(_compat.to_numpy(c["m"]))


def test_progress_clock_starts_after_the_first_update() -> None:
    """The first step's time (JAX compiles there) is not in the bar's rate; its
    iterations still count, and later updates are timed as usual."""
    import io

    from portable_layers import _solver_options

    bar = _solver_options.progress(10, verbose=True)
    bar.bar.fp = io.StringIO()
    before = bar.bar.start_t
    bar.update(3)  # the first update: the clock restarts, the count is kept
    assert bar.bar.n == 3 and bar.bar.format_dict["initial"] == 3
    assert bar.bar.start_t >= before
    bar.update(2)
    assert bar.bar.n == 5 and bar.bar.format_dict["initial"] == 3
    bar.close()
