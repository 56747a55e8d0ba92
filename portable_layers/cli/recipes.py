"""The recipes the commands share: the data splits, each model's defaults, and the
training mean that :func:`portable_layers.data.split_and_normalize` subtracted.

``train`` and ``plot attention`` both read these, so a figure drawn from the digits
split sees the images that ``train`` trained on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["CONVNET_DEFAULTS", "DEFAULTS", "IMAGE_SHAPES", "SPLITS", "VIT_DEFAULTS",
           "defaults", "load_split", "training_mean"]

#: Per-dataset defaults for the ``train`` options left unset on the command line.
DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"hidden_dims": [100], "update_rule": "adam", "learning_rate": 1e-2,
               "epochs": 20, "batch_size": 100, "reg": 0.0},
    "cifar10": {"hidden_dims": [100], "update_rule": "adam", "learning_rate": 1e-3,
                "epochs": 10, "batch_size": 200, "reg": 0.0},
}
#: What ``--model convnet`` changes in :data:`DEFAULTS` (``hidden_dims``: its one hidden size).
CONVNET_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"num_filters": 8, "filter_size": 3, "hidden_dims": [100], "learning_rate": 1e-2,
               "epochs": 15},
    "cifar10": {"num_filters": 32, "filter_size": 7, "hidden_dims": [100], "learning_rate": 1e-3,
                "epochs": 1},
}
#: What ``--model vit`` changes in :data:`DEFAULTS`: the VisionTransformer's documented recipe.
VIT_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"update_rule": "adam", "learning_rate": 3e-3, "epochs": 30, "batch_size": 100},
    "cifar10": {"update_rule": "adam", "learning_rate": 1e-3, "epochs": 1, "batch_size": 100},
}
#: (num_train, num_val) of each data set's split (CIFAR-10 adds its 10000 test images).
SPLITS = {"digits": (1400, 397), "cifar10": (49000, 1000)}
#: The shape of one image, (C, H, W).
IMAGE_SHAPES = {"digits": (1, 8, 8), "cifar10": (3, 32, 32)}


def defaults(dataset: str, model: str) -> dict[str, Any]:
    """The ``train`` defaults for ``dataset``, with the convnet's or the ViT's own."""
    extra = {"convnet": CONVNET_DEFAULTS, "vit": VIT_DEFAULTS}.get(model, {})
    return {**DEFAULTS[dataset], **extra.get(dataset, {})}


def load_split(dataset: str, root: str | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """The data set split as :data:`SPLITS` says, centred by the training mean.

    ``X_train, y_train, X_val, y_val``, and ``X_test, y_test`` for CIFAR-10 (read from
    ``root``), the test images centred by the same mean; with ``"mean"``, that mean.
    """
    from .. import data

    num_train, num_val = SPLITS[dataset]
    if dataset == "digits":
        X, y = data.load_digits()
        split = data.split_and_normalize(X, y, num_train=num_train, num_val=num_val, seed=seed)
        return {**split, "mean": training_mean(X, split)}
    if root is None:
        raise ValueError("--dataset cifar10 needs --root, the folder holding CIFAR-10")
    X, y, X_test, y_test = data.load_cifar10(root)
    split = data.split_and_normalize(X, y, num_train=num_train, num_val=num_val, seed=seed)
    mean = training_mean(X, split)
    return {**split, "X_test": X_test - mean, "y_test": y_test, "mean": mean}


def training_mean(X: np.ndarray, split: dict[str, np.ndarray]) -> np.ndarray:
    """The mean image that ``split_and_normalize`` subtracted, when train and val are all of X.

    With N images of mean M, and ``X_val`` holding val - m:
    N * M = num_train * m + (sum(X_val) + num_val * m), so m = M - sum(X_val) / N.
    """
    return np.mean(X, axis=0) - np.sum(split["X_val"], axis=0) / X.shape[0]
