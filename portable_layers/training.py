"""Moved to :mod:`portable_layers.cli.train` (the recipes to :mod:`portable_layers.cli.recipes`);
this old path re-exports their names."""

from .cli.recipes import CONVNET_DEFAULTS, DEFAULTS, VIT_DEFAULTS
from .cli.train import _defaults, _load, _model, _solver, add_arguments, run

__all__ = ["CONVNET_DEFAULTS", "DEFAULTS", "VIT_DEFAULTS", "add_arguments", "run"]
_PRIVATE = (_defaults, _load, _model, _solver)  # imported from here by older scripts
