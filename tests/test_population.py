"""No false alarms on correct gradients, and the 1% error caught: on a population of draws.

A smaller population than ``benchmarks/bench_population.py``'s: 30 draws per family and
mode on NumPy, 6 on each other backend (``portable_layers.gradient_check._population``).
Every check of a correct gradient must pass, and every check of a gradient whose every
entry is off by 1% must fail. The CIFAR-size net runs at its real size (3072-100-10) on
NumPy in float64 and with D = 300 elsewhere (the backends' conversions of a 307,200-entry
W1 would dominate the run). Full mode runs on the layer case table (at random inputs) and
the two smallest model families. Sampled mode uses the default 10 entries per gradient,
half of them where the analytic gradient is not 0.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import base_namespace

from portable_layers import _compat
from portable_layers.gradient_check._population import outcome

DRAWS = 30
OTHER_DRAWS = 6
FAST = ("cifar", "fc_batchnorm", "fc_layernorm", "fc_dropout", "convnet", "vit", "cases")
SAMPLED = ("fc_batchnorm", "fc_layernorm", "fc_dropout", "convnet", "vit", "cases")
FULL = ("cases", "fc_batchnorm", "convnet")


def _is_numpy(xp: Any) -> bool:
    return base_namespace(xp) is _compat.get_namespace("numpy")


def _population(xp: Any, family: str, mode: str, dtype: str, **kwargs: Any) -> None:
    alarms, missed = [], []
    # the full population on NumPy; a smaller one on every other backend, which proves the
    # checker behaves the same there (the matrix runs this file on eight backends)
    draws = DRAWS if xp is _compat.get_namespace("numpy") else OTHER_DRAWS
    with _compat.float64_context(base_namespace(xp)):
        for seed in range(draws):
            o = outcome(family, seed, dtype, mode, xp=xp, entry=False, **kwargs)
            if not o["ok"]:
                alarms.append(f"seed {seed}:\n{o['report']}")
            if not o["whole"]:
                missed.append(seed)
    assert not alarms, f"{family} {mode} {dtype}: false alarms\n" + "\n".join(alarms[:3])
    assert not missed, f"{family} {mode} {dtype}: 1% error missed for seeds {missed}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("family", FAST)
def test_fast_mode_population(xp: Any, family: str, dtype: str) -> None:
    real = _is_numpy(xp) and dtype == "float64"  # the real size once: it costs the most
    kwargs = {"n": 8, "d": 3072 if real else 300} if family == "cifar" else {}
    _population(xp, family, "fast", dtype, **kwargs)


@pytest.mark.parametrize("family", SAMPLED)
def test_sampled_mode_population(xp: Any, family: str) -> None:
    _population(xp, family, "sampled", "float64")


def test_sampled_mode_population_cifar_size(xp: Any) -> None:
    _population(xp, "cifar", "sampled", "float64", n=8, d=3072 if _is_numpy(xp) else 300)


@pytest.mark.parametrize("family", FULL)
def test_full_mode_population(xp: Any, family: str) -> None:
    _population(xp, family, "full", "float64")
