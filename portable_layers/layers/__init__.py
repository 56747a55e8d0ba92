"""Layers, each a forward returning ``(out, cache)`` beside its backward."""

from .activations import (
    gelu_backward,
    gelu_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from .attention import AttentionCache as AttentionCache
from .attention import (
    multihead_attention_backward,
    multihead_attention_forward,
    patch_embed_backward,
    patch_embed_forward,
    temporal_affine_backward,
    temporal_affine_forward,
)
from .composite import (
    affine_norm_relu_backward,
    affine_norm_relu_forward,
    affine_relu_backward,
    affine_relu_forward,
    conv_relu_backward,
    conv_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
)
from .conv import conv_backward, conv_forward
from .dense import AffineCache as AffineCache
from .dense import affine_backward, affine_forward
from .dropout import dropout_backward, dropout_forward
from .losses import softmax_loss, svm_loss
from .normalization import (
    batchnorm_backward,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
)
from .pooling import max_pool_backward, max_pool_forward

# the layers (the caches' types are importable from here too, and not re-exported at the
# top level, whose ``__all__`` is this one plus the models, checks and training)
__all__ = [
    "affine_backward",
    "affine_forward",
    "affine_norm_relu_backward",
    "affine_norm_relu_forward",
    "affine_relu_backward",
    "affine_relu_forward",
    "batchnorm_backward",
    "batchnorm_forward",
    "conv_backward",
    "conv_forward",
    "conv_relu_backward",
    "conv_relu_forward",
    "conv_relu_pool_backward",
    "conv_relu_pool_forward",
    "dropout_backward",
    "dropout_forward",
    "gelu_backward",
    "gelu_forward",
    "layernorm_backward",
    "layernorm_forward",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "max_pool_backward",
    "max_pool_forward",
    "multihead_attention_backward",
    "multihead_attention_forward",
    "patch_embed_backward",
    "patch_embed_forward",
    "relu_backward",
    "relu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "softmax_loss",
    "spatial_batchnorm_backward",
    "spatial_batchnorm_forward",
    "spatial_groupnorm_backward",
    "spatial_groupnorm_forward",
    "svm_loss",
    "tanh_backward",
    "tanh_forward",
    "temporal_affine_backward",
    "temporal_affine_forward",
]
