"""The training loop: CS231n's ``Solver`` around the pure step of
:mod:`portable_layers.train_step`, on any backend, compiled by ``jax.jit`` on JAX.

Where the step runs is :mod:`portable_layers._placement`; the data sources (arrays in
memory, Dask arrays streamed) are :mod:`portable_layers._solver_data`; the options
are :mod:`portable_layers._solver_options`.  The guide's training page explains it.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from . import _compat, optim
from . import _solver_options as options
from ._placement import Placement
from ._solver_data import DataSource
from ._types import Array
from .checkpoint import save_checkpoint
from .train_step import TrainState, init_train_state

__all__ = ["Solver"]

_DATA_KEYS = ("X_train", "y_train", "X_val", "y_val")
Accuracies = tuple[float, float]


class Solver:
    """Train a classification model by minibatch gradient descent (CS231n's Solver).

    Parameters
    ----------
    model : object
        ``model.params`` (a dict of arrays, assignable) and ``model.loss(X, y=None)``
        returning scores or ``(loss, grads)`` (with ``params=`` too, or
        ``model.apply`` as this library's models have, the step is pure and
        compiled on JAX).  Models exposing ``input_dim`` and ``num_classes`` get
        their data checked against them.
    data : dict
        ``X_train, y_train, X_val, y_val``: arrays of any backend (or NumPy); they
        are moved to the model's backend, features cast to its dtype.  Dask arrays
        stay lazy and are streamed instead (see the guide's training page).

    Other Parameters
    ----------------
    update_rule : str or callable
        A name in :data:`portable_layers.optim.UPDATE_RULES` (default ``"sgd"``) or
        a function ``(w, dw, config) -> (next_w, config)``.
    optim_config : dict, optional
        Hyperparameters of the update rule, shared by all parameters; a named
        rule's are checked here (errors name the rule and the key).
    lr_decay : float
        Factor applied to the learning rate after every epoch (default 1.0).
    batch_size : int
        Minibatch size (default 100).
    num_epochs : int
        Number of epochs (default 10).
    num_train_samples, num_val_samples : int or None
        Samples used to estimate train accuracy (1000) and val accuracy (all).
    checkpoint_name : str, optional
        Write ``f"{checkpoint_name}_epoch_{epoch}.npz"`` at every accuracy check (its
        folder must exist).
    print_every : int
        Show the loss every this many iterations (default 10).
    verbose : bool
        Show a tqdm progress bar and the accuracies per epoch (default True).
    seed : int, optional
        A non-negative integer: seeds the host generator that draws minibatches and
        accuracy subsamples.
    mesh : jax.sharding.Mesh, int or sequence of JAX devices, optional
        JAX models only: train data-parallel over these devices (a 1-D mesh, the
        first k devices, or the devices themselves); ``batch_size`` must divide
        evenly over them.  See :func:`portable_layers.distributed.data_parallel_mesh`.
    scan_budget : int
        JAX on one device: run each epoch as one compiled ``lax.scan`` when the
        training features take at most this many bytes (default 1 GiB); otherwise
        one compiled step per minibatch.

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
    TypeError
        If the model lacks a params dict or a loss method (the message names what).
    ValueError
        For an unknown option or update rule (the message lists the valid ones), a
        bad option value, missing data, shapes that disagree with the model, labels
        outside its classes, or features holding NaN or inf (Dask data: found as its
        batches are drawn).

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
        self.model = model
        self._xp, self._dtype, device = self._model_backend(model)
        self._data = DataSource(model, self._xp, self._dtype, device)
        opts = options.parse(kwargs, self._xp)
        self.update_rule, self.optim_config = opts["update_rule"], opts["optim_config"]
        self._rule_name = self.update_rule if isinstance(self.update_rule, str) else None
        self.lr_decay, self.batch_size = opts["lr_decay"], opts["batch_size"]
        self.num_epochs, self.print_every = opts["num_epochs"], opts["print_every"]
        self.num_train_samples = opts["num_train_samples"]
        self.num_val_samples = opts["num_val_samples"]
        self.scan_budget, self.mesh = opts["scan_budget"], opts["mesh"]
        self.checkpoint_name, self.verbose = opts["checkpoint_name"], opts["verbose"]
        self._rng = np.random.default_rng(opts["seed"])
        self._set_data(data)
        self._placement = Placement(model, self._xp, self.update_rule, self.mesh)
        self._reset()

    # -- setup -------------------------------------------------------------------------

    @staticmethod
    def _model_backend(model: Any) -> tuple[Any, Any, Any]:
        params: Any = getattr(model, "params", None)
        missing = []
        if not isinstance(params, dict) or not params:
            missing.append("a non-empty params dict (model.params)")
        if not callable(getattr(model, "loss", None)):
            missing.append("a loss(X, y=None) method")
        if missing:
            msg = f"Solver: model {type(model).__name__} lacks " + " and ".join(missing)
            raise TypeError(msg)
        name, first = next(iter(params.items()))
        xp = _compat.array_namespace("Solver", **{name: first})
        return xp, first.dtype, _compat.device(first)

    def _set_data(self, data: dict[str, Any]) -> None:
        """Check the data against the model and move it to the model's backend (at
        construction, and again at each :meth:`train`, for arrays replaced since)."""
        if not isinstance(data, dict):
            raise TypeError(f"Solver: data must be a dict, got {type(data).__name__}")
        missing = [k for k in _DATA_KEYS if k not in data]
        if missing:
            raise ValueError(f"Solver: data must hold {list(_DATA_KEYS)}, missing {missing}")
        prepare = self._data.prepare
        self.X_train, self.y_train = prepare(("X_train", "y_train"), data["X_train"],
                                             data["y_train"])
        self.X_val, self.y_val = prepare(("X_val", "y_val"), data["X_val"], data["y_val"])

    def _reset(self) -> None:
        """Book-keeping and optimiser state for a fresh run (CS231n's ``_reset``)."""
        self.epoch = 0
        self.best_val_acc = 0.0
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        state = init_train_state(self.model, self.update_rule, self.optim_config)
        self._state = self._placement.put_state(state)
        if self.mesh is not None:  # the model's params live on the mesh from now on
            self.model.params = dict(self._state.params)
        self.best_params: dict[str, Array] = dict(self.model.params)
        self._best_model_state = dict(self._state.model_state)

    @property
    def optim_configs(self) -> dict[str, dict[str, Any]]:
        """The optimiser state, one config per parameter (part of the training state)."""
        return self._state.opt_state

    @optim_configs.setter
    def optim_configs(self, configs: dict[str, dict[str, Any]]) -> None:
        if not isinstance(configs, dict) or sorted(configs) != sorted(self._state.params):
            msg = (f"Solver: optim_configs must be a dict with one config per parameter "
                   f"{sorted(self._state.params)}, got {configs!r}")
            raise ValueError(msg)
        if self._rule_name is not None:  # checked here, once: the step runs unchecked
            params = self._state.params
            configs = {k: self._placement.config_arrays(optim.init_config(
                self._rule_name, params[k], c), params[k]) for k, c in configs.items()}
        state = self._state._replace(opt_state=dict(configs))
        self._state = self._placement.put_state(state)

    @property
    def train_state(self) -> TrainState:
        """The current :class:`~portable_layers.train_step.TrainState`."""
        return self._state

    # -- training ----------------------------------------------------------------------

    def train(self) -> None:
        """Run ``num_epochs`` epochs of minibatch updates, then restore the best params.

        The data is checked again first (labels, shapes, finite features), in case
        ``X_train`` and the others were replaced since the Solver was made.

        Raises
        ------
        ValueError
            For data that no longer fits the model, or holds NaN or inf.
        FloatingPointError
            When the loss becomes NaN or infinite; the message names the epoch and
            iteration, and the best parameters so far are restored first.
        """
        self._set_data({k: getattr(self, k) for k in _DATA_KEYS})
        per_epoch = max(self.X_train.shape[0] // self.batch_size, 1)
        total = self.num_epochs * per_epoch
        bar = options.progress(total, self.verbose)
        run = (self._scan_epoch if self._placement.can_scan(self.X_train, self.scan_budget)
               else self._step_epoch)
        state = self._from_model()
        try:
            for e in range(self.num_epochs):
                idx = self._rng.integers(0, self.X_train.shape[0], size=(per_epoch,
                                                                        self.batch_size))
                state, accuracies = run(state, idx, e * per_epoch, total, bar)
                self.epoch += 1
                state = self._state = self._decayed(state)
                self._check(bar.write, state, accuracies)
        finally:
            bar.close()
            self.model.params = self.best_params
            if self._best_model_state:
                self.model.state = self._best_model_state

    def _from_model(self) -> TrainState:
        """The state to start from: the model's current parameters and statistics
        (CS231n reads them), the Solver's optimiser state."""
        return self._placement.put_state(self._state._replace(
            params=self._placement.own(self.model.params),
            model_state=dict(getattr(self.model, "state", {}) or {})))

    def _decayed(self, state: TrainState) -> TrainState:
        """``state`` with every learning rate multiplied by ``lr_decay``."""
        if self.lr_decay == 1.0:  # nothing to decay (and no array operation to dispatch)
            return state
        opt = {k: {**c, "learning_rate": c["learning_rate"] * self.lr_decay}
               if "learning_rate" in c else c for k, c in state.opt_state.items()}
        return state._replace(opt_state=opt)

    def _step_epoch(self, state: TrainState, idx: np.ndarray, first_it: int, total: int,
                    bar: Any) -> tuple[TrainState, Accuracies | None]:
        """One minibatch at a time (eager backends, meshes, streamed or large data)."""
        place, rows = self._placement, self._data.rows
        for i, batch in enumerate(idx):
            X, y = place.put_batch(rows(self.X_train, batch, "X_train"),
                                   rows(self.y_train, batch, "y_train"))
            loss, state = place.step(state, X, y)
            self._record([_compat.to_float(loss)], first_it + i, total, bar)
            if first_it + i == 0 and len(idx) > 1:  # CS231n checks after iteration 0 too
                self._check(bar.write, state)
        return state, None

    def _scan_epoch(self, state: TrainState, idx: np.ndarray, first_it: int, total: int,
                    bar: Any) -> tuple[TrainState, Accuracies]:
        """The whole epoch and its accuracy checks as one compiled call (JAX, data on the
        device); its losses and counts come back in one transfer."""
        first = first_it == 0 and len(idx) > 1  # CS231n checks after iteration 0 too
        snap_rows = self._check_rows() if first else None
        end_rows = self._check_rows()
        snap_rows = snap_rows or end_rows
        new, snap, losses, counts = self._placement.epoch(
            state, self.X_train, self.y_train, idx, 0 if first else -1,
            self.X_val, self.y_val, np.stack([snap_rows[0], end_rows[0]]),
            np.stack([snap_rows[1], end_rows[1]]))
        host = [float(v) for v in losses]
        sizes = (len(end_rows[0]), len(end_rows[1]))
        acc = [(float(c[0]) / sizes[0], float(c[1]) / sizes[1]) for c in counts]
        if first:
            self._record(host[:1], first_it, total, bar)
            self._check(bar.write, state._replace(params=snap[0], model_state=snap[1]), acc[0])
            self._record(host[1:], first_it + 1, total, bar)
        else:
            self._record(host, first_it, total, bar)
        return new, acc[1]

    def _record(self, losses: list[float], first_it: int, total: int, bar: Any) -> None:
        """Append ``losses``; stop at the first non-finite one."""
        for i, value in enumerate(losses):
            if not math.isfinite(value):
                msg = (f"Solver.train: loss is {value} at epoch {self.epoch + 1} of "
                       f"{self.num_epochs}, iteration {first_it + i + 1} of {total}; training "
                       f"stopped and the best parameters (val acc {self.best_val_acc:.4f}) "
                       "restored")
                raise FloatingPointError(msg)
            self.loss_history.append(value)
        bar.update(len(losses))
        if losses:
            bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)

    def _check(self, report: Any, state: TrainState, accuracies: Accuracies | None = None
               ) -> None:
        """Record train and val accuracy (measured here unless given), keep the best
        params, write a checkpoint."""
        self.model.params = dict(state.params)
        if state.model_state:
            self.model.state = dict(state.model_state)
        if accuracies is None:
            accuracies = (self._accuracy(self.X_train, self.y_train, self.num_train_samples,
                                         name="X_train"),
                          self._accuracy(self.X_val, self.y_val, self.num_val_samples,
                                         name="X_val"))
        train_acc, val_acc = accuracies
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        report(f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:.4f}; "
               f"val acc: {val_acc:.4f}")
        if val_acc > self.best_val_acc:
            self.best_val_acc = val_acc
            self.best_params = self._placement.own(state.params)
            self._best_model_state = dict(state.model_state)
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

    # -- accuracy ----------------------------------------------------------------------

    def _check_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows of ``X_train`` and ``X_val`` one accuracy check counts: subsamples
        drawn as :meth:`_accuracy` draws them (same generator calls, same order)."""
        rows = []
        for X, num in ((self.X_train, self.num_train_samples),
                       (self.X_val, self.num_val_samples)):
            n = X.shape[0]
            rows.append(self._rng.choice(n, num, replace=False) if num is not None and num < n
                        else np.arange(n))
        return rows[0], rows[1]

    def check_accuracy(self, X: Any, y: Any, num_samples: int | None = None,
                       batch_size: int = 100) -> float:
        """Fraction of ``X`` the model (its current ``params`` and statistics) classifies
        as ``y``.

        Parameters
        ----------
        X, y : arrays
            Samples and integer labels (any backend; moved to the model's).
        num_samples : int, optional
            Evaluate a random subsample of this size (without replacement).
        batch_size : int
            Predict in batches of this size (on JAX, in-memory data is counted in
            one compiled call).

        Returns
        -------
        float
        """
        batch_size = options.count("batch_size", batch_size)
        if num_samples is not None:
            options.count("num_samples", num_samples)
        X, y = self._data.prepare(("X", "y"), X, y)
        return self._accuracy(X, y, num_samples, batch_size)

    def _accuracy(self, X: Array, y: Array, num_samples: int | None,
                  batch_size: int = 100, name: str = "X") -> float:
        """:meth:`check_accuracy` on data already checked and moved (the Solver's own)."""
        n = X.shape[0]
        idx = None
        if num_samples is not None and num_samples < n:
            idx = self._rng.choice(n, num_samples, replace=False)
            n = num_samples
        if idx is not None and (_compat.is_dask_array(X) or not self._placement.jax):
            X, y, idx = self._data.rows(X, idx, name), self._data.rows(y, idx), None
        state = self._state._replace(params=dict(self.model.params),
                                     model_state=dict(getattr(self.model, "state", {}) or {}))
        count = self._placement.count_correct
        if _compat.is_dask_array(X):  # streamed: one chunk of rows in memory at a time
            correct, start = 0.0, 0
            for size in X.chunks[0]:
                rows = slice(start, start + size)
                correct += count(state, self._data.rows(X, rows, name),
                                 self._data.rows(y, rows), batch_size)
                start += size
            return correct / n
        return count(state, X, y, batch_size, idx) / n
