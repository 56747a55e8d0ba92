"""The ``train`` subcommand on the digits data set."""

from __future__ import annotations

import argparse
import re
from typing import Any

import pytest
from helpers import base_namespace

from portable_layers import _compat, training

pytest.importorskip("sklearn")


def parse(xp: Any, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    training.add_arguments(parser)
    backend = _compat.backend_name(base_namespace(xp))
    return parser.parse_args(["--backend", backend, "--quiet", *extra])


def accuracies(out: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(r"(\w+) accuracy: ([\d.]+)", out)}


def test_short_run_prints_accuracies_and_plots(xp: Any, tmp_path: Any, capsys: Any) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "train.png"
    args = parse(xp, "--epochs", "2", "--model", "fc", "--hidden-dims", "20", "10",
                 "--plot", str(png))
    assert training.run(args) == 0
    acc = accuracies(capsys.readouterr().out)
    assert sorted(acc) == ["train", "val"]
    assert acc["val"] > 0.2  # above chance (0.1) after two epochs
    assert png.read_bytes().startswith(b"\x89PNG")


def test_bad_options_exit_2(xp: Any, capsys: Any) -> None:
    assert training.run(parse(xp, "--hidden-dims", "5", "6")) == 2
    assert "--model two_layer takes one hidden size" in capsys.readouterr().out
    assert training.run(parse(xp, "--dataset", "cifar10")) == 2
    assert "needs --root" in capsys.readouterr().out


@pytest.mark.slow
def test_digits_defaults_reach_97_percent(xp: Any, capsys: Any) -> None:
    assert training.run(parse(xp)) == 0
    assert accuracies(capsys.readouterr().out)["val"] >= 0.97
