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
    if not isinstance(a, np.ndarray):
        raise TypeError(f"away_from_zero: a must be a NumPy array, got {type(a).__name__}")
    if isinstance(gap, bool) or not isinstance(gap, (int, float)) or not 0 <= gap < np.inf:
        raise ValueError(f"away_from_zero: gap must be a finite number >= 0, got {gap!r}")
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
        x, w = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5))
        b = rng.standard_normal(5)
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


# ---------------------------------------------------------------------------
# Convolutional, pooling, normalization and dropout layers (the "zoo")
# ---------------------------------------------------------------------------

CONV = {"stride": 1, "pad": 1}
CONV_STRIDE2 = {"stride": 2, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
POOL_OVERLAP = {"pool_height": 2, "pool_width": 2, "stride": 1}


def _distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values ``0.1 * k`` (centred) in random order: any two differ by at least 0.1,
    so every pooling window has a unique maximum with a gap above KINK_GAP."""
    size = int(np.prod(shape))
    return (0.1 * rng.permutation(size) - 0.05 * size).reshape(shape)


def _pool_inputs(shape: tuple[int, ...]):
    def make(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        return (_distinct(rng, shape),)

    return make


def _conv_inputs(x_shape: tuple[int, ...], w_shape: tuple[int, ...]):
    def make(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        return (rng.standard_normal(x_shape), rng.standard_normal(w_shape),
                rng.standard_normal(w_shape[0]))

    return make


def _window_gaps(a: np.ndarray, ph: int, pw: int, stride: int) -> float:
    """Smallest gap between the largest and second largest positive value of a window."""
    n, c, h, w = a.shape
    gaps = [np.inf]
    for r in range(0, h - ph + 1, stride):
        for s in range(0, w - pw + 1, stride):
            win = np.sort(a[:, :, r : r + ph, s : s + pw].reshape(n, c, -1), axis=-1)
            top = win[..., -1]
            gaps.append(float(np.min(np.where(top > 0, top - win[..., -2], np.inf))))
    return min(gaps)


def _conv_relu_inputs(rng: np.random.Generator, pool: bool = False) -> tuple[np.ndarray, ...]:
    """x, w, b whose conv outputs avoid 0 (and, with ``pool``, have unique window maxima)."""
    while True:
        x, w, b = _conv_inputs((2, 3, 4, 4), (3, 3, 3, 3))(rng)
        a = L.conv_forward(x, w, b, CONV)[0]
        ok = np.min(np.abs(a)) > KINK_GAP
        if ok and (not pool or _window_gaps(np.maximum(a, 0), 2, 2, 2) > KINK_GAP):
            return x, w, b


def _norm_inputs(shape: tuple[int, ...], param_shape: tuple[int, ...]):
    def make(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        # gamma and beta first: check_layer's default dout comes from a generator with
        # the same seed, and a dout that is affine in x has a zero batchnorm gradient
        gamma = 1.0 + 0.5 * rng.standard_normal(param_shape)
        beta = rng.standard_normal(param_shape)
        return 2.0 * rng.standard_normal(shape) + 1.0, gamma, beta

    return make


def _affine_norm_relu_inputs(normalization: str | None):
    def make(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        while True:
            x, w = rng.standard_normal((4, 2, 3)), rng.standard_normal((6, 5))
            b = rng.standard_normal(5)
            gamma, beta = 1.0 + 0.5 * rng.standard_normal(5), rng.standard_normal(5)
            if normalization == "batchnorm":
                b = np.zeros(5)
            a = L.affine_forward(x, w, b)[0]
            if normalization is not None:
                fwd = L.batchnorm_forward if normalization == "batchnorm" else L.layernorm_forward
                a = fwd(a, gamma, beta, {"mode": "train"})[0]
            if np.min(np.abs(a)) > KINK_GAP:
                if normalization == "batchnorm":
                    return x, w, gamma, beta
                return (x, w, b) if normalization is None else (x, w, b, gamma, beta)

    return make


def _batchnorm_train(x: Any, gamma: Any, beta: Any) -> Any:
    return L.batchnorm_forward(x, gamma, beta, {"mode": "train"})


def _batchnorm_test(x: Any, gamma: Any, beta: Any) -> Any:
    """Test mode with running statistics made in x's namespace (mean 0.1, var 2)."""
    xp = _compat.array_namespace("cases", x=x)
    d = x.shape[1]
    stats = {
        "running_mean": xp.full((d,), 0.1, dtype=x.dtype, device=_compat.device(x)),
        "running_var": xp.full((d,), 2.0, dtype=x.dtype, device=_compat.device(x)),
    }
    return L.batchnorm_forward(x, gamma, beta, {"mode": "test", **stats})


def _affine_norm_relu(
    normalization: str | None,
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """Forward and backward for the case table.

    With batchnorm the bias has no effect (the batch mean removes it), so its true
    gradient is 0 and a relative error is meaningless: that case fixes b = 0 inside
    the forward (in x's namespace) and checks x, w, gamma and beta only.
    """
    if normalization is None:
        def forward(x: Any, w: Any, b: Any) -> Any:
            return L.affine_norm_relu_forward(x, w, b)

        def backward(dout: Any, cache: Any) -> Any:
            return L.affine_norm_relu_backward(dout, cache)[:3]

        return forward, backward
    if normalization == "layernorm":
        def forward_ln(x: Any, w: Any, b: Any, gamma: Any, beta: Any) -> Any:
            return L.affine_norm_relu_forward(x, w, b, gamma, beta, {}, "layernorm")

        return forward_ln, L.affine_norm_relu_backward

    def forward_bn(x: Any, w: Any, gamma: Any, beta: Any) -> Any:
        xp = _compat.array_namespace("cases", x=x)
        b = xp.zeros((w.shape[1],), dtype=x.dtype, device=_compat.device(x))
        return L.affine_norm_relu_forward(x, w, b, gamma, beta, {"mode": "train"}, "batchnorm")

    def backward_bn(dout: Any, cache: Any) -> Any:
        dx, dw, _, dgamma, dbeta = L.affine_norm_relu_backward(dout, cache)
        return dx, dw, dgamma, dbeta

    return forward_bn, backward_bn


def _norm_case(name: str, normalization: str | None, names: tuple[str, ...]) -> LayerCase:
    forward, backward = _affine_norm_relu(normalization)
    return LayerCase(name, forward, backward, _affine_norm_relu_inputs(normalization), names)


ZOO_CASES: tuple[LayerCase, ...] = (
    LayerCase("conv", lambda x, w, b: L.conv_forward(x, w, b, CONV), L.conv_backward,
              _conv_inputs((2, 3, 5, 5), (3, 3, 3, 3)), ("x", "w", "b")),
    LayerCase("conv_stride2", lambda x, w, b: L.conv_forward(x, w, b, CONV_STRIDE2),
              L.conv_backward, _conv_inputs((2, 2, 5, 6), (3, 2, 3, 2)), ("x", "w", "b")),
    LayerCase("max_pool", lambda x: L.max_pool_forward(x, POOL), L.max_pool_backward,
              _pool_inputs((2, 3, 4, 4)), ("x",)),
    LayerCase("max_pool_overlap", lambda x: L.max_pool_forward(x, POOL_OVERLAP),
              L.max_pool_backward, _pool_inputs((2, 2, 4, 5)), ("x",)),
    LayerCase("batchnorm", _batchnorm_train, L.batchnorm_backward,
              _norm_inputs((6, 5), (5,)), ("x", "gamma", "beta")),
    LayerCase("batchnorm_test", _batchnorm_test, L.batchnorm_backward,
              _norm_inputs((6, 5), (5,)), ("x", "gamma", "beta")),
    LayerCase("layernorm", lambda x, g, b: L.layernorm_forward(x, g, b, {}),
              L.layernorm_backward, _norm_inputs((4, 6), (6,)), ("x", "gamma", "beta")),
    LayerCase("spatial_batchnorm",
              lambda x, g, b: L.spatial_batchnorm_forward(x, g, b, {"mode": "train"}),
              L.spatial_batchnorm_backward, _norm_inputs((2, 3, 3, 3), (3,)),
              ("x", "gamma", "beta")),
    LayerCase("spatial_groupnorm",
              lambda x, g, b: L.spatial_groupnorm_forward(x, g, b, 2, {}),
              L.spatial_groupnorm_backward, _norm_inputs((2, 4, 3, 3), (1, 4, 1, 1)),
              ("x", "gamma", "beta")),
    LayerCase("dropout",
              lambda x: L.dropout_forward(x, {"p": 0.7, "mode": "train", "seed": 0}),
              L.dropout_backward, _unary((4, 5)), ("x",)),
    LayerCase("dropout_test", lambda x: L.dropout_forward(x, {"p": 0.7, "mode": "test"}),
              L.dropout_backward, _unary((4, 5)), ("x",)),
    LayerCase("conv_relu", lambda x, w, b: L.conv_relu_forward(x, w, b, CONV),
              L.conv_relu_backward, _conv_relu_inputs, ("x", "w", "b")),
    LayerCase("conv_relu_pool", lambda x, w, b: L.conv_relu_pool_forward(x, w, b, CONV, POOL),
              L.conv_relu_pool_backward, lambda rng: _conv_relu_inputs(rng, pool=True),
              ("x", "w", "b")),
    _norm_case("affine_norm_relu", None, ("x", "w", "b")),
    _norm_case("affine_batchnorm_relu", "batchnorm", ("x", "w", "gamma", "beta")),
    _norm_case("affine_layernorm_relu", "layernorm", ("x", "w", "b", "gamma", "beta")),
)


# ---------------------------------------------------------------------------
# Transformer layers
# ---------------------------------------------------------------------------

PATCH = {"patch_size": 2}


def _attention_inputs(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """x (N, T, D) = (2, 3, 4) and the projections, scaled so no softmax saturates."""
    d = 4
    return (rng.standard_normal((2, 3, d)), 0.5 * rng.standard_normal((d, 3 * d)),
            0.1 * rng.standard_normal(3 * d), 0.5 * rng.standard_normal((d, d)),
            0.1 * rng.standard_normal(d))


def _attention(causal: bool) -> Callable[..., Any]:
    def forward(x: Any, w_qkv: Any, b_qkv: Any, w_out: Any, b_out: Any) -> Any:
        mask = None
        if causal:  # built in x's namespace: query i sees keys j <= i
            xp = _compat.array_namespace("cases", x=x)
            t = xp.arange(x.shape[1], device=_compat.device(x))
            mask = xp.expand_dims(t, axis=1) >= t
        return L.multihead_attention_forward(x, w_qkv, b_qkv, w_out, b_out,
                                             {"num_heads": 2, "mask": mask})

    return forward


_ATTENTION_NAMES = ("x", "w_qkv", "b_qkv", "w_out", "b_out")

TRANSFORMER_CASES: tuple[LayerCase, ...] = (
    LayerCase("gelu", L.gelu_forward, L.gelu_backward, _unary((4, 5), 2.0), ("x",)),
    LayerCase("layernorm_tokens", lambda x, g, b: L.layernorm_forward(x, g, b, {}),
              L.layernorm_backward, _norm_inputs((2, 3, 5), (5,)), ("x", "gamma", "beta")),
    LayerCase("temporal_affine", L.temporal_affine_forward, L.temporal_affine_backward,
              lambda rng: (rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 5)),
                           rng.standard_normal(5)), ("x", "w", "b")),
    LayerCase("patch_embed", lambda x, w, b: L.patch_embed_forward(x, w, b, PATCH),
              L.patch_embed_backward,
              lambda rng: (rng.standard_normal((2, 3, 4, 6)), rng.standard_normal((12, 5)),
                           rng.standard_normal(5)), ("x", "w", "b")),
    LayerCase("multihead_attention", _attention(False), L.multihead_attention_backward,
              _attention_inputs, _ATTENTION_NAMES),
    LayerCase("multihead_attention_causal", _attention(True), L.multihead_attention_backward,
              _attention_inputs, _ATTENTION_NAMES),
)

CASES: tuple[LayerCase, ...] = CORE_CASES + ZOO_CASES + TRANSFORMER_CASES


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
