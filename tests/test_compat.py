"""Which library an array belongs to is decided by array-api-compat's predicates.

A NumPy subclass that JAX hands to a ``custom_vjp`` rule (JAX's ``TypedNdArray``, whose
class lives in a ``jax`` module) is NumPy, as ``array_namespace`` says; a library-mixing
error names the libraries the predicates see.  Also: ``affine_backward`` with a
malformed cache names the function and the cache.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers import base_namespace, randn

import portable_layers as pl
from portable_layers import _compat


def _typed_ndarrays() -> list[Any]:
    """The residuals a ``custom_vjp`` backward rule receives for NumPy constants."""
    jax = pytest.importorskip("jax", reason="custom_vjp is JAX's")
    jnp = jax.numpy
    seen: list[Any] = []

    @jax.custom_vjp
    def scale(x: Any, c: Any) -> Any:
        return x * c

    def fwd(x: Any, c: Any) -> Any:
        return x * c, (c,)

    def bwd(res: Any, g: Any) -> Any:
        seen.append(res[0])
        return g * res[0], None

    scale.defvjp(fwd, bwd)
    with jax.enable_x64(True):
        jax.grad(lambda x: scale(x, np.arange(3.0) + 1.0).sum())(jnp.ones(3))
    return seen


def test_a_numpy_subclass_from_jax_is_numpy() -> None:
    (c,) = _typed_ndarrays()
    assert isinstance(c, np.ndarray) and type(c) is not np.ndarray
    assert type(c).__module__.startswith("jax")  # what the old string test got wrong
    assert _compat.library_name(c) == "numpy"
    assert _compat.is_concrete(c) and not _compat.is_traced(c)
    host = _compat.to_numpy(c)
    assert type(host) is np.ndarray and host.tolist() == [1.0, 2.0, 3.0]
    out, _ = pl.relu_forward(c)
    assert _compat.backend_name(_compat.array_namespace("t", out=out)) == "numpy"
    # as a dropout seed it is a NumPy integer: the host generator, not jax.random
    seed = np.asarray(np.array(3)).view(type(c))
    a = _compat.bernoulli(_compat.get_namespace("numpy"), (50,), 0.5, seed)
    b = _compat.bernoulli(_compat.get_namespace("numpy"), (50,), 0.5, 3)
    np.testing.assert_array_equal(a, b)


def test_mixing_error_names_the_real_libraries() -> None:
    """A JAX array with the NumPy subclass: "x is jax, w is numpy", never "jax, jax"."""
    jax = pytest.importorskip("jax")
    (c,) = _typed_ndarrays()
    with jax.enable_x64(True):
        x = jax.numpy.ones((2, 3))
        w = np.ones((3, 2)).view(type(c))
        with pytest.raises(TypeError) as info:
            pl.affine_forward(x, w, jax.numpy.zeros(2))
    assert "x is jax, w is numpy, b is jax" in str(info.value), str(info.value)


def test_library_name_on_every_backend(xp: Any) -> None:
    a = xp.asarray(np.ones(2))
    assert _compat.library_name(a) == _compat.backend_name(base_namespace(xp))


@pytest.mark.parametrize("cache,fragment", [
    (None, "got NoneType"),
    ((1, 2), "got a tuple of 2 items"),
    ((np.ones((2, 3)), "w", np.zeros(4)), "its w is str"),
    ((np.ones((2, 3)), np.ones((5, 4)), np.zeros(4)), "x of shape (2, 3) and w of shape (5, 4)"),
])
def test_affine_backward_names_a_malformed_cache(xp: Any, cache: Any, fragment: str) -> None:
    if isinstance(cache, tuple):
        cache = tuple(xp.asarray(c) if isinstance(c, np.ndarray) else c for c in cache)
    with pytest.raises((TypeError, ValueError)) as info:
        pl.affine_backward(randn(xp, 2, 4), cache)
    text = str(info.value)
    assert text.startswith("affine_backward: cache must"), text
    assert fragment in text, text
