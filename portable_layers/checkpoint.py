"""Checkpoints: a model's parameters, optimiser state and metadata in one ``.npz`` file.

The file is a plain NumPy ``.npz`` archive (never a pickle: it is written from
numeric and string arrays only and read with ``allow_pickle=False``), so a
checkpoint is safe to load from an untrusted source and readable without this
library.  Entries are named ``params/<name>``, ``state/<name>`` (batchnorm running
statistics), ``optim/<param>/<key>`` and
``meta/<key>``.

Writing is atomic: the archive goes to a temporary file in the target directory
(its name cut to the file system's limit), which is flushed, fsynced and then renamed
over the target with ``os.replace``, so a crash or an error mid-write leaves any
previous checkpoint intact.

Loading goes through the host, so a checkpoint written from one backend loads into
a model on any other; values take the dtype and device of the model's parameters.
Everything is validated before anything is assigned: a checkpoint that does not fit
the model raises and leaves the model unchanged.

Loading costs no surprise memory: the zip directory names every entry and declares
its size, and each ``.npy`` header its shape and dtype; both are checked against the
model before an entry is decompressed, only the entries the model and its optimiser
need are decompressed at all, and no entry is read past its declared size.  An
unknown entry (or optimiser key), integer values for floating arrays, and values
that are not finite in the model's dtype are refused, each error naming the entry.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._compat import array_namespace, device, from_numpy, is_array_api_obj, to_numpy
from ._npz import Archive

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

    Only the entries the model and optimiser need are decompressed, each after its
    declared size (the zip directory's) and its ``.npy`` header (shape, dtype) have
    been checked against the model, so a file cannot make loading allocate more than
    the model's own arrays (plus a bounded header per entry), whatever it holds.

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
        holds an entry this library does not write (an unknown optimiser key too), an
        entry larger than the model's array, or a non-finite value (or one beyond the
        model dtype's range), or does not fit the model (the message names the entry
        or parameter and both shapes); the model is then left unchanged.
    TypeError
        If an entry's dtype does not fit (integer weights for a floating model).

    Examples
    --------
    See :func:`save_checkpoint`.
    """
    func = "load_checkpoint"
    path = _npz_path(func, path)
    current = _params(func, model)
    model_state = getattr(model, "state", {})
    with Archive(func, path) as archive:
        needed = _plan(func, path, archive.keys, current, model_state)
        values = {key: archive.read(key, shape, w) for key, (shape, w) in needed.items()}
    params = _converted(func, values, "params", current)
    state = _converted(func, values, "state", model_state)
    configs = _optim_configs(func, values, current)
    model.params = params
    if state:
        model.state = state
    return configs


def _plan(func: str, path: str, keys: Sequence[str], params: dict[str, Any],
          state: dict[str, Any]) -> dict[str, tuple[tuple[int, ...] | None, Any]]:
    """The entries to read, each with the model's shape for it and the model array.

    Every entry name is accounted for first: ``params/`` and ``state/`` must match the
    model's names exactly, ``optim/<param>/<key>`` must name a parameter and a key of
    an update rule, ``meta/`` is not read; anything else is refused.
    """
    for prefix, current, what in (("params", params, "parameters"),
                                  ("state", state, "running statistics")):
        names = {k.removeprefix(f"{prefix}/") for k in keys if k.startswith(f"{prefix}/")}
        if names != set(current):
            msg = (f"{func}: {path} holds {what} {sorted(names)}, "
                   f"but the model has {sorted(current)}")
            raise ValueError(msg)
    needed: dict[str, tuple[tuple[int, ...] | None, Any]] = {}
    known = _optim_keys()
    for key in keys:
        prefix, _, rest = key.partition("/")
        if prefix in ("params", "state"):
            w = (params if prefix == "params" else state)[rest]
            needed[key] = (tuple(w.shape), w)
        elif prefix == "optim":
            name, _, entry = rest.partition("/")
            if name not in params:
                raise ValueError(f"{func}: entry {key}: optimiser state for unknown parameter "
                                 f"{name!r}; the model has {sorted(params)}")
            if entry not in known:
                raise ValueError(f"{func}: entry {key}: unknown optimiser key {entry!r}; "
                                 f"the update rules know {sorted(known)}")
            needed[key] = (None, params[name])  # () or the parameter's shape
        elif prefix != "meta":
            raise ValueError(f"{func}: entry {key} of {path} is not one save_checkpoint "
                             "writes (params/, state/, optim/ or meta/)")
    return needed


@functools.cache
def _optim_keys() -> frozenset[str]:
    """Every config key of the update rules (hyperparameters and state)."""
    from . import optim

    zero = np.zeros(1)
    return frozenset(k for name in optim.UPDATE_RULES for k in optim.init_config(name, zero))


def _converted(func: str, values: dict[str, np.ndarray], prefix: str,
               current: dict[str, Any]) -> dict[str, Any]:
    """The ``prefix/`` entries, checked (floating, finite in the model's dtype) and
    converted to the namespace, dtype and device of the model's arrays."""
    out = {}
    for k, w in current.items():
        key = f"{prefix}/{k}"
        _values_fit(func, key, values[key], w)
        out[k] = _like(values[key], w)
    return out


def _values_fit(func: str, key: str, a: np.ndarray, w: Any) -> None:
    """Require a floating entry for the floating model array ``w`` whose values are
    finite and within the range of ``w``'s dtype (float64 1e300 would become inf)."""
    xp = array_namespace(func, w=w)
    if a.dtype.kind != "f":
        msg = (f"{func}: entry {key} has dtype {a.dtype}, but the model's array has the "
               f"floating dtype {w.dtype}; integer or boolean values are not cast")
        raise TypeError(msg)
    limit = float(xp.finfo(w.dtype).max)
    with np.errstate(all="ignore"):
        fits = bool(np.all(np.abs(a) <= limit))  # False for NaN and inf too
    if not fits:
        msg = (f"{func}: entry {key} holds non-finite values or values beyond the range of "
               f"the model's dtype {w.dtype}")
        raise ValueError(msg)


def read_checkpoint_meta(path: PathLike) -> dict[str, Any]:
    """The metadata of a checkpoint: 0-d entries as Python values, others as NumPy arrays.

    Only the ``meta/`` entries are decompressed, each at most 64 MiB (``_npz.META_LIMIT``).

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
    with Archive(func, _npz_path(func, path)) as archive:
        return {k.removeprefix("meta/"): _scalar(archive.read(k, None, None))
                for k in archive.keys if k.startswith("meta/")}




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


def _temporary_prefix(directory: str, name: str) -> str:
    """``.<name>.`` cut so that the temporary name (prefix, mkstemp's 8 random characters
    and ``.tmp``) stays within the file system's limit on a name (255 on most)."""
    try:
        limit = os.pathconf(directory, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows): the usual limit
        limit = 255
    room = max(limit - len(".") - len(".") - 8 - len(".tmp"), 1)
    return f".{name[:room]}."


def _atomic_savez(path: str, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` to a temporary file in ``path``'s directory, fsync, then ``os.replace``."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=_temporary_prefix(directory, os.path.basename(path)),
                               suffix=".tmp", dir=directory)
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


def _like(a: np.ndarray, w: Any) -> Any:
    """Host array ``a`` in the namespace, dtype and device of the model array ``w``."""
    xp = array_namespace("load_checkpoint", w=w)
    return from_numpy(a, xp, dtype=w.dtype, device=device(w))


def _scalar(a: np.ndarray) -> Any:
    return a.item() if a.ndim == 0 else a




def _optim_configs(func: str, values: dict[str, np.ndarray], params: dict[str, Any]) -> dict:
    """The ``optim/`` entries: state arrays (floating, finite, in the parameter's namespace,
    dtype and device) and 0-d numbers (``t`` a non-negative integer, the others real)."""
    configs: dict[str, dict[str, Any]] = {}
    for key, a in values.items():
        if not key.startswith("optim/"):
            continue
        name, _, entry = key.removeprefix("optim/").partition("/")
        w = params[name]
        if a.ndim > 0:
            _values_fit(func, key, a, w)
            configs.setdefault(name, {})[entry] = _like(a, w)
            continue
        kinds = "iu" if entry == "t" else "iuf"
        if a.dtype.kind not in kinds:
            want = "an integer" if entry == "t" else "a real number"
            raise TypeError(f"{func}: entry {key} must hold {want}, got dtype {a.dtype}")
        value = a.item()
        if not math.isfinite(value) or (entry == "t" and value < 0):
            want = "a non-negative integer" if entry == "t" else "a finite number"
            raise ValueError(f"{func}: entry {key} must hold {want}, got {value!r}")
        configs.setdefault(name, {})[entry] = value
    return configs
