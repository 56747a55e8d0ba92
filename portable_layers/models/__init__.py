"""Models built from the layers: each a ``params`` dict and a ``loss(X, y=None)``.

``loss`` returns class scores when ``y`` is None, and ``(loss, grads)`` otherwise,
with ``grads`` a dict keyed like ``params`` (CS231n's model interface, which the
:class:`~portable_layers.solver.Solver` drives).

State: running statistics and dropout randomness
------------------------------------------------
State is data.  :meth:`apply` is the pure form: ``(X, y, params, state,
dropout_seed) -> (result, new_state)``, ``state`` the running statistics
``{"running_mean1": ..., "running_var1": ...}``; nothing is read from or stored
into the model, so it can be traced by ``jax.jit``, scanned, vmapped or sharded.
:func:`portable_layers.make_train_step` builds the training step on it.

:meth:`loss` is the CS231n convenience on top, eager only: it reads the running
statistics from ``bn_params`` and, in train mode, stores the new ones back by
replacing the dict entries.  It never crosses a ``jax.jit`` boundary by a side
channel: traced in train mode with batch normalization (or with dropout and no
fixed seed) it raises and points to :meth:`apply`.

Dropout masks are derived, not drawn from a hidden stream.  The seed of a call
(``dropout_param['seed']`` when set, CS231n's fixed mask for gradient checks;
otherwise ``apply``'s ``dropout_seed``) is combined with the layer index by
:func:`portable_layers._compat.derive_seed`, so every layer draws its own mask:
on the host with ``numpy.random.SeedSequence`` for an int seed, with
``jax.random.fold_in`` for a (traced) JAX integer.  The training step passes the
seed derived from ``(seed, step)``; eager ``loss`` calls without a fixed seed use
``(model seed, call count)``.

Layout
------
Every name is imported from here:

- ``base``: the one base class :class:`~portable_layers.models.base.Model` (the
  parameter container, the pure ``apply`` over each model's ``_forward`` hook, and
  CS231n's conveniences on top: the eager ``loss`` with ``bn_params``, ``predict``, the
  layer functions as methods), the L2 term and :func:`~.base.is_model`;
- ``fully_connected``: :class:`TwoLayerPerceptron` and :class:`FullyConnectedNet`;
- ``convnet``: :class:`ThreeLayerConvNet`;
- ``vit``: :class:`~portable_layers.vit.VisionTransformer` (public path
  ``portable_layers.vit``).
"""

from __future__ import annotations

from .base import Model as Model
from .base import is_model as is_model
from .convnet import ThreeLayerConvNet
from .fully_connected import FullyConnectedNet, TwoLayerPerceptron

_Model = Model  # the base's name before models/base.py

__all__ = ["FullyConnectedNet", "ThreeLayerConvNet", "TwoLayerPerceptron"]

# The public path, as before the split into modules: reprs, pickles and the docs name
# ``portable_layers.models.X``, and the doctests are collected here.
for _cls in (FullyConnectedNet, ThreeLayerConvNet, TwoLayerPerceptron):
    _cls.__module__ = __name__
del _cls
