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
