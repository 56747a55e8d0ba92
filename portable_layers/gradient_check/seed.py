"""The seed notebook's gradient-check helpers, portable, with the seed's contract.

:func:`eval_numerical_gradient`, :func:`eval_numerical_gradient_array` and
:func:`grad_check_sparse` move one entry at a time through
:class:`~portable_layers.gradient_check.differences._Mover` (in place and restored on
writable arrays, on a fresh copy otherwise) and form each quotient with
:func:`~portable_layers.gradient_check.differences.central_difference`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _compat
from .. import _validate as check
from .._compat import to_numpy
from .._types import Array
from .differences import _Mover, central_difference

__all__ = ["eval_numerical_gradient", "eval_numerical_gradient_array", "grad_check_sparse"]


def _scalar(func: str, value: Any) -> float:
    try:
        return _compat.to_float(value)
    except (TypeError, ValueError):
        msg = f"{func}: f must return a scalar, got {type(value).__name__}"
        raise TypeError(msg) from None


# ---------------------------------------------------------------------------
# The seed's helpers
# ---------------------------------------------------------------------------


def _callable_and_step(func: str, f: Any, h: Any) -> None:
    """Once, at entry: ``f`` is callable and ``h`` a positive finite number."""
    if not callable(f):
        raise TypeError(f"{func}: f must be callable, got {type(f).__name__}")
    if (isinstance(h, bool) or not isinstance(h, (int, float, np.floating))
            or not 0 < h < math.inf):
        raise ValueError(f"{func}: h must be a positive finite number, got {h!r}")


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
    _callable_and_step("eval_numerical_gradient", f, h)
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
    _callable_and_step(func, f, h)
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
