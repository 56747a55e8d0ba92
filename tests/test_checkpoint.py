"""Checkpoints: round trips across backends, atomic writes, refusals that leave models alone."""

from __future__ import annotations

import contextlib
import os
import re
from typing import Any

import numpy as np
import pytest
from helpers import assert_array, assert_close, base_namespace

from portable_layers import _compat, checkpoint, optim
from portable_layers.checkpoint import load_checkpoint, read_checkpoint_meta, save_checkpoint
from portable_layers.models import FullyConnectedNet, TwoLayerPerceptron

D, H, C = 4, 3, 2


def model_on(xp: Any, seed: int, dtype: str = "float64", hidden: int = H) -> TwoLayerPerceptron:
    return TwoLayerPerceptron(D, hidden, C, weight_scale=1.0, xp=xp, dtype=dtype, seed=seed)


def host(params: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.array(_compat.to_numpy(v)) for k, v in params.items()}


def test_round_trip_with_optim_state(xp: Any, tmp_path: Any) -> None:
    ns = base_namespace(xp)
    source = model_on(ns, seed=0)
    configs = {k: optim.init_config("adam", w, {"learning_rate": 0.5})
               for k, w in source.params.items()}
    configs = {k: {**c, "t": 7, "m": c["m"] + 1.0} for k, c in configs.items()}
    path = tmp_path / "ck.npz"
    save_checkpoint(path, source, configs, epoch=3, note="hi", history=[0.5, 0.25])
    target = model_on(ns, seed=1)
    loaded = load_checkpoint(path, target)
    for k, v in host(source.params).items():
        assert_array(target.params[k], xp, v.shape, ns.float64)
        assert_close(target.params[k], v)
    assert loaded["W1"]["t"] == 7 and isinstance(loaded["W1"]["t"], int)
    assert loaded["b2"]["learning_rate"] == 0.5
    assert_array(loaded["W2"]["m"], xp, (H, C), ns.float64)
    assert_close(loaded["W2"]["m"], np.ones((H, C)))
    meta = read_checkpoint_meta(path)
    assert meta["epoch"] == 3 and meta["note"] == "hi"
    assert_close(meta["history"], [0.5, 0.25])


@pytest.mark.parametrize("other", ["numpy", "torch", "jax", "array_api_strict"])
def test_round_trip_across_backends(xp: Any, other: str, tmp_path: Any) -> None:
    if other not in _compat.installed_backends():
        pytest.skip(f"{other} not installed")
    ns, there = base_namespace(xp), _compat.get_namespace(other)
    source = FullyConnectedNet([3, 2], D, C, xp=ns, dtype="float64", seed=0)
    save_checkpoint(tmp_path / "a.npz", source)
    target = FullyConnectedNet([3, 2], D, C, xp=there, dtype="float32", seed=1)
    assert load_checkpoint(tmp_path / "a.npz", target) == {}
    for k, v in host(source.params).items():
        assert target.params[k].dtype == there.float32
        assert_close(target.params[k], v.astype(np.float32))
    save_checkpoint(tmp_path / "b.npz", target)
    back = FullyConnectedNet([3, 2], D, C, xp=ns, dtype="float64", seed=2)
    load_checkpoint(tmp_path / "b.npz", back)
    assert_array(back.params["W3"], xp, (2, C), ns.float64)
    assert_close(back.params["W3"], source.params["W3"], rtol=1e-6)


def test_failed_write_leaves_old_file_intact(xp: Any, tmp_path: Any, monkeypatch: Any) -> None:
    ns = base_namespace(xp)
    path = tmp_path / "ck.npz"
    save_checkpoint(path, model_on(ns, seed=0))
    old = path.read_bytes()

    def broken_savez(file: Any, **arrays: Any) -> None:
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model_on(ns, seed=1))
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["ck.npz"]  # the temporary file is gone
    target = model_on(ns, seed=2)
    load_checkpoint(path, target)
    assert_close(target.params["W1"], model_on(ns, seed=0).params["W1"])


def test_wrong_shape_raises_and_leaves_model_unchanged(xp: Any, tmp_path: Any) -> None:
    ns = base_namespace(xp)
    path = tmp_path / "ck.npz"
    save_checkpoint(path, model_on(ns, seed=0, hidden=5))
    target = model_on(ns, seed=1)
    before = host(target.params)
    msg = (
        r"load_checkpoint: parameter W1 has shape \(4, 5\) in .*ck.npz, "
        r"but \(4, 3\) in the model"
    )
    with pytest.raises(ValueError, match=msg):
        load_checkpoint(path, target)
    save_checkpoint(path, FullyConnectedNet([H, H], D, C, xp=ns, seed=0))
    msg = (
        r"holds parameters \['W1', 'W2', 'W3', .*but the model has"
    )
    with pytest.raises(ValueError, match=msg):
        load_checkpoint(path, target)
    for k, v in before.items():
        assert_close(target.params[k], v)


def test_pickles_refused(xp: Any, tmp_path: Any) -> None:
    ns = base_namespace(xp)
    target = model_on(ns, seed=1)
    before = host(target.params)
    path = tmp_path / "evil.npz"
    arrays = {f"params/{k}": v for k, v in before.items()}
    np.savez(path, **arrays, **{"meta/payload": np.array([{"run": "code"}], dtype=object)})
    msg = (
        "load_checkpoint: .*evil.npz must be an .npz archive of numeric "
        "arrays; pickled objects are never loaded"
    )
    with pytest.raises(ValueError, match=msg):
        load_checkpoint(path, target)
    for k, v in before.items():
        assert_close(target.params[k], v)
    with pytest.raises(ValueError, match=r"path must be a file name ending in \.npz"):
        save_checkpoint(tmp_path / "ck.pkl", target)
    msg = (
        "save_checkpoint: payload must be a number, string or numeric "
        "array"
    )
    with pytest.raises(TypeError, match=msg):
        save_checkpoint(tmp_path / "ck.npz", target, payload={"a": 1})
    assert not (tmp_path / "ck.npz").exists()


def test_batchnorm_running_statistics_round_trip(xp: Any, tmp_path: Any) -> None:
    """The running statistics are part of a model: saved, restored, and checked on load."""
    import numpy as np

    from portable_layers import FullyConnectedNet, _compat, load_checkpoint, save_checkpoint

    backend = _compat.backend_name(_compat.array_namespace("t", a=xp.asarray(0.0)))
    model = FullyConnectedNet([4], 3, 2, normalization="batchnorm", xp=backend, seed=0)
    rng = np.random.default_rng(0)
    X = _compat.from_numpy(rng.standard_normal((6, 3)), model.xp, dtype=model.dtype)
    model.loss(X, _compat.from_numpy(rng.integers(0, 2, 6), model.xp))
    saved = {k: _compat.to_numpy(v) for k, v in model.state.items()}
    assert np.any(saved["running_mean1"] != 0)
    path = tmp_path / "bn.npz"
    save_checkpoint(path, model)
    fresh = FullyConnectedNet([4], 3, 2, normalization="batchnorm", xp=backend, seed=1)
    load_checkpoint(path, fresh)
    for k, v in saved.items():
        np.testing.assert_array_equal(_compat.to_numpy(fresh.state[k]), v)
    plain = FullyConnectedNet([4], 3, 2, xp=backend, seed=1)  # no batchnorm: no statistics
    with pytest.raises(ValueError, match=r"load_checkpoint: .* holds parameters"):
        load_checkpoint(path, plain)


# -- Hostile files (issue 21): refused by name, at a bounded memory cost ------------------


def _write_npz(path: Any, arrays: dict[str, np.ndarray]) -> None:
    np.savez(path, **arrays)  # type: ignore[arg-type]


def _saved(xp: Any, tmp_path: Any, **extra: np.ndarray) -> tuple[Any, Any]:
    """A checkpoint of a fresh model plus ``extra`` entries (names with '/' allowed)."""
    model = model_on(base_namespace(xp), seed=0)
    arrays = {f"params/{k}": v for k, v in host(model.params).items()}
    arrays.update(extra)
    path = tmp_path / "ck.npz"
    _write_npz(path, arrays)
    return path, model_on(base_namespace(xp), seed=1)


@pytest.mark.parametrize(("entry", "value", "exc", "fragment"), [
    ("params/W1", np.full((D, H), np.inf), ValueError, "entry params/W1 holds non-finite"),
    ("params/b1", np.full(H, np.nan), ValueError, "entry params/b1 holds non-finite"),
    ("params/W1", np.ones((D, H), np.int64), TypeError, "entry params/W1 has dtype int64"),
    ("params/W1", np.ones((D, H), bool), TypeError, "entry params/W1 has dtype bool"),
    ("extra/W1", np.ones(2), ValueError, "entry extra/W1 of"),
    ("optim/W1/bogus", np.ones((D, H)), ValueError, "unknown optimiser key 'bogus'"),
    ("optim/W9/m", np.ones((D, H)), ValueError, "optimiser state for unknown parameter 'W9'"),
    ("optim/W1/m", np.ones((D, H), np.int64), TypeError, "entry optim/W1/m has dtype int64"),
    ("optim/W1/m", np.full((D, H), np.inf), ValueError, "entry optim/W1/m holds non-finite"),
    ("optim/W1/t", np.array(-1), ValueError, "entry optim/W1/t must hold a non-negative"),
    ("optim/W1/t", np.array(1.5), TypeError, "entry optim/W1/t must hold an integer"),
    ("optim/W1/learning_rate", np.array(np.nan), ValueError, "must hold a finite number"),
])
def test_hostile_entries_refused_by_name(xp: Any, tmp_path: Any, entry: str, value: np.ndarray,
                                         exc: type[Exception], fragment: str) -> None:
    path, target = _saved(xp, tmp_path, **{entry: value})
    before = host(target.params)
    with pytest.raises(exc, match=f"load_checkpoint: .*{re.escape(fragment)}"):
        load_checkpoint(path, target)
    for k, v in before.items():
        assert_close(target.params[k], v)


def test_values_beyond_the_model_dtype_refused(xp: Any, tmp_path: Any) -> None:
    """float64 1e300 would become inf in a float32 model: refused, not cast."""
    ns = base_namespace(xp)
    source = model_on(ns, seed=0)
    big = {**host(source.params), "W2": np.full((H, C), 1e300)}
    path = tmp_path / "big.npz"
    _write_npz(path, {f"params/{k}": v for k, v in big.items()})
    with pytest.raises(ValueError, match="entry params/W2 holds non-finite values or values "
                       "beyond the range of the model's dtype"):
        load_checkpoint(path, model_on(ns, seed=1, dtype="float32"))
    target = model_on(ns, seed=1)  # float64 holds 1e300
    load_checkpoint(path, target)
    assert_close(target.params["W2"], big["W2"])


def test_meta_is_not_read_by_load_and_names_are_checked(xp: Any, tmp_path: Any) -> None:
    path, target = _saved(xp, tmp_path, **{"meta/epoch": np.array(4)})
    assert load_checkpoint(path, target) == {}
    assert read_checkpoint_meta(path) == {"epoch": 4}


def _bomb(path: Any, arrays: dict[str, np.ndarray], name: str, nbytes: int) -> None:
    """``arrays`` as an .npz plus entry ``name``: a float64 array of ``nbytes`` zeros,
    deflated (about 1000:1) and written in chunks, so writing costs little memory."""
    import zipfile

    _write_npz(path, arrays)
    header = {"descr": "<f8", "fortran_order": False, "shape": (nbytes // 8,)}
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf, \
            zf.open(f"{name}.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(f, header)
        chunk = bytes(1 << 22)
        for _ in range(nbytes // len(chunk)):
            f.write(chunk)


@pytest.mark.parametrize("name", ["meta/junk", "params/W1", "optim/W1/m", "extra/junk"])
def test_a_compressed_bomb_costs_no_memory(tmp_path: Any, name: str) -> None:
    """A 0.4 MB file with one entry holding 400 MB of zeros: loading either refuses it by
    name or never decompresses it; peak memory stays within a few MB (tracemalloc sees
    NumPy's and zlib's buffers)."""
    import tracemalloc

    source = model_on(np, seed=0)
    arrays = {f"params/{k}": v for k, v in host(source.params).items() if f"params/{k}" != name}
    path = tmp_path / "bomb.npz"
    _bomb(path, arrays, name, 400 * 2**20)
    assert path.stat().st_size < 2**20  # the file is small...
    target = model_on(np, seed=1)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        if name == "meta/junk":  # ...and its entry is never decompressed by a load
            load_checkpoint(path, target)
            assert_close(target.params["W1"], source.params["W1"])
        else:
            with pytest.raises(ValueError, match=f"load_checkpoint: .*entry {name}"):
                load_checkpoint(path, target)
        with pytest.raises(ValueError, match=r"read_checkpoint_meta: entry meta/junk .* "
                           r"declares") if name == "meta/junk" else contextlib.nullcontext():
            read_checkpoint_meta(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB while loading a 400 MiB bomb"


def test_a_long_file_name_saves(xp: Any, tmp_path: Any) -> None:
    """A valid 250-character name: the temporary name used to exceed the 255 limit."""
    model = model_on(base_namespace(xp), seed=0)
    path = tmp_path / ("c" * 246 + ".npz")
    save_checkpoint(path, model, epoch=1)
    assert os.listdir(tmp_path) == [path.name]
    target = model_on(base_namespace(xp), seed=1)
    load_checkpoint(path, target)
    assert_close(target.params["W1"], model.params["W1"])


def test_declared_size_must_match_the_header(xp: Any, tmp_path: Any) -> None:
    """An entry whose header promises more data than the zip directory declares."""
    import zipfile

    path, target = _saved(xp, tmp_path, **{"params/b1": np.ones(H, np.float32)})
    forged = tmp_path / "forged.npz"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(forged, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "params/b1.npy":
                data = data.replace(b"<f4", b"<f8")  # the header promises twice the data
            dst.writestr(info.filename, data)
    with pytest.raises(ValueError, match=r"load_checkpoint: entry params/b1 of .* declares "
                       r"140 bytes, but its header says 152"):
        load_checkpoint(forged, target)
