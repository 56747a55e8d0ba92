"""The Vision Transformer's public path: :mod:`portable_layers.models.vit` re-exported.

The model moved into ``models/`` beside the others; ``portable_layers.vit`` keeps
working for imports and pickles (``VisionTransformer.__module__`` is this module).
"""

from __future__ import annotations

from .models.vit import POS_SCALE, VisionTransformer

__all__ = ["POS_SCALE", "VisionTransformer"]
