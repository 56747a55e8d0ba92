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


NO_JAX = (  # every meta-path finder wrapped to find no jax: as if it were not installed
    "import sys\n"
    "class Hide:\n"
    "    def __init__(self, inner):\n"
    "        self.inner = inner\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in ('jax', 'jaxlib'):\n"
    "            return None\n"
    "        return self.inner.find_spec(name, path, target)\n"
    "    def __getattr__(self, attr):\n"
    "        return getattr(self.inner, attr)\n"
    "sys.meta_path[:] = [Hide(f) for f in sys.meta_path]\n"
)


def test_check_layer_drops_autodiff_with_a_note_when_jax_is_missing(xp: Any) -> None:
    """In-process: the real situation in the tests-nojax session, the default here."""
    from portable_layers.gradient_check.oracles import available

    x = randn(xp, 3, 4, seed=1)
    result = pl.check_layer(pl.tanh_forward, pl.tanh_backward, (x,))
    assert result.ok, str(result)
    if available("autodiff"):
        assert {c.oracle for c in result.checks} == {"numerical", "autodiff"}
        assert result.notes == ()
    else:
        assert {c.oracle for c in result.checks} == {"numerical"}
        assert "JAX is not installed: autodiff oracle skipped" in str(result)
        with pytest.raises(ImportError, match="the autodiff oracle needs JAX"):
            pl.check_layer(pl.tanh_forward, pl.tanh_backward, (x,),
                           oracles=("numerical", "autodiff"))


def test_without_jax_check_layer_assert_and_the_plugin_drop_autodiff(tmp_path: Any) -> None:
    """A process where ``import jax`` fails: notes, not ImportErrors, unless asked for."""
    code = NO_JAX + (
        "import numpy as np, portable_layers as pl\n"
        "from portable_layers.gradient_check import assert_layer_gradients\n"
        "x = np.linspace(-1.0, 1.0, 6).reshape(2, 3)\n"
        "r = pl.check_layer(pl.tanh_forward, pl.tanh_backward, (x,))\n"
        "print('ORACLES', sorted({c.oracle for c in r.checks}), r.ok)\n"
        "print('NOTES', list(r.notes))\n"
        "r = assert_layer_gradients(pl.tanh_forward, pl.tanh_backward, (x,), mode='fast')\n"
        "print('ASSERT', sorted({c.oracle for c in r.checks}), len(r.notes))\n"
        "try:\n"
        "    pl.check_layer(pl.tanh_forward, pl.tanh_backward, (x,), oracles=('autodiff',))\n"
        "except ImportError as e:\n"
        "    print('EXPLICIT', e)\n"
        "print('JAX LOADED', 'jax.numpy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "ORACLES ['numerical'] True" in out.stdout
    assert "NOTES [\"JAX is not installed: autodiff oracle skipped" in out.stdout
    assert "ASSERT ['numerical'] 1" in out.stdout
    assert ("EXPLICIT check_layer: the autodiff oracle needs JAX; install it with "
            "pip install 'portable-layers[jax]'") in out.stdout
    assert "JAX LOADED False" in out.stdout
    user_test = tmp_path / "test_user_layer.py"
    user_test.write_text(
        "import numpy as np\n\n"
        "def test_square(xp, assert_gradients):\n"
        "    x = xp.asarray(np.random.default_rng(0).normal(size=(3, 2)))\n"
        "    result = assert_gradients(lambda v: (v * v, v), lambda d, v: 2 * v * d, (x,))\n"
        "    assert [c.oracle for c in result.checks] == ['numerical']\n"
        "    assert 'autodiff oracle skipped' in result.notes[0]\n"
    )
    plugin = NO_JAX + (
        "import pytest\n"
        f"sys.exit(pytest.main([{str(user_test)!r}, '-q', '-p', 'no:cacheprovider', "
        "'-p', 'portable_layers.pytest_plugin', '--backend', 'numpy']))\n"
    )
    run = subprocess.run([sys.executable, "-c", plugin], capture_output=True, text=True,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


def test_rel_error_names_both_libraries() -> None:
    import array_api_strict

    with pytest.raises(TypeError, match=r"rel_error: .*x is numpy, y is array_api_strict"):
        rel_error(np.ones(2), array_api_strict.ones(2, dtype=array_api_strict.float64))
