"""Finite differences: one central-difference kernel and the numerical oracle.

:func:`central_difference` is the only place a difference quotient is formed.  The
seed's helpers (:mod:`.seed`), the numerical oracle (:func:`numerical_vjp`, also its
compiled JAX loop), the kink probe (:mod:`.kinks`) and the fast mode's directional
derivative all call it with their own way of moving the point; :class:`_Mover` moves
one entry (the seed's contract, below).

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
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import array_api_compat
import numpy as np

from .. import _compat
from .._compat import device, from_numpy, to_numpy
from .._types import Array

__all__ = ["central_difference", "numerical_vjp", "partial"]


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
    try:  # no check on the hot path: the errors are translated where they arise
        plus = value_at(h)
        minus = value_at(-h)
        return (plus - minus) / (2 * h)
    except TypeError:
        if not callable(value_at):
            raise TypeError(f"central_difference: value_at must be callable, got "
                            f"{type(value_at).__name__}") from None
        raise
    except ZeroDivisionError:
        raise ValueError(f"central_difference: h must be a positive finite number, "
                         f"got {h!r}") from None


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


#: JAX inputs up to this many entries are differenced eagerly by default: one jit of
#: the differences costs 0.4-1.2 s, 2 * 16 eager evaluations of the population's small
#: models 0.1-0.5 s (measured on each input of fc batchnorm, the convnet and the ViT)
EAGER_ENTRIES = 16


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
    input.  On JAX (``vectorized=True``, or None for an input of more than
    ``EAGER_ENTRIES`` entries) all of them run in one compiled
    call: ``jax.lax.map`` over the entries inside ``jax.jit``, vectorizing (vmap)
    batches of as many perturbed copies as fit in ``chunk_bytes`` (a copy of the
    input per perturbation, times four for the intermediates).  Large inputs thus go
    one perturbation at a time through the compiled loop, which measured faster
    than wide vmapped batches: each evaluation is already a full forward pass, and
    wide batches only add memory traffic.  Elsewhere, with ``vectorized=False``, and
    for a small JAX input by default, one perturbation per Python call as the seed's
    loop does (on a fresh array each time: ``inputs`` are never written into): for
    small models, compiling costs more than the 32 eager evaluations.

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
        default: on for JAX inputs of more than ``EAGER_ENTRIES`` (16) entries.
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
        small = (vectorized is None and math.prod(x.shape) <= EAGER_ENTRIES
                 and not _compat.is_traced(x))  # (a tracer has no host values)
        if vectorized is False or small or not _compat.is_jax_namespace(xp):
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
    _check_dout(np.shape(host), weights)
    return float(np.sum(host * weights))


def _check_dout(out_shape: tuple[int, ...], dout: Any) -> None:
    """ValueError unless ``dout`` is a scalar or has the shape of ``fn``'s output (a dout
    that merely broadcasts would weight the entries wrongly)."""
    shape = tuple(dout.shape) if hasattr(dout, "shape") else np.shape(dout)
    if shape not in ((), tuple(out_shape)):
        msg = (f"numerical_vjp: dout must have the shape of fn's output {tuple(out_shape)} "
               f"(or be a scalar), got {shape}")
        raise ValueError(msg)


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

    _check_dout(jax.eval_shape(f, x).shape, dout)
    stop = size if limit is None else min(limit, size)
    if stop == 0:
        return jnp.zeros(shape if limit is None else (0,), dtype=x.dtype)
    batch = max(1, min(stop, chunk_bytes // max(1, 4 * size * x.dtype.itemsize)))
    run = jax.jit(lambda ks: jax.lax.map(entry, ks, batch_size=batch))
    flat_grad = run(jnp.arange(stop))
    return flat_grad if limit is not None else jnp.reshape(flat_grad, shape)
