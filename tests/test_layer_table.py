"""Every forward/backward pair in the case table, on every backend, through both oracles."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest
from helpers import assert_array, base_namespace

from portable_layers import _compat
from portable_layers.cases import CASES, LayerCase

HAVE_JAX = importlib.util.find_spec("jax") is not None
ORACLES = ("numerical", "autodiff") if HAVE_JAX else ("numerical",)
BY_NAME = pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])


def _grads(case: LayerCase, inputs: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
    """Forward output and the hand-written gradients of the floating inputs."""
    if case.backward is None:
        out, grads = case.forward(*inputs)
    else:
        out, cache = case.forward(*inputs)
        grads = case.backward(_compat.from_numpy(np.ones(tuple(out.shape)), base_namespace_of(out),
                                                 dtype=out.dtype), cache)
    return out, grads if isinstance(grads, tuple) else (grads,)


def base_namespace_of(x: Any) -> Any:
    return _compat.array_namespace("test", x=x)


def _floats(inputs: tuple[Any, ...]) -> list[Any]:
    return [a for a in inputs if base_namespace_of(a).isdtype(a.dtype, "real floating")]


@BY_NAME
def test_float64_agrees_with_both_oracles(case: LayerCase, xp: Any) -> None:
    result = case.check(xp, "float64", oracles=ORACLES)
    assert result.ok, str(result)
    assert {c.oracle for c in result.checks} == set(ORACLES)
    for c in result.checks:
        if c.oracle == "autodiff":
            assert c.error <= 1e-8, str(result)


@BY_NAME
def test_float32_in_float32_out(case: LayerCase, xp: Any) -> None:
    inputs = case.inputs(xp, "float32")
    out, grads = _grads(case, inputs)
    assert out.dtype == xp.float32
    assert base_namespace_of(out) is base_namespace(xp)
    for a, g in zip(_floats(inputs), grads, strict=True):
        assert_array(g, xp, tuple(a.shape), xp.float32)
    result = case.check(xp, "float32", oracles=ORACLES)
    assert result.ok, str(result)


@BY_NAME
def test_inputs_never_mutated(case: LayerCase, xp: Any) -> None:
    inputs = case.inputs(xp, "float64")
    before = [np.array(_compat.to_numpy(a), copy=True) for a in inputs]
    _grads(case, inputs)
    for a, b in zip(inputs, before, strict=True):
        np.testing.assert_array_equal(_compat.to_numpy(a), b)


@BY_NAME
def test_gradients_have_input_shapes_and_namespace(case: LayerCase, xp: Any) -> None:
    inputs = case.inputs(xp, "float64")
    _, grads = _grads(case, inputs)
    for a, g in zip(_floats(inputs), grads, strict=True):
        assert_array(g, xp, tuple(a.shape), xp.float64)


@BY_NAME
def test_same_under_jax_jit(case: LayerCase, xp: Any) -> None:
    """Forward and backward compiled by jax.jit give this backend's eager results."""
    jax = pytest.importorskip("jax", reason="jax.jit needs JAX (absent only in the nojax session)")
    import jax.numpy as jnp

    inputs = case.inputs(xp, "float64")
    out, grads = _grads(case, inputs)
    with _compat.jax_x64():
        jinputs = tuple(jnp.asarray(_compat.to_numpy(a)) for a in inputs)
        jout, jgrads = jax.jit(lambda *a: _grads(case, a))(*jinputs)
        jout, jgrads = np.asarray(jout), [np.asarray(g) for g in jgrads]
    np.testing.assert_allclose(jout, _compat.to_numpy(out), rtol=1e-12, atol=1e-14)
    for g, jg in zip(grads, jgrads, strict=True):
        np.testing.assert_allclose(jg, _compat.to_numpy(g), rtol=1e-12, atol=1e-14)
