"""Moved to :mod:`portable_layers.cli.check`; this old path re-exports its names."""

from .cli.check import COLUMNS, add_arguments, format_table, load_cases, run

__all__ = ["COLUMNS", "add_arguments", "format_table", "load_cases", "run"]
