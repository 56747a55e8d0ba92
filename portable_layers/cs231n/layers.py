"""CS231n's ``cs231n/layers.py`` on the library's vectorized layers.

Each forward returns ``(out, cache)`` and each backward takes ``(dout, cache)``,
as in the course.  ``conv_forward_naive`` and ``max_pool_forward_naive`` are the
library's vectorized :func:`~portable_layers.conv_forward` and
:func:`~portable_layers.max_pool_forward` (their caches work with the
``*_fast`` backwards of :mod:`portable_layers.cs231n.fast_layers` too), and
``batchnorm_backward_alt`` is :func:`~portable_layers.batchnorm_backward`, already
the simplified closed form.

Differences from the course's reference code: integer parameters (``gamma =
np.asarray([3, 4, 5])``) are cast to ``x``'s floating dtype; ``svm_loss`` and
``softmax_loss`` return the loss as a 0-d array of x's library; every function also
runs on JAX, PyTorch and array_api_strict arrays.

Examples
--------
>>> import numpy as np
>>> out, cache = affine_forward(np.ones((2, 3)), np.ones((3, 4)), np.array([0, 1, 2, 3]))
>>> out[0]
array([3., 4., 5., 6.])
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import numpy as np

from .. import _compat
from .. import layers as L
from .._types import Array
from ._util import cast_like

# in the order of the course's assignment file, each forward beside its backward
__all__ = [  # noqa: RUF022
    "affine_forward", "affine_backward",
    "relu_forward", "relu_backward",
    "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt",
    "layernorm_forward", "layernorm_backward",
    "dropout_forward", "dropout_backward",
    "conv_forward_naive", "conv_backward_naive",
    "max_pool_forward_naive", "max_pool_backward_naive",
    "spatial_batchnorm_forward", "spatial_batchnorm_backward",
    "spatial_groupnorm_forward", "spatial_groupnorm_backward",
    "svm_loss",
    "softmax_loss",
]


relu_forward = L.relu_forward
relu_backward = L.relu_backward
affine_backward = L.affine_backward
svm_loss = L.svm_loss
softmax_loss = L.softmax_loss
batchnorm_backward = L.batchnorm_backward
batchnorm_backward_alt = L.batchnorm_backward
layernorm_backward = L.layernorm_backward
spatial_batchnorm_backward = L.spatial_batchnorm_backward
spatial_groupnorm_backward = L.spatial_groupnorm_backward
conv_backward_naive = L.conv_backward
max_pool_forward_naive = L.max_pool_forward
max_pool_backward_naive = L.max_pool_backward
dropout_backward = L.dropout_backward


def affine_forward(x: Array, w: Array, b: Array) -> tuple[Array, Any]:
    """:func:`portable_layers.affine_forward`, integer ``w`` or ``b`` cast to x's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> affine_forward(np.ones((1, 2)), np.eye(2), np.array([0, 128]))[0]
    array([[  1., 129.]])
    """
    w, b = cast_like("affine_forward", x, w, b)
    return L.affine_forward(x, w, b)


def batchnorm_forward(x: Array, gamma: Array, beta: Array,
                      bn_param: MutableMapping[str, Any]) -> tuple[Array, Any]:
    """:func:`portable_layers.batchnorm_forward` (running statistics stored in ``bn_param``).

    Examples
    --------
    >>> import numpy as np
    >>> out, _ = batchnorm_forward(np.array([[1.0], [3.0]]), np.array([2]), np.array([5]),
    ...                            {"mode": "train"})
    >>> np.round(out.ravel(), 4)
    array([3., 7.])
    """
    gamma, beta = cast_like("batchnorm_forward", x, gamma, beta)
    return L.batchnorm_forward(x, gamma, beta, bn_param)


def layernorm_forward(x: Array, gamma: Array, beta: Array,
                      ln_param: Mapping[str, Any]) -> tuple[Array, Any]:
    """:func:`portable_layers.layernorm_forward` (keys other than ``'eps'`` are ignored).

    Examples
    --------
    >>> import numpy as np
    >>> np.round(layernorm_forward(np.array([[1.0, 3.0]]), np.ones(2), np.zeros(2), {})[0], 4)
    array([[-1.,  1.]])
    """
    gamma, beta = cast_like("layernorm_forward", x, gamma, beta)
    return L.layernorm_forward(x, gamma, beta, ln_param)


def spatial_batchnorm_forward(x: Array, gamma: Array, beta: Array,
                              bn_param: MutableMapping[str, Any]) -> tuple[Array, Any]:
    """:func:`portable_layers.spatial_batchnorm_forward`, integer gamma/beta accepted.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(8.0).reshape(2, 1, 2, 2)
    >>> out, _ = spatial_batchnorm_forward(x, np.array([3]), np.array([6]), {"mode": "train"})
    >>> round(float(out.mean()), 6)
    6.0
    """
    gamma, beta = cast_like("spatial_batchnorm_forward", x, gamma, beta)
    return L.spatial_batchnorm_forward(x, gamma, beta, bn_param)


def spatial_groupnorm_forward(x: Array, gamma: Array, beta: Array, G: int,
                              gn_param: Mapping[str, Any]) -> tuple[Array, Any]:
    """:func:`portable_layers.spatial_groupnorm_forward`, integer gamma/beta accepted.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16.0).reshape(1, 4, 2, 2)
    >>> out, _ = spatial_groupnorm_forward(x, np.ones((1, 4, 1, 1), int),
    ...                                    np.zeros((1, 4, 1, 1), int), 2, {})
    >>> out.shape
    (1, 4, 2, 2)
    """
    gamma, beta = cast_like("spatial_groupnorm_forward", x, gamma, beta)
    return L.spatial_groupnorm_forward(x, gamma, beta, G, gn_param)


def conv_forward_naive(x: Array, w: Array, b: Array,
                       conv_param: Mapping[str, int]) -> tuple[Array, Any]:
    """:func:`portable_layers.conv_forward` (vectorized), integer ``w``/``b`` accepted.

    Examples
    --------
    >>> import numpy as np
    >>> out, _ = conv_forward_naive(np.ones((1, 1, 3, 3)), np.ones((2, 1, 3, 3)),
    ...                             np.zeros(2), {"stride": 1, "pad": 1})
    >>> out.shape
    (1, 2, 3, 3)
    """
    w, b = cast_like("conv_forward_naive", x, w, b)
    return L.conv_forward(x, w, b, conv_param)


def dropout_forward(x: Array, dropout_param: Mapping[str, Any]) -> tuple[Array, Any]:
    """Inverted dropout with the course's randomness: NumPy's global generator.

    ``dropout_param``: ``'p'`` the KEEP probability, ``'mode'`` (``'train'`` or
    ``'test'``), optional ``'seed'``.  In train mode, as the course's reference code
    does, a ``'seed'`` calls ``np.random.seed(seed)`` (so the same mask every call, the
    way the course gradient-checks a net with dropout), and the mask is
    ``(np.random.rand(*x.shape) < p) / p`` drawn on the host and moved to x's library.
    (:func:`portable_layers.dropout_forward` keeps no global state; use it outside
    this compatibility package.)

    Returns
    -------
    out : array like ``x``
    cache : ``(dropout_param, mask)``, ``mask`` None in test mode

    Examples
    --------
    >>> import numpy as np
    >>> out, cache = dropout_forward(np.ones(6), {"mode": "train", "p": 0.5, "seed": 0})
    >>> out
    array([0., 0., 0., 0., 2., 0.])
    """
    func = "dropout_forward"
    params = dict(dropout_param) if isinstance(dropout_param, Mapping) else dropout_param
    out, _ = L.dropout_forward(x, {**params, "mode": "test"})  # validates x, p, dict
    if params.get("mode") != "train":
        if params.get("mode") != "test":
            L.dropout_forward(x, params)  # raises the library's message for a bad mode
        return out, (params, None)
    p = float(params["p"])
    seed = params.get("seed")
    if seed is not None:
        np.random.seed(seed)
    keep = np.random.rand(*x.shape) < p
    xp = _compat.array_namespace(func, x=x)
    mask = _compat.from_numpy(keep / p, xp, dtype=x.dtype, device=_compat.device(x))
    return x * mask, (params, mask)
