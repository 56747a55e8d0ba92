"""CS231n's ``cs231n/data_utils.py``: CIFAR-10 through the library's safe loader.

:func:`portable_layers.data.load_cifar10` reads the pickles without running any code
in them (the course's ``pickle.load`` would run whatever a tampered file holds).

Examples
--------
>>> data = get_CIFAR10_data(cifar10_dir="cs231n/datasets/cifar-10-batches-py")  # doctest: +SKIP
>>> {k: v.shape for k, v in data.items()}["X_train"]  # doctest: +SKIP
(49000, 3, 32, 32)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import _validate as check
from ..data import load_cifar10

__all__ = ["get_CIFAR10_data", "load_CIFAR10"]

#: Where the course's notebooks keep CIFAR-10 (relative to the assignment folder);
#: the environment variable ``CIFAR10_DIR`` overrides it.
DEFAULT_DIR = "cs231n/datasets/cifar-10-batches-py"


def load_CIFAR10(ROOT: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All of CIFAR-10 as the course returns it: images (N, 32, 32, 3) float64, labels.

    Returns
    -------
    Xtr, Ytr, Xte, Yte : ndarrays
        Training images (50000, 32, 32, 3) and labels (50000,), test images and labels.
    """
    Xtr, Ytr, Xte, Yte = load_cifar10(ROOT)
    return Xtr.transpose(0, 2, 3, 1), Ytr, Xte.transpose(0, 2, 3, 1), Yte


def get_CIFAR10_data(
    num_training: int = 49000,
    num_validation: int = 1000,
    num_test: int = 1000,
    subtract_mean: bool = True,
    *,
    cifar10_dir: str | Path | None = None,
) -> dict[str, np.ndarray]:
    """CIFAR-10 split and centred as the course's classifiers expect.

    The validation set is the ``num_validation`` training images after the first
    ``num_training``; the test set the first ``num_test`` test images.  With
    ``subtract_mean`` the training images' mean image is subtracted from all three.

    Parameters
    ----------
    num_training, num_validation, num_test : int
    subtract_mean : bool
    cifar10_dir : path, optional
        The ``cifar-10-batches-py`` folder (keyword beyond the course); by default
        ``$CIFAR10_DIR`` or the course's ``cs231n/datasets/cifar-10-batches-py``.

    Returns
    -------
    dict
        ``X_train`` (num_training, 3, 32, 32), ``y_train``, ``X_val``, ``y_val``,
        ``X_test``, ``y_test``; images float64 in NCHW layout.
    """
    for name, value in (("num_training", num_training), ("num_validation", num_validation),
                        ("num_test", num_test)):  # before minutes of loading
        check.integer("get_CIFAR10_data", name, value, want="a non-negative int")
    root = cifar10_dir or os.environ.get("CIFAR10_DIR", DEFAULT_DIR)
    X_train, y_train, X_test, y_test = load_cifar10(root)
    if num_training + num_validation > X_train.shape[0] or num_test > X_test.shape[0]:
        msg = (f"get_CIFAR10_data: asked for {num_training} + {num_validation} training and "
               f"{num_test} test images; {root} has {X_train.shape[0]} and {X_test.shape[0]}")
        raise ValueError(msg)
    X_val = X_train[num_training:num_training + num_validation]
    y_val = y_train[num_training:num_training + num_validation]
    X_train, y_train = X_train[:num_training], y_train[:num_training]
    X_test, y_test = X_test[:num_test], y_test[:num_test]
    if subtract_mean:
        mean_image = np.mean(X_train, axis=0)
        X_train, X_val, X_test = X_train - mean_image, X_val - mean_image, X_test - mean_image
    return {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val,
            "X_test": X_test, "y_test": y_test}
