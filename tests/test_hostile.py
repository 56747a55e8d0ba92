"""Hostile inputs for every public function: one table, function x hostile input x backend.

Each row gives either an exception (ValueError or TypeError, whose message must name
the function and the argument) or a documented result.  Every row also checks that no
input array was mutated, and the ``numpy_readonly`` backend of the ``xp`` fixture runs
every row with read-only input arrays.

Documented results (decided per function):

* NaN in a floating input: no exception (layers do no value checks, so they stay
  ``jax.jit``-friendly); the NaN propagates: some output is NaN.
* +-inf: element-wise activations give the IEEE limit (relu(inf) = inf,
  sigmoid(-inf) = 0, tanh(inf) = 1, ...), compared with NumPy ufuncs; every other
  layer, loss and update rule gives a non-finite output.  NumPy-backed backends may
  report ``RuntimeWarning: invalid value`` for inf - inf; that is NumPy's errstate
  policy, so these rows run under ``np.errstate(all="ignore")``.
* Empty batch (N = 0): affine, activations, conv, pooling and dropout return empty
  results of the right shape; losses and normalizations raise ValueError
  ("at least one sample").
* float32 mixed with float64 in one call: TypeError naming the function and both dtypes
  (tests/test_dtype_policy.py walks every layer case).

Coverage is computed: ``test_every_public_function_has_hostile_rows`` walks
``portable_layers.__all__``, the public functions of ``gradient_check``, ``optim``,
``data``, ``checkpoint`` and ``distributed``, and the public functions and classes of
``plotting``, every ``cs231n.*`` module, ``cases``, ``pytest_plugin`` and the
``gradient_check`` submodules (:data:`WIDER`), and fails for a function without a row;
``test_every_public_function_has_three_rows`` asks for three (a wrong type, a wrong
shape or value, a boundary value).
``python tests/test_hostile.py`` prints the rows per function.

Hostile kinds for a floating array argument: ``int``, ``bool``, ``complex``
(TypeError), ``list`` and ``scalar`` (Python objects, TypeError), ``mixed`` (an array
of another library, TypeError), ``ndim`` and ``shape`` (ValueError, unless the
function accepts any shape), ``nan``, ``inf``, ``empty``.  For labels: ``negative``,
``large`` (ValueError), ``float``, ``bool``, ``list`` (TypeError), ``shape``
(ValueError).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import importlib.util
import inspect
import math
import os
import re
import sys
from collections.abc import Callable
from typing import Any
from unittest import mock

import numpy as np
import pytest
from helpers import base_namespace

import portable_layers as pl
from portable_layers import _compat, checkpoint, distributed, optim
from portable_layers import data as pdata
from portable_layers import gradient_check as gc

HAVE = {m: importlib.util.find_spec(m) is not None for m in ("jax", "torch")}

# ---------------------------------------------------------------------------
# Expectations
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Raises:
    exc: type[Exception]
    fragments: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.exc.__name__}{self.fragments}"


@dataclasses.dataclass(frozen=True)
class Result:
    """A documented result: ``check(result, xp)`` asserts it."""

    what: str
    check: Callable[[Any, Any], None]

    def __str__(self) -> str:
        return self.what


def _arrays_in(result: Any) -> list[np.ndarray]:
    items = result if isinstance(result, tuple) else (result,)
    return [np.asarray(_compat.to_numpy(r), dtype=np.float64) for r in items
            if _compat.is_array_api_obj(r)]


def _has_nan(result: Any, xp: Any) -> None:
    assert any(np.isnan(a).any() for a in _arrays_in(result)), "NaN did not propagate"


def _non_finite(result: Any, xp: Any) -> None:
    assert any((~np.isfinite(a)).any() for a in _arrays_in(result)), "inf vanished"


def _empty(result: Any, xp: Any) -> None:
    arrays = _arrays_in(result)
    assert arrays and arrays[0].shape[0] == 0, [a.shape for a in arrays]


def _like(reference: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> Result:
    def check(result: Any, xp: Any) -> None:
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(_arrays_in(result)[0], reference(x), rtol=1e-13)

    return Result("IEEE limit", check)


def _deep_arrays(result: Any) -> list[np.ndarray]:
    if isinstance(result, (tuple, list)):
        return [a for r in result for a in _deep_arrays(r)]
    if isinstance(result, dict):
        return [a for r in result.values() for a in _deep_arrays(r)]
    if _compat.is_array_api_obj(result):
        return [np.asarray(_compat.to_numpy(result), dtype=np.float64)]
    return []


def _relu_cut(result: Any, xp: Any) -> None:
    """A sandwich ending in ReLU (and maybe a pool): the non-finite value is in the output,
    or in the pre-activation the cache keeps, where ReLU mapped -inf (or NaN) to 0."""
    out = _arrays_in(result)[0]
    if (~np.isfinite(out)).any():
        return
    assert any((~np.isfinite(a)).any() for a in _deep_arrays(result[1])), "inf/NaN vanished"


NAN = Result("NaN propagates", _has_nan)
RELU_CUT = Result("non-finite, or cut to 0 by ReLU", _relu_cut)
NONFINITE = Result("non-finite out", _non_finite)
EMPTY = Result("empty result", _empty)


# ---------------------------------------------------------------------------
# Hostile versions of one argument
# ---------------------------------------------------------------------------


def _other_library(xp: Any, a: np.ndarray) -> Any:
    """``a`` in a library other than xp's (array_api_strict for NumPy, NumPy otherwise)."""
    if base_namespace(xp) is _compat.get_namespace("numpy"):
        import array_api_strict

        return array_api_strict.asarray(a)
    return a


def _with(a: np.ndarray, value: float) -> np.ndarray:
    b = np.array(a, dtype=np.float64, copy=True)
    b.flat[0] = value
    return b


FLOAT_KINDS = ("int", "bool", "complex", "list", "scalar", "mixed", "ndim", "shape", "nan",
               "inf", "empty")
LABEL_KINDS = ("negative", "large", "float", "bool", "list", "shape")


def hostile(kind: str, a: np.ndarray, xp: Any) -> Any:
    """The hostile version ``kind`` of host array ``a``, as an argument for backend xp."""
    if kind == "list":
        return a.tolist()
    if kind == "scalar":
        return 1.0
    if kind == "mixed":
        return _other_library(xp, a)
    host = {
        "int": lambda: np.ones(a.shape, dtype=np.int64),
        "bool": lambda: np.ones(a.shape, dtype=bool),
        "complex": lambda: a.astype(np.complex128),
        "ndim": lambda: a[..., None],
        "shape": lambda: np.ones((*a.shape[:-1], a.shape[-1] + 1), dtype=a.dtype),
        "nan": lambda: _with(a, np.nan),
        "inf": lambda: _with(a, np.inf),
        "empty": lambda: np.ones((0, *a.shape[1:])),
        "negative": lambda: _with(a, -1).astype(np.int64),
        "large": lambda: _with(a, 99).astype(np.int64),
        "float": lambda: a.astype(np.float64),
        "bool_labels": lambda: a.astype(bool),
    }[kind]()
    return xp.asarray(host)


# ---------------------------------------------------------------------------
# Function specs: good arguments and per-argument kinds with their expectation
# ---------------------------------------------------------------------------

rng = np.random.default_rng(20240601)  # fixed: the table is the same on every run
X4 = np.abs(rng.standard_normal((4, 3))) + 0.1  # positive, so NaN/inf pass ReLU
IMG = rng.standard_normal((2, 2, 4, 4))
CONV_W, CONV_B = rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(3)
CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
Y4 = np.array([1, 2, 0, 1])  # y[0] != 0, so inf at x[0, 0] is a wrong class's score


@dataclasses.dataclass(frozen=True)
class Spec:
    """``call(**args)`` with host ``args``; ``kinds[arg]`` maps kind -> expectation."""

    name: str
    call: Callable[..., Any]
    args: dict[str, Any]
    kinds: dict[str, dict[str, Raises | Result]]


def _type_error(func: str, arg: str) -> dict[str, Raises]:
    te = Raises(TypeError, (func, arg))
    return {"int": te, "bool": te, "complex": te,
            "list": Raises(TypeError, (func, arg, "must be an array")),
            "scalar": Raises(TypeError, (func, arg, "must be an array")),
            "mixed": Raises(TypeError, (func, "one array library"))}


def _float_arg(func: str, arg: str, *, ndim: Any, shape: Any, inf: Any = NONFINITE,
               empty: Any = None, nan: Any = NAN) -> dict[str, Raises | Result]:
    kinds: dict[str, Raises | Result] = {**_type_error(func, arg), "nan": nan, "inf": inf}
    for kind, value in (("ndim", ndim), ("shape", shape), ("empty", empty)):
        if value is not None:
            kinds[kind] = value
    return kinds


def _labels(func: str) -> dict[str, Raises]:
    return {"negative": Raises(ValueError, (func, "y", "from -1")),
            "large": Raises(ValueError, (func, "y", "to 99")),
            "float": Raises(TypeError, (func, "y", "integer")),
            "bool_labels": Raises(TypeError, (func, "y", "integer")),
            "list": Raises(TypeError, (func, "y", "must be an array")),
            "shape": Raises(ValueError, (func, "y", "(N,)"))}


def _ve(func: str, *frags: str) -> Raises:
    return Raises(ValueError, (func, *frags))


def _elementwise(name: str, forward: Callable[..., Any],
                 reference: Callable[[np.ndarray], np.ndarray]) -> Spec:
    func = f"{name}_forward"
    return Spec(func, forward, {"x": X4}, {"x": _float_arg(
        func, "x", ndim=_like(reference, X4[..., None]), shape=None, empty=EMPTY,
        inf=_like(reference, _with(X4, np.inf)))})


def _backward(name: str, forward: Callable[..., Any], backward: Callable[..., Any],
              args: dict[str, Any]) -> Spec:
    """A backward with a cache from a good forward; hostile versions of dout."""
    func = f"{name}_backward"
    out = forward(**args)[0]

    def call(dout: Any, **fwd_args: Any) -> Any:
        xp = _compat.array_namespace("test", x=next(iter(fwd_args.values())))
        cache = forward(**{k: xp.asarray(v) for k, v in args.items()})[1]
        return backward(dout, cache)

    dout = np.ones(out.shape)
    kinds = _float_arg(func, "dout", ndim=_ve(func, "dout"), shape=_ve(func, "dout"))
    kinds["mixed"] = Raises(TypeError, (func, "one array library"))
    return Spec(func, lambda dout, x: call(dout, x=x), {"dout": dout, "x": args["x"]},
                {"dout": kinds})


def _sigmoid_ref(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _opt(rule: Callable[..., Any]) -> Spec:
    func = rule.__name__
    w, dw = rng.standard_normal(5), rng.standard_normal(5)
    shape = _ve(func, "dw", "shape")
    arg_kinds = {}
    for arg in ("w", "dw"):
        kinds = _float_arg(func, arg, ndim=shape, shape=shape, empty=shape)
        kinds["mixed"] = Raises(TypeError, (func, "one array library"))
        arg_kinds[arg] = kinds
    return Spec(func, lambda w, dw: rule(w, dw, None), {"w": w, "dw": dw}, arg_kinds)


SPECS: list[Spec] = [
    Spec("affine_forward", pl.affine_forward,
         {"x": X4, "w": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)},
         {"x": _float_arg("affine_forward", "x", ndim=_ve("affine_forward", "w", "(D, M)"),
                          shape=_ve("affine_forward", "w", "(D, M)"), empty=EMPTY),
          "w": _float_arg("affine_forward", "w", ndim=_ve("affine_forward", "w", "2 dim"),
                          shape=_ve("affine_forward", "b", "(M,)"),
                          empty=_ve("affine_forward", "w", "(D, M)")),
          "b": _float_arg("affine_forward", "b", ndim=_ve("affine_forward", "b"),
                          shape=_ve("affine_forward", "b"), empty=_ve("affine_forward", "b"))}),
    _elementwise("relu", pl.relu_forward, lambda x: np.maximum(x, 0)),
    _elementwise("leaky_relu", pl.leaky_relu_forward, lambda x: np.where(x > 0, x, 0.01 * x)),
    _elementwise("sigmoid", pl.sigmoid_forward, _sigmoid_ref),
    _elementwise("tanh", pl.tanh_forward, np.tanh),
    Spec("svm_loss", pl.svm_loss, {"x": X4, "y": Y4},
         {"x": _float_arg("svm_loss", "x", ndim=_ve("svm_loss", "x", "2 dim"),
                          shape=_ve("svm_loss", "y", "[0, 4)") , empty=_ve("svm_loss", "x",
                                                                              "at least one")),
          "y": _labels("svm_loss")}),
    Spec("softmax_loss", pl.softmax_loss, {"x": X4, "y": Y4},
         {"x": _float_arg("softmax_loss", "x", ndim=_ve("softmax_loss", "x", "2 dim"),
                          shape=None, empty=_ve("softmax_loss", "x", "at least one")),
          "y": _labels("softmax_loss")}),
    Spec("conv_forward", lambda x, w, b: pl.conv_forward(x, w, b, CONV),
         {"x": IMG, "w": CONV_W, "b": CONV_B},
         {"x": _float_arg("conv_forward", "x", ndim=_ve("conv_forward", "x", "4 dim"),
                          shape=_ve("conv_forward", "w"), empty=EMPTY),
          "w": _float_arg("conv_forward", "w", ndim=_ve("conv_forward", "w", "4 dim"),
                          shape=_ve("conv_forward", "w"), empty=_ve("conv_forward", "b")),
          "b": _float_arg("conv_forward", "b", ndim=_ve("conv_forward", "b"),
                          shape=_ve("conv_forward", "b"), empty=_ve("conv_forward", "b"))}),
    Spec("max_pool_forward", lambda x: pl.max_pool_forward(x, POOL), {"x": IMG},
         {"x": _float_arg("max_pool_forward", "x", ndim=_ve("max_pool_forward", "x", "4 dim"),
                          shape=None, empty=EMPTY)}),
    Spec("batchnorm_forward",
         lambda x, gamma, beta: pl.batchnorm_forward(x, gamma, beta, {"mode": "train"}),
         {"x": X4, "gamma": np.ones(3), "beta": np.zeros(3)},
         {"x": _float_arg("batchnorm_forward", "x", ndim=_ve("batchnorm_forward", "x", "2 dim"),
                          shape=_ve("batchnorm_forward", "gamma"),
                          empty=_ve("batchnorm_forward", "x", "at least one")),
          "gamma": _float_arg("batchnorm_forward", "gamma", ndim=_ve("batchnorm_forward", "gamma"),
                              shape=_ve("batchnorm_forward", "gamma"),
                              empty=_ve("batchnorm_forward", "gamma"))}),
    Spec("layernorm_forward",
         lambda x, gamma, beta: pl.layernorm_forward(x, gamma, beta, {}),
         {"x": X4, "gamma": np.ones(3), "beta": np.zeros(3)},
         {"x": _float_arg("layernorm_forward", "x", ndim=_ve("layernorm_forward", "x", "2 dim"),
                          shape=_ve("layernorm_forward", "gamma"),
                          empty=_ve("layernorm_forward", "x", "at least one")),
          "beta": _float_arg("layernorm_forward", "beta", ndim=_ve("layernorm_forward", "beta"),
                             shape=_ve("layernorm_forward", "beta"),
                             empty=_ve("layernorm_forward", "beta"))}),
    Spec("spatial_batchnorm_forward",
         lambda x: pl.spatial_batchnorm_forward(x, _g(x, (2,)), _g(x, (2,), 0.0),
                                                {"mode": "train"}),
         {"x": IMG},
         {"x": {"nan": NAN, "inf": NONFINITE,
                "ndim": _ve("spatial_batchnorm_forward", "x", "4 dim"),
                "empty": _ve("spatial_batchnorm_forward", "x", "at least one"),
                "int": Raises(TypeError, ("spatial_batchnorm_forward", "x")),
                "bool": Raises(TypeError, ("spatial_batchnorm_forward", "x"))}}),
    Spec("spatial_groupnorm_forward",
         lambda x: pl.spatial_groupnorm_forward(x, _g(x, (1, 2, 1, 1)), _g(x, (1, 2, 1, 1), 0.0),
                                                2, {}),
         {"x": IMG},
         {"x": {"nan": NAN, "inf": NONFINITE,
                "ndim": _ve("spatial_groupnorm_forward", "x", "4 dim"),
                "empty": _ve("spatial_groupnorm_forward", "x", "at least one"),
                "complex": Raises(TypeError, ("spatial_groupnorm_forward", "x")),
                "int": Raises(TypeError, ("spatial_groupnorm_forward", "x"))}}),
    Spec("dropout_forward",
         lambda x: pl.dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 0}), {"x": X4},
         {"x": {**_type_error("dropout_forward", "x"), "nan": NAN,
                "inf": NONFINITE,  # inf * 2 = inf, or inf * 0 = NaN where dropped
                "empty": EMPTY}}),
    _opt(optim.sgd), _opt(optim.sgd_momentum), _opt(optim.rmsprop), _opt(optim.adam),
]


def _composite(name: str, call: Callable[..., Any], parts: dict[str, tuple[str, str]],
               **args_: np.ndarray) -> Spec:
    """A sandwich layer: argument ``arg`` is validated by the part ``parts[arg]`` =
    (spec name, its argument), so the part's hostile rows (messages naming the part)
    apply to the sandwich's argument too.  ``args_`` override the part's good values."""
    by_name = {spec.name: spec for spec in SPECS}
    args = {arg: by_name[spec].args[part] for arg, (spec, part) in parts.items()}
    args.update(args_)
    kinds = {arg: dict(by_name[spec].kinds[part]) for arg, (spec, part) in parts.items()}
    for arg_kinds in kinds.values():
        arg_kinds.update({k: RELU_CUT for k in ("nan", "inf") if k in arg_kinds})
    return Spec(name, call, args, kinds)



def _g(x: Any, shape: tuple[int, ...], value: float = 1.0) -> Any:
    """A parameter array filled with ``value`` in x's namespace (host x: NumPy)."""
    xp = _compat.array_namespace("test", x=x)
    return xp.full(shape, value, dtype=x.dtype)


BACKWARDS = [
    ("affine", pl.affine_forward, pl.affine_backward,
     {"x": X4, "w": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}),
    ("relu", pl.relu_forward, pl.relu_backward, {"x": X4}),
    ("leaky_relu", pl.leaky_relu_forward, pl.leaky_relu_backward, {"x": X4}),
    ("sigmoid", pl.sigmoid_forward, pl.sigmoid_backward, {"x": X4}),
    ("tanh", pl.tanh_forward, pl.tanh_backward, {"x": X4}),
    ("affine_relu", pl.affine_relu_forward, pl.affine_relu_backward,
     {"x": X4, "w": np.abs(rng.standard_normal((3, 2))), "b": np.ones(2)}),
    ("conv", lambda x: pl.conv_forward(x, _g(x, (3, 2, 3, 3)), _g(x, (3,)), CONV),
     pl.conv_backward, {"x": IMG}),
    ("max_pool", lambda x: pl.max_pool_forward(x, POOL), pl.max_pool_backward, {"x": IMG}),
    ("batchnorm", lambda x: pl.batchnorm_forward(x, _g(x, (3,)), _g(x, (3,), 0.0),
                                                 {"mode": "train"}),
     pl.batchnorm_backward, {"x": X4}),
    ("layernorm", lambda x: pl.layernorm_forward(x, _g(x, (3,)), _g(x, (3,), 0.0), {}),
     pl.layernorm_backward, {"x": X4}),
    ("spatial_batchnorm", lambda x: pl.spatial_batchnorm_forward(
        x, _g(x, (2,)), _g(x, (2,), 0.0), {"mode": "train"}), pl.spatial_batchnorm_backward,
     {"x": IMG}),
    ("spatial_groupnorm", lambda x: pl.spatial_groupnorm_forward(
        x, _g(x, (1, 2, 1, 1)), _g(x, (1, 2, 1, 1), 0.0), 2, {}), pl.spatial_groupnorm_backward,
     {"x": IMG}),
    ("dropout", lambda x: pl.dropout_forward(x, {"p": 0.5, "mode": "train", "seed": 0}),
     pl.dropout_backward, {"x": X4}),
    ("conv_relu", lambda x: pl.conv_relu_forward(x, _g(x, (3, 2, 3, 3)), _g(x, (3,)), CONV),
     pl.conv_relu_backward, {"x": np.abs(IMG)}),
    ("conv_relu_pool", lambda x: pl.conv_relu_pool_forward(
        x, _g(x, (3, 2, 3, 3)), _g(x, (3,)), CONV, POOL), pl.conv_relu_pool_backward,
     {"x": np.abs(IMG)}),
    ("affine_norm_relu", lambda x: pl.affine_norm_relu_forward(
        x, _g(x, (3, 2)), _g(x, (2,)), _g(x, (2,)), _g(x, (2,), 3.0), {"mode": "train"},
        "batchnorm"), pl.affine_norm_relu_backward, {"x": X4}),  # beta 3: ReLU active
]
for _name, _fwd, _bwd, _args in BACKWARDS:
    _spec = _backward(_name, lambda _f=_fwd, **kw: _f(**kw), _bwd, _args)
    if _name == "spatial_batchnorm":  # its own ndim check names dout's 4 dimensions
        _spec.kinds["dout"]["ndim"] = _ve("spatial_batchnorm_backward", "dout", "4 dim")
    SPECS.append(_spec)



# ---------------------------------------------------------------------------
# Rows: the specs' (argument, kind) pairs plus hand-written rows for the rest
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Row:
    func: str
    kind: str
    make: Callable[[Any], tuple[Callable[[], Any], list[Any]]]  # xp -> (thunk, inputs)
    expect: Raises | Result


def _spec_row(spec: Spec, arg: str, kind: str) -> Row:
    def make(xp: Any) -> tuple[Callable[[], Any], list[Any]]:
        args = {k: xp.asarray(v) for k, v in spec.args.items()}
        args[arg] = hostile(kind, spec.args[arg], xp)
        return (lambda: spec.call(**args)), list(args.values())

    return Row(spec.name, f"{arg}:{kind}", make, spec.kinds[arg][kind])


def _model(xp: Any) -> Any:
    return pl.TwoLayerPerceptron(3, 4, 3, weight_scale=0.5, xp=base_namespace(xp), seed=0)


def _row(func: str, kind: str, call: Callable[[Any], Any], expect: Raises | Result) -> Row:
    return Row(func, kind, lambda xp: ((lambda: call(xp)), []), expect)


def _data(xp: Any, **change: Any) -> dict[str, Any]:
    d = {"X_train": xp.asarray(X4), "y_train": xp.asarray(Y4), "X_val": xp.asarray(X4),
         "y_val": xp.asarray(Y4)}
    d.update({k: (xp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in change.items()})
    return d


def _solver(xp: Any, data: Any = None, **kw: Any) -> Any:
    solver = pl.Solver(_model(xp), _data(xp) if data is None else data, verbose=False, seed=0,
                       num_epochs=1, batch_size=2, **kw)
    solver.train()
    return solver


TPL, FCN = "TwoLayerPerceptron", "FullyConnectedNet"
ok_result = Result("returns", lambda r, xp: None)
EXTRA: list[Row] = [
    *[_row(TPL, f"{arg}={v!r}", lambda xp, a=arg, v=v: pl.TwoLayerPerceptron(**{a: v}),
           Raises(ValueError, (TPL, arg)))
      for arg, v in [("input_dim", 0), ("input_dim", 2.5), ("input_dim", "3"),
                     ("input_dim", True), ("hidden_dim", -1), ("num_classes", None),
                     ("reg", -1.0), ("reg", float("nan")), ("weight_scale", float("nan")),
                     ("dtype", "int32")]],
    _row(TPL, "xp='foo'", lambda xp: pl.TwoLayerPerceptron(xp="foo"), Raises(ValueError, ("foo",))),
    _row(FCN, "hidden_dims=5", lambda xp: pl.FullyConnectedNet(5), Raises(TypeError, (FCN,
                                                                                     "hidden_dims"))),
    _row(FCN, "hidden_dims=[3, 0]", lambda xp: pl.FullyConnectedNet([3, 0]),
         Raises(ValueError, (FCN, "hidden_dims[1]"))),
    _row(FCN, "hidden_dims=[2.5]", lambda xp: pl.FullyConnectedNet([2.5]),
         Raises(ValueError, (FCN, "hidden_dims[0]"))),
    # model.loss / predict: validation is the layers' (messages name affine_forward or
    # softmax_loss and the argument)
    *[_row(f"{TPL}.loss", f"X:{kind}", lambda xp, k=kind: _model(xp).loss(
        hostile(k, X4, xp), xp.asarray(Y4)), expect) for kind, expect in [
        ("int", Raises(TypeError, ("affine_forward", "x"))),
        ("list", Raises(TypeError, ("affine_forward", "x", "must be an array"))),
        ("mixed", Raises(TypeError, ("affine_forward", "one array library"))),
        ("shape", Raises(ValueError, ("affine_forward", "w", "(D, M)"))),
        ("empty", Raises(ValueError, ("affine_forward", "b") if False else
                         ("softmax_loss", "at least one sample"))),
        ("nan", NAN)]],
    *[_row(f"{TPL}.loss", f"y:{kind}", lambda xp, k=kind: _model(xp).loss(
        xp.asarray(X4), hostile(k, Y4, xp)), expect) for kind, expect in _labels(
            "softmax_loss").items()],
    _row(f"{TPL}.predict", "X:list", lambda xp: _model(xp).predict(X4.tolist()),
         Raises(TypeError, (f"{TPL}.predict", "X"))),
    _row(f"{TPL}.predict", "X:empty", lambda xp: _model(xp).predict(xp.asarray(X4[:0])), EMPTY),
    _row(f"{TPL}.predict", "X:int", lambda xp: _model(xp).predict(hostile("int", X4, xp)),
         Raises(TypeError, ("affine_forward", "x"))),
    # Solver
    _row("Solver", "model=42", lambda xp: pl.Solver(42, _data(xp)), Raises(TypeError,
                                                                          ("Solver", "model"))),
    _row("Solver", "data=list", lambda xp: pl.Solver(_model(xp), [1]),
         Raises(TypeError, ("Solver", "data"))),
    _row("Solver", "data missing", lambda xp: pl.Solver(_model(xp), {"X_train": 1}),
         Raises(ValueError, ("Solver", "missing"))),
    _row("Solver", "y_train:large", lambda xp: _solver(xp, _data(xp, y_train=Y4 * 0 + 7)),
         Raises(ValueError, ("Solver", "y_train"))),
    _row("Solver", "y_train:float", lambda xp: _solver(xp, _data(xp, y_train=Y4 * 1.0)),
         Raises(ValueError, ("Solver", "y_train"))),
    _row("Solver", "X_train:empty", lambda xp: _solver(xp, _data(xp, X_train=X4[:0],
                                                                 y_train=Y4[:0])),
         Raises(ValueError, ("Solver", "X_train"))),
    _row("Solver", "batch_size=0", lambda xp: _solver(xp, batch_size_override=0)
         if False else pl.Solver(_model(xp), _data(xp), batch_size=0),
         Raises(ValueError, ("Solver", "batch_size"))),
    _row("Solver", "X_train:nan", lambda xp: _solver(xp, _data(xp, X_train=X4 * np.nan)),
         Raises(ValueError, ("Solver", "X_train", "finite"))),
    # checkpoint
    _row("save_checkpoint", "path=42", lambda xp: pl.save_checkpoint(42, _model(xp)),
         Raises(ValueError, ("save_checkpoint", "path"))),
    _row("save_checkpoint", "path .txt", lambda xp: pl.save_checkpoint("m.txt", _model(xp)),
         Raises(ValueError, ("save_checkpoint", "path"))),
    _row("save_checkpoint", "model=42", lambda xp: pl.save_checkpoint("m.npz", 42),
         Raises(TypeError, ("save_checkpoint", "model"))),
    _row("save_checkpoint", "meta=object", lambda xp: pl.save_checkpoint(
        "never_written.npz", _model(xp), note=object()), Raises(TypeError, ("save_checkpoint",
                                                                            "note"))),
    _row("load_checkpoint", "path=42", lambda xp: pl.load_checkpoint(42, _model(xp)),
         Raises(ValueError, ("load_checkpoint", "path"))),
    _row("load_checkpoint", "model=42", lambda xp: pl.load_checkpoint("m.npz", 42),
         Raises(TypeError, ("load_checkpoint", "model"))),
    _row("load_checkpoint", "missing file", lambda xp: pl.load_checkpoint(
        "no_such_file.npz", _model(xp)), Raises(FileNotFoundError, ("no_such_file.npz",))),
    # data
    _row("load_cifar10", "root=42", lambda xp: pdata.load_cifar10(42),
         Raises(TypeError, ("load_cifar10", "root"))),
    _row("load_cifar10", "root missing", lambda xp: pdata.load_cifar10("no_such_dir"),
         Raises(FileNotFoundError, ("load_cifar10", "no_such_dir"))),
    *[_row("split_and_normalize", kind, lambda xp, X=X, y=y, kw=kw: pdata.split_and_normalize(
        X(xp), y(xp), **{"num_train": 2, "num_val": 1, **kw}), expect)
      for kind, X, y, kw, expect in [
          ("X:complex", lambda xp: hostile("complex", X4, xp), lambda xp: xp.asarray(Y4), {},
           Raises(TypeError, ("split_and_normalize", "X"))),
          ("y:float", lambda xp: xp.asarray(X4), lambda xp: hostile("float", Y4, xp), {},
           Raises(TypeError, ("split_and_normalize", "y"))),
          ("y:shape", lambda xp: xp.asarray(X4), lambda xp: xp.asarray(Y4[:3]), {},
           Raises(ValueError, ("split_and_normalize", "y"))),
          ("num_train=0", lambda xp: xp.asarray(X4), lambda xp: xp.asarray(Y4),
           {"num_train": 0}, Raises(ValueError, ("split_and_normalize", "num_train"))),
          ("sizes > N", lambda xp: xp.asarray(X4), lambda xp: xp.asarray(Y4),
           {"num_val": 9}, Raises(ValueError, ("split_and_normalize", "exceeds"))),
          ("X:nan", lambda xp: hostile("nan", X4, xp), lambda xp: xp.asarray(Y4), {},
           Result("NaN propagates", lambda r, xp: _has_nan(r["X_train"], xp)))]],
    _row("flatten", "X:list", lambda xp: pdata.flatten(X4.tolist()),
         Raises(TypeError, ("flatten", "X"))),
    _row("flatten", "X:0-d", lambda xp: pdata.flatten(xp.asarray(1.0)),
         Raises(ValueError, ("flatten", "X"))),
    _row("to_backend", "data=list", lambda xp: pdata.to_backend([1], "numpy"),
         Raises(TypeError, ("to_backend", "data"))),
    _row("to_backend", "dtype=int32", lambda xp: pdata.to_backend({}, "numpy", "int32"),
         Raises(ValueError, ("to_backend", "dtype"))),
    # gradient_check
    _row("eval_numerical_gradient", "x:int", lambda xp: gc.eval_numerical_gradient(
        lambda v: v, hostile("int", X4, xp), verbose=False),
         Raises(TypeError, ("eval_numerical_gradient", "x"))),
    _row("eval_numerical_gradient", "x:list", lambda xp: gc.eval_numerical_gradient(
        lambda v: v, X4.tolist(), verbose=False),
         Raises(TypeError, ("eval_numerical_gradient", "x"))),
    _row("eval_numerical_gradient_array", "df:shape",
         lambda xp: gc.eval_numerical_gradient_array(lambda v: v, xp.asarray(X4),
                                                     xp.asarray(np.ones(5))),
         Raises(ValueError, ("eval_numerical_gradient_array", "df"))),
    _row("rel_error", "shape", lambda xp: pl.rel_error(xp.asarray(X4), xp.asarray(np.ones(5))),
         Raises(ValueError, ("rel_error",))),
    _row("rel_error", "empty", lambda xp: pl.rel_error(xp.asarray(X4[:0]), xp.asarray(X4[:0])),
         Result("0.0", lambda r, xp: _equal(r, 0.0))),
    _row("rel_error", "nan", lambda xp: pl.rel_error(hostile("nan", X4, xp), xp.asarray(X4)),
         Result("nan", lambda r, xp: _equal(np.isnan(r), True))),
    _row("check_layer", "inputs:int", lambda xp: pl.check_layer(
        pl.relu_forward, pl.relu_backward, (hostile("int", X4, xp),)),
         Raises(TypeError, ("check_layer", "inputs"))),
    _row("check_layer", "mode", lambda xp: pl.check_layer(
        pl.relu_forward, pl.relu_backward, (xp.asarray(X4),), mode="bogus"),
         Raises(ValueError, ("check_layer", "mode"))),
    _row("check_layer", "inputs:nan", lambda xp: pl.check_layer(
        pl.tanh_forward, pl.tanh_backward, (hostile("nan", X4, xp),), oracles=("numerical",)),
         Result("not ok", lambda r, xp: _equal(r.ok, False))),
    _row("fast_check", "inputs:nan", lambda xp: pl.fast_check(
        pl.tanh_forward, pl.tanh_backward, (hostile("nan", X4, xp),), oracles=("numerical",)),
         Result("not ok", lambda r, xp: _equal(r.ok, False))),
    # sandwich layers' and models' remaining public functions
    *[_row("ThreeLayerConvNet", kind, lambda xp, kw=kw: pl.ThreeLayerConvNet(**kw), expect)
      for kind, kw, expect in [
          ("input_dim=(3, 32)", {"input_dim": (3, 32)},
           Raises(ValueError, ("ThreeLayerConvNet", "input_dim"))),
          ("num_filters=0", {"num_filters": 0},
           Raises(ValueError, ("ThreeLayerConvNet", "num_filters")))]],
    _row("ThreeLayerConvNet.loss", "X:shape", lambda xp: pl.ThreeLayerConvNet(
        (2, 4, 4), 2, 3, 4, 3, xp=base_namespace(xp), seed=0).loss(
            xp.asarray(np.ones((2, 2, 4, 5))), xp.asarray(Y4[:2])),
         Raises(ValueError, ("ThreeLayerConvNet.loss", "X", "(N, 2, 4, 4)"))),
    # optim helpers
    _row("get_update_rule", "name='bogus'", lambda xp: optim.get_update_rule("bogus"),
         Raises(ValueError, ("get_update_rule", "name", "adam"))),
    _row("init_config", "name='bogus'", lambda xp: optim.init_config(
        "bogus", xp.asarray(X4)), Raises(ValueError, ("name", "bogus"))),
    _row("init_config", "config=list", lambda xp: optim.init_config(
        "adam", xp.asarray(X4), [1]), Raises(TypeError, ("adam", "config"))),
    # data and checkpoint helpers
    _row("load_digits", "scikit-learn missing", lambda xp: _without("sklearn", pdata.load_digits),
         Raises(ImportError, ("load_digits", "scikit-learn", "portable-layers[digits]"))),
    _row("read_checkpoint_meta", "path=42", lambda xp: checkpoint.read_checkpoint_meta(42),
         Raises(ValueError, ("read_checkpoint_meta", "path"))),
    _row("read_checkpoint_meta", "missing file",
         lambda xp: checkpoint.read_checkpoint_meta("no_such_file.npz"),
         Raises(FileNotFoundError, ("no_such_file.npz",))),
    # gradient_check helpers
    _row("scaled_error", "shape", lambda xp: gc.scaled_error(xp.asarray(X4),
                                                             xp.asarray(np.ones(5))),
         Raises(ValueError, ("scaled_error",))),
    _row("tolerance", "oracle='bogus'", lambda xp: gc.tolerance("float64", "bogus"),
         Raises(ValueError, ("tolerance", "oracle", "bogus"))),
    _row("autodiff_vjp", "inputs:int", lambda xp: gc.autodiff_vjp(
        lambda x, y: x * 2.0, (xp.asarray(X4), hostile("int", X4, xp)), xp.asarray(X4)),
         Result("None for the integer input", lambda r, xp: _equal(r[1] is None, True))
         if HAVE["jax"] else Raises(ImportError, ("autodiff_vjp needs JAX",))),
    _row("torch_vjp", "dout:shape", lambda xp: gc.torch_vjp(
        lambda x: x * x, (xp.asarray(X4),), xp.asarray(np.ones(5))),
         Raises(ValueError, ("torch_vjp", "dout")) if HAVE["torch"] else
         Raises(ImportError, ("torch_vjp needs PyTorch",))),
    _row("assert_layer_gradients", "wrong backward", lambda xp: gc.assert_layer_gradients(
        pl.tanh_forward, lambda dout, cache: 2.0 * pl.tanh_backward(dout, cache),
        (xp.asarray(X4),), oracles=("numerical",)),
         Raises(AssertionError, ("FAIL", "dx"))),
    # distributed
    _row("full_batch_loss_and_grads", "y:shape", lambda xp: distributed.full_batch_loss_and_grads(
        _model(xp), xp.asarray(X4), xp.asarray(Y4[:3])),
         Raises(ValueError, ("full_batch_loss_and_grads", "y"))),
    _row("full_batch_loss_and_grads", "split_every=1",
         lambda xp: distributed.full_batch_loss_and_grads(
             _model(xp), xp.asarray(X4), xp.asarray(Y4), split_every=1),
         Raises(ValueError, ("full_batch_loss_and_grads", "split_every"))),
    _row("full_batch_loss_and_grads", "params={}",
         lambda xp: distributed.full_batch_loss_and_grads(
             _model(xp), xp.asarray(X4), xp.asarray(Y4), params={}),
         Raises(TypeError, ("full_batch_loss_and_grads", "params"))),
    _row("data_parallel_mesh", "devices=0", lambda xp: distributed.data_parallel_mesh(0),
         Raises(ValueError, ("data_parallel_mesh", "devices")) if HAVE["jax"] else
         Raises(ImportError, ("data_parallel_mesh", "needs JAX"))),
    _row("shard_batch", "mesh=42", lambda xp: distributed.shard_batch(42, xp.asarray(X4)),
         Raises(TypeError, ("shard_batch", "mesh")) if HAVE["jax"] else
         Raises(ImportError, ("shard_batch", "needs JAX"))),
    _row("replicate", "mesh=42", lambda xp: distributed.replicate(42, {"w": xp.asarray(X4)}),
         Raises(TypeError, ("replicate", "mesh")) if HAVE["jax"] else
         Raises(ImportError, ("replicate", "needs JAX"))),
    _row("numerical_vjp", "inputs:int", lambda xp: gc.numerical_vjp(
        lambda x, y: x * 2.0, (xp.asarray(X4), hostile("int", X4, xp)), xp.asarray(X4)),
         Result("None for the integer input", lambda r, xp: _equal(r[1] is None, True))),
    # gradient_check: the seed's contract (i12-gc)
    _row("grad_check_sparse", "x:int", lambda xp: gc.grad_check_sparse(
        lambda v: v, hostile("int", X4, xp), np.ones(X4.shape)),
         Raises(TypeError, ("grad_check_sparse", "x"))),
    _row("grad_check_sparse", "analytic_grad:shape", lambda xp: gc.grad_check_sparse(
        lambda v: v, xp.asarray(X4), np.ones(5)),
         Raises(ValueError, ("grad_check_sparse", "analytic_grad"))),
    _row("grad_check_sparse", "num_checks=-1", lambda xp: gc.grad_check_sparse(
        lambda v: v, xp.asarray(X4), np.ones(X4.shape), num_checks=-1),
         Raises(ValueError, ("grad_check_sparse", "num_checks"))),
    # the pure training step
    _row("init_train_state", "model=42", lambda xp: pl.init_train_state(42),
         Raises(TypeError, ("init_train_state", "params"))),
    _row("init_train_state", "update_rule='nope'",
         lambda xp: pl.init_train_state(_model(xp), "nope"),
         Raises(ValueError, ("init_train_state", "update_rule", "nope"))),
    _row("init_train_state", "optim_config=[]",
         lambda xp: pl.init_train_state(_model(xp), "sgd", []),
         Raises(TypeError, ("init_train_state", "optim_config"))),
    _row("make_train_step", "model=42", lambda xp: pl.make_train_step(42),
         Raises(TypeError, ("make_train_step", "params", "loss"))),
    _row("make_train_step", "update_rule='nope'",
         lambda xp: pl.make_train_step(_model(xp), "nope"),
         Raises(ValueError, ("make_train_step", "update_rule", "nope"))),
    _row("TrainState", "fields missing", lambda xp: pl.TrainState({}),
         Raises(TypeError, ("TrainState", "model_state"))),
    _row("rel_error", "two libraries", lambda xp: pl.rel_error(
        xp.asarray(X4), _other_library(xp, X4)),
         Raises(TypeError, ("rel_error",))),
    # --- check_layer's arguments (gradcheck: issue 21 item 6, issue 22 item 8) ---
    _row("check_layer", "forward returns a bare array", lambda xp: pl.check_layer(
        lambda x: pl.relu_forward(x)[0], pl.relu_backward, (xp.asarray(X4),)),
         Raises(TypeError, ("check_layer", "forward", "(out, cache)"))),
    _row("check_layer", "tol=-1", lambda xp: pl.check_layer(
        pl.tanh_forward, pl.tanh_backward, (xp.asarray(X4),), tol=-1),
         Raises(ValueError, ("check_layer", "tol", "positive finite"))),
    _row("check_layer", "tol=nan", lambda xp: pl.check_layer(
        pl.tanh_forward, pl.tanh_backward, (xp.asarray(X4),), tol={"numerical": math.nan}),
         Raises(ValueError, ("check_layer", "tol['numerical']"))),
    _row("check_layer", "h=0", lambda xp: pl.check_layer(
        pl.tanh_forward, pl.tanh_backward, (xp.asarray(X4),), h=0),
         Raises(ValueError, ("check_layer", "h", "positive finite"))),
    _row("check_layer", "h=inf", lambda xp: pl.check_layer(
        pl.tanh_forward, pl.tanh_backward, (xp.asarray(X4),), h=math.inf),
         Raises(ValueError, ("check_layer", "h"))),
    _row("check_layer", "samples=0", lambda xp: pl.check_layer(
        pl.tanh_forward, pl.tanh_backward, (xp.asarray(X4),), mode="sampled", samples=0),
         Raises(ValueError, ("check_layer", "samples"))),
    _row("check_layer", "seed=-1", lambda xp: pl.check_layer(
        pl.tanh_forward, pl.tanh_backward, (xp.asarray(X4),), mode="fast", seed=-1),
         Raises(ValueError, ("check_layer", "seed", "non-negative integer"))),
    _row("check_layer", "inputs:list", lambda xp: pl.check_layer(
        pl.tanh_forward, pl.tanh_backward, (X4.tolist(),)),
         Raises(TypeError, ("check_layer", "inputs[0]", "xp.asarray"))),
    _row("check_layer", "inputs:scalar", lambda xp: pl.check_layer(
        pl.tanh_forward, pl.tanh_backward, (1.5,)),
         Raises(TypeError, ("check_layer", "inputs[0]", "xp.asarray"))),
    _row("check_layer", "dout:list", lambda xp: pl.check_layer(
        pl.tanh_forward, pl.tanh_backward, (xp.asarray(X4),), X4.tolist()),
         Raises(TypeError, ("check_layer", "dout", "xp.asarray"))),
    _row("check_layer", "names:length", lambda xp: pl.check_layer(
        pl.tanh_forward, pl.tanh_backward, (xp.asarray(X4),), names=("x", "w")),
         Raises(ValueError, ("check_layer", "names"))),
    _row("fast_check", "forward returns a bare array", lambda xp: pl.fast_check(
        lambda x: pl.tanh_forward(x)[0], pl.tanh_backward, (xp.asarray(X4),)),
         Raises(TypeError, ("check_layer", "forward"))),
    # --- end of check_layer's arguments ---
]


def _other_library(xp: Any, a: np.ndarray) -> Any:
    """``a`` as an array of a library other than ``xp``'s (array_api_strict or NumPy)."""
    import array_api_strict

    if _compat.array_namespace("t", a=xp.asarray(0.0)) is _compat.get_namespace("numpy"):
        return array_api_strict.asarray(a)
    return np.asarray(a)


# ---------------------------------------------------------------------------
# Transformer layers and VisionTransformer (issue 14)
# ---------------------------------------------------------------------------

TOK = rng.standard_normal((2, 3, 4))  # (N, T, D) tokens
ATTN = {"num_heads": 2}
VIT = "VisionTransformer"
MHA = "multihead_attention_forward"


def _gelu_ref(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(0.7978845608028654 * (x + 0.044715 * (x * x * x))))


def _params_of(func: str, args: tuple[str, ...], out: str) -> dict[str, dict[str, Raises | Result]]:
    """Generic kinds for a weight and a bias: every malformed one is refused by name."""
    kinds = {}
    for arg in args:
        kinds[arg] = _float_arg(func, arg, ndim=_ve(func, arg),
                                shape=_ve(func, out if arg == args[0] else arg),
                                empty=_ve(func, arg))
    return kinds


def _attention(xp: Any, **param: Any) -> Any:
    x = xp.asarray(TOK)
    return pl.multihead_attention_forward(x, _g(x, (4, 12), 0.1), _g(x, (12,), 0.0),
                                          _g(x, (4, 4), 0.1), _g(x, (4,), 0.0),
                                          {**ATTN, **param})


def _vit(xp: Any, **kw: Any) -> Any:
    return pl.VisionTransformer(**{"input_dim": (1, 4, 4), "embed_dim": 8, "depth": 1,
                                   "num_heads": 2, "xp": base_namespace(xp), "seed": 0, **kw})


SPECS += [
    _elementwise("gelu", pl.gelu_forward, _gelu_ref),
    Spec("temporal_affine_forward", pl.temporal_affine_forward,
         {"x": TOK, "w": rng.standard_normal((4, 2)), "b": rng.standard_normal(2)},
         {"x": _float_arg("temporal_affine_forward", "x",
                          ndim=_ve("temporal_affine_forward", "x", "3 dim"),
                          shape=_ve("temporal_affine_forward", "w", "(D, M)"), empty=EMPTY),
          **_params_of("temporal_affine_forward", ("w", "b"), "b")}),
    Spec("patch_embed_forward", lambda x, w, b: pl.patch_embed_forward(x, w, b, {"patch_size": 2}),
         {"x": IMG, "w": rng.standard_normal((8, 3)), "b": rng.standard_normal(3)},
         {"x": _float_arg("patch_embed_forward", "x",
                          ndim=_ve("patch_embed_forward", "x", "4 dim"),
                          shape=_ve("patch_embed_forward", "patch_size", "W = 5"), empty=EMPTY),
          **_params_of("patch_embed_forward", ("w", "b"), "b")}),
    Spec(MHA, lambda **a: pl.multihead_attention_forward(**a, attn_param=ATTN),
         {"x": TOK, "w_qkv": 0.1 * rng.standard_normal((4, 12)), "b_qkv": np.zeros(12),
          "w_out": 0.1 * rng.standard_normal((4, 4)), "b_out": np.zeros(4)},
         {"x": _float_arg(MHA, "x", ndim=_ve(MHA, "x", "3 dim"), shape=_ve(MHA, "w_qkv"),
                          empty=EMPTY),
          "w_qkv": _float_arg(MHA, "w_qkv", ndim=_ve(MHA, "w_qkv", "(D, 3D)"),
                              shape=_ve(MHA, "w_qkv", "(D, 3D)"),
                              empty=_ve(MHA, "w_qkv", "(D, 3D)"))}),
]
for _name, _fwd, _args in [
    ("gelu", pl.gelu_forward, {"x": X4}),
    ("temporal_affine", lambda x: pl.temporal_affine_forward(x, _g(x, (4, 2)), _g(x, (2,))),
     {"x": TOK}),
    ("patch_embed", lambda x: pl.patch_embed_forward(x, _g(x, (8, 3)), _g(x, (3,)),
                                                     {"patch_size": 2}), {"x": IMG}),
    ("multihead_attention", lambda x: _attention(_compat.array_namespace("test", x=x)),
     {"x": TOK}),
]:
    SPECS.append(_backward(_name, lambda _f=_fwd, **kw: _f(**kw),
                           getattr(pl, f"{_name}_backward"), _args))
for _spec in SPECS:  # (4, 3, 1) is now a valid (N, ..., D) input, with D = 1 not gamma's 3
    if _spec.name == "layernorm_forward":
        _spec.kinds["x"]["ndim"] = _ve("layernorm_forward", "gamma", "(D,) = (1,)")

_HIDES_ROW_1 = np.tril(np.ones((3, 3), dtype=bool)) & (np.arange(3)[:, None] != 1)
EXTRA += [
    _row(MHA, "mask:int", lambda xp: _attention(xp, mask=xp.asarray(np.ones((3, 3), dtype=int))),
         Raises(TypeError, (MHA, "mask", "boolean"))),
    _row(MHA, "mask:shape", lambda xp: _attention(xp, mask=xp.asarray(np.ones((3, 4), bool))),
         Raises(ValueError, (MHA, "mask", "(T, T) = (3, 3)"))),
    _row(MHA, "mask:list", lambda xp: _attention(xp, mask=np.ones((3, 3), bool).tolist()),
         Raises(TypeError, (MHA, "mask"))),
    _row(MHA, "mask:mixed", lambda xp: _attention(xp, mask=_other_library(
        xp, np.ones((3, 3), bool))), Raises(TypeError, (MHA, "one array library"))),
    _row(MHA, "mask:row hides all", lambda xp: _attention(xp, mask=xp.asarray(_HIDES_ROW_1)),
         Raises(ValueError, (MHA, "mask", "queries [1]"))),
    _row(MHA, "num_heads=2.0", lambda xp: _attention(xp, num_heads=2.0),
         Raises(TypeError, (MHA, "num_heads", "int"))),
    _row(MHA, "num_heads=3", lambda xp: _attention(xp, num_heads=3),
         Raises(ValueError, (MHA, "num_heads", "D = 4"))),
    *[_row(VIT, f"{arg}={v!r}", lambda xp, a=arg, v=v: _vit(xp, **{a: v}), Raises(exc, (VIT, arg)))
      for arg, v, exc in [("num_heads", 2.0, TypeError), ("num_heads", 3, ValueError),
                          ("patch_size", 3, ValueError), ("input_dim", 16, ValueError),
                          ("embed_dim", 0, ValueError), ("reg", -1.0, ValueError),
                          ("weight_scale", float("nan"), ValueError)]],
    _row(f"{VIT}.loss", "X:shape", lambda xp: _vit(xp).loss(xp.asarray(IMG)),
         Raises(ValueError, (f"{VIT}.loss", "X", "(N, 1, 4, 4)"))),
    _row(f"{VIT}.loss", "X:nan", lambda xp: _vit(xp).loss(hostile("nan", IMG[:, :1], xp)), NAN),
]

# ---------------------------------------------------------------------------
# Issue 21: the reproducers, and three rows (wrong type, wrong shape or value, boundary)
# for every public function of the wider walk (plotting, cs231n.*, cases, pytest_plugin,
# the gradient_check submodules).  Every row passes: none is marked as a known failure.
# ---------------------------------------------------------------------------

from portable_layers import cases as pcases  # noqa: E402
from portable_layers import plotting, pytest_plugin  # noqa: E402
from portable_layers.cli import check as cli_check  # noqa: E402
from portable_layers.cli import plot as cli_plot  # noqa: E402
from portable_layers.cli import train as cli_train  # noqa: E402
from portable_layers.cli._common import UsageError  # noqa: E402
from portable_layers.cs231n import data_utils as c_data  # noqa: E402
from portable_layers.cs231n import fast_layers, layer_utils, vis_utils  # noqa: E402
from portable_layers.cs231n import layers as c_layers  # noqa: E402
from portable_layers.cs231n.classifiers import TwoLayerNet  # noqa: E402
from portable_layers.gradient_check import analytic as gc_analytic  # noqa: E402
from portable_layers.gradient_check import check as gc_check  # noqa: E402
from portable_layers.gradient_check import differences, oracles, reports  # noqa: E402
from portable_layers.gradient_check import fast as gc_fast  # noqa: E402
from portable_layers.gradient_check import kinks as gc_kinks  # noqa: E402

W3 = rng.standard_normal((3, 2, 3, 3))  # conv weights for IMG (2, 2, 4, 4)
CLI_MODULES = {"check": cli_check, "plot": cli_plot, "train": cli_train}


def _shape_is(shape: tuple[int, ...]) -> Result:
    return Result(f"shape {shape}", lambda r, xp: _equal(tuple(_first(r).shape), shape))


def _first(result: Any) -> Any:
    return result[0] if isinstance(result, tuple) else result


def _conv_cache(xp: Any, n: int = 2) -> Any:
    return pl.conv_forward(xp.asarray(IMG[:n]), xp.asarray(W3), xp.asarray(np.zeros(3)), CONV)[1]


def _pool_cache(xp: Any, n: int = 2) -> Any:
    return pl.max_pool_forward(xp.asarray(IMG[:n]), POOL)[1]


def _loss_rows(name: str, loss: Callable[..., Any]) -> list[Row]:
    """The issue's silent wrong answer: uint8 labels with 300 classes (5.81, not 12.03)."""
    scores = rng.standard_normal((3, 300))
    labels = np.array([5, 6, 7])
    shifted = scores - scores.max(axis=1, keepdims=True)
    softmax = np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(3), labels])
    margins = np.maximum(scores - scores[np.arange(3), labels][:, None] + 1, 0)
    svm = (margins.sum() - 3) / 3  # the label entries' margins are 1 each
    ref = softmax if name == "softmax_loss" else svm

    def call(xp: Any) -> Any:
        ns = base_namespace(xp)
        return loss(xp.asarray(scores), ns.asarray(labels, dtype=ns.uint8))

    return [_row(name, "y:uint8 300 classes", call, Result(
        f"{ref:.4f}", lambda r, xp: np.testing.assert_allclose(float(r[0]), ref, rtol=1e-12)))]


CONV_FORWARDS = {"conv_forward_naive": c_layers.conv_forward_naive,
                 "conv_forward_fast": fast_layers.conv_forward_fast,
                 "conv_forward_im2col": fast_layers.conv_forward_im2col,
                 "conv_forward_strides": fast_layers.conv_forward_strides}
CONV_BACKWARDS = {"conv_backward_naive": c_layers.conv_backward_naive,
                  "conv_backward_fast": fast_layers.conv_backward_fast,
                  "conv_backward_im2col": fast_layers.conv_backward_im2col,
                  "conv_backward_strides": fast_layers.conv_backward_strides}
POOL_FORWARDS = {"max_pool_forward_naive": c_layers.max_pool_forward_naive,
                 "max_pool_forward_fast": fast_layers.max_pool_forward_fast,
                 "max_pool_forward_im2col": fast_layers.max_pool_forward_im2col,
                 "max_pool_forward_reshape": fast_layers.max_pool_forward_reshape}
POOL_BACKWARDS = {"max_pool_backward_naive": c_layers.max_pool_backward_naive,
                  "max_pool_backward_fast": fast_layers.max_pool_backward_fast,
                  "max_pool_backward_im2col": fast_layers.max_pool_backward_im2col,
                  "max_pool_backward_reshape": fast_layers.max_pool_backward_reshape}


def _conv_forward_rows(name: str, f: Callable[..., Any]) -> list[Row]:
    def call(xp: Any, x: Any = None, w: Any = None, param: Any = None) -> Any:
        return f(xp.asarray(IMG) if x is None else x, xp.asarray(W3) if w is None else w,
                 xp.asarray(np.zeros(3)), CONV if param is None else param)

    return [
        _row(name, "x:int", lambda xp: call(xp, x=hostile("int", IMG, xp)),
             Raises(TypeError, ("conv_forward", "x"))),
        _row(name, "w:channels", lambda xp: call(xp, w=xp.asarray(W3[:, :1])),
             Raises(ValueError, ("conv_forward", "w", "(F, C, HH, WW)"))),
        _row(name, "pad=10**9", lambda xp: call(xp, param={"stride": 1, "pad": 10**9}),
             Raises(MemoryError, ("conv_forward", "pad=1000000000", "memory available"))),
        _row(name, "pad=-1", lambda xp: call(xp, param={"stride": 1, "pad": -1}),
             Raises(ValueError, ("conv_forward", "conv_param['pad']"))),
        _row(name, "kernel = padded image", lambda xp: call(xp, param={"stride": 1, "pad": 0},
                                                            w=xp.asarray(np.ones((3, 2, 4, 4)))),
             _shape_is((2, 3, 1, 1))),
    ]


def _conv_backward_rows(name: str, f: Callable[..., Any]) -> list[Row]:
    return [
        _row(name, "dout:int", lambda xp: f(hostile("int", np.ones((2, 3, 4, 4)), xp),
                                            _conv_cache(xp)),
             Raises(TypeError, ("conv_backward", "dout"))),
        _row(name, "dout:shape", lambda xp: f(xp.asarray(np.ones((2, 3, 4, 5))), _conv_cache(xp)),
             Raises(ValueError, ("conv_backward", "dout", "(2, 3, 4, 4)"))),
        _row(name, "cache=42", lambda xp: f(xp.asarray(np.ones((2, 3, 4, 4))), 42),
             Raises(TypeError, ("conv_backward", "cache", "conv_forward"))),
        _row(name, "empty batch", lambda xp: f(xp.asarray(np.ones((0, 3, 4, 4))),
                                               _conv_cache(xp, 0)), EMPTY),
    ]


def _pool_forward_rows(name: str, f: Callable[..., Any]) -> list[Row]:
    return [
        _row(name, "x:int", lambda xp: f(hostile("int", IMG, xp), POOL),
             Raises(TypeError, ("max_pool_forward", "x"))),
        _row(name, "pool_height=0", lambda xp: f(xp.asarray(IMG), {**POOL, "pool_height": 0}),
             Raises(ValueError, ("max_pool_forward", "pool_param['pool_height']"))),
        _row(name, "window = image", lambda xp: f(xp.asarray(IMG), {
            "pool_height": 4, "pool_width": 4, "stride": 4}), _shape_is((2, 2, 1, 1))),
        _row(name, "window > image", lambda xp: f(xp.asarray(IMG), {**POOL, "pool_width": 5}),
             Raises(ValueError, ("max_pool_forward", "pool_width"))),
    ]


def _pool_backward_rows(name: str, f: Callable[..., Any]) -> list[Row]:
    return [
        _row(name, "dout:int", lambda xp: f(hostile("int", np.ones((2, 2, 2, 2)), xp),
                                            _pool_cache(xp)),
             Raises(TypeError, ("max_pool_backward", "dout"))),
        _row(name, "dout:shape", lambda xp: f(xp.asarray(np.ones((2, 2, 2, 3))), _pool_cache(xp)),
             Raises(ValueError, ("max_pool_backward", "dout"))),
        _row(name, "cache=42", lambda xp: f(xp.asarray(np.ones((2, 2, 2, 2))), 42),
             Raises(TypeError, ("max_pool_backward", "cache", "max_pool_forward"))),
        _row(name, "empty batch", lambda xp: f(xp.asarray(np.ones((0, 2, 2, 2))),
                                               _pool_cache(xp, 0)), EMPTY),
    ]


def _cbr(xp: Any, mode: str = "train", x: Any = None) -> Any:
    return layer_utils.conv_bn_relu_forward(
        xp.asarray(IMG) if x is None else x, xp.asarray(W3), xp.asarray(np.zeros(3)),
        xp.asarray(np.ones(3)), xp.asarray(np.zeros(3)), CONV, {"mode": mode})


def _bn_cache(xp: Any) -> Any:
    return pl.batchnorm_forward(xp.asarray(X4), xp.asarray(np.ones(3)),
                                xp.asarray(np.zeros(3)), {"mode": "train"})[1]


CBR, CBRB, BNALT = "conv_bn_relu_forward", "conv_bn_relu_backward", "batchnorm_backward_alt"
NO_DIR = os.path.join("no_such_dir", "f.png")
EXTRA += [
    # the issue's reproducers in this table's scope
    *_loss_rows("softmax_loss", pl.softmax_loss),
    *_loss_rows("svm_loss", pl.svm_loss),
    _row("conv_forward", "pad=10**9", lambda xp: pl.conv_forward(
        xp.asarray(IMG), xp.asarray(W3), xp.asarray(np.zeros(3)), {"stride": 1, "pad": 10**9}),
         Raises(MemoryError, ("conv_forward", "pad=1000000000", "memory available"))),
    _row("conv_backward", "cache=42", lambda xp: pl.conv_backward(
        xp.asarray(np.ones((2, 3, 4, 4))), 42), Raises(TypeError, ("conv_backward", "cache"))),
    _row("max_pool_backward", "cache=(1, 2, 3)", lambda xp: pl.max_pool_backward(
        xp.asarray(np.ones((2, 2, 2, 2))), (1, 2, 3)),
         Raises(TypeError, ("max_pool_backward", "cache", "a tuple of 3"))),
    _row("split_and_normalize", "seed=-1", lambda xp: pdata.split_and_normalize(
        xp.asarray(X4), xp.asarray(Y4), num_train=2, num_val=1, seed=-1),
         Raises(ValueError, ("split_and_normalize", "seed", "non-negative"))),
    _row("split_and_normalize", "seed=2**40", lambda xp: pdata.split_and_normalize(
        xp.asarray(X4), xp.asarray(Y4), num_train=2, num_val=1, seed=2**40),
         Result("4 samples split", lambda r, xp: _equal(r["X_train"].shape[0], 2))),
    _row("full_batch_loss_and_grads", "X=list", lambda xp: distributed.full_batch_loss_and_grads(
        _model(xp), X4.tolist(), xp.asarray(Y4)),
         Raises(TypeError, ("full_batch_loss_and_grads", "X", "array"))),
    _row("full_batch_loss_and_grads", "seed=-1", lambda xp: distributed.full_batch_loss_and_grads(
        _model(xp), xp.asarray(X4), xp.asarray(Y4), seed=-1),
         Raises(ValueError, ("full_batch_loss_and_grads", "seed"))),
    _row("full_batch_loss_and_grads", "seed=0, no dropout",
         lambda xp: distributed.full_batch_loss_and_grads(
             _model(xp), xp.asarray(X4), xp.asarray(Y4), seed=0),
         Result("the loss of model.loss", lambda r, xp: np.testing.assert_allclose(
             float(r[0]), float(_model(xp).loss(xp.asarray(X4), xp.asarray(Y4))[0]),
             rtol=1e-6))),
    # the course's layers: aliases of the portable layers, their errors name those
    *[r for name, f in CONV_FORWARDS.items() for r in _conv_forward_rows(name, f)],
    *[r for name, f in CONV_BACKWARDS.items() for r in _conv_backward_rows(name, f)],
    *[r for name, f in POOL_FORWARDS.items() for r in _pool_forward_rows(name, f)],
    *[r for name, f in POOL_BACKWARDS.items() for r in _pool_backward_rows(name, f)],
    _row(BNALT, "dout:int", lambda xp: c_layers.batchnorm_backward_alt(
        hostile("int", X4, xp), _bn_cache(xp)), Raises(TypeError, ("batchnorm_backward", "dout"))),
    _row(BNALT, "dout:shape", lambda xp: c_layers.batchnorm_backward_alt(
        xp.asarray(np.ones((4, 2))), _bn_cache(xp)),
         Raises(ValueError, ("batchnorm_backward", "dout"))),
    _row(BNALT, "cache=42", lambda xp: c_layers.batchnorm_backward_alt(
        xp.asarray(X4), 42), Raises(TypeError, ("batchnorm_backward", "cache"))),
    _row(BNALT, "dout zeros", lambda xp: c_layers.batchnorm_backward_alt(
        xp.asarray(np.zeros(X4.shape)), _bn_cache(xp)), Result(
        "zero gradients", lambda r, xp: _equal(all(not a.any() for a in _deep_arrays(r)), True))),
    _row(CBR, "x:int", lambda xp: _cbr(xp, x=hostile("int", IMG, xp)),
         Raises(TypeError, ("conv_forward", "x"))),
    _row(CBR, "bn_param mode", lambda xp: _cbr(xp, mode="bogus"),
         Raises(ValueError, ("spatial_batchnorm_forward", "bn_param['mode']"))),
    _row(CBR, "N=1", lambda xp: _cbr(xp, x=xp.asarray(IMG[:1])), _shape_is((1, 3, 4, 4))),
    _row(CBRB, "dout:int", lambda xp: layer_utils.conv_bn_relu_backward(
        hostile("int", np.ones((2, 3, 4, 4)), xp), _cbr(xp)[1]),
         Raises(TypeError, ("relu_backward", "dout"))),
    _row(CBRB, "dout:shape", lambda xp: layer_utils.conv_bn_relu_backward(
        xp.asarray(np.ones((2, 3, 4, 5))), _cbr(xp)[1]),
         Raises(ValueError, ("relu_backward", "dout"))),
    _row(CBRB, "cache=42", lambda xp: layer_utils.conv_bn_relu_backward(
        xp.asarray(np.ones((2, 3, 4, 4))), 42), Raises(TypeError, (CBRB, "cache"))),
    _row(CBRB, "dout zeros", lambda xp: layer_utils.conv_bn_relu_backward(
        xp.asarray(np.zeros((2, 3, 4, 4))), _cbr(xp)[1]), Result(
        "zero gradients", lambda r, xp: _equal(all(not a.any() for a in _deep_arrays(r)), True))),
    _row("TwoLayerNet", "hidden_dim=0", lambda xp: TwoLayerNet(hidden_dim=0),
         Raises(ValueError, ("TwoLayerNet", "0"))),
    _row("TwoLayerNet", "input_dim='3'", lambda xp: TwoLayerNet(input_dim="3"),
         Raises(ValueError, ("TwoLayerNet", "'3'"))),
    _row("TwoLayerNet", "hidden_dim=1", lambda xp: TwoLayerNet(4, 1, 2).loss(
        np.ones((2, 4))), _shape_is((2, 2))),
    # cs231n data and vis utilities
    _row("load_CIFAR10", "ROOT=42", lambda xp: c_data.load_CIFAR10(42),
         Raises(TypeError, ("load_cifar10", "root"))),
    _row("load_CIFAR10", "ROOT missing", lambda xp: c_data.load_CIFAR10("no_such_dir"),
         Raises(FileNotFoundError, ("load_cifar10", "no_such_dir"))),
    _row("load_CIFAR10", "ROOT a file", lambda xp: c_data.load_CIFAR10(__file__),
         Raises(FileNotFoundError, ("load_cifar10", "not a directory"))),
    _row("get_CIFAR10_data", "cifar10_dir=42", lambda xp: c_data.get_CIFAR10_data(
        cifar10_dir=42), Raises(TypeError, ("load_cifar10", "root"))),
    _row("get_CIFAR10_data", "cifar10_dir missing", lambda xp: c_data.get_CIFAR10_data(
        cifar10_dir="no_such_dir"), Raises(FileNotFoundError, ("no_such_dir",))),
    _row("get_CIFAR10_data", "num_training=-1", lambda xp: c_data.get_CIFAR10_data(
        -1, cifar10_dir="no_such_dir"), Raises(ValueError, ("get_CIFAR10_data", "num_training"))),
    _row("visualize_grid", "Xs=list", lambda xp: vis_utils.visualize_grid([[1.0]]),
         Raises(ValueError, ("visualize_grid", "Xs", "(N, H, W, C)"))),
    _row("visualize_grid", "Xs 3-d", lambda xp: vis_utils.visualize_grid(np.ones((2, 3, 3))),
         Raises(ValueError, ("visualize_grid", "Xs", "(N, H, W, C)"))),
    _row("visualize_grid", "one image", lambda xp: vis_utils.visualize_grid(
        np.ones((1, 2, 2, 3))), _shape_is((2, 2, 3))),
    _row("visualize_grid", "padding=-1", lambda xp: vis_utils.visualize_grid(
        np.ones((2, 2, 2, 3)), padding=-1), Raises(ValueError, ("visualize_grid", "padding",
                                                                ">= 0", "-1"))),
    # plotting
    _row("activation_curves", "backend='foo'", lambda xp: plotting.activation_curves("foo"),
         Raises(ValueError, ("foo",))),
    _row("activation_curves", "lo > hi", lambda xp: plotting.activation_curves(lo=1, hi=-1),
         Raises(ValueError, ("activation_curves", "lo < hi"))),
    _row("activation_curves", "num=1", lambda xp: plotting.activation_curves(num=1),
         Raises(ValueError, ("activation_curves", "num"))),
    _row("activation_curves", "num=2", lambda xp: plotting.activation_curves(num=2),
         Result("two points per curve", lambda r, xp: _equal(
             {len(v[0]) for v in r.values()}, {2}))),
    _row("plot_activations", "missing folder", lambda xp: plotting.plot_activations(NO_DIR),
         Raises(FileNotFoundError, ("plot_activations", "does not exist"))),
    _row("plot_activations", "num=1", lambda xp: plotting.plot_activations("f.png", num=1),
         Raises(ValueError, ("activation_curves", "num"))),
    _row("plot_activations", "path=42", lambda xp: plotting.plot_activations(42),
         Raises(TypeError, ("plot_activations", "path", "got int"))),
    _row("weight_grid", "shape", lambda xp: plotting.weight_grid(np.ones((4, 5)), (3, 2, 2)),
         Raises(ValueError, ("weight_grid", "weights", "(12, H)"))),
    _row("weight_grid", "one filter", lambda xp: plotting.weight_grid(np.ones((3, 1)), (3, 1, 1)),
         _shape_is((1, 1, 3))),
    _row("weight_grid", "padding=-1", lambda xp: plotting.weight_grid(
        np.ones((12, 2)), (3, 2, 2), padding=-1), Raises(ValueError, ("weight_grid", "padding",
                                                                      ">= 0", "-1"))),
    _row("attention_on_image", "model=42", lambda xp: plotting.attention_on_image(
        42, np.ones((1, 4, 4))), Raises(TypeError, ("attention_on_image", "model"))),
    _row("attention_on_image", "image:shape", lambda xp: plotting.attention_on_image(
        _vit(xp), np.ones((2, 4, 4))), Raises(ValueError, ("image",))),
    _row("attention_on_image", "one patch image", lambda xp: plotting.attention_on_image(
        _vit(xp), np.ones((1, 4, 4))), Result("an array", lambda r, xp: _equal(r.ndim >= 2,
                                                                                True))),
    _row("plot_attention", "model=42", lambda xp: plotting.plot_attention(
        "f.png", 42, np.ones((1, 4, 4))), Raises(TypeError, ("attention_on_image", "model"))),
    _row("plot_attention", "missing folder", lambda xp: plotting.plot_attention(
        NO_DIR, _vit(xp), np.ones((1, 4, 4))), Raises(FileNotFoundError, ("does not exist",))),
    _row("plot_attention", "image:shape", lambda xp: plotting.plot_attention(
        "f.png", _vit(xp), np.ones((2, 4, 4))), Raises(ValueError, ("image",))),
    _row("save_training_figure", "loss_history=str", lambda xp: plotting.save_training_figure(
        "f.png", loss_history="abc", train_acc_history=[0.5], val_acc_history=[0.5]),
         Raises(TypeError, ("save_training_figure", "loss_history"))),
    _row("save_training_figure", "missing folder", lambda xp: plotting.save_training_figure(
        NO_DIR, loss_history=[1.0], train_acc_history=[0.5], val_acc_history=[0.5]),
         Raises(FileNotFoundError, ("save_training_figure", "does not exist"))),
    _row("save_training_figure", "empty histories", lambda xp: plotting.save_training_figure(
        "f.png", loss_history=[], train_acc_history=[], val_acc_history=[]),
         Result("a file", lambda r, xp: _equal(os.path.exists("f.png"), True))),
    *[_row("add_arguments", f"{name}: parser=42", lambda xp, m=m: m.add_arguments(42),
           Raises(TypeError, (f"cli.{name}.add_arguments", "parser", "int")))
      for name, m in CLI_MODULES.items()],
    *[_row("run", f"{name}: args=42", lambda xp, m=m: m.run(42),
           Raises(TypeError, (f"cli.{name}.run", "args", "Namespace")))
      for name, m in CLI_MODULES.items()],
    *[_row("run", f"{name}: args empty", lambda xp, m=m: m.run(argparse.Namespace()),
           Raises(ValueError, (f"cli.{name}.run", "args lacks", "backend")))
      for name, m in CLI_MODULES.items()],
    _row("add_arguments", "twice", lambda xp: _twice(cli_plot.add_arguments),
         Raises(Exception, ("conflicting",))),
    _row("add_arguments", "a fresh parser", lambda xp: _parse_plot(["activations"]),
         Result("parses", lambda r, xp: _equal(r.what, "activations"))),
    _row("run", "args empty", lambda xp: cli_plot.run(argparse.Namespace()),
         Raises(ValueError, ("cli.plot.run", "what"))),
    _row("run", "missing folder", lambda xp: cli_plot.run(_parse_plot(
        ["activations", "--out", NO_DIR])), Raises(UsageError, ("--out", "does not exist"))),
    # cases
    _row("get_case", "name='bogus'", lambda xp: pcases.get_case("bogus"),
         Raises(ValueError, ("get_case", "bogus"))),
    _row("get_case", "name=42", lambda xp: pcases.get_case(42),
         Raises(ValueError, ("get_case", "42"))),
    _row("get_case", "name=''", lambda xp: pcases.get_case(""),
         Raises(ValueError, ("get_case",))),
    _row("case_names", "every name resolves", lambda xp: [pcases.get_case(n).name
                                                          for n in pcases.case_names()],
         Result("names", lambda r, xp: _equal(r, pcases.case_names()))),
    _row("case_names", "an argument", lambda xp: pcases.case_names(1), Raises(TypeError, ())),
    _row("case_names", "a copy", lambda xp: pcases.case_names().clear() or pcases.case_names(),
         Result("unchanged", lambda r, xp: _equal(len(r) > 5, True))),
    _row("away_from_zero", "a=list", lambda xp: pcases.away_from_zero([1.0, 2.0]),
         Raises(TypeError, ("away_from_zero", "a"))),
    _row("away_from_zero", "gap=-1", lambda xp: pcases.away_from_zero(np.ones(3), gap=-1),
         Raises(ValueError, ("away_from_zero", "gap"))),
    _row("away_from_zero", "empty", lambda xp: pcases.away_from_zero(np.ones(0)), EMPTY),
    _row("LayerCase", "fields missing", lambda xp: pcases.LayerCase("n", None, None, None),
         Raises(TypeError, ("names",))),
    _row("LayerCase", "a case's inputs", lambda xp: pcases.get_case("affine").make_inputs(
        np.random.default_rng(0)), Result("arrays", lambda r, xp: _equal(len(r), 3))),
    _row("LayerCase", "frozen", lambda xp: setattr(pcases.get_case("affine"), "name", "x"),
         Raises(dataclasses.FrozenInstanceError, ())),
    # pytest_plugin
    _row("namespace", "name='bogus'", lambda xp: pytest_plugin.namespace("bogus"),
         Raises(ValueError, ("bogus",))),
    _row("namespace", "name=42", lambda xp: pytest_plugin.namespace(42),
         Raises(TypeError, ("get_namespace", "not an array namespace", "backend name"))),
    _row("namespace", "numpy_readonly", lambda xp: pytest_plugin.namespace("numpy_readonly"),
         Result("read-only arrays", lambda r, xp: _equal(r.asarray([1.0]).flags.writeable,
                                                         False))),
    _row("selected_backends", "config=42", lambda xp: pytest_plugin.selected_backends(42),
         Raises(TypeError, ("selected_backends", "config"))),
    _row("selected_backends", "bogus name", lambda xp: _selected(monkey="numpy,bogus"),
         Raises(Exception, ("bogus",))),
    _row("selected_backends", "all", lambda xp: _selected(monkey="all"),
         Result("numpy among them", lambda r, xp: _equal("numpy" in r, True))),
    _row("ReadOnlyNumPy", "an argument", lambda xp: pytest_plugin.ReadOnlyNumPy(1),
         Raises(TypeError, ())),
    _row("ReadOnlyNumPy", "asarray", lambda xp: pytest_plugin.ReadOnlyNumPy().asarray(X4),
         Result("read-only", lambda r, xp: _equal(r.flags.writeable, False))),
    _row("ReadOnlyNumPy", "empty", lambda xp: pytest_plugin.ReadOnlyNumPy().zeros((0, 3)),
         EMPTY),
    # gradient_check submodules
    _row("fast_directions", "seed=-1", lambda xp: gc_check.fast_directions(
        (xp.asarray(X4),), -1), Raises(ValueError, ("fast_directions", "seed", "-1"))),
    _row("fast_directions", "inputs=42", lambda xp: gc_check.fast_directions(42, 0),
         Raises(TypeError, ("fast_directions", "inputs"))),
    _row("fast_directions", "no inputs", lambda xp: gc_check.fast_directions((), 0),
         Result("{}", lambda r, xp: _equal(r, {}))),
    _row("central_difference", "h=0", lambda xp: differences.central_difference(
        lambda s: s, 0.0), Raises(ValueError, ("central_difference", "h", "positive"))),
    _row("central_difference", "value_at=42", lambda xp: differences.central_difference(
        42, 1e-5), Raises(TypeError, ("central_difference", "value_at", "callable"))),
    _row("central_difference", "linear", lambda xp: differences.central_difference(
        lambda s: 3.0 * s, 1e-5), Result("3", lambda r, xp: np.testing.assert_allclose(
            float(r), 3.0, rtol=1e-9))),
    _row("available", "oracle='bogus'", lambda xp: oracles.available("bogus"),
         Raises(ValueError, ("available", "oracle", "bogus"))),
    _row("available", "oracle=42", lambda xp: oracles.available(42),
         Raises(TypeError, ("available", "oracle"))),
    _row("available", "numerical", lambda xp: oracles.available("numerical"),
         Result("True", lambda r, xp: _equal(r, True))),
    _row("require", "oracle='bogus'", lambda xp: oracles.require("f", "bogus"),
         Raises(ValueError, ("f", "oracle", "bogus"))),
    _row("require", "oracle=42", lambda xp: oracles.require("f", 42),
         Raises(TypeError, ("f", "oracle"))),
    _row("require", "numerical", lambda xp: oracles.require("f", "numerical"),
         Result("None", lambda r, xp: _equal(r, None))),
    _row("default_oracles", "an argument", lambda xp: oracles.default_oracles(1),
         Raises(TypeError, ())),
    _row("default_oracles", "the numerical oracle", lambda xp: oracles.default_oracles(),
         Result("numerical first", lambda r, xp: _equal(r[0][0], "numerical"))),
    _row("default_oracles", "only available ones", lambda xp: oracles.default_oracles(),
         Result("available", lambda r, xp: _equal(all(oracles.available(o) for o in r[0]),
                                                   True))),
    _row("Entry", "fields missing", lambda xp: reports.Entry(), Raises(TypeError, ("index",))),
    _row("Entry", "frozen", lambda xp: setattr(reports.Entry((0,), 1.0, 1.0), "index", (1,)),
         Raises(dataclasses.FrozenInstanceError, ())),
    _row("Entry", "near a kink", lambda xp: reports.Entry((0,), 1.0, 0.0, near_kink=True),
         Result("kept", lambda r, xp: _equal(r.near_kink, True))),
    _row("GradientCheck", "fields missing", lambda xp: reports.GradientCheck("x"),
         Raises(TypeError, ("oracle",))),
    _row("GradientCheck", "error nan", lambda xp: reports.GradientCheck(
        "x", "numerical", float("nan"), 1e-7, (2,)),
         Result("not ok", lambda r, xp: _equal(bool(getattr(r, "ok", False)), False))),
    _row("GradientCheck", "error = tol", lambda xp: reports.GradientCheck(
        "x", "numerical", 1e-7, 1e-7, (2,)), Result("a report", lambda r, xp: _equal(
            r.error, 1e-7))),
    _row("LayerCheck", "fields missing", lambda xp: reports.LayerCheck(),
         Raises(TypeError, ("name",))),
    _row("LayerCheck", "no checks", lambda xp: reports.LayerCheck("n", ()),
         Result("a report", lambda r, xp: _equal(r.name, "n"))),
    _row("LayerCheck", "forward failed", lambda xp: reports.LayerCheck("n", (), forward_ok=False),
         Result("not ok", lambda r, xp: _equal(bool(getattr(r, "ok", False)), False))),
]


# the functions that had fewer than three rows: a wrong type, a wrong value, a boundary
_ID = (lambda v: v)  # noqa: E731


def _mesh() -> Any:
    return distributed.data_parallel_mesh(1)


def _jax_only(row: Row) -> Row:
    return row if HAVE["jax"] else dataclasses.replace(
        row, expect=Raises(ImportError, ("needs JAX",)))


EXTRA += [
    _row("TrainState", "five fields", lambda xp: pl.TrainState(1, 2, 3, 4, 5),
         Result("named fields", lambda r, xp: _equal(r._fields, ("params", "model_state",
                                                                  "opt_state", "step", "seed")))),
    _row("TrainState", "six fields", lambda xp: pl.TrainState(1, 2, 3, 4, 5, 6),
         Raises(TypeError, ())),
    _row("assert_layer_gradients", "correct layer", lambda xp: gc.assert_layer_gradients(
        pl.tanh_forward, pl.tanh_backward, (xp.asarray(X4),), oracles=("numerical",)),
         Result("ok", lambda r, xp: _equal(r.ok, True))),
    _row("assert_layer_gradients", "inputs=42", lambda xp: gc.assert_layer_gradients(
        pl.tanh_forward, pl.tanh_backward, 42), Raises(TypeError, ("check_layer", "inputs",
                                                                  "Python int"))),
    _row("autodiff_vjp", "dout:shape", lambda xp: gc.autodiff_vjp(
        lambda x: x * 2.0, (xp.asarray(X4),), xp.asarray(np.ones(5))),
         Raises(ValueError, ("autodiff_vjp", "dout")) if HAVE["jax"] else
         Raises(ImportError, ("autodiff_vjp needs JAX",))),
    _row("autodiff_vjp", "empty", lambda xp: gc.autodiff_vjp(
        lambda x: x * 2.0, (xp.asarray(X4[:0]),), xp.asarray(X4[:0])),
         EMPTY if HAVE["jax"] else Raises(ImportError, ("autodiff_vjp needs JAX",))),
    _jax_only(_row("data_parallel_mesh", "devices=99", lambda xp: distributed.data_parallel_mesh(
        99), Raises(ValueError, ("data_parallel_mesh", "devices", "99")))),
    _jax_only(_row("data_parallel_mesh", "devices=1", lambda xp: distributed.data_parallel_mesh(
        1), Result("one device", lambda r, xp: _equal(r.devices.size, 1)))),
    _jax_only(_row("data_parallel_mesh", "devices='a'",
                   lambda xp: distributed.data_parallel_mesh("a"),
                   Raises(TypeError, ("data_parallel_mesh", "devices", "str")))),
    _jax_only(_row("data_parallel_mesh", "devices=[1, 2]",
                   lambda xp: distributed.data_parallel_mesh([1, 2]),
                   Raises(TypeError, ("data_parallel_mesh", "devices", "JAX devices", "int")))),
    _jax_only(_row("data_parallel_mesh", "devices=[]",
                   lambda xp: distributed.data_parallel_mesh([]),
                   Raises(ValueError, ("data_parallel_mesh", "devices", "empty")))),
    _jax_only(_row("data_parallel_mesh", "axis_name=0",
                   lambda xp: distributed.data_parallel_mesh(1, axis_name=0),
                   Raises(TypeError, ("data_parallel_mesh", "axis_name", "int")))),
    _row("eval_numerical_gradient", "h=0", lambda xp: gc.eval_numerical_gradient(
        lambda v: float(np.sum(_compat.to_numpy(v))), xp.asarray(X4), verbose=False, h=0),
         Raises(ValueError, ("eval_numerical_gradient", "h"))),
    _row("eval_numerical_gradient", "x empty", lambda xp: gc.eval_numerical_gradient(
        lambda v: 0.0, xp.asarray(X4[:0]), verbose=False), EMPTY),
    _row("eval_numerical_gradient_array", "x:int", lambda xp: gc.eval_numerical_gradient_array(
        _ID, hostile("int", X4, xp), xp.asarray(X4)),
         Raises(TypeError, ("eval_numerical_gradient_array", "x"))),
    _row("eval_numerical_gradient_array", "x empty",
         lambda xp: gc.eval_numerical_gradient_array(_ID, xp.asarray(X4[:0]), xp.asarray(X4[:0])),
         EMPTY),
    _row("eval_numerical_gradient_array", "f=42",
         lambda xp: gc.eval_numerical_gradient_array(42, xp.asarray(X4), xp.asarray(X4)),
         Raises(TypeError, ("eval_numerical_gradient_array", "f"))),
    _row("fast_check", "inputs:int", lambda xp: pl.fast_check(
        pl.relu_forward, pl.relu_backward, (hostile("int", X4, xp),)),
         Raises(TypeError, ("check_layer", "inputs"))),
    _row("fast_check", "correct layer", lambda xp: pl.fast_check(
        pl.tanh_forward, pl.tanh_backward, (xp.asarray(X4),), oracles=("numerical",)),
         Result("ok", lambda r, xp: _equal(r.ok, True))),
    _row("flatten", "X 1-d", lambda xp: pdata.flatten(xp.asarray(np.ones(3))),
         _shape_is((3, 1))),
    _row("get_update_rule", "name=42", lambda xp: optim.get_update_rule(42),
         Raises(ValueError, ("get_update_rule", "name", "42"))),
    _row("get_update_rule", "adam", lambda xp: optim.get_update_rule("adam"),
         Result("optim.adam", lambda r, xp: _equal(r, optim.adam))),
    _row("init_config", "w empty", lambda xp: optim.init_config("adam", xp.asarray(np.ones(0))),
         Result("zero state of shape (0,)", lambda r, xp: _equal(tuple(r["m"].shape), (0,)))),
    _row("load_cifar10", "root a file", lambda xp: pdata.load_cifar10(__file__),
         Raises(FileNotFoundError, ("load_cifar10", "not a directory"))),
    _row("load_digits", "shapes", lambda xp: pdata.load_digits(),
         Result("(1797, 1, 8, 8)", lambda r, xp: _equal(r[0].shape, (1797, 1, 8, 8))))
    if importlib.util.find_spec("sklearn") else
    _row("load_digits", "shapes", lambda xp: pdata.load_digits(), Raises(ImportError, ())),
    _row("load_digits", "an argument", lambda xp: pdata.load_digits(1), Raises(TypeError, ())),
    _row("make_train_step", "sgd", lambda xp: pl.make_train_step(_model(xp), "sgd"),
         Result("a step function", lambda r, xp: _equal(callable(r), True))),
    _row("numerical_vjp", "dout:shape", lambda xp: gc.numerical_vjp(
        lambda x: x * 2.0, (xp.asarray(X4),), xp.asarray(np.ones(5))),
        Raises(ValueError, ("numerical_vjp", "dout", "(5,)"))),
    _row("numerical_vjp", "dout broadcasts", lambda xp: gc.numerical_vjp(
        lambda x: x * 2.0, (xp.asarray(X4),), xp.asarray(np.ones((1, X4.shape[1])))),
        Raises(ValueError, ("numerical_vjp", "dout", "shape of fn's output"))),
    _row("numerical_vjp", "empty", lambda xp: gc.numerical_vjp(
        lambda x: x * 2.0, (xp.asarray(X4[:0]),), xp.asarray(X4[:0])), EMPTY),
    _row("read_checkpoint_meta", "not a zip", lambda xp: _write_then(
        "bad.npz", b"not a zip", checkpoint.read_checkpoint_meta),
         Raises(ValueError, ("read_checkpoint_meta", "must be an .npz archive"))),
    _row("load_checkpoint", "not a zip", lambda xp: _write_then(
        "bad.npz", b"not a zip", lambda p: checkpoint.load_checkpoint(p, _model(xp))),
         Raises(ValueError, ("load_checkpoint", "must be an .npz archive"))),
    _jax_only(_row("replicate", "tree {}", lambda xp: distributed.replicate(_mesh(), {}),
                   Result("{}", lambda r, xp: _equal(r, {})))),
    _jax_only(_row("replicate", "tree=42", lambda xp: distributed.replicate(_mesh(), 42),
                   Raises(TypeError, ("replicate", "tree", "int")))),
    _jax_only(_row("replicate", "tree with a list", lambda xp: distributed.replicate(
        _mesh(), {"W1": xp.asarray(X4), "b1": [1.0]}), Raises(TypeError, ("replicate", "tree")))),
    _jax_only(_row("shard_batch", "no arrays", lambda xp: distributed.shard_batch(_mesh()),
                   Result("()", lambda r, xp: _equal(r, ())))),
    _jax_only(_row("shard_batch", "arrays=list", lambda xp: distributed.shard_batch(
        _mesh(), [1, 2]), Raises(TypeError, ("shard_batch", "list", "xp.asarray")))),
    _jax_only(_row("shard_batch", "0-d", lambda xp: distributed.shard_batch(
        _mesh(), xp.asarray(1.0)), Raises(ValueError, ("shard_batch", "0-d")))),
    _row("scaled_error", "list", lambda xp: gc.scaled_error([1.0], xp.asarray(X4)),
         Raises(ValueError, ("scaled_error", "shapes"))),
    _row("scaled_error", "empty", lambda xp: gc.scaled_error(xp.asarray(X4[:0]),
                                                             xp.asarray(X4[:0])),
         Result("0.0", lambda r, xp: _equal(r, 0.0))),
    _row("tolerance", "dtype=42", lambda xp: gc.tolerance(42, "numerical"),
         Raises(TypeError, ("tolerance", "dtype"))),
    _row("tolerance", "dtype=int64", lambda xp: gc.tolerance("int64", "numerical"),
         Raises(TypeError, ("tolerance", "dtype"))),
    _row("tolerance", "float32", lambda xp: gc.tolerance("float32", "numerical"),
         Result("looser than float64", lambda r, xp: _equal(
             r > gc.tolerance("float64", "numerical"), True))),
    _row("torch_vjp", "empty", lambda xp: gc.torch_vjp(
        lambda x: x * x, (xp.asarray(X4[:0]),), xp.asarray(X4[:0])),
         EMPTY if HAVE["torch"] else Raises(ImportError, ("torch_vjp needs PyTorch",))),
    _row("torch_vjp", "fn=42", lambda xp: gc.torch_vjp(
        42, (xp.asarray(X4),), xp.asarray(X4)),  # checked before PyTorch is imported
         Raises(TypeError, ("torch_vjp", "fn", "callable"))),
    _row("to_backend", "xp='foo'", lambda xp: pdata.to_backend({}, "foo"),
         Raises(ValueError, ("foo",))),
    _row("to_backend", "empty dict", lambda xp: pdata.to_backend({}, "numpy"),
         Result("{}", lambda r, xp: _equal(r, {}))),
]


# -- the gradient checker's inner pieces and the plugin's helpers (issue 21, item 8) --------
def _run(xp: Any) -> Any:
    """A good ``Run`` of tanh on X4."""
    return gc_analytic.run_pair("t", pl.tanh_forward, pl.tanh_backward, (xp.asarray(X4),),
                                None, None, 0)


def _in_backend(name: Any) -> Any:
    with pytest_plugin.backend(name) as ns:
        return ns


_NOT_RUN = "must be a Run"
EXTRA += [
    _row("Probe", "fields missing", lambda xp: gc_kinks.Probe(), Raises(TypeError, ("central",))),
    _row("Probe", "frozen", lambda xp: setattr(gc_kinks.Probe(1.0, 1.0, 0.0, 1.0, 1.0),
                                               "central", 2.0),
         Raises(dataclasses.FrozenInstanceError, ())),
    _row("Probe", "all zero: at_kink(0)", lambda xp: gc_kinks.Probe(0.0, 0.0, 0.0, 0.0, 0.0)
         .at_kink(0.0), Result("True (0 >= 0.25 * 0)", lambda r, xp: _equal(r, True))),
    _row("probe", "line=42", lambda xp: gc_kinks.probe(42, 1e-5),
         Raises(TypeError, ("probe", "line", "callable"))),
    _row("probe", "h=0", lambda xp: gc_kinks.probe(lambda s: s, 0.0),
         Raises(ValueError, ("probe", "h", "positive"))),
    _row("probe", "h=nan", lambda xp: gc_kinks.probe(lambda s: s, float("nan")),
         Raises(ValueError, ("probe", "h", "nan"))),
    _row("probe", "a straight line", lambda xp: gc_kinks.probe(lambda s: 3.0 * s, 1e-5),
         Result("slope 3, no step dependence", lambda r, xp: _equal(
             (round(r.central, 9), round(r.low, 9), round(r.high, 9), r.signature < 1e-9),
             (3.0, 3.0, 3.0, True)))),
    _row("entry_line", "run=42", lambda xp: gc_kinks.entry_line(42, 0, (0, 0)),
         Raises(TypeError, ("entry_line", "run", _NOT_RUN))),
    _row("entry_line", "ix out of range", lambda xp: gc_kinks.entry_line(_run(xp), 0, (9, 9)),
         Raises(ValueError, ("entry_line", "ix", "(4, 3)", "(9, 9)"))),
    _row("entry_line", "i not an input", lambda xp: gc_kinks.entry_line(_run(xp), 1, (0, 0)),
         Raises(ValueError, ("entry_line", "i", "got 1"))),
    _row("entry_line", "last entry, step 0", lambda xp: gc_kinks.entry_line(
        _run(xp), 0, (3, 2))(0.0), Result("sum(tanh(x) * dout)", lambda r, xp: _equal(
            isinstance(r, float) and math.isfinite(r), True))),
    _row("Run", "fields missing", lambda xp: gc_analytic.Run(), Raises(TypeError, ("value",))),
    _row("Run", "from run_pair", _run, Result("one floating input, its gradient", lambda r, xp:
                                              _equal((r.float_idx, r.grads[0].shape),
                                                     ([0], (4, 3))))),
    _row("Run", "floor at tol=0", lambda xp: _run(xp).floor(0, 0.0, "numerical", 1e-5),
         Result("inf", lambda r, xp: _equal(r, math.inf))),
    _row("run_pair", "forward=42", lambda xp: gc_analytic.run_pair(
        "f", 42, None, (xp.asarray(X4),), None, None, 0),
         Raises(TypeError, ("f:", "forward", "callable"))),
    _row("run_pair", "inputs=42", lambda xp: gc_analytic.run_pair(
        "f", pl.tanh_forward, pl.tanh_backward, 42, None, None, 0),
         Raises(TypeError, ("f:", "inputs", "Python int"))),
    _row("run_pair", "forward returns a bare array", lambda xp: gc_analytic.run_pair(
        "f", lambda x: x, pl.tanh_backward, (xp.asarray(X4),), None, None, 0),
         Raises(TypeError, ("f:", "forward", "pair"))),
    _row("run_pair", "integer inputs only", lambda xp: gc_analytic.run_pair(
        "f", pl.tanh_forward, pl.tanh_backward, (hostile("int", X4, xp),), None, None, 0),
         Raises(TypeError, ("f:", "at least one floating"))),
    _row("fast_projection", "run=42", lambda xp: gc_fast.fast_projection(42, 1e-5, 0),
         Raises(TypeError, ("fast_projection", "run", _NOT_RUN))),
    _row("fast_projection", "h=0", lambda xp: gc_fast.fast_projection(_run(xp), 0.0, 0),
         Raises(ValueError, ("fast_projection", "h", "positive"))),
    _row("fast_projection", "seed=-1", lambda xp: gc_fast.fast_projection(_run(xp), 1e-5, -1),
         Raises(ValueError, ("fast_directions", "seed", "-1"))),
    _row("fast_projection", "a correct layer", lambda xp: gc_fast.fast_projection(
        _run(xp), 1e-5, 0), Result("vᵀJd = its difference", lambda r, xp:
                                   np.testing.assert_allclose(r[1], r[0], rtol=1e-6))),
    _row("partial", "value_at=42", lambda xp: differences.partial(42, 1.0, 1e-5),
         Raises(TypeError, ("central_difference", "value_at", "callable"))),
    _row("partial", "dout:shape", lambda xp: differences.partial(
        lambda s: xp.asarray(np.ones(3)) * s, xp.asarray(np.ones(4)), 1e-5),
         Raises(ValueError, ("numerical_vjp", "dout", "(3,)", "(4,)"))),
    _row("partial", "h=0", lambda xp: differences.partial(lambda s: s, 1.0, 0.0),
         Raises(ValueError, ("central_difference", "h", "positive"))),
    _row("partial", "scalar dout", lambda xp: differences.partial(
        lambda s: xp.asarray(np.ones(3)) * s, 2.0, 1e-5),
         Result("6 (= 3 entries * slope 1 * 2)", lambda r, xp: np.testing.assert_allclose(
             r, 6.0, rtol=1e-9))),
    _row("backend", "name=42", lambda xp: _in_backend(42),
         Raises(TypeError, ("get_namespace", "not an array namespace", "backend name"))),
    _row("backend", "name='bogus'", lambda xp: _in_backend("bogus"),
         Raises(ValueError, ("get_namespace", "unknown backend", "bogus"))),
    _row("backend", "numpy_readonly", lambda xp: _in_backend("numpy_readonly"),
         Result("read-only arrays", lambda r, xp: _equal(r.asarray([1.0]).flags.writeable,
                                                         False))),
    _row("check_cases", "cases=42", lambda xp: pytest_plugin.check_cases(42),
         Raises(TypeError, ("check_cases", "cases", "got int"))),
    _row("check_cases", "cases=[1]", lambda xp: pytest_plugin.check_cases([1]),
         Raises(TypeError, ("check_cases", "cases", "['int']"))),
    _row("check_cases", "cases=[]", lambda xp: pytest_plugin.check_cases([]),
         Raises(TypeError, ("check_cases", "cases", "empty"))),
    _row("check_cases", "one case", lambda xp: pytest_plugin.check_cases(
        [pcases.get_case("affine")]), Result("a test function", lambda r, xp: _equal(
            callable(r), True))),
]
# -- end of the gradient checker's inner pieces --


def _write_then(name: str, content: bytes, call: Callable[[str], Any]) -> Any:
    """Write ``content`` to ``name`` in the row's folder, call ``call(name)``, then remove
    the file (the table asserts that no .npz is left behind)."""
    with open(name, "wb") as f:
        f.write(content)
    try:
        return call(name)
    finally:
        os.remove(name)



def _twice(add: Callable[[Any], None]) -> Any:
    import argparse

    parser = argparse.ArgumentParser()
    add(parser)
    add(parser)


def _parse_plot(argv: list[str]) -> Any:
    import argparse

    parser = argparse.ArgumentParser()
    cli_plot.add_arguments(parser)
    return parser.parse_args(argv)


def _selected(monkey: str) -> Any:
    config = mock.Mock()
    config.getoption.return_value = None
    with mock.patch.dict(os.environ, {"PORTABLE_LAYERS_BACKENDS": monkey}):
        return pytest_plugin.selected_backends(config)



def _equal(a: Any, b: Any) -> None:
    assert a == b, (a, b)


def _without(module: str, call: Callable[[], Any]) -> Any:
    """``call()`` as if ``module`` were not installed."""
    with mock.patch.dict(sys.modules, {module: None}):
        return call()


def _adjust() -> None:
    """Rows whose documented outcome differs from the generic one."""
    for spec in SPECS:
        kinds = spec.kinds
        if len(spec.args) == 1:  # one array argument: nothing to mix it with
            kinds[next(iter(kinds))].pop("mixed", None)
        if spec.name in ("affine_relu_backward", "conv_relu_backward",
                         "affine_norm_relu_backward"):  # relu checks dout
            for kind in ("int", "bool", "complex", "ndim", "shape"):
                kinds["dout"][kind] = Raises(kinds["dout"][kind].exc, ("relu_backward", "dout"))
            te = Raises(TypeError, ("relu_backward", "dout"))
            kinds["dout"].update({"list": te, "scalar": te, "mixed": te})
        if spec.name == "conv_relu_pool_backward":  # the pool checks dout first
            for kind in ("int", "bool", "complex", "list", "scalar", "mixed", "ndim", "shape"):
                old = kinds["dout"][kind]
                assert isinstance(old, Raises)
                kinds["dout"][kind] = Raises(old.exc, ("max_pool_backward", "dout")
                                             if kind != "mixed" else ("max_pool_backward",
                                                                      "one array library"))
        if spec.name == "spatial_batchnorm_backward":  # dout goes on to batchnorm_backward
            for kind in ("int", "bool", "complex", "shape"):
                kinds["dout"][kind] = Raises(kinds["dout"][kind].exc,
                                             ("batchnorm_backward", "dout"))
    by_name = {spec.name: spec.kinds for spec in SPECS}
    by_name["affine_forward"]["x"]["ndim"] = Result(  # (4, 3, 1) flattens to (4, 3)
        "flattened", lambda r, xp: _equal(tuple(r[0].shape), (4, 2)))
    by_name["svm_loss"]["x"].pop("shape")  # (4, 4) scores: one more class, labels still valid
    by_name["conv_forward"]["x"].pop("shape")  # a wider image is a valid input
    by_name["conv_forward"]["w"].pop("shape")  # a wider kernel is a valid kernel


_adjust()
# sandwich layers: their parts' rows, as adjusted above
AFFINE = {a: ("affine_forward", a) for a in ("x", "w", "b")}
GAMMA2 = np.ones(2)  # gamma for affine_forward's M = 2 outputs
CONV3 = {a: ("conv_forward", a) for a in ("x", "w", "b")}
SPECS += [
    _composite("affine_relu_forward", pl.affine_relu_forward, AFFINE),
    _composite("affine_norm_relu_forward", pl.affine_norm_relu_forward, AFFINE),
    _composite("affine_norm_relu_forward[batchnorm]",
               lambda x, w, b, gamma, beta: pl.affine_norm_relu_forward(
                   x, w, b, gamma, beta, {"mode": "train"}, "batchnorm"),
               {**AFFINE, "gamma": ("batchnorm_forward", "gamma")}, gamma=GAMMA2,
               beta=np.zeros(2)),
    _composite("conv_relu_forward", lambda x, w, b: pl.conv_relu_forward(x, w, b, CONV), CONV3),
    _composite("conv_relu_pool_forward",
               lambda x, w, b: pl.conv_relu_pool_forward(x, w, b, CONV, POOL), CONV3),
]

SPECS[-3].kinds["x"]["empty"] = _ve("batchnorm_forward", "x", "at least one")


# -- issue 21 (solver helper): update-rule configs, the Solver's data, seed, folder ------


def _rule_call(xp: Any, rule: str, dtype: str = "float64", **config: Any) -> Any:
    w = xp.asarray(X4.astype(dtype))
    return getattr(optim, rule)(w, w * 0.5, config)


def _f32(r: Any, xp: Any) -> None:
    _equal(_compat.dtype_name(r[0].dtype), "float32")


def _solver_replaced(xp: Any, key: str, value: np.ndarray) -> Any:
    solver = pl.Solver(_model(xp), _data(xp), verbose=False, seed=0, num_epochs=1,
                       batch_size=2)
    setattr(solver, key, value)
    solver.train()


F32 = Result("float32 weights", _f32)
EXTRA += [
    *[_row(rule, f"config:{key} float64, w float32", lambda xp, r=rule, k=key: _rule_call(
        xp, r, "float32", **{k: xp.asarray(np.zeros(X4.shape))}),
        Raises(TypeError, (rule, f"config['{key}']", "dtype")))
      for rule, key in [("adam", "m"), ("adam", "v"), ("sgd_momentum", "velocity"),
                        ("rmsprop", "cache")]],
    *[_row(rule, "config:learning_rate np.float64, w float32", lambda xp, r=rule: _rule_call(
        xp, r, "float32", learning_rate=np.float64(1e-3)), F32) for rule in optim.UPDATE_RULES],
    _row("adam", "config:learning_rate 0-d float64 array, w float32", lambda xp: _rule_call(
        xp, "adam", "float32", learning_rate=xp.asarray(np.float64(1e-3))), F32),
    _row("sgd_momentum", "config:velocity (3, 4, 2)", lambda xp: optim.sgd_momentum(
        xp.asarray(X4), xp.asarray(X4), {"velocity": xp.asarray(np.zeros((4, 3, 2)))}),
         Raises(ValueError, ("sgd_momentum", "config['velocity']", "shape"))),
    _row("sgd_momentum", "config:velocity other library", lambda xp: optim.sgd_momentum(
        xp.asarray(X4), xp.asarray(X4), {"velocity": _other_library(xp, np.zeros(X4.shape))}),
         Raises(TypeError, ("sgd_momentum", "config['velocity']"))),
    _row("adam", "config:m list", lambda xp: _rule_call(xp, "adam", m=np.zeros(X4.shape).tolist()),
         Raises(TypeError, ("adam", "config['m']", "array"))),
    *[_row(rule, "config:learning_rate=-1", lambda xp, r=rule: _rule_call(
        xp, r, learning_rate=-1), Raises(ValueError, (rule, "config['learning_rate']", "> 0")))
      for rule in optim.UPDATE_RULES],
    *[_row(rule, f"config:learning_rate={v!r}", lambda xp, r=rule, v=v: _rule_call(
        xp, r, learning_rate=v), Raises(exc, (rule, "config['learning_rate']")))
      for rule in ("sgd", "adam") for v, exc in [("1e-3", TypeError), (None, TypeError),
                                                 (True, TypeError), (float("nan"), ValueError),
                                                 (float("inf"), ValueError), (0, ValueError)]],
    *[_row(rule, f"config:{key}={v!r}", lambda xp, r=rule, k=key, v=v: _rule_call(
        xp, r, **{k: v}), Raises(ValueError, (rule, f"config['{key}']", "[0, 1)")))
      for rule, key in [("adam", "beta1"), ("adam", "beta2"), ("sgd_momentum", "momentum"),
                        ("rmsprop", "decay_rate")] for v in (1.5, 1.0, -0.1)],
    *[_row(rule, "config:epsilon=0", lambda xp, r=rule: _rule_call(xp, r, epsilon=0.0),
           Raises(ValueError, (rule, "config['epsilon']", "> 0")))
      for rule in ("adam", "rmsprop")],
    _row("adam", "config:t=-1", lambda xp: _rule_call(xp, "adam", t=-1),
         Raises(ValueError, ("adam", "config['t']", ">= 0"))),
    _row("adam", "config:t=1.5", lambda xp: _rule_call(xp, "adam", t=1.5),
         Raises(TypeError, ("adam", "config['t']"))),
    _row("adam", "config:t 0-d float array", lambda xp: _rule_call(xp, "adam",
                                                                   t=xp.asarray(1.0)),
         Raises(TypeError, ("adam", "config['t']"))),
    _row("adam", "config:t 0-d int array", lambda xp: _rule_call(
        xp, "adam", t=xp.asarray(np.int64(4))), Result("t + 1", lambda r, xp: _equal(
            int(r[1]["t"]), 5))),
    _row("init_config", "config:beta2=2", lambda xp: optim.init_config(
        "adam", xp.asarray(X4), {"beta2": 2}), Raises(ValueError, ("adam", "config['beta2']"))),
    _row("get_update_rule", "name=42", lambda xp: optim.get_update_rule(42),  # type: ignore
         Raises(ValueError, ("get_update_rule", "name"))),
    _row("state_keys", "name='bogus'", lambda xp: optim.state_keys("bogus"),
         Raises(ValueError, ("get_update_rule", "name", "bogus"))),
    _row("state_keys", "name=None", lambda xp: optim.state_keys(None),  # type: ignore
         Raises(ValueError, ("name", "None"))),
    _row("state_keys", "name='adam'", lambda xp: optim.state_keys("adam"),
         Result("m, v, t", lambda r, xp: _equal(r, ("m", "v", "t")))),
    _row("Solver", "y_train + 7 after construction", lambda xp: _solver_replaced(
        xp, "y_train", Y4 + 7), Raises(ValueError, ("Solver", "y_train", "[0, 3)"))),
    _row("Solver", "X_train:inf after construction", lambda xp: _solver_replaced(
        xp, "X_train", _with(X4, np.inf)), Raises(ValueError, ("Solver", "X_train", "finite"))),
    _row("Solver", "X_val:nan", lambda xp: _solver(xp, _data(xp, X_val=_with(X4, np.nan))),
         Raises(ValueError, ("Solver", "X_val", "finite"))),
    _row("Solver", "X_val:shape after construction", lambda xp: _solver_replaced(
        xp, "X_val", np.ones((4, 5))), Raises(ValueError, ("Solver", "X_val"))),
    _row("Solver", "seed=-1", lambda xp: pl.Solver(_model(xp), _data(xp), seed=-1),
         Raises(ValueError, ("Solver", "seed"))),
    _row("Solver", "seed='0'", lambda xp: pl.Solver(_model(xp), _data(xp), seed="0"),
         Raises(ValueError, ("Solver", "seed"))),
    _row("Solver", "seed=2**40", lambda xp: pl.Solver(
        _model(xp), _data(xp), seed=2**40, verbose=False, num_epochs=1).train(),
         Result("trains", lambda r, xp: None)),
    _row("Solver", "checkpoint_name=/missing/dir/ck", lambda xp: pl.Solver(
        _model(xp), _data(xp), checkpoint_name="/missing/dir/ck"),
         Raises(ValueError, ("Solver", "checkpoint_name", "/missing/dir"))),
    _row("Solver", "optim_config beta1=1.5", lambda xp: pl.Solver(
        _model(xp), _data(xp), update_rule="adam", optim_config={"beta1": 1.5}),
         Raises(ValueError, ("adam", "config['beta1']", "[0, 1), got 1.5"))),
    _row("Solver", "optim_config learning_rate='1e-3'", lambda xp: pl.Solver(
        _model(xp), _data(xp), optim_config={"learning_rate": "1e-3"}),
         Raises(TypeError, ("sgd", "config['learning_rate']"))),
]
# -- end of the solver helper's block ----------------------------------------------------


# -- model constructors: floating dtypes only, seeds non-negative integers (models branch) --
_CONSTRUCTORS = {
    TPL: lambda xp, **kw: pl.TwoLayerPerceptron(4, 3, 2, xp=base_namespace(xp), **kw),
    FCN: lambda xp, **kw: pl.FullyConnectedNet([3], 4, 2, xp=base_namespace(xp), **kw),
    "ThreeLayerConvNet": lambda xp, **kw: pl.ThreeLayerConvNet((1, 4, 4), 2, 3, 3, 2,
                                                               xp=base_namespace(xp), **kw),
    "VisionTransformer": lambda xp, **kw: pl.VisionTransformer((1, 4, 4), 2, 4, 1, 2,
                                                               xp=base_namespace(xp), **kw),
}
EXTRA += [
    *[_row(name, f"dtype={dt.__name__}", lambda xp, b=build, d=dt: b(xp, dtype=d),
           Raises(TypeError, (name, "dtype")))
      for name, build in _CONSTRUCTORS.items() for dt in (np.int64, np.bool_)],
    *[_row(name, f"seed={v!r}", lambda xp, b=build, v=v: b(xp, seed=v), Raises(exc, (name, "seed")))
      for name, build in _CONSTRUCTORS.items()
      for v, exc in ((-1, ValueError), (1.5, TypeError), ("0", TypeError))],
    *[_row(name, "seed=2**40", lambda xp, b=build: b(xp, seed=2**40, dtype="float32"), ok_result)
      for name, build in _CONSTRUCTORS.items()],
    # a layer width that cannot fit: refused before any allocation, naming the parameter
    *[_row(name, "width 10**11", lambda xp, b=build: b(xp), Raises(MemoryError, (
        name, weight, "memory available"))) for name, weight, build in (
        (TPL, "W1", lambda xp: pl.TwoLayerPerceptron(4, 10**11, 2, xp=base_namespace(xp))),
        (FCN, "W1", lambda xp: pl.FullyConnectedNet([10**11], 4, 2, xp=base_namespace(xp))),
        ("ThreeLayerConvNet", "W2", lambda xp: pl.ThreeLayerConvNet(
            (1, 4, 4), 2, 3, 10**11, 2, xp=base_namespace(xp))),
        ("VisionTransformer", "W_qkv1", lambda xp: pl.VisionTransformer(
            (1, 4, 4), 2, 10**6, 1, 2, xp=base_namespace(xp))))],
]
# -- end of the models branch's block --


ROWS: list[Row] = [_spec_row(spec, arg, kind) for spec in SPECS
                   for arg, kinds in spec.kinds.items() for kind in kinds] + EXTRA
COUNTS = collections.Counter(row.func for row in ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.func}-{r.kind}" for r in ROWS])
def test_hostile_input(xp: Any, row: Row, tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)  # checkpoint rows write (or refuse to write) here
    thunk, inputs = row.make(xp)
    before = [np.array(_compat.to_numpy(a), copy=True) for a in inputs
              if _compat.is_array_api_obj(a)]
    non_finite = row.kind.endswith((":nan", ":inf"))
    with np.errstate(all="ignore") if non_finite else np.errstate():
        if isinstance(row.expect, Raises):
            with pytest.raises(row.expect.exc) as info:
                thunk()
            for fragment in row.expect.fragments:
                assert fragment in str(info.value), (fragment, str(info.value))
        else:
            row.expect.check(thunk(), xp)
    after = [np.asarray(_compat.to_numpy(a)) for a in inputs if _compat.is_array_api_obj(a)]
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b, err_msg="an input was mutated")
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".npz")], "a refused write wrote"


#: The modules whose public functions need rows besides ``portable_layers.__all__``.
MODULES = (gc, optim, pdata, checkpoint, distributed)


def _wider_modules() -> tuple[Any, ...]:
    """Issue 21's wider walk: plotting, every public ``cs231n.*`` module, cases, the pytest
    plugin and the ``gradient_check`` submodules (their classes count too)."""
    import importlib
    import pkgutil

    import portable_layers.cs231n as course
    from portable_layers import gradient_check

    names = ["portable_layers.plotting", "portable_layers.cases",
             "portable_layers.pytest_plugin", "portable_layers.cs231n"]
    for package in (course, gradient_check):
        names += [m.name for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
                  if not any(part.startswith("_") for part in m.name.split("."))]
    return tuple(importlib.import_module(n) for n in names)


WIDER = _wider_modules()


def _exported(module: Any) -> list[str]:
    return getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]


def public_functions() -> set[str]:
    """Every public function and class of ``portable_layers.__all__`` (modules aside), every
    public function in the ``__all__`` of :data:`MODULES`, and every public function and
    class of :data:`WIDER`, computed, so a name added to any of them needs rows here."""
    names = {n for n in pl.__all__
             if inspect.isfunction(getattr(pl, n)) or inspect.isclass(getattr(pl, n))}
    for module in MODULES:
        names |= {n for n in _exported(module) if inspect.isfunction(getattr(module, n))}
    for module in WIDER:
        names |= {n for n in _exported(module) if inspect.isfunction(getattr(module, n, None))
                  or inspect.isclass(getattr(module, n, None))}
    return names


def covered_functions() -> set[str]:
    """Functions with at least one row ("TwoLayerPerceptron.loss" covers the class too)."""
    return {m.group(0) for f in COUNTS if (m := re.match(r"\w+", f))}


def test_every_public_function_has_hostile_rows() -> None:
    """Every public layer, loss, update rule, model, loader, checker and helper has rows;
    no exemptions."""
    public = public_functions()
    missing = sorted(public - covered_functions())
    print("hostile cases per function:", dict(sorted(COUNTS.items())))
    assert not missing, f"public functions without a row in tests/test_hostile.py: {missing}"
    assert {"affine_forward", "adam", "check_layer", "load_cifar10", "save_checkpoint",
            "full_batch_loss_and_grads", "TwoLayerPerceptron"} <= public  # the walk works


def rows_per_function() -> collections.Counter[str]:
    """Rows per public name: ``TwoLayerPerceptron.loss`` and ``f[variant]`` count for the
    name they start with."""
    counts: collections.Counter[str] = collections.Counter()
    for func, count in COUNTS.items():
        if m := re.match(r"\w+", func):
            counts[m.group(0)] += count
    return counts


#: Functions with fewer than three rows today (a wrong type, a wrong value, a boundary),
#: each a debt of issue 21 to pay off: the list may only shrink.
FEWER_THAN_THREE: frozenset[str] = frozenset()


def test_every_public_function_has_three_rows() -> None:
    """Issue 21: a wrong type, a wrong shape or value and a boundary value, at least."""
    counts = rows_per_function()
    thin = {n for n in public_functions() if counts[n] < 3}
    assert thin <= FEWER_THAN_THREE, sorted((n, counts[n]) for n in thin - FEWER_THAN_THREE)
    assert not FEWER_THAN_THREE - thin, f"paid off, drop from the list: {FEWER_THAN_THREE - thin}"


def test_the_wider_walk_covers_the_issues_modules() -> None:
    names = {m.__name__ for m in WIDER}
    assert {"portable_layers.plotting", "portable_layers.cases", "portable_layers.pytest_plugin",
            "portable_layers.cs231n.layers", "portable_layers.cs231n.fast_layers",
            "portable_layers.cs231n.vis_utils", "portable_layers.gradient_check.oracles",
            "portable_layers.gradient_check.differences"} <= names, names
    assert {"visualize_grid", "conv_forward_fast", "central_difference", "LayerCase",
            "weight_grid", "selected_backends"} <= public_functions()


def test_the_coverage_walk_sees_a_new_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """A function added to a walked module's ``__all__`` without rows is reported."""
    def brand_new(x: Any) -> Any:
        return x

    monkeypatch.setattr(optim, "brand_new", brand_new, raising=False)
    monkeypatch.setattr(optim, "__all__", [*optim.__all__, "brand_new"])
    assert "brand_new" in public_functions() - covered_functions()


if __name__ == "__main__":  # python tests/test_hostile.py: the counts the reliability page cites
    for func, count in sorted(COUNTS.items()):
        print(f"{func:40s} {count:4d}")
    print(f"{len(ROWS)} rows for {len(covered_functions())} public functions, each run on "
          "every backend of the xp fixture")
