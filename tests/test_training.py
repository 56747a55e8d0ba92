"""The ``train`` command on the digits data set."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from helpers import base_namespace

from portable_layers import _compat, cli, plotting

pytest.importorskip("sklearn")


def train(xp: Any, *extra: str) -> int:
    return cli.main(["train", "--backend", _compat.backend_name(base_namespace(xp)), *extra])


def accuracies(out: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(r"(\w+) accuracy: ([\d.]+)", out)}


def test_short_run_prints_accuracies_and_plots(xp: Any, tmp_path: Any, capsys: Any) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "train.png"
    assert train(xp, "--quiet", "--epochs", "2", "--model", "fc", "--hidden-dims", "20", "10",
                 "--plot", str(png)) == 0
    acc = accuracies(capsys.readouterr().out)
    assert sorted(acc) == ["train", "val"]
    assert acc["val"] > 0.2  # above chance (0.1) after two epochs
    assert png.read_bytes().startswith(b"\x89PNG")


def test_the_figures_epochs_are_the_consoles(tmp_path: Any, capsys: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The accuracy panel puts each point at the epoch the console printed it for."""
    pytest.importorskip("matplotlib")
    drawn = []
    monkeypatch.setattr(plotting, "_save_png", lambda func, fig, path: drawn.append(fig))
    assert cli.main(["train", "--epochs", "3", "--plot", str(tmp_path / "t.png")]) == 0
    printed = [int(e) for e in re.findall(r"\(Epoch (\d+) / 3\)", capsys.readouterr().out)]
    assert printed == [0, 1, 2, 3]
    (fig,) = drawn
    for line in fig.axes[1].get_lines():
        np.testing.assert_array_equal(line.get_xdata(), printed)


def test_options_that_do_not_fit_exit_2(xp: Any, capsys: Any) -> None:
    assert train(xp, "--hidden-dims", "5", "6") == 2
    assert "--model two_layer takes one hidden size" in capsys.readouterr().err
    assert train(xp, "--dataset", "cifar10") == 2
    assert "needs --root" in capsys.readouterr().err


@pytest.mark.slow
def test_digits_defaults_reach_97_percent(xp: Any, capsys: Any) -> None:
    assert train(xp, "--quiet") == 0
    assert accuracies(capsys.readouterr().out)["val"] >= 0.97
