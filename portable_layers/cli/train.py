"""The ``train`` command: train a classifier on digits or CIFAR-10 with the Solver.

``python -m portable_layers train`` trains the TwoLayerPerceptron on scikit-learn's
8x8 digits (1400 train / 397 val) with defaults that reach >= 97% validation
accuracy on every backend in well under a minute; ``--dataset cifar10 --root DIR``
trains on CIFAR-10 (49000 train / 1000 val, and the 10000 test images).
``--model fc`` trains a FullyConnectedNet (optionally with ``--normalization`` and
``--dropout-keep-ratio``) and ``--model convnet`` a ThreeLayerConvNet on the images as
(N, C, H, W): (1, 8, 8) for digits, with digits defaults of their own
(:data:`~portable_layers.cli.recipes.CONVNET_DEFAULTS`) that also reach >= 97%.

Every option is checked before the data is loaded: an option the chosen model does
not take, an output folder that does not exist, or sizes that cannot fit in memory are
usage errors (exit 2).  The data, plotting and array libraries are imported only when
the command runs.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
from typing import Any

import numpy as np

from .. import _compat
from ..optim import UPDATE_RULES
from . import recipes
from ._common import (
    UsageError,
    backend,
    non_negative_float,
    output_file,
    positive_float,
    positive_int,
    require_memory,
    require_namespace,
    require_parser,
    seed,
)

__all__ = ["MODELS", "add_arguments", "run"]

#: --model -> the class it trains
MODELS = {"two_layer": "TwoLayerPerceptron", "fc": "FullyConnectedNet",
          "convnet": "ThreeLayerConvNet", "vit": "VisionTransformer"}
#: options that only some models take -> those models
ONLY_FOR = {"normalization": ("fc",), "dropout_keep_ratio": ("fc",),
            "num_filters": ("convnet",), "filter_size": ("convnet",),
            "hidden_dims": ("two_layer", "fc", "convnet")}


def _recipe_default(key: str) -> str:
    """``default: ...`` for an option whose default depends on the data set and model,
    e.g. ``default: 20 (digits), 10 (cifar10); convnet 15 (digits), 1 (cifar10)``."""
    def shown(model: str) -> str:
        values = {d: recipes.defaults(d, model)[key] for d in recipes.DEFAULTS}
        text = {d: " ".join(map(str, v)) if isinstance(v, list) else str(v)
                for d, v in values.items()}
        if len(set(text.values())) == 1:
            return next(iter(text.values()))
        return ", ".join(f"{v} ({d})" for d, v in text.items())

    models = [m for m in MODELS if key in recipes.defaults("digits", m)
              and m in ONLY_FOR.get(key, MODELS)]
    base = shown(models[0])
    others = [f"{m} {shown(m)}" for m in models[1:] if shown(m) != base]
    return "default: " + "; ".join([base, *others])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``train`` options to ``parser``.

    Examples
    --------
    >>> from portable_layers.cli._common import ArgumentParser
    >>> p = ArgumentParser()
    >>> add_arguments(p)
    >>> p.parse_args(["--backend", "jax"]).backend
    'jax'
    """
    require_parser("cli.train.add_arguments", parser)
    parser.add_argument("--dataset", choices=sorted(recipes.DEFAULTS), default="digits",
                        help="digits (bundled with scikit-learn) or cifar10 (needs --root)")
    parser.add_argument("--root", help="cifar10 only: the folder holding CIFAR-10 "
                        "(cifar-10-batches-py; no default)")
    parser.add_argument("--backend", default="numpy", metavar="NAME",
                        help=f"array library: {', '.join(_compat.BACKENDS)}, or an importable "
                        "array namespace")
    parser.add_argument("--model", choices=tuple(MODELS), default="two_layer",
                        help=", ".join(f"{k}: {v}" for k, v in MODELS.items()))
    parser.add_argument("--hidden-dims", type=positive_int, nargs="+", metavar="H",
                        help="hidden layer sizes (one for two_layer and convnet; "
                        f"{_recipe_default('hidden_dims')})")
    parser.add_argument("--normalization", choices=("batchnorm", "layernorm"),
                        help="fc only: normalization after each hidden affine layer "
                        "(default: none)")
    parser.add_argument("--dropout-keep-ratio", type=positive_float, metavar="P",
                        help="fc only: dropout keep probability in (0, 1] (default: 1, no "
                        "dropout)")
    parser.add_argument("--num-filters", type=positive_int, metavar="F",
                        help=f"convnet only ({_recipe_default('num_filters')})")
    parser.add_argument("--filter-size", type=positive_int, metavar="S",
                        help=f"convnet only ({_recipe_default('filter_size')})")
    parser.add_argument("--update-rule", choices=sorted(UPDATE_RULES),
                        help=f"the update rule ({_recipe_default('update_rule')})")
    parser.add_argument("--learning-rate", type=positive_float, metavar="LR",
                        help=f"a finite number > 0 ({_recipe_default('learning_rate')})")
    parser.add_argument("--epochs", type=positive_int, metavar="N",
                        help=f"passes over the training set ({_recipe_default('epochs')})")
    parser.add_argument("--batch-size", type=positive_int, metavar="B",
                        help=f"minibatch size ({_recipe_default('batch_size')})")
    parser.add_argument("--reg", type=non_negative_float,
                        help=f"L2 regularisation strength ({_recipe_default('reg')})")
    parser.add_argument("--seed", type=seed, default=0,
                        help="seeds the split, the initial weights and the minibatches")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="dtype of the weights and data (float64 on JAX turns on its "
                        "64-bit mode)")
    parser.add_argument("--plot", metavar="PATH",
                        help="save a PNG of loss, accuracies, weights (default: no figure)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def options(args: argparse.Namespace) -> dict[str, Any]:
    """The recipe's values, with those given on the command line; UsageError for an
    option the model does not take, or sizes that cannot fit in memory."""
    for key, models in ONLY_FOR.items():
        if getattr(args, key) is not None and args.model not in models:
            flag = "--" + key.replace("_", "-")
            raise UsageError(f"{flag} does not apply to --model {args.model} "
                             f"(only to {', '.join(models)})")
    if args.root is not None and args.dataset != "cifar10":
        raise UsageError(f"--root is for --dataset cifar10, not {args.dataset}")
    if args.dataset == "cifar10" and args.root is None:
        raise UsageError("--dataset cifar10 needs --root, the folder holding CIFAR-10")
    if args.dropout_keep_ratio is not None and args.dropout_keep_ratio > 1:
        raise UsageError(f"--dropout-keep-ratio must be in (0, 1], got {args.dropout_keep_ratio}")
    defaults = recipes.defaults(args.dataset, args.model)
    opts = {k: defaults[k] if getattr(args, k, None) is None else getattr(args, k)
            for k in defaults}
    if args.model in ("two_layer", "convnet") and len(opts["hidden_dims"]) != 1:
        raise UsageError(f"--model {args.model} takes one hidden size, got --hidden-dims "
                         f"{' '.join(map(str, opts['hidden_dims']))}")
    if args.model == "convnet" and opts["filter_size"] > recipes.IMAGE_SHAPES[args.dataset][1]:
        raise UsageError(f"--filter-size {opts['filter_size']} is larger than the "
                         f"{args.dataset} images {recipes.IMAGE_SHAPES[args.dataset]}")
    require_memory(f"train --model {args.model} with these sizes", _bytes_needed(args, opts))
    return opts


def _bytes_needed(args: argparse.Namespace, opts: dict[str, Any]) -> float:
    """A lower estimate of the memory training takes: weights, their gradients and two
    optimiser buffers, and one batch's activations (forward and backward)."""
    c, h, w = recipes.IMAGE_SHAPES[args.dataset]
    batch, item = opts["batch_size"], 4 if args.dtype == "float32" else 8
    if args.model == "convnet":
        f, s, hidden = opts["num_filters"], opts["filter_size"], opts["hidden_dims"][0]
        weights = f * c * s * s + f * (h // 2) * (w // 2) * hidden + hidden * 10
        activations = batch * (c * h * w + 3 * f * h * w + 2 * hidden)
    elif args.model == "vit":  # its defaults: the attention weights (T, T) per head dominate
        import inspect

        from ..vit import VisionTransformer

        vit = {k: p.default for k, p in inspect.signature(VisionTransformer).parameters.items()}
        tokens = (h // vit["patch_size"]) * (w // vit["patch_size"])
        weights = 0  # a few thousand
        activations = batch * vit["depth"] * (2 * vit["num_heads"] * tokens * tokens
                                              + 12 * tokens * vit["embed_dim"])
    else:
        dims = [c * h * w, *opts["hidden_dims"], 10]
        weights = sum(a * b for a, b in itertools.pairwise(dims))
        activations = 3 * batch * sum(dims)
    return float(item) * (4 * weights + activations)


def run(args: argparse.Namespace) -> int:
    """Train as ``args`` say, print the final accuracies; return the exit status.

    Raises :class:`~portable_layers.cli._common.UsageError`, before any work, for
    options that do not fit together.
    """
    require_namespace("cli.train.run", args, add_arguments)
    opts = options(args)
    xp = backend("--backend", args.backend)
    if args.plot:  # before training, not after minutes of it
        output_file("--plot", args.plot)
        try:
            _compat.require_module("train --plot", "matplotlib", "plot")
        except ImportError as err:
            raise UsageError(str(err)) from None
    if args.dtype == "float64" and _compat.is_jax_namespace(xp):
        _compat.import_jax("train --dtype float64").config.update("jax_enable_x64", True)
    data = _load(args.dataset, args.root, args.seed)
    try:
        model = _model(args, opts, data["X_train"])
    except (ValueError, TypeError) as err:
        raise UsageError(str(err)) from None
    solver = _solver(model, data, opts, args)
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
    """The defaults for ``dataset`` and ``model`` (:func:`recipes.defaults`)."""
    return recipes.defaults(dataset, model)


def _load(dataset: str, root: str | None, seed: int) -> dict[str, np.ndarray]:
    """The split of ``dataset`` (:func:`recipes.load_split`)."""
    return recipes.load_split(dataset, root, seed)


def _model(args: argparse.Namespace, opts: dict[str, Any], X: np.ndarray) -> Any:
    from ..models import FullyConnectedNet, ThreeLayerConvNet, TwoLayerPerceptron

    kw = {"xp": args.backend, "dtype": args.dtype, "seed": args.seed}
    if args.model == "vit":
        from ..vit import VisionTransformer

        return VisionTransformer(X.shape[1:], **kw)
    hidden, input_dim = opts["hidden_dims"], math.prod(X.shape[1:])
    if args.model == "fc":
        keep = 1.0 if args.dropout_keep_ratio is None else args.dropout_keep_ratio
        return FullyConnectedNet(hidden, input_dim, 10, normalization=args.normalization,
                                 dropout_keep_ratio=keep, **kw)
    if args.model == "convnet":
        return ThreeLayerConvNet(X.shape[1:], opts["num_filters"], opts["filter_size"],
                                 hidden[0], 10, **kw)
    return TwoLayerPerceptron(input_dim, hidden[0], 10, **kw)


def _solver(model: Any, data: dict[str, np.ndarray], opts: dict[str, Any],
            args: argparse.Namespace) -> Any:
    from ..solver import Solver

    model.reg = opts["reg"]
    train = {k: data[k] for k in ("X_train", "y_train", "X_val", "y_val")}
    return Solver(model, train, update_rule=opts["update_rule"],
                  optim_config={"learning_rate": opts["learning_rate"]},
                  num_epochs=opts["epochs"], batch_size=opts["batch_size"],
                  verbose=not args.quiet, seed=args.seed)


def _plot(path: str, solver: Any, model: Any, data: dict[str, np.ndarray]) -> None:
    from ..plotting import save_training_figure

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
