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


# -- host transfer through the standard ----------------------------------------------------


def test_to_numpy_reads_arrays_that_refuse_dlpack() -> None:
    """No DLPack, no numeric ``__array__`` (NumPy would make a 0-d object array): the
    entries come out by float(), never as an object array."""
    import opaque_arrays

    host = np.arange(6.0).reshape(2, 3) - 2.5
    for ns in (opaque_arrays.eager, opaque_arrays.lazy):
        a = ns.asarray(host)
        assert np.asarray(a).dtype == object  # what the old fallback returned
        got = _compat.to_numpy(a)
        assert type(got) is np.ndarray and got.dtype == np.float64
        np.testing.assert_array_equal(got, host)
        labels = _compat.to_numpy(ns.asarray(np.array([2, 0, 1])))
        assert labels.dtype == np.int64 and labels.tolist() == [2, 0, 1]
        assert _compat.to_float(ns.sum(a)) == float(host.sum())
    scalar = _compat.to_numpy(opaque_arrays.eager.asarray(1.5))
    assert scalar.shape == () and scalar == 1.5


def test_to_numpy_names_the_library_and_what_it_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    import opaque_arrays

    from portable_layers._compat import host

    monkeypatch.setattr(host, "ELEMENT_LIMIT", 4)
    with pytest.raises(TypeError) as info:
        _compat.to_numpy(opaque_arrays.eager.asarray(np.ones((2, 3))))
    text = str(info.value)
    assert text.startswith("to_numpy: cannot bring a opaque_arrays.eager array"), text
    assert "DLPack export (BufferError" in text and "no numeric __array__" in text, text
    assert "6 entries are more than the 4" in text, text


def test_to_numpy_uses_dlpack_for_a_library_it_does_not_know() -> None:
    marray = pytest.importorskip("marray")  # in the test extra; masked arrays over NumPy
    a = marray.numpy.asarray(np.arange(4.0))
    got = _compat.to_numpy(a)
    assert got.dtype == np.float64 and got.tolist() == [0.0, 1.0, 2.0, 3.0]


# -- open names and the minimum revision ---------------------------------------------------


def test_a_dotted_path_names_a_namespace() -> None:
    marray = pytest.importorskip("marray")
    ns = _compat.get_namespace("marray.numpy")  # made by marray's module __getattr__
    assert ns.__name__ == "marray.numpy" and ns is _compat.get_namespace("marray.numpy")
    assert _compat.backend_name(marray.numpy) == "marray.numpy"
    assert _compat.backend_name(ns) == "marray.numpy"
    assert _compat.get_namespace(_compat.backend_name(ns)) is ns
    model = pl.TwoLayerPerceptron(4, 3, 2, xp="marray.numpy", seed=0)
    assert model.xp is ns and _compat.library_name(model.params["W1"]) == "marray.numpy"
    assert model.signature() == pl.TwoLayerPerceptron(4, 3, 2, xp=ns, seed=1).signature()


@pytest.mark.parametrize("name,error,fragment", [
    ("numpy.linalg", TypeError, "'numpy.linalg' resolves to 'numpy.linalg', which is not an "
                                "array namespace"),
    ("no_such_library.numpy", ValueError, "unknown backend 'no_such_library.numpy'"),
    ("numpy.no_such_thing", ValueError, "'numpy' has no attribute 'no_such_thing'"),
    ("numpy_readonly", ValueError, "names a test backend of the pytest plugin"),
    ("not a name", ValueError, "unknown backend 'not a name'"),
])
def test_a_name_that_is_no_namespace_is_named(name: str, error: type, fragment: str) -> None:
    with pytest.raises(error) as info:
        _compat.get_namespace(name)
    assert str(info.value).startswith("get_namespace: ") and fragment in str(info.value)


def test_a_non_namespace_object_is_refused() -> None:
    with pytest.raises(TypeError, match="get_namespace: a int is not an array namespace"):
        _compat.get_namespace(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="backend_name: a dict is not an array namespace"):
        _compat.backend_name({})


def test_an_older_revision_is_refused_at_the_boundary() -> None:
    """ReLU and the losses need ``maximum`` (2023.12): an older namespace gets a clear
    error naming the function, not a failure deep inside."""
    strict = pytest.importorskip("array_api_strict")
    with strict.ArrayAPIStrictFlags(api_version="2022.12"):
        _compat.forget_namespaces()
        try:
            with pytest.raises(TypeError) as info:
                pl.relu_forward(strict.asarray([1.0, -1.0]))
            assert str(info.value) == (
                "relu_forward: array_api_strict implements revision 2022.12 of the Array "
                "API standard; portable_layers needs 2023.12 or later")
            with pytest.raises(TypeError, match=r"get_namespace: array_api_strict implements "
                                                r"revision 2022\.12"):
                pl.TwoLayerPerceptron(4, 3, 2, xp="array_api_strict")
        finally:
            _compat.forget_namespaces()
    out, _ = pl.relu_forward(strict.asarray([1.0, -1.0]))  # 2023.12 and later: fine
    assert _compat.to_numpy(out).tolist() == [1.0, 0.0]


# -- one registry, one place that imports particular libraries -----------------------------


def test_one_registry_of_backend_names() -> None:
    from portable_layers import cli, pytest_plugin
    from portable_layers.cli import check

    assert "CHECK_BACKENDS" not in vars(check)  # no tuple of its own: check's default is
    args, _ = cli.build_parser("check").parse_known_args(["check"])  # the registry's
    installed = _compat.installed_backends()
    want = [b for b in _compat.CHECK_BACKENDS if b in installed]
    assert check._plan(args)["backends"] == want
    assert pytest_plugin.ALL_BACKENDS is _compat.TEST_BACKENDS
    assert set(_compat.BACKENDS) <= set(_compat.REGISTRY)
    assert _compat.BACKENDS == ("numpy", "jax", "array_api_strict", "torch", "dask")


def test_jax_torch_and_dask_are_imported_only_in_compat_and_the_oracles() -> None:
    import ast
    from pathlib import Path

    root = Path(pl.__file__).parent
    allowed = {root / "gradient_check" / "oracles.py"}
    found = []
    for path in sorted(root.rglob("*.py")):
        if root / "_compat" in path.parents or path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.relative_to(root)}:{node.lineno} {n}" for n in names
                      if n.split(".")[0] in ("jax", "torch", "dask")]
    assert not found, found
