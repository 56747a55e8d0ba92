"""Inverted dropout: reproducible masks, keep rate, expectation, test mode, errors."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_array, assert_close, asxp

import portable_layers.layers as L
from portable_layers import _compat


def train(p=0.7, seed=0):
    return {"p": p, "mode": "train", "seed": seed}


def test_mask_reproducible_and_same_on_every_backend(xp):
    x = asxp(xp, np.ones((8, 10)))
    out1, _ = L.dropout_forward(x, train(seed=3))
    out2, _ = L.dropout_forward(x, train(seed=3))
    out3, _ = L.dropout_forward(x, train(seed=4))
    np.testing.assert_array_equal(_compat.to_numpy(out1), _compat.to_numpy(out2))
    assert not np.array_equal(_compat.to_numpy(out1), _compat.to_numpy(out3))
    expected = (np.random.default_rng(3).random((8, 10)) < 0.7) / 0.7
    assert_close(out1, expected)


def test_keep_rate_and_expectation(xp):
    host = np.random.default_rng(0).standard_normal((100, 100)) + 2.0
    out, _cache = L.dropout_forward(asxp(xp, host), train(p=0.3, seed=1))
    out = _compat.to_numpy(out)
    kept = out != 0
    assert abs(kept.mean() - 0.3) < 0.02
    assert_close(out[kept], host[kept] / 0.3)
    assert abs(out.mean() - host.mean()) < 0.1


def test_test_mode_is_identity_and_backward_uses_mask(xp):
    x = asxp(xp, np.arange(12.0).reshape(3, 4))
    out, cache = L.dropout_forward(x, {"p": 0.5, "mode": "test"})
    assert_close(out, x)
    assert_close(L.dropout_backward(asxp(xp, np.ones((3, 4))), cache), np.ones((3, 4)))
    out, cache = L.dropout_forward(x, train(p=0.5, seed=2))
    dx = L.dropout_backward(asxp(xp, np.ones((3, 4))), cache)
    mask = (np.random.default_rng(2).random((3, 4)) < 0.5) / 0.5
    assert_close(dx, mask)
    assert_close(out, np.arange(12.0).reshape(3, 4) * mask)


def test_p_one_keeps_everything_and_float32(xp):
    host = np.linspace(-1, 1, 6, dtype="float32")
    x = asxp(xp, host)
    out, cache = L.dropout_forward(x, train(p=1.0))
    assert_array(out, xp, (6,), x.dtype)
    assert_close(out, host)
    out, cache = L.dropout_forward(x, train(p=0.5))
    assert_array(out, xp, (6,), x.dtype)
    assert_array(L.dropout_backward(out, cache), xp, (6,), x.dtype)
    np.testing.assert_array_equal(_compat.to_numpy(x), host)


def test_jit_with_int_seed_matches_eager(xp):
    x = asxp(xp, np.ones((4, 5)))

    def step(x):
        out, cache = L.dropout_forward(x, train(seed=5))
        return L.dropout_backward(out, cache)

    ns = _compat.array_namespace("test", x=x)
    assert_close(_compat.jit(step, ns)(x), step(x))


def test_jax_seed_array_gives_fresh_masks_under_jit():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    step = jax.jit(lambda x, s: L.dropout_forward(x, train(p=0.5, seed=s))[0])
    x = jnp.ones((10, 10), dtype=jnp.float32)
    a, b = step(x, jnp.uint32(0)), step(x, jnp.uint32(1))
    assert not bool(jnp.all(a == b))
    assert bool(jnp.all(a == L.dropout_forward(x, train(p=0.5, seed=jnp.uint32(0)))[0]))
    with pytest.raises(
        ValueError,
        match=(
            r"dropout_forward: "
            r"dropout_param\['seed'\] is required under jax.jit"
        ),
    ):
        jax.jit(lambda x: L.dropout_forward(x, {"p": 0.5, "mode": "train"})[0])(x)


@pytest.mark.parametrize(
    ("param", "error", "match"),
    [
        (
            {"p": 0.0, "mode": "train"},
            ValueError,
            (
                r"dropout_forward: "
                r"dropout_param\['p'\] must be a number in \(0, 1\], got 0.0"
            ),
        ),
        ({"p": 1.5, "mode": "train"}, ValueError, r"got 1.5"),
        ({"mode": "train"}, ValueError, r"dropout_param must have the key 'p'"),
        (
            {"p": 0.5, "mode": "eval"},
            ValueError,
            (
                r"dropout_param\['mode'\] must "
                r"be 'train' or 'test', got 'eval'"
            ),
        ),
        (
            {"p": 0.5, "mode": "train", "seed": "a"},
            TypeError,
            (
                r"dropout_param\['seed'\] "
                r"must be an integer, got 'a'"
            ),
        ),
        ("p=0.5", TypeError, r"dropout_forward: dropout_param must be a dict"),
    ],
)
def test_bad_input(xp, param, error, match):
    with pytest.raises(error, match=match):
        L.dropout_forward(asxp(xp, np.ones(3)), param)
