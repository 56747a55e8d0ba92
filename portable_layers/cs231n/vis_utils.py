"""CS231n's ``cs231n/vis_utils.py``: ``visualize_grid``.

Examples
--------
>>> import numpy as np
>>> visualize_grid(np.random.default_rng(0).random((5, 7, 7, 3))).shape
(23, 23, 3)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _compat
from .. import _validate as check

__all__ = ["visualize_grid"]


def visualize_grid(Xs: Any, ubound: float = 255.0, padding: int = 1) -> np.ndarray:
    """Tile images (N, H, W, C) into one grid image, the course's layout.

    Each image is scaled by its own minimum and maximum to ``[0, ubound]`` (a constant
    image becomes 0); ``ceil(sqrt(N))`` images per row and column, ``padding``
    pixels of 0 between them.

    Parameters
    ----------
    Xs : array (N, H, W, C) of any backend
    ubound : float
    padding : int

    Returns
    -------
    grid : ndarray (G * H + (G - 1) * padding, G * W + (G - 1) * padding, C), G = ceil(sqrt(N))
    """
    padding = check.integer("visualize_grid", "padding", padding)
    x = np.asarray(_compat.to_numpy(Xs), dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"visualize_grid: Xs must have shape (N, H, W, C), got {x.shape}")
    N, H, W, C = x.shape
    grid_size = math.ceil(math.sqrt(N))
    grid = np.zeros((H * grid_size + padding * (grid_size - 1),
                     W * grid_size + padding * (grid_size - 1), C))
    for k in range(N):  # grid is a fresh host array
        img = x[k]
        low, high = img.min(), img.max()
        scaled = ubound * (img - low) / (high - low) if high > low else np.zeros_like(img)
        top, left = (k // grid_size) * (H + padding), (k % grid_size) * (W + padding)
        grid[top:top + H, left:left + W] = scaled
    return grid
