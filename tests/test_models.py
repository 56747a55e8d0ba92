"""TwoLayerPerceptron and FullyConnectedNet: scores, loss, gradients (by finite differences)."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest
from helpers import assert_array, assert_close, base_namespace, randn

from portable_layers import _compat
from portable_layers.gradient_check import check_layer, eval_numerical_gradient, scaled_error
from portable_layers.models import FullyConnectedNet, TwoLayerPerceptron
from portable_layers.train_step import init_train_state, make_train_step

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
    with pytest.raises(ValueError, match=rf"{name}: reg must be a finite non-negative number"):
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


def _constructors() -> dict[str, Any]:
    """Every model constructor, small, by the name its errors use."""
    from portable_layers import VisionTransformer
    from portable_layers.cs231n.classifiers import FullyConnectedNet as CourseFC
    from portable_layers.cs231n.classifiers import ThreeLayerConvNet as CourseConv
    from portable_layers.cs231n.classifiers import TwoLayerNet
    from portable_layers.models import ThreeLayerConvNet

    return {
        "TwoLayerPerceptron": lambda **kw: TwoLayerPerceptron(4, 3, 2, **kw),
        "FullyConnectedNet": lambda **kw: FullyConnectedNet([3], 4, 2, **kw),
        "ThreeLayerConvNet": lambda **kw: ThreeLayerConvNet((1, 4, 4), 2, 3, 3, 2, **kw),
        "VisionTransformer": lambda **kw: VisionTransformer((1, 4, 4), 2, 4, 1, 2, **kw),
        "cs231n FullyConnectedNet": lambda **kw: CourseFC([3], 4, 2, **kw),
        "cs231n TwoLayerNet": lambda **kw: TwoLayerNet(4, 3, 2, **kw),
        "cs231n ThreeLayerConvNet": lambda **kw: CourseConv((1, 4, 4), 2, 3, 3, 2, **kw),
    }


@pytest.mark.parametrize("name", list(_constructors()))
@pytest.mark.parametrize("dtype", [np.int64, np.bool_, "int32", "float16", np.complex128])
def test_constructors_take_floating_dtypes_only(xp: Any, name: str, dtype: Any) -> None:
    """An integer dtype used to be accepted and truncate every weight to 0."""
    build = _constructors()[name]
    exc = ValueError if isinstance(dtype, str) else TypeError  # a bad name, or a bad dtype
    with pytest.raises(exc, match=rf"{name.split()[-1]}: dtype must be"):
        build(dtype=dtype, xp=base_namespace(xp))


@pytest.mark.parametrize("name", [n for n in _constructors() if "TwoLayerNet" not in n
                                  and "cs231n ThreeLayer" not in n])
def test_constructor_seeds(xp: Any, name: str) -> None:
    """A seed is a non-negative integer (the error names the class and ``seed``); a huge one
    works on every backend, JAX included, and fixes the model as a small one does."""
    build, ns = _constructors()[name], base_namespace(xp)
    for bad, exc in [(-1, ValueError), (1.5, TypeError), ("0", TypeError), (True, TypeError)]:
        with pytest.raises(exc, match=rf"{name.split()[-1]}: seed must be a non-negative"):
            build(seed=bad, xp=ns, dtype="float32")
    models = []
    for _ in range(2):
        np.random.seed(0)  # noqa: NPY002 (the course draws its weights from the global one)
        extra = {"dropout_keep_ratio": 0.5} if name.startswith("cs231n") else {}
        models.append(build(seed=2**40, xp=ns, dtype="float32", **extra))
    a, b = models
    for k in a.params:
        np.testing.assert_array_equal(_compat.to_numpy(a.params[k]), _compat.to_numpy(b.params[k]))
    if name.startswith("cs231n"):  # the seed fixes the course's dropout masks
        X, y = randn(xp, 3, 4, seed=0, dtype="float32"), xp.asarray(np.array([0, 1, 0]))
        assert a.loss(X, y)[0] == b.loss(X, y)[0]
    if name == "FullyConnectedNet":  # and it trains: the step's seed fits JAX's int32
        state = init_train_state(a, "sgd", seed=2**40)
        X, y = randn(xp, 3, 4, seed=0, dtype="float32"), xp.asarray(np.array([0, 1, 0]))
        make_train_step(a, "sgd")(state, X, y)


# -- normalization and dropout --------------------------------------------------------------


def make_fc(xp: Any, normalization: str | None = None, keep: float = 1.0,
            dtype: str = "float64", **kw: Any) -> FullyConnectedNet:
    return FullyConnectedNet([6, 4], D, C, normalization=normalization, dropout_keep_ratio=keep,
                             weight_scale=0.5, xp=base_namespace(xp), dtype=dtype, seed=0, **kw)


def host_stats(model: FullyConnectedNet, X: Any, layer: int = 1) -> tuple[np.ndarray, ...]:
    """Batch mean and variance of hidden layer 1's affine output, on the host."""
    p = {k: _compat.to_numpy(v) for k, v in model.params.items()}
    a = _compat.to_numpy(X).reshape(N, -1) @ p["W1"] + p["b1"]
    return a.mean(axis=0), a.var(axis=0)


@pytest.mark.parametrize("normalization", ["batchnorm", "layernorm"])
def test_fc_whole_net_gradients_check_layer(xp: Any, normalization: str) -> None:
    """Finite differences and JAX autodiff of the whole net, norm + dropout (fixed seed)."""
    model = make_fc(xp, normalization, keep=0.75, reg=0.1)
    X, y = inputs(xp)
    # Batchnorm cancels the hidden biases: their gradient is exactly 0, checked apart.
    fixed = {"b1", "b2"} if normalization == "batchnorm" else set()
    host = {k: _compat.to_numpy(v) for k, v in model.params.items() if k in fixed}
    host.update(X=_compat.to_numpy(X), y=_compat.to_numpy(y))
    names = [k for k in model.params if k not in fixed]

    def forward(*ws: Any) -> tuple[Any, tuple[Any, ...]]:
        ns = _compat.array_namespace("test", w=ws[0])  # oracles move the inputs to JAX
        moved = {k: ns.asarray(v, dtype=ws[0].dtype if k != "y" else None)
                 for k, v in host.items()}
        Xs, ys = moved.pop("X"), moved.pop("y")
        params = {**dict(zip(names, ws, strict=True)), **moved}
        (loss, grads), _ = model.apply(Xs, ys, params=params, state={}, dropout_seed=3)
        return loss, tuple(grads[k] for k in names)

    # The JAX autodiff oracle runs op by op (one compile per op: seconds), so once.
    # autodiff too for layernorm (it compiles op by op: seconds), where JAX is installed
    with_autodiff = normalization == "layernorm" and importlib.util.find_spec("jax")
    oracles = ("numerical", "autodiff") if with_autodiff else ("numerical",)
    result = check_layer(forward, None, tuple(model.params[k] for k in names), names=names,
                         oracles=oracles)
    assert result.ok, str(result)
    _, grads = model.loss(X, y)
    for k in fixed:
        assert_close(grads[k], np.zeros(grads[k].shape), atol=1e-12)


def test_fc_norm_params_and_errors(xp: Any) -> None:
    model = make_fc(xp, "batchnorm")
    assert sorted(model.params) == sorted(["W1", "b1", "W2", "b2", "W3", "b3",
                                           "gamma1", "beta1", "gamma2", "beta2"])
    assert_close(model.params["gamma2"], np.ones(4))
    assert_close(model.params["beta1"], np.zeros(6))
    assert [sorted(bn) for bn in model.bn_params] == [["running_mean", "running_var"]] * 2
    assert sorted(make_fc(xp, "layernorm").params)[:4] == ["W1", "W2", "W3", "b1"]
    ns = base_namespace(xp)
    with pytest.raises(ValueError, match="FullyConnectedNet: normalization must be None"):
        FullyConnectedNet([3], normalization="groupnorm", xp=ns)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match=r"dropout_keep_ratio must be a number in \(0, 1\]"):
            FullyConnectedNet([3], dropout_keep_ratio=bad, xp=ns)


def test_batchnorm_running_stats_train_test_and_pure_apply(xp: Any) -> None:
    model = make_fc(xp, "batchnorm")
    X, y = inputs(xp)
    mean, var = host_stats(model, X)
    model.apply(X, y)  # pure: nothing stored
    assert_close(model.bn_params[0]["running_mean"], np.zeros(6))
    model.loss(X, y, params=dict(model.params))
    assert_close(model.bn_params[0]["running_mean"], 0.1 * mean, rtol=1e-10)
    assert_close(model.bn_params[0]["running_var"], 0.1 * var, rtol=1e-10)
    stored = model.bn_params[0]["running_mean"]
    scores = model.loss(X)  # test mode: uses the running statistics, stores nothing new
    assert model.bn_params[0]["running_mean"] is stored
    assert_array(scores, xp, (N, C), base_namespace(xp).float64)
    assert_array(stored, xp, (6,), base_namespace(xp).float64)
    model.loss(X, y)
    assert_close(model.state["running_mean1"], 0.19 * mean, rtol=1e-10)


def test_state_is_threaded_under_jit_never_hidden(xp: Any) -> None:
    """``model.loss`` refuses to keep batchnorm statistics or dropout masks on the model
    inside jax.jit; the pure step threads them: statistics accumulate per step, masks
    change per step, the model is untouched.  Elsewhere _compat.jit is the identity."""
    model = make_fc(xp, "batchnorm", keep=0.5)
    X, y = inputs(xp)
    mean, _ = host_stats(model, X)
    ns = base_namespace(xp)
    if _compat.is_jax_namespace(ns):
        import jax

        msg = r"FullyConnectedNet.loss: under jax.jit, batch normalization's running statistics"
        with pytest.raises(ValueError, match=msg):
            jax.jit(lambda p, X, y: model.loss(X, y, params=p)[0])(model.params, X, y)
    step = _compat.jit(make_train_step(model, "sgd"), ns)
    # params stay put: w - 1e-300 * dw rounds back to w (a learning rate must be > 0)
    state = init_train_state(model, "sgd", {"learning_rate": 1e-300})
    losses = []
    for _ in range(3):
        loss, state = step(state, X, y)
        losses.append(float(loss))
    stats = state.model_state["running_mean1"]
    assert_array(stats, xp, (6,), ns.float64)
    assert_close(stats, (1 - 0.9**3) * mean, rtol=1e-10)
    assert_close(model.bn_params[0]["running_mean"], np.zeros(6))  # the model: untouched
    assert len(set(losses)) == 3  # a fresh dropout mask per step
    model.dropout_param["seed"] = 7  # a fixed seed fixes the masks (for gradient checks)
    fixed = _compat.jit(make_train_step(model, "sgd"), ns)
    assert float(fixed(state, X, y)[0]) == float(fixed(state._replace(step=state.step + 1),
                                                       X, y)[0])
    scores = model.loss(X)  # test mode: no dropout, deterministic
    assert_close(scores, model.loss(X))


def test_every_layer_draws_its_own_dropout_mask(xp: Any) -> None:
    """Layer 2 sees a constant input (W2 = 0, b2 = 1), so its output is its mask m2 / p;
    with W2 = I it is m1 * m2 / p**2.  Were the masks one (the old bug), the two would
    agree wherever m2 keeps; independent masks of 24 entries differ there."""
    ns = base_namespace(xp)
    model = FullyConnectedNet([6, 6], 6, 6, dropout_keep_ratio=0.5, xp=ns, seed=0)
    eye, zeros, ones = (_compat.from_numpy(a, ns, dtype=ns.float64)
                        for a in (np.eye(6), np.zeros((6, 6)), np.ones(6)))
    base = {**model.params, "W1": zeros, "b1": ones, "W3": eye, "b3": 0 * ones}
    X = ns.asarray(np.ones((4, 6)))
    only2, _ = model._forward(X, {**base, "W2": zeros, "b2": ones}, "train", {}, 5)
    both, _ = model._forward(X, {**base, "W2": eye, "b2": 0 * ones}, "train", {}, 5)
    m2, m12 = _compat.to_numpy(only2) * 0.5, _compat.to_numpy(both) * 0.25
    assert set(np.unique(m2)) == {0.0, 1.0} and set(np.unique(m12)) == {0.0, 1.0}
    assert np.all(m12 <= m2)  # m1 * m2 vanishes where m2 does
    assert np.any(m12 < m2)  # ... and also where m1 drops what m2 keeps
    again, _ = model._forward(X, {**base, "W2": zeros, "b2": ones}, "train", {}, 5)
    assert_close(again, only2)  # the same seed: the same masks
    other, _ = model._forward(X, {**base, "W2": zeros, "b2": ones}, "train", {}, 6)
    assert not np.array_equal(_compat.to_numpy(other), _compat.to_numpy(only2))


def test_fc_norm_dropout_trains_with_solver(xp: Any) -> None:
    from portable_layers.solver import Solver

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, D))
    y = (X[:, 0] > 0).astype(np.int64)
    data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    model = FullyConnectedNet([8], D, 2, normalization="batchnorm", dropout_keep_ratio=0.8,
                              weight_scale=0.3, xp=base_namespace(xp), seed=0)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-2},
                    num_epochs=3, batch_size=20, verbose=False, seed=0)
    solver.train()
    assert all(np.isfinite(solver.loss_history))
    running = model.bn_params[0]["running_var"]
    assert _compat.is_concrete(running) and float(_compat.to_numpy(running).min()) > 0
    assert solver.check_accuracy(X, y) > 0.7


def test_a_device_the_backend_lacks_is_refused_at_construction(xp: Any) -> None:
    """Issue 21: a device the library does not have is named with the library, before a
    weight is drawn (the default device, None, is always fine)."""
    ns = base_namespace(xp)
    with pytest.raises(ValueError, match=r"TwoLayerPerceptron: the backend .* has no device "
                                         r"'no-such-device'"):
        TwoLayerPerceptron(4, 3, 2, xp=ns, device="no-such-device")
    model = TwoLayerPerceptron(4, 3, 2, xp=ns, device=None)
    assert model.device is None
