"""The ``train`` subcommand: train a classifier on digits or CIFAR-10 with the Solver.

``python -m portable_layers train`` trains the TwoLayerPerceptron on scikit-learn's
8x8 digits (1400 train / 397 val) with defaults that reach >= 97% validation
accuracy on every backend in well under a minute; ``--dataset cifar10 --root DIR``
trains on CIFAR-10 (49000 train / 1000 val, and the 10000 test images).
``--model fc`` trains a FullyConnectedNet (optionally with ``--normalization`` and
``--dropout-keep-ratio``) and ``--model convnet`` a ThreeLayerConvNet on the images as
(N, C, H, W): (1, 8, 8) for digits, with digits defaults of their own
(:data:`CONVNET_DEFAULTS`) that also reach >= 97%.

The data, plotting and array libraries are imported only when the command runs.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from . import _compat

__all__ = ["CONVNET_DEFAULTS", "DEFAULTS", "VIT_DEFAULTS", "add_arguments", "run"]

#: Per-dataset defaults for the options left unset on the command line.
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
_SPLITS = {"digits": (1400, 397), "cifar10": (49000, 1000)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``train`` options to ``parser``.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> add_arguments(p)
    >>> p.parse_args(["--backend", "jax"]).backend
    'jax'
    """
    from .optim import UPDATE_RULES

    parser.add_argument("--dataset", choices=sorted(DEFAULTS), default="digits",
                        help="digits (bundled with scikit-learn) or cifar10 (needs --root)")
    parser.add_argument("--root", help="folder holding CIFAR-10 (cifar-10-batches-py)")
    parser.add_argument("--backend", choices=_compat.BACKENDS, default="numpy")
    parser.add_argument("--model", choices=("two_layer", "fc", "convnet", "vit"),
                        default="two_layer", help="TwoLayerPerceptron, FullyConnectedNet, "
                        "ThreeLayerConvNet or VisionTransformer (its defaults)")
    parser.add_argument("--hidden-dims", type=int, nargs="+", metavar="H",
                        help="hidden layer sizes (one for two_layer and convnet; default 100)")
    parser.add_argument("--normalization", choices=("batchnorm", "layernorm"),
                        help="fc only: normalization after each hidden affine layer")
    parser.add_argument("--dropout-keep-ratio", type=float, default=1.0,
                        help="fc only: dropout keep probability (default 1, no dropout)")
    parser.add_argument("--num-filters", type=int, help="convnet only (digits default 8)")
    parser.add_argument("--filter-size", type=int, help="convnet only (digits default 3)")
    parser.add_argument("--update-rule", choices=sorted(UPDATE_RULES))
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--reg", type=float, help="L2 regularisation strength")
    parser.add_argument("--seed", type=int, default=0,
                        help="seeds the split, the initial weights and the minibatches")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--plot", metavar="PATH", help="save a PNG of loss, accuracies, weights")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Train as ``args`` say, print the final accuracies; return the exit status.

    Returns 2 (after printing the reason) for options that do not fit together.
    """
    defaults = _defaults(args.dataset, args.model)
    opts = {k: getattr(args, k) for k in defaults}
    opts = {k: defaults[k] if v is None else v for k, v in opts.items()}
    try:
        if args.plot:  # before training, not after minutes of it
            _compat.require_module("train --plot", "matplotlib", "plot")
        data = _load(args.dataset, args.root, args.seed)
        model = _model(args, opts, data["X_train"])
        solver = _solver(model, data, opts, args)
    except (ValueError, TypeError, ImportError, OSError) as err:
        print(f"train: {err}")
        return 2
    start = time.perf_counter()
    solver.train()
    seconds = time.perf_counter() - start
    for split in ("train", "val", "test"):
        if f"X_{split}" in data:
            acc = solver.check_accuracy(data[f"X_{split}"], data[f"y_{split}"])
            print(f"{split} accuracy: {acc:.4f}")
    print(f"trained {type(model).__name__} on {args.backend} in {seconds:.1f} s")
    if args.plot:
        _plot(args.plot, solver, model, data)
    return 0


def _defaults(dataset: str, model: str) -> dict[str, Any]:
    """The defaults for ``dataset``, with the convnet's own where ``model`` is convnet."""
    extra = CONVNET_DEFAULTS[dataset] if model == "convnet" else {}
    if model == "vit":
        extra = VIT_DEFAULTS[dataset]
    return {**DEFAULTS[dataset], **extra}


def _load(dataset: str, root: str | None, seed: int) -> dict[str, np.ndarray]:
    from . import data

    num_train, num_val = _SPLITS[dataset]
    if dataset == "digits":
        X, y = data.load_digits()
        return data.split_and_normalize(X, y, num_train=num_train, num_val=num_val, seed=seed)
    if root is None:
        raise ValueError("--dataset cifar10 needs --root, the folder holding CIFAR-10")
    X, y, X_test, y_test = data.load_cifar10(root)
    split = data.split_and_normalize(X, y, num_train=num_train, num_val=num_val, seed=seed)
    # The training mean m that split_and_normalize subtracted, for the test set: train and
    # val together are all N images (mean M), and X_val holds val - m, so
    # N * M = num_train * m + (sum(X_val) + num_val * m), i.e. m = M - sum(X_val) / N.
    mean = np.mean(X, axis=0) - np.sum(split["X_val"], axis=0) / X.shape[0]
    return {**split, "X_test": X_test - mean, "y_test": y_test}


def _model(args: argparse.Namespace, opts: dict[str, Any], X: np.ndarray) -> Any:
    from .models import FullyConnectedNet, ThreeLayerConvNet, TwoLayerPerceptron

    if args.model == "vit":
        from .vit import VisionTransformer

        if X.ndim != 4:
            raise ValueError(f"--model vit needs images (N, C, H, W), got shape {X.shape}")
        return VisionTransformer(X.shape[1:], xp=args.backend, dtype=args.dtype, seed=args.seed)
    hidden = opts["hidden_dims"]
    input_dim, kw = int(np.prod(X.shape[1:])), {"xp": args.backend, "dtype": args.dtype,
                                                "seed": args.seed}
    if args.model == "fc":
        return FullyConnectedNet(hidden, input_dim, 10, normalization=args.normalization,
                                 dropout_keep_ratio=args.dropout_keep_ratio, **kw)
    if len(hidden) != 1:
        msg = f"--model {args.model} takes one hidden size, got --hidden-dims {hidden}"
        raise ValueError(msg)
    if args.model == "convnet":
        if X.ndim != 4:
            raise ValueError(f"--model convnet needs images (N, C, H, W), got shape {X.shape}")
        return ThreeLayerConvNet(X.shape[1:], opts["num_filters"], opts["filter_size"],
                                 hidden[0], 10, **kw)
    return TwoLayerPerceptron(input_dim, hidden[0], 10, **kw)


def _solver(model: Any, data: dict[str, np.ndarray], opts: dict[str, Any],
            args: argparse.Namespace) -> Any:
    from .solver import Solver

    model.reg = opts["reg"]
    train = {k: data[k] for k in ("X_train", "y_train", "X_val", "y_val")}
    return Solver(model, train, update_rule=opts["update_rule"],
                  optim_config={"learning_rate": opts["learning_rate"]},
                  num_epochs=opts["epochs"], batch_size=opts["batch_size"],
                  verbose=not args.quiet, seed=args.seed)


def _plot(path: str, solver: Any, model: Any, data: dict[str, np.ndarray]) -> None:
    from .plotting import save_training_figure

    save_training_figure(path, loss_history=solver.loss_history,
                         train_acc_history=solver.train_acc_history,
                         val_acc_history=solver.val_acc_history,
                         **_first_layer(model.params["W1"], _first_input(model, data)))
    print(f"saved {path}")


def _first_input(model: Any, data: dict[str, np.ndarray]) -> tuple[int, ...]:
    """What one column of ``W1`` sees: a patch (C, P, P) for the VisionTransformer."""
    patch = getattr(model, "patch_param", None)
    if patch is not None:
        return (data["X_train"].shape[1], patch["patch_size"], patch["patch_size"])
    return data["X_train"].shape[1:]


def _first_layer(w1: Any, image_shape: tuple[int, ...]) -> dict[str, Any]:
    """``weights`` (D, H) and ``image_shape`` for the figure: conv filters (F, C, h, w) as
    F images of (C, h, w), fully connected weights as images of the input."""
    if w1.ndim == 4:
        filters = _compat.to_numpy(w1)
        return {"weights": filters.reshape(filters.shape[0], -1).T,
                "image_shape": filters.shape[1:]}
    return {"weights": w1, "image_shape": image_shape}
