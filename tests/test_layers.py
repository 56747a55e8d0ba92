"""Layer semantics against independent NumPy computations, and their numerics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import assert_array, assert_close, asxp, randn

import portable_layers as pl
from portable_layers import _compat
from portable_layers.layers import AffineCache


def host(a: Any) -> np.ndarray:
    return np.asarray(_compat.to_numpy(a), dtype=np.float64)


def test_affine_flattens_and_restores_the_input_shape(xp: Any) -> None:
    x, w, b = randn(xp, 3, 2, 2, seed=1), randn(xp, 4, 5, seed=2), randn(xp, 5, seed=3)
    out, cache = pl.affine_forward(x, w, b)
    assert_array(out, xp, (3, 5), xp.float64)
    assert_close(out, host(x).reshape(3, 4) @ host(w) + host(b))
    x2d, w_cached, b_cached = cache  # the seed unpacks the cache as (x, w, b)
    assert tuple(x2d.shape) == (3, 4)
    assert isinstance(cache, AffineCache) and cache.x_shape == (3, 2, 2)
    dout = randn(xp, 3, 5, seed=4)
    dx, dw, db = pl.affine_backward(dout, cache)
    assert_array(dx, xp, (3, 2, 2), xp.float64)
    assert_close(dx, (host(dout) @ host(w).T).reshape(3, 2, 2))
    assert_close(dw, host(x).reshape(3, 4).T @ host(dout))
    assert_close(db, host(dout).sum(axis=0))
    # A plain tuple, as the seed passes it, gives dx in the shape of its x.
    dx_plain, _, _ = pl.affine_backward(dout, (x2d, w_cached, b_cached))
    assert tuple(dx_plain.shape) == (3, 4)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh"])
def test_activations_match_closed_forms(xp: Any, name: str) -> None:
    x = randn(xp, 4, 6, seed=5, scale=3.0)
    dout = randn(xp, 4, 6, seed=6)
    hx, hd = host(x), host(dout)
    s = 1 / (1 + np.exp(-hx))
    expected = {
        "relu": (np.maximum(hx, 0), hd * (hx > 0)),
        "leaky_relu": (np.where(hx > 0, hx, 0.01 * hx), np.where(hx > 0, hd, 0.01 * hd)),
        "sigmoid": (s, hd * s * (1 - s)),
        "tanh": (np.tanh(hx), hd * (1 - np.tanh(hx) ** 2)),
    }[name]
    forward = getattr(pl, f"{name}_forward")
    backward = getattr(pl, f"{name}_backward")
    out, cache = forward(x)
    assert_array(out, xp, (4, 6), xp.float64)
    assert_close(out, expected[0], rtol=1e-13, atol=1e-15)
    assert_close(backward(dout, cache), expected[1], rtol=1e-12, atol=1e-14)


def test_leaky_relu_alpha(xp: Any) -> None:
    out, cache = pl.leaky_relu_forward(asxp(xp, [-2.0, 3.0]), alpha=0.2)
    assert_close(out, [-0.4, 3.0])
    assert_close(pl.leaky_relu_backward(asxp(xp, [1.0, 1.0]), cache), [0.2, 1.0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_and_tanh_saturate_without_overflow(xp: Any, dtype: str) -> None:
    x = asxp(xp, [-1e4, -50.0, 0.0, 50.0, 1e4], dtype)
    # filterwarnings=error turns any overflow warning into a failure
    s, cache = pl.sigmoid_forward(x)
    assert s.dtype == getattr(xp, dtype)
    assert_close(s, [0.0, 1 / (1 + np.exp(50.0)), 0.5, 1 / (1 + np.exp(-50.0)), 1.0], rtol=1e-6)
    ds = pl.sigmoid_backward(asxp(xp, np.ones(5), dtype), cache)
    assert np.all(np.isfinite(host(ds)))
    t, _ = pl.tanh_forward(x)
    assert_close(t, [-1.0, -1.0, 0.0, 1.0, 1.0])


def _svm_reference(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """CS231n's naive loop over samples and classes."""
    n, c = x.shape
    loss, dx = 0.0, np.zeros_like(x)
    for i in range(n):
        for j in range(c):
            if j == y[i]:
                continue
            margin = x[i, j] - x[i, y[i]] + 1
            if margin > 0:
                loss += margin
                dx[i, j] += 1
                dx[i, y[i]] -= 1
    return loss / n, dx / n


def _softmax_reference(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    n = x.shape[0]
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(n), y]))
    p[np.arange(n), y] -= 1
    return loss, p / n


@pytest.mark.parametrize("name", ["svm_loss", "softmax_loss"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_losses_match_loop_references(xp: Any, name: str, dtype: str) -> None:
    rng = np.random.default_rng(7)
    hx, hy = rng.standard_normal((8, 5)), rng.integers(0, 5, size=8)
    x, y = asxp(xp, hx, dtype), asxp(xp, hy)
    loss, dx = getattr(pl, name)(x, y)
    assert_array(loss, xp, (), getattr(xp, dtype))
    assert_array(dx, xp, (8, 5), getattr(xp, dtype))
    ref_loss, ref_dx = {"svm_loss": _svm_reference, "softmax_loss": _softmax_reference}[name](
        hx.astype(dtype).astype(np.float64), hy)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    assert float(loss) == pytest.approx(ref_loss, rel=rtol)
    assert_close(dx, ref_dx, rtol=rtol, atol=rtol * 1e-2)


def test_softmax_finite_at_huge_float32_logits(xp: Any) -> None:
    x = asxp(xp, [[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], "float32")
    y = asxp(xp, np.array([1, 2]))
    loss, dx = pl.softmax_loss(x, y)
    assert loss.dtype == xp.float32
    assert float(loss) == pytest.approx(1e4, rel=1e-6)  # sample 0 puts -2e4 on its label: 2e4 / 2
    assert_close(dx, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]], atol=1e-7)
    svm, _ = pl.svm_loss(x, y)
    assert np.isfinite(float(svm))


def test_losses_are_nan_for_bad_labels_under_jit(xp: Any) -> None:
    """Inside jax.jit the labels can't be read; a bad one gives NaN, never a clamped loss."""
    jax = pytest.importorskip("jax", reason="jax.jit needs JAX")
    import jax.numpy as jnp

    x = jnp.asarray(_compat.to_numpy(randn(xp, 3, 4, seed=8)))
    for fn in (pl.svm_loss, pl.softmax_loss):
        good = jax.jit(lambda s, y, fn=fn: fn(s, y)[0])(x, jnp.asarray([0, 3, 1]))
        bad = jax.jit(lambda s, y, fn=fn: fn(s, y)[0])(x, jnp.asarray([0, 4, 1]))
        assert np.isfinite(float(good)) and np.isnan(float(bad))


def test_two_layer_perceptron_has_the_layers_as_methods() -> None:
    model = pl.TwoLayerPerceptron()
    assert model.params["W1"].shape == (3072, 100)
    for name in ("affine", "relu", "leaky_relu", "sigmoid", "tanh", "affine_relu"):
        assert getattr(model, f"{name}_forward") is getattr(pl, f"{name}_forward")
        assert getattr(model, f"{name}_backward") is getattr(pl, f"{name}_backward")
    assert model.svm_loss is pl.svm_loss and model.softmax_loss is pl.softmax_loss


def test_labels_captured_in_a_jit_trace_are_not_read(xp: Any) -> None:
    """Concrete labels closed over inside jax.jit: the loss traces instead of failing."""
    jax = pytest.importorskip("jax", reason="jax.jit needs JAX")
    import jax.numpy as jnp

    y = jnp.asarray([0, 3, 1])
    x = jnp.asarray(_compat.to_numpy(randn(xp, 3, 4, seed=9)))
    for fn in (pl.svm_loss, pl.softmax_loss):
        jitted = jax.jit(lambda s, fn=fn: fn(s, y)[0])
        assert float(jitted(x)) == pytest.approx(float(fn(x, y)[0]), rel=1e-12)


@pytest.mark.parametrize("name", ["affine", "affine_norm_relu", "conv", "conv_relu_pool"])
def test_need_dx_false_skips_dx_only(xp: Any, name: str) -> None:
    """A model's first layer asks for the parameter gradients alone; they are unchanged."""
    from portable_layers.cases import get_case

    case = get_case(name)
    inputs = case.inputs(xp)
    out, cache = case.forward(*inputs)
    dout = randn(xp, *out.shape, seed=11)
    backward = {"affine": pl.affine_backward, "affine_norm_relu": pl.affine_norm_relu_backward,
                "conv": pl.conv_backward, "conv_relu_pool": pl.conv_relu_pool_backward}[name]
    full = backward(dout, cache)
    partial = backward(dout, cache, need_dx=False)
    assert full[0] is not None and partial[0] is None
    for a, b in zip(full[1:], partial[1:], strict=True):
        if a is None:
            assert b is None
        else:
            np.testing.assert_array_equal(_compat.to_numpy(a), _compat.to_numpy(b))
