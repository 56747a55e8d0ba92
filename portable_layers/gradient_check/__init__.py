"""Gradient checking: finite differences and JAX autodiff as two independent oracles.

A hand-written backward pass computes the vector-Jacobian product (VJP)
``d/d(input) sum(forward(*inputs) * dout)`` for every input.  This package computes
the same quantity other ways and compares.  Its parts:

* :mod:`.differences`: the one central-difference kernel and :func:`numerical_vjp`,
  central differences on the inputs' own backend.
* :mod:`.seed`: the seed's helpers (:func:`eval_numerical_gradient`,
  :func:`eval_numerical_gradient_array`, :func:`grad_check_sparse`) with the seed's
  in-place contract.
* :mod:`.oracles`: the table of oracles (``"numerical"``, ``"autodiff"`` by
  ``jax.vjp`` in float64 whatever backend the inputs come from, ``"torch"`` by
  ``torch.autograd``) and which library each needs.
* :mod:`.reports`: :func:`rel_error`, :func:`scaled_error`, :func:`tolerance` and the
  result objects.
* :mod:`.check`: :func:`check_layer` (full, sampled and fast modes),
  :func:`fast_check`, :func:`assert_layer_gradients`; its parts :mod:`.analytic`
  (arguments, the run, the scales), :mod:`.kinks` and :mod:`.fast`.

Kinks
-----
At a point where the function is not differentiable, the oracles legitimately
disagree: ReLU's hand-written backward uses the subgradient 0 at ``x == 0``, JAX's
gradient of ``maximum(x, 0)`` there is 0.5, and a central difference straddling the
kink gives the average slope of the two sides.  The same holds at the hinge of the
SVM loss (a margin of exactly 0), at ties in a max, and whenever a kink lies within
the step ``h`` of the point.  :func:`check_layer` recognises such entries and
directions (:mod:`.kinks`: the differences change with the step, and the hand-written
value lies between the one-sided slopes) and leaves them out (full mode) or redraws
them (sampled and fast modes), counting them in the report; it does not call them
wrong.

Tolerances
----------
:func:`check_layer` compares with the *scaled error*: the largest
``|analytic - oracle|`` of a gradient divided by its largest entry (the larger of the
hand-written and the oracle's), which, unlike the seed's element-wise
:func:`rel_error`, does not blow up on entries that are zero up to rounding.  A
gradient that is zero in exact arithmetic (a bias before batch normalization) is
judged on a floor tied to the dtype and the loss's scale instead
(:meth:`.analytic.Run.floor`), so 1e-17 against 0 is agreement.  The default
tolerances follow the dtype of the hand-written result:

| oracle | float64 | float32 (and other dtypes: see ``tolerance``) |
|---|---|---|
| ``"autodiff"`` | 1e-8 | 1e-4: some 1000 float32 roundings |
| ``"numerical"`` | 1e-6 | 1e-4 |
| fast mode | 3e-5 | 1e-4 (over 100 times the measured noise floors) |

The autodiff oracle is exact up to float64 rounding, so its float64 tolerance
leaves room only for rounding in the layer itself.  Central differences with
``h = 1e-5`` in float64 carry a truncation error of order ``h**2 * f'''`` (1e-10)
and a rounding error of order ``eps * |f| / h`` (1e-11 * |f|), so 1e-6 allows
for functions with a large value or curvature.  Both oracles always run in
float64 (float32 inputs are promoted, on JAX inside ``jax.enable_x64``), so for a
float32 layer the error measured is the layer's own float32 rounding, bounded by
about ``n * eps32`` for sums of ``n`` terms.  The fast mode's tolerances come from
its noise floor as ``benchmarks/bench_fastmode.py`` measures it.
"""

from __future__ import annotations

from .check import (
    FAST_STEP,
    MODES,
    STEP,
    assert_layer_gradients,
    check_layer,
    fast_check,
)
from .differences import _jax_batched_differences, numerical_vjp
from .oracles import (
    DEFAULT_ORACLES,
    ORACLE_FUNCTIONS,
    ORACLES,
    autodiff_vjp,
    torch_vjp,
)
from .reports import (
    FAST_TOLERANCE,
    Entry,
    GradientCheck,
    LayerCheck,
    rel_error,
    scaled_error,
    tolerance,
)
from .seed import eval_numerical_gradient, eval_numerical_gradient_array, grad_check_sparse

__all__ = [
    "DEFAULT_ORACLES",
    "FAST_STEP",
    "FAST_TOLERANCE",
    "MODES",
    "ORACLES",
    "ORACLE_FUNCTIONS",
    "STEP",
    "Entry",
    "GradientCheck",
    "LayerCheck",
    "assert_layer_gradients",
    "autodiff_vjp",
    "check_layer",
    "eval_numerical_gradient",
    "eval_numerical_gradient_array",
    "fast_check",
    "grad_check_sparse",
    "numerical_vjp",
    "rel_error",
    "scaled_error",
    "tolerance",
    "torch_vjp",
]

_ = _jax_batched_differences  # used by benchmarks/bench_gradcheck.py
