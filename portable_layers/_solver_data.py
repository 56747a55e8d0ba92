"""The Solver's data sources: arrays in memory (moved once to the model's backend and
device, checked whole) and Dask arrays streamed batch by batch (kept lazy: their
labels are checked in one pass, their features as each batch is computed)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _compat, distributed
from ._types import Array


class DataSource:
    """Moves and checks data for one model; selects rows of it."""

    def __init__(self, model: Any, xp: Any, dtype: Any, device: Any) -> None:
        self.model, self.xp, self.dtype, self.device = model, xp, dtype, device

    def prepare(self, names: tuple[str, str], X: Any, y: Any) -> tuple[Array, Array]:
        """``X`` and ``y`` moved to the model's backend and device (``X`` in its dtype),
        checked against the model once, here at the boundary."""
        X, y = self.move(X, self.dtype), self.move(y, None)
        xs, ys = names
        if X.ndim < 2 or X.shape[0] == 0:
            shape = tuple(X.shape)
            raise ValueError(f"Solver: {xs} must have shape (N, d1, ...) with N > 0, got {shape}")
        if _compat.is_dask_array(y):
            integral = np.issubdtype(y.dtype, np.integer)
        else:
            integral = self.xp.isdtype(y.dtype, "integral")
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
        if not _compat.is_dask_array(X):  # Dask: batch by batch, in rows()
            bad = _first_non_finite(self.xp, X)
            if bad is not None:
                raise ValueError(f"Solver: {xs} must hold finite values, got NaN or inf in "
                                 f"row {bad}")
        classes = getattr(self.model, "num_classes", None)
        if classes is None:
            return X, y
        if _compat.is_dask_array(y):  # one pass over the labels only, never over X
            low, high = distributed.dask_compute((y.min(), y.max()))
        else:
            labels = _compat.to_numpy(y)
            low, high = labels.min(), labels.max()
        if low < 0 or high >= classes:
            msg = (f"Solver: {ys} must hold labels in [0, {classes}) for the model, "
                   f"got values from {low} to {high}")
            raise ValueError(msg)
        return X, y

    def move(self, a: Any, dtype: Any) -> Array:
        """``a`` as an array of the model's namespace and device, cast to ``dtype`` if given."""
        xp = self.xp
        if _compat.is_dask_array(a) and not _compat.is_dask_namespace(xp):
            return a  # streamed: rows are computed and moved batch by batch (rows)
        if _compat.is_array_api_obj(a) and _compat.array_namespace("Solver", a=a) is xp:
            if self.device is not None and _compat.device(a) != self.device:
                import array_api_compat

                a = array_api_compat.to_device(a, self.device)
            return a if dtype is None or a.dtype == dtype else xp.astype(a, dtype)
        host = _compat.to_numpy(a) if _compat.is_array_api_obj(a) else a
        return _compat.from_numpy(host, xp, dtype=dtype, device=self.device)

    def rows(self, a: Array, rows: np.ndarray | slice, name: str = "X") -> Array:
        """Rows of ``a`` (host indices or a slice) as an array of the model's backend.

        A streamed Dask array computes just those rows; the features are checked for
        NaN and inf (a ValueError names ``name``) and cast to the model's dtype.
        """
        if _compat.is_dask_array(a):
            host = (distributed.dask_take_rows(a, rows) if isinstance(rows, np.ndarray)
                    else np.asarray(a[rows].compute()))
            floating = np.issubdtype(host.dtype, np.floating)
            if floating and not np.isfinite(host).all():
                raise ValueError(f"Solver: {name} must hold finite values, got NaN or inf "
                                 "in a batch drawn from it")
            return _compat.from_numpy(host, self.xp, dtype=self.dtype if floating else None,
                                      device=self.device)
        if isinstance(rows, slice):
            return a[rows, ...]
        idx = _compat.from_numpy(rows, self.xp, device=_compat.device(a))
        return self.xp.take(a, idx, axis=0)


def _first_non_finite(xp: Any, X: Array) -> int | None:
    """The first row of ``X`` holding NaN or inf, or None; read in blocks of about 4M
    values (a bounded temporary), one pass over ``X``."""
    n, per_row = X.shape[0], max(math.prod(X.shape[1:]), 1)
    step = max(1, (1 << 22) // per_row)
    for start in range(0, n, step):
        block = X[start:min(start + step, n), ...]  # out-of-bounds stops are unspecified
        if not bool(_compat.to_numpy(xp.all(xp.isfinite(block)))):  # lazy: computed
            finite = _compat.to_numpy(xp.isfinite(block)).reshape(block.shape[0], -1)
            return start + int(np.argmin(finite.all(axis=1)))
    return None


def nbytes(a: Array) -> int:
    """Bytes held by ``a`` (from its shape and dtype)."""
    return math.prod(a.shape) * np.dtype(_compat.dtype_name(a.dtype)).itemsize
