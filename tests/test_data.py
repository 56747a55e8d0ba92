"""Data loading (both CIFAR-10 layouts, safely), digits, splitting and conversion."""

from __future__ import annotations

import builtins
import importlib.util
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import assert_array, base_namespace

from portable_layers import _compat
from portable_layers.data import (
    UnsafePickleError,
    flatten,
    load_cifar10,
    load_digits,
    split_and_normalize,
    to_backend,
)

BATCH_SIZES = (3, 2)  # two tiny training batches
TEST_SIZE = 4


def _fake_batches(seed: int = 0) -> list[tuple[np.ndarray, list[int]]]:
    rng = np.random.default_rng(seed)
    return [
        (rng.integers(0, 256, (n, 3072), dtype=np.uint8), rng.integers(0, 10, n).tolist())
        for n in (*BATCH_SIZES, TEST_SIZE)
    ]


def _names(suffix: str) -> list[str]:
    return [f"data_batch_{k}{suffix}" for k in range(1, len(BATCH_SIZES) + 1)] + [
        f"test_batch{suffix}"
    ]


def _write_pickles(folder: Path, batches: list[tuple[np.ndarray, list[int]]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (data, labels) in zip(_names(""), batches, strict=True):
        batch = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
        }
        with (folder / name).open("wb") as f:
            pickle.dump(batch, f, protocol=2)
    return folder


def _write_binaries(folder: Path, batches: list[tuple[np.ndarray, list[int]]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (data, labels) in zip(_names(".bin"), batches, strict=True):
        records = np.concatenate([np.array(labels, dtype=np.uint8)[:, None], data], axis=1)
        (folder / name).write_bytes(records.tobytes())
    return folder


@pytest.fixture
def cifar_py(tmp_path: Path) -> Path:
    return _write_pickles(tmp_path / "cifar-10-batches-py", _fake_batches())


@pytest.fixture
def cifar_bin(tmp_path: Path) -> Path:
    return _write_binaries(tmp_path / "cifar-10-batches-bin", _fake_batches())


def test_cifar_layout_and_values(cifar_py: Path) -> None:
    X_train, y_train, X_test, y_test = load_cifar10(cifar_py)
    assert X_train.shape == (sum(BATCH_SIZES), 3, 32, 32) and X_train.dtype == np.float64
    assert X_test.shape == (TEST_SIZE, 3, 32, 32)
    assert y_train.dtype == np.int64 and y_test.shape == (TEST_SIZE,)
    batches = _fake_batches()
    first = batches[0][0][0]
    # row-major CHW: the first 1024 bytes are the red plane, row by row
    np.testing.assert_array_equal(X_train[0, 0, 0, :], first[:32])
    np.testing.assert_array_equal(X_train[0, 1, 0, 0], first[1024])
    np.testing.assert_array_equal(y_train, batches[0][1] + batches[1][1])
    np.testing.assert_array_equal(X_test.reshape(TEST_SIZE, -1), batches[2][0])


def test_both_layouts_agree_and_parent_roots(tmp_path: Path) -> None:
    batches = _fake_batches(seed=1)
    py = load_cifar10(_write_pickles(tmp_path / "a" / "cifar-10-batches-py", batches).parent)
    bn = load_cifar10(_write_binaries(tmp_path / "b" / "cifar-10-batches-bin", batches).parent)
    direct = load_cifar10(tmp_path / "b" / "cifar-10-batches-bin")
    for p, b, d in zip(py, bn, direct, strict=True):
        assert p.dtype == b.dtype
        np.testing.assert_array_equal(p, b)
        np.testing.assert_array_equal(b, d)


def test_cifar_accepts_old_numpy_global(cifar_py: Path) -> None:
    """Real CIFAR pickles were written by NumPy 1 and name numpy.core.multiarray."""
    path = cifar_py / "test_batch"
    raw = path.read_bytes()
    assert b"numpy._core.multiarray" in raw
    path.write_bytes(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    X_test = load_cifar10(cifar_py)[2]
    np.testing.assert_array_equal(X_test.reshape(TEST_SIZE, -1), _fake_batches()[2][0])


class _Evil:
    def __init__(self, func: Any, arg: str) -> None:
        self.func, self.arg = func, arg

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return self.func, (self.arg,)


@pytest.mark.parametrize(
    ("func", "refused"), [(os.system, "system"), (builtins.eval, r"builtin\w*\.eval")]
)
def test_malicious_pickle_never_runs(
    cifar_py: Path, tmp_path: Path, func: Any, refused: str
) -> None:
    marker = tmp_path / "marker"
    code = f"touch {marker}" if func is os.system else f"open({str(marker)!r}, 'w').close()"
    batch = {b"data": np.zeros((1, 3072), np.uint8), b"labels": _Evil(func, code)}
    with (cifar_py / "data_batch_2").open("wb") as f:
        pickle.dump(batch, f, protocol=2)
    with pytest.raises(UnsafePickleError, match=rf"data_batch_2.*{refused}.*refused"):
        load_cifar10(cifar_py)
    assert not marker.exists()
    assert issubclass(UnsafePickleError, ValueError)
    assert issubclass(UnsafePickleError, pickle.UnpicklingError)


def test_pickle_with_other_codec_refused(cifar_py: Path) -> None:
    raw = (cifar_py / "test_batch").read_bytes()
    assert b"latin1" in raw
    (cifar_py / "test_batch").write_bytes(raw.replace(b"latin1", b"rot_13", 1))
    with pytest.raises(ValueError, match=r"test_batch.*rot_13"):
        load_cifar10(cifar_py)


def test_truncated_pickle(cifar_py: Path) -> None:
    path = cifar_py / "data_batch_1"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match="data_batch_1"):
        load_cifar10(cifar_py)


def test_pickle_with_wrong_contents(cifar_py: Path) -> None:
    with (cifar_py / "test_batch").open("wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f, protocol=2)
    with pytest.raises(ValueError, match=r"test_batch.*\(N, 3072\).*\(2, 100\)"):
        load_cifar10(cifar_py)


def test_truncated_binary(cifar_bin: Path) -> None:
    path = cifar_bin / "data_batch_2.bin"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ValueError, match=r"data_batch_2\.bin.*truncated"):
        load_cifar10(cifar_bin)


def test_binary_bad_label(cifar_bin: Path) -> None:
    path = cifar_bin / "test_batch.bin"
    path.write_bytes(b"\x0b" + path.read_bytes()[1:])
    with pytest.raises(ValueError, match=r"test_batch.bin.*\[0, 10\).*11"):
        load_cifar10(cifar_bin)


@pytest.mark.parametrize("name", ["test_batch", "data_batch_1"])
def test_missing_file_named(cifar_py: Path, name: str) -> None:
    (cifar_py / name).unlink()
    with pytest.raises(FileNotFoundError, match=name):
        load_cifar10(cifar_py)


def test_batch_count_from_disk(cifar_py: Path) -> None:
    extra = _fake_batches(seed=2)[0]
    _write_pickles(cifar_py / "tmp", [extra, extra, extra])
    (cifar_py / "tmp" / "data_batch_1").rename(cifar_py / "data_batch_3")
    assert load_cifar10(cifar_py)[0].shape[0] == sum(BATCH_SIZES) + len(extra[1])
    (cifar_py / "data_batch_2").unlink()  # a gap names the missing batch
    with pytest.raises(FileNotFoundError, match="data_batch_2"):
        load_cifar10(cifar_py)


def test_no_cifar_here(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 batches"):
        load_cifar10(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_cifar10(tmp_path / "nope")


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="needs scikit-learn")
def test_load_digits() -> None:
    X, y = load_digits()
    assert X.shape == (1797, 1, 8, 8) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y)) == set(range(10))


def test_load_digits_without_sklearn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r"portable-layers\[digits\]"):
        load_digits()


def test_split_and_normalize() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 1, 2, 2)) + 5.0, np.arange(20)
    d = split_and_normalize(X, y, num_train=10, num_val=4, num_test=3, seed=1)
    assert {k: v.shape[0] for k, v in d.items()} == {
        "X_train": 10,
        "y_train": 10,
        "X_val": 4,
        "y_val": 4,
        "X_test": 3,
        "y_test": 3,
    }
    np.testing.assert_allclose(d["X_train"].mean(axis=0), 0.0, atol=1e-12)
    # each split is its original rows minus the one training mean image
    mean = X[d["y_train"]].mean(axis=0)
    for split in ("train", "val", "test"):
        np.testing.assert_allclose(d[f"X_{split}"], X[d[f"y_{split}"]] - mean)
    used = np.concatenate([d["y_train"], d["y_val"], d["y_test"]])
    assert len(set(used.tolist())) == 17 and not np.array_equal(d["y_train"], np.arange(10))
    again = split_and_normalize(X, y, num_train=10, num_val=4, num_test=3, seed=1)
    np.testing.assert_array_equal(again["y_val"], d["y_val"])
    assert "X_test" not in split_and_normalize(X, y, num_train=10, num_val=4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_train": 15, "num_val": 6}, r"num_train=15 \+ num_val=6 \+ num_test=0 = 21 exceeds"),
        ({"num_train": 0, "num_val": 1}, "num_train must be an integer >= 1, got 0"),
        ({"num_train": 5, "num_val": -1}, "num_val must be an integer >= 0, got -1"),
    ],
)
def test_split_sizes_that_do_not_fit(kwargs: dict[str, int], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        split_and_normalize(np.zeros((20, 3)), np.zeros(20, dtype=np.int64), **kwargs)


def test_split_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match=r"y must have shape \(N,\).*\(5, 3\).*\(4,\)"):
        split_and_normalize(np.zeros((5, 3)), np.zeros(4, dtype=np.int64), num_train=2, num_val=1)


def test_flatten(xp: Any) -> None:
    x = xp.asarray(np.arange(24.0).reshape(2, 3, 2, 2))
    out = flatten(x)
    assert_array(out, xp, (2, 12), x.dtype)
    np.testing.assert_array_equal(_compat.to_numpy(out), np.arange(24.0).reshape(2, 12))


@pytest.mark.parametrize("dtype", [None, "float32"])
def test_to_backend(xp: Any, dtype: str | None) -> None:
    X, y = np.arange(12.0).reshape(6, 2), np.arange(6)
    d = split_and_normalize(X, y, num_train=4, num_val=2)
    target = _compat.backend_name(base_namespace(xp))
    out = to_backend({**d, "note": "kept"}, target, dtype=dtype)
    ns = base_namespace(xp)
    fdt = ns.float32 if dtype == "float32" else ns.float64
    assert_array(out["X_train"], xp, (4, 2), fdt)
    assert_array(out["y_val"], xp, (2,), ns.int64)
    assert out["note"] == "kept"
    np.testing.assert_allclose(_compat.to_numpy(out["X_val"]), d["X_val"], rtol=1e-6)
    # a namespace works as well as a name, and arrays of any backend come back to NumPy
    back = to_backend(out, "numpy")
    np.testing.assert_array_equal(back["y_train"], d["y_train"])
    assert to_backend(d, ns)["X_train"].dtype == ns.float64


def test_to_backend_bad_dtype() -> None:
    with pytest.raises(ValueError, match="to_backend: dtype must be 'float32' or 'float64'"):
        to_backend({"X": np.ones(2)}, "numpy", dtype="int8")


class _Python2StylePickler(pickle._Pickler):  # type: ignore[name-defined]
    """Writes bytes as Python 2 ``str`` opcodes, as the original CIFAR pickles have them."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_bytes(self, obj: bytes) -> None:
        self.write(pickle.BINSTRING + len(obj).to_bytes(4, "little") + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def test_cifar_python2_style_pickle(cifar_py: Path) -> None:
    data, labels = _fake_batches(seed=3)[2]
    batch = {
        b"batch_label": b"testing batch 1 of 1",
        b"labels": labels,
        b"data": data,
        b"filenames": [b"x.png"] * len(labels),
    }
    path = cifar_py / "test_batch"
    with path.open("wb") as f:
        _Python2StylePickler(f, protocol=2).dump(batch)
    raw = path.read_bytes().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"_codecs" not in raw
    path.write_bytes(raw)
    _, _, X_test, y_test = load_cifar10(cifar_py)
    np.testing.assert_array_equal(X_test.reshape(len(labels), -1), data)
    np.testing.assert_array_equal(y_test, labels)


# -- Issue 21: seeds and sizes checked before any work --------------------------------------


@pytest.mark.parametrize("seed", [-1, 2.5, "0", True, None, 2**70 * -1])
def test_split_seed_must_be_a_non_negative_integer(xp: Any, seed: Any) -> None:
    ns = base_namespace(xp)
    X, y = ns.asarray(np.ones((6, 2))), ns.asarray(np.arange(6))
    with pytest.raises(ValueError, match="split_and_normalize: seed must be a non-negative "
                       "integer, got"):
        split_and_normalize(X, y, num_train=3, num_val=1, seed=seed)


def test_split_accepts_large_and_numpy_seeds(xp: Any) -> None:
    ns = base_namespace(xp)
    X, y = ns.asarray(np.arange(12.0).reshape(6, 2)), ns.asarray(np.arange(6))
    a = split_and_normalize(X, y, num_train=3, num_val=1, seed=np.int64(2**40))
    b = split_and_normalize(X, y, num_train=3, num_val=1, seed=2**40)
    np.testing.assert_array_equal(a["y_train"], b["y_train"])
    order = np.random.default_rng(2**40).permutation(6)  # the documented shuffle
    np.testing.assert_array_equal(b["y_train"], order[:3])


def test_split_refuses_what_cannot_fit_before_copying(monkeypatch: Any) -> None:
    from portable_layers import _validate

    monkeypatch.setattr(_validate, "SMALL_ALLOCATION", 0)
    monkeypatch.setattr(_validate, "available_memory", lambda: 1000)
    X = np.broadcast_to(np.zeros(1), (10**6, 3, 32, 32))  # 8 bytes in memory
    with pytest.raises(MemoryError, match=r"split_and_normalize: shuffling and centring X of "
                       r"shape \(1000000, 3, 32, 32\) would need 68.7 GiB, more than"):
        split_and_normalize(X, np.zeros(10**6, np.int64), num_train=10, num_val=1)


def test_cifar_refuses_what_cannot_fit_before_reading(cifar_py: Path, monkeypatch: Any) -> None:
    from portable_layers import _validate

    monkeypatch.setattr(_validate, "SMALL_ALLOCATION", 0)
    monkeypatch.setattr(_validate, "available_memory", lambda: 1000)
    with pytest.raises(MemoryError, match=r"load_cifar10: the 3 batches in .* would need"):
        load_cifar10(cifar_py)
    monkeypatch.setattr(_validate, "available_memory", lambda: 2**40)
    assert load_cifar10(cifar_py)[0].shape == (sum(BATCH_SIZES), 3, 32, 32)
