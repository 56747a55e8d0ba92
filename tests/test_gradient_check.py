"""The gradient-check helpers and oracles are library code, tested like the rest."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from helpers import assert_array, asxp, randn

import portable_layers as pl
from portable_layers import _compat
from portable_layers.gradient_check import (
    autodiff_vjp,
    check_layer,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    numerical_vjp,
    rel_error,
    scaled_error,
    tolerance,
)


def matmul(x: Any, w: Any) -> Any:
    return x @ w


def test_eval_numerical_gradient_matches_closed_form(xp: Any) -> None:
    x = randn(xp, 3, 4, seed=1)
    before = _compat.to_numpy(x).copy()
    grad = eval_numerical_gradient(lambda v: _compat.array_namespace("t", v=v).sum(v**3), x,
                                   verbose=False)
    assert_array(grad, xp, (3, 4), xp.float64)
    np.testing.assert_allclose(_compat.to_numpy(grad), 3 * before**2, rtol=1e-7, atol=1e-8)
    np.testing.assert_array_equal(_compat.to_numpy(x), before)


def test_eval_numerical_gradient_verbose_prints_each_entry(xp: Any, capsys: Any) -> None:
    eval_numerical_gradient(lambda v: _compat.array_namespace("t", v=v).sum(v * v),
                            asxp(xp, [1.0, 2.0]))
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(")")[0] + ")" for ln in lines] == ["(0,)", "(1,)"]
    assert [round(float(ln.split()[-1]), 6) for ln in lines] == [2.0, 4.0]


def test_eval_numerical_gradient_array_is_a_vjp(xp: Any) -> None:
    x, w, dout = randn(xp, 3, 4, seed=1), randn(xp, 4, 2, seed=2), randn(xp, 3, 2, seed=3)
    grad = eval_numerical_gradient_array(lambda v: v @ w, x, dout)
    expected = _compat.to_numpy(dout) @ _compat.to_numpy(w).T
    np.testing.assert_allclose(_compat.to_numpy(grad), expected, rtol=1e-8)


def test_numerical_vjp_gives_every_floating_input(xp: Any) -> None:
    x, w, dout = randn(xp, 3, 4, seed=1), randn(xp, 4, 2, seed=2), randn(xp, 3, 2, seed=3)
    dx, dw = numerical_vjp(matmul, (x, w), dout)
    hx, hw, hd = (_compat.to_numpy(a) for a in (x, w, dout))
    np.testing.assert_allclose(_compat.to_numpy(dx), hd @ hw.T, rtol=1e-8)
    np.testing.assert_allclose(_compat.to_numpy(dw), hx.T @ hd, rtol=1e-8)
    labels = asxp(xp, np.array([0, 1, 1]))
    _, none = numerical_vjp(lambda s, y: pl.softmax_loss(s, y)[0], (randn(xp, 3, 2), labels), 1.0)
    assert none is None


def test_autodiff_vjp_returns_exact_gradients_in_input_namespace(xp: Any) -> None:
    pytest.importorskip("jax", reason="the autodiff oracle needs JAX")
    x, w = randn(xp, 3, 4, seed=1, dtype="float32"), randn(xp, 4, 2, seed=2, dtype="float32")
    dout = randn(xp, 3, 2, seed=3, dtype="float32")
    dx, dw = autodiff_vjp(matmul, (x, w), dout)
    assert_array(dx, xp, (3, 4), xp.float32)
    assert_array(dw, xp, (4, 2), xp.float32)
    hx, hw, hd = (_compat.to_numpy(a).astype(np.float64) for a in (x, w, dout))
    np.testing.assert_allclose(_compat.to_numpy(dx), hd @ hw.T, rtol=1e-6)
    np.testing.assert_allclose(_compat.to_numpy(dw), hx.T @ hd, rtol=1e-6)


def test_autodiff_vjp_uses_float64_even_with_x64_off() -> None:
    jax = pytest.importorskip("jax", reason="the autodiff oracle needs JAX")
    x = np.array([1.0 + 1e-12, 2.0])
    with jax.enable_x64(False):
        (dx,) = autodiff_vjp(lambda v: v * v, (x,), np.ones(2))
    assert dx.dtype == np.float64
    np.testing.assert_array_equal(dx, 2 * x)


def test_autodiff_vjp_without_jax_says_how_to_install() -> None:
    code = (
        "import sys; sys.modules['jax'] = None\n"
        "import numpy as np\n"
        "from portable_layers.gradient_check import autodiff_vjp\n"
        "try:\n"
        "    autodiff_vjp(lambda v: v, (np.ones(2),), np.ones(2))\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "autodiff_vjp needs JAX" in out.stdout
    assert "pip install 'portable-layers[jax]'" in out.stdout


def test_rel_error_is_the_seeds_formula() -> None:
    a, b = np.array([1.0, 0.0, 3.0]), np.array([1.1, 1e-12, 3.0])
    expected = np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))
    assert rel_error(a, b) == expected


def test_scaled_error_scales_by_the_oracle() -> None:
    assert scaled_error(np.array([1.0, 2.0]), np.array([1.0, 4.0])) == 0.5
    with pytest.raises(ValueError, match="shapes differ"):
        scaled_error(np.ones(2), np.ones(3))


def test_tolerance_follows_dtype() -> None:
    assert tolerance(np.float64, "autodiff") == 1e-8
    assert tolerance(np.float64, "numerical") == 1e-6
    assert tolerance(np.float32, "autodiff") == 1e-4
    with pytest.raises(ValueError, match="unknown oracle"):
        tolerance(np.float64, "guess")


def _planted_affine_backward(dout: Any, cache: Any) -> tuple[Any, Any, Any]:
    """affine_backward with one entry of dw off by 1e-4 relative."""
    dx, dw, db = pl.affine_backward(dout, cache)
    xp = _compat.array_namespace("t", dw=dw)
    bump = np.zeros(tuple(dw.shape))
    bump[1, 2] = 1e-4 * float(_compat.to_numpy(dw)[1, 2])
    return dx, dw + xp.asarray(bump, dtype=dw.dtype), db


def test_check_layer_catches_a_planted_error(xp: Any) -> None:
    oracles = ("numerical", "autodiff") if _compat.installed_backends().count("jax") else (
        "numerical",)
    inputs = (randn(xp, 4, 6, seed=1), randn(xp, 6, 5, seed=2), randn(xp, 5, seed=3))
    good = check_layer(pl.affine_forward, pl.affine_backward, inputs, oracles=oracles)
    assert good.ok, str(good)
    bad = check_layer(pl.affine_forward, _planted_affine_backward, inputs, oracles=oracles)
    assert not bad.ok
    failed = {(c.input, c.oracle) for c in bad.checks if not c.ok}
    assert failed == {("w", o) for o in oracles}
    assert "FAIL" in str(bad)


def test_check_layer_reports_wrong_gradient_shapes(xp: Any) -> None:
    inputs = (randn(xp, 3, 4, seed=1),)
    result = check_layer(pl.tanh_forward, lambda dout, cache: dout[:, :2], inputs,
                         oracles=("numerical",))
    assert not result.ok
    assert "has shape (3, 2)" in result.problems[0]


def test_check_layer_rejects_unknown_oracle(xp: Any) -> None:
    with pytest.raises(ValueError, match="unknown oracle 'guess'"):
        check_layer(pl.tanh_forward, pl.tanh_backward, (randn(xp, 2),), oracles=("guess",))


def test_at_a_kink_the_oracles_legitimately_disagree(xp: Any) -> None:
    """ReLU at exactly 0: the subgradient 0, JAX's 0.5, a central difference's 0.5."""
    x = asxp(xp, [[-1.0, 0.0, 2.0]])
    ones = asxp(xp, [[1.0, 1.0, 1.0]])
    hand = _compat.to_numpy(pl.relu_backward(ones, pl.relu_forward(x)[1]))
    (numeric,) = numerical_vjp(lambda v: pl.relu_forward(v)[0], (x,), ones)
    np.testing.assert_allclose(hand, [[0.0, 0.0, 1.0]])
    np.testing.assert_allclose(_compat.to_numpy(numeric), [[0.0, 0.5, 1.0]], atol=1e-9)
    if "jax" in _compat.installed_backends():
        (auto,) = autodiff_vjp(lambda v: pl.relu_forward(v)[0], (x,), ones)
        np.testing.assert_allclose(_compat.to_numpy(auto), [[0.0, 0.5, 1.0]])
