"""Batch, layer, spatial batch and group normalization: references, running stats, errors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from helpers import assert_array, assert_close, asxp

import portable_layers.layers as L
from portable_layers import _compat

HAS_TORCH = importlib.util.find_spec("torch") is not None
EPS = 1e-5


def ref_norm(x, axes):
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)  # population variance
    return (x - mu) / np.sqrt(var + EPS)


def host(seed, *shapes):
    rng = np.random.default_rng(seed)
    return [2.0 * rng.standard_normal(s) + 1.0 for s in shapes]


def torch_fn():
    import torch

    return torch, torch.nn.functional


def test_batchnorm_train_values_and_running_stats(xp):
    x, gamma, beta = host(0, (6, 4), (4,), (4,))
    bn_param = {"mode": "train"}
    out, _ = L.batchnorm_forward(asxp(xp, x), asxp(xp, gamma), asxp(xp, beta), bn_param)
    assert_array(out, xp, (6, 4), asxp(xp, x).dtype)
    assert_close(out, gamma * ref_norm(x, 0) + beta, rtol=1e-12, atol=1e-12)
    first_mean = bn_param["running_mean"]
    assert_close(first_mean, 0.1 * x.mean(axis=0), rtol=1e-12)
    assert_close(bn_param["running_var"], 0.1 * x.var(axis=0), rtol=1e-12)
    x2 = host(1, (6, 4))[0]
    L.batchnorm_forward(asxp(xp, x2), asxp(xp, gamma), asxp(xp, beta), bn_param)
    expected = 0.9 * 0.1 * x.mean(axis=0) + 0.1 * x2.mean(axis=0)
    assert_close(bn_param["running_mean"], expected, rtol=1e-12)
    # the dict entry was replaced; the first array was not written into
    assert_close(first_mean, 0.1 * x.mean(axis=0), rtol=1e-12)
    if HAS_TORCH:
        torch, F = torch_fn()
        rm, rv = torch.zeros(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
        ref = F.batch_norm(
            torch.tensor(x),
            rm,
            rv,
            torch.tensor(gamma),
            torch.tensor(beta),
            training=True,
            momentum=0.1,
            eps=EPS,
        )
        assert_close(out, ref.numpy(), rtol=1e-10, atol=1e-12)


def test_batchnorm_test_mode_uses_running_stats(xp):
    x, gamma, beta, rm = host(2, (5, 3), (3,), (3,), (3,))
    rv = np.abs(rm) + 0.5
    bn_param = {"mode": "test", "running_mean": asxp(xp, rm), "running_var": asxp(xp, rv)}
    out, cache = L.batchnorm_forward(asxp(xp, x), asxp(xp, gamma), asxp(xp, beta), bn_param)
    assert_close(out, gamma * (x - rm) / np.sqrt(rv + EPS) + beta, rtol=1e-12)
    assert_close(bn_param["running_mean"], rm)
    dx, _, _ = L.batchnorm_backward(asxp(xp, np.ones((5, 3))), cache)
    assert_close(dx, np.broadcast_to(gamma / np.sqrt(rv + EPS), (5, 3)), rtol=1e-12)
    if HAS_TORCH:
        torch, F = torch_fn()
        ref = F.batch_norm(
            torch.tensor(x),
            torch.tensor(rm),
            torch.tensor(rv),
            torch.tensor(gamma),
            torch.tensor(beta),
            training=False,
            eps=EPS,
        )
        assert_close(out, ref.numpy(), rtol=1e-10)


def test_test_mode_without_running_stats_starts_at_zero(xp):
    x, gamma, beta = host(3, (2, 3), (3,), (3,))
    bn_param = {"mode": "test"}
    out, _ = L.batchnorm_forward(asxp(xp, x), asxp(xp, gamma), asxp(xp, beta), bn_param)
    assert_close(out, gamma * x / np.sqrt(EPS) + beta, rtol=1e-12)
    assert_close(bn_param["running_var"], np.zeros(3))


def test_layernorm_values(xp):
    x, gamma, beta = host(4, (3, 5), (5,), (5,))
    out, _ = L.layernorm_forward(asxp(xp, x), asxp(xp, gamma), asxp(xp, beta), {})
    assert_close(out, gamma * ref_norm(x, 1) + beta, rtol=1e-12, atol=1e-12)
    if HAS_TORCH:
        torch, F = torch_fn()
        ref = F.layer_norm(torch.tensor(x), (5,), torch.tensor(gamma), torch.tensor(beta), EPS)
        assert_close(out, ref.numpy(), rtol=1e-10, atol=1e-12)


def test_spatial_batchnorm_values_and_running_stats(xp):
    x, gamma, beta = host(5, (2, 3, 4, 4), (3,), (3,))
    bn_param = {"mode": "train", "momentum": 0.5}
    out, _ = L.spatial_batchnorm_forward(asxp(xp, x), asxp(xp, gamma), asxp(xp, beta), bn_param)
    c = (1, 3, 1, 1)
    assert_close(
        out, gamma.reshape(c) * ref_norm(x, (0, 2, 3)) + beta.reshape(c), rtol=1e-12, atol=1e-12
    )
    assert_close(bn_param["running_mean"], 0.5 * x.mean(axis=(0, 2, 3)), rtol=1e-12)
    if HAS_TORCH:
        torch, F = torch_fn()
        ref = F.batch_norm(
            torch.tensor(x),
            None,
            None,
            torch.tensor(gamma),
            torch.tensor(beta),
            training=True,
            eps=EPS,
        )
        assert_close(out, ref.numpy(), rtol=1e-10, atol=1e-12)


def test_groupnorm_values(xp):
    x, gamma, beta = host(6, (2, 6, 3, 3), (1, 6, 1, 1), (1, 6, 1, 1))
    out, _ = L.spatial_groupnorm_forward(asxp(xp, x), asxp(xp, gamma), asxp(xp, beta), 3, {})
    xhat = ref_norm(x.reshape(2, 3, -1), 2).reshape(x.shape)
    assert_close(out, gamma * xhat + beta, rtol=1e-12, atol=1e-12)
    if HAS_TORCH:
        torch, F = torch_fn()
        ref = F.group_norm(
            torch.tensor(x), 3, torch.tensor(gamma.ravel()), torch.tensor(beta.ravel()), EPS
        )
        assert_close(out, ref.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("layer", ["batchnorm", "layernorm", "spatial_batchnorm", "groupnorm"])
def test_float32_stays_float32_and_inputs_untouched(xp, layer):
    shape, pshape = {
        "batchnorm": ((4, 3), (3,)),
        "layernorm": ((4, 3), (3,)),
        "spatial_batchnorm": ((2, 3, 2, 2), (3,)),
        "groupnorm": ((2, 4, 2, 2), (1, 4, 1, 1)),
    }[layer]
    arrays = [a.astype("float32") for a in host(7, shape, pshape, pshape)]
    x, gamma, beta = (asxp(xp, a) for a in arrays)
    fwd, bwd = {
        "batchnorm": (lambda *a: L.batchnorm_forward(*a, {"mode": "train"}), L.batchnorm_backward),
        "layernorm": (lambda *a: L.layernorm_forward(*a, {}), L.layernorm_backward),
        "spatial_batchnorm": (
            lambda *a: L.spatial_batchnorm_forward(*a, {"mode": "train"}),
            L.spatial_batchnorm_backward,
        ),
        "groupnorm": (
            lambda *a: L.spatial_groupnorm_forward(*a, 2, {}),
            L.spatial_groupnorm_backward,
        ),
    }[layer]
    out, cache = fwd(x, gamma, beta)
    assert_array(out, xp, shape, x.dtype)
    for g, a in zip(bwd(out, cache), (x, gamma, beta), strict=True):
        assert_array(g, xp, tuple(a.shape), x.dtype)
    for a, h in zip((x, gamma, beta), arrays, strict=True):
        np.testing.assert_array_equal(_compat.to_numpy(a), h)


def test_bad_input(xp):
    x, g, b = (asxp(xp, a) for a in host(8, (4, 3), (3,), (3,)))
    with pytest.raises(
        ValueError,
        match=(
            r"batchnorm_forward: gamma "
            r"must have shape \(D,\) = \(3,\)"
        ),
    ):
        L.batchnorm_forward(x, asxp(xp, np.ones(4)), b, {"mode": "train"})
    with pytest.raises(
        ValueError,
        match=(
            r"batchnorm_forward: "
            r"bn_param\['mode'\] must be 'train' or 'test', got 'eval'"
        ),
    ):
        L.batchnorm_forward(x, g, b, {"mode": "eval"})
    with pytest.raises(
        ValueError,
        match=(
            r"bn_param\['momentum'\] must "
            r"be a number in \[0, 1\], got 1.5"
        ),
    ):
        L.batchnorm_forward(x, g, b, {"mode": "train", "momentum": 1.5})
    with pytest.raises(
        ValueError,
        match=(
            r"layernorm_forward: "
            r"ln_param\['eps'\] must be a positive number, got -1"
        ),
    ):
        L.layernorm_forward(x, g, b, {"eps": -1})
    with pytest.raises(ValueError, match=r"bn_param\['running_mean'\] must have shape"):
        L.batchnorm_forward(x, g, b, {"mode": "test", "running_mean": asxp(xp, np.ones(2))})
    with pytest.raises(ValueError, match=r"spatial_batchnorm_forward: bn_param\['mode'\]"):
        L.spatial_batchnorm_forward(asxp(xp, np.ones((2, 3, 2, 2))), g, b, {})
    with pytest.raises(TypeError, match=r"layernorm_forward: ln_param must be a dict"):
        L.layernorm_forward(x, g, b, None)


def test_groupnorm_bad_input(xp):
    x = asxp(xp, np.ones((2, 6, 2, 2)))
    g = asxp(xp, np.ones((1, 6, 1, 1)))
    with pytest.raises(
        ValueError,
        match=(
            r"spatial_groupnorm_forward: G must be "
            r"a positive integer dividing C = 6, got 4"
        ),
    ):
        L.spatial_groupnorm_forward(x, g, g, 4, {})
    with pytest.raises(ValueError, match=r"G must be a positive integer dividing C = 6, got 0"):
        L.spatial_groupnorm_forward(x, g, g, 0, {})
    with pytest.raises(
        ValueError,
        match=(
            r"spatial_groupnorm_forward: gamma must have "
            r"shape \(1, C, 1, 1\) = \(1, 6, 1, 1\), got \(6,\)"
        ),
    ):
        L.spatial_groupnorm_forward(x, asxp(xp, np.ones(6)), g, 2, {})
