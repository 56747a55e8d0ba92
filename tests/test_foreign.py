"""Array libraries this project never names: everything public runs on them.

The ``tests-foreign`` nox session runs this file on ``marray.numpy`` (masked arrays over
NumPy), on array_api_strict set to revision 2023.12 (``array_api_strict_2023``) and
without data-dependent shapes or boolean indexing (``array_api_strict_nodds``), and on
the two libraries of ``tests/opaque_arrays.py`` (no DLPack export, no ``__array__``;
one of them lazy).  Every other session runs it on its own backends.  References are
NumPy's results for the same seeds (an independent computation for a foreign library),
and each test checks the result's library before its values.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import base_namespace

import portable_layers as pl
from portable_layers import _compat
from portable_layers.cases import CASES
from portable_layers.gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
)
from portable_layers.pytest_plugin import check_cases

NUMPY = _compat.get_namespace("numpy")

# the whole layer case table on every selected backend, by the plugin's one-line helper
test_layer_case_table = check_cases(CASES, oracles=("numerical",))


def _host(a: Any) -> np.ndarray:
    return np.asarray(_compat.to_numpy(a), dtype=np.float64)


def _same_library(xp: Any, *arrays: Any) -> None:
    for a in arrays:
        assert _compat.array_namespace("test", a=a) is base_namespace(xp)


def _models(ns: Any) -> list[Any]:
    return [
        pl.TwoLayerPerceptron(48, 7, 4, weight_scale=0.1, reg=0.1, xp=ns, seed=0),
        pl.FullyConnectedNet([7, 5], input_dim=48, num_classes=4, weight_scale=0.1, reg=0.1,
                             normalization="batchnorm", dropout_keep_ratio=0.8, xp=ns, seed=0),
        pl.ThreeLayerConvNet((3, 4, 4), num_filters=4, filter_size=3, hidden_dim=6,
                             num_classes=4, weight_scale=0.1, xp=ns, seed=0),
        pl.VisionTransformer((3, 4, 4), patch_size=2, embed_dim=8, depth=1, num_heads=2,
                             num_classes=4, xp=ns, seed=0),
    ]


@pytest.mark.parametrize("which", range(4), ids=["mlp", "fc_net", "convnet", "vit"])
def test_models_loss_and_gradients_equal_numpys(xp: Any, which: int) -> None:
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((6, 3, 4, 4)), rng.integers(0, 4, 6)
    model, ref = _models(base_namespace(xp))[which], _models(NUMPY)[which]
    loss, grads = model.loss(xp.asarray(X), xp.asarray(y))
    want_loss, want = ref.loss(X, y)
    _same_library(xp, loss, *grads.values())
    np.testing.assert_allclose(_host(loss), float(want_loss), rtol=1e-12)
    assert sorted(grads) == sorted(want)
    for k in want:
        np.testing.assert_allclose(_host(grads[k]), want[k], rtol=1e-9, atol=1e-12, err_msg=k)
    np.testing.assert_array_equal(_host(model.predict(xp.asarray(X))), ref.predict(X))


def test_pure_step_equals_numpys(xp: Any) -> None:
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((6, 48)), rng.integers(0, 4, 6)
    losses = []
    for ns, Xs, ys in ((base_namespace(xp), xp.asarray(X), xp.asarray(y)), (NUMPY, X, y)):
        # no dropout: under JAX the step draws its masks with jax.random, not NumPy's
        model = pl.FullyConnectedNet([7, 5], input_dim=48, num_classes=4, weight_scale=0.1,
                                     reg=0.1, normalization="batchnorm", xp=ns, seed=0)
        state, step = pl.init_train_state(model, "adam"), pl.make_train_step(model, "adam")
        for _ in range(2):
            loss, state = step(state, Xs, ys)
        losses.append(_host(loss))
        if ns is not NUMPY:
            _same_library(xp, loss, *state.params.values())
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-12)


def test_solver_epoch_loss_history_equals_numpys(xp: Any) -> None:
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((40, 12)), rng.integers(0, 3, 40)
    histories, accuracies = [], []
    for ns in (base_namespace(xp), NUMPY):
        model = pl.TwoLayerPerceptron(12, 6, 3, weight_scale=0.1, xp=ns, seed=0)
        data = {"X_train": ns.asarray(X), "y_train": ns.asarray(y),
                "X_val": ns.asarray(X[:10]), "y_val": ns.asarray(y[:10])}
        solver = pl.Solver(model, data, update_rule="adam", num_epochs=1, batch_size=10,
                           verbose=False, seed=0)
        solver.train()
        histories.append([float(v) for v in solver.loss_history])
        accuracies.append((solver.train_acc_history, solver.val_acc_history))
    assert len(histories[0]) == 4
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-12)
    assert accuracies[0] == accuracies[1]


@pytest.mark.parametrize("mode", ["full", "sampled", "fast"])
def test_check_layer_catches_a_wrong_backward(xp: Any, mode: str) -> None:
    x = xp.asarray(np.random.default_rng(4).standard_normal((4, 5)))
    good = pl.check_layer(pl.sigmoid_forward, pl.sigmoid_backward, (x,), mode=mode,
                          oracles=("numerical",))
    assert good.ok, str(good)
    bad = pl.check_layer(pl.sigmoid_forward, lambda d, c: 1.01 * pl.sigmoid_backward(d, c),
                         (x,), mode=mode, oracles=("numerical",))
    assert not bad.ok and "dx" in str(bad)
    with pytest.raises(AssertionError):
        pl.gradient_check.assert_layer_gradients(
            pl.sigmoid_forward, lambda d, c: 1.01 * pl.sigmoid_backward(d, c), (x,),
            mode=mode, oracles=("numerical",))
    assert pl.fast_check(pl.sigmoid_forward, pl.sigmoid_backward, (x,),
                         oracles=("numerical",)).ok


def test_seed_helpers(xp: Any) -> None:
    rng = np.random.default_rng(5)
    host = rng.standard_normal((3, 4))
    x = xp.asarray(host)
    grad = eval_numerical_gradient(lambda v: xp.sum(v * v * v), x, verbose=False)
    _same_library(xp, grad)
    np.testing.assert_allclose(_host(grad), 3 * host**2, rtol=1e-6)
    np.testing.assert_array_equal(_host(x), host)  # moved and restored (or never written)
    df = rng.standard_normal((3, 4))
    got = eval_numerical_gradient_array(lambda v: pl.tanh_forward(v)[0], x, xp.asarray(df))
    np.testing.assert_allclose(_host(got), df * (1 - np.tanh(host) ** 2), rtol=1e-6)
    assert pl.rel_error(x, x) == 0.0 and pl.rel_error(x, 2 * x) > 0.3
    grad_check_sparse(lambda v: xp.sum(v * v), x, 2 * x, num_checks=2)


def test_checkpoint_round_trip(xp: Any, tmp_path: Path) -> None:
    ns = base_namespace(xp)
    model = pl.FullyConnectedNet([5], input_dim=4, num_classes=3, normalization="batchnorm",
                                 xp=ns, seed=0)
    model.loss(xp.asarray(np.random.default_rng(6).standard_normal((6, 4))),
               xp.asarray(np.arange(6) % 3))  # running statistics away from their start
    pl.save_checkpoint(tmp_path / "c.npz", model)
    fresh = pl.FullyConnectedNet([5], input_dim=4, num_classes=3, normalization="batchnorm",
                                 xp=ns, seed=1)
    pl.load_checkpoint(tmp_path / "c.npz", fresh)
    for k, v in {**model.params, **model.state}.items():
        got = {**fresh.params, **fresh.state}[k]
        _same_library(xp, got)
        np.testing.assert_array_equal(_host(got), _host(v), err_msg=k)


def test_plotting_helpers(xp: Any) -> None:
    from portable_layers import plotting

    w = np.random.default_rng(7).standard_normal((12, 5))
    np.testing.assert_array_equal(plotting.weight_grid(xp.asarray(w), (3, 2, 2)),
                                  plotting.weight_grid(w, (3, 2, 2)))


def test_check_command_on_a_dotted_path() -> None:
    """``check --backend marray.numpy``, run as a command."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-m", "portable_layers", "check", "--backend", "marray.numpy",
         "--layer", "relu", "--layer", "softmax_loss", "--oracle", "numerical"],
        capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "relu          marray.numpy  float64  ok" in done.stdout
    assert "2 layer checks passed, 0 failed" in done.stdout
