"""The checker checked: wrong backward passes that ``check_layer`` must flag.

Each row is a classic bug in a hand-written backward (a missing transpose, a dropped
term, a wrong axis, a missing 1/N, a small scale error, a wrong sign, one wrong
entry), built from the correct backward so that only the bug differs.  Full mode
must flag every row with each oracle.  The fast mode sees one projection ``vᵀJd``:
for every row and direction the test computes how far the bug moves that
projection (from the correct and the wrong gradients, along the mode's own
direction, which leans on the hand-written, here wrong, gradient) and requires a
failure when the move is well above the tolerance and a
pass when it is well below: which rows the fast mode catches is computed, not listed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest
from helpers import randn

import portable_layers as pl
from portable_layers import _compat
from portable_layers.gradient_check import check_layer, tolerance
from portable_layers.gradient_check.check import fast_directions


class Mutation(NamedTuple):
    forward: Callable[..., Any]
    backward: Callable[[Any, Any], Any] | None  # None: a loss returning (loss, grads)
    wrong: Callable[..., Any]  # the bug: (wrong backward) or (wrong loss forward)
    inputs: Callable[[Any], tuple[Any, ...]]


def _xp(a: Any) -> Any:
    return _compat.array_namespace("mutation", a=a)


def _affine_inputs(xp: Any) -> tuple[Any, ...]:  # square, so transposes keep the shape
    return randn(xp, 4, 4, seed=1), randn(xp, 4, 4, seed=2), randn(xp, 4, seed=3)


def _affine_bug(bug: Callable[[Any, Any, Any, Any, Any], tuple[Any, Any, Any]]) -> Callable:
    def backward(dout: Any, cache: Any) -> tuple[Any, Any, Any]:
        dx, dw, db = pl.affine_backward(dout, cache)
        return bug(dout, cache, dx, dw, db)
    return backward


def _one_entry(g: Any, relative: float) -> Any:
    bump = np.zeros(tuple(g.shape))
    bump[(0,) * len(g.shape)] = relative * float(np.max(np.abs(_compat.to_numpy(g))))
    return g + _compat.from_numpy(bump, _xp(g), dtype=g.dtype)


def _batchnorm_bug(drop: str) -> Callable:
    def backward(dout: Any, cache: Any) -> tuple[Any, Any, Any]:
        _, dgamma, dbeta = pl.batchnorm_backward(dout, cache)
        xhat, gamma, inv_std, _ = cache
        xp = _xp(dout)
        dxhat = dout * gamma
        mean_d = xp.mean(dxhat, axis=0, keepdims=True)
        mean_dx = xp.mean(dxhat * xhat, axis=0, keepdims=True)
        terms = {"mean": dxhat - xhat * mean_dx, "variance": dxhat - mean_d}[drop]
        return inv_std * terms, dgamma, dbeta
    return backward


def _batchnorm_forward(x: Any, gamma: Any, beta: Any) -> Any:
    return pl.batchnorm_forward(x, gamma, beta, {"mode": "train"})


def _batchnorm_inputs(xp: Any) -> tuple[Any, ...]:
    return randn(xp, 6, 3, seed=4), randn(xp, 3, seed=5), randn(xp, 3, seed=6)


def _softmax_without_one_over_n(x: Any, y: Any) -> tuple[Any, Any]:
    loss, dx = pl.softmax_loss(x, y)
    return loss, dx * x.shape[0]


def _softmax_inputs(xp: Any) -> tuple[Any, ...]:
    return randn(xp, 5, 4, seed=7), xp.asarray(np.array([0, 3, 1, 2, 1]))


def _relu_inputs(xp: Any) -> tuple[Any, ...]:  # every entry at least 0.1 from the kink
    a = np.random.default_rng(8).standard_normal((4, 5))
    return (_compat.from_numpy(np.where(a >= 0, a + 0.1, a - 0.1), _xp(xp.asarray(0.0))),)


def _affine_relu_no_mask(dout: Any, cache: Any) -> tuple[Any, Any, Any]:
    fc_cache, _ = cache
    return pl.affine_backward(dout, fc_cache)


def _affine_relu_inputs(xp: Any) -> tuple[Any, ...]:
    from portable_layers.cases import get_case

    return get_case("affine_relu").inputs(xp)


MUTATIONS = {
    "affine: dx without the transpose of w": Mutation(
        pl.affine_forward, pl.affine_backward,
        _affine_bug(lambda dout, c, dx, dw, db: (dout @ c[1], dw, db)), _affine_inputs),
    "affine: dw transposed": Mutation(
        pl.affine_forward, pl.affine_backward,
        _affine_bug(lambda dout, c, dx, dw, db: (dx, dw.T, db)), _affine_inputs),
    "affine: db summed over the wrong axis": Mutation(
        pl.affine_forward, pl.affine_backward,
        _affine_bug(lambda dout, c, dx, dw, db: (dx, dw, _xp(dout).sum(dout, axis=1))),
        _affine_inputs),
    "affine: dw off by a factor 1 + 1e-3": Mutation(
        pl.affine_forward, pl.affine_backward,
        _affine_bug(lambda dout, c, dx, dw, db: (dx, dw * (1 + 1e-3), db)), _affine_inputs),
    "affine: one entry of dw off by 1e-4 of the largest": Mutation(
        pl.affine_forward, pl.affine_backward,
        _affine_bug(lambda dout, c, dx, dw, db: (dx, _one_entry(dw, 1e-4), db)), _affine_inputs),
    "affine: one entry of dw off by 1e-5 of the largest": Mutation(
        pl.affine_forward, pl.affine_backward,
        _affine_bug(lambda dout, c, dx, dw, db: (dx, _one_entry(dw, 1e-5), db)), _affine_inputs),
    "affine_relu: the ReLU mask dropped": Mutation(
        pl.affine_relu_forward, pl.affine_relu_backward, _affine_relu_no_mask,
        _affine_relu_inputs),
    "batchnorm: dx drops the mean term": Mutation(
        _batchnorm_forward, pl.batchnorm_backward, _batchnorm_bug("mean"), _batchnorm_inputs),
    "batchnorm: dx drops the variance term": Mutation(
        _batchnorm_forward, pl.batchnorm_backward, _batchnorm_bug("variance"),
        _batchnorm_inputs),
    "softmax_loss: dx missing 1/N": Mutation(
        pl.softmax_loss, None, _softmax_without_one_over_n, _softmax_inputs),
    "relu: the mask's sign flipped": Mutation(
        pl.relu_forward, pl.relu_backward,
        lambda dout, cache: dout - pl.relu_backward(dout, cache), _relu_inputs),
    "sigmoid: s instead of s(1 - s)": Mutation(
        pl.sigmoid_forward, pl.sigmoid_backward, lambda dout, s: dout * s,
        lambda xp: (randn(xp, 3, 4, seed=9),)),
}


def _pair(m: Mutation, correct: bool) -> tuple[Callable[..., Any], Callable[..., Any] | None]:
    if m.backward is None:
        return (m.forward if correct else m.wrong), None
    return m.forward, (m.backward if correct else m.wrong)


def _dout(m: Mutation, inputs: tuple[Any, ...]) -> Any:
    if m.backward is None:
        return None
    out = m.forward(*inputs)[0]
    rng = np.random.default_rng(11)
    return _compat.from_numpy(rng.standard_normal(tuple(out.shape)), _xp(out), dtype=out.dtype)


def _gradients(m: Mutation, inputs: tuple[Any, ...], dout: Any, correct: bool) -> list[np.ndarray]:
    forward, backward = _pair(m, correct)
    if backward is None:
        grads = forward(*inputs)[1]
    else:
        grads = backward(dout, forward(*inputs)[1])
    grads = grads if isinstance(grads, tuple) else (grads,)
    return [np.asarray(_compat.to_numpy(g), dtype=np.float64) for g in grads]


@pytest.mark.parametrize("oracle", ["numerical", "autodiff"])
@pytest.mark.parametrize("bug", list(MUTATIONS))
def test_full_mode_flags_every_mutation(xp: Any, bug: str, oracle: str) -> None:
    if oracle == "autodiff":
        pytest.importorskip("jax", reason="the autodiff oracle needs JAX")
    m = MUTATIONS[bug]
    inputs = m.inputs(xp)
    dout = _dout(m, inputs)
    assert check_layer(*_pair(m, True), inputs, dout, oracles=(oracle,)).ok
    result = check_layer(*_pair(m, False), inputs, dout, oracles=(oracle,))
    assert not result.ok, f"{bug}: not flagged by {oracle}\n{result}"


def test_fast_mode_flags_what_moves_the_projection(xp: Any) -> None:
    flagged, passed = set(), set()
    for bug, m in MUTATIONS.items():
        inputs = m.inputs(xp)
        dout = _dout(m, inputs)
        right = _gradients(m, inputs, dout, correct=True)
        wrong = _gradients(m, inputs, dout, correct=False)
        tol = tolerance(inputs[0].dtype, "numerical", "fast")
        for seed in range(4):
            assert check_layer(*_pair(m, True), inputs, dout, oracles=("numerical",),
                               mode="fast", seed=seed).ok
            directions = fast_directions(inputs, seed, wrong)  # aligned with the wrong ones
            d = [directions[i] for i in sorted(directions)]
            a_right = sum(float(np.sum(g * di)) for g, (di, _) in zip(right, d, strict=True))
            a_wrong = sum(float(np.sum(g * di)) for g, (di, _) in zip(wrong, d, strict=True))
            scale = math.sqrt(sum(float(np.sum(g**2)) * s**2 for g, (_, s) in zip(wrong, d,
                                                                                   strict=True)))
            moved = abs(a_wrong - a_right) / scale
            result = check_layer(*_pair(m, False), inputs, dout, oracles=("numerical",),
                                 mode="fast", seed=seed)
            if moved > 2 * tol:
                assert not result.ok, f"{bug} (seed {seed}): moved {moved:.1e}, not flagged"
                flagged.add(bug)
            elif moved < tol / 2:
                assert result.ok, f"{bug} (seed {seed}): moved {moved:.1e}, flagged\n{result}"
                passed.add(bug)
    # The table spans both sides: gross bugs move the projection, one entry off by
    # 1e-5 of the largest cannot (its share is below the tolerance).
    assert "affine: dw transposed" in flagged
    assert "affine: one entry of dw off by 1e-5 of the largest" in passed
