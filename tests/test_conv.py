"""conv_forward / conv_backward: values against independent references, dtype, errors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from helpers import assert_array, assert_close, asxp

import portable_layers.layers as L
from portable_layers import _compat

HAS_TORCH = importlib.util.find_spec("torch") is not None

# (x shape, w shape, stride, pad): same size, strided with a remainder, no padding
CONFIGS = [
    ((2, 3, 5, 5), (3, 3, 3, 3), 1, 1),
    ((2, 2, 5, 6), (3, 2, 3, 2), 2, 1),
    ((1, 2, 6, 6), (2, 2, 2, 2), 3, 0),
]


def conv_loops(x, w, b, stride, pad):
    """Plain NumPy transcription of the definition, with dx, dw, db for dout = ones * g."""
    n, _c, h, wd = x.shape
    f, _, hh, ww = w.shape
    xp_ = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = 1 + (h + 2 * pad - hh) // stride, 1 + (wd + 2 * pad - ww) // stride
    out = np.zeros((n, f, ho, wo))
    for i in range(n):
        for k in range(f):
            for r in range(ho):
                for s in range(wo):
                    win = xp_[i, :, r * stride : r * stride + hh, s * stride : s * stride + ww]
                    out[i, k, r, s] = np.sum(win * w[k]) + b[k]
    return out


def conv_loops_backward(dout, x, w, stride, pad):
    n, _c, h, wd = x.shape
    f, _, hh, ww = w.shape
    xp_ = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp, dw = np.zeros_like(xp_), np.zeros_like(w)
    for i in range(n):
        for k in range(f):
            for r in range(dout.shape[2]):
                for s in range(dout.shape[3]):
                    sl = (slice(r * stride, r * stride + hh), slice(s * stride, s * stride + ww))
                    dxp[i, :, sl[0], sl[1]] += w[k] * dout[i, k, r, s]
                    dw[k] += xp_[i, :, sl[0], sl[1]] * dout[i, k, r, s]
    return dxp[:, :, pad : pad + h, pad : pad + wd], dw, dout.sum(axis=(0, 2, 3))


def host_inputs(x_shape, w_shape, seed=0):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    return x, w, rng.standard_normal(w_shape[0])


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad"), CONFIGS)
def test_conv_matches_loop_reference(xp, x_shape, w_shape, stride, pad):
    x, w, b = host_inputs(x_shape, w_shape)
    param = {"stride": stride, "pad": pad}
    out, cache = L.conv_forward(asxp(xp, x), asxp(xp, w), asxp(xp, b), param)
    expected = conv_loops(x, w, b, stride, pad)
    assert_array(out, xp, expected.shape, asxp(xp, x).dtype)
    assert_close(out, expected, rtol=1e-12, atol=1e-12)
    dout = np.random.default_rng(1).standard_normal(expected.shape)
    grads = L.conv_backward(asxp(xp, dout), cache)
    for g, e in zip(grads, conv_loops_backward(dout, x, w, stride, pad), strict=True):
        assert_close(g, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad"), CONFIGS[:2])
def test_conv_matches_torch_and_jax(xp, x_shape, w_shape, stride, pad):
    x, w, b = host_inputs(x_shape, w_shape, seed=2)
    out = _compat.to_numpy(
        L.conv_forward(asxp(xp, x), asxp(xp, w), asxp(xp, b), {"stride": stride, "pad": pad})[0]
    )
    jax = pytest.importorskip("jax")
    with _compat.jax_x64():
        ref = jax.lax.conv_general_dilated(
            jax.numpy.asarray(x), jax.numpy.asarray(w), (stride, stride), [(pad, pad)] * 2
        )
        assert_close(out, np.asarray(ref) + b[:, None, None], rtol=1e-10, atol=1e-12)
    if HAS_TORCH:
        import torch

        ref = torch.nn.functional.conv2d(
            torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=stride, padding=pad
        )
        assert_close(out, ref.numpy(), rtol=1e-10, atol=1e-12)


def test_conv_float32_and_inputs_untouched(xp):
    x, w, b = (asxp(xp, a, "float32") for a in host_inputs((2, 3, 5, 5), (3, 3, 3, 3)))
    copies = [np.array(_compat.to_numpy(a), copy=True) for a in (x, w, b)]
    out, cache = L.conv_forward(x, w, b, {"stride": 1, "pad": 1})
    assert_array(out, xp, (2, 3, 5, 5), x.dtype)
    for g, a in zip(L.conv_backward(out, cache), (x, w, b), strict=True):
        assert_array(g, xp, tuple(a.shape), x.dtype)
    for a, c in zip((x, w, b), copies, strict=True):
        np.testing.assert_array_equal(_compat.to_numpy(a), c)


def test_conv_under_jit(xp):
    """Forward and backward in one compiled step (jax.jit on JAX, plain calls elsewhere)."""
    x, w, b = (asxp(xp, a) for a in host_inputs((2, 2, 5, 6), (3, 2, 3, 2)))
    param = {"stride": 2, "pad": 1}

    def step(x, w, b):
        out, cache = L.conv_forward(x, w, b, param)
        return out, L.conv_backward(out, cache)

    ns = _compat.array_namespace("test", x=x)
    eager, jitted = step(x, w, b), _compat.jit(step, ns)(x, w, b)
    assert_close(jitted[0], eager[0], rtol=1e-12)
    for g, e in zip(jitted[1], eager[1], strict=True):
        assert_close(g, e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "param", "match"),
    [
        (
            (1, 1, 3, 3),
            (1, 1, 5, 5),
            {"stride": 1, "pad": 0},
            (
                r"conv_forward: "
                r"kernel height HH = 5"
            ),
        ),
        ((1, 1, 3, 3), (1, 1, 6, 2), {"stride": 1, "pad": 1}, r"larger than the 5"),
        ((1, 2, 3, 3), (1, 3, 2, 2), {"stride": 1, "pad": 0}, r"conv_forward: w must have shape"),
        (
            (1, 1, 3, 3),
            (1, 1, 2, 2),
            {"stride": 0, "pad": 0},
            (
                r"conv_param\['stride'\] must "
                r"be a positive integer, got 0"
            ),
        ),
        (
            (1, 1, 3, 3),
            (1, 1, 2, 2),
            {"stride": 1, "pad": -1},
            (
                r"conv_param\['pad'\] must "
                r"be an integer >= 0, got -1"
            ),
        ),
        ((1, 1, 3, 3), (1, 1, 2, 2), {"stride": 1}, r"conv_param must have the key 'pad'"),
        ((1, 1, 3, 3), (1, 1, 2, 2), {"stride": 1.5, "pad": 0}, r"got 1.5"),
    ],
)
def test_conv_bad_input(xp, x_shape, w_shape, param, match):
    x, w, b = (asxp(xp, a) for a in host_inputs(x_shape, w_shape))
    with pytest.raises(ValueError, match=match):
        L.conv_forward(x, w, b, param)


def test_conv_bad_types_and_dout(xp):
    x, w, b = (asxp(xp, a) for a in host_inputs((1, 1, 3, 3), (1, 1, 2, 2)))
    with pytest.raises(TypeError, match="conv_forward: conv_param must be a dict"):
        L.conv_forward(x, w, b, [1, 0])
    with pytest.raises(TypeError, match="conv_forward: x must have a real floating dtype"):
        L.conv_forward(
            asxp(xp, np.ones((1, 1, 3, 3), dtype=np.int64)), w, b, {"stride": 1, "pad": 0}
        )
    _out, cache = L.conv_forward(x, w, b, {"stride": 1, "pad": 0})
    with pytest.raises(ValueError, match="conv_backward: dout must have the forward output"):
        L.conv_backward(asxp(xp, np.ones((1, 1, 3, 3))), cache)
