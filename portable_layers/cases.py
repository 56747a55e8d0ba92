"""The table of layer cases: every forward/backward pair with inputs to check it at.

One table drives the ``check`` command and the test matrix.  Each case draws its
inputs on the host from a seeded generator, a safe distance from the layer's kinks
(ReLU at 0, hinge margins at 0, ties in a max), so that the hand-written backward,
finite differences and autodiff must agree there.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _compat
from . import layers as L
from .gradient_check import LayerCheck, check_layer

__all__ = ["CASES", "LayerCase", "away_from_zero", "case_names", "get_case"]

KINK_GAP = 0.05  # distance kept from every kink; far above the finite-difference step


@dataclasses.dataclass(frozen=True)
class LayerCase:
    """A forward/backward pair and how to make inputs for it.

    ``make_inputs(rng)`` returns host arrays: floating ones in float64 (cast to the
    requested dtype by :meth:`inputs`) and integer ones (labels) as they are.
    ``backward`` is None for a loss, whose forward returns ``(loss, dx)``.
    """

    name: str
    forward: Callable[..., Any]
    backward: Callable[..., Any] | None
    make_inputs: Callable[[np.random.Generator], tuple[np.ndarray, ...]]
    names: tuple[str, ...]

    def inputs(self, xp: Any, dtype: str = "float64", seed: int = 0) -> tuple[Any, ...]:
        """The case's inputs as arrays of ``xp``, floating ones in ``dtype``."""
        host = self.make_inputs(np.random.default_rng(seed))
        return tuple(
            xp.asarray(a.astype(dtype) if np.issubdtype(a.dtype, np.floating) else a)
            for a in host
        )

    def check(self, xp: Any, dtype: str = "float64", seed: int = 0, **kwargs: Any) -> LayerCheck:
        """:func:`~portable_layers.gradient_check.check_layer` on this case's inputs."""
        return check_layer(
            self.forward, self.backward, self.inputs(xp, dtype, seed),
            names=self.names, name=self.name, seed=seed, **kwargs,
        )


def away_from_zero(a: np.ndarray, gap: float = KINK_GAP) -> np.ndarray:
    """``a`` with every entry moved to at least ``gap`` from 0, keeping its sign."""
    return np.where(a >= 0, a + gap, a - gap)


def _hinge_safe_scores(rng: np.random.Generator, n: int, c: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores and labels whose hinge margins ``x_j - x_y + 1`` all avoid 0."""
    y = rng.integers(0, c, size=n)
    x = rng.standard_normal((n, c))
    correct = x[np.arange(n), y][:, None]
    margins = x - correct + 1
    near = (np.abs(margins) < KINK_GAP) & (np.arange(c) != y[:, None])
    return x + 2 * KINK_GAP * near, y


def _affine_relu_inputs(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """x, w, b whose pre-activations stay clear of 0 (redrawn until they do)."""
    while True:
        x, w, b = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5)), rng.standard_normal(5)
        if np.min(np.abs(x.reshape(4, -1) @ w + b)) > KINK_GAP:
            return x, w, b


def _unary(shape: tuple[int, ...], scale: float = 1.0, kink: bool = False):
    def make(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        a = scale * rng.standard_normal(shape)
        return (away_from_zero(a) if kink else a,)

    return make


CORE_CASES: tuple[LayerCase, ...] = (
    LayerCase(
        "affine", L.affine_forward, L.affine_backward,
        lambda rng: (rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5)),
                     rng.standard_normal(5)),
        ("x", "w", "b"),
    ),
    LayerCase("relu", L.relu_forward, L.relu_backward, _unary((4, 5), kink=True), ("x",)),
    LayerCase("leaky_relu", L.leaky_relu_forward, L.leaky_relu_backward,
              _unary((4, 5), kink=True), ("x",)),
    LayerCase("sigmoid", L.sigmoid_forward, L.sigmoid_backward, _unary((4, 5), 2.0), ("x",)),
    LayerCase("tanh", L.tanh_forward, L.tanh_backward, _unary((4, 5)), ("x",)),
    LayerCase("affine_relu", L.affine_relu_forward, L.affine_relu_backward,
              _affine_relu_inputs, ("x", "w", "b")),
    LayerCase("svm_loss", L.svm_loss, None, lambda rng: _hinge_safe_scores(rng, 6, 5), ("x", "y")),
    LayerCase("softmax_loss", L.softmax_loss, None,
              lambda rng: (rng.standard_normal((6, 5)), rng.integers(0, 5, size=6)), ("x", "y")),
)

CASES: tuple[LayerCase, ...] = CORE_CASES


def case_names() -> list[str]:
    """Names of all cases, in table order."""
    return [c.name for c in CASES]


def get_case(name: str) -> LayerCase:
    """The case called ``name``; ValueError listing the names otherwise."""
    for c in CASES:
        if c.name == name:
            return c
    raise ValueError(f"get_case: unknown layer {name!r}; choose from {', '.join(case_names())}")


def run_case(case: LayerCase, backend: str, dtype: str = "float64", **kwargs: Any) -> LayerCheck:
    """Check ``case`` on a backend given by name (JAX float64 inside enable_x64)."""
    xp = _compat.get_namespace(backend)
    if dtype == "float64":
        with _compat.float64_context(xp):
            return case.check(xp, dtype, **kwargs)
    return case.check(xp, dtype, **kwargs)
