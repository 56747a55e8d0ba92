"""Fast, sampled and vectorized gradient checks, the torch oracle and failure reports."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest
from helpers import assert_array, randn

import portable_layers as pl
from portable_layers import _compat
from portable_layers.gradient_check import (
    autodiff_vjp,
    check_layer,
    fast_check,
    numerical_vjp,
    torch_vjp,
)
from portable_layers.gradient_check.check import entry_chance

HAVE_TORCH = importlib.util.find_spec("torch") is not None


def _affine_inputs(xp: Any, n: int = 5, d: int = 7, m: int = 4) -> tuple[Any, Any, Any]:
    return randn(xp, n, d, seed=1), randn(xp, d, m, seed=2), randn(xp, m, seed=3)


def _planted(index: tuple[int, int], relative: float) -> Any:
    """affine_backward with one entry of dw off by ``relative``."""

    def backward(dout: Any, cache: Any) -> tuple[Any, Any, Any]:
        dx, dw, db = pl.affine_backward(dout, cache)
        bump = np.zeros(tuple(dw.shape))
        bump[index] = relative * float(_compat.to_numpy(dw)[index])
        xp = _compat.array_namespace("t", dw=dw)
        return dx, dw + xp.asarray(bump, dtype=dw.dtype), db

    return backward


def _transposed_backward(dout: Any, cache: Any) -> tuple[Any, Any, Any]:
    """A classic bug: dw built from the wrong operand order, right shape only when square."""
    dx, dw, db = pl.affine_backward(dout, cache)
    return dx, dw.T, db


@pytest.mark.parametrize("mode", ["full", "sampled", "fast"])
def test_every_mode_passes_a_correct_layer(xp: Any, mode: str) -> None:
    result = check_layer(pl.affine_forward, pl.affine_backward, _affine_inputs(xp),
                         oracles=("numerical",), mode=mode, samples=5)
    assert result.ok, str(result)
    assert {c.mode for c in result.checks} == {mode}


def test_fast_mode_catches_a_wrong_formula(xp: Any) -> None:
    inputs = _affine_inputs(xp, d=4, m=4)
    result = fast_check(pl.affine_forward, _transposed_backward, inputs, oracles=("numerical",))
    assert not result.ok
    (check,) = result.checks
    assert check.input == "x, w, b" and check.mode == "fast" and check.error > 1e-2
    assert "dx, dw, db vs numerical" in str(result)


def test_fast_mode_misses_a_small_error_in_one_of_many_entries(xp: Any) -> None:
    """Documented limitation: one entry's share of vᵀJu is too small to see."""
    inputs = _affine_inputs(xp, n=4, d=40, m=30)
    planted = _planted((3, 5), 1e-4)
    assert fast_check(pl.affine_forward, planted, inputs, oracles=("numerical",)).ok
    sampled = check_layer(pl.affine_forward, planted, inputs, oracles=("numerical",),
                          mode="sampled", samples=1200)  # every entry of dw, in random order
    assert not sampled.ok


def test_failures_name_the_input_and_the_entry(xp: Any) -> None:
    inputs = _affine_inputs(xp)
    for mode in ("full", "sampled"):
        result = check_layer(pl.affine_forward, _planted((2, 1), 1e-4), inputs,
                             oracles=("numerical",), mode=mode, samples=28)
        (bad,) = [c for c in result.checks if not c.ok]
        assert bad.input == "w"
        worst = bad.worst[0]
        assert worst.index == (2, 1) and not worst.near_kink
        assert worst.analytic == pytest.approx(worst.expected * (1 + 1e-4), rel=1e-6)
        assert "dw[2, 1] analytic" in str(result)


def _counted(forward: Any) -> tuple[Any, list[int]]:
    calls = [0]

    def counted(*args: Any) -> Any:
        calls[0] += 1
        return forward(*args)
    return counted, calls


def _whole_tanh_error(dout: Any, cache: Any) -> Any:
    return pl.tanh_backward(dout, cache) * 1.01


@pytest.mark.parametrize("mode", ["full", "sampled"])
def test_a_failing_check_probes_no_more_than_it_reports(xp: Any, mode: str) -> None:
    """Every entry is 1% off: the check probes three of them for a kink (the three it
    reports), not every one it compared.  A probe's cost is measured on one entry."""
    costs = []
    for size in (1, 12):  # (at most 16 entries: JAX takes the differences eagerly)
        forward, calls = _counted(pl.tanh_forward)
        result = check_layer(forward, _whole_tanh_error, (randn(xp, size, seed=4),),
                             oracles=("numerical",), mode=mode, samples=10)
        (bad,) = result.checks
        assert not bad.ok and len(bad.worst) == min(size, 3)
        assert all(not e.near_kink for e in bad.worst)
        costs.append(calls[0])
    compared = 12 if mode == "full" else 10
    probe = costs[0] - 3  # one entry: the point, its two differences, one probe
    assert probe > 3
    # three probes (later ones reuse the value at the point the first one took)
    assert 1 + 2 * compared + 2 * probe < costs[1] <= 1 + 2 * compared + 3 * probe, costs


POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}


def _pool(x: Any) -> Any:
    return pl.max_pool_forward(x, POOL)


def test_sampled_mode_draws_where_the_gradient_is_not_zero(xp: Any) -> None:
    """Max pooling's dx is three quarters zeros: 3 entries drawn uniformly are all zeros
    in 42% of draws (0.75^3) and miss a 1% error of the whole dx.  Half the samples are
    drawn among the entries not 0, so it is caught at every seed."""
    x = randn(xp, 2, 2, 4, 4, seed=5)

    def wrong(dout: Any, cache: Any) -> Any:
        return pl.max_pool_backward(dout, cache) * 1.01

    for seed in range(20):
        right = check_layer(_pool, pl.max_pool_backward, (x,), oracles=("numerical",),
                            mode="sampled", samples=3, seed=seed)
        assert right.ok, str(right)
        assert not check_layer(_pool, wrong, (x,), oracles=("numerical",), mode="sampled",
                               samples=3, seed=seed).ok, seed


def test_the_chance_of_comparing_one_entry(xp: Any) -> None:
    """``entry_chance`` is the draw's: with samples = 2 x the 16 entries of dx not 0, each
    of them is compared (chance 1), so one of them off by 1e-2 of the largest is caught
    at every seed; a zero entry is compared with chance (32 - 16) / (64 - 16)."""
    assert entry_chance(64, 16, 32) == 1.0
    assert entry_chance(64, 16, 32, zero=True) == pytest.approx(1 / 3)
    assert entry_chance(64, 16, 3) == pytest.approx(2 / 16 + (14 / 16) * (1 / 62))
    x = randn(xp, 2, 2, 4, 4, seed=5)
    out, cache = _pool(x)
    routed = _compat.to_numpy(pl.max_pool_backward(xp.ones(out.shape, dtype=x.dtype), cache))
    assert np.count_nonzero(routed) == 16
    index = np.unravel_index(int(np.flatnonzero(routed)[7]), routed.shape)

    def planted(dout: Any, cache: Any) -> Any:
        dx = pl.max_pool_backward(dout, cache)
        bump = np.zeros(tuple(dx.shape))
        bump[index] = 1e-2 * float(np.max(np.abs(_compat.to_numpy(dx))))
        return dx + xp.asarray(bump, dtype=dx.dtype)

    for seed in range(10):
        result = check_layer(_pool, planted, (x,), oracles=("numerical",), mode="sampled",
                             samples=32, seed=seed)
        assert not result.ok and result.checks[0].worst[0].index == index, str(result)


@pytest.mark.parametrize("mode", ["full", "sampled"])
def test_a_kink_within_the_step_is_recognised_not_failed(xp: Any, mode: str) -> None:
    """ReLU 3e-6 from its kink (h = 1e-5): the difference straddles it, the entry is
    counted as at a kink (left out or redrawn), and the check passes."""
    x = _compat.from_numpy(np.array([[-1.0, 3e-6, 2.0, 0.5]]),
                           _compat.array_namespace("t", a=xp.asarray(0.0)))
    result = check_layer(pl.relu_forward, pl.relu_backward, (x,), oracles=("numerical",),
                         mode=mode, samples=3, seed=1)
    (c,) = result.checks
    assert result.ok and c.kinks == 1, str(result)
    assert "1 at a kink" in str(result)


def test_a_wrong_value_at_a_kink_is_still_a_failure(xp: Any) -> None:
    """Near a kink the hand-written value must lie between the one-sided slopes."""
    x = _compat.from_numpy(np.array([[-1.0, 3e-6, 2.0]]),
                           _compat.array_namespace("t", a=xp.asarray(0.0)))
    result = check_layer(pl.relu_forward, lambda d, c: 2 * pl.relu_backward(d, c), (x,),
                         oracles=("numerical",))
    (bad,) = result.checks
    assert not bad.ok and bad.kinks == 0
    assert {e.index for e in bad.worst} == {(0, 1), (0, 2)}
    assert [e.near_kink for e in bad.worst if e.index == (0, 1)] == [True]
    assert "near a kink" in str(result)


def test_vectorized_differences_equal_the_loop(xp: Any) -> None:
    jax = pytest.importorskip("jax", reason="jax.vmap needs JAX")
    import jax.numpy as jnp

    x, w, b = (_compat.to_numpy(a) for a in _affine_inputs(xp))
    dout = np.random.default_rng(4).standard_normal((5, 4))

    def fn(x: Any, w: Any, b: Any) -> Any:
        return pl.affine_forward(x, w, b)[0]

    with jax.enable_x64(True):
        j = [jnp.asarray(a) for a in (x, w, b)]
        vec = numerical_vjp(fn, j, jnp.asarray(dout), vectorized=True,
                            chunk_bytes=2_000)  # several batches
        loop = numerical_vjp(fn, j, jnp.asarray(dout), vectorized=False)
        for v, lp in zip(vec, loop, strict=True):
            np.testing.assert_allclose(np.asarray(v), np.asarray(lp), rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(np.asarray(vec[1]), x.T @ dout, rtol=1e-7, atol=1e-8)


@pytest.mark.skipif(not HAVE_TORCH, reason="the torch oracle needs PyTorch")
def test_torch_oracle_from_any_backend(xp: Any) -> None:
    x, w, b = _affine_inputs(xp)
    dout = randn(xp, 5, 4, seed=4)
    dx, dw, db = torch_vjp(lambda x, w, b: pl.affine_forward(x, w, b)[0], (x, w, b), dout)
    assert_array(dw, xp, (7, 4), xp.float64)
    hx, hw, hd = (_compat.to_numpy(a) for a in (x, w, dout))
    np.testing.assert_allclose(_compat.to_numpy(dx), hd @ hw.T, rtol=1e-12)
    np.testing.assert_allclose(_compat.to_numpy(dw), hx.T @ hd, rtol=1e-12)
    np.testing.assert_allclose(_compat.to_numpy(db), hd.sum(axis=0), rtol=1e-12)
    result = check_layer(pl.affine_forward, pl.affine_backward, (x, w, b), oracles=("torch",))
    assert result.ok and {c.oracle for c in result.checks} == {"torch"}


def test_bad_options_are_named(xp: Any) -> None:
    inputs = (randn(xp, 3),)
    with pytest.raises(ValueError, match="check_layer: unknown mode 'quick'"):
        check_layer(pl.tanh_forward, pl.tanh_backward, inputs, mode="quick")
    with pytest.raises(ValueError, match="check_layer: samples must be a positive integer"):
        check_layer(pl.tanh_forward, pl.tanh_backward, inputs, mode="sampled", samples=0)


def test_oracles_name_a_dout_of_the_wrong_shape(xp: Any) -> None:
    x = randn(xp, 3, 2)
    dout = randn(xp, 2, 3, seed=5)
    oracles = [autodiff_vjp] if importlib.util.find_spec("jax") else []
    oracles += [torch_vjp] if HAVE_TORCH else []
    for oracle in oracles:
        name = oracle.__name__
        with pytest.raises(ValueError, match=rf"{name}: dout must have the shape of fn's output "
                                             r"\(3, 2\) \(or be a scalar\), got \(2, 3\)"):
            oracle(lambda v: v * v, (x,), dout)
