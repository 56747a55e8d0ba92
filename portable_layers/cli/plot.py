"""The ``plot`` command: ``python -m portable_layers plot {activations,attention}``.

The figures themselves are :mod:`portable_layers.plotting`'s; this module checks the
options (before training anything) and feeds the figures.
"""

from __future__ import annotations

import argparse
from typing import Any

from .. import _compat
from . import recipes
from ._common import (
    UsageError,
    backend,
    finite_float,
    input_file,
    output_file,
    positive_int,
    require_memory,
    require_namespace,
    require_parser,
)

__all__ = ["FIGURES", "add_arguments", "run"]

#: figure -> what it shows
FIGURES = {
    "activations": "each activation and its local gradient, where gradients vanish or die",
    "attention": "a VisionTransformer's attention on a validation digit",
}
#: the options that only one figure takes -> (that figure, the default)
OPTIONS: dict[str, tuple[str, Any]] = {
    "lo": ("activations", -10.0), "hi": ("activations", 10.0), "num": ("activations", 401),
    "checkpoint": ("attention", None), "epochs": ("attention", 30), "index": ("attention", 0),
}
#: Bytes per point of ``plot activations``: about 540 measured (peak RSS, 10**6 points
#: against 1000, matplotlib's polygons included), doubled for a margin.
BYTES_PER_POINT = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``plot`` options to ``parser``."""
    require_parser("cli.plot.add_arguments", parser)
    parser.add_argument("what", nargs="?", metavar="FIGURE",
                        help="the figure to draw: " + "; ".join(f"{k} ({v})"
                                                               for k, v in FIGURES.items())
                        + " (no default)")
    parser.add_argument("--backend", default="numpy", metavar="NAME",
                        help="array library that computes the figure: "
                        f"{', '.join(_compat.BACKENDS)}, or an importable array namespace")
    parser.add_argument("--out", metavar="PATH", help="PNG file to write (default: FIGURE.png)")
    parser.add_argument("--lo", type=finite_float,
                        help=f"activations: left end of the x range (default: {OPTIONS['lo'][1]})")
    parser.add_argument("--hi", type=finite_float,
                        help=f"activations: right end of the x range (default: {OPTIONS['hi'][1]})")
    parser.add_argument("--num", type=positive_int,
                        help=f"activations: number of points (default: {OPTIONS['num'][1]})")
    parser.add_argument("--checkpoint", metavar="PATH",
                        help="attention: a trained VisionTransformer's .npz "
                        "(default: train one on digits with the documented recipe)")
    parser.add_argument("--epochs", type=positive_int,
                        help="attention without --checkpoint: epochs to train "
                        f"(default: {OPTIONS['epochs'][1]})")
    parser.add_argument("--index", type=int, help="attention: which validation digit, "
                        f"0 to {recipes.SPLITS['digits'][1] - 1} (default: 0)")


def _check(args: argparse.Namespace) -> None:
    """Every option, before any work: UsageError naming the first that cannot work."""
    if args.what is None:
        raise UsageError("choose a figure: " + "; ".join(f"{k} ({v})" for k, v in FIGURES.items()))
    if args.what not in FIGURES:
        from ._common import suggest

        raise UsageError(f"no figure {args.what!r}{suggest(args.what, FIGURES)}; choose from "
                         f"{', '.join(FIGURES)}")
    for key, (figure, default) in OPTIONS.items():
        if getattr(args, key) is not None and figure != args.what:
            raise UsageError(f"--{key} is for plot {figure}, not plot {args.what}")
        if getattr(args, key) is None:
            setattr(args, key, default)
    args.out = args.out or f"{args.what}.png"
    output_file("--out", args.out)
    backend("--backend", args.backend)
    if args.what == "activations":
        if not args.lo < args.hi:
            raise UsageError(f"--lo must be below --hi, got --lo {args.lo} --hi {args.hi}")
        if args.num < 2:
            raise UsageError(f"--num must be at least 2, got {args.num}")
        require_memory(f"plot activations --num {args.num}", BYTES_PER_POINT * args.num)
    else:
        num_val = recipes.SPLITS["digits"][1]
        if not 0 <= args.index < num_val:
            raise UsageError(f"--index must be in [0, {num_val}), the validation digits; "
                             f"got {args.index}")
        if args.checkpoint is not None:
            input_file("--checkpoint", args.checkpoint)
    try:
        _compat.require_module(f"plot {args.what}", "matplotlib", "plot")
    except ImportError as err:
        raise UsageError(str(err)) from None


def _attention(args: argparse.Namespace) -> None:
    """``plot attention``: a checkpoint's (or a freshly trained) ViT on a validation digit."""
    from ..plotting import plot_attention
    from ..solver import Solver
    from ..vit import VisionTransformer

    split = recipes.load_split("digits", seed=0)
    model = VisionTransformer(split["X_train"].shape[1:], xp=args.backend, dtype="float32",
                              seed=0)
    if args.checkpoint:
        from ..checkpoint import load_checkpoint

        load_checkpoint(args.checkpoint, model)
    else:
        recipe = recipes.VIT_DEFAULTS["digits"]
        Solver(model, {k: split[k] for k in ("X_train", "y_train", "X_val", "y_val")},
               update_rule=recipe["update_rule"],
               optim_config={"learning_rate": recipe["learning_rate"]},
               batch_size=recipe["batch_size"], num_epochs=args.epochs, verbose=False,
               seed=0).train()
    image = split["X_val"][args.index]
    X = _compat.from_numpy(image[None], model.xp, dtype=model.dtype)
    guess = int(_compat.to_numpy(model.predict(X))[0])
    title = (f"validation digit {args.index}: label {int(split['y_val'][args.index])}, "
             f"predicted {guess}; attention each patch receives (mean over queries)")
    plot_attention(args.out, model, image, title=title, background=image + split["mean"])


def run(args: argparse.Namespace) -> int:
    """Draw the figure ``args`` ask for; 0 when written (UsageError for bad options)."""
    require_namespace("cli.plot.run", args, add_arguments)
    _check(args)
    if args.what == "activations":
        from ..plotting import plot_activations

        plot_activations(args.out, args.backend, lo=args.lo, hi=args.hi, num=args.num)
    else:
        _attention(args)
    print(f"wrote {args.out}")
    return 0
