"""Finite differences: one central-difference kernel and everything built on it.

:func:`central_difference` is the only place a difference quotient is formed.  The
seed's helpers (:func:`eval_numerical_gradient`, :func:`eval_numerical_gradient_array`,
:func:`grad_check_sparse`), the numerical oracle (:func:`numerical_vjp`, also its
compiled JAX loop), the probe of single entries in a failed check and the fast mode's
directional derivative all call it with their own way of moving the point.

The seed's contract
-------------------
On writable arrays (NumPy, PyTorch, array_api_strict) the seed's helpers move ``x``
itself, entry by entry, call ``f(x)`` and put the entry back bitwise (also when
``f`` raises), exactly as CS231n's do: so ``f = lambda _: model.loss(X, y)[0]`` over
``model.params[name]`` works, and so does an ``f`` that uses its argument.  On
immutable arrays (JAX, read-only NumPy, Dask) ``f`` gets a fresh array with the entry
moved; if ``f``'s value then never changes, ``f`` is ignoring its argument and a
``UserWarning`` says to pass the array as ``f``'s argument.
"""

from __future__ import annotations

import contextlib
import math
import random
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import array_api_compat
import numpy as np

from .. import _compat
from .. import _validate as check
from .._compat import device, from_numpy, to_numpy
from .._types import Array

__all__ = [
    "central_difference",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "grad_check_sparse",
    "numerical_vjp",
]


def central_difference(value_at: Callable[[float], Any], h: float) -> Any:
    """``(value_at(h) - value_at(-h)) / (2h)``: the one difference quotient of the package.

    ``value_at(step)`` evaluates the function with the point moved by ``step`` along
    whatever direction the caller chose (one entry, a random direction) and reduces
    it to the quantity being differentiated.  ``+h`` is evaluated first, as the seed
    does.  Works on floats and on arrays of any library (also inside ``jax.jit``).

    Examples
    --------
    >>> round(central_difference(lambda s: (3.0 + s) ** 2, 1e-5), 8)
    6.0
    """
    plus = value_at(h)
    minus = value_at(-h)
    return (plus - minus) / (2 * h)


# ---------------------------------------------------------------------------
# Moving one entry: in place (writable arrays) or in a fresh array
# ---------------------------------------------------------------------------


def _floating_point(func: str, x: Array, xp: Any) -> None:
    """x must be real floating: an integer x was perturbed by a truncated h (gradient 0)."""
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{func}: x must have a real floating dtype, got {x.dtype}")


def _writable(x: Array) -> bool:
    """Whether the seed's in-place contract applies: an eager array ``x[ix] = v`` writes into."""
    return bool(array_api_compat.is_writeable_array(x) and not array_api_compat.is_lazy_array(x))


@contextlib.contextmanager
def _no_autograd(x: Array) -> Iterator[None]:
    """torch forbids writing into a leaf that requires grad outside ``no_grad``."""
    if array_api_compat.is_torch_array(x):
        with _compat.import_torch("a PyTorch leaf").no_grad():
            yield
    else:
        yield


class _Mover:
    """Moves one entry of ``x`` and calls ``f``: in place and restored, or on a fresh copy."""

    def __init__(self, func: str, f: Callable[[Array], Any], x: Array) -> None:
        self.xp = _compat.array_namespace(func, x=x)
        _floating_point(func, x, self.xp)
        self.func, self.f, self.x = func, f, x
        self.in_place = _writable(x)
        self.base = None if self.in_place else np.array(to_numpy(x), copy=True)
        self.values: set[int] = set()  # hashes of f's values on the fresh-array path

    def value_at(self, ix: tuple[int, ...], copy: bool = False) -> Callable[[float], Any]:
        """``step -> f(x with x[ix] moved by step)``; ``copy`` copies f's result."""
        if self.in_place:
            return lambda step: self._in_place(ix, step, copy)
        return lambda step: self._fresh(ix, step)

    def _in_place(self, ix: tuple[int, ...], step: float, copy: bool) -> Any:
        x = self.x
        with _no_autograd(x):
            old = self.xp.asarray(x[ix], copy=True)
            x[ix] = old + step
        try:
            out = self.f(x)
            if copy and _compat.is_array_api_obj(out):  # f(x) may be a view of x
                out = _compat.array_namespace(self.func, out=out).asarray(out, copy=True)
            return out
        finally:
            with _no_autograd(x):
                x[ix] = old

    def _fresh(self, ix: tuple[int, ...], step: float) -> Any:
        base, x = self.base, self.x
        assert base is not None
        old = base[ix]
        base[ix] = old + step
        try:
            moved = from_numpy(base, self.xp, dtype=x.dtype, device=device(x))
        finally:
            base[ix] = old
        out = self.f(moved)
        if len(self.values) < 2:
            host = to_numpy(out) if _compat.is_array_api_obj(out) else np.asarray(out)
            self.values.add(hash(np.asarray(host, dtype=np.float64).tobytes()))
        return out

    def warn_if_ignored(self, evaluations: int) -> None:
        """On the fresh-array path: warn when f returned one value for every moved x."""
        if not self.in_place and evaluations >= 2 and len(self.values) == 1:
            kind = "a JAX array" if _compat.is_jax_namespace(self.xp) else "an immutable array"
            msg = (f"{self.func}: f returned the same value for every perturbation of x. "
                   f"x is {kind}, which cannot be changed in place, so f is given a new "
                   f"array each time: pass the array as f's argument (f = lambda x: "
                   f"loss(x)) instead of reading it from elsewhere (a model's params).")
            warnings.warn(msg, UserWarning, stacklevel=3)

    def result(self, grad: np.ndarray) -> Array:
        return from_numpy(grad, self.xp, dtype=self.x.dtype, device=device(self.x))


def _scalar(func: str, value: Any) -> float:
    try:
        return _compat.to_float(value)
    except (TypeError, ValueError):
        msg = f"{func}: f must return a scalar, got {type(value).__name__}"
        raise TypeError(msg) from None


# ---------------------------------------------------------------------------
# The seed's helpers
# ---------------------------------------------------------------------------


def eval_numerical_gradient(
    f: Callable[[Array], Any], x: Array, verbose: bool = True, h: float = 0.00001
) -> Array:
    """Numerical gradient of a scalar function ``f`` at ``x`` by central differences.

    The seed's helper, with the seed's contract (see the module docstring): on a
    writable ``x`` each entry is moved by ``+h`` and ``-h`` in place, ``f(x)`` is
    called, and the entry is restored bitwise (also when ``f`` raises); on an
    immutable ``x`` (JAX) ``f`` gets a fresh array instead.  Entry ``ix`` of the
    result is ``(f(x + h e_ix) - f(x - h e_ix)) / (2h)``.

    Parameters
    ----------
    f : callable
        Takes an array like ``x`` and returns a scalar (a 0-d array or a number).
        It may ignore its argument and read ``x`` from elsewhere (a model's
        parameters) when ``x`` is writable.
    x : floating array
        The point.
    verbose : bool
        Print each index and partial derivative, as the seed does.
    h : float
        Step.

    Returns
    -------
    grad : array of x's shape, dtype and namespace

    Warns
    -----
    UserWarning
        When ``x`` is immutable and ``f``'s value never changes (``f`` ignores its
        argument).

    Examples
    --------
    >>> import numpy as np
    >>> g = eval_numerical_gradient(lambda v: (v**2).sum(), np.array([1.0, 2.0]), verbose=False)
    >>> np.round(g, 6)
    array([2., 4.])
    """
    mover = _Mover("eval_numerical_gradient", f, x)
    grad = np.zeros(tuple(x.shape), dtype=np.float64)
    for ix in np.ndindex(*grad.shape):
        grad[ix] = _scalar("eval_numerical_gradient", central_difference(mover.value_at(ix), h))
        if verbose:
            print(ix, grad[ix])
    mover.warn_if_ignored(2 * grad.size)
    return mover.result(grad)


def eval_numerical_gradient_array(
    f: Callable[[Array], Array], x: Array, df: Array, h: float = 1e-5
) -> Array:
    """Numerical VJP ``d/dx sum(f(x) * df)`` of an array function by central differences.

    The seed's helper, with the seed's contract (see
    :func:`eval_numerical_gradient`): entry ``ix`` of the result is
    ``sum((f(x + h e_ix) - f(x - h e_ix)) * df) / (2h)``; ``f``'s results are copied
    before ``x`` moves again, as the seed does.

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
    mover = _Mover(func, f, x)
    grad = np.zeros(tuple(x.shape), dtype=np.float64)
    for ix in np.ndindex(*grad.shape):
        slope = central_difference(mover.value_at(ix, copy=True), h)
        rxp = _compat.array_namespace(func, out=slope)
        if _compat.is_array_api_obj(df) and tuple(df.shape) != tuple(slope.shape):
            msg = f"{func}: df must have f(x)'s shape {tuple(slope.shape)}, got {tuple(df.shape)}"
            raise ValueError(msg)
        grad[ix] = _compat.to_float(rxp.sum(slope * df))
    mover.warn_if_ignored(2 * grad.size)
    return mover.result(grad)


def grad_check_sparse(
    f: Callable[[Array], Any],
    x: Array,
    analytic_grad: Any,
    num_checks: int = 10,
    h: float = 1e-5,
    *,
    seed: int | None = None,
) -> list[float]:
    """CS231n's sparse gradient check: ``num_checks`` random entries against differences.

    For each check a random index is drawn (Python's ``random.randrange`` per axis,
    as CS231n does, so ``random.seed`` fixes them; ``seed=`` uses a private
    generator instead), the partial derivative is taken by central differences with
    the seed's contract (``x`` moved in place and restored when writable), and a
    line ``numerical: %f analytic: %f, relative error: %e`` is printed.

    Parameters
    ----------
    f : callable
        Scalar function of ``x`` (it may read ``x`` from elsewhere when writable).
    x : floating array
        The point.
    analytic_grad : array
        The gradient to check, of ``x``'s shape (any backend).
    num_checks : int
        How many random entries.
    h : float
        Step.
    seed : int, optional
        Seed of a private generator for the indices (default: Python's global one).

    Returns
    -------
    list of float
        The relative errors ``|num - ana| / (|num| + |ana|)`` (0 when both are 0).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> errors = grad_check_sparse(lambda v: (v**2).sum(), x, 2 * x, num_checks=2, seed=0)
    ... # doctest: +ELLIPSIS
    numerical: ... analytic: ..., relative error: ...
    numerical: ... analytic: ..., relative error: ...
    >>> max(errors) < 1e-9
    True
    """
    func = "grad_check_sparse"
    mover = _Mover(func, f, x)
    analytic = np.asarray(to_numpy(analytic_grad) if _compat.is_array_api_obj(analytic_grad)
                          else analytic_grad, dtype=np.float64)
    if analytic.shape != tuple(x.shape):
        msg = (f"{func}: analytic_grad must have x's shape {tuple(x.shape)}, "
               f"got {analytic.shape}")
        raise ValueError(msg)
    num_checks = check.integer(func, "num_checks", num_checks, want="a non-negative integer")
    if math.prod(analytic.shape) == 0:
        raise ValueError(f"{func}: x is empty (shape {tuple(x.shape)})")
    draw = random.randrange if seed is None else random.Random(seed).randrange
    errors = []
    for _ in range(num_checks):
        ix = tuple(draw(m) for m in analytic.shape)
        numerical = _scalar(func, central_difference(mover.value_at(ix), h))
        ana = float(analytic[ix])
        denominator = abs(numerical) + abs(ana)
        error = abs(numerical - ana) / denominator if denominator else 0.0
        print(f"numerical: {numerical:f} analytic: {ana:f}, relative error: {error:e}")
        errors.append(error)
    mover.warn_if_ignored(2 * num_checks)
    return errors


# ---------------------------------------------------------------------------
# The numerical oracle
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
    ``vectorized=False``, one perturbation per Python call as the seed's loop does
    (on a fresh array each time: ``inputs`` are never written into).

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
            grads.append(_entrywise(f, x, dout, h))
        else:
            grads.append(_jax_batched_differences(f, x, dout, h, chunk_bytes))
    return tuple(grads)


def _entrywise(f: Callable[[Array], Array], x: Array, dout: Any, h: float) -> Array:
    """Every entry's ``sum(slope * dout)``, each on a fresh copy of ``x`` (never written)."""
    mover = _Mover("numerical_vjp", f, x)
    mover.in_place, mover.base = False, np.array(to_numpy(x), copy=True)
    grad = np.zeros(tuple(x.shape), dtype=np.float64)
    for ix in np.ndindex(*grad.shape):
        grad[ix] = partial(mover.value_at(ix), dout, h)
    return mover.result(grad)


def partial(value_at: Callable[[float], Any], dout: Any, h: float) -> float:
    """One entry of a numerical VJP: ``sum(central_difference(value_at, h) * dout)``."""
    slope = central_difference(value_at, h)
    host = to_numpy(slope) if _compat.is_array_api_obj(slope) else np.asarray(slope)
    weights = to_numpy(dout) if _compat.is_array_api_obj(dout) else dout
    if np.shape(weights) not in ((), np.shape(host)):
        msg = (f"numerical_vjp: dout must have the shape of fn's output {np.shape(host)} "
               f"(or be a scalar), got {np.shape(weights)}")
        raise ValueError(msg)
    return float(np.sum(host * weights))


def _jax_batched_differences(f: Callable[[Array], Array], x: Array, dout: Any, h: float,
                             chunk_bytes: int, limit: int | None = None) -> Array:
    """Central differences of every entry of a JAX array, in vmapped batches.

    ``limit`` stops after that many entries (in row-major order) and returns them
    flat: the benchmarks time a sample of a large gradient with it.
    """
    jax = _compat.import_jax("numerical_vjp(vectorized=True)")
    jnp = jax.numpy

    size, shape = math.prod(x.shape), tuple(x.shape)
    flat = jnp.reshape(x, (size,))

    def entry(k: Any) -> Any:  # .at[k]: one entry updated (a mask would touch them all)
        slope = central_difference(lambda s: f(jnp.reshape(flat.at[k].add(s), shape)), h)
        return jnp.sum(slope * dout)

    stop = size if limit is None else min(limit, size)
    if stop == 0:
        return jnp.zeros(shape if limit is None else (0,), dtype=x.dtype)
    batch = max(1, min(stop, chunk_bytes // max(1, 4 * size * x.dtype.itemsize)))
    run = jax.jit(lambda ks: jax.lax.map(entry, ks, batch_size=batch))
    flat_grad = run(jnp.arange(stop))
    return flat_grad if limit is not None else jnp.reshape(flat_grad, shape)
