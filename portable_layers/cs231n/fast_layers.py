"""CS231n's ``cs231n/fast_layers.py``: every name maps to the library's vectorized layers.

The course's fast layers needed a Cython extension (``im2col_cython``); here
``conv_forward_fast``, ``conv_forward_im2col`` and ``conv_forward_strides`` are
:func:`~portable_layers.cs231n.layers.conv_forward_naive` (the library's
:func:`~portable_layers.conv_forward`), and likewise for the backwards and the max
pools, so naive and fast caches are interchangeable and nothing needs compiling.

Examples
--------
>>> import numpy as np
>>> out, cache = max_pool_forward_fast(np.arange(16.0).reshape(1, 1, 4, 4),
...     {"pool_height": 2, "pool_width": 2, "stride": 2})
>>> out.ravel()
array([ 5.,  7., 13., 15.])
"""

from __future__ import annotations

from .. import layers as L
from .layers import conv_forward_naive

__all__ = [
    "conv_backward_fast",
    "conv_backward_im2col",
    "conv_backward_strides",
    "conv_forward_fast",
    "conv_forward_im2col",
    "conv_forward_strides",
    "max_pool_backward_fast",
    "max_pool_backward_im2col",
    "max_pool_backward_reshape",
    "max_pool_forward_fast",
    "max_pool_forward_im2col",
    "max_pool_forward_reshape",
]

conv_forward_fast = conv_forward_im2col = conv_forward_strides = conv_forward_naive
conv_backward_fast = conv_backward_im2col = conv_backward_strides = L.conv_backward
max_pool_forward_fast = max_pool_forward_im2col = max_pool_forward_reshape = L.max_pool_forward
max_pool_backward_fast = max_pool_backward_im2col = L.max_pool_backward
max_pool_backward_reshape = L.max_pool_backward
