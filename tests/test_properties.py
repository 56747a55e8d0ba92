"""Property tests (hypothesis): invariants of every layer on every backend.

How the arrays are generated
----------------------------
``hypothesis.extra.array_api.make_strategies_namespace(ns)`` works for
``array_api_strict``, NumPy 2.x (``array_api_compat.numpy``) and ``jax.numpy``
(with x64 on, as the ``xp`` fixture sets it); for those three backends the arrays
are drawn natively in the backend's namespace.  For PyTorch (the namespace is not
recognised: ``HypothesisWarning: Could not determine whether module
array_api_compat.torch is an Array API library``) and for the read-only NumPy of the
test matrix (a wrapper module), they are drawn with ``hypothesis.extra.numpy`` and
converted with ``xp.asarray``.  Values are drawn in [-1, 1] and multiplied by a
drawn power of ten (1e-3 .. 1e3), so magnitudes vary; shapes include N = 1 and
feature counts up to 256; dtypes are float32 and float64.

Reproducibility: every test runs under ``derandomize=True`` (the examples are a
function of the test's name, the same on every run and machine) with no example
database, so a failure repeats; hypothesis prints the falsifying example, which
includes every drawn value (and the case-table seed of the oracle test).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from helpers import base_namespace
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import portable_layers as pl
from portable_layers import _compat
from portable_layers.cases import CASES
from portable_layers.pytest_plugin import ReadOnlyNumPy

SETTINGS = settings(
    max_examples=3, deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)
DTYPES = ("float32", "float64")
FEATURES = (3, 256)  # a small and a large feature count (few shapes: JAX compiles per shape)
BATCH = st.sampled_from((1, 3))  # includes N = 1
RTOL = {"float32": 5e-3, "float64": 1e-11}


# ---------------------------------------------------------------------------
# Drawing arrays in each backend's namespace
# ---------------------------------------------------------------------------


def backend_of(xp: Any) -> str:
    return "numpy_readonly" if isinstance(xp, ReadOnlyNumPy) else _compat.backend_name(xp)


@functools.cache
def _native_strategies(backend: str) -> Any:
    """make_strategies_namespace for the backends it supports (see the docstring)."""
    from hypothesis.extra.array_api import make_strategies_namespace

    if backend not in ("numpy", "array_api_strict", "jax"):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hypothesis notes the array-API version it assumes
        return make_strategies_namespace(_compat.get_namespace(backend))


@st.composite
def arrays(draw: Any, xp: Any, dtype: str, shape: tuple[int, ...],
           scale: float | None = None) -> Any:
    """An ``xp`` array of ``shape``: values in [-1, 1] times ``scale`` (drawn if None)."""
    if scale is None:
        scale = 10.0 ** draw(st.integers(-3, 3))
    bits = 32 if dtype == "float32" else 64
    elements = {"min_value": -1.0, "max_value": 1.0, "allow_nan": False,
                "allow_infinity": False, "allow_subnormal": False, "width": bits}
    native = _native_strategies(backend_of(xp))
    if native is not None:
        ns = _compat.get_namespace(backend_of(xp))
        native_elements = {k: v for k, v in elements.items() if k != "width"}
        a = draw(native.arrays(getattr(ns, dtype), shape, elements=native_elements))
        return a * scale if scale != 1.0 else a
    host = draw(hnp.arrays(np.dtype(dtype), shape, elements=st.floats(**elements)))
    return xp.asarray(host * np.asarray(scale, dtype=dtype))


def labels(xp: Any, n: int, c: int, data: Any) -> Any:
    y = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)), label="y")
    return xp.asarray(y)


def host(a: Any) -> np.ndarray:
    return np.array(_compat.to_numpy(a), copy=True)


# ---------------------------------------------------------------------------
# The layers under test: shapes drawn by hypothesis, values by ``arrays``
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Layer:
    name: str
    shapes: Callable[[Any], tuple[tuple[int, ...], ...]]  # data -> shapes of float inputs
    forward: Callable[..., Any]
    backward: Callable[..., Any]


def _nd(data: Any) -> tuple[tuple[int, ...], ...]:
    return ((data.draw(BATCH, label="N"), data.draw(st.sampled_from(FEATURES), label="D")),)


def _affine(data: Any) -> tuple[tuple[int, ...], ...]:
    n, d2, m = data.draw(BATCH), data.draw(st.sampled_from(FEATURES)), 4
    return (n, 2, d2), (2 * d2, m), (m,)


def _norm(data: Any) -> tuple[tuple[int, ...], ...]:
    (n, d), = _nd(data)
    return (n, d), (d,), (d,)


def _image(data: Any, c: Any = None) -> tuple[int, int, int, int]:
    n = data.draw(BATCH, label="N")
    c = c or 2
    return n, c, 3, data.draw(st.sampled_from((3, 4)), label="W")


def _conv(data: Any) -> tuple[tuple[int, ...], ...]:
    x = _image(data)
    return x, (2, x[1], 3, 3), (2,)


def _spatial(data: Any) -> tuple[tuple[int, ...], ...]:
    x = _image(data)
    return x, (x[1],), (x[1],)


def _group(data: Any) -> tuple[tuple[int, ...], ...]:
    x = _image(data, c=4)
    return x, (1, 4, 1, 1), (1, 4, 1, 1)


CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 1}

LAYERS = (
    Layer("affine", _affine, pl.affine_forward, pl.affine_backward),
    Layer("relu", _nd, pl.relu_forward, pl.relu_backward),
    Layer("leaky_relu", _nd, pl.leaky_relu_forward, pl.leaky_relu_backward),
    Layer("sigmoid", _nd, pl.sigmoid_forward, pl.sigmoid_backward),
    Layer("tanh", _nd, pl.tanh_forward, pl.tanh_backward),
    Layer("affine_relu", _affine, pl.affine_relu_forward, pl.affine_relu_backward),
    Layer("batchnorm", _norm, lambda x, g, b: pl.batchnorm_forward(x, g, b, {"mode": "train"}),
          pl.batchnorm_backward),
    Layer("layernorm", _norm, lambda x, g, b: pl.layernorm_forward(x, g, b, {}),
          pl.layernorm_backward),
    Layer("conv", _conv, lambda x, w, b: pl.conv_forward(x, w, b, CONV), pl.conv_backward),
    Layer("max_pool", lambda d: (_image(d),), lambda x: pl.max_pool_forward(x, POOL),
          pl.max_pool_backward),
    Layer("spatial_batchnorm", _spatial,
          lambda x, g, b: pl.spatial_batchnorm_forward(x, g, b, {"mode": "train"}),
          pl.spatial_batchnorm_backward),
    Layer("spatial_groupnorm", _group,
          lambda x, g, b: pl.spatial_groupnorm_forward(x, g, b, 2, {}),
          pl.spatial_groupnorm_backward),
    Layer("dropout", _nd, lambda x: pl.dropout_forward(x, {"p": 0.6, "mode": "train", "seed": 3}),
          pl.dropout_backward),
)
BY_LAYER = pytest.mark.parametrize("layer", LAYERS, ids=[lay.name for lay in LAYERS])


def _draw_inputs(data: Any, xp: Any, layer: Layer, dtype: str) -> tuple[Any, ...]:
    return tuple(data.draw(arrays(xp, dtype, s), label=f"input {i}")
                 for i, s in enumerate(layer.shapes(data)))


def _grads(g: Any) -> tuple[Any, ...]:
    return g if isinstance(g, tuple) else (g,)


def _assert_close(actual: Any, expected: Any, scale: float, rtol: float, what: str) -> None:
    a, e = host(actual), host(expected)
    err = float(np.max(np.abs(a - e), initial=0.0))
    assert err <= rtol * scale + 1e-300, f"{what}: max error {err:.3g} > {rtol:.1g} * {scale:.3g}"


def _max_abs(*arrays_: Any) -> float:
    return max((float(np.max(np.abs(host(a)), initial=0.0)) for a in arrays_), default=0.0)


# ---------------------------------------------------------------------------
# Invariants of every layer
# ---------------------------------------------------------------------------


@BY_LAYER
@SETTINGS
@given(data=st.data())
def test_layer_invariants(xp: Any, layer: Layer, data: Any) -> None:
    """Gradients take the inputs' shapes, dtypes and namespace; finite in, finite out;
    backward(a*d1 + b*d2) == a*backward(d1) + b*backward(d2); and the backend's
    forward and backward agree with NumPy's on the same values."""
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    inputs = _draw_inputs(data, xp, layer, dtype)
    out, cache = layer.forward(*inputs)
    assert out.dtype == inputs[0].dtype
    assert np.all(np.isfinite(host(out))), "finite inputs gave a non-finite output"
    d1 = data.draw(arrays(xp, dtype, tuple(out.shape), scale=1.0), label="d1")
    d2 = data.draw(arrays(xp, dtype, tuple(out.shape), scale=1.0), label="d2")
    a = data.draw(st.floats(-2, 2, width=32), label="a")
    b = data.draw(st.floats(-2, 2, width=32), label="b")
    g1, g2 = _grads(layer.backward(d1, cache)), _grads(layer.backward(d2, cache))
    g12 = _grads(layer.backward(a * d1 + b * d2, cache))
    assert len(g1) == len(inputs)
    # dx of a normalization cancels: scale its errors by the terms, inv_std * gamma * dout
    # and dgamma = sum(dout * xhat) cancels too: scale by the sum of |xhat| terms
    norm = 0.0
    if "norm" in layer.name:
        norm = _max_abs(cache[2]) * _max_abs(inputs[1]) + _max_abs(cache[0]) * math.prod(out.shape)
    for x, ga, gb, gab in zip(inputs, g1, g2, g12, strict=True):
        assert tuple(ga.shape) == tuple(x.shape) and ga.dtype == x.dtype, (ga.shape, ga.dtype)
        assert _compat.array_namespace("test", g=ga) is base_namespace(xp)
        assert np.all(np.isfinite(host(ga))) and np.all(np.isfinite(host(gab)))
        scale = abs(a) * _max_abs(ga) + abs(b) * _max_abs(gb) + _max_abs(gab)
        scale += (abs(a) + abs(b)) * norm
        _assert_close(gab, a * ga + b * gb, scale, RTOL[dtype], f"{layer.name} linearity")
    # the same values through NumPy (the reference backend)
    np_inputs = tuple(host(v) for v in inputs)
    np_out, np_cache = layer.forward(*np_inputs)
    np_grads = _grads(layer.backward(host(d1), np_cache))
    tol = 1e-12 if dtype == "float64" else 1e-5
    size = _max_abs(*np_inputs) * (1.0 + norm)
    _assert_close(out, np_out, _max_abs(np_out) + size, tol, f"{layer.name} forward vs NumPy")
    for g, ng in zip(g1, np_grads, strict=True):
        _assert_close(g, ng, _max_abs(ng) + size, tol, f"{layer.name} gradient vs NumPy")


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------


LOSSES = pytest.mark.parametrize("loss", [pl.svm_loss, pl.softmax_loss],
                                 ids=["svm_loss", "softmax_loss"])


@LOSSES
@SETTINGS
@given(data=st.data())
def test_losses_non_negative_finite_and_like_numpy(xp: Any, loss: Any, data: Any) -> None:
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    n, c = data.draw(BATCH, label="N"), data.draw(st.sampled_from((3, 256)), label="C")
    x, y = data.draw(arrays(xp, dtype, (n, c)), label="x"), labels(xp, n, c, data)
    value, dx = loss(x, y)
    assert tuple(value.shape) == () and value.dtype == x.dtype
    assert tuple(dx.shape) == (n, c) and dx.dtype == x.dtype
    v, g = float(host(value)), host(dx)
    assert np.isfinite(v) and v >= 0.0, v
    assert np.all(np.isfinite(g))
    if loss is pl.softmax_loss:  # rows of softmax - onehot sum to zero
        eps = float(np.finfo(dtype).eps)
        np.testing.assert_allclose(np.sum(g, axis=1), 0.0, atol=4 * c * eps / n)
    ref_value, ref_dx = loss(host(x).astype(np.float64), host(y))
    rtol = RTOL[dtype] if dtype == "float64" else 1e-3
    assert abs(v - float(ref_value)) <= rtol * (abs(float(ref_value)) + _max_abs(x) + 1.0)
    _assert_close(dx, ref_dx, _max_abs(ref_dx) + 1.0 / n, rtol, "loss gradient")


# ---------------------------------------------------------------------------
# Oracles agree away from kinks (the case table's inputs, seed drawn by hypothesis)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@settings(SETTINGS, max_examples=1)
@given(seed=st.integers(0, 2**31 - 1), mode=st.sampled_from(("fast", "sampled")))
def test_oracles_agree_away_from_kinks(xp: Any, case: Any, seed: int, mode: str) -> None:
    note(f"case table seed {seed}, mode {mode}")
    result = case.check(xp, "float64", seed=seed, mode=mode, samples=3, oracles=("numerical",))
    assert result.ok, f"seed {seed}: {result}"


@SETTINGS
@given(data=st.data())
def test_native_strategies_match_the_backend(xp: Any, data: Any) -> None:
    """The generator hands out arrays of the backend under test, in the asked dtype."""
    for dtype in DTYPES:
        a = data.draw(arrays(xp, dtype, (2, 3)))
        assert _compat.array_namespace("test", a=a) is base_namespace(xp)
        assert a.dtype == getattr(base_namespace(xp), dtype)
