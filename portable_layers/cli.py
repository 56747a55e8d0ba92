"""Command line: ``python -m portable_layers {check,train,plot}`` (also ``portable-layers``).

Each subcommand lives in a module with ``add_arguments(parser)`` and ``run(args) -> int``;
the modules are imported only when their subcommand runs.

Long options must be spelled out (``--epochs``, never ``--epoch``: every parser has
``allow_abbrev=False``), and an unknown option is reported with the usage of the
subcommand it was given to.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

SUBCOMMANDS = {
    "check": ("portable_layers.check_command",
              "check every layer's backward against finite differences and JAX autodiff"),
    "train": ("portable_layers.training", "train a classifier with the Solver"),
    "plot": ("portable_layers.plotting", "draw figures (activations and their gradients)"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser; its subcommand parsers are in ``parser.subcommands``."""
    parser = argparse.ArgumentParser(
        prog="portable_layers",
        description="CS231n-style layers written once for NumPy, JAX, PyTorch and "
        "array_api_strict, with gradients checked two ways.",
        allow_abbrev=False,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subcommands = {}
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, allow_abbrev=False)
        importlib.import_module(module).add_arguments(p)
        subcommands[name] = p
    parser.set_defaults(subcommands=subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad options, as argparse)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # reported by the subcommand's parser, so the usage shown is its own
        args.subcommands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    return int(module.run(args))


if __name__ == "__main__":
    sys.exit(main())
