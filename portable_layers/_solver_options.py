"""The Solver's options: CS231n's defaults plus ``seed``, ``mesh`` and ``scan_budget``,
each checked at construction (errors name ``Solver`` and the option), and the progress
bar that ``verbose`` picks."""

from __future__ import annotations

import os
from typing import Any

from . import _compat, optim
from . import _validate as check

OPTIONS: dict[str, Any] = {
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
    "scan_budget": 1 << 30,
}


def count(name: str, value: Any, allow_none: bool = False) -> Any:
    """A positive integer option (``None`` too with ``allow_none``)."""
    return check.positive_int("Solver", name, value, allow_none=allow_none)


def parse(kwargs: dict[str, Any], xp: Any) -> dict[str, Any]:
    """The options ``kwargs`` with defaults filled in, each checked; ``mesh`` built."""
    unknown = sorted(set(kwargs) - set(OPTIONS))
    if unknown:
        msg = f"Solver: unknown options {unknown}; valid options are {sorted(OPTIONS)}"
        raise ValueError(msg)
    opts = {**OPTIONS, **kwargs}
    rule = opts["update_rule"]
    if not callable(rule):
        optim.get_update_rule(rule)  # names the valid rules
    config = opts["optim_config"]
    if config is not None and not isinstance(config, dict):
        raise ValueError(f"Solver: optim_config must be a dict or None, got {config!r}")
    opts["optim_config"] = dict(config or {})
    opts["lr_decay"] = check.positive_number("Solver", "lr_decay", opts["lr_decay"])
    for name in ("batch_size", "num_epochs", "print_every"):
        opts[name] = count(name, opts[name])
    for name in ("num_train_samples", "num_val_samples"):
        opts[name] = count(name, opts[name], True)
    opts["scan_budget"] = count("scan_budget", opts["scan_budget"])
    opts["seed"] = check.integer("Solver", "seed", opts["seed"], allow_none=True,
                                 want="a non-negative integer")
    opts["checkpoint_name"] = _checkpoint_name(opts["checkpoint_name"])
    opts["verbose"] = bool(opts["verbose"])
    opts["mesh"] = _mesh(opts["mesh"], xp, opts["batch_size"])
    return opts


def _checkpoint_name(name: Any) -> Any:
    """A path prefix whose folder exists (checked now, not at the first epoch's end)."""
    if name is None:
        return None
    if not isinstance(name, (str, os.PathLike)):
        raise ValueError(f"Solver: checkpoint_name must be a path or None, got {name!r}")
    folder = os.path.dirname(os.fspath(name)) or "."
    if not os.path.isdir(folder):
        msg = (f"Solver: checkpoint_name's folder {folder!r} does not exist "
               f"(checkpoint_name={os.fspath(name)!r}); create it first")
        raise ValueError(msg)
    return name


def _mesh(mesh: Any, xp: Any, batch_size: int) -> Any:
    if mesh is None:
        return None
    if not _compat.is_jax_namespace(xp):
        name = _compat.backend_name(xp)
        raise ValueError(f"Solver: mesh needs a model on JAX, got one on {name}")
    mesh = _compat.jax_mesh("Solver", mesh)
    size = mesh.devices.size
    if batch_size % size:
        msg = (f"Solver: batch_size must divide evenly over the {size} devices of "
               f"mesh, got {batch_size}")
        raise ValueError(msg)
    return mesh


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


def progress(total: int, verbose: bool) -> Any:
    """A tqdm progress bar when verbose and tqdm is installed (``portable-layers[train]``)."""
    if not verbose:
        return _NoBar(False)
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar(True)
    return _Progress(tqdm(total=total, desc="train", unit="it", dynamic_ncols=True))


class _Progress:
    """A tqdm bar whose clock starts after the first update: the first step (or the
    first scanned epoch) includes JAX's compilation, which would otherwise dominate the
    rate and the first ETA ("19:16" for a 9-second run).  Its iterations still count."""

    def __init__(self, bar: Any) -> None:
        self.bar, self.write, self.started = bar, bar.write, False

    def update(self, n: int) -> None:
        if self.started:
            self.bar.update(n)
            return
        self.started, done = True, self.bar.n + n
        self.bar.reset(total=self.bar.total)  # clock and smoothed rate start now
        self.bar.n = self.bar.initial = self.bar.last_print_n = done
        self.bar.refresh()

    def set_postfix(self, **kwargs: Any) -> None:
        self.bar.set_postfix(**kwargs)

    def close(self) -> None:
        self.bar.close()
