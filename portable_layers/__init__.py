"""portable_layers: CS231n-style neural-network layers written once for every array library.

Each layer is a forward returning ``(out, cache)`` beside a backward taking
``(dout, cache)``, written against the Python Array API standard so the same code
runs on NumPy, JAX (also under ``jax.jit``), PyTorch, array_api_strict and Dask
arrays.  :mod:`portable_layers.gradient_check` verifies every hand-written backward
by finite differences and by JAX autodiff.
"""

from . import checkpoint, data, distributed, gradient_check, layers, models, optim, plotting
from .checkpoint import load_checkpoint, save_checkpoint
from .gradient_check import check_layer, fast_check, rel_error
from .layers import (
    affine_backward,
    affine_forward,
    affine_norm_relu_backward,
    affine_norm_relu_forward,
    affine_relu_backward,
    affine_relu_forward,
    batchnorm_backward,
    batchnorm_forward,
    conv_backward,
    conv_forward,
    conv_relu_backward,
    conv_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
    dropout_backward,
    dropout_forward,
    layernorm_backward,
    layernorm_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    max_pool_backward,
    max_pool_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    softmax_loss,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
    svm_loss,
    tanh_backward,
    tanh_forward,
)
from .layers import (  # transformer layers (issue 14)
    gelu_backward,
    gelu_forward,
    multihead_attention_backward,
    multihead_attention_forward,
    patch_embed_backward,
    patch_embed_forward,
    temporal_affine_backward,
    temporal_affine_forward,
)
from .models import FullyConnectedNet, ThreeLayerConvNet, TwoLayerPerceptron
from .solver import Solver
from .vit import VisionTransformer

__version__ = "0.1.0"

__all__ = [
    "FullyConnectedNet",
    "Solver",
    "ThreeLayerConvNet",
    "TwoLayerPerceptron",
    "__version__",
    "affine_backward",
    "affine_forward",
    "affine_norm_relu_backward",
    "affine_norm_relu_forward",
    "affine_relu_backward",
    "affine_relu_forward",
    "batchnorm_backward",
    "batchnorm_forward",
    "check_layer",
    "checkpoint",
    "conv_backward",
    "conv_forward",
    "conv_relu_backward",
    "conv_relu_forward",
    "conv_relu_pool_backward",
    "conv_relu_pool_forward",
    "data",
    "distributed",
    "dropout_backward",
    "dropout_forward",
    "fast_check",
    "gradient_check",
    "layernorm_backward",
    "layernorm_forward",
    "layers",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "load_checkpoint",
    "max_pool_backward",
    "max_pool_forward",
    "models",
    "optim",
    "plotting",
    "rel_error",
    "relu_backward",
    "relu_forward",
    "save_checkpoint",
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
    # transformer layers and model (issue 14)
    "VisionTransformer",
    "gelu_backward",
    "gelu_forward",
    "multihead_attention_backward",
    "multihead_attention_forward",
    "patch_embed_backward",
    "patch_embed_forward",
    "temporal_affine_backward",
    "temporal_affine_forward",
]
