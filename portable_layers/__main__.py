"""``python -m portable_layers``: the command line of :mod:`portable_layers.cli`."""

import sys

from .cli import main

sys.exit(main())
