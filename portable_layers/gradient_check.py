"""Gradient checking: finite differences and JAX autodiff as two independent oracles.

A hand-written backward pass computes the vector-Jacobian product (VJP)
``d/d(input) sum(forward(*inputs) * dout)`` for every input.  This module computes
the same quantity two other ways and compares:

* :func:`numerical_vjp`: central finite differences, one entry at a time, on the
  inputs' own backend.  Needs nothing but the layer itself.
* :func:`autodiff_vjp`: the function traced by JAX (``jax.vjp``) in float64,
  whatever backend the inputs come from and whatever the process's x64 setting.

Kinks
-----
At a point where the function is not differentiable, the three legitimately
disagree: ReLU's hand-written backward uses the subgradient 0 at ``x == 0``, JAX's
gradient of ``maximum(x, 0)`` there is 0.5, and a central difference straddling the
kink gives the average slope of the two sides.  The same holds at the hinge of the
SVM loss (a margin of exactly 0) and at ties in a max.  A central difference with
step ``h`` is also wrong whenever a kink lies within ``h`` of the point.  So checks
must use inputs a safe distance (well above ``h``) from every kink; the cases in
:mod:`portable_layers.cases` are built that way.

Tolerances
----------
:func:`check_layer` compares with the *scaled error*
``max|analytic - oracle| / max(max|oracle|, tiny)``, which, unlike the seed's
element-wise :func:`rel_error`, does not blow up on entries that are zero up to
rounding.  The default tolerances follow the dtype of the hand-written result:

====================  ===========  ==============================================
oracle                float64      float32 (and other dtypes: see ``tolerance``)
====================  ===========  ==============================================
``"autodiff"``        1e-8         1e-4: some 1000 float32 roundings
``"numerical"``       1e-6         1e-4
====================  ===========  ==============================================

The autodiff oracle is exact up to float64 rounding, so its float64 tolerance
leaves room only for rounding in the layer itself.  Central differences with
``h = 1e-5`` in float64 carry a truncation error of order ``h**2 * f'''`` (1e-10)
and a rounding error of order ``eps * |f| / h`` (1e-11 * |f|), so 1e-6 allows
for functions with a large value or curvature.  Both oracles always run in
float64 (float32 inputs are promoted, on JAX inside ``jax.enable_x64``), so for a
float32 layer the error measured is the layer's own float32 rounding, bounded by
about ``n * eps32`` for sums of ``n`` terms.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import _compat
from ._compat import device, float64_context, from_numpy, to_numpy

__all__ = [
    "GradientCheck",
    "LayerCheck",
    "autodiff_vjp",
    "check_layer",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "numerical_vjp",
    "rel_error",
    "scaled_error",
    "tolerance",
]

Array = Any
ORACLES = ("numerical", "autodiff")


# ---------------------------------------------------------------------------
# The seed's helpers, portable and never writing into x
# ---------------------------------------------------------------------------


def _perturbed(xp: Any, base: np.ndarray, x: Array) -> Callable[[tuple[int, ...], float], Array]:
    """A function giving ``x`` with one entry replaced, as a new array of x's backend."""

    def at(ix: tuple[int, ...], value: float) -> Array:
        old = base[ix]
        base[ix] = value
        try:
            return from_numpy(base, xp, dtype=x.dtype, device=device(x))
        finally:
            base[ix] = old

    return at


def _host_copy(x: Array) -> np.ndarray:
    return np.array(to_numpy(x), copy=True)


def eval_numerical_gradient(
    f: Callable[[Array], Any], x: Array, verbose: bool = True, h: float = 0.00001
) -> Array:
    """Numerical gradient of a scalar function ``f`` at ``x`` by central differences.

    The seed's helper, on any backend: each entry of ``x`` in turn is moved by
    ``+h`` and ``-h`` in a fresh array (``x`` itself is never written into, so JAX's
    immutable arrays work too) and ``(f(x + h) - f(x - h)) / (2h)`` is recorded.

    Parameters
    ----------
    f : callable
        Takes an array like ``x`` and returns a scalar (a 0-d array or a number).
    x : floating array
        The point.
    verbose : bool
        Print each index and partial derivative, as the seed does.
    h : float
        Step.

    Returns
    -------
    grad : array of x's shape, dtype and namespace

    Examples
    --------
    >>> import numpy as np
    >>> g = eval_numerical_gradient(lambda v: (v**2).sum(), np.array([1.0, 2.0]), verbose=False)
    >>> np.round(g, 6)
    array([2., 4.])
    """
    xp = _compat.array_namespace("eval_numerical_gradient", x=x)
    base = _host_copy(x)
    at = _perturbed(xp, base, x)
    grad = np.zeros(base.shape, dtype=base.dtype)
    for ix in np.ndindex(*base.shape):
        old = float(base[ix])
        fxph = f(at(ix, old + h))
        fxmh = f(at(ix, old - h))
        grad[ix] = float((fxph - fxmh) / (2 * h))
        if verbose:
            print(ix, grad[ix])
    return from_numpy(grad, xp, dtype=x.dtype, device=device(x))


def eval_numerical_gradient_array(
    f: Callable[[Array], Array], x: Array, df: Array, h: float = 1e-5
) -> Array:
    """Numerical VJP ``d/dx sum(f(x) * df)`` of an array function by central differences.

    The seed's helper, on any backend and without writing into ``x``: entry ``ix`` of
    the result is ``sum((f(x + h e_ix) - f(x - h e_ix)) * df) / (2h)``.

    Returns
    -------
    grad : array of x's shape, dtype and namespace

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([1.0, 2.0])
    >>> np.round(eval_numerical_gradient_array(lambda v: 3 * v, x, np.ones(2)), 6)
    array([3., 3.])
    """
    xp = _compat.array_namespace("eval_numerical_gradient_array", x=x)
    base = _host_copy(x)
    at = _perturbed(xp, base, x)
    grad = np.zeros(base.shape, dtype=base.dtype)
    for ix in np.ndindex(*base.shape):
        old = float(base[ix])
        pos = f(at(ix, old + h))
        neg = f(at(ix, old - h))
        rxp = _compat.array_namespace("eval_numerical_gradient_array", out=pos)
        grad[ix] = float(rxp.sum((pos - neg) * df) / (2 * h))
    return from_numpy(grad, xp, dtype=x.dtype, device=device(x))


def rel_error(x: Any, y: Any) -> float:
    """The seed's relative error ``max |x - y| / max(1e-8, |x| + |y|)``, element-wise.

    Takes arrays of any backend (or both of different backends); returns a float.

    Examples
    --------
    >>> import numpy as np
    >>> rel_error(np.array([1.0]), np.array([1.0 + 1e-9]))  # doctest: +ELLIPSIS
    5.0...e-10
    """
    a, b = to_numpy(x), to_numpy(y)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def scaled_error(analytic: Any, oracle: Any) -> float:
    """``max|analytic - oracle| / max|oracle|`` on the host in float64 (0 for empty arrays).

    The measure :func:`check_layer` uses; robust to entries that cancel to zero.
    """
    a = np.asarray(to_numpy(analytic), dtype=np.float64)
    b = np.asarray(to_numpy(oracle), dtype=np.float64)
    if a.shape != b.shape:
        msg = f"scaled_error: shapes differ, analytic {a.shape} and oracle {b.shape}"
        raise ValueError(msg)
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(b))), float(np.finfo(np.float64).tiny))
    return float(np.max(np.abs(a - b)) / scale)


# ---------------------------------------------------------------------------
# The two oracles
# ---------------------------------------------------------------------------


def _is_float(x: Any) -> bool:
    if not _compat.is_array_api_obj(x):
        return False
    xp = _compat.array_namespace("gradient_check", x=x)
    return bool(xp.isdtype(x.dtype, "real floating"))


def _replace(inputs: Sequence[Any], i: int, value: Any) -> tuple[Any, ...]:
    return (*inputs[:i], value, *inputs[i + 1 :])


def numerical_vjp(
    fn: Callable[..., Array], inputs: Sequence[Any], dout: Any, h: float = 1e-5
) -> tuple[Array | None, ...]:
    """Gradients of ``sum(fn(*inputs) * dout)`` by central differences.

    Parameters
    ----------
    fn : callable
        Takes ``*inputs``, returns an array (or a scalar with ``dout`` a scalar).
    inputs : sequence
        Arrays of one backend; non-floating entries (labels, say) are passed through.
    dout : array or float
        Weights of the output entries.
    h : float
        Step of the central differences; suited to float64 inputs.

    Returns
    -------
    tuple
        One gradient per input, in its namespace, dtype and shape; ``None`` for
        inputs that are not floating arrays.

    Examples
    --------
    >>> import numpy as np
    >>> x, w = np.array([[1.0, 2.0]]), np.array([[3.0], [4.0]])
    >>> dx, dw = numerical_vjp(lambda x, w: x @ w, (x, w), np.ones((1, 1)))
    >>> np.round(dx, 6), np.round(dw, 6)
    (array([[3., 4.]]), array([[1.],
           [2.]]))
    """
    grads: list[Array | None] = []
    for i, x in enumerate(inputs):
        if not _is_float(x):
            grads.append(None)
            continue

        def f(xi: Array, i: int = i) -> Array:
            return fn(*_replace(inputs, i, xi))

        grads.append(eval_numerical_gradient_array(f, x, dout, h=h))
    return tuple(grads)


def autodiff_vjp(
    fn: Callable[..., Array], inputs: Sequence[Any], dout: Any
) -> tuple[Array | None, ...]:
    """Gradients of ``sum(fn(*inputs) * dout)`` by JAX autodiff, in float64.

    The independent oracle: the inputs (from any backend) are moved to JAX, floating
    ones promoted to float64, with ``jax.enable_x64`` on for the call whatever the
    process setting; ``fn`` is differentiated with ``jax.vjp`` and the gradients are
    moved back to the inputs' namespace, dtype and device.

    ``fn`` must be written against the Array API (as every layer here is) and take
    every array it uses as an argument: arrays captured in a closure are not moved.

    Returns
    -------
    tuple
        One gradient per input; ``None`` for inputs that are not floating arrays.

    Raises
    ------
    ImportError
        If JAX is not installed (install ``portable-layers[jax]``).

    Examples
    --------
    >>> import numpy as np
    >>> x, w = np.array([[1.0, 2.0]]), np.array([[3.0], [4.0]])
    >>> autodiff_vjp(lambda x, w: x @ w, (x, w), np.ones((1, 1)))  # doctest: +SKIP
    (array([[3., 4.]]), array([[1.], [2.]]))
    """
    host = _autodiff_host(fn, inputs, dout)
    grads: list[Array | None] = []
    for x, g in zip(inputs, host, strict=True):
        if g is None:
            grads.append(None)
            continue
        xp = _compat.array_namespace("autodiff_vjp", x=x)
        grads.append(from_numpy(g, xp, dtype=x.dtype, device=device(x)))
    return tuple(grads)


def _autodiff_host(
    fn: Callable[..., Array], inputs: Sequence[Any], dout: Any
) -> tuple[np.ndarray | None, ...]:
    """:func:`autodiff_vjp`'s gradients as float64 NumPy arrays."""
    jax = _compat.import_jax("autodiff_vjp")
    import jax.numpy as jnp

    floats = [i for i, x in enumerate(inputs) if _is_float(x)]
    with _compat.jax_x64():
        moved = [_to_jax(x, jnp) for x in inputs]
        jdout = _to_jax(dout, jnp)

        def f(*float_args: Any) -> Any:
            args = list(moved)
            for i, a in zip(floats, float_args, strict=True):
                args[i] = a
            return fn(*args)

        out, pullback = jax.vjp(f, *(moved[i] for i in floats))
        cotangent = jnp.broadcast_to(jnp.asarray(jdout, dtype=out.dtype), out.shape)
        jgrads = pullback(cotangent)
        host: list[np.ndarray | None] = [None] * len(inputs)
        for i, g in zip(floats, jgrads, strict=True):
            host[i] = np.array(g, dtype=np.float64)
    return tuple(host)


def _to_jax(x: Any, jnp: Any) -> Any:
    """A JAX array of ``x``; floating values as float64 (call inside jax_x64)."""
    if not _compat.is_array_api_obj(x):
        return jnp.asarray(x, dtype=jnp.float64) if isinstance(x, float) else x
    host = to_numpy(x)
    if np.issubdtype(host.dtype, np.floating):
        host = host.astype(np.float64)
    return jnp.asarray(host)


# ---------------------------------------------------------------------------
# check_layer
# ---------------------------------------------------------------------------


def tolerance(dtype: Any, oracle: str) -> float:
    """Default tolerance on :func:`scaled_error` for a result of ``dtype`` (see above)."""
    if oracle not in ORACLES:
        raise ValueError(f"tolerance: unknown oracle {oracle!r}; choose from {ORACLES}")
    eps = float(np.finfo(np.dtype(_compat.dtype_name(dtype))).eps)
    if eps <= np.finfo(np.float64).eps:
        return 1e-8 if oracle == "autodiff" else 1e-6
    # Lower precision: the layer's own rounding dominates; 1e-4 is ~840 float32
    # roundings, and 100 roundings of an even coarser dtype (float16).
    return max(1e-4, 100 * eps)


@dataclasses.dataclass(frozen=True)
class GradientCheck:
    """One gradient compared with one oracle."""

    input: str
    oracle: str
    error: float
    tol: float
    shape: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return bool(self.error <= self.tol)


@dataclasses.dataclass(frozen=True)
class LayerCheck:
    """The result of :func:`check_layer`: one :class:`GradientCheck` per input and oracle."""

    name: str
    checks: tuple[GradientCheck, ...]
    forward_ok: bool = True
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.forward_ok and not self.problems and all(c.ok for c in self.checks)

    def worst(self, oracle: str) -> float:
        """The largest error against ``oracle`` (NaN when it was not run)."""
        errors = [c.error for c in self.checks if c.oracle == oracle]
        return max(errors) if errors else math.nan

    def __str__(self) -> str:
        lines = [f"{self.name}: {'ok' if self.ok else 'FAILED'}"]
        lines += [f"  problem: {p}" for p in self.problems]
        for c in self.checks:
            mark = "ok" if c.ok else "FAIL"
            lines.append(
                f"  d{c.input:<8} vs {c.oracle:<9} error {c.error:.2e} (tol {c.tol:.0e}) {mark}"
            )
        return "\n".join(lines)


def check_layer(
    forward: Callable[..., Any],
    backward: Callable[[Any, Any], Any] | None,
    inputs: Sequence[Any],
    dout: Any = None,
    *,
    names: Sequence[str] | None = None,
    oracles: Sequence[str] = ORACLES,
    tol: float | dict[str, float] | None = None,
    h: float = 1e-5,
    seed: int = 0,
    name: str = "layer",
) -> LayerCheck:
    """Check a hand-written backward pass against finite differences and JAX autodiff.

    Parameters
    ----------
    forward : callable
        ``forward(*inputs) -> (out, cache)``.  For a loss (``backward=None``) it
        returns ``(loss, grads)`` instead, ``grads`` one array or a tuple.
    backward : callable or None
        ``backward(dout, cache)`` returning the gradient (or a tuple of gradients) of
        the floating inputs, in order.  ``None`` for a loss, as above.
    inputs : sequence
        Arrays of one backend; non-floating ones (labels) get no gradient.  Choose
        them away from kinks (see the module docstring).
    dout : array, optional
        Upstream gradient; random normal (seeded by ``seed``) of out's shape by
        default, 1 for a loss.
    names : sequence of str, optional
        Names of the inputs for the report (``x``, ``w``, ... by default).
    oracles : sequence of str
        Any of ``"numerical"`` and ``"autodiff"``.
    tol : float or dict, optional
        Tolerance on :func:`scaled_error`, one for all or per oracle; by default
        :func:`tolerance` of the result's dtype.
    h : float
        Finite-difference step.
    seed : int
        Seeds the default ``dout``.
    name : str
        Name of the layer in the report.

    Returns
    -------
    LayerCheck
        ``.ok``, ``.checks`` (one per input and oracle) and a readable ``str``.

    Examples
    --------
    >>> import numpy as np
    >>> from portable_layers import tanh_forward, tanh_backward
    >>> x = np.linspace(-2.0, 2.0, 5)
    >>> check_layer(tanh_forward, tanh_backward, (x,), oracles=("numerical",)).ok
    True
    """
    for oracle in oracles:
        if oracle not in ORACLES:
            raise ValueError(f"check_layer: unknown oracle {oracle!r}; choose from {ORACLES}")
    inputs = tuple(inputs)
    float_idx = [i for i, x in enumerate(inputs) if _is_float(x)]
    if not float_idx:
        raise TypeError("check_layer: inputs must include at least one floating array")
    names = tuple(names) if names is not None else _default_names(len(inputs))
    first = inputs[float_idx[0]]
    xp = _compat.array_namespace("check_layer", x=first)

    problems: list[str] = []
    if backward is None:
        out, analytic = forward(*inputs)
        dout = 1.0 if dout is None else dout
        scale = float(to_numpy(dout)) if _compat.is_array_api_obj(dout) else float(dout)
        analytic = tuple(g * scale for g in _as_tuple(analytic))
    else:
        out, cache = forward(*inputs)
        if dout is None:
            rng = np.random.default_rng(seed)
            dout = from_numpy(rng.standard_normal(tuple(out.shape)), xp, dtype=out.dtype,
                              device=device(out))
        analytic = _as_tuple(backward(dout, cache))
    forward_ok = _forward_ok(out, first, xp, problems)
    if len(analytic) != len(float_idx):
        problems.append(
            f"backward returned {len(analytic)} gradients for {len(float_idx)} floating inputs"
        )
        return LayerCheck(name, (), forward_ok, tuple(problems))
    for i, g in zip(float_idx, analytic, strict=True):
        if tuple(g.shape) != tuple(inputs[i].shape) or g.dtype != inputs[i].dtype:
            problems.append(
                f"d{names[i]} has shape {tuple(g.shape)} and dtype {g.dtype}, "
                f"but {names[i]} has {tuple(inputs[i].shape)} and {inputs[i].dtype}"
            )

    def value(*args: Any) -> Any:
        return forward(*args)[0]

    checks = []
    for oracle in oracles:
        expected = _oracle(oracle, value, inputs, dout, h, xp)
        for i, g in zip(float_idx, analytic, strict=True):
            t = _tol(tol, oracle, g.dtype)
            err = scaled_error(g, expected[i]) if not problems else math.inf
            checks.append(GradientCheck(names[i], oracle, err, t, tuple(g.shape)))
    return LayerCheck(name, tuple(checks), forward_ok, tuple(problems))


def _default_names(n: int) -> tuple[str, ...]:
    base = ("x", "w", "b", "y")
    return tuple(base[i] if i < len(base) else f"input{i}" for i in range(n))


def _as_tuple(grads: Any) -> tuple[Any, ...]:
    return tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)


def _forward_ok(out: Any, first: Any, xp: Any, problems: list[str]) -> bool:
    if _compat.array_namespace("check_layer", out=out) is not xp:
        problems.append("forward output is in another namespace than the inputs")
        return False
    if out.dtype != first.dtype:
        problems.append(f"forward output has dtype {out.dtype}, inputs {first.dtype}")
        return False
    if not bool(np.all(np.isfinite(to_numpy(out)))):
        problems.append("forward output is not finite")
        return False
    return True


def _tol(tol: float | dict[str, float] | None, oracle: str, dtype: Any) -> float:
    if tol is None:
        return tolerance(dtype, oracle)
    if isinstance(tol, dict):
        return tol[oracle] if oracle in tol else tolerance(dtype, oracle)
    return float(tol)


def _oracle(
    oracle: str, value: Callable[..., Any], inputs: tuple[Any, ...], dout: Any, h: float, xp: Any
) -> tuple[Any, ...]:
    """The oracle's gradients, computed in float64 and returned as host float64 arrays."""
    if oracle == "autodiff":
        grads = _autodiff_host(value, inputs, dout)
    else:
        with float64_context(xp):
            promoted = _promote(inputs, xp)
            grads = numerical_vjp(value, promoted, _promote((dout,), xp)[0], h=h)
            grads = tuple(None if g is None else to_numpy(g) for g in grads)
    return tuple(None if g is None else np.asarray(to_numpy(g), dtype=np.float64) for g in grads)


def _promote(values: Sequence[Any], xp: Any) -> tuple[Any, ...]:
    """Floating arrays as float64 copies in ``xp`` (call within float64_context for JAX)."""
    out = []
    for v in values:
        if _is_float(v):
            out.append(from_numpy(to_numpy(v).astype(np.float64), xp, dtype=xp.float64,
                                  device=device(v)))
        else:
            out.append(v)
    return tuple(out)
