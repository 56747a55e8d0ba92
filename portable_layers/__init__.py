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
from .layers import (  # noqa: F401 (re-exported: __all__ ends with layers.__all__)
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
    gelu_backward,
    gelu_forward,
    layernorm_backward,
    layernorm_forward,
    leaky_relu_backward,
    leaky_relu_forward,
    max_pool_backward,
    max_pool_forward,
    multihead_attention_backward,
    multihead_attention_forward,
    patch_embed_backward,
    patch_embed_forward,
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
    temporal_affine_backward,
    temporal_affine_forward,
)
from .models import FullyConnectedNet, ThreeLayerConvNet, TwoLayerPerceptron
from .solver import Solver
from .train_step import TrainState, init_train_state, make_train_step
from .vit import VisionTransformer

__version__ = "0.1.0"

# every layer of portable_layers.layers, and the models, checks and training around them
__all__ = [
    "FullyConnectedNet",
    "Solver",
    "ThreeLayerConvNet",
    "TrainState",
    "TwoLayerPerceptron",
    "VisionTransformer",
    "__version__",
    "check_layer",
    "checkpoint",
    "data",
    "distributed",
    "fast_check",
    "gradient_check",
    "init_train_state",
    "layers",
    "load_checkpoint",
    "make_train_step",
    "models",
    "optim",
    "plotting",
    "rel_error",
    "save_checkpoint",
    *layers.__all__,
]
