"""The update rules against a plain-NumPy transcription of CS231n's formulas and torch.optim."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import assert_array, assert_close, base_namespace, randn

from portable_layers import _compat, optim

RULES = ("sgd", "sgd_momentum", "rmsprop", "adam")
CONFIGS = {
    "sgd": {"learning_rate": 0.1},
    "sgd_momentum": {"learning_rate": 0.1, "momentum": 0.8},
    "rmsprop": {"learning_rate": 0.05, "decay_rate": 0.9, "epsilon": 1e-6},
    "adam": {"learning_rate": 0.05, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-6},
}


def reference(rule: str, w: np.ndarray, grads: list[np.ndarray], c: dict[str, Any]) -> np.ndarray:
    """CS231n's update formulas, written out in float64 NumPy."""
    v = m = cache = np.zeros_like(w)
    for t, dw in enumerate(grads, start=1):
        if rule == "sgd":
            w = w - c["learning_rate"] * dw
        elif rule == "sgd_momentum":
            v = c["momentum"] * v - c["learning_rate"] * dw
            w = w + v
        elif rule == "rmsprop":
            cache = c["decay_rate"] * cache + (1 - c["decay_rate"]) * dw**2
            w = w - c["learning_rate"] * dw / (np.sqrt(cache) + c["epsilon"])
        else:
            m = c["beta1"] * m + (1 - c["beta1"]) * dw
            v = c["beta2"] * v + (1 - c["beta2"]) * dw**2
            mhat, vhat = m / (1 - c["beta1"] ** t), v / (1 - c["beta2"] ** t)
            w = w - c["learning_rate"] * mhat / (np.sqrt(vhat) + c["epsilon"])
    return w


def run_steps(xp: Any, rule: str, dtype: str, *, jit: bool = False) -> tuple[Any, list, dict]:
    w = randn(xp, 3, 2, seed=1, dtype=dtype)
    grads = [randn(xp, 3, 2, seed=s, dtype=dtype) for s in (2, 3, 4)]
    fn = optim.get_update_rule(rule)
    step = _compat.jit(fn, base_namespace(xp)) if jit else fn
    config = dict(CONFIGS[rule])
    for dw in grads:
        w, config = step(w, dw, config)
    return w, grads, config


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_rule_matches_reference(xp: Any, rule: str, dtype: str) -> None:
    w, grads, config = run_steps(xp, rule, dtype)
    assert_array(w, xp, (3, 2), getattr(base_namespace(xp), dtype))
    host = [_compat.to_numpy(g).astype(np.float64) for g in grads]
    w0 = _compat.to_numpy(randn(xp, 3, 2, seed=1, dtype=dtype)).astype(np.float64)
    expected = reference(rule, w0, host, CONFIGS[rule])
    if dtype == "float64":
        assert_close(w, expected, rtol=1e-12)
    else:
        assert_close(w, expected, rtol=2e-5, atol=1e-6)
    for key in ("velocity", "cache", "m", "v"):
        if key in config:
            assert_array(config[key], xp, (3, 2), getattr(base_namespace(xp), dtype))


@pytest.mark.parametrize("rule", RULES)
def test_rule_under_jit_compiles_and_matches(xp: Any, rule: str) -> None:
    """``t`` and the hyperparameters become 0-d arrays under jax.jit; same result."""
    eager, _, _ = run_steps(xp, rule, "float32")
    jitted, _, config = run_steps(xp, rule, "float32", jit=True)
    assert_array(jitted, xp, (3, 2), base_namespace(xp).float32)
    assert_close(jitted, eager, rtol=1e-5)
    if rule == "adam":
        assert int(config["t"]) == 3


@pytest.mark.parametrize("rule", RULES)
def test_rule_matches_torch_optim(xp: Any, rule: str) -> None:
    torch = pytest.importorskip("torch")
    w, grads, _ = run_steps(xp, rule, "float64")
    c = CONFIGS[rule]
    p = torch.tensor(_compat.to_numpy(randn(xp, 3, 2, seed=1)), requires_grad=True)
    lr = c["learning_rate"]
    opt = {
        "sgd": lambda: torch.optim.SGD([p], lr=lr),
        "sgd_momentum": lambda: torch.optim.SGD([p], lr=lr, momentum=c["momentum"]),
        "rmsprop": lambda: torch.optim.RMSprop([p], lr=lr, alpha=c["decay_rate"], eps=c["epsilon"]),
        "adam": lambda: torch.optim.Adam([p], lr=lr, betas=(c["beta1"], c["beta2"]),
                                         eps=c["epsilon"]),
    }[rule]()
    for g in grads:
        p.grad = torch.tensor(_compat.to_numpy(g))
        opt.step()
    assert_close(w, p.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rule", RULES)
def test_rule_is_pure_and_fills_defaults(xp: Any, rule: str) -> None:
    w, dw = randn(xp, 4, seed=0), randn(xp, 4, seed=1)
    w_host, dw_host = np.array(_compat.to_numpy(w)), np.array(_compat.to_numpy(dw))
    config: dict[str, Any] = {}
    next_w, new = optim.get_update_rule(rule)(w, dw, config)
    assert config == {}  # the caller's dict is not touched
    assert new is not config
    assert set(optim._DEFAULTS[rule]) <= set(new)
    assert {k: new[k] for k in optim._DEFAULTS[rule]} == optim._DEFAULTS[rule]
    assert_close(w, w_host)
    assert_close(dw, dw_host)
    state = {k: np.array(_compat.to_numpy(v)) for k, v in new.items()
             if not isinstance(v, (int, float))}
    next_host = np.array(_compat.to_numpy(next_w))
    _, newer = optim.get_update_rule(rule)(next_w, dw, new)
    assert newer is not new
    assert_close(next_w, next_host)
    for k, v in state.items():  # the state arrays of the previous step are not written
        assert_close(new[k], v)


def test_adam_state_uncorrected_and_t_incremented(xp: Any) -> None:
    w, dw = randn(xp, 3, seed=0), randn(xp, 3, seed=1)
    _, c = optim.adam(w, dw)
    assert c["t"] == 1
    assert_close(c["m"], 0.1 * _compat.to_numpy(dw))
    assert_close(c["v"], 0.001 * _compat.to_numpy(dw) ** 2)
    assert c["learning_rate"] == 1e-3


def test_init_config_gives_the_same_update(xp: Any) -> None:
    w, dw = randn(xp, 3, seed=0), randn(xp, 3, seed=1)
    for rule in RULES:
        full = optim.init_config(rule, w, CONFIGS[rule])
        a, _ = optim.get_update_rule(rule)(w, dw, full)
        b, _ = optim.get_update_rule(rule)(w, dw, dict(CONFIGS[rule]))
        assert_close(a, b)


def test_errors(xp: Any) -> None:
    w = randn(xp, 3)
    msg = (
        r"get_update_rule: name must be one of \['adam', 'rmsprop', 'sgd', "
        r"'sgd_momentum'\]"
    )
    with pytest.raises(ValueError, match=msg):
        optim.get_update_rule("adagrad")
    with pytest.raises(ValueError, match=r"adam: unknown config keys \['lr'\]"):
        optim.adam(w, w, {"lr": 1.0})
    with pytest.raises(ValueError, match=r"sgd: dw must have w's shape \(3,\), got \(2,\)"):
        optim.sgd(w, randn(xp, 2))
    with pytest.raises(TypeError, match="sgd: dw must be an array"):
        optim.sgd(w, [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="rmsprop: config must be a dict"):
        optim.rmsprop(w, w, [("learning_rate", 1.0)])
    assert sorted(optim.UPDATE_RULES) == sorted(RULES)


@pytest.mark.parametrize("rule", RULES)
def test_one_arithmetic_unchecked_and_owned_give_the_pure_result(xp: Any, rule: str) -> None:
    """``get_update_rule(name, checked=False, owned=True)`` (the Solver's form: checks
    off, its own buffers written) gives what the public rule gives, step after step."""
    ns = base_namespace(xp)
    w = randn(xp, 3, 2, seed=1, dtype="float32")
    grads = [randn(xp, 3, 2, seed=s, dtype="float32") for s in (2, 3, 4)]
    pure, config = w, dict(CONFIGS[rule])
    owned_w = ns.asarray(w, copy=True)
    owned_config = optim.init_config(rule, w, CONFIGS[rule])
    owned_config = {k: ns.asarray(v, copy=True) if _compat.is_array_api_obj(v) else v
                    for k, v in owned_config.items()}
    step = optim.get_update_rule(rule, checked=False, owned=True)
    unchecked = optim.get_update_rule(rule, checked=False)
    full = optim.init_config(rule, w, CONFIGS[rule])
    plain = w
    for dw in grads:
        pure, config = optim.get_update_rule(rule)(pure, dw, config)
        owned_w, owned_config = step(owned_w, ns.asarray(dw, copy=True), owned_config)
        plain, full = unchecked(plain, dw, full)
    assert step.__name__ == rule
    for got in (owned_w, plain):
        assert_array(got, xp, (3, 2), ns.float32)
        assert_close(got, _compat.to_numpy(pure), rtol=1e-6)
    for key in optim.state_keys(rule):
        assert_close(owned_config[key], _compat.to_numpy(config[key]), rtol=1e-6)


@pytest.mark.parametrize("rule", RULES)
def test_hyperparameters_never_promote_float32_weights(xp: Any, rule: str) -> None:
    """A NumPy float64 learning rate, or a 0-d float64 array of w's library, leaves
    float32 weights float32 (NumPy used to promote them)."""
    ns = base_namespace(xp)
    w, dw = randn(xp, 4, seed=0, dtype="float32"), randn(xp, 4, seed=1, dtype="float32")
    for lr in (np.float64(0.1), ns.asarray(0.1, dtype=ns.float64), np.asarray(0.1)):
        next_w, config = optim.get_update_rule(rule)(w, dw, {"learning_rate": lr})
        assert_array(next_w, xp, (4,), ns.float32)
        for key in optim.state_keys(rule):
            if key != "t":
                assert_array(config[key], xp, (4,), ns.float32)
        want, _ = optim.get_update_rule(rule)(w, dw, {"learning_rate": 0.1})
        assert_close(next_w, _compat.to_numpy(want), rtol=1e-6)


@pytest.mark.parametrize(("rule", "key"), [("adam", "m"), ("adam", "v"),
                                           ("sgd_momentum", "velocity"), ("rmsprop", "cache")])
def test_state_must_match_w(xp: Any, rule: str, key: str) -> None:
    """A float64 state with float32 weights used to return float64 weights; a state of
    another shape used to broadcast the weights to its shape."""
    ns = base_namespace(xp)
    w = randn(xp, 3, 4, dtype="float32")
    fn = optim.get_update_rule(rule)
    with pytest.raises(TypeError, match=rf"{rule}: config\['{key}'\] must have w's dtype "
                                        r"float32, got .*float64"):
        fn(w, w, {key: ns.zeros((3, 4), dtype=ns.float64)})
    with pytest.raises(ValueError, match=rf"{rule}: config\['{key}'\] must have w's shape "
                                         r"\(3, 4\), got \(3, 4, 2\)"):
        fn(w, w, {key: ns.zeros((3, 4, 2), dtype=ns.float32)})
    with pytest.raises(TypeError, match=rf"{rule}: config\['{key}'\] must be an array"):
        fn(w, w, {key: 0.0})
    other = (np.zeros((3, 4), np.float32) if ns is not _compat.get_namespace("numpy")
             else pytest.importorskip("array_api_strict").zeros((3, 4)))
    with pytest.raises(TypeError, match=rf"{rule}: config\['{key}'\]"):
        fn(w, w, {key: other})


@pytest.mark.parametrize(("rule", "config", "exc", "msg"), [
    ("sgd", {"learning_rate": -1}, ValueError,
     r"sgd: config\['learning_rate'\] must be a finite number > 0, got -1"),
    ("sgd", {"learning_rate": 0}, ValueError, r"config\['learning_rate'\] must be a finite"),
    ("adam", {"learning_rate": float("nan")}, ValueError, r"adam: config\['learning_rate'\]"),
    ("adam", {"learning_rate": float("inf")}, ValueError, r"adam: config\['learning_rate'\]"),
    ("adam", {"learning_rate": "1e-3"}, TypeError,
     r"adam: config\['learning_rate'\] must be a number, got '1e-3'"),
    ("adam", {"learning_rate": True}, TypeError, r"adam: config\['learning_rate'\]"),
    ("adam", {"learning_rate": 1e-3 + 0j}, TypeError, r"adam: config\['learning_rate'\]"),
    ("adam", {"beta1": 1.5}, ValueError, r"adam: config\['beta1'\] must be in \[0, 1\), got 1.5"),
    ("adam", {"beta2": 1.0}, ValueError, r"adam: config\['beta2'\] must be in \[0, 1\)"),
    ("adam", {"epsilon": 0.0}, ValueError, r"adam: config\['epsilon'\] must be a finite number"),
    ("adam", {"t": -1}, ValueError, r"adam: config\['t'\] must be an integer >= 0, got -1"),
    ("adam", {"t": 2.0}, TypeError, r"adam: config\['t'\] must be an integer"),
    ("sgd_momentum", {"momentum": -0.1}, ValueError, r"sgd_momentum: config\['momentum'\]"),
    ("rmsprop", {"decay_rate": 1}, ValueError, r"rmsprop: config\['decay_rate'\]"),
    ("rmsprop", {"epsilon": -1e-8}, ValueError, r"rmsprop: config\['epsilon'\]"),
])
def test_config_values_checked(xp: Any, rule: str, config: dict[str, Any], exc: type,
                               msg: str) -> None:
    w = randn(xp, 3)
    with pytest.raises(exc, match=msg):
        optim.get_update_rule(rule)(w, w, config)
    with pytest.raises(exc, match=msg):
        optim.init_config(rule, w, config)


def test_zero_rates_and_array_hyperparameters_accepted(xp: Any) -> None:
    """The boundaries: momentum, decay rates and betas may be 0; t a 0-d integer array;
    hyperparameters 0-d arrays (their values checked too)."""
    ns = base_namespace(xp)
    w = randn(xp, 3)
    _, c = optim.adam(w, w, {"beta1": 0.0, "beta2": 0.0, "t": ns.asarray(2)})
    assert int(c["t"]) == 3
    optim.sgd_momentum(w, w, {"momentum": 0})
    with pytest.raises(ValueError, match=r"sgd: config\['learning_rate'\] must be a finite"):
        optim.sgd(w, w, {"learning_rate": ns.asarray(-1.0, dtype=ns.float64)})
    with pytest.raises(ValueError, match=r"adam: config\['t'\] must be an integer >= 0"):
        optim.adam(w, w, {"t": ns.asarray(-3)})
    assert optim.state_keys("adam") == ("m", "v", "t")
