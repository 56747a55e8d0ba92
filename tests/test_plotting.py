"""Figures: valid PNGs written atomically, activation curves equal to closed forms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import asxp, base_namespace

from portable_layers import _compat, plotting

pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _read_png(path: Path) -> np.ndarray:
    """The image, after checking the signature, as matplotlib reads it back."""
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    return image


def _leftovers(folder: Path, keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


def test_activation_curves_match_closed_forms(xp: Any) -> None:
    name = _compat.backend_name(base_namespace(xp))
    curves = plotting.activation_curves(name, lo=-30.0, hi=30.0, num=121)
    assert sorted(curves) == ["leaky_relu", "relu", "sigmoid", "tanh"]
    x = np.linspace(-30.0, 30.0, 121)
    s = 1.0 / (1.0 + np.exp(-x))
    expected = {
        "sigmoid": (s, s * (1.0 - s)),
        "tanh": (np.tanh(x), 1.0 - np.tanh(x) ** 2),
        "relu": (np.maximum(x, 0.0), (x > 0).astype(float)),
        "leaky_relu": (np.where(x > 0, x, 0.01 * x), np.where(x > 0, 1.0, 0.01)),
    }
    # atol: 1 - t**2 near |t| = 1 cancels; backends' tanh may differ there by a few ulp of 1
    atol = 16 * np.finfo(np.float64).eps
    for key, (y_ref, dy_ref) in expected.items():
        xs, y, dy = curves[key]
        assert all(isinstance(a, np.ndarray) and a.shape == (121,) for a in (xs, y, dy))
        np.testing.assert_array_equal(xs, x)
        np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=atol, err_msg=key)
        np.testing.assert_allclose(dy, dy_ref, rtol=1e-12, atol=atol, err_msg=key)
    # the seed's question: saturation and dead units show as (near-)zero gradients
    assert curves["sigmoid"][2].max() == 0.25 and curves["sigmoid"][2][0] < 1e-12
    assert curves["relu"][2][x <= 0].max() == 0.0
    assert curves["leaky_relu"][2].min() == 0.01


def test_activation_curves_accept_namespace(xp: Any) -> None:
    ns = base_namespace(xp)
    _, y, _ = plotting.activation_curves(ns, lo=-1.0, hi=1.0, num=5)["relu"]
    np.testing.assert_array_equal(y, [0.0, 0.0, 0.0, 0.5, 1.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lo": 1.0, "hi": 1.0}, "need finite lo < hi, got lo=1.0, hi=1.0"),
        ({"num": 1}, "num must be an integer >= 2, got 1"),
        ({"lo": float("nan")}, "need finite lo < hi"),
    ],
)
def test_activation_curves_bad_range(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        plotting.activation_curves("numpy", **kwargs)


def test_plot_activations_png(tmp_path: Path) -> None:
    out = tmp_path / "act.png"
    plotting.plot_activations(out, "numpy", num=101)
    _read_png(out)
    assert _leftovers(tmp_path, "act.png") == []


def test_save_training_figure_with_backend_arrays(xp: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    out = tmp_path / "train.png"
    weights = asxp(xp, rng.standard_normal((64, 10)))
    losses = [asxp(xp, v) for v in (2.3, 2.0, 1.6)]  # 0-d arrays, as a solver stores them
    plotting.save_training_figure(
        out,
        loss_history=losses,
        train_acc_history=asxp(xp, [0.2, 0.5]),
        val_acc_history=[0.1, 0.4],
        weights=weights,
        image_shape=(1, 8, 8),
    )
    _read_png(out)


def test_save_training_figure_without_weights(tmp_path: Path) -> None:
    out = tmp_path / "train.png"
    plotting.save_training_figure(
        out, loss_history=[1.0, 0.5], train_acc_history=[0.5], val_acc_history=[0.4]
    )
    _read_png(out)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"val_acc_history": [0.1]}, ValueError, "equal lengths, got 2 and 1"),
        ({"weights": np.zeros((10, 3)), "image_shape": (3, 32, 32)}, ValueError, r"\(3072, H\)"),
        ({"weights": np.zeros((64, 3))}, ValueError, "must be given together"),
        ({"loss_history": ["a"]}, TypeError, "loss_history must be a sequence of numbers"),
        ({"loss_history": np.zeros((2, 2))}, ValueError, "one-dimensional"),
    ],
)
def test_save_training_figure_errors(
    tmp_path: Path, kwargs: dict[str, Any], error: type, match: str
) -> None:
    args = {"loss_history": [1.0], "train_acc_history": [0.1, 0.2], "val_acc_history": [0.1, 0.2]}
    with pytest.raises(error, match=match):
        plotting.save_training_figure(tmp_path / "x.png", **{**args, **kwargs})
    assert list(tmp_path.iterdir()) == []


def test_weight_grid_tiles_normalised_columns() -> None:
    w = np.stack([np.arange(4.0), -np.arange(4.0), np.full(4, 3.0)], axis=1)  # (4, 3)
    grid = plotting.weight_grid(w, (1, 2, 2))
    assert grid.shape == (5, 5)  # 2 x 2 tiles of 2 x 2 with 1-pixel gaps
    np.testing.assert_array_equal(grid[:2, :2], [[0.0, 1 / 3], [2 / 3, 1.0]])
    np.testing.assert_array_equal(grid[:2, 3:], [[1.0, 2 / 3], [1 / 3, 0.0]])
    np.testing.assert_array_equal(grid[3:, :2], 0.0)  # a constant column
    rgb = plotting.weight_grid(np.random.default_rng(0).standard_normal((12, 2)), (3, 2, 2))
    assert rgb.shape == (2, 5, 3) and rgb.min() >= 0.0 and rgb.max() <= 1.0


def test_no_half_written_file_on_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    out = tmp_path / "act.png"
    out.write_bytes(b"old figure")

    def broken_savefig(self: Any, fname: Any, **kwargs: Any) -> None:
        fname.write(PNG_SIGNATURE + b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(OSError, match="disk full"):
        plotting.plot_activations(out, num=11)
    assert out.read_bytes() == b"old figure"
    assert _leftovers(tmp_path, "act.png") == []


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="plot_activations: the folder of"):
        plotting.plot_activations(tmp_path / "nope" / "a.png", num=11)


def test_accuracies_are_drawn_at_epochs_0_to_n(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Entry k of the accuracy histories is epoch k, as the Solver's console counts."""
    drawn = []
    monkeypatch.setattr(plotting, "_save_png", lambda func, fig, path: drawn.append(fig))
    plotting.save_training_figure(tmp_path / "t.png", loss_history=[1.0, 0.5, 0.4],
                                  train_acc_history=[0.1, 0.5, 0.6],
                                  val_acc_history=[0.1, 0.4, 0.5])
    (fig,) = drawn
    xs = [list(line.get_xdata()) for line in fig.axes[1].get_lines()]
    assert xs == [[0, 1, 2], [0, 1, 2]]


def test_plot_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from portable_layers import cli

    out = tmp_path / "cli.png"
    assert cli.main(["plot", "activations", "--backend", "numpy", "--out", str(out),
                     "--num", "51"]) == 0
    _read_png(out)
    assert capsys.readouterr().out == f"wrote {out}\n"
    assert cli.main(["plot", "activations", "--out", str(out), "--lo", "3", "--hi", "1"]) == 2
    assert "--lo must be below --hi" in capsys.readouterr().err
    assert cli.main(["plot", "weights"]) == 2
    assert "no figure 'weights'" in capsys.readouterr().err
