"""CS231n's ``cs231n/gradient_check.py``: the library's seed-contract helpers.

``eval_numerical_gradient(f, x, verbose=True, h=1e-5)``,
``eval_numerical_gradient_array(f, x, df, h=1e-5)``, ``grad_check_sparse(f, x,
analytic_grad, num_checks=10, h=1e-5)`` and ``rel_error(x, y)`` are
:mod:`portable_layers.gradient_check`'s.  On writable arrays (NumPy, PyTorch) they
perturb ``x`` in place and restore it, so the course's model check works::

    f = lambda _: model.loss(X, y)[0]
    grad_num = eval_numerical_gradient(f, model.params[name], verbose=False, h=1e-5)

On immutable arrays (JAX) pass the array as ``f``'s argument instead.

Examples
--------
The course's comparison of a numerical and an analytic gradient:

>>> import numpy as np
>>> x = np.array([[0.5, -1.0], [2.0, 0.25]])
>>> numerical = eval_numerical_gradient(lambda v: (v**3).sum(), x, verbose=False)
>>> bool(rel_error(numerical, 3 * x**2) < 1e-8)
True
"""

from __future__ import annotations

from typing import Any

from .. import gradient_check as _gc
from ..gradient_check import eval_numerical_gradient, eval_numerical_gradient_array, rel_error

__all__ = [
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "grad_check_sparse",  # noqa: F822 (resolved by __getattr__)
    "rel_error",
]


def __getattr__(name: str) -> Any:
    # grad_check_sparse comes from portable_layers.gradient_check, looked up when used
    if name == "grad_check_sparse":
        return getattr(_gc, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
