"""What the commands share: the parser with suggestions, option types, and the checks run
before any work (backends, output paths, memory).

The error convention of every command: a :class:`UsageError` (a wrong option, or options
that do not fit together) is printed with the command's usage and exits 2; a
:class:`CommandError` (the work itself failed) is printed and exits 1.  Neither shows a
traceback.  Both are raised before any work wherever the options tell in advance.
"""

from __future__ import annotations

import argparse
import difflib
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: The largest seed the commands take: every backend's generator accepts it.
MAX_SEED = 2**32 - 1


class UsageError(Exception):
    """Options that cannot work; exit status 2, with the command's usage."""


class CommandError(Exception):
    """The command ran and failed; exit status 1."""


def suggest(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean X?)"`` for the choice closest to ``word``, or ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def require_parser(func: str, parser: Any) -> None:
    """TypeError naming ``func`` unless ``parser`` is an argparse parser."""
    if not isinstance(parser, argparse.ArgumentParser):
        msg = (f"{func}: parser must be an argparse.ArgumentParser, got "
               f"{type(parser).__name__}")
        raise TypeError(msg)


def require_namespace(func: str, args: Any, add_arguments: Any) -> None:
    """TypeError unless ``args`` is an argparse Namespace, ValueError naming the options
    it lacks: those ``add_arguments`` adds (``args`` must come from such a parser)."""
    if not isinstance(args, argparse.Namespace):
        msg = (f"{func}: args must be an argparse.Namespace (parsed by a parser that "
               f"add_arguments filled), got {type(args).__name__}")
        raise TypeError(msg)
    probe = argparse.ArgumentParser(add_help=False)
    add_arguments(probe)
    missing = sorted({a.dest for a in probe._actions} - set(vars(args)))
    if missing:
        msg = (f"{func}: args lacks {', '.join(missing)}; parse the command line with a "
               f"parser that add_arguments filled")
        raise ValueError(msg)


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: ...)`` to every option whose help does not say its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, argparse.SUPPRESS):
            return text
        if action.default is False:
            return f"{text} (default: off)"
        return f"{text} (default: %(default)s)"


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose errors suggest the closest option or choice (difflib)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:
        unknown = re.match(r"unrecognized arguments: (.*)", message)
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if unknown:
            options = [s for a in self._actions for s in a.option_strings]
            flags = [w.split("=")[0] for w in unknown.group(1).split() if w.startswith("-")]
            message += "".join(suggest(f, options) for f in flags[:1])
        elif choice:
            choices = re.findall(r"'([^']*)'", choice.group(2)) or choice.group(2).split(", ")
            message += suggest(choice.group(1), choices)
        super().error(message)


def non_negative_int(text: str) -> int:
    """An argparse type: an integer >= 0."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def seed(text: str) -> int:
    """An argparse type: a seed in [0, 2**32 - 1], which every backend's generator takes."""
    value = _int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, {MAX_SEED}], got {text}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    value = _float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def finite_float(text: str) -> float:
    """An argparse type: a finite number."""
    return _float(text)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def backend(option: str, name: str) -> Any:
    """The array namespace called ``name``; a UsageError naming ``option`` otherwise.

    Any name :func:`portable_layers._compat.get_namespace` takes works; an unknown one
    gets the closest known name, a missing library the pip extra that installs it.
    """
    from .. import _compat

    try:
        return _compat.get_namespace(name)
    except ImportError as err:
        raise UsageError(f"{option} {name}: {_after_colon(err)}") from None
    except (ValueError, TypeError) as err:
        hint = suggest(name, _compat.BACKENDS)
        raise UsageError(f"{option} {name}: {_after_colon(err)}{hint}") from None


def _after_colon(err: Exception) -> str:
    """The message of ``err`` without the ``func:`` the library puts first."""
    text = str(err)
    head, sep, rest = text.partition(": ")
    return rest if sep and " " not in head else text


def output_file(option: str, path: str) -> None:
    """UsageError unless ``path`` can be written: its folder exists, it is not a folder."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{option} {path}: is a folder; give a file name")
    folder = target.parent
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{option} {path}: the folder {folder} is not writable")


def input_file(option: str, path: str) -> None:
    """UsageError unless ``path`` is a readable file."""
    if not Path(path).is_file():
        raise UsageError(f"{option} {path}: no such file")


def available_memory() -> int | None:
    """Bytes of memory available now (Linux's MemAvailable, else free pages), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def require_memory(what: str, nbytes: float) -> None:
    """UsageError, before anything is allocated, when ``what`` needs more than the memory
    available (an estimate: ``nbytes`` bytes)."""
    free = available_memory()
    if free is not None and nbytes > free:
        raise UsageError(f"{what} needs about {_size(nbytes)} of memory; "
                         f"{_size(free)} is available")


def _size(nbytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if nbytes < 1000 or unit == "PB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    raise AssertionError("unreachable")
