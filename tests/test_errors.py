"""Bad input gets a ValueError or TypeError naming the function, the argument and the values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from helpers import asxp, randn

import portable_layers as pl
from portable_layers import _compat


def _x(xp: Any) -> Any:
    return randn(xp, 4, 2, 3, seed=1)


# (id, call(xp), exception, message fragments)
CASES: list[tuple[str, Callable[[Any], Any], type[Exception], tuple[str, ...]]] = [
    ("affine w rows", lambda xp: pl.affine_forward(_x(xp), randn(xp, 5, 3), randn(xp, 3)),
     ValueError, ("affine_forward", "w", "(D, M) with D = 6", "(5, 3)")),
    ("affine w 1-d", lambda xp: pl.affine_forward(_x(xp), randn(xp, 6), randn(xp, 3)),
     ValueError, ("affine_forward", "w", "2 dimensions")),
    ("affine b shape", lambda xp: pl.affine_forward(_x(xp), randn(xp, 6, 3), randn(xp, 4)),
     ValueError, ("affine_forward", "b", "(M,) = (3,)", "(4,)")),
    ("affine int x", lambda xp: pl.affine_forward(asxp(xp, np.ones((4, 6), dtype=np.int64)),
                                                  randn(xp, 6, 3), randn(xp, 3)),
     TypeError, ("affine_forward", "x", "floating")),
    ("affine list x", lambda xp: pl.affine_forward([[1.0] * 6], randn(xp, 6, 3), randn(xp, 3)),
     TypeError, ("affine_forward", "x must be an array", "list")),
    ("affine dout shape", lambda xp: pl.affine_backward(
        randn(xp, 4, 2), pl.affine_forward(_x(xp), randn(xp, 6, 3), randn(xp, 3))[1]),
     ValueError, ("affine_backward", "dout", "(4, 3)", "(4, 2)")),
    ("relu int", lambda xp: pl.relu_forward(asxp(xp, np.array([1, 2]))),
     TypeError, ("relu_forward", "x", "floating")),
    ("relu dout shape", lambda xp: pl.relu_backward(randn(xp, 3), randn(xp, 4)),
     ValueError, ("relu_backward", "dout", "(4,)", "(3,)")),
    ("leaky alpha", lambda xp: pl.leaky_relu_forward(randn(xp, 3), alpha="0.1"),
     TypeError, ("leaky_relu_forward", "alpha")),
    ("sigmoid dout", lambda xp: pl.sigmoid_backward(randn(xp, 2, 2), randn(xp, 2, 3)),
     ValueError, ("sigmoid_backward", "dout", "(2, 3)")),
    ("tanh bool", lambda xp: pl.tanh_forward(asxp(xp, np.array([True]))),
     TypeError, ("tanh_forward", "x")),
    ("svm label high", lambda xp: pl.svm_loss(randn(xp, 3, 4), asxp(xp, np.array([0, 4, 1]))),
     ValueError, ("svm_loss", "y", "[0, 4)", "from 0 to 4")),
    ("softmax label negative", lambda xp: pl.softmax_loss(randn(xp, 3, 4),
                                                          asxp(xp, np.array([0, -1, 1]))),
     ValueError, ("softmax_loss", "y", "from -1 to 1")),
    ("softmax float labels", lambda xp: pl.softmax_loss(randn(xp, 3, 4), randn(xp, 3)),
     TypeError, ("softmax_loss", "y", "integer")),
    ("svm y shape", lambda xp: pl.svm_loss(randn(xp, 3, 4), asxp(xp, np.array([0, 1]))),
     ValueError, ("svm_loss", "y", "(N,) = (3,)", "(2,)")),
    ("softmax x 1-d", lambda xp: pl.softmax_loss(randn(xp, 4), asxp(xp, np.array([0]))),
     ValueError, ("softmax_loss", "x", "2 dimensions")),
    ("softmax empty", lambda xp: pl.softmax_loss(randn(xp, 0, 4), asxp(xp, np.zeros(0, int))),
     ValueError, ("softmax_loss", "x", "at least one sample")),
]


@pytest.mark.parametrize("call,exc,fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_named(xp: Any, call: Callable[[Any], Any], exc: type[Exception],
                            fragments: tuple[str, ...]) -> None:
    with pytest.raises(exc) as info:
        call(xp)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_mixing_two_libraries_is_a_type_error(xp: Any) -> None:
    x = randn(xp, 4, 6)
    w = np.ones((6, 3)) if not _compat.is_numpy_array(x) else None
    if w is None:  # x is NumPy: mix with array_api_strict, always installed with the tests
        import array_api_strict as strict

        w = strict.ones((6, 3), dtype=strict.float64)
    with pytest.raises(TypeError, match=r"affine_forward: all arrays must come from one array "
                                        r"library, but x is \w+, w is \w+, b is \w+"):
        pl.affine_forward(x, w, randn(xp, 3))


# -- Issue 21: labels of any integer dtype, arrays on two devices, sizes that cannot fit --

INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


@pytest.mark.parametrize("num_classes", [4, 300, 70_000])
def test_labels_of_every_integer_dtype_give_the_right_loss(xp: Any, num_classes: int) -> None:
    """uint8 labels with 300 classes used to wrap (``arange(300, dtype=uint8)``) and give
    12.03 instead of 5.81; the reference is the log-sum-exp and hinge sums in NumPy."""
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((4, num_classes))
    labels = np.array([0, 1, 2, 3]) if num_classes == 4 else np.array([5, 6, 7, 120])
    shifted = scores - scores.max(axis=1, keepdims=True)
    rows = np.arange(4)
    softmax_ref = np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[rows, labels])
    margins = np.maximum(scores - scores[rows, labels][:, None] + 1, 0)
    margins[rows, labels] = 0
    svm_ref = margins.sum() / 4
    tried = 0
    for name in INT_DTYPES:
        dtype = getattr(xp, name, None)
        if dtype is None:
            continue
        try:
            y = xp.asarray(asxp(xp, labels), dtype=dtype)
        except (TypeError, RuntimeError):  # the library has no such array (PyTorch uint64)
            continue
        for loss_fn, ref in ((pl.softmax_loss, softmax_ref), (pl.svm_loss, svm_ref)):
            try:
                loss, _ = loss_fn(asxp(xp, scores), y)
            except TypeError as err:  # a dtype the library cannot reduce: named, with y
                assert str(err).startswith(f"{loss_fn.__name__}: y has dtype "), str(err)
                assert _compat.library_name(y) == "torch" and name in ("uint16", "uint32",
                                                                        "uint64"), name
                continue
            tried += 1
            np.testing.assert_allclose(float(loss), ref, rtol=1e-12, err_msg=name)
    assert tried >= 8, tried  # both losses, four dtypes at least


def _two_devices(backend: str) -> tuple[Any, Any, Any]:
    """The namespace and two of its devices (CPU-only machines: array_api_strict's named
    devices, PyTorch's cpu and meta)."""
    if backend == "torch":
        torch = pytest.importorskip("torch")
        return _compat.get_namespace("torch"), torch.device("cpu"), torch.device("meta")
    import array_api_strict as strict

    return strict, strict.Device("CPU_DEVICE"), strict.Device("device1")


def _on(ns: Any, dev: Any, a: np.ndarray) -> Any:
    return ns.asarray(a, device=dev)


@pytest.mark.parametrize("backend", ["array_api_strict", "torch"])
def test_arrays_on_two_devices_are_named(backend: str) -> None:
    ns, here, there = _two_devices(backend)
    rng = np.random.default_rng(0)
    x, img = rng.standard_normal((3, 4)), rng.standard_normal((1, 2, 4, 4))
    w = np.ones((3, 2, 3, 3))
    y = np.array([0, 1, 2])
    conv = {"stride": 1, "pad": 1}
    pool = {"pool_height": 2, "pool_width": 2, "stride": 2}
    calls = [
        ("softmax_loss", "x", "y", lambda: pl.softmax_loss(_on(ns, here, x), _on(ns, there, y))),
        ("svm_loss", "x", "y", lambda: pl.svm_loss(_on(ns, here, x), _on(ns, there, y))),
        ("conv_forward", "x", "w", lambda: pl.conv_forward(
            _on(ns, here, img), _on(ns, there, w), _on(ns, here, np.zeros(3)), conv)),
        ("conv_forward", "x", "b", lambda: pl.conv_forward(
            _on(ns, here, img), _on(ns, here, w), _on(ns, there, np.zeros(3)), conv)),
        ("conv_backward", "dout", "x", lambda: pl.conv_backward(
            _on(ns, there, np.ones((1, 3, 4, 4))),
            pl.conv_forward(_on(ns, here, img), _on(ns, here, w), _on(ns, here, np.zeros(3)),
                            conv)[1])),
        ("max_pool_backward", "dout", "x", lambda: pl.max_pool_backward(
            _on(ns, there, np.ones((1, 2, 2, 2))),
            pl.max_pool_forward(_on(ns, here, img), pool)[1])),
        # every layer: the one namespace lookup compares the devices
        ("affine_forward", "x", "w", lambda: pl.affine_forward(
            _on(ns, here, x), _on(ns, there, np.ones((4, 2))), _on(ns, here, np.zeros(2)))),
        ("affine_backward", "dout", "x", lambda: pl.affine_backward(
            _on(ns, there, np.ones((3, 2))), (_on(ns, here, x), _on(ns, here, np.ones((4, 2))),
                                              _on(ns, here, np.zeros(2))))),
        ("batchnorm_forward", "x", "gamma", lambda: pl.batchnorm_forward(
            _on(ns, here, x), _on(ns, there, np.ones(4)), _on(ns, here, np.zeros(4)),
            {"mode": "train"})),
        ("relu_backward", "dout", "cache", lambda: pl.relu_backward(
            _on(ns, there, x), _on(ns, here, x))),
    ]
    for func, first, second, call in calls:
        with pytest.raises(ValueError) as info:
            call()
        msg = str(info.value)
        assert msg.startswith(f"{func}: all arrays must be on one device, but {first} is on")
        assert f"and {second} is on" in msg and repr(there) in msg and repr(here) in msg, msg


@pytest.mark.parametrize("backend", ["array_api_strict", "torch"])
def test_arrays_made_on_a_device_the_backend_lacks_name_both(backend: str) -> None:
    """_compat.from_numpy (every model's parameters, every Solver batch) says which device
    the library lacks instead of the library's own error."""
    ns, _, _ = _two_devices(backend)
    with pytest.raises(ValueError, match=r"from_numpy: the backend .* has no device 'no-such'"):
        _compat.from_numpy(np.ones(2), ns, device="no-such")
    with pytest.raises(ValueError, match=r"TwoLayerPerceptron: the backend .* has no device"):
        pl.TwoLayerPerceptron(4, 3, 2, xp=ns, device="no-such")


def test_an_unknown_device_names_the_backend_and_the_device(xp: Any) -> None:
    from portable_layers import _validate

    ns = _compat.array_namespace("t", a=asxp(xp, np.zeros(1)))
    with pytest.raises(ValueError, match=r"f: the backend .* has no device 'no-such-device'"):
        _validate.known_device("f", ns, "no-such-device")
    here = _compat.device(asxp(xp, np.zeros(1)))
    assert _validate.known_device("f", ns, here) is here
    assert _validate.known_device("f", ns, None) is None


def _huge(shape: tuple[int, ...]) -> np.ndarray:
    """A float64 array of ``shape`` that takes 8 bytes (a zero-stride view)."""
    return np.broadcast_to(np.zeros(1), shape)


@pytest.mark.parametrize(("func", "call", "what"), [
    ("conv_forward", lambda: pl.conv_forward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)),
                                             np.zeros(1), {"stride": 1, "pad": 10**9}),
     "pad=1000000000"),
    ("conv_forward", lambda: pl.conv_forward(_huge((10**4, 10**4, 8, 8)), _huge((1, 10**4, 3, 3)),
                                             np.zeros(1), {"stride": 1, "pad": 0}),
     "3x3 kernel"),
    ("max_pool_forward", lambda: pl.max_pool_forward(
        _huge((10**4, 10**4, 30, 30)), {"pool_height": 3, "pool_width": 3, "stride": 1}),
     "3x3 windows"),
])
def test_sizes_that_cannot_fit_are_refused_before_allocation(func: str, call: Any,
                                                             what: str) -> None:
    """pad=10**9 used to end in NumPy's MemoryError (or the machine's swap)."""
    with pytest.raises(MemoryError, match=rf"{func}: .*{what}.* would need [\d.e+]+ GiB, "
                       r"more than the .* of memory available"):
        call()


def test_allocation_check_uses_the_memory_available(monkeypatch: Any) -> None:
    from portable_layers import _validate

    _validate.allocation("f", _validate.SMALL_ALLOCATION - 1, "small")  # no lookup at all
    available = _validate.available_memory()
    assert available is None or available > 2**20
    monkeypatch.setattr(_validate, "available_memory", lambda: 2**30)
    _validate.allocation("f", 2**30, "exactly what is left")
    with pytest.raises(MemoryError, match=r"f: a layer would need 1 GiB, more than the "
                       r"1 GiB"):
        _validate.allocation("f", 2**30 + 1, "a layer")
