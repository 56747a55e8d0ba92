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
from .composite import affine_relu_backward, affine_relu_forward
from .dense import AffineCache, affine_backward, affine_forward
from .losses import softmax_loss, svm_loss

__all__ = [
    "AffineCache",
    "affine_backward",
    "affine_forward",
    "affine_relu_backward",
    "affine_relu_forward",
    "leaky_relu_backward",
    "leaky_relu_forward",
    "relu_backward",
    "relu_forward",
    "sigmoid_backward",
    "sigmoid_forward",
    "softmax_loss",
    "svm_loss",
    "tanh_backward",
    "tanh_forward",
]
