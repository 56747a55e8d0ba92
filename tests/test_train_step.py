"""The pure training step, the Solver on top of it, devices and the compiled-function cache."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import assert_array, assert_close, base_namespace

import portable_layers as pl
from portable_layers import _compat
from portable_layers import _validate as check
from portable_layers.models import FullyConnectedNet, ThreeLayerConvNet, TwoLayerPerceptron
from portable_layers.solver import Solver


def digits_like(n: int = 40, d: int = 6, c: int = 3, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    centres = 3 * rng.standard_normal((c, d))
    y = np.arange(n) % c
    X = centres[y] + rng.standard_normal((n, d))
    return {"X_train": X, "y_train": y, "X_val": X[:12], "y_val": y[:12]}


def test_step_is_pure_and_matches_the_update_rule(xp: Any) -> None:
    """One step equals loss + grads + adam by hand; the input state and model are untouched."""
    ns = base_namespace(xp)
    model = FullyConnectedNet([5], 6, 3, normalization="batchnorm", weight_scale=0.3, xp=ns,
                              seed=0)
    data = digits_like()
    X, y = ns.asarray(data["X_train"][:10]), ns.asarray(data["y_train"][:10])
    state = pl.init_train_state(model, "adam", {"learning_rate": 0.1})
    before = {k: np.array(_compat.to_numpy(v)) for k, v in state.params.items()}
    loss, new = pl.make_train_step(model, "adam")(state, X, y)
    (want_loss, grads), want_stats = model.apply(X, y, state={})
    assert_close(loss, want_loss)
    for k, w in state.params.items():
        want, config = pl.optim.adam(w, grads[k], {"learning_rate": 0.1})
        assert_array(new.params[k], xp, tuple(w.shape), ns.float64)
        assert_close(new.params[k], want)
        assert_close(new.opt_state[k]["m"], config["m"])
        assert_close(state.params[k], before[k])  # the input state is not written into
    for k in want_stats:
        assert_close(new.model_state[k], want_stats[k])
    assert int(new.step) == 1 and int(state.step) == 0
    assert_close(model.state["running_mean1"], np.zeros(5))  # nor the model


@pytest.mark.parametrize("make", [
    lambda ns, dev: TwoLayerPerceptron(6, 8, 3, weight_scale=0.3, xp=ns, seed=0, device=dev),
    lambda ns, dev: FullyConnectedNet([8, 5], 6, 3, normalization="batchnorm",
                                      dropout_keep_ratio=0.8, weight_scale=0.3, xp=ns, seed=0,
                                      device=dev),
    lambda ns, dev: ThreeLayerConvNet((1, 2, 3), num_filters=2, filter_size=3, hidden_dim=6,
                                      num_classes=3, weight_scale=0.3, xp=ns, seed=0,
                                      device=dev),
], ids=["two_layer", "fc_bn_dropout", "convnet"])
def test_models_train_on_a_chosen_device(xp: Any, make: Any) -> None:
    """``device=`` puts the parameters there and training keeps everything there: on
    array_api_strict a non-default device, which refuses arrays from the default one."""
    ns = base_namespace(xp)
    if _compat.backend_name(ns) == "array_api_strict":
        dev = ns.Device("device1")
        assert dev != _compat.device(ns.asarray(0.0))
    else:
        dev = _compat.device(ns.asarray(0.0))
    model = make(ns, dev)
    data = digits_like()
    if isinstance(model, ThreeLayerConvNet):
        data = {k: v.reshape(-1, 1, 2, 3) if k.startswith("X") else v for k, v in data.items()}
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 5e-2},
                    num_epochs=4, batch_size=10, verbose=False, seed=0)
    solver.train()
    assert solver.best_val_acc > 0.5
    for value in (*model.params.values(), *model.state.values(),
                  *(v for c in solver.optim_configs.values() for v in c.values())):
        assert _compat.device(value) == dev
    assert _compat.device(model.predict(solver.X_val)) == dev


class FunctionalModel:
    """CS231n-style: ``loss(X, y=None, params=None)``, no apply."""

    def __init__(self, ns: Any) -> None:
        self.inner = TwoLayerPerceptron(6, 8, 3, weight_scale=0.3, xp=ns, seed=0)
        self.params = dict(self.inner.params)

    def loss(self, X: Any, y: Any = None, params: Any = None) -> Any:
        return self.inner.loss(X, y, params=self.params if params is None else params)


class AssigningModel(FunctionalModel):
    """The course's own models: ``loss(X, y=None)`` reads ``self.params``."""

    def loss(self, X: Any, y: Any = None) -> Any:  # type: ignore[override]
        return self.inner.loss(X, y, params=self.params)


@pytest.mark.parametrize("cls", [FunctionalModel, AssigningModel])
def test_solver_trains_models_from_outside_the_library(xp: Any, cls: type) -> None:
    """Models without ``apply`` train too, and give the same history as ours."""
    ns = base_namespace(xp)
    data = digits_like()
    runs = []
    for model in (cls(ns), TwoLayerPerceptron(6, 8, 3, weight_scale=0.3, xp=ns, seed=0)):
        solver = Solver(model, data, update_rule="sgd_momentum", num_epochs=3, batch_size=10,
                        verbose=False, seed=0)
        solver.train()
        runs.append(solver)
    np.testing.assert_allclose(runs[0].loss_history, runs[1].loss_history, rtol=1e-12)
    assert runs[0].val_acc_history == runs[1].val_acc_history


def test_solver_names_what_a_model_lacks(xp: Any) -> None:
    ns = base_namespace(xp)
    data = digits_like()

    class NoLoss:
        def __init__(self) -> None:
            self.params = {"W": ns.asarray(np.zeros((6, 3)))}

    class NoParams:
        def loss(self, X: Any, y: Any = None) -> Any:
            return X

    with pytest.raises(TypeError, match=r"Solver: model NoLoss lacks a loss\(X, y=None\) method"):
        Solver(NoLoss(), data)
    msg = r"Solver: model NoParams lacks a non-empty params dict \(model.params\)"
    with pytest.raises(TypeError, match=msg):
        Solver(NoParams(), data)
    with pytest.raises(TypeError, match=r"make_train_step: model NoParams lacks a non-empty"):
        pl.make_train_step(NoParams())


def test_a_second_solver_on_the_same_shapes_compiles_nothing(xp: Any) -> None:
    """Compiled functions are cached by the model's structure: the hook is traced by the
    first Solver only (on JAX); eager backends run it once per step."""
    ns = base_namespace(xp)
    calls = {"train": 0}

    class Counting(FullyConnectedNet):
        def _forward(self, X: Any, p: Any, mode: str, state: Any, seed: Any) -> Any:
            calls[mode] = calls.get(mode, 0) + 1
            return super()._forward(X, p, mode, state, seed)

    data = digits_like()
    histories = []
    for seed in (0, 1):
        model = Counting([7], 6, 3, normalization="batchnorm", dropout_keep_ratio=0.9,
                         weight_scale=0.3, xp=ns, seed=seed)
        solver = Solver(model, data, update_rule="adam", num_epochs=2, batch_size=10,
                        verbose=False, seed=0)
        solver.train()
        histories.append(solver.loss_history)
        if seed == 0:
            first = dict(calls)
    jitted = _compat.is_jax_namespace(ns)
    assert first["train"] == (1 if jitted else 8)
    assert calls["train"] == (1 if jitted else 16)
    if jitted:
        assert calls["test"] == first["test"]  # the accuracy checks: compiled once too
    assert histories[0] != histories[1]  # the second model's own weights were used


def test_solver_adam_equals_the_pure_rule_and_leaves_callers_arrays(xp: Any) -> None:
    """On NumPy, PyTorch and array_api_strict the Solver's adam writes into buffers it
    owns; the numbers are the pure rule's, and the arrays the caller passed in (and the
    best params) are not written."""
    ns = base_namespace(xp)
    data = digits_like()
    histories, finals = [], []
    for rule in ("adam", lambda w, dw, c: pl.optim.adam(w, dw, c)):
        model = FullyConnectedNet([7], 6, 3, normalization="batchnorm", weight_scale=0.3,
                                  reg=0.01, xp=ns, seed=0)
        given = dict(model.params)
        before = {k: np.array(_compat.to_numpy(v)) for k, v in given.items()}
        solver = Solver(model, data, update_rule=rule, num_epochs=3, batch_size=10,
                        verbose=False, seed=0)
        solver.train()
        for k, v in given.items():
            assert_close(v, before[k])
        best = dict(solver.best_params)
        best_host = {k: np.array(_compat.to_numpy(v)) for k, v in best.items()}
        solver.train()  # a second run continues from the best params, never writing them
        for k, v in best.items():
            assert_close(v, best_host[k])
        histories.append(solver.loss_history)
        finals.append({k: _compat.to_numpy(v) for k, v in model.params.items()})
    np.testing.assert_allclose(histories[0], histories[1], rtol=1e-13)
    for k in finals[0]:
        # atol: batchnorm's hidden bias b1 gets round-off gradients, which adam scales up
        np.testing.assert_allclose(finals[0][k], finals[1][k], rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("hidden", [[7], [7, 5]])
def test_unchecked_path_equals_the_checked_layers(xp: Any, hidden: list[int]) -> None:
    """``apply(checked=False)`` and ``make_train_step(checked=False)`` (what the Solver
    runs) give what the public, checked layers give: scores, loss, every gradient, and
    the parameters after three adam steps."""
    ns = base_namespace(xp)
    model = FullyConnectedNet(hidden, 6, 3, reg=0.1, weight_scale=0.3, xp=ns, seed=0)
    data = digits_like()
    X, y = ns.asarray(data["X_train"][:10]), ns.asarray(data["y_train"][:10])
    scores = model.apply(X, checked=False)[0]
    assert_array(scores, xp, (10, 3), ns.float64)
    assert_close(scores, model.apply(X)[0])
    (loss, grads), _ = model.apply(X, y, checked=False)
    (want_loss, want_grads), _ = model.apply(X, y)
    assert_close(loss, want_loss)
    assert sorted(grads) == sorted(want_grads) == sorted(model.params)
    for k, g in grads.items():
        assert_array(g, xp, tuple(model.params[k].shape), ns.float64)
        assert_close(g, want_grads[k])
    states = [pl.init_train_state(model, "adam", {"learning_rate": 0.1}) for _ in range(2)]
    steps = [pl.make_train_step(model, "adam", checked=c) for c in (False, True)]
    for _ in range(3):
        states = [step(s, X, y)[1] for step, s in zip(steps, states, strict=True)]
    for k in model.params:
        assert_close(states[0].params[k], states[1].params[k])


def test_unchecked_is_the_one_forward_with_the_checks_switched_off(xp: Any) -> None:
    """``apply(checked=False)`` runs the model's one ``_forward`` (batchnorm, dropout and an
    override alike) with the layers' checks switched off inside it, and only there: the
    same numbers, and a label out of range passes unchecked but not checked."""
    ns = base_namespace(xp)
    seen = []

    class Counted(FullyConnectedNet):
        def _forward(self, *args: Any) -> Any:
            seen.append(check.enabled())
            return super()._forward(*args)

    X, y = ns.asarray(digits_like()["X_train"][:10]), ns.asarray(np.arange(10) % 3)
    for kw in ({"normalization": "batchnorm"}, {"dropout_keep_ratio": 0.5}, {}):
        model = Counted([4], 6, 3, xp=ns, seed=0, **kw)
        (l1, g1), s1 = model.apply(X, y, checked=False, dropout_seed=1)
        (l2, g2), s2 = model.apply(X, y, checked=True, dropout_seed=1)
        assert_close(l1, l2)
        for k in g2:
            assert_close(g1[k], g2[k])
        assert sorted(s1) == sorted(s2)
    assert seen == [False, True] * 3
    assert check.enabled()
    bad = ns.asarray(np.arange(10) % 3 + 3)  # labels 3..5 for 3 classes
    model.apply(X, bad, checked=False)
    with pytest.raises(ValueError, match="softmax_loss: y"):
        model.apply(X, bad)
