"""Where the Solver's step runs: eagerly (NumPy, PyTorch, array_api_strict, Dask), jitted
on one JAX device (one ``lax.scan`` per epoch when the data fits), or jitted over a
device mesh.  Compiled functions are cached by what determines them, so a second
Solver with a model of the same structure compiles nothing."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _compat, optim
from ._types import Array
from .models.base import is_model
from .train_step import TrainState, loss_function, make_train_step

_CACHE: OrderedDict[Any, Any] = OrderedDict()
_CACHE_SIZE = 32


def _cached(key: Any, build: Callable[[], Any]) -> Any:
    """``build()`` once per ``key`` (least recently used evicted beyond ``_CACHE_SIZE``)."""
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    value = _CACHE[key] = build()
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return value


def predict_function(model: Any) -> Callable[[Any, Any, Array], Array]:
    """``scores(params, model_state, X)`` in test mode, pure where the model allows (for
    the Solver: its data is validated once, so the layers run unchecked)."""
    if is_model(model):
        return lambda p, s, X: model.apply(X, params=p, state=s, checked=False)[0]
    _, pure = loss_function(model)
    if pure:
        return lambda p, s, X: model.loss(X, params=p)

    def assigned(p: Any, s: Any, X: Array) -> Array:
        model.params = p
        return model.loss(X)

    return assigned


class Placement:
    """The step and the accuracy count of one Solver, compiled where that helps."""

    def __init__(self, model: Any, xp: Any, update_rule: Any, mesh: Any) -> None:
        self.xp, self.mesh = xp, mesh
        self._known_rule = isinstance(update_rule, str)  # its config keeps its structure
        # A named rule on a library whose arrays can be written: the Solver owns its copy
        # of the parameters and the optimiser state, so the update writes into them
        # (optim's ``owned``: adam makes three new arrays where the pure rule makes seven;
        # bench_step part d measures it).
        backend = _compat.backend_name(xp)
        # (Only for this library's models: their gradients are fresh arrays, which the
        # update may then overwrite; another model's might alias its own buffers.)
        self.in_place = (self._known_rule and is_model(model)
                         and backend in ("numpy", "torch", "array_api_strict"))
        # Data and parameters are validated once, at the Solver's boundary: the step runs
        # the layers' and the update rule's unchecked forms.
        rule = (optim.get_update_rule(update_rule, checked=False, owned=True)
                if self.in_place else update_rule)
        step = make_train_step(model, rule, checked=False)
        self.jax = _compat.is_jax_namespace(xp) and step.pure  # type: ignore[attr-defined]
        structure = model.signature() if is_model(model) else ("instance", id(model))
        mesh_key = None if mesh is None else tuple(d.id for d in mesh.devices.flat)
        self._key = (structure, update_rule, mesh_key)
        predict = predict_function(model)
        if not self.jax:
            self.step, self._predict = step, predict
            return
        jax = _compat.import_jax("Solver")
        out = {} if mesh is None else {"out_shardings": _compat.jax_replicated(mesh)}
        self.step = _cached(("step", *self._key), lambda: jax.jit(step, **out))
        self._count = _cached(("count", *self._key), lambda: jax.jit(_counter(xp, predict)))
        self._epoch = _cached(("epoch", *self._key),
                              lambda: jax.jit(_epoch(step, _counter(xp, predict))))

    # -- data and state placement ---------------------------------------------------------

    def own(self, params: dict[str, Any]) -> dict[str, Any]:
        """Parameters (or an optimiser config) the step may write into: copies of the
        arrays when it updates in place."""
        if not self.in_place:
            return dict(params)
        return {k: self.xp.asarray(v, copy=True) if _compat.is_array_api_obj(v) else v
                for k, v in params.items()}

    def config_arrays(self, config: dict[str, Any], w: Array) -> dict[str, Any]:
        """A full optimiser config for ``w`` with its numbers as 0-d arrays on ``w``'s
        device (floats in ``w``'s dtype), as :func:`~portable_layers.init_train_state`
        holds them, so a compiled step sees the same types; arrays owned."""
        dev = _compat.device(w)

        def number(v: Any) -> Any:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return v
            dtype = w.dtype if isinstance(v, float) else None
            return _compat.from_numpy(np.asarray(v), self.xp, dtype=dtype, device=dev)

        return self.own({k: number(v) for k, v in config.items()})

    def put_state(self, state: TrainState) -> TrainState:
        """On a mesh: every array of the state replicated on each device.  On one JAX
        device: committed to its device, as the compiled step's outputs are, so the
        first epoch and the next ones hit the same compilation."""
        if self.mesh is not None:
            return _compat.jax_replicate(state, self.mesh)
        if self.jax:
            jax = _compat.import_jax("Solver")
            return jax.device_put(state, _compat.device(next(iter(state.params.values()))))
        return state

    def put_batch(self, X: Array, y: Array) -> tuple[Array, Array]:
        """On a mesh: the batch split along its rows over the devices."""
        if self.mesh is None:
            return X, y
        return (_compat.jax_shard_rows("Solver", X, self.mesh),
                _compat.jax_shard_rows("Solver", y, self.mesh))

    def can_scan(self, X: Array, budget: int) -> bool:
        """Whether a whole epoch runs as one compiled ``lax.scan`` (JAX, one device, a
        named update rule, training data in memory within ``budget`` bytes).  (A custom
        rule's config may grow keys on its first step, which a scan's carry cannot.)"""
        from ._solver_data import nbytes

        return (self.jax and self.mesh is None and self._known_rule
                and not _compat.is_dask_array(X) and nbytes(X) <= budget)

    # -- running --------------------------------------------------------------------------

    def epoch(self, state: TrainState, X: Array, y: Array, idx: np.ndarray, snap_at: int,
              X_val: Array, y_val: Array, train_rows: np.ndarray,
              val_rows: np.ndarray) -> tuple[TrainState, Any, np.ndarray, np.ndarray]:
        """All minibatches ``idx`` (batches x batch_size host indices) in one compiled
        call that also counts the epoch's correct predictions.

        ``train_rows`` (2 x k) and ``val_rows`` (2 x m) are the rows of ``X`` and
        ``X_val`` counted after batch ``snap_at`` (row 0, skipped when ``snap_at`` is
        -1) and at the end of the epoch (row 1).  Returns the new state, ``(params,
        model_state)`` after batch ``snap_at`` (the input's when -1), and on the host
        the losses (one per batch) and the counts ``[[snap train, snap val], [train,
        val]]``: one transfer per epoch.
        """
        jax = _compat.import_jax("Solver")
        # Host index arrays go in as they are: jit moves them to X's device itself,
        # which costs far less than creating device arrays one by one.
        state, snap, losses, counts = self._epoch(
            state, X, y, idx.astype(np.int32), np.int32(snap_at), X_val, y_val,
            train_rows.astype(np.int32), val_rows.astype(np.int32))
        losses, counts = jax.device_get((losses, counts))
        return state, snap, np.asarray(losses), np.asarray(counts)

    def count_correct(self, state: TrainState, X: Array, y: Array, batch_size: int,
                      idx: np.ndarray | None = None) -> float:
        """How many rows of ``X`` (rows ``idx`` only, on JAX) the state's parameters
        classify as ``y``; on JAX one compiled call, the rows selected inside it."""
        if self.jax:
            if self.mesh is not None:  # on the params' devices (they are replicated there)
                X, y = _compat.jax_replicate((X, y), self.mesh)
            rows: Any = (np.arange(X.shape[0]) if idx is None else idx).astype(np.int32)
            if self.mesh is not None:
                rows = _compat.jax_replicate(rows, self.mesh)  # else jit moves it to X's
            return float(self._count(state.params, state.model_state, X, y, rows))
        xp, correct, n = self.xp, 0.0, X.shape[0]
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)  # out-of-bounds stops are unspecified
            scores = self._predict(state.params, state.model_state, X[start:stop, ...])
            hits = xp.argmax(scores, axis=1) == y[start:stop]
            correct += _compat.to_float(xp.sum(xp.astype(hits, xp.float32)))
        return correct


def _counter(xp: Any, predict: Callable[..., Array]) -> Callable[..., Array]:
    def count(params: Any, model_state: Any, X: Array, y: Array, rows: Array) -> Array:
        X, y = xp.take(X, rows, axis=0), xp.take(y, rows, axis=0)
        hits = xp.argmax(predict(params, model_state, X), axis=1) == y
        return xp.sum(xp.astype(hits, xp.int32))

    return count


def _epoch(step: Callable[..., Any], count: Callable[..., Array]) -> Callable[..., Any]:
    """One epoch as a ``lax.scan`` of ``step`` over minibatch row indices, then the
    accuracy counts (see :meth:`Placement.epoch`)."""
    jax = _compat.import_jax("Solver")
    jnp = jax.numpy

    def epoch(state: TrainState, X: Array, y: Array, rows: Array, snap_at: Array,
              X_val: Array, y_val: Array, train_rows: Array, val_rows: Array) -> Any:
        def body(carry: Any, item: Any) -> Any:
            st, snap = carry
            i, r = item
            loss, st = step(st, jnp.take(X, r, axis=0), jnp.take(y, r, axis=0))
            keep = i == snap_at
            snap = jax.tree_util.tree_map(lambda new, old: jnp.where(keep, new, old),
                                          (st.params, st.model_state), snap)
            return (st, snap), loss

        def counts(params: Any, model_state: Any, i: int) -> Array:
            return jnp.stack([count(params, model_state, X, y, train_rows[i]),
                              count(params, model_state, X_val, y_val, val_rows[i])
                              ]).astype(jnp.int32)

        first = (state.params, state.model_state)
        steps = jnp.arange(rows.shape[0], dtype=jnp.int32)
        (state, snap), losses = jax.lax.scan(body, (state, first), (steps, rows))
        at_snap = jax.lax.cond(snap_at >= 0, lambda: counts(snap[0], snap[1], 0),
                               lambda: jnp.zeros(2, dtype=jnp.int32))
        at_end = counts(state.params, state.model_state, 1)
        return state, snap, losses, jnp.stack([at_snap, at_end])

    return epoch
