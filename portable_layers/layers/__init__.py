"""Layers, each a forward returning ``(out, cache)`` beside its backward."""

from .activations import (
    leaky_relu_backward,
    leaky_relu_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
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
from .dense import AffineCache, affine_backward, affine_forward
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

__all__ = [
    "AffineCache",
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
    "layernorm_backward",
    "layernorm_forward",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "max_pool_backward",
    "max_pool_forward",
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
]
