"""Command line: ``python -m portable_layers {check,train,plot}`` (also ``portable-layers``).

Each command lives in a module of this package with ``add_arguments(parser)`` and
``run(args) -> int``: :mod:`.check`, :mod:`.train`, :mod:`.plot`; :mod:`.recipes` holds
what ``train`` and ``plot`` share.  Only the module of the command being run is
imported: the parser gives the other commands their names and no arguments.

One error convention (:mod:`._common`): a wrong option exits 2 with the command's usage,
a command that fails exits 1 with its message on stderr, and neither prints a
traceback.  Long options must be spelled out (``--epochs``, never ``--epoch``), and a
mistyped option or choice gets the closest one suggested.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from ._common import ArgumentParser, CommandError, UsageError

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

#: command -> (its module, one line of help)
SUBCOMMANDS = {
    "check": ("portable_layers.cli.check",
              "check every layer's backward against finite differences and JAX autodiff"),
    "train": ("portable_layers.cli.train", "train a classifier with the Solver"),
    "plot": ("portable_layers.cli.plot", "draw figures (activations and their gradients, "
             "a ViT's attention)"),
}

#: What a command's failure can raise that is a message for the user, not a bug report.
_FAILURES = (CommandError, ValueError, TypeError, ImportError, OSError, MemoryError,
             FloatingPointError)


def build_parser(command: str | None = None) -> ArgumentParser:
    """The top-level parser, with the arguments of ``command`` only (its module imported).

    ``parser.get_default("subcommands")`` holds the subcommand parsers by name.
    """
    parser = ArgumentParser(
        prog="portable_layers",
        description="CS231n-style layers written once for NumPy, JAX, PyTorch and "
        "array_api_strict, with gradients checked two ways.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                parser_class=ArgumentParser)
    subcommands = {}
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module).add_arguments(p)
        subcommands[name] = p
    parser.set_defaults(subcommands=subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failed, 2 bad options)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in SUBCOMMANDS else None)
    try:
        args, unknown = parser.parse_known_args(argv)
        if args.command is None:
            parser.error("choose a command: " + ", ".join(SUBCOMMANDS))
        usage = args.subcommands[args.command]
        if unknown:  # reported by the subcommand's parser, so the usage shown is its own
            usage.error(f"unrecognized arguments: {' '.join(unknown)}")
        module = importlib.import_module(SUBCOMMANDS[args.command][0])
        try:
            return int(module.run(args))
        except UsageError as err:
            usage.error(str(err))
    except SystemExit as done:  # argparse's --help and usage errors
        return 0 if done.code is None else done.code if isinstance(done.code, int) else 1
    except _FAILURES as err:
        print(f"portable_layers {command}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"portable_layers {command}: interrupted", file=sys.stderr)
        return 130
    raise AssertionError("unreachable")  # usage.error exits
