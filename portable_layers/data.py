"""Data sets and preprocessing, on the host in NumPy.

:func:`load_cifar10` reads both CIFAR-10 layouts (python pickles and binary records).
The pickles come from the internet, so they are read with :class:`_CifarUnpickler`,
which admits only the few globals a CIFAR batch refers to: a pickle that names any
other global (``os.system``, ``builtins.eval``, ...) raises :class:`UnsafePickleError`
before anything runs.  :func:`load_digits` wraps scikit-learn's bundled 8x8 digits.
:func:`split_and_normalize` and :func:`to_backend` turn a data set into the dict a
:class:`~portable_layers.solver.Solver` takes, on any backend.
"""

from __future__ import annotations

import pickle
import re
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from . import _compat
from . import _validate as check
from ._types import Array

__all__ = [
    "UnsafePickleError",
    "flatten",
    "load_cifar10",
    "load_digits",
    "split_and_normalize",
    "to_backend",
]


CIFAR_IMAGE_SHAPE = (3, 32, 32)
_PIXELS = 3 * 32 * 32
_RECORD = 1 + _PIXELS  # binary layout: one label byte, then the pixels
_NUM_CLASSES = 10


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickle named a global that a CIFAR-10 batch never needs; nothing was run."""


def _latin1_encode(text: Any, encoding: Any) -> bytes:
    """``_codecs.encode`` restricted to what pickles of ``bytes`` need.

    Python 3 writes ``bytes`` in protocol 2 as ``_codecs.encode(str, 'latin1')``;
    only that exact call is admitted, never another codec.
    """
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        msg = f"load_cifar10: refused _codecs.encode with encoding {encoding!r}"
        raise pickle.UnpicklingError(msg)
    return text.encode("latin-1")


def _numpy_reconstruct() -> Any:
    try:  # NumPy >= 2; importing numpy.core there warns
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    return _reconstruct


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct(),
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`_ALLOWED_GLOBALS` and imports nothing."""

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="bytes")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            msg = (
                f"load_cifar10: {self._path} is not a plain CIFAR-10 batch: its pickle refers "
                f"to the global {module}.{name}, which is refused (nothing was executed)"
            )
            raise UnsafePickleError(msg) from None


def _read_pickle_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (n, 3072) uint8 and labels (n,) of one python-layout batch."""
    try:
        with path.open("rb") as f:
            batch = _CifarUnpickler(f, path).load()
    except UnsafePickleError:
        raise
    except Exception as e:  # truncated or corrupt: any failure of the unpickler
        msg = f"load_cifar10: cannot read {path} as a CIFAR-10 pickle batch ({e!r})"
        raise ValueError(msg) from e
    if not isinstance(batch, dict):
        msg = f"load_cifar10: {path} must hold a dict, got {type(batch).__name__}"
        raise ValueError(msg)
    batch = {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    missing = {"data", "labels"} - batch.keys()
    if missing:
        msg = (
            f"load_cifar10: {path} lacks the keys {sorted(missing)}, has {sorted(map(str, batch))}"
        )
        raise ValueError(msg)
    data, labels = batch["data"], batch["labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        got = f"{type(data).__name__} {getattr(data, 'dtype', '')} {getattr(data, 'shape', '')}"
        msg = f"load_cifar10: {path}: data must be a uint8 array (N, {_PIXELS}), got {got}"
        raise ValueError(msg)
    if not isinstance(labels, list) or not all(type(v) is int for v in labels):
        msg = f"load_cifar10: {path}: labels must be a list of ints, got {type(labels).__name__}"
        raise ValueError(msg)
    return data, np.array(labels, dtype=np.int64)


def _read_binary_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (n, 3072) uint8 and labels (n,) of one binary-layout batch."""
    raw = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    if raw.size == 0 or raw.size % _RECORD:
        msg = (
            f"load_cifar10: {path} has {raw.size} bytes, not a positive multiple of the "
            f"{_RECORD}-byte record (truncated or not a CIFAR-10 binary batch)"
        )
        raise ValueError(msg)
    records = raw.reshape(-1, _RECORD)
    return records[:, 1:], records[:, 0].astype(np.int64)


def _check_batch(path: Path, data: np.ndarray, labels: np.ndarray) -> None:
    if data.shape[1] != _PIXELS or labels.shape != (data.shape[0],):
        msg = (
            f"load_cifar10: {path}: expected data (N, {_PIXELS}) and N labels, "
            f"got data {data.shape} and {labels.shape[0]} labels"
        )
        raise ValueError(msg)
    if labels.size and (labels.min() < 0 or labels.max() >= _NUM_CLASSES):
        msg = (
            f"load_cifar10: {path}: labels must lie in [0, {_NUM_CLASSES}), got values "
            f"from {labels.min()} to {labels.max()}"
        )
        raise ValueError(msg)


def _find_layout(root: Path) -> tuple[Path, str]:
    """The folder holding the batches and its suffix: '' (pickles) or '.bin'."""
    for folder in (root, root / "cifar-10-batches-py", root / "cifar-10-batches-bin"):
        for suffix in ("", ".bin"):
            if (folder / f"data_batch_1{suffix}").is_file() or (
                folder / f"test_batch{suffix}"
            ).is_file():
                return folder, suffix
    msg = (
        f"load_cifar10: no CIFAR-10 batches (data_batch_1, test_batch or their .bin versions) "
        f"in {root}, {root / 'cifar-10-batches-py'} or {root / 'cifar-10-batches-bin'}"
    )
    raise FileNotFoundError(msg)


def _batch_paths(folder: Path, suffix: str) -> list[Path]:
    """data_batch_1..K (contiguous; a gap names the missing file), then test_batch."""
    pattern = re.compile(rf"data_batch_(\d+){re.escape(suffix)}")
    numbers = sorted(int(m.group(1)) for p in folder.iterdir() if (m := pattern.fullmatch(p.name)))
    wanted = [folder / f"data_batch_{k}{suffix}" for k in range(1, max(numbers, default=1) + 1)]
    wanted.append(folder / f"test_batch{suffix}")
    for path in wanted:
        if not path.is_file():
            raise FileNotFoundError(f"load_cifar10: missing CIFAR-10 batch file {path}")
    return wanted


def load_cifar10(root: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load CIFAR-10 from its python (pickle) or binary layout, without running code.

    Parameters
    ----------
    root : str or Path
        The extracted ``cifar-10-batches-py`` or ``cifar-10-batches-bin`` folder, or a
        folder containing one of them.  Every ``data_batch_k`` file found (k = 1, 2, ...,
        no gaps) is training data; ``test_batch`` is the test set.  Record counts are
        taken from the files.

    Returns
    -------
    X_train : ndarray, float64, shape (N_train, 3, 32, 32)
        Images in NCHW layout (channel, row, column; channels R, G, B), pixel values
        0..255 as stored, not centred or scaled.
    y_train : ndarray, int64, shape (N_train,)
        Class labels in [0, 10).
    X_test : ndarray, float64, shape (N_test, 3, 32, 32)
    y_test : ndarray, int64, shape (N_test,)

    Raises
    ------
    FileNotFoundError
        If no batches are found, or a batch file is missing (the error names it).
    UnsafePickleError
        If a pickle refers to anything but NumPy's array reconstruction (a subclass of
        both ``pickle.UnpicklingError`` and ``ValueError``); nothing in it is executed.
    ValueError
        If a file is truncated or corrupt, or holds wrong shapes or labels.
    MemoryError
        If the images cannot fit in the memory available as float64 (estimated from
        the files' sizes before anything is read).

    Examples
    --------
    >>> X_train, y_train, X_test, y_test = load_cifar10("cifar-10-batches-py")  # doctest: +SKIP
    >>> X_train.shape, X_train.dtype, y_train.dtype  # doctest: +SKIP
    ((50000, 3, 32, 32), dtype('float64'), dtype('int64'))
    """
    if not isinstance(root, (str, PathLike)):
        raise TypeError(f"load_cifar10: root must be a path, got {type(root).__name__}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"load_cifar10: root {root} is not a directory")
    folder, suffix = _find_layout(root)
    read = _read_binary_batch if suffix == ".bin" else _read_pickle_batch
    paths = _batch_paths(folder, suffix)
    # the files' pixels (one byte each) become float64: 8 bytes a pixel, plus the bytes
    pixels = sum(p.stat().st_size for p in paths)
    check.allocation("load_cifar10", 9 * pixels, f"the {len(paths)} batches in {folder}")
    batches = []
    for path in paths:
        data, labels = read(path)
        _check_batch(path, data, labels)
        batches.append((data, labels))
    X_train, y_train = _stack(batches[:-1])
    X_test, y_test = _stack(batches[-1:])
    return X_train, y_train, X_test, y_test


def _stack(batches: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    data = np.concatenate([d for d, _ in batches], axis=0)
    labels = np.concatenate([y for _, y in batches], axis=0)
    return data.reshape(-1, *CIFAR_IMAGE_SHAPE).astype(np.float64), labels


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 handwritten digits (bundled, no download) as NCHW images.

    Returns
    -------
    X : ndarray, float64, shape (1797, 1, 8, 8)
        Pixel values scaled from 0..16 to [0, 1].
    y : ndarray, int64, shape (1797,)
        Digit labels 0..9.

    Raises
    ------
    ImportError
        If scikit-learn is not installed (the ``digits`` extra).

    Examples
    --------
    >>> X, y = load_digits()  # doctest: +SKIP
    >>> X.shape, float(X.max()), y[:5]  # doctest: +SKIP
    ((1797, 1, 8, 8), 1.0, array([0, 1, 2, 3, 4]))
    """
    try:
        from sklearn import datasets
    except ImportError:
        msg = (
            "load_digits needs scikit-learn; install it with pip install 'portable-layers[digits]'"
        )
        raise ImportError(msg) from None
    digits = datasets.load_digits()
    X = np.asarray(digits.images, dtype=np.float64).reshape(-1, 1, 8, 8) / 16.0
    return X, np.asarray(digits.target, dtype=np.int64)


def split_and_normalize(
    X: Array, y: Array, *, num_train: int, num_val: int, num_test: int = 0, seed: int = 0
) -> dict[str, np.ndarray]:
    """Shuffle, split into train/val(/test) and subtract the training mean image.

    Parameters
    ----------
    X : array (N, ...)
        Samples of any backend (converted to NumPy), e.g. images (N, C, H, W).
    y : array (N,)
        Integer labels.
    num_train, num_val, num_test : int
        Split sizes; their sum must not exceed N.  ``num_train`` >= 1.
    seed : int
        Seed of the ``numpy.random.Generator`` that shuffles the samples: a
        non-negative integer.

    Returns
    -------
    data : dict of ndarray
        ``X_train, y_train, X_val, y_val`` and, when ``num_test > 0``, ``X_test, y_test``.
        Every X has the mean of ``X_train`` (one mean image, CS231n-style) subtracted;
        X is float (float64 unless ``X`` was float32), y int64.

    Raises
    ------
    ValueError
        If X and y disagree in length, the sizes do not fit into N or ``seed`` is not
        a non-negative integer.
    MemoryError
        If the shuffled, centred copies of X cannot fit in the memory available
        (checked before they are made).

    Examples
    --------
    >>> import numpy as np
    >>> X, y = np.arange(20.0).reshape(10, 2), np.arange(10)
    >>> d = split_and_normalize(X, y, num_train=6, num_val=2, num_test=2)
    >>> sorted(d), d["X_train"].shape, np.allclose(d["X_train"].mean(axis=0), 0)
    (['X_test', 'X_train', 'X_val', 'y_test', 'y_train', 'y_val'], (6, 2), True)
    """
    func = "split_and_normalize"
    X, y = _compat.to_numpy(X), _compat.to_numpy(y)
    sizes = {
        "num_train": check.integer(func, "num_train", num_train, low=1),
        "num_val": check.integer(func, "num_val", num_val),
        "num_test": check.integer(func, "num_test", num_test),
    }
    seed = check.integer(func, "seed", seed, want="a non-negative integer")
    if X.ndim < 1 or y.shape != (X.shape[0],):
        msg = f"{func}: y must have shape (N,) to match X of shape {X.shape}, got {y.shape}"
        raise ValueError(msg)
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{func}: y must hold integer labels, got dtype {y.dtype}")
    if X.dtype.kind not in "biuf":  # complex lost its imaginary part, strings a bare error
        raise TypeError(f"{func}: X must hold real numbers, got dtype {X.dtype}")
    if sum(sizes.values()) > X.shape[0]:
        parts = " + ".join(f"{k}={v}" for k, v in sizes.items())
        msg = f"{func}: {parts} = {sum(sizes.values())} exceeds the {X.shape[0]} samples"
        raise ValueError(msg)
    dtype = X.dtype if X.dtype == np.float32 else np.float64
    # the shuffled copy, its cast and the centred splits, before any is made
    check.allocation(func, 3 * X.size * np.dtype(dtype).itemsize,
                     f"shuffling and centring X of shape {X.shape}")
    order = np.random.default_rng(seed).permutation(X.shape[0])
    X, y = X[order].astype(dtype), y[order].astype(np.int64)
    mean_image = None
    data: dict[str, np.ndarray] = {}
    start = 0
    for split, key in (("train", "num_train"), ("val", "num_val"), ("test", "num_test")):
        stop = start + sizes[key]
        if split == "train":
            mean_image = np.mean(X[start:stop], axis=0)
        if split != "test" or sizes[key] > 0:
            data[f"X_{split}"] = X[start:stop] - mean_image
            data[f"y_{split}"] = y[start:stop]
        start = stop
    return data


def flatten(X: Array) -> Array:
    """Reshape (N, d1, ..., dk) to (N, d1 * ... * dk), in X's own namespace.

    Examples
    --------
    >>> import numpy as np
    >>> flatten(np.zeros((4, 3, 2, 2))).shape
    (4, 12)
    """
    xp = _compat.array_namespace("flatten", X=X)
    if X.ndim < 1:
        raise ValueError(f"flatten: X must have at least 1 dimension, got shape {tuple(X.shape)}")
    return xp.reshape(X, (X.shape[0], -1))


def to_backend(data: dict[str, Any], xp: Any, dtype: Any = None) -> dict[str, Any]:
    """Convert every array in ``data`` to a backend; other values pass through.

    Parameters
    ----------
    data : dict
        E.g. the output of :func:`split_and_normalize`.  Arrays of any backend.
    xp : str or namespace
        A backend name (``"numpy"``, ``"jax"``, ``"torch"``, ``"array_api_strict"``,
        ``"dask"``) or an array namespace.
    dtype : str or dtype, optional
        Floating dtype of the floating arrays (``"float32"``, ``"float64"`` or a dtype of
        ``xp``).  Default float64, or float32 on JAX without x64.  Integer arrays
        (labels) keep their integer dtype.

    Returns
    -------
    dict
        The same keys; arrays are copies in ``xp``'s library.

    Examples
    --------
    >>> import numpy as np
    >>> d = to_backend({"X": np.ones((2, 3)), "y": np.array([0, 1])}, "numpy", "float32")
    >>> d["X"].dtype, d["y"].dtype
    (dtype('float32'), dtype('int64'))
    """
    if not isinstance(data, dict):
        raise TypeError(f"to_backend: data must be a dict, got {type(data).__name__}")
    ns = _compat.get_namespace(xp)
    float_dtype = check.float_dtype("to_backend", ns, dtype)
    out = {}
    for key, value in data.items():
        if not _compat.is_array_api_obj(value):
            out[key] = value
            continue
        host = _compat.to_numpy(value)
        cast = float_dtype if np.issubdtype(host.dtype, np.floating) else None
        out[key] = _compat.from_numpy(host, ns, dtype=cast)
    return out
