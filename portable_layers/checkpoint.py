"""Checkpoints: a model's parameters, optimiser state and metadata in one ``.npz`` file.

The file is a plain NumPy ``.npz`` archive (never a pickle: it is written from
numeric and string arrays only and read with ``allow_pickle=False``), so a
checkpoint is safe to load from an untrusted source and readable without this
library.  Entries are named ``params/<name>``, ``state/<name>`` (batchnorm running
statistics), ``optim/<param>/<key>`` and
``meta/<key>``.

Writing is atomic: the archive goes to a temporary file in the target directory,
which is flushed, fsynced and then renamed over the target with ``os.replace``, so a
crash or an error mid-write leaves any previous checkpoint intact.

Loading goes through the host, so a checkpoint written from one backend loads into
a model on any other; values take the dtype and device of the model's parameters.
Everything is validated before anything is assigned: a checkpoint that does not fit
the model raises and leaves the model unchanged.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any

import numpy as np

from ._compat import array_namespace, device, from_numpy, is_array_api_obj, to_numpy

__all__ = ["load_checkpoint", "read_checkpoint_meta", "save_checkpoint"]

PathLike = str | os.PathLike


def save_checkpoint(
    path: PathLike, model: Any, optim_configs: dict[str, dict[str, Any]] | None = None,
    **meta: Any,
) -> None:
    """Write ``model.params``, optimiser configs and metadata to an ``.npz`` file, atomically.

    Parameters
    ----------
    path : str or path-like
        Target file; must end in ``.npz``.  An existing file is replaced only once
        the new one is completely written.
    model : object
        Anything with a ``params`` dict of arrays (any backend).
    optim_configs : dict, optional
        Per-parameter optimiser configs (as the Solver keeps them): numbers and arrays.
    **meta
        Further numbers, strings or numeric sequences (epoch, histories, ...).

    Raises
    ------
    ValueError
        For a path not ending in ``.npz`` or a name containing ``/``.
    TypeError
        For a value that is not a number, string or numeric array.

    Examples
    --------
    >>> import os, tempfile
    >>> from portable_layers import TwoLayerPerceptron
    >>> model = TwoLayerPerceptron(4, 3, 2, seed=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> save_checkpoint(path, model, epoch=1)
    >>> load_checkpoint(path, model)
    {}
    """
    func = "save_checkpoint"
    path = _npz_path(func, path)
    arrays = {f"params/{_name(func, k)}": to_numpy(v) for k, v in _params(func, model).items()}
    for k, v in getattr(model, "state", {}).items():  # batchnorm running statistics
        arrays[f"state/{_name(func, k)}"] = to_numpy(v)
    for k, config in (optim_configs or {}).items():
        for key, value in config.items():
            where = f"optim_configs[{k!r}][{key!r}]"
            arrays[f"optim/{_name(func, k)}/{_name(func, key)}"] = _host(func, where, value)
    for key, value in meta.items():
        arrays[f"meta/{_name(func, key)}"] = _host(func, key, value)
    _atomic_savez(path, arrays)


def load_checkpoint(path: PathLike, model: Any) -> dict[str, dict[str, Any]]:
    """Load a checkpoint's parameters into ``model`` and return its optimiser configs.

    Parameters
    ----------
    path : str or path-like
        An ``.npz`` file written by :func:`save_checkpoint`, from any backend.
    model : object
        A model whose ``params`` have the checkpoint's names and shapes; it receives
        the values in its own parameters' namespace, dtype and device.

    Returns
    -------
    optim_configs : dict
        Per-parameter configs: arrays in the model's backend, numbers as Python
        ``float``/``int``.  Empty if the checkpoint holds none.

    Raises
    ------
    ValueError
        If the file holds pickled objects (never loaded), is not an ``.npz`` archive,
        or does not fit the model (the message names the parameter and both shapes);
        the model is then left unchanged.

    Examples
    --------
    See :func:`save_checkpoint`.
    """
    func = "load_checkpoint"
    path = _npz_path(func, path)
    current = _params(func, model)
    stored = _read(func, path)
    params = _matching(func, path, stored, "params", current, ("parameters", "parameter"))
    configs = _optim_configs(func, stored, current)
    state = _matching(func, path, stored, "state", getattr(model, "state", {}),
                      ("running statistics", "running statistic"))
    model.params = params
    if state:
        model.state = state
    return configs


def _matching(func: str, path: PathLike, stored: dict[str, np.ndarray], prefix: str,
              current: dict[str, Any], what: tuple[str, str]) -> dict[str, Any]:
    """The ``prefix/`` entries of the file, checked against the model's arrays ``current``
    (same names, same shapes) and converted like them."""
    names = {k.removeprefix(f"{prefix}/") for k in stored if k.startswith(f"{prefix}/")}
    if names != set(current):
        msg = (f"{func}: {os.fspath(path)} holds {what[0]} {sorted(names)}, "
               f"but the model has {sorted(current)}")
        raise ValueError(msg)
    for k, v in current.items():
        saved = stored[f"{prefix}/{k}"].shape
        if tuple(saved) != tuple(v.shape):
            msg = (f"{func}: {what[1]} {k} has shape {tuple(saved)} in {os.fspath(path)}, "
                   f"but {tuple(v.shape)} in the model")
            raise ValueError(msg)
    return {k: _like(stored[f"{prefix}/{k}"], v) for k, v in current.items()}


def read_checkpoint_meta(path: PathLike) -> dict[str, Any]:
    """The metadata of a checkpoint: 0-d entries as Python values, others as NumPy arrays.

    Examples
    --------
    >>> import os, tempfile
    >>> from portable_layers import TwoLayerPerceptron
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> save_checkpoint(path, TwoLayerPerceptron(4, 3, 2), epoch=3, update_rule="adam")
    >>> read_checkpoint_meta(path)
    {'epoch': 3, 'update_rule': 'adam'}
    """
    func = "read_checkpoint_meta"
    stored = _read(func, _npz_path(func, path))
    return {k.removeprefix("meta/"): _scalar(a) for k, a in stored.items() if k.startswith("meta/")}


def _npz_path(func: str, path: Any) -> str:
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path).endswith(".npz"):
        raise ValueError(f"{func}: path must be a file name ending in .npz, got {path!r}")
    return os.fspath(path)


def _params(func: str, model: Any) -> dict[str, Any]:
    """``model.params``, a dict of arrays; TypeError naming ``func`` otherwise."""
    params = getattr(model, "params", None)
    if not isinstance(params, dict) or not all(is_array_api_obj(v) for v in params.values()):
        msg = f"{func}: model must have a params dict of arrays, got {type(model).__name__}"
        raise TypeError(msg)
    return params


def _name(func: str, name: Any) -> str:
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"{func}: names must be non-empty strings without '/', got {name!r}")
    return name


def _host(func: str, where: str, value: Any) -> np.ndarray:
    """``value`` as a NumPy array that needs no pickle (numbers, strings, numeric arrays)."""
    a = to_numpy(value) if is_array_api_obj(value) else np.asarray(value)
    if a.dtype.hasobject:
        kind = type(value).__name__
        msg = f"{func}: {where} must be a number, string or numeric array, got {kind}"
        raise TypeError(msg)
    return a


def _atomic_savez(path: str, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` to a temporary file in ``path``'s directory, fsync, then ``os.replace``."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stubs: allow_pickle
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0o600; a checkpoint is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable (POSIX; no-op elsewhere)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _read(func: str, path: str) -> dict[str, np.ndarray]:
    """Every entry of the archive, read without ever unpickling.

    A truncated or corrupt file (zipfile.BadZipFile, EOFError, zlib.error, ...) or an
    entry that is not a real numeric array gives the same ValueError; the file is
    opened here, so it is closed whatever ``np.load`` raises.
    """
    with open(path, "rb") as f:  # OSError (missing file, ...) passes through
        try:
            archive = np.load(f, allow_pickle=False)
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single array")
            with archive:
                stored = {k: archive[k] for k in archive.files}
            for k, a in stored.items():
                kind = a.dtype.kind
                if kind not in "biuf" and not (kind == "U" and k.startswith("meta/")):
                    raise ValueError(f"entry {k} has dtype {a.dtype}")
            return stored
        except Exception as err:
            msg = (f"{func}: {path} must be an .npz archive of numeric arrays; pickled "
                   f"objects are never loaded ({type(err).__name__}: {err})")
            raise ValueError(msg) from None


def _like(a: np.ndarray, w: Any) -> Any:
    """Host array ``a`` in the namespace, dtype and device of the model array ``w``."""
    xp = array_namespace("load_checkpoint", w=w)
    return from_numpy(a, xp, dtype=w.dtype, device=device(w))


def _scalar(a: np.ndarray) -> Any:
    return a.item() if a.ndim == 0 else a


def _optim_configs(func: str, stored: dict[str, np.ndarray], params: dict[str, Any]) -> dict:
    configs: dict[str, dict[str, Any]] = {}
    for key, a in stored.items():
        if not key.startswith("optim/"):
            continue
        name, _, entry = key.removeprefix("optim/").partition("/")
        if name not in params:
            raise ValueError(f"{func}: optimiser state for unknown parameter {name!r}")
        w = params[name]
        if a.ndim > 0 and tuple(a.shape) != tuple(w.shape):
            msg = (f"{func}: optimiser state {name}/{entry} has shape {tuple(a.shape)}, "
                   f"but parameter {name} has {tuple(w.shape)} in the model")
            raise ValueError(msg)
        configs.setdefault(name, {})[entry] = _scalar(a) if a.ndim == 0 else _like(a, w)
    return configs
