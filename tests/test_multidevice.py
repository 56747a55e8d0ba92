"""Data parallelism on JAX: a batch sharded over 1, 2 and 4 host devices equals one device.

JAX fixes its device count when it is imported, so the multi-device checks run in a
fresh interpreter with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import base_namespace

from portable_layers import _compat
from portable_layers.models import TwoLayerPerceptron
from portable_layers.solver import Solver

ROOT = Path(__file__).parent.parent

SCRIPT = r"""
import json
import numpy as np
import jax
from portable_layers import TwoLayerPerceptron
from portable_layers.distributed import data_parallel_mesh, replicate, shard_batch
from portable_layers.solver import Solver

assert len(jax.devices()) == 4, jax.devices()
rng = np.random.default_rng(0)
X, y = rng.standard_normal((32, 3, 2, 2)), rng.integers(0, 5, size=32)
model = TwoLayerPerceptron(12, 16, 5, weight_scale=0.3, reg=0.05, xp="jax", seed=0)
step = jax.jit(lambda p, X, y: model.loss(X, y, params=p))
Xj, yj = jax.numpy.asarray(X), jax.numpy.asarray(y)
loss1, grads1 = step(model.params, Xj, yj)
result = {"errors": {}, "devices": {}}
for k in (1, 2, 4):
    mesh = data_parallel_mesh(k)
    Xs, ys = shard_batch(mesh, Xj, yj)
    loss, grads = step(replicate(mesh, model.params), Xs, ys)
    result["devices"][k] = [len(Xs.sharding.device_set), len(grads["W1"].sharding.device_set)]
    err = abs(float(loss) - float(loss1)) / abs(float(loss1))
    for name in grads:
        a, b = np.asarray(grads[name]), np.asarray(grads1[name])
        err = max(err, float(np.max(np.abs(a - b)) / np.max(np.abs(b))))
    result["errors"][k] = err

data = {"X_train": X, "y_train": y, "X_val": X[:8], "y_val": y[:8]}
histories = {}
for mesh in (None, 4):
    m = TwoLayerPerceptron(12, 16, 5, weight_scale=0.3, xp="jax", seed=0)
    s = Solver(m, data, update_rule="adam", num_epochs=3, batch_size=8, verbose=False,
               seed=0, mesh=mesh)
    s.train()
    histories[str(mesh)] = s.loss_history
    if mesh:
        result["param_devices"] = len(m.params["W1"].sharding.device_set)
        try:
            Solver(m, data, batch_size=6, mesh=mesh)
        except ValueError as e:
            result["batch_error"] = str(e)
result["histories"] = histories
print(json.dumps(result))
"""


def _four_devices() -> dict[str, str]:
    """A fresh interpreter's environment with 4 host devices, after the XLA flags set around
    the tests (the noxfile's thread setting)."""
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4"
    return {**os.environ, "XLA_FLAGS": flags.strip(), "JAX_ENABLE_X64": "1",
            "JAX_PLATFORMS": "cpu",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def test_sharded_batch_equals_one_device_in_a_four_device_process() -> None:
    pytest.importorskip("jax", reason="data parallelism needs JAX")
    env = _four_devices()
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         env=env, timeout=240, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["devices"] == {"1": [1, 1], "2": [2, 2], "4": [4, 4]}
    assert max(result["errors"].values()) < 1e-12, result["errors"]
    assert result["param_devices"] == 4
    np.testing.assert_allclose(result["histories"]["4"], result["histories"]["None"], rtol=1e-12)
    assert len(result["histories"]["4"]) == 12
    assert result["batch_error"] == ("Solver: batch_size must divide evenly over the 4 devices "
                                     "of mesh, got 6")


def test_mesh_needs_a_jax_model(xp: Any) -> None:
    """Any backend other than JAX refuses ``mesh=``; JAX with a one-device mesh trains."""
    ns = base_namespace(xp)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 4)), np.arange(8) % 2
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    model = TwoLayerPerceptron(4, 3, 2, xp=ns, dtype="float64", seed=0)
    if not _compat.is_jax_namespace(ns):
        name = _compat.backend_name(ns)
        msg = f"Solver: mesh needs a model on JAX, got one on {name}"
        with pytest.raises(ValueError, match=msg):
            Solver(model, data, mesh=1)
        return
    solver = Solver(model, data, mesh=1, batch_size=4, num_epochs=1, verbose=False, seed=0)
    solver.train()
    plain = Solver(TwoLayerPerceptron(4, 3, 2, xp=ns, dtype="float64", seed=0), data,
                   batch_size=4, num_epochs=1, verbose=False, seed=0)
    plain.train()
    np.testing.assert_allclose(solver.loss_history, plain.loss_history, rtol=1e-12)


EVERY_MODEL = r"""
import json
import numpy as np
import jax
from portable_layers import FullyConnectedNet, ThreeLayerConvNet, TwoLayerPerceptron
from portable_layers.solver import Solver

assert len(jax.devices()) == 4, jax.devices()
rng = np.random.default_rng(0)
X, y = rng.standard_normal((32, 1, 4, 4)), rng.integers(0, 3, size=32)
data = {"X_train": X, "y_train": y, "X_val": X[:8], "y_val": y[:8]}
makers = {
    "two_layer": lambda: TwoLayerPerceptron(16, 8, 3, weight_scale=0.3, xp="jax", seed=0),
    "batchnorm_dropout": lambda: FullyConnectedNet(
        [8, 6], 16, 3, normalization="batchnorm", dropout_keep_ratio=0.7, weight_scale=0.3,
        xp="jax", seed=0),
    "layernorm": lambda: FullyConnectedNet([8], 16, 3, normalization="layernorm",
                                           weight_scale=0.3, xp="jax", seed=0),
    "convnet": lambda: ThreeLayerConvNet((1, 4, 4), num_filters=2, filter_size=3,
                                         hidden_dim=5, num_classes=3, weight_scale=0.3,
                                         xp="jax", seed=0),
}
result = {}
for name, make in makers.items():
    out = {}
    for mesh in (None, 4):
        m = make()
        s = Solver(m, data, update_rule="adam", optim_config={"learning_rate": 1e-2},
                   num_epochs=2, batch_size=8, verbose=False, seed=0, mesh=mesh)
        s.train()
        stats = {k: np.asarray(v).tolist() for k, v in m.state.items()}
        devices = len(m.params["W1"].sharding.device_set)
        out[str(mesh)] = {"loss": s.loss_history, "val": s.val_acc_history, "stats": stats,
                          "devices": devices,
                          "params": {k: np.asarray(v).tolist() for k, v in m.params.items()}}
    result[name] = out
print(json.dumps(result))
"""


def test_every_model_on_a_mesh_equals_one_device() -> None:
    """Data-parallel training over 4 host devices equals one device for every model, with
    batch normalization's statistics those of the global batch and dropout per step."""
    pytest.importorskip("jax", reason="data parallelism needs JAX")
    env = _four_devices()
    out = subprocess.run([sys.executable, "-c", EVERY_MODEL], capture_output=True, text=True,
                         env=env, timeout=400, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert sorted(result) == ["batchnorm_dropout", "convnet", "layernorm", "two_layer"]
    for name, runs in result.items():
        one, four = runs["None"], runs["4"]
        assert (one["devices"], four["devices"]) == (1, 4), name
        assert len(one["loss"]) == 8, name
        np.testing.assert_allclose(four["loss"], one["loss"], rtol=1e-10, err_msg=name)
        assert four["val"] == one["val"], name
        assert sorted(four["stats"]) == sorted(one["stats"]), name
        for k in one["stats"]:
            np.testing.assert_allclose(four["stats"][k], one["stats"][k], rtol=1e-10,
                                       atol=1e-14, err_msg=f"{name} {k}")
        for k in one["params"]:  # atol: batchnorm's hidden biases get round-off gradients
            np.testing.assert_allclose(four["params"][k], one["params"][k], rtol=1e-9,
                                       atol=1e-9, err_msg=f"{name} {k}")
    assert sorted(result["batchnorm_dropout"]["None"]["stats"]) == [
        "running_mean1", "running_mean2", "running_var1", "running_var2"]
