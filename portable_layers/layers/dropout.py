"""Inverted dropout, forward beside backward.

In ``'train'`` mode each entry of ``x`` is kept with probability ``p`` (the KEEP
probability, CS231n's convention) and scaled by ``1 / p``, so ``E[out] = x``; in
``'test'`` mode the layer is the identity.  The backward multiplies by the same
scaled mask, taken from the cache.

Randomness
----------
The Array API standard has no random numbers and this library keeps no global RNG
state, so the mask comes from :func:`portable_layers._compat.bernoulli`, chosen by the
kind of ``dropout_param['seed']``:

* an ``int``: drawn on the host with ``numpy.random.default_rng(seed)`` and converted
  to x's library and device.  The same seed gives the same mask on every backend, in
  float32 and float64, eagerly and under ``jax.jit`` (where the mask is drawn while
  tracing and compiled in as a constant, since the seed is a constant there too).
* a JAX integer array (say a step counter passed into a jitted training step):
  ``jax.random.bernoulli`` with ``jax.random.key(seed)``, so a traced seed gives a
  fresh mask per call without recompiling; eager and jitted calls agree, but the
  masks differ from NumPy's for the same number.
* absent or None: fresh OS entropy on each call (not reproducible).  Refused under
  ``jax.jit``, where it would freeze one mask into the compiled function.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import _validate as check
from .._compat import array_namespace, bernoulli, device, is_concrete
from .._types import Array

DropoutCache = tuple[dict[str, Any], Array | None]


def _seed(func: str, x: Array, xp: Any, seed: Any) -> Any:
    """Validate ``dropout_param['seed']``: None, an int, or a 0-d integer array of x's library."""
    if seed is None:
        if not is_concrete(x):
            msg = f"{func}: dropout_param['seed'] is required under jax.jit, got None"
            raise ValueError(msg)
        return None
    if isinstance(seed, bool) or not (hasattr(seed, "__index__") or hasattr(seed, "dtype")):
        raise TypeError(f"{func}: dropout_param['seed'] must be an integer, got {seed!r}")
    if hasattr(seed, "dtype"):
        sxp = array_namespace(func, x=x, seed=seed)
        if not sxp.isdtype(seed.dtype, "integral") or seed.ndim != 0:
            msg = (
                f"{func}: dropout_param['seed'] must be an integer scalar, got dtype "
                f"{seed.dtype} and shape {tuple(seed.shape)}"
            )
            raise TypeError(msg)
    return seed


def dropout_forward(x: Array, dropout_param: Mapping[str, Any]) -> tuple[Array, DropoutCache]:
    """Forward pass of inverted dropout.

    Parameters
    ----------
    x : floating array of any shape
    dropout_param : dict
        ``'p'``: keep probability in (0, 1] (required); ``'mode'``: ``'train'`` or
        ``'test'`` (required); ``'seed'``: int or JAX integer array making the mask
        reproducible (optional; see the module docstring).

    Returns
    -------
    out : array like ``x``
        ``x * mask`` in train mode, with ``mask`` 0 or ``1 / p``; ``x`` in test mode.
    cache : tuple
        ``(dropout_param, mask)``; ``mask`` (x's shape and dtype) is None in test mode.

    Raises
    ------
    TypeError
        If ``x`` is not floating, ``dropout_param`` not a dict or the seed not an integer.
    ValueError
        If ``p`` is outside (0, 1], ``mode`` is unknown, or the seed is missing under
        ``jax.jit``.

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = dropout_forward(np.ones(8), {"p": 0.5, "mode": "train", "seed": 0})
    >>> sorted(set(out.tolist())) in ([0.0, 2.0], [2.0])
    True
    >>> dropout_forward(np.ones(2), {"p": 0.5, "mode": "test"})[0]
    array([1., 1.])
    """
    func = "dropout_forward"
    xp = array_namespace(func, x=x)
    check.floating(func, "x", x, xp)
    params = check.mapping(func, "dropout_param", dropout_param)
    if "p" not in params:
        raise ValueError(f"{func}: dropout_param must have the key 'p', got keys {sorted(params)}")
    p = check.number_item(func, "dropout_param", params, "p", 1.0, low=0.0, high=1.0)
    mode = check.mode(func, "dropout_param", params)
    if mode == "test":
        return x, (dict(params), None)
    seed = _seed(func, x, xp, params.get("seed"))
    keep = bernoulli(xp, tuple(x.shape), p, seed, device=device(x))
    mask = xp.astype(keep, x.dtype) / p
    return x * mask, (dict(params), mask)


def dropout_backward(dout: Array, cache: DropoutCache) -> Array:
    """Backward pass of :func:`dropout_forward`: ``dout * mask`` (``dout`` in test mode).

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = dropout_forward(np.ones(4), {"p": 0.5, "mode": "train", "seed": 1})
    >>> bool(np.all(dropout_backward(np.ones(4), cache) == out))
    True
    """
    func = "dropout_backward"
    _, mask = cache
    if mask is None:
        array_namespace(func, dout=dout)
        return dout
    array_namespace(func, dout=dout, cache=mask)
    check.dout_like(func, dout, mask.shape)
    return dout * mask
