"""The training loop: CS231n's ``Solver``, on any backend, compiled by ``jax.jit`` on JAX.

A :class:`Solver` drives a model with CS231n's interface (a ``params`` dict and
``loss(X, y=None, *, params=None)`` returning ``(loss, grads)``) by minibatch
gradient descent with one of the rules of :mod:`portable_layers.optim`.

One training step (loss and gradients, then the update of every parameter) is a
pure function of ``(params, optim_configs, X_batch, y_batch)``.  On JAX it is
compiled once with :func:`portable_layers._compat.jit`; elsewhere it runs eagerly.
The model's ``reg`` is read when the step is compiled, so set it before training.
To keep the compiled step's inputs of one structure and dtype from the first
iteration on, the optimiser configs are filled in up front
(:func:`portable_layers.optim.init_config`) and their numbers held as 0-d arrays:
hyperparameters in the parameter's dtype (float32 stays float32), adam's ``t`` in
the default integer dtype.

Minibatch indices come from a seeded host ``numpy.random.Generator`` (drawn with
replacement, as CS231n does) and select rows with ``xp.take``.

Data larger than memory: ``X_train`` (and the other arrays) may be Dask arrays while
the model lives on another backend.  They stay lazy; each minibatch computes just
its rows (``X[idx]``, reading only the chunks that hold them) and converts them to
the model's backend, and accuracy checks compute one chunk of rows at a time.  The
only eager pass is over the labels: their range is checked once, at construction,
by computing ``min(y)`` and ``max(y)`` (never ``X``).  Each minibatch reads every
chunk it touches, so keep chunks modest (say 1-10k rows) or ``persist()`` the data
on a cluster when chunks are expensive to produce.

Data parallelism on JAX: with ``mesh=`` (a 1-D ``jax.sharding.Mesh``, a device
count or a list of devices) each minibatch is split along its rows over the mesh
and the parameters and optimiser state are replicated on every device.  The jitted
step is the same function; ``jax.jit`` partitions it from those shardings and
all-reduces the gradients, so the results equal a single device's up to the order
of floating-point sums.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _compat, optim
from .checkpoint import save_checkpoint

__all__ = ["Solver"]

Array = Any

_OPTIONS: dict[str, Any] = {
    "update_rule": "sgd",
    "optim_config": None,
    "lr_decay": 1.0,
    "batch_size": 100,
    "num_epochs": 10,
    "num_train_samples": 1000,
    "num_val_samples": None,
    "checkpoint_name": None,
    "print_every": 10,
    "verbose": True,
    "seed": None,
    "mesh": None,
}
_DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")


def _optional_count(name: str, value: Any) -> int | None:
    return None if value is None else _count(name, value, " or None")


def _count(name: str, value: Any, none: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Solver: {name} must be a positive integer{none}, got {value!r}")
    return int(value)


class Solver:
    """Train a classification model by minibatch gradient descent (CS231n's Solver).

    Parameters
    ----------
    model : object
        ``model.params`` (a dict of arrays, assignable) and ``model.loss(X, y=None,
        *, params=None)`` returning scores or ``(loss, grads)``.  Models exposing
        ``input_dim`` and ``num_classes`` get their data checked against them.
    data : dict
        ``X_train, y_train, X_val, y_val``: arrays of any backend (or NumPy); they
        are moved to the model's backend, features cast to its dtype.  Dask arrays
        stay lazy and are streamed instead (see the module docstring).
    update_rule : str or callable
        A name in :data:`portable_layers.optim.UPDATE_RULES` (default ``"sgd"``) or
        a function ``(w, dw, config) -> (next_w, config)``.
    optim_config : dict, optional
        Hyperparameters of the update rule, shared by all parameters.
    lr_decay : float
        Factor applied to the learning rate after every epoch (default 1.0).
    batch_size : int
        Minibatch size (default 100).
    num_epochs : int
        Number of epochs (default 10).
    num_train_samples, num_val_samples : int or None
        Samples used to estimate train accuracy (1000) and val accuracy (all).
    checkpoint_name : str, optional
        Write ``f"{checkpoint_name}_epoch_{epoch}.npz"`` at every accuracy check.
    print_every : int
        Show the loss every this many iterations (default 10).
    verbose : bool
        Show a tqdm progress bar and the accuracies per epoch (default True).
    seed : int, optional
        Seeds the host generator that draws minibatches and accuracy subsamples.
    mesh : jax.sharding.Mesh, int or sequence of JAX devices, optional
        JAX models only: train data-parallel over these devices (a 1-D mesh, the
        first k devices, or the devices themselves); ``batch_size`` must divide
        evenly over them.  See :func:`portable_layers.distributed.data_parallel_mesh`.

    Attributes
    ----------
    loss_history : list of float
        One loss per iteration.
    train_acc_history, val_acc_history : list of float
        Accuracies after the first iteration and after every epoch.
    best_val_acc : float
    best_params : dict
        Parameters with the best validation accuracy, restored into the model at the
        end of :meth:`train` (also when training stops on a non-finite loss).

    Raises
    ------
    ValueError
        For an unknown option or update rule (the message lists the valid ones), a
        bad option value, missing data, shapes that disagree with the model or
        labels outside its classes.

    Examples
    --------
    >>> import numpy as np
    >>> from portable_layers import TwoLayerPerceptron
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.standard_normal((20, 3)), np.arange(20) % 2
    >>> data = {"X_train": X, "y_train": y, "X_val": X, "y_val": y}
    >>> model = TwoLayerPerceptron(3, 8, 2, weight_scale=0.1, seed=0)
    >>> solver = Solver(model, data, update_rule="adam", num_epochs=2, batch_size=10,
    ...                 verbose=False, seed=0)
    >>> solver.train()
    >>> len(solver.loss_history), len(solver.val_acc_history)
    (4, 3)
    """

    def __init__(self, model: Any, data: dict[str, Any], **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - set(_OPTIONS))
        if unknown:
            msg = f"Solver: unknown options {unknown}; valid options are {sorted(_OPTIONS)}"
            raise ValueError(msg)
        opts = {**_OPTIONS, **kwargs}
        self.model = model
        self._xp, self._dtype = self._model_backend(model)
        self._set_options(opts)
        self._set_data(data)
        self._reset()

    # -- setup -------------------------------------------------------------------------

    @staticmethod
    def _model_backend(model: Any) -> tuple[Any, Any]:
        params = getattr(model, "params", None)
        if not isinstance(params, dict) or not params or not callable(getattr(model, "loss", None)):
            msg = "Solver: model must have a non-empty params dict and a loss method"
            raise TypeError(msg)
        name, first = next(iter(params.items()))
        return _compat.array_namespace("Solver", **{name: first}), first.dtype

    def _set_options(self, opts: dict[str, Any]) -> None:
        rule = opts["update_rule"]
        self._rule_name = rule if isinstance(rule, str) else None
        self.update_rule = rule if callable(rule) else optim.get_update_rule(rule)
        config = opts["optim_config"]
        if config is not None and not isinstance(config, dict):
            raise ValueError(f"Solver: optim_config must be a dict or None, got {config!r}")
        self.optim_config = dict(config or {})
        decay = opts["lr_decay"]
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not decay > 0:
            raise ValueError(f"Solver: lr_decay must be a positive number, got {decay!r}")
        self.lr_decay = float(decay)
        self.batch_size = _count("batch_size", opts["batch_size"])
        self.num_epochs = _count("num_epochs", opts["num_epochs"])
        self.print_every = _count("print_every", opts["print_every"])
        self.num_train_samples = _optional_count("num_train_samples", opts["num_train_samples"])
        self.num_val_samples = _optional_count("num_val_samples", opts["num_val_samples"])
        name = opts["checkpoint_name"]
        if name is not None and not isinstance(name, (str, os.PathLike)):
            raise ValueError(f"Solver: checkpoint_name must be a path or None, got {name!r}")
        self.checkpoint_name = name
        self.verbose = bool(opts["verbose"])
        self._rng = np.random.default_rng(opts["seed"])
        self.mesh = None
        if opts["mesh"] is not None:
            if not _compat.is_jax_namespace(self._xp):
                name = _compat.backend_name(self._xp)
                raise ValueError(f"Solver: mesh needs a model on JAX, got one on {name}")
            self.mesh = _compat.jax_mesh("Solver", opts["mesh"])
            size = self.mesh.devices.size
            if self.batch_size % size:
                msg = (f"Solver: batch_size must divide evenly over the {size} devices of "
                       f"mesh, got {self.batch_size}")
                raise ValueError(msg)

    def _set_data(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict):
            raise TypeError(f"Solver: data must be a dict, got {type(data).__name__}")
        missing = [k for k in _DATA_KEYS if k not in data]
        if missing:
            raise ValueError(f"Solver: data must hold {list(_DATA_KEYS)}, missing {missing}")
        train, val = ("X_train", "y_train"), ("X_val", "y_val")
        self.X_train, self.y_train = self._as_backend(train, data["X_train"], data["y_train"])
        self.X_val, self.y_val = self._as_backend(val, data["X_val"], data["y_val"])

    def _as_backend(self, names: tuple[str, str], X: Any, y: Any) -> tuple[Array, Array]:
        """``X`` and ``y`` moved to the model's backend (``X`` in its dtype) and checked."""
        X, y = self._move(X, self._dtype), self._move(y, None)
        xs, ys = names
        if X.ndim < 2 or X.shape[0] == 0:
            shape = tuple(X.shape)
            raise ValueError(f"Solver: {xs} must have shape (N, d1, ...) with N > 0, got {shape}")
        if _compat.is_dask_array(y):
            integral = np.issubdtype(y.dtype, np.integer)
        else:
            integral = self._xp.isdtype(y.dtype, "integral")
        if not integral or tuple(y.shape) != (X.shape[0],):
            msg = (f"Solver: {ys} must be integer labels of shape ({X.shape[0]},), "
                   f"got {y.dtype} of shape {tuple(y.shape)}")
            raise ValueError(msg)
        features = math.prod(X.shape[1:])
        dim = getattr(self.model, "input_dim", features)
        if features != dim:
            msg = (f"Solver: {xs} must have {dim} features per sample for the model, "
                   f"got shape {tuple(X.shape)}")
            raise ValueError(msg)
        image = getattr(self.model, "input_shape", None)  # image models: (C, H, W) exactly
        if image is not None and tuple(X.shape[1:]) != tuple(image):
            want = ", ".join(map(str, image))
            msg = f"Solver: {xs} must have shape (N, {want}) for the model, got {tuple(X.shape)}"
            raise ValueError(msg)
        classes = getattr(self.model, "num_classes", None)
        if classes is None:
            return X, y
        if _compat.is_dask_array(y):  # one pass over the labels only, never over X
            low, high = _compat.dask_compute((y.min(), y.max()))
        else:
            labels = _compat.to_numpy(y)
            low, high = labels.min(), labels.max()
        if low < 0 or high >= classes:
            msg = (f"Solver: {ys} must hold labels in [0, {classes}) for the model, "
                   f"got values from {low} to {high}")
            raise ValueError(msg)
        return X, y

    def _move(self, a: Any, dtype: Any) -> Array:
        """``a`` as an array of the model's namespace, cast to ``dtype`` if given."""
        xp = self._xp
        if _compat.is_dask_array(a) and not _compat.is_dask_namespace(xp):
            return a  # streamed: rows are computed and moved batch by batch (_rows)
        if _compat.is_array_api_obj(a) and _compat.array_namespace("Solver", a=a) is xp:
            return a if dtype is None or a.dtype == dtype else xp.astype(a, dtype)
        host = _compat.to_numpy(a) if _compat.is_array_api_obj(a) else a
        return _compat.from_numpy(host, xp, dtype=dtype)

    def _reset(self) -> None:
        """Book-keeping and optimiser state for a fresh run (CS231n's ``_reset``)."""
        self.epoch = 0
        self.best_val_acc = 0.0
        self.best_params: dict[str, Array] = dict(self.model.params)
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.optim_configs = {k: self._init_config(w) for k, w in self.model.params.items()}
        if self.mesh is None:
            self._step = _compat.jit(self._make_step(), self._xp)
            return
        # data parallel: params and optimiser state on every device, outputs kept so
        mesh = self.mesh
        self.model.params = _compat.jax_replicate(dict(self.model.params), mesh)
        self.best_params = dict(self.model.params)
        self.optim_configs = {
            k: {n: _compat.jax_replicate(v, mesh) if _compat.is_array_api_obj(v) else v
                for n, v in c.items()}
            for k, c in self.optim_configs.items()
        }
        self._step = _compat.jit(self._make_step(), self._xp,
                                 out_shardings=_compat.jax_replicated(mesh))

    def _init_config(self, w: Array) -> dict[str, Any]:
        if self._rule_name is None:
            return dict(self.optim_config)
        config = optim.init_config(self._rule_name, w, self.optim_config)
        return {k: self._as_array(v, w) for k, v in config.items()}

    def _as_array(self, value: Any, w: Array) -> Any:
        """A Python number as a 0-d array: floats in ``w``'s dtype, ints default integer."""
        dev = _compat.device(w)
        if isinstance(value, float):
            return self._xp.asarray(value, dtype=w.dtype, device=dev)
        if isinstance(value, int) and not isinstance(value, bool):
            return self._xp.asarray(value, device=dev)
        return value

    def _make_step(self) -> Callable[..., Any]:
        model, rule = self.model, self.update_rule

        def step(params: dict[str, Array], configs: dict[str, Any], X: Array, y: Array) -> Any:
            loss, grads = model.loss(X, y, params=params)
            new_params, new_configs = {}, {}
            for k, w in params.items():
                new_params[k], new_configs[k] = rule(w, grads[k], configs[k])
            return loss, new_params, new_configs

        return step

    # -- training ----------------------------------------------------------------------

    def _batch(self) -> tuple[Array, Array]:
        n = self.X_train.shape[0]
        host_idx = self._rng.integers(0, n, size=self.batch_size)
        X, y = self._rows(self.X_train, host_idx), self._rows(self.y_train, host_idx)
        if self.mesh is not None:
            X, y = (_compat.jax_shard_rows("Solver", a, self.mesh) for a in (X, y))
        return X, y

    def _rows(self, a: Array, rows: np.ndarray | slice) -> Array:
        """Rows of ``a`` (host indices or a slice) as an array of the model's backend.

        A streamed Dask array computes just those rows; the features are cast to the
        model's dtype.
        """
        if _compat.is_dask_array(a):
            host = (_compat.dask_take_rows(a, rows) if isinstance(rows, np.ndarray)
                    else np.asarray(a[rows].compute()))
            floating = np.issubdtype(host.dtype, np.floating)
            return _compat.from_numpy(host, self._xp, dtype=self._dtype if floating else None)
        if isinstance(rows, slice):
            return a[rows, ...]
        idx = _compat.from_numpy(rows, self._xp, device=_compat.device(a))
        return _take(self._xp, a, idx)

    def _train_step(self, it: int, total: int) -> float:
        """One minibatch update; raises on a non-finite loss before touching the model."""
        X, y = self._batch()
        loss, params, configs = self._step(self.model.params, self.optim_configs, X, y)
        value = float(loss)
        if not math.isfinite(value):
            msg = (f"Solver.train: loss is {value} at epoch {self.epoch + 1} of {self.num_epochs}, "
                   f"iteration {it + 1} of {total}; training stopped and the best parameters "
                   f"(val acc {self.best_val_acc:.4f}) restored")
            raise FloatingPointError(msg)
        self.model.params = params
        self.optim_configs = configs
        self.loss_history.append(value)
        return value

    def _end_epoch(self) -> None:
        self.epoch += 1
        for config in self.optim_configs.values():
            if "learning_rate" in config:
                config["learning_rate"] = config["learning_rate"] * self.lr_decay

    def _check(self, report: Callable[[str], None]) -> None:
        """Record train and val accuracy, keep the best params, write a checkpoint."""
        train_acc = self.check_accuracy(self.X_train, self.y_train, self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val, self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        report(f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:.4f}; "
               f"val acc: {val_acc:.4f}")
        if val_acc > self.best_val_acc:
            self.best_val_acc = val_acc
            self.best_params = dict(self.model.params)
        if self.checkpoint_name is not None:
            self._save_checkpoint()

    def _save_checkpoint(self) -> None:
        meta = {
            "epoch": self.epoch,
            "update_rule": self._rule_name or getattr(self.update_rule, "__name__", "custom"),
            "lr_decay": self.lr_decay,
            "batch_size": self.batch_size,
            "loss_history": np.asarray(self.loss_history, dtype=np.float64),
            "train_acc_history": np.asarray(self.train_acc_history, dtype=np.float64),
            "val_acc_history": np.asarray(self.val_acc_history, dtype=np.float64),
        }
        path = f"{os.fspath(self.checkpoint_name or '')}_epoch_{self.epoch}.npz"
        save_checkpoint(path, self.model, self.optim_configs, **meta)

    def train(self) -> None:
        """Run ``num_epochs`` epochs of minibatch updates, then restore the best params.

        Raises
        ------
        FloatingPointError
            When the loss becomes NaN or infinite; the message names the epoch and
            iteration, and the best parameters so far are restored first.
        """
        per_epoch = max(self.X_train.shape[0] // self.batch_size, 1)
        total = self.num_epochs * per_epoch
        bar = _progress(total, self.verbose)
        try:
            for it in range(total):
                loss = self._train_step(it, total)
                bar.update(1)
                if it % self.print_every == 0:
                    bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
                epoch_end = (it + 1) % per_epoch == 0
                if epoch_end:
                    self._end_epoch()
                if it == 0 or it == total - 1 or epoch_end:
                    self._check(bar.write)
        finally:
            bar.close()
            self.model.params = self.best_params

    def check_accuracy(self, X: Any, y: Any, num_samples: int | None = None,
                       batch_size: int = 100) -> float:
        """Fraction of ``X`` the model classifies as ``y``.

        Parameters
        ----------
        X, y : arrays
            Samples and integer labels (any backend; moved to the model's).
        num_samples : int, optional
            Evaluate a random subsample of this size (without replacement).
        batch_size : int
            Predict in batches of this size.

        Returns
        -------
        float
        """
        batch_size = _count("batch_size", batch_size)
        X, y = self._as_backend(("X", "y"), X, y)
        n = X.shape[0]
        if num_samples is not None and _count("num_samples", num_samples) < n:
            idx = self._rng.choice(n, num_samples, replace=False)
            X, y, n = self._rows(X, idx), self._rows(y, idx), num_samples
        if _compat.is_dask_array(X):  # streamed: one chunk of rows in memory at a time
            correct, start = 0.0, 0
            for size in X.chunks[0]:
                rows = slice(start, start + size)
                correct += self._count_correct(self._rows(X, rows), self._rows(y, rows),
                                               batch_size)
                start += size
            return correct / n
        return self._count_correct(X, y, batch_size) / n

    def _count_correct(self, X: Array, y: Array, batch_size: int) -> float:
        xp, correct, n = self._xp, 0.0, X.shape[0]
        if self.mesh is not None:  # on the params' devices (they are replicated there)
            X, y = _compat.jax_replicate((X, y), self.mesh)
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)  # out-of-bounds stops are unspecified
            scores = self.model.loss(X[start:stop, ...])
            hits = xp.argmax(scores, axis=1) == y[start:stop]
            correct += float(xp.sum(xp.astype(hits, self._dtype)))
        return correct


def _take(xp: Any, x: Array, idx: Array) -> Array:
    """Rows ``idx`` of ``x`` (``xp.take`` along axis 0)."""
    return xp.take(x, idx, axis=0)


class _NoBar:
    """Stands in for a tqdm bar when not verbose (or tqdm is not installed)."""

    def __init__(self, verbose: bool) -> None:
        self.write = print if verbose else _silent

    def update(self, n: int) -> None:
        pass

    def set_postfix(self, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


def _silent(msg: str) -> None:
    pass


def _progress(total: int, verbose: bool) -> Any:
    """A tqdm progress bar when verbose and tqdm is installed (``portable-layers[train]``)."""
    if not verbose:
        return _NoBar(False)
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar(True)
    return tqdm(total=total, desc="train", unit="it", dynamic_ncols=True)
