"""Scaling past one machine: full-batch gradients over Dask arrays, data parallelism on JAX.

Two tools, both optional (nothing here imports Dask or JAX until it is asked to):

* :func:`full_batch_loss_and_grads` -- the loss and gradients of a model over a whole
  dataset held as a Dask array chunked along the batch, without ever materialising
  the data: each block of rows is computed (or generated) by the scheduler, goes
  through ``model.loss`` as an in-memory array of the model's backend, and leaves
  only its unnormalised sums (``n_block * loss_block`` and ``n_block * grads_block``);
  a tree reduction adds those up and divides by N.  Since the L2 term is the same in
  every block and the block sizes add up to N, the weighted mean of the blocks'
  losses *is* the full-batch loss, regularisation included.  The same call runs on
  the threaded scheduler or, when a ``dask.distributed.Client`` is active, on a
  cluster (``Client("tcp://scheduler:8786")``).  Blocks are exact only for models
  whose loss is a mean of per-sample terms.  A model with batch normalization runs
  instead as one Dask graph over the whole batch (the model's pure ``apply`` on Dask
  arrays): its statistics and its backward's sums are tree reductions over all N
  rows, so every block is normalised with the statistics of the whole batch
  (SyncBatchNorm semantics), never its own; the blocks' activations are then kept
  until the backward pass.  The gradient computation never changes a model's running
  statistics (it uses the pure ``model.apply``).
* :func:`data_parallel_mesh`, :func:`shard_batch` and :func:`replicate`: a 1-D JAX
  device mesh, a batch split over it and parameters copied onto every device.  The
  jitted training step is unchanged; ``jax.jit`` partitions it from the inputs'
  shardings and inserts the cross-device sums of the gradients itself.
  :class:`~portable_layers.solver.Solver` takes ``mesh=`` to do this for training.

Laziness of the layers on Dask: every layer in :data:`portable_layers.cases.CASES`
builds a lazy graph on Dask arrays chunked along axis 0 and computes nothing.  The
one value-dependent check, the label range of the losses, is not run on lazy labels
(it would force a compute); the losses fold it into the graph instead, as under
``jax.jit``: the loss computes to NaN when a label is outside [0, C).  Inside
:func:`full_batch_loss_and_grads` each block is concrete, so there a bad label
raises the losses' ValueError when the graph runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _compat
from . import _validate as check
from ._types import Array

__all__ = [
    "data_parallel_mesh",
    "full_batch_loss_and_grads",
    "replicate",
    "shard_batch",
]


def _host_params(model: Any, params: dict[str, Array] | None) -> dict[str, np.ndarray]:
    p = model.params if params is None else params
    if not isinstance(p, dict) or not p:
        msg = ("full_batch_loss_and_grads: model must have a non-empty params dict "
               f"(or pass params=), got {type(p).__name__}")
        raise TypeError(msg)
    return {k: _compat.to_numpy(v) for k, v in p.items()}


def _block_sums(model: Any, backend: str, params: dict[str, np.ndarray], X: np.ndarray,
                y: np.ndarray, seed: int | None = None) -> dict[str, np.ndarray]:
    """``n * loss`` and ``n * grads`` of one block of rows, as float64 host arrays."""
    xp = _compat.get_namespace(backend)
    dtype = params[next(iter(params))].dtype
    with _compat.float64_context(xp) if dtype == np.float64 else contextlib.nullcontext():
        # the block belongs to this task alone: no defensive copies (a block may be large)
        p = {k: xp.asarray(v) for k, v in params.items()}
        Xb, yb = xp.asarray(np.asarray(X, dtype=dtype)), xp.asarray(np.asarray(y))
        loss, grads = _loss_and_grads(model, Xb, yb, p, seed)
        n = float(X.shape[0])
        sums = {k: n * _compat.to_numpy(g).astype(np.float64) for k, g in grads.items()}
        sums[""] = np.asarray(n * float(loss))  # "" cannot clash with a parameter name
    return sums


def _loss_and_grads(model: Any, X: Array, y: Array, params: dict[str, Array],
                    seed: int | None = None) -> Any:
    """``(loss, grads)`` without touching the model: its pure ``apply`` where it has one
    (the running statistics are neither used in train mode nor changed), with the
    dropout masks of ``seed``."""
    if callable(getattr(model, "apply", None)):
        return model.apply(X, y, params=params, dropout_seed=seed)[0]
    return model.loss(X, y, params=params)


def _has_batchnorm(model: Any) -> bool:
    return bool(getattr(model, "state", None)) or getattr(model, "normalization", None) in (
        "batchnorm", "spatial_batchnorm")


def _add(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Key-wise sum of a few dicts of host arrays (one node of the reduction tree)."""
    total = dict(parts[0])
    for part in parts[1:]:
        total = {k: total[k] + part[k] for k in total}
    return total


def _tree_sum(parts: list[Any], split_every: int) -> Any:
    """Sum delayed dicts by a tree of fan-in ``split_every`` (bounded memory, parallel)."""
    while len(parts) > 1:
        parts = [dask_delayed(_add, parts[i:i + split_every])
                 for i in range(0, len(parts), split_every)]
    return parts[0]


def _finish(total: dict[str, np.ndarray], n: int, model_params: dict[str, Array],
            xp: Any) -> tuple[Array, dict[str, Array]]:
    """Divide the sums by N and return them in the model's namespace and dtype."""
    first = next(iter(model_params.values()))
    dev = _compat.device(first)
    loss = xp.asarray(total[""] / n, dtype=first.dtype, device=dev)
    grads = {k: _compat.from_numpy(total[k] / n, xp, dtype=v.dtype, device=dev)
             for k, v in model_params.items()}
    return loss, grads


def full_batch_loss_and_grads(
    model: Any,
    X: Array,
    y: Array,
    *,
    params: dict[str, Array] | None = None,
    split_every: int = 8,
    compute: bool = True,
    seed: int | None = None,
) -> Any:
    """Loss and gradients of ``model`` over the whole dataset ``(X, y)``, block by block.

    With Dask arrays, each block of rows of ``X`` (its chunks along axis 0) is
    computed on its own, run through ``model.loss`` on the model's backend, and
    reduced to ``n_b * loss_b`` and ``n_b * grads_b``; a tree of sums adds the blocks
    and the totals are divided by N.  At most a few blocks are in memory at once, so
    ``X`` may be far larger than memory (e.g. generated lazily per chunk).  The sums
    are accumulated in float64 whatever the model's dtype.  With in-memory arrays it
    is ``model.loss(X, y)`` (data moved to the model's backend).

    Parameters
    ----------
    model : object
        CS231n's model interface: ``params`` (dict of arrays) and
        ``loss(X, y, *, params=None) -> (loss, grads)`` averaging over the batch
        (e.g. :class:`~portable_layers.models.TwoLayerPerceptron`).
    X : array of shape (N, d1, ..., dk)
        Features: a Dask array chunked along axis 0 (other axes are merged into
        one chunk), or an in-memory array of any backend.
    y : integer array of shape (N,)
        Labels (Dask or in-memory); rechunked to ``X``'s rows.
    params : dict, optional
        Parameters to use instead of ``model.params``.
    split_every : int
        Fan-in of the reduction tree (default 8).
    compute : bool
        With Dask inputs, False returns a ``dask.delayed`` object that computes to
        ``(loss, grads)`` instead of computing now.
    seed : int, optional
        Seed of the dropout masks (a non-negative integer), for a model with dropout
        and a pure ``apply`` (the models of this library): the same seed gives the same
        loss and gradients on every call, on any scheduler.  In memory the masks are
        ``model.apply``'s for ``dropout_seed=seed``; block ``k`` of a Dask array uses
        ``derive_seed(seed, k)``, so blocks draw different masks and the result does
        not depend on which worker runs which block, but does depend on the chunking.
        None (the default): fresh masks on every call, so two calls differ.  Models
        without dropout (or with ``dropout_param['seed']`` set) ignore it.

    Returns
    -------
    loss : 0-d array of the model's namespace and dtype
        Mean loss over the N samples, plus the model's regularisation term.
    grads : dict
        Gradients keyed like ``params``, in the model's namespace and dtype.

    Raises
    ------
    TypeError
        If the model has no params dict, or ``X`` or ``y`` is not an array.
    ValueError
        If ``y`` does not have N entries, ``split_every`` is below 2 or ``seed`` is
        not a non-negative integer; for Dask
        inputs and a model with batch normalization but no pure ``apply``; when the
        graph runs, the model's own errors (e.g. a label outside [0, C)).

    Notes
    -----
    With batch normalization (a model of this library) the statistics are those of
    all N rows, as in memory: the whole computation is one Dask graph, each mean
    and sum over the batch a tree reduction (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from portable_layers import TwoLayerPerceptron
    >>> model = TwoLayerPerceptron(4, 5, 3, weight_scale=0.1, seed=0)
    >>> X, y = np.ones((6, 4)), np.array([0, 1, 2, 0, 1, 2])
    >>> loss, grads = full_batch_loss_and_grads(model, X, y)
    >>> round(float(loss), 6) == round(float(model.loss(X, y)[0]), 6), grads["W1"].shape
    (True, (4, 5))

    On a Dask array (here 3 blocks of 2 rows), the same numbers::

        loss, grads = full_batch_loss_and_grads(model, dask.array.from_array(X, chunks=2),
                                                dask.array.from_array(y, chunks=2))
    """
    func = "full_batch_loss_and_grads"
    split_every = check.integer(func, "split_every", split_every, low=2)
    seed = check.integer(func, "seed", seed, allow_none=True, want="a non-negative integer")
    for name, value in (("X", X), ("y", y)):
        if not _compat.is_array_api_obj(value):
            msg = f"{func}: {name} must be an array (NumPy, Dask, ...), got {type(value).__name__}"
            raise TypeError(msg)
    model_params = model.params if params is None else params
    host = _host_params(model, params)
    xp = _compat.array_namespace(func, **{k: v for k, v in model_params.items()})
    if not (_compat.is_dask_array(X) or _compat.is_dask_array(y)):
        if X.shape[0] != y.shape[0]:
            msg = f"{func}: y must have shape ({X.shape[0]},) to match X, got {tuple(y.shape)}"
            raise ValueError(msg)
        total = _block_sums(model, _backend(xp), host, _compat.to_numpy(X), _compat.to_numpy(y),
                            seed)
        return _finish(total, int(X.shape[0]), model_params, xp)
    n = int(X.shape[0])
    if _has_batchnorm(model):
        if not callable(getattr(model, "apply", None)):
            msg = (f"{func}: the model uses batch normalization, whose statistics are those "
                   "of the whole batch, and has no pure apply(X, y, params=, state=) to run "
                   "on Dask arrays; block-by-block gradients would normalise each block with "
                   "its own statistics and be wrong, so Dask inputs are refused")
            raise ValueError(msg)
        graph = _synced_graph(func, model, X, y, host, seed)
        classes = getattr(model, "num_classes", None)
        if not compute:
            return dask_delayed(_finish_synced, graph, n, model_params, xp, classes)
        return _finish_synced(dask_compute(graph), n, model_params, xp, classes)
    blocks = dask_row_blocks(func, X, y)
    # the model and its params become one key each, shipped to a worker once
    shared_model, shared = dask_constant(model), dask_constant(host)
    backend = _backend(xp)
    parts = [dask_delayed(_block_sums, shared_model, backend, shared, Xb, yb,
                                  None if seed is None else _compat.derive_seed(seed, k))
             for k, (Xb, yb) in enumerate(blocks)]
    total = _tree_sum(parts, split_every)
    if not compute:
        return dask_delayed(_finish, total, n, model_params, xp)
    return _finish(dask_compute(total), n, model_params, xp)


def _synced_graph(func: str, model: Any, X: Array, y: Array,
                  host: dict[str, np.ndarray], seed: int | None = None) -> tuple[Any, ...]:
    """``(loss, grads, y_min, y_max)`` as one lazy Dask graph over the whole batch.

    The model's pure ``apply`` runs on Dask arrays (its parameters one chunk each), so
    every mean and sum over the batch, batch normalization's statistics in the forward
    pass and its backward's sums alike, is a Dask tree reduction over all N rows: each
    block is normalised with the statistics of the whole batch (SyncBatchNorm
    semantics).  The running statistics are neither read nor written (``state={}``).
    Unlike the block-by-block path, the blocks' activations are kept until the backward
    pass has used them.
    """
    X, y = dask_rows(func, X, y)
    dtype = host[next(iter(host))].dtype
    params = {k: dask_constant_array(v) for k, v in host.items()}
    (loss, grads), _ = model.apply(X.astype(dtype), y, params=params, state={},
                                   dropout_seed=seed)
    return loss, grads, y.min(), y.max()


def _finish_synced(graph: tuple[Any, ...], n: int, model_params: dict[str, Array], xp: Any,
                   classes: int | None) -> tuple[Array, dict[str, Array]]:
    """The computed graph of :func:`_synced_graph` in the model's namespace and dtype.

    A label outside [0, C) raises the ValueError the block-by-block path raises, where
    the model states C (``num_classes``); otherwise the lazy loss has folded it to NaN.
    """
    loss, grads, low, high = graph
    if n and classes is not None and (int(low) < 0 or int(high) >= classes):
        msg = (f"full_batch_loss_and_grads: y must hold class labels in [0, {classes}), "
               f"got values from {int(low)} to {int(high)}")
        raise ValueError(msg)
    total = {k: np.asarray(v, dtype=np.float64) * n for k, v in grads.items()}
    total[""] = np.asarray(loss, dtype=np.float64) * n
    return _finish(total, n, model_params, xp)


def _backend(xp: Any) -> str:
    """The backend each block runs on: the model's, except NumPy for a Dask model."""
    name = _compat.backend_name(xp)
    return "numpy" if name == "dask" else name


# ---------------------------------------------------------------------------
# JAX data parallelism
# ---------------------------------------------------------------------------


def data_parallel_mesh(devices: Any = None, axis_name: str = "batch") -> Any:
    """A 1-D JAX device mesh for data parallelism.

    Parameters
    ----------
    devices : None, int, sequence of devices or Mesh
        None for every device of JAX's default backend, k for the first k of them,
        or the devices themselves.  A 1-D ``jax.sharding.Mesh`` is returned as is.
    axis_name : str
        The mesh axis the batch is split along.

    Returns
    -------
    jax.sharding.Mesh

    Raises
    ------
    ImportError
        If JAX is not installed.
    ValueError
        For a count outside [1, number of devices], no devices, or a mesh with several axes.
    TypeError
        For ``devices`` of another kind (a string, say) or holding something that is not
        a JAX device, or an ``axis_name`` that is not a str.

    Examples
    --------
    On CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (set before JAX is
    imported) gives four host devices::

        mesh = data_parallel_mesh(4)
        X, y = shard_batch(mesh, X, y)
        params = replicate(mesh, model.params)
    """
    return _compat.jax_mesh("data_parallel_mesh", devices, axis_name)


def shard_batch(mesh: Any, *arrays: Array) -> tuple[Array, ...]:
    """JAX arrays split along axis 0 over the mesh (the batch size must divide evenly).

    Returns a tuple with one sharded array per argument.  An argument that is not an
    array (a list, say) is a TypeError; a 0-d one, or a batch that does not divide
    evenly, a ValueError.
    """
    return tuple(_compat.jax_shard_rows("shard_batch", a, mesh) for a in arrays)


def replicate(mesh: Any, tree: Any) -> Any:
    """Every array of ``tree`` (e.g. a params dict) copied onto each device of the mesh.

    A leaf of ``tree`` that is not an array (a Python number, a list) is a TypeError.
    """
    return _compat.jax_replicate(tree, mesh, "replicate", arrays_only=True)


# -- Dask graph helpers (moved here from _compat; dask is imported through
# _compat.import_dask, only when one of them is called) --------------------------------


def dask_rows(func: str, X: Array, y: Array) -> tuple[Any, Any]:
    """``X`` and ``y`` as Dask arrays chunked along axis 0 only (a sample is never split),
    ``y`` rechunked to ``X``'s rows."""
    da = _compat.import_dask(func).array
    X, y = da.asarray(X), da.asarray(y)
    if y.shape[0] != X.shape[0]:
        msg = f"{func}: y must have shape ({X.shape[0]},) to match X, got {tuple(y.shape)}"
        raise ValueError(msg)
    rows = X.chunks[0]
    return X.rechunk((rows, *(-1 for _ in X.shape[1:]))), y.rechunk((rows,))


def dask_row_blocks(func: str, X: Array, y: Array) -> list[tuple[Any, Any]]:
    """``X`` and ``y`` as a list of ``(X_block, y_block)`` delayed pairs along axis 0
    (:func:`dask_rows`' chunks); nothing is computed."""
    X, y = dask_rows(func, X, y)
    return list(zip(X.to_delayed().reshape(-1), y.to_delayed().reshape(-1), strict=True))


def dask_constant_array(value: np.ndarray) -> Any:
    """The host array ``value`` as a one-chunk Dask array."""
    return _compat.import_dask("a Dask array").array.from_array(value, chunks=value.shape)


def dask_delayed(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``dask.delayed(fn, pure=True)(*args, **kwargs)``."""
    return _compat.import_dask("a Dask graph").delayed(fn, pure=True)(*args, **kwargs)


def dask_constant(value: Any) -> Any:
    """``value`` as one shared key of a Dask graph (sent to each worker once)."""
    return _compat.import_dask("a Dask graph").delayed(value, pure=True)


def dask_compute(obj: Any) -> Any:
    """``dask.compute(obj)[0]``: on the current ``distributed.Client`` if there is one."""
    return _compat.import_dask("a Dask computation").compute(obj)[0]


def dask_take_rows(X: Array, idx: np.ndarray) -> np.ndarray:
    """Rows ``idx`` (host integers, in that order) of the Dask array ``X``, computed;
    only the chunks holding those rows are read."""
    order = np.argsort(idx, kind="stable")
    rows = np.asarray(X[np.asarray(idx)[order]].compute())
    return rows[np.argsort(order)]  # the inverse permutation: back to idx's order
