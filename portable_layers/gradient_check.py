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
    "DEFAULT_ORACLES",
    "MODES",
    "ORACLES",
    "Entry",
    "GradientCheck",
    "LayerCheck",
    "assert_layer_gradients",
    "autodiff_vjp",
    "check_layer",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "fast_check",
    "numerical_vjp",
    "rel_error",
    "scaled_error",
    "tolerance",
    "torch_vjp",
]

Array = Any
ORACLES = ("numerical", "autodiff", "torch")
_TINY = float(np.finfo(np.float64).tiny)
DEFAULT_ORACLES = ("numerical", "autodiff")
MODES = ("full", "sampled", "fast")


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
    _floating_point("eval_numerical_gradient", x, xp)
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
    func = "eval_numerical_gradient_array"
    xp = _compat.array_namespace(func, x=x)
    _floating_point(func, x, xp)
    base = _host_copy(x)
    at = _perturbed(xp, base, x)
    grad = np.zeros(base.shape, dtype=base.dtype)
    for ix in np.ndindex(*base.shape):
        old = float(base[ix])
        pos = f(at(ix, old + h))
        neg = f(at(ix, old - h))
        rxp = _compat.array_namespace(func, out=pos)
        if _compat.is_array_api_obj(df) and tuple(df.shape) != tuple(pos.shape):
            msg = f"{func}: df must have f(x)'s shape {tuple(pos.shape)}, got {tuple(df.shape)}"
            raise ValueError(msg)
        grad[ix] = float(rxp.sum((pos - neg) * df) / (2 * h))
    return from_numpy(grad, xp, dtype=x.dtype, device=device(x))


def _floating_point(func: str, x: Array, xp: Any) -> None:
    """x must be real floating: an integer x was perturbed by a truncated h (gradient 0)."""
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{func}: x must have a real floating dtype, got {x.dtype}")


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
    try:
        shape = np.broadcast_shapes(np.shape(a), np.shape(b))
    except ValueError:
        msg = f"rel_error: x and y must have one shape, got {np.shape(a)} and {np.shape(b)}"
        raise ValueError(msg) from None
    if math.prod(shape) == 0:
        return 0.0
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
    return _compat.is_floating(xp, x.dtype)


def _replace(inputs: Sequence[Any], i: int, value: Any) -> tuple[Any, ...]:
    return (*inputs[:i], value, *inputs[i + 1 :])


def numerical_vjp(
    fn: Callable[..., Array],
    inputs: Sequence[Any],
    dout: Any,
    h: float = 1e-5,
    *,
    vectorized: bool | None = None,
    chunk_bytes: int = 1 << 24,
) -> tuple[Array | None, ...]:
    """Gradients of ``sum(fn(*inputs) * dout)`` by central differences.

    Every entry is exact central differences, ``2 * size`` evaluations of ``fn`` per
    input.  On JAX (``vectorized=None`` or True) all of them run in one compiled
    call: ``jax.lax.map`` over the entries inside ``jax.jit``, vectorizing (vmap)
    batches of as many perturbed copies as fit in ``chunk_bytes`` (a copy of the
    input per perturbation, times four for the intermediates).  Large inputs thus go
    one perturbation at a time through the compiled loop, which measured faster
    than wide vmapped batches: each evaluation is already a full forward pass, and
    wide batches only add memory traffic.  Elsewhere, and with
    ``vectorized=False``, one perturbation per Python call as the seed's loop does.

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
    vectorized : bool, optional
        Run the perturbations as one compiled JAX call (JAX inputs only);
        default: on for JAX inputs.
    chunk_bytes : int
        Memory budget of one vectorized batch of perturbations (16 MiB).

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

        xp = _compat.array_namespace("numerical_vjp", x=x)
        if vectorized is False or not _compat.is_jax_namespace(xp):
            grads.append(eval_numerical_gradient_array(f, x, dout, h=h))
        else:
            grads.append(_jax_batched_differences(f, x, dout, h, chunk_bytes))
    return tuple(grads)


def _jax_batched_differences(f: Callable[[Array], Array], x: Array, dout: Any, h: float,
                             chunk_bytes: int, limit: int | None = None) -> Array:
    """Central differences of every entry of a JAX array, in vmapped batches.

    ``limit`` stops after that many entries (in row-major order) and returns them
    flat: the benchmarks time a sample of a large gradient with it.
    """
    jax = _compat.import_jax("numerical_vjp(vectorized=True)")
    import jax.numpy as jnp

    size, shape = math.prod(x.shape), tuple(x.shape)
    flat = jnp.reshape(x, (size,))

    def entry(k: Any) -> Any:  # .at[k]: one entry updated (a mask would touch them all)
        pos = f(jnp.reshape(flat.at[k].add(h), shape))
        neg = f(jnp.reshape(flat.at[k].add(-h), shape))
        return jnp.sum((pos - neg) * dout) / (2 * h)

    stop = size if limit is None else min(limit, size)
    if stop == 0:
        return jnp.zeros(shape if limit is None else (0,), dtype=x.dtype)
    batch = max(1, min(stop, chunk_bytes // max(1, 4 * size * x.dtype.itemsize)))
    run = jax.jit(lambda ks: jax.lax.map(entry, ks, batch_size=batch))
    flat_grad = run(jnp.arange(stop))
    return flat_grad if limit is not None else jnp.reshape(flat_grad, shape)


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
    return _back_to_inputs("autodiff_vjp", inputs, _autodiff_host(fn, inputs, dout))


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
        _check_dout("autodiff_vjp", jnp.shape(jdout), tuple(out.shape))
        cotangent = jnp.broadcast_to(jnp.asarray(jdout, dtype=out.dtype), out.shape)
        jgrads = pullback(cotangent)
        host: list[np.ndarray | None] = [None] * len(inputs)
        for i, g in zip(floats, jgrads, strict=True):
            host[i] = np.array(g, dtype=np.float64)
    return tuple(host)


def torch_vjp(
    fn: Callable[..., Array], inputs: Sequence[Any], dout: Any
) -> tuple[Array | None, ...]:
    """Gradients of ``sum(fn(*inputs) * dout)`` by ``torch.autograd``, in float64.

    A third oracle, like :func:`autodiff_vjp`: the inputs (from any backend) become
    float64 CPU tensors, ``fn`` runs on them and ``torch.autograd.grad`` gives the
    gradients, moved back to the inputs' namespace, dtype and device.

    Raises
    ------
    ImportError
        If PyTorch is not installed (install ``portable-layers[torch]``).

    Examples
    --------
    >>> import numpy as np
    >>> torch_vjp(lambda v: v * v, (np.array([1.0, 2.0]),), np.ones(2))  # doctest: +SKIP
    (array([2., 4.]),)
    """
    host = _torch_host(fn, inputs, dout)
    return _back_to_inputs("torch_vjp", inputs, host)


def _back_to_inputs(
    func: str, inputs: Sequence[Any], host: Sequence[np.ndarray | None]
) -> tuple[Array | None, ...]:
    grads: list[Array | None] = []
    for x, g in zip(inputs, host, strict=True):
        if g is None:
            grads.append(None)
            continue
        xp = _compat.array_namespace(func, x=x)
        grads.append(from_numpy(g, xp, dtype=x.dtype, device=device(x)))
    return tuple(grads)


def _torch_host(
    fn: Callable[..., Array], inputs: Sequence[Any], dout: Any
) -> tuple[np.ndarray | None, ...]:
    """:func:`torch_vjp`'s gradients as float64 NumPy arrays."""
    torch = _compat.import_torch("torch_vjp")
    floats = [i for i, x in enumerate(inputs) if _is_float(x)]
    moved: list[Any] = []
    for i, x in enumerate(inputs):
        if not _compat.is_array_api_obj(x):
            moved.append(x)
            continue
        host = to_numpy(x)
        if i in floats:
            moved.append(torch.tensor(host, dtype=torch.float64, requires_grad=True))
        else:
            moved.append(torch.as_tensor(np.array(host, copy=True)))
    out = fn(*moved)
    _check_dout("torch_vjp", np.shape(to_numpy_or_scalar(dout)), tuple(out.shape))
    cotangent = torch.as_tensor(np.broadcast_to(
        np.asarray(to_numpy(dout) if _compat.is_array_api_obj(dout) else dout, dtype=np.float64),
        tuple(out.shape)).copy())
    grads = torch.autograd.grad(out, [moved[i] for i in floats], grad_outputs=cotangent,
                                allow_unused=True)
    host_grads: list[np.ndarray | None] = [None] * len(inputs)
    for i, g in zip(floats, grads, strict=True):
        host_grads[i] = (np.zeros(tuple(inputs[i].shape)) if g is None
                         else g.detach().cpu().numpy().astype(np.float64))
    return tuple(host_grads)


def _check_dout(func: str, dout_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
    if tuple(dout_shape) not in ((), tuple(out_shape)):
        msg = (f"{func}: dout must have the shape of fn's output {tuple(out_shape)} "
               f"(or be a scalar), got {tuple(dout_shape)}")
        raise ValueError(msg)


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
    """Default tolerance on :func:`scaled_error` for a result of ``dtype`` (see above).

    ``"autodiff"`` and ``"torch"`` are exact up to float64 rounding; ``"numerical"``
    carries the finite-difference error.
    """
    if oracle not in ORACLES:
        raise ValueError(f"tolerance: unknown oracle {oracle!r}; choose from {ORACLES}")
    eps = float(np.finfo(np.dtype(_compat.dtype_name(dtype))).eps)
    if eps <= np.finfo(np.float64).eps:
        return 1e-6 if oracle == "numerical" else 1e-8
    # Lower precision: the layer's own rounding dominates; 1e-4 is ~840 float32
    # roundings, and 100 roundings of an even coarser dtype (float16).
    return max(1e-4, 100 * eps)


@dataclasses.dataclass(frozen=True)
class Entry:
    """One gradient entry where the hand-written value and an oracle differ most."""

    index: tuple[int, ...]
    analytic: float
    expected: float
    near_kink: bool = False

    def __str__(self) -> str:
        kink = "  (near a kink: finite differences change with the step)" if self.near_kink else ""
        return (f"[{', '.join(map(str, self.index))}] analytic {self.analytic:.10g}, "
                f"oracle {self.expected:.10g}{kink}")


@dataclasses.dataclass(frozen=True)
class GradientCheck:
    """One gradient compared with one oracle.

    ``mode`` is ``"full"`` (every entry), ``"sampled"`` (``entries_checked`` random
    entries) or ``"fast"`` (one random projection vᵀJu; ``input`` then names all
    inputs together).  ``worst`` holds the entries that differ most when the check
    failed (none in fast mode, which cannot tell entries apart).
    """

    input: str
    oracle: str
    error: float
    tol: float
    shape: tuple[int, ...]
    mode: str = "full"
    entries_checked: int = 0
    worst: tuple[Entry, ...] = ()

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
            how = "" if c.mode == "full" else f" ({c.mode}, {c.entries_checked} entries)" \
                if c.mode == "sampled" else " (fast: vᵀJu)"
            lines.append(f"  d{c.input:<8} vs {c.oracle:<9} error {c.error:.2e} "
                         f"(tol {c.tol:.0e}){how} {mark}")
            lines += [f"      d{c.input}{e}" for e in c.worst]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the result."""
        return {
            "name": self.name, "ok": self.ok, "forward_ok": self.forward_ok,
            "problems": list(self.problems),
            "checks": [{**dataclasses.asdict(c), "ok": c.ok} for c in self.checks],
        }


def check_layer(
    forward: Callable[..., Any],
    backward: Callable[[Any, Any], Any] | None,
    inputs: Sequence[Any],
    dout: Any = None,
    *,
    names: Sequence[str] | None = None,
    oracles: Sequence[str] = DEFAULT_ORACLES,
    mode: str = "full",
    samples: int = 10,
    tol: float | dict[str, float] | None = None,
    h: float = 1e-5,
    seed: int = 0,
    name: str = "layer",
) -> LayerCheck:
    """Check a hand-written backward pass against finite differences and autodiff.

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
        Any of ``"numerical"`` (finite differences), ``"autodiff"`` (JAX) and
        ``"torch"`` (torch.autograd).
    mode : {"full", "sampled", "fast"}
        How the numerical oracle works: every entry; ``samples`` random entries per
        input; or one random projection ``vᵀJu`` whatever the size (see
        :func:`fast_check`).  The autodiff oracles always give every entry.
    samples : int
        Entries per input in ``"sampled"`` mode.
    tol : float or dict, optional
        Tolerance on :func:`scaled_error`, one for all or per oracle; by default
        :func:`tolerance` of the result's dtype.
    h : float
        Finite-difference step.
    seed : int
        Seeds the default ``dout``, the sampled entries and the fast directions.
    name : str
        Name of the layer in the report.

    Returns
    -------
    LayerCheck
        ``.ok``, ``.checks`` (one per input and oracle) and a readable ``str`` that
        names, for a failed check, the worst entries with both values and whether
        each lies near a kink.

    Examples
    --------
    >>> import numpy as np
    >>> from portable_layers import tanh_forward, tanh_backward
    >>> x = np.linspace(-2.0, 2.0, 5)
    >>> check_layer(tanh_forward, tanh_backward, (x,), oracles=("numerical",)).ok
    True
    """
    _check_options("check_layer", oracles, mode, samples)
    run = _analytic("check_layer", forward, backward, inputs, dout, names, seed)
    if run.problems and not run.grads:
        return LayerCheck(name, (), run.forward_ok, run.problems)
    checks: list[GradientCheck] = []
    for oracle in oracles:
        if oracle == "numerical" and mode == "fast":
            checks.append(_fast(run, tol, h, seed))
        elif oracle == "numerical" and mode == "sampled":
            checks += _sampled(run, tol, h, seed, samples)
        else:
            expected = _oracle(oracle, run, h)
            checks += [_compare(run, i, oracle, expected[i], tol, h) for i in run.float_idx]
    return LayerCheck(name, tuple(checks), run.forward_ok, run.problems)


def fast_check(
    forward: Callable[..., Any],
    backward: Callable[[Any, Any], Any] | None,
    inputs: Sequence[Any],
    dout: Any = None,
    **kwargs: Any,
) -> LayerCheck:
    """Check a backward pass along one random direction, in a handful of evaluations.

    With random ``u`` (one array per floating input) and the upstream gradient
    ``v`` (``dout``), the hand-written backward gives ``vᵀJu = sum_i <dinput_i, u_i>``
    and central differences give ``<v, (f(x + h u) - f(x - h u)) / 2h>``: three
    forward evaluations and one backward, whatever the sizes.  The error is
    ``|a - n| / sum_i <|dinput_i|, |u_i|>``, the difference scaled by the largest
    value the projection could take, so the tolerance does not grow with the size.

    Prior art: ``torch.autograd.gradcheck(fast_mode=True)`` compares the same
    projection, but of autograd's own backward; ``jax.test_util.check_grads``
    compares JAX's JVP and VJP with finite differences along random directions.
    Here the backward under test is hand-written and the directions are drawn on the
    host, so the check runs on any backend.

    What it catches and misses: a wrong formula, a transposed or missing term, a
    wrong scale, a gradient routed to the wrong input: errors that move many entries.
    An error in a single entry moves the projection by that entry's share of the sum
    and is missed when the array is large (an error of 1e-4 in one of 307,200
    entries changes it by ~1e-10): use ``mode="sampled"`` or ``"full"`` for those.

    Takes the arguments of :func:`check_layer` (``mode`` is set to ``"fast"``).

    Examples
    --------
    >>> import numpy as np
    >>> from portable_layers import affine_forward, affine_backward
    >>> rng = np.random.default_rng(0)
    >>> x, w, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    >>> fast_check(affine_forward, affine_backward, (x, w, b), oracles=("numerical",)).ok
    True
    """
    return check_layer(forward, backward, inputs, dout, **{**kwargs, "mode": "fast"})


def assert_layer_gradients(
    forward: Callable[..., Any],
    backward: Callable[[Any, Any], Any] | None,
    inputs: Sequence[Any],
    dout: Any = None,
    **kwargs: Any,
) -> LayerCheck:
    """:func:`check_layer`, raising AssertionError with the full report when it fails.

    Examples
    --------
    >>> import numpy as np
    >>> from portable_layers import tanh_forward, tanh_backward
    >>> _ = assert_layer_gradients(tanh_forward, tanh_backward, (np.ones(3),),
    ...                            oracles=("numerical",))
    """
    result = check_layer(forward, backward, inputs, dout, **kwargs)
    if not result.ok:
        raise AssertionError(str(result))
    return result


# ---------------------------------------------------------------------------
# check_layer's parts
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class _Run:
    """A forward/backward run: everything the oracles compare against."""

    value: Callable[..., Any]
    inputs: tuple[Any, ...]
    names: tuple[str, ...]
    float_idx: list[int]
    dout: Any
    grads: dict[int, np.ndarray]
    dtypes: dict[int, Any]
    xp: Any
    forward_ok: bool
    problems: tuple[str, ...]


def _check_options(func: str, oracles: Sequence[str], mode: str, samples: int) -> None:
    for oracle in oracles:
        if oracle not in ORACLES:
            raise ValueError(f"{func}: unknown oracle {oracle!r}; choose from {ORACLES}")
    if mode not in MODES:
        raise ValueError(f"{func}: unknown mode {mode!r}; choose from {MODES}")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"{func}: samples must be a positive integer, got {samples!r}")


def _analytic(
    func: str,
    forward: Callable[..., Any],
    backward: Callable[[Any, Any], Any] | None,
    inputs: Sequence[Any],
    dout: Any,
    names: Sequence[str] | None,
    seed: int,
) -> _Run:
    """Run the pair once and collect the hand-written gradients on the host."""
    inputs = tuple(inputs)
    float_idx = [i for i, x in enumerate(inputs) if _is_float(x)]
    if not float_idx:
        raise TypeError(f"{func}: inputs must include at least one floating array")
    names = tuple(names) if names is not None else _default_names(len(inputs))
    first = inputs[float_idx[0]]
    xp = _compat.array_namespace(func, x=first)
    if backward is None:
        out, analytic = forward(*inputs)
        dout = 1.0 if dout is None else dout
        scale = float(to_numpy(dout)) if _compat.is_array_api_obj(dout) else float(dout)
        analytic = tuple(g * scale for g in _as_tuple(analytic))
    else:
        out, cache = forward(*inputs)
        if dout is None:  # a stream of its own, apart from inputs drawn with the same seed
            rng = np.random.default_rng((seed, 0xD0))
            dout = from_numpy(rng.standard_normal(tuple(out.shape)), xp, dtype=out.dtype,
                              device=device(out))
        analytic = _as_tuple(backward(dout, cache))
    problems: list[str] = []
    forward_ok = _forward_ok(out, first, xp, problems)
    grads: dict[int, np.ndarray] = {}
    if len(analytic) != len(float_idx):
        problems.append(
            f"backward returned {len(analytic)} gradients for {len(float_idx)} floating inputs"
        )
    else:
        for i, g in zip(float_idx, analytic, strict=True):
            if tuple(g.shape) != tuple(inputs[i].shape) or g.dtype != inputs[i].dtype:
                problems.append(
                    f"d{names[i]} has shape {tuple(g.shape)} and dtype {g.dtype}, "
                    f"but {names[i]} has {tuple(inputs[i].shape)} and {inputs[i].dtype}"
                )
            else:
                grads[i] = np.asarray(to_numpy(g), dtype=np.float64)

    def value(*args: Any) -> Any:
        return forward(*args)[0]

    dtypes = {i: inputs[i].dtype for i in float_idx}
    return _Run(value, inputs, names, float_idx, dout, grads, dtypes, xp, forward_ok,
                tuple(problems))


def _compare(run: _Run, i: int, oracle: str, expected: np.ndarray, tol: Any,
             h: float) -> GradientCheck:
    """A full comparison of input ``i``'s gradient, naming the worst entries on failure."""
    t = _tol(tol, oracle, run.dtypes[i])
    if i not in run.grads:
        return GradientCheck(run.names[i], oracle, math.inf, t, tuple(expected.shape))
    analytic = run.grads[i]
    err = scaled_error(analytic, expected)
    worst: tuple[Entry, ...] = ()
    if err > t:
        diff = np.abs(analytic - expected) / max(float(np.max(np.abs(expected))), _TINY)
        flat = [k for k in np.argsort(-diff, axis=None)[:3] if diff.flat[k] > t]
        worst = tuple(_entry(run, i, np.unravel_index(k, analytic.shape), expected, h, t,
                             oracle == "numerical") for k in flat)
    return GradientCheck(run.names[i], oracle, err, t, tuple(analytic.shape), "full",
                         analytic.size, worst)


def _entry(run: _Run, i: int, index: tuple[Any, ...], expected: np.ndarray, h: float,
           tol: float, probe_kink: bool) -> Entry:
    ix = tuple(int(k) for k in index)
    a, e = float(run.grads[i][ix]), float(expected[ix])
    kink = False
    if probe_kink:
        coarse = _partial(run, i, ix, 10 * h)
        kink = abs(coarse - e) > tol * max(abs(e), abs(coarse), 1.0)
    return Entry(ix, a, e, kink)


def _partial(run: _Run, i: int, ix: tuple[int, ...], h: float) -> float:
    """One entry of the numerical VJP, in float64."""
    with float64_context(run.xp):
        inputs, dout = _promote(run.inputs, run.xp), _promote((run.dout,), run.xp)[0]
        base = np.array(to_numpy(inputs[i]), dtype=np.float64)
        at = _perturbed(run.xp, base, inputs[i])
        old = float(base[ix])
        pos = run.value(*_replace(inputs, i, at(ix, old + h)))
        neg = run.value(*_replace(inputs, i, at(ix, old - h)))
        return float(np.sum((to_numpy(pos) - to_numpy(neg)) * to_numpy_or_scalar(dout))
                     / (2 * h))


def to_numpy_or_scalar(v: Any) -> Any:
    return to_numpy(v) if _compat.is_array_api_obj(v) else v


def _sampled(run: _Run, tol: Any, h: float, seed: int, samples: int) -> list[GradientCheck]:
    """``samples`` random entries of each gradient against central differences."""
    rng = np.random.default_rng((seed, 0x5A))
    checks = []
    for i in run.float_idx:
        shape = tuple(run.inputs[i].shape)
        t = _tol(tol, "numerical", run.dtypes[i])
        if i not in run.grads:
            checks.append(GradientCheck(run.names[i], "numerical", math.inf, t, shape, "sampled"))
            continue
        size = int(np.prod(shape))
        picks = rng.choice(size, size=min(samples, size), replace=False)
        indices = [tuple(int(k) for k in np.unravel_index(p, shape)) for p in picks]
        numeric = {ix: _partial(run, i, ix, h) for ix in indices}
        scale = max(float(np.max(np.abs(run.grads[i]))) if size else 0.0,
                    *(abs(v) for v in numeric.values()), _TINY)
        diffs = {ix: abs(run.grads[i][ix] - v) / scale for ix, v in numeric.items()}
        err = max(diffs.values(), default=0.0)
        worst: tuple[Entry, ...] = ()
        if err > t:
            ranked = [ix for ix in sorted(diffs, key=diffs.__getitem__, reverse=True)[:3]
                      if diffs[ix] > t]
            expected = np.zeros(shape)
            for ix in ranked:
                expected[ix] = numeric[ix]
            worst = tuple(_entry(run, i, ix, expected, h, t, True) for ix in ranked)
        checks.append(GradientCheck(run.names[i], "numerical", err, t, shape, "sampled",
                                    len(indices), worst))
    return checks


def _fast(run: _Run, tol: Any, h: float, seed: int) -> GradientCheck:
    """One random projection vᵀJu: hand-written against central differences."""
    rng = np.random.default_rng((seed, 0xFA))
    label = ",".join(run.names[i] for i in run.float_idx)
    t = max(_tol(tol, "numerical", run.dtypes[i]) for i in run.float_idx)
    if len(run.grads) != len(run.float_idx):
        return GradientCheck(label, "numerical", math.inf, t, (), "fast")
    directions = {i: rng.standard_normal(run.grads[i].shape) for i in run.float_idx}
    analytic = sum(float(np.sum(run.grads[i] * u)) for i, u in directions.items())
    bound = sum(float(np.sum(np.abs(run.grads[i] * u))) for i, u in directions.items())
    with float64_context(run.xp):
        inputs, dout = _promote(run.inputs, run.xp), _promote((run.dout,), run.xp)[0]

        def shifted(sign: float) -> Any:
            moved = list(inputs)
            for i, u in directions.items():
                moved[i] = from_numpy(to_numpy(inputs[i]) + sign * h * u, run.xp,
                                      dtype=inputs[i].dtype, device=device(inputs[i]))
            return to_numpy(run.value(*moved))

        numeric = float(np.sum((shifted(1.0) - shifted(-1.0)) * to_numpy_or_scalar(dout))
                        / (2 * h))
    err = abs(analytic - numeric) / max(bound, _TINY)
    size = sum(g.size for g in run.grads.values())
    return GradientCheck(label, "numerical", err, t, (), "fast", size)


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


def _oracle(oracle: str, run: _Run, h: float) -> tuple[Any, ...]:
    """The oracle's full gradients, computed in float64, as host float64 arrays."""
    if oracle == "autodiff":
        grads = _autodiff_host(run.value, run.inputs, run.dout)
    elif oracle == "torch":
        grads = _torch_host(run.value, run.inputs, run.dout)
    else:
        with float64_context(run.xp):
            promoted = _promote(run.inputs, run.xp)
            grads = numerical_vjp(run.value, promoted, _promote((run.dout,), run.xp)[0], h=h)
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
