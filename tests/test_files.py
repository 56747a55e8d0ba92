"""Hostile files: truncated, corrupted, wrongly shaped or code-running checkpoints and
CIFAR-10 batches give a clear ValueError, leave no partial state and run no code;
a checkpoint write killed by SIGKILL leaves the old checkpoint intact.

Random bytes come from ``numpy.random.default_rng(SEED)``; SEED is in every message.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import numpy as np
import pytest
from helpers import base_namespace

import portable_layers as pl
from portable_layers import _compat

SEED = 1234


def _model(xp: Any, seed: int = 0) -> Any:
    return pl.TwoLayerPerceptron(4, 3, 2, xp=base_namespace(xp), seed=seed)


def _params(model: Any) -> dict[str, np.ndarray]:
    return {k: np.array(_compat.to_numpy(v), copy=True) for k, v in model.params.items()}


def _corruptions(raw: bytes) -> dict[str, bytes]:
    rng = np.random.default_rng(SEED)
    flipped = bytearray(raw)
    for i in rng.integers(30, len(raw) - 30, size=20):
        flipped[i] ^= 0xFF
    return {"empty": b"", "truncated_10": raw[:10], "truncated_half": raw[: len(raw) // 2],
            "truncated_end": raw[:-5], "random": rng.bytes(len(raw)), "flipped": bytes(flipped),
            "pickle": pickle.dumps({"params/W1": np.ones((4, 3))})}


@pytest.mark.parametrize("kind", ["empty", "truncated_10", "truncated_half", "truncated_end",
                                  "random", "flipped", "pickle"])
def test_broken_checkpoint_is_a_clear_error_and_changes_nothing(xp: Any, tmp_path: Any,
                                                                kind: str) -> None:
    good = tmp_path / "good.npz"
    pl.save_checkpoint(good, _model(xp, seed=1), epoch=3)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(_corruptions(good.read_bytes())[kind])
    model = _model(xp)
    before = _params(model)
    try:
        pl.load_checkpoint(bad, model)
    except ValueError as err:
        assert "load_checkpoint" in str(err) and "bad.npz" in str(err), (SEED, str(err))
    else:  # a flipped byte inside stored data (not the zip structure or CRC) cannot load
        pytest.fail(f"corruption {kind} (seed {SEED}) loaded without error")
    for k, v in _params(model).items():
        np.testing.assert_array_equal(v, before[k], err_msg=f"seed {SEED}")


def test_wrong_shapes_and_dtypes_leave_the_model_unchanged(xp: Any, tmp_path: Any) -> None:
    path = tmp_path / "other.npz"
    pl.save_checkpoint(path, pl.TwoLayerPerceptron(5, 3, 2, seed=0))
    model = _model(xp)
    before = _params(model)
    with pytest.raises(ValueError, match="load_checkpoint: parameter W1 has shape"):
        pl.load_checkpoint(path, model)
    np.savez(tmp_path / "complex.npz", **{f"params/{k}": v.astype(complex)
                                          for k, v in before.items()})
    with pytest.raises(ValueError, match=r"load_checkpoint: .*complex"):
        pl.load_checkpoint(tmp_path / "complex.npz", model)
    for k, v in _params(model).items():
        np.testing.assert_array_equal(v, before[k])


class _Boom:
    def __reduce__(self) -> Any:
        return (os.system, ("touch PWNED",))


def test_crafted_cifar_pickle_runs_no_code(tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": _Boom(), b"labels": [0]}))
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": _Boom(), b"labels": [0]}))
    with pytest.raises(pl.data.UnsafePickleError, match=r"os\.system|posix\.system"):
        pl.data.load_cifar10(tmp_path)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("kind", ["truncated", "random", "wrong_shape", "bad_labels"])
def test_broken_cifar_batches_are_clear_errors(tmp_path: Any, kind: str) -> None:
    rng = np.random.default_rng(SEED)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    good = pickle.dumps({b"data": rng.integers(0, 255, (2, 3072), dtype=np.uint8),
                         b"labels": [0, 1]}, protocol=2)
    bad = {"truncated": good[: len(good) // 2], "random": rng.bytes(500),
           "wrong_shape": pickle.dumps({b"data": np.zeros((2, 100), np.uint8),
                                        b"labels": [0, 1]}, protocol=2),
           "bad_labels": pickle.dumps({b"data": np.zeros((2, 3072), np.uint8),
                                       b"labels": [0, 10]}, protocol=2)}[kind]
    (folder / "data_batch_1").write_bytes(bad)
    (folder / "test_batch").write_bytes(good)
    with pytest.raises(ValueError, match=r"load_cifar10: .*data_batch_1"):
        pl.data.load_cifar10(tmp_path)


WRITER = textwrap.dedent("""
    import sys, numpy as np, portable_layers as pl
    model = pl.TwoLayerPerceptron(3 * 32 * 32, 400, 10, seed=1)  # ~10 MB of float64
    print("ready", flush=True)
    while True:
        pl.save_checkpoint(sys.argv[1], model, epoch=2)
""")


def test_killed_writer_leaves_the_old_checkpoint(tmp_path: Any) -> None:
    """SIGKILL a process that rewrites a large checkpoint: the old one still loads."""
    path = tmp_path / "model.npz"
    old = pl.TwoLayerPerceptron(3 * 32 * 32, 400, 10, seed=0)
    pl.save_checkpoint(path, old, epoch=1)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        time.sleep(0.8)  # mid-way through one of the repeated writes
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    model = pl.TwoLayerPerceptron(3 * 32 * 32, 400, 10, seed=5)
    pl.load_checkpoint(path, model)  # whole: the old checkpoint or a complete new one
    meta = pl.checkpoint.read_checkpoint_meta(path)
    assert meta["epoch"] in (1, 2)
    expected = 0 if meta["epoch"] == 1 else 1
    ref = pl.TwoLayerPerceptron(3 * 32 * 32, 400, 10, seed=expected)
    np.testing.assert_array_equal(model.params["W1"], ref.params["W1"])
    # a leftover temp file is hidden and never taken for a checkpoint
    others = [p.name for p in tmp_path.iterdir() if p.name != "model.npz"]
    assert all(n.startswith(".model.npz.") and n.endswith(".tmp") for n in others), others
