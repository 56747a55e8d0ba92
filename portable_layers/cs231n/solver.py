"""CS231n's ``cs231n/solver.py``: the course's training loop over ``model.loss``.

``Solver(model, data, **kwargs)`` drives any model with the course's interface: a
``params`` dict and ``loss(X, y)`` returning ``(loss, grads)``, updated with the
rules of :mod:`portable_layers.cs231n.optim`.  Options and their defaults are the
course's: ``update_rule='sgd'``, ``optim_config={}``, ``lr_decay=1.0``,
``batch_size=100``, ``num_epochs=10``, ``num_train_samples=1000``,
``num_val_samples=None``, ``checkpoint_name=None``, ``print_every=10``,
``verbose=True``.  Minibatches and accuracy subsamples come from NumPy's global
generator, as in the course.  After :meth:`Solver.train`, ``loss_history`` has one
entry per iteration, ``train_acc_history`` and ``val_acc_history`` ``num_epochs + 1``
each, and ``model.params`` holds ``best_params`` (the best validation accuracy's).

The library's own :class:`portable_layers.Solver` compiles the step with JAX and
threads optimizer state as data; this one is the course's eager loop.

Examples
--------
>>> import numpy as np
>>> from portable_layers.cs231n.classifiers.fc_net import FullyConnectedNet
>>> np.random.seed(0)
>>> data = {"X_train": np.random.randn(20, 4), "y_train": np.arange(20) % 2,
...         "X_val": np.random.randn(10, 4), "y_val": np.arange(10) % 2}
>>> solver = Solver(FullyConnectedNet([8], 4, 2), data, num_epochs=2, batch_size=10,
...                 verbose=False)
>>> solver.train()
>>> len(solver.loss_history), len(solver.train_acc_history), len(solver.val_acc_history)
(4, 3, 3)
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np

from .. import _compat
from .._solver_options import OPTIONS
from . import _util, optim

__all__ = ["Solver"]

# The course's ten options and defaults: the package Solver's table less its own additions.
_OPTIONS = {k: v for k, v in OPTIONS.items() if k not in ("seed", "mesh", "scan_budget")}

class Solver:
    """Train a classification model with the course's minibatch loop (see the module)."""

    def __init__(self, model: Any, data: dict[str, Any], **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - set(_OPTIONS))
        if unknown:
            raise ValueError(f"Solver: unrecognized arguments {unknown}; valid: {list(_OPTIONS)}")
        missing = [k for k in ("params", "loss") if not hasattr(model, k)]
        if missing:
            msg = (f"Solver: model must have a params dict and a loss(X, y) method; "
                   f"{type(model).__name__} lacks {missing}")
            raise TypeError(msg)
        keys = ("X_train", "y_train", "X_val", "y_val")
        if not isinstance(data, dict) or any(k not in data for k in keys):
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"Solver: data must be a dict with keys {list(keys)}, got {got}")
        opts = {**_OPTIONS, **kwargs}
        if opts["update_rule"] not in optim.__all__:
            raise ValueError(f'Solver: invalid update_rule "{opts["update_rule"]}"; '
                             f"choose one of {optim.__all__}")
        self.model = model
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        self.update_rule = getattr(optim, opts["update_rule"])
        self.optim_config = dict(opts["optim_config"] or {})
        self.lr_decay = opts["lr_decay"]
        self.batch_size = opts["batch_size"]
        self.num_epochs = opts["num_epochs"]
        self.num_train_samples = opts["num_train_samples"]
        self.num_val_samples = opts["num_val_samples"]
        self.checkpoint_name = opts["checkpoint_name"]
        self.print_every = opts["print_every"]
        self.verbose = opts["verbose"]
        self._reset()

    def _reset(self) -> None:
        self.epoch = 0
        self.best_val_acc = 0.0
        self.best_params: dict[str, Any] = {}
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.optim_configs = {p: dict(self.optim_config) for p in self.model.params}

    def _step(self) -> None:
        num_train = self.X_train.shape[0]
        batch_mask = np.random.choice(num_train, self.batch_size)
        X_batch = _util.take_rows(self.X_train, batch_mask)
        y_batch = _util.take_rows(self.y_train, batch_mask)
        loss, grads = self.model.loss(X_batch, y_batch)
        self.loss_history.append(float(loss))
        for p, w in list(self.model.params.items()):
            next_w, next_config = self.update_rule(w, grads[p], self.optim_configs[p])
            self.model.params[p] = next_w
            self.optim_configs[p] = next_config

    def _save_checkpoint(self) -> None:
        if self.checkpoint_name is None:
            return
        checkpoint = {
            "model": self.model,
            "update_rule": self.update_rule,
            "lr_decay": self.lr_decay,
            "optim_config": self.optim_config,
            "batch_size": self.batch_size,
            "num_train_samples": self.num_train_samples,
            "num_val_samples": self.num_val_samples,
            "epoch": self.epoch,
            "loss_history": self.loss_history,
            "train_acc_history": self.train_acc_history,
            "val_acc_history": self.val_acc_history,
        }
        filename = f"{self.checkpoint_name}_epoch_{self.epoch}.pkl"
        if self.verbose:
            print(f'Saving checkpoint to "{filename}"')
        with open(filename, "wb") as f:
            pickle.dump(checkpoint, f)

    def check_accuracy(self, X: Any, y: Any, num_samples: int | None = None,
                       batch_size: int = 100) -> float:
        """Fraction of ``X`` classified as ``y`` (on a random subsample of ``num_samples``)."""
        N = X.shape[0]
        if num_samples is not None and N > num_samples:
            mask = np.random.choice(N, num_samples)
            N = num_samples
            X, y = _util.take_rows(X, mask), _util.take_rows(y, mask)
        num_batches = max(1, -(-N // batch_size))
        y_pred = []
        for i in range(num_batches):
            start, end = i * batch_size, (i + 1) * batch_size
            scores = _compat.to_numpy(self.model.loss(X[start:end]))
            y_pred.append(np.argmax(scores, axis=1))
        return float(np.mean(np.hstack(y_pred) == _compat.to_numpy(y)))

    def train(self) -> None:
        """Run ``num_epochs`` epochs of minibatch updates (see the module docstring)."""
        num_train = self.X_train.shape[0]
        iterations_per_epoch = max(num_train // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch
        for t in range(num_iterations):
            self._step()
            if self.verbose and t % self.print_every == 0:
                print(f"(Iteration {t + 1} / {num_iterations}) loss: {self.loss_history[-1]:f}")
            epoch_end = (t + 1) % iterations_per_epoch == 0
            if epoch_end:
                self.epoch += 1
                for config in self.optim_configs.values():
                    config["learning_rate"] *= self.lr_decay
            if t == 0 or t == num_iterations - 1 or epoch_end:
                train_acc = self.check_accuracy(self.X_train, self.y_train,
                                                num_samples=self.num_train_samples)
                val_acc = self.check_accuracy(self.X_val, self.y_val,
                                              num_samples=self.num_val_samples)
                self.train_acc_history.append(train_acc)
                self.val_acc_history.append(val_acc)
                self._save_checkpoint()
                if self.verbose:
                    print(f"(Epoch {self.epoch} / {self.num_epochs}) train acc: {train_acc:f}; "
                          f"val_acc: {val_acc:f}")
                if val_acc > self.best_val_acc:
                    self.best_val_acc = val_acc
                    self.best_params = {k: _util.copy(v) for k, v in self.model.params.items()}
        if self.best_params:  # (the course's loop would leave an empty dict here)
            self.model.params = self.best_params
