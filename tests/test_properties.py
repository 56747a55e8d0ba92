"""Property tests (hypothesis): invariants of every layer on every backend.

How the arrays are generated
----------------------------
``hypothesis.extra.array_api.make_strategies_namespace(ns)`` works for
``array_api_strict`` and NumPy 2.x (``array_api_compat.numpy``); for those two backends
the arrays are drawn natively in the backend's namespace.  For JAX (it works, but builds
each array entry by entry: 0.44 s per (3, 256) array against 0.011 s for a host draw
and one ``jnp.asarray``, measured here), for PyTorch (the namespace is not recognised:
``HypothesisWarning: Could not determine whether module array_api_compat.torch is an
Array API library``) and for the read-only NumPy of the test matrix (a wrapper module),
they are drawn with ``hypothesis.extra.numpy`` and converted with ``xp.asarray``.
Values are drawn in [-1, -2**-7] or [2**-7, 1] (never 0: an all-zero input makes the
properties vacuous) and multiplied by a drawn power of ten (1e-3 .. 1e3), so
magnitudes vary; shapes include N = 1 (except for batchnorm,
whose dx is identically zero for one sample: asserted on purpose in its own test) and
feature counts up to 256; dtypes are float32 and float64.  Every gradient an example
checks must be non-zero somewhere (``assume``), so no example passes vacuously.

Examples per property: the hypothesis profile ``ci`` (registered in ``conftest.py`` and
loaded by default) runs 50 examples per property, per parametrization and backend;
``pytest --hypothesis-profile=dev`` runs 5 for a quick local loop.

Cross-backend agreement compares each backend with a *different* library, through the
host: NumPy (and the read-only NumPy) with PyTorch, else JAX, else array_api_strict
(the only other backend of the JAX-free session), every other backend with NumPy.

Reproducibility: every test runs under ``derandomize=True`` (the examples are a
function of the test's name, the same on every run and machine) with no example
database, so a failure repeats; hypothesis prints the falsifying example, which
includes every drawn value (and the case-table seed of the oracle test).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from helpers import base_namespace
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import portable_layers as pl
from portable_layers import _compat
from portable_layers.cases import CASES
from portable_layers.pytest_plugin import ReadOnlyNumPy

# max_examples comes from the profile (conftest.py: "ci" 50, "dev" 5)
SETTINGS = settings(
    deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)
DTYPES = ("float32", "float64")
FEATURES = (3, 256)  # a small and a large feature count (few shapes: JAX compiles per shape)
BATCH = st.sampled_from((1, 3))  # includes N = 1
BATCH2 = st.sampled_from((2, 3))  # batchnorm: N = 1 makes dx identically zero
RTOL = {"float32": 5e-3, "float64": 1e-11}
TINY = 2.0**-7  # the smallest |value| drawn (exact in float32): zero is never drawn


# ---------------------------------------------------------------------------
# Drawing arrays in each backend's namespace
# ---------------------------------------------------------------------------


def backend_of(xp: Any) -> str:
    return "numpy_readonly" if isinstance(xp, ReadOnlyNumPy) else _compat.backend_name(xp)


@functools.cache
def _native_strategies(backend: str) -> Any:
    """make_strategies_namespace for the backends it supports (see the docstring)."""
    from hypothesis.extra.array_api import make_strategies_namespace

    if backend not in ("numpy", "array_api_strict"):
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
    sides = [{"min_value": lo, "max_value": hi, "allow_nan": False, "allow_infinity": False,
              "allow_subnormal": False} for lo, hi in ((-1.0, -TINY), (TINY, 1.0))]
    native = _native_strategies(backend_of(xp))
    if native is not None:
        ns = _compat.get_namespace(backend_of(xp))
        elements = st.one_of(*(st.floats(**side, width=bits) for side in sides))
        a = draw(native.arrays(getattr(ns, dtype), shape, elements=elements))
        return a * scale if scale != 1.0 else a
    elements = st.one_of(*(st.floats(**side, width=bits) for side in sides))
    host = draw(hnp.arrays(np.dtype(dtype), shape, elements=elements))
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


def _batchnorm(data: Any) -> tuple[tuple[int, ...], ...]:
    n, d = data.draw(BATCH2, label="N"), data.draw(st.sampled_from(FEATURES), label="D")
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
    Layer("batchnorm", _batchnorm,
          lambda x, g, b: pl.batchnorm_forward(x, g, b, {"mode": "train"}),
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
# The reference backend: always a different library than the one under test
# ---------------------------------------------------------------------------

NUMPY_REFERENCES = ("torch", "jax", "array_api_strict")


def reference_backend(xp: Any) -> str:
    """The library the backend under test is compared with (see the module docstring)."""
    if backend_of(xp) not in ("numpy", "numpy_readonly"):
        return "numpy"
    for name in NUMPY_REFERENCES:
        if importlib.util.find_spec(name) is not None:
            return name
    raise AssertionError("no backend besides NumPy is installed to compare NumPy with")


@contextlib.contextmanager
def on_reference(name: str) -> Iterator[Any]:
    """The reference namespace, with float64 available (JAX's x64 switch on)."""
    ns = _compat.get_namespace(name)
    with _compat.float64_context(ns):
        yield ns


def to_reference(ns: Any, a: Any) -> Any:
    """``a`` (any backend) as an array of ``ns`` with the same values and dtype."""
    return _compat.from_numpy(host(a), ns)


def test_the_reference_is_another_library(xp: Any) -> None:
    ref = reference_backend(xp)
    assert ref != _compat.backend_name(base_namespace(xp))
    with on_reference(ref) as ns:
        a = to_reference(ns, xp.asarray(np.arange(3.0)))
        assert _compat.library_name(a) == ref and a.dtype == ns.float64


# ---------------------------------------------------------------------------
# Invariants of every layer
# ---------------------------------------------------------------------------


@BY_LAYER
@SETTINGS
@given(data=st.data())
def test_layer_invariants(xp: Any, layer: Layer, data: Any) -> None:
    """Gradients take the inputs' shapes, dtypes and namespace; finite in, finite out;
    backward(a*d1 + b*d2) == a*backward(d1) + b*backward(d2); and the backend's
    forward and backward agree with another library's on the same values."""
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    inputs = _draw_inputs(data, xp, layer, dtype)
    out, cache = layer.forward(*inputs)
    assert out.dtype == inputs[0].dtype
    assert np.all(np.isfinite(host(out))), "finite inputs gave a non-finite output"
    d1 = data.draw(arrays(xp, dtype, tuple(out.shape), scale=1.0), label="d1")
    d2 = data.draw(arrays(xp, dtype, tuple(out.shape), scale=1.0), label="d2")
    a = data.draw(st.floats(-2, 2, width=32), label="a")
    b = data.draw(st.floats(-2, 2, width=32), label="b")
    assume(abs(a) + abs(b) > 0.01)  # a = b = 0 would make linearity vacuous
    g1, g2 = _grads(layer.backward(d1, cache)), _grads(layer.backward(d2, cache))
    g12 = _grads(layer.backward(a * d1 + b * d2, cache))
    assert len(g1) == len(inputs)
    # not vacuous: every gradient is non-zero somewhere (all-zero ones are filtered out,
    # e.g. ReLU of an all-negative x; batchnorm's N = 1 never reaches here)
    assume(all(_max_abs(g) > 0 for g in g1))
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
    # the same values through another library (never the backend under test)
    ref = reference_backend(xp)
    with on_reference(ref) as ns:
        ref_inputs = tuple(to_reference(ns, v) for v in inputs)
        ref_out, ref_cache = layer.forward(*ref_inputs)
        ref_grads = _grads(layer.backward(to_reference(ns, d1), ref_cache))
        assert _compat.library_name(ref_out) == ref
        ref_out, ref_grads = host(ref_out), tuple(host(g) for g in ref_grads)
    tol = (1e-12 if dtype == "float64" else 1e-5) * conditioning(layer.name, host(inputs[0]))
    # rounding in a gradient scales with dout too (normalizations amplify both by norm)
    size = (_max_abs(*inputs) + _max_abs(d1)) * (1.0 + norm)
    _assert_close(out, ref_out, _max_abs(ref_out) + size, tol, f"{layer.name} forward vs {ref}")
    for g, rg in zip(g1, ref_grads, strict=True):
        _assert_close(g, rg, _max_abs(rg) + size, tol, f"{layer.name} gradient vs {ref}")


#: the axes each normalization averages over (groupnorm: G = 2 groups of channels)
NORM_AXES = {"batchnorm": (0,), "layernorm": (1,), "spatial_batchnorm": (0, 2, 3),
             "spatial_groupnorm": (2, 3, 4)}


def conditioning(name: str, x: np.ndarray) -> float:
    """How much a normalization amplifies rounding: 1 + mean(x²) / (var + eps) over its
    worst group.  Two libraries summing in different orders compute the variance to
    ~eps * mean(x²), so a nearly constant group (the drawn values can all but coincide)
    legitimately moves 1/std, and every gradient, by that much more; 1 elsewhere."""
    if name not in NORM_AXES:
        return 1.0
    x = x.astype(np.float64)
    if name == "spatial_groupnorm":
        x = x.reshape(x.shape[0], 2, x.shape[1] // 2, *x.shape[2:])
    axes = NORM_AXES[name]
    ratio = np.mean(x * x, axis=axes) / (np.var(x, axis=axes) + 1e-5)
    return 1.0 + float(np.max(ratio))


@SETTINGS
@given(data=st.data())
def test_batchnorm_one_sample_gives_zero_dx(xp: Any, data: Any) -> None:
    """Why batchnorm's invariants draw N >= 2: with one sample xhat = 0, the output is
    beta whatever x is, and dx is exactly zero (dgamma too; dbeta = dout)."""
    dtype = data.draw(st.sampled_from(DTYPES), label="dtype")
    d = data.draw(st.sampled_from(FEATURES), label="D")
    x, g, b = (data.draw(arrays(xp, dtype, s)) for s in ((1, d), (d,), (d,)))
    out, cache = pl.batchnorm_forward(x, g, b, {"mode": "train"})
    dout = data.draw(arrays(xp, dtype, (1, d), scale=1.0), label="dout")
    dx, dgamma, dbeta = pl.batchnorm_backward(dout, cache)
    assert not np.any(host(dx)) and not np.any(host(dgamma))
    np.testing.assert_array_equal(host(dbeta), host(dout)[0])
    np.testing.assert_array_equal(host(out), np.broadcast_to(host(b), (1, d)))


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
    ref = reference_backend(xp)
    with on_reference(ref) as ns:  # float64 on another library
        ref_value, ref_dx = loss(_compat.from_numpy(host(x).astype(np.float64), ns),
                                 _compat.from_numpy(host(y), ns))
        assert _compat.library_name(ref_dx) == ref
        ref_value, ref_dx = host(ref_value), host(ref_dx)
    assume(_max_abs(ref_dx) > 0)  # svm: every margin satisfied gives a zero gradient
    rtol = RTOL[dtype] if dtype == "float64" else 1e-3
    assert abs(v - float(ref_value)) <= rtol * (abs(float(ref_value)) + _max_abs(x) + 1.0)
    _assert_close(dx, ref_dx, _max_abs(ref_dx) + 1.0 / n, rtol, "loss gradient")


# ---------------------------------------------------------------------------
# Oracles agree away from kinks (the case table's inputs, seed drawn by hypothesis)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["fast", "sampled"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@SETTINGS
@given(seed=st.integers(0, 2**31 - 1))
def test_oracles_agree_away_from_kinks(xp: Any, case: Any, mode: str, seed: int) -> None:
    """Both cheap modes, with drawn seeds (inputs, directions and sampled entries)."""
    note(f"case table seed {seed}, mode {mode}")
    result = case.check(xp, "float64", seed=seed, mode=mode, samples=3, oracles=("numerical",))
    assert result.ok, f"seed {seed}: {result}"
    assert {c.mode for c in result.checks} == {mode}


@SETTINGS
@given(data=st.data())
def test_native_strategies_match_the_backend(xp: Any, data: Any) -> None:
    """The generator hands out arrays of the backend under test, in the asked dtype."""
    for dtype in DTYPES:
        a = data.draw(arrays(xp, dtype, (2, 3)))
        assert _compat.array_namespace("test", a=a) is base_namespace(xp)
        assert a.dtype == getattr(base_namespace(xp), dtype)


def test_every_property_runs_the_profiles_examples() -> None:
    """No property overrides the profile's count (the oracle property once ran 1 example),
    and the CI profile runs at least 50."""
    assert SETTINGS.max_examples == settings.default.max_examples
    assert settings.get_profile("ci").max_examples >= 50
