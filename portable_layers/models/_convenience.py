"""CS231n's conveniences on top of the pure form: the stateful eager ``loss`` (running
statistics in ``bn_params``, fresh dropout masks per call), ``predict`` and the layer
functions as methods."""

from __future__ import annotations

from typing import Any

from .. import _compat
from .. import layers as L
from .._types import Array
from ._apply import _PureModel


class _Model(_PureModel):
    """A model with CS231n's conveniences on top of the pure form: the layer functions as
    methods, the stateful eager :meth:`loss` (``bn_params``) and :meth:`predict`.

    A subclass implements :meth:`_forward` (see there) and builds its parameters
    (see :class:`_Parameters`).
    """

    affine_forward = staticmethod(L.affine_forward)
    affine_backward = staticmethod(L.affine_backward)
    relu_forward = staticmethod(L.relu_forward)
    relu_backward = staticmethod(L.relu_backward)
    leaky_relu_forward = staticmethod(L.leaky_relu_forward)
    leaky_relu_backward = staticmethod(L.leaky_relu_backward)
    sigmoid_forward = staticmethod(L.sigmoid_forward)
    sigmoid_backward = staticmethod(L.sigmoid_backward)
    tanh_forward = staticmethod(L.tanh_forward)
    tanh_backward = staticmethod(L.tanh_backward)
    affine_relu_forward = staticmethod(L.affine_relu_forward)
    affine_relu_backward = staticmethod(L.affine_relu_backward)
    svm_loss = staticmethod(L.svm_loss)
    softmax_loss = staticmethod(L.softmax_loss)


    def loss(
        self, X: Array, y: Array | None = None, *, params: dict[str, Array] | None = None
    ) -> Any:
        """Scores for ``X`` (when ``y`` is None, test mode), or ``(loss, grads)`` (train mode).

        The eager CS231n convenience over :meth:`apply`: in train mode the new running
        statistics are stored in ``bn_params`` and, unless ``dropout_param['seed']`` is
        set, each call draws fresh dropout masks.

        Parameters
        ----------
        X : floating array of shape (N, ...) (see the model for the feature shape)
        y : integer array of shape (N,), optional
        params : dict, optional
            Parameters to use instead of ``self.params``.

        Returns
        -------
        scores : array of shape (N, C), when ``y`` is None
        (loss, grads) : 0-d array and a dict of gradients keyed like ``params``;
            the loss includes ``0.5 * reg * sum(W**2)`` over the weights.

        Raises
        ------
        ValueError
            In train mode inside ``jax.jit`` when the model has batch normalization
            or dropout without a fixed seed: that state must be threaded, so use
            :meth:`apply` or :func:`portable_layers.make_train_step` there.
        """
        train = y is not None
        seed = None
        if train:
            p = self._params if params is None else params
            traced = any(_compat.is_traced(v) for v in (X, *p.values()))
            needs_seed = self.uses_dropout and self.dropout_param.get("seed") is None
            if traced and (self.state or needs_seed):
                what = "batch normalization's running statistics" if self.state else (
                    "a fresh dropout mask per call")
                msg = (f"{type(self).__name__}.loss: under jax.jit, {what} cannot be kept on "
                       "the model; thread the state with model.apply(X, y, params=..., "
                       "state=..., dropout_seed=...) or portable_layers.make_train_step")
                raise ValueError(msg)
            if needs_seed:
                self._calls += 1
                seed = _compat.derive_seed(self._dropout_base, self._calls)
        result, new_state = self.apply(X, y, params=params, dropout_seed=seed)
        if train and new_state:
            self._store(new_state)
        return result

    def predict(self, X: Array) -> Array:
        """Predicted class labels, shape (N,)."""
        xp = _compat.array_namespace(f"{type(self).__name__}.predict", X=X)
        return xp.argmax(self.loss(X), axis=1)
