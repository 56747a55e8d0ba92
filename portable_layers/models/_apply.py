"""The models' pure form: :meth:`_PureModel.apply` over each model's ``_forward`` hook
(nothing read from or stored into the model; see the package docstring)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .. import _compat
from .. import layers as L
from .._types import Array
from ..layers import losses
from ._parameters import _Parameters

Backward = Callable[[Array], dict[str, Array]]


class _PureModel(_Parameters):
    """The pure form: :meth:`apply` over the subclass hook :meth:`_forward`."""

    @property
    def uses_dropout(self) -> bool:
        """Whether train mode applies dropout (keep ratio below 1)."""
        return self.dropout_param.get("p", 1.0) < 1.0

    def _dropout(self, x: Array, mode: str, seed: Any, layer: int) -> tuple[Array, Any]:
        """Dropout of hidden layer ``layer`` with its own mask, from (``seed``, ``layer``).

        ``dropout_param['seed']``, when set, replaces ``seed`` (CS231n's fixed masks).
        With neither, the masks come from fresh OS entropy (eager only).
        """
        if not self.uses_dropout:
            return x, None
        fixed = self.dropout_param.get("seed")
        base = fixed if fixed is not None else seed
        layer_seed = None if base is None or mode == "test" else _compat.derive_seed(base, layer)
        return L.dropout_forward(x, {**self.dropout_param, "mode": mode, "seed": layer_seed})

    def apply(
        self, X: Array, y: Array | None = None, *, params: dict[str, Array] | None = None,
        state: dict[str, Array] | None = None, dropout_seed: Any = None, checked: bool = True,
    ) -> tuple[Any, dict[str, Array]]:
        """The pure form of :meth:`loss`: nothing is read from or stored into the model.

        Parameters
        ----------
        X, y, params
            As for :meth:`loss`.
        state : dict, optional
            Running statistics (as :attr:`state`; the model's own by default).  Missing
            entries start at zero, so ``{}`` works in train mode on any backend.
        dropout_seed : int or JAX integer array, optional
            Seed of this call's dropout masks in train mode; layer ``i`` draws its
            own mask from ``derive_seed(dropout_seed, i)``.  ``dropout_param['seed']``
            takes its place when set.  None: fresh OS entropy (eager only).
        checked : bool
            False skips the layers' argument checks where the model has a path without
            them (fully connected, no normalization or dropout): for callers that
            validated ``X``, ``y`` and ``params`` once at their boundary, as the
            :class:`~portable_layers.Solver` does.  Labels are then not range-checked.

        Returns
        -------
        result
            What :meth:`loss` returns.
        new_state : dict
            The updated running statistics (``state`` unchanged in test mode).

        Examples
        --------
        >>> import numpy as np
        >>> from portable_layers import FullyConnectedNet
        >>> model = FullyConnectedNet([3], 2, 2, normalization="batchnorm", seed=0)
        >>> (loss, grads), state = model.apply(np.eye(2), np.array([0, 1]))
        >>> sorted(state), sorted(model.state["running_mean1"].tolist())
        (['running_mean1', 'running_var1'], [0.0, 0.0, 0.0])
        """
        p = self._params if params is None else params
        state = dict(self.state if state is None else state)
        mode = "test" if y is None else "train"
        fast = not checked and self._unchecked_ok(mode)
        if fast:
            xp = _compat.array_namespace(f"{type(self).__name__}.apply", X=X, W1=p["W1"])
            scores, backward = self._forward_unchecked(xp, X, p)
        else:  # the layers check the arguments (their messages name them)
            scores, backward = self._forward(X, p, mode, state, dropout_seed)
        if y is None:
            return scores, state
        if not fast:
            xp = _compat.array_namespace(f"{type(self).__name__}.loss", X=X, W1=p["W1"])
        loss_fn = functools.partial(losses._softmax_loss, xp) if fast else L.softmax_loss
        data_loss, dscores = loss_fn(scores, y)
        grads = backward(dscores)
        if not self.reg:  # no regularisation: skip a pass over every weight
            return (data_loss, grads), state
        weights = [k for k in p if k.startswith("W")]
        loss = data_loss + 0.5 * self.reg * sum(xp.sum(p[k] * p[k]) for k in weights)
        grads = {k: grads[k] + self.reg * p[k] if k in weights else grads[k] for k in p}
        return (loss, grads), state

    def _unchecked_ok(self, mode: str) -> bool:
        """Whether :meth:`_forward_unchecked` computes this model in ``mode``."""
        return False

    def _forward_unchecked(self, xp: Any, X: Array,
                           p: dict[str, Array]) -> tuple[Array, Backward]:
        """:meth:`_forward` without the layers' checks (see ``apply``'s ``checked``)."""
        raise NotImplementedError

    def _forward(self, X: Array, p: dict[str, Array], mode: str, state: dict[str, Array],
                 seed: Any) -> tuple[Array, Backward]:
        """The subclass hook: scores and ``backward(dscores) -> grads``.

        ``p`` the parameters, ``mode`` ``'train'`` or ``'test'``, ``state`` a fresh
        copy of the running statistics that the hook updates in place (train mode),
        ``seed`` the call's dropout seed (use :meth:`_dropout` with a layer index).
        Pure otherwise: nothing is read from or stored on ``self`` but configuration.
        """
        raise NotImplementedError
