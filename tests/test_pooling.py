"""max_pool_forward / max_pool_backward: loop reference, tie rule, dtype, errors."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_array, assert_close, asxp

import portable_layers.layers as L
from portable_layers import _compat

CONFIGS = [(2, 2, 2), (3, 3, 1), (2, 3, 2), (3, 2, 2)]  # (ph, pw, stride); overlapping, remainder


def pool_loops(x, ph, pw, stride, dout):
    """Plain NumPy loops; the gradient goes to the first maximum in row-major order."""
    n, c, h, w = x.shape
    ho, wo = 1 + (h - ph) // stride, 1 + (w - pw) // stride
    out, dx = np.zeros((n, c, ho, wo)), np.zeros_like(x)
    for i in range(n):
        for k in range(c):
            for r in range(ho):
                for s in range(wo):
                    win = x[i, k, r * stride : r * stride + ph, s * stride : s * stride + pw]
                    out[i, k, r, s] = win.max()
                    a, b = np.unravel_index(np.argmax(win), win.shape)  # first maximum
                    dx[i, k, r * stride + a, s * stride + b] += dout[i, k, r, s]
    return out, dx


@pytest.mark.parametrize(("ph", "pw", "stride"), CONFIGS)
def test_max_pool_matches_loops(xp, ph, pw, stride):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 6))
    param = {"pool_height": ph, "pool_width": pw, "stride": stride}
    out, cache = L.max_pool_forward(asxp(xp, x), param)
    dout = rng.standard_normal(tuple(out.shape))
    ref_out, ref_dx = pool_loops(x, ph, pw, stride, dout)
    assert_array(out, xp, ref_out.shape, asxp(xp, x).dtype)
    assert_close(out, ref_out)
    assert_close(L.max_pool_backward(asxp(xp, dout), cache), ref_dx, atol=1e-15)


def test_ties_go_to_first_maximum_in_row_major_order(xp):
    x = np.array([[[[0.0, 2.0, 2.0, 1.0], [2.0, 1.0, 2.0, 2.0]]]])
    out, cache = L.max_pool_forward(asxp(xp, x), {"pool_height": 2, "pool_width": 2, "stride": 2})
    dx = L.max_pool_backward(asxp(xp, np.array([[[[3.0, 5.0]]]])), cache)
    assert_close(out, [[[[2.0, 2.0]]]])
    assert_close(dx, [[[[0.0, 3.0, 5.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]])
    # all equal: the top-left entry of each window
    out, cache = L.max_pool_forward(
        asxp(xp, np.ones((1, 1, 2, 3))), {"pool_height": 2, "pool_width": 2, "stride": 1}
    )
    dx = L.max_pool_backward(asxp(xp, np.ones((1, 1, 1, 2))), cache)
    assert_close(dx, [[[[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]]])


def test_ties_under_jit(xp):
    x = asxp(xp, np.ones((1, 2, 4, 4)))
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}

    def step(x):
        out, cache = L.max_pool_forward(x, param)
        return L.max_pool_backward(out, cache)

    ns = _compat.array_namespace("test", x=x)
    expected = np.zeros((1, 2, 4, 4))
    expected[:, :, ::2, ::2] = 1.0
    assert_close(_compat.jit(step, ns)(x), expected)


def test_float32_and_inputs_untouched(xp):
    host = np.random.default_rng(3).standard_normal((2, 2, 4, 4)).astype("float32")
    x = asxp(xp, host)
    out, cache = L.max_pool_forward(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    assert_array(out, xp, (2, 2, 2, 2), x.dtype)
    assert_array(L.max_pool_backward(out, cache), xp, (2, 2, 4, 4), x.dtype)
    np.testing.assert_array_equal(_compat.to_numpy(x), host)


@pytest.mark.parametrize(
    ("param", "error", "match"),
    [
        (
            {"pool_height": 5, "pool_width": 2, "stride": 2},
            ValueError,
            r"max_pool_forward: pool_height 5 is larger than the 4",
        ),
        (
            {"pool_height": 2, "pool_width": 2, "stride": 0},
            ValueError,
            r"max_pool_forward: pool_param\['stride'\] must be a positive integer, got 0",
        ),
        ({"pool_height": 2, "stride": 2}, ValueError, r"must have the key 'pool_width'"),
        ({"pool_height": 2.0, "pool_width": 2, "stride": 2}, ValueError, r"got 2.0"),
        ((2, 2, 2), TypeError, r"max_pool_forward: pool_param must be a dict, got tuple"),
    ],
)
def test_bad_input(xp, param, error, match):
    with pytest.raises(error, match=match):
        L.max_pool_forward(asxp(xp, np.ones((1, 1, 4, 4))), param)


def test_bad_x_and_dout(xp):
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    with pytest.raises(ValueError, match=r"max_pool_forward: x must have 4 dimensions"):
        L.max_pool_forward(asxp(xp, np.ones((4, 4))), param)
    _, cache = L.max_pool_forward(asxp(xp, np.ones((1, 1, 4, 4))), param)
    with pytest.raises(ValueError, match=r"max_pool_backward: dout must have the forward"):
        L.max_pool_backward(asxp(xp, np.ones((1, 1, 4, 4))), cache)
