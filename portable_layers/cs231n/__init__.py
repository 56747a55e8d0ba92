"""CS231n compatibility: the course package's modules and names on portable_layers.

An existing CS231n codebase switches by rewriting its imports, ``cs231n.`` to
``portable_layers.cs231n.``::

    from portable_layers.cs231n.classifiers.fc_net import *
    from portable_layers.cs231n.gradient_check import eval_numerical_gradient
    from portable_layers.cs231n.solver import Solver

The modules mirror the course's (``layers``, ``layer_utils``, ``fast_layers``,
``gradient_check``, ``solver``, ``optim``, ``classifiers.fc_net``,
``classifiers.cnn``, ``data_utils``, ``vis_utils``) with the course's signatures and
defaults.  The layer math is the library's vectorized layers: the ``*_naive`` and
``*_fast`` pairs are the same functions, and their caches are interchangeable.

Semantics kept from the course here (and only here; the core library keeps its own
rules):

* models draw their weights from NumPy's *global* generator in the course's order
  (``np.random.randn(...) * weight_scale``, ``W1 ... WL``), so a cell's
  ``np.random.seed(231)`` reproduces the course's printed losses;
* ``dropout_forward`` with ``'seed'`` calls ``np.random.seed(seed)`` and draws
  ``np.random.rand(...) < p`` from the global generator, as the course does;
* update rules write their new state into the caller's ``config`` dict;
* integer NumPy parameters are cast to the input's floating dtype, models cast ``X``
  (and parameters assigned by item) to their own dtype and backend;
* ``model.loss(X, y)`` returns ``(float, grads)``.

Beyond the course, the models take ``xp=`` (a backend name or namespace) and
``device=`` keywords, so the same cells run on JAX, PyTorch or array_api_strict.
"""

from . import (
    classifiers,
    data_utils,
    fast_layers,
    gradient_check,
    layer_utils,
    layers,
    optim,
    solver,
    vis_utils,
)

__all__ = [
    "classifiers",
    "data_utils",
    "fast_layers",
    "gradient_check",
    "layer_utils",
    "layers",
    "optim",
    "solver",
    "vis_utils",
]
