"""Randomness: the standard has none, so masks are drawn on the host with a seeded
NumPy generator (any library), or with ``jax.random`` when the seed is a JAX array
(traced inside a jitted step).  Seeds are derived, never drawn from a hidden stream."""

from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import is_jax_array

from .._types import Array, Namespace
from .backends import import_jax
from .host import from_numpy

__all__ = ["bernoulli", "derive_seed"]


def bernoulli(
    xp: Namespace, shape: tuple[int, ...], p: float, seed: Any, *, device: Any = None
) -> Array:
    """A boolean array of ``xp`` whose entries are True with probability ``p``.

    The generator follows the kind of ``seed``:

    * a Python int (or a concrete integer array of NumPy, PyTorch, array_api_strict, or
      any library): ``numpy.random.default_rng(seed).random(shape) < p`` on the host,
      converted to ``xp``.  The same seed gives the same mask on every backend and dtype;
      under ``jax.jit`` the mask is drawn at trace time and becomes a constant of the
      compiled function (as it must: the seed is a constant there too).
    * a JAX integer array (concrete or traced, e.g. a per-step seed passed into a
      jitted training step): ``jax.random.bernoulli(jax.random.key(seed), p, shape)``,
      the same eagerly and under ``jax.jit``, but a different mask than NumPy's.
    * None: fresh OS entropy via ``numpy.random.default_rng()``.  (Callers refuse
      this inside a JAX trace, where it would silently freeze one mask.)
    """
    if seed is not None and is_jax_array(seed):
        jax = import_jax("a JAX dropout mask")
        return jax.random.bernoulli(jax.random.key(seed), p, shape)
    rng = np.random.default_rng(None if seed is None else int(seed))
    return from_numpy(rng.random(shape) < p, xp, device=device)


def derive_seed(seed: Any, *salts: Any) -> Any:
    """A new int seed from ``seed`` and the ``salts`` (e.g. a step count and a layer index).

    Pure and stateless: the same inputs give the same seed.  When ``seed`` or a salt is
    a JAX array (a traced step count inside a jitted training step), the result is a
    0-d int32 JAX array from ``jax.random.fold_in`` (no recompilation per step);
    otherwise it is a Python int in [0, 2**31) from ``numpy.random.SeedSequence``.
    """
    if is_jax_array(seed) or any(is_jax_array(s) for s in salts):
        jax = import_jax("a JAX seed")
        key = jax.random.key(seed)
        for salt in salts:
            key = jax.random.fold_in(key, salt)
        bits = jax.random.bits(key, dtype=jax.numpy.uint32)
        return jax.lax.shift_right_logical(bits, jax.numpy.uint32(1)).astype(jax.numpy.int32)
    words = [int(seed), *(int(s) for s in salts)]
    return int(np.random.SeedSequence(words).generate_state(1)[0] & 0x7FFFFFFF)
