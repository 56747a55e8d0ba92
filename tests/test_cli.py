"""The command line, run as a user runs it: ``python -m portable_layers ...``."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

import pytest

from portable_layers import _compat, check_command
from portable_layers.cases import get_case


def _backend(xp: Any) -> str:
    return _compat.backend_name(_compat.array_namespace("t", a=xp.asarray(0.0)))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "portable_layers", *args], capture_output=True,
                          text=True, timeout=600)


def test_help_lists_the_commands() -> None:
    out = run("--help")
    assert out.returncode == 0
    for command in ("check", "train", "plot"):
        assert command in out.stdout


def test_check_prints_the_table_for_a_backend(xp: Any) -> None:
    backend = _backend(xp)
    out = run("check", "--backend", backend, "--layer", "affine", "--layer", "softmax_loss",
              "--dtype", "float64", "--dtype", "float32", "--oracle", "numerical")
    assert out.returncode == 0, out.stderr
    rows = [ln.split() for ln in out.stdout.splitlines() if ln.startswith(("affine", "softmax"))]
    assert [(r[0], r[1], r[2], r[-1]) for r in rows] == [
        ("affine", backend, "float64", "ok"), ("affine", backend, "float32", "ok"),
        ("softmax_loss", backend, "float64", "ok"), ("softmax_loss", backend, "float32", "ok")]
    assert "4 layer checks passed, 0 failed" in out.stdout


def test_check_json_fast_and_sampled(xp: Any) -> None:
    backend = _backend(xp)
    for mode in (["--fast"], ["--sampled", "3"]):
        out = run("check", "--backend", backend, "--layer", "tanh", "--oracle", "numerical",
                  "--json", *mode)
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert doc["ok"] is True and doc["oracles"] == ["numerical"]
        (result,) = doc["results"]
        assert result["name"] == "tanh" and result["backend"] == backend
        assert {c["mode"] for c in result["checks"]} == {mode[0].removeprefix("--")}


def test_check_bad_options_exit_non_zero() -> None:
    out = run("check", "--backend", "tensorflow")
    assert out.returncode == 2 and "invalid choice" in out.stderr
    out = run("check", "--sampled", "0", "--layer", "relu", "--backend", "numpy")
    assert out.returncode != 0 and "--sampled takes a positive number" in out.stderr


def test_a_failed_check_is_reported_and_exits_1(xp: Any, capsys: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A layer whose backward is wrong makes the table say FAIL, name it, and exit 1."""
    backend = _backend(xp)
    case = get_case("tanh")

    def wrong_backward(dout: Any, cache: Any) -> Any:
        return 2 * case.backward(dout, cache)  # type: ignore[misc]

    broken = type(case)(case.name, case.forward, wrong_backward, case.make_inputs, case.names)

    def fake_get_case(name: str) -> Any:
        return broken if name == "tanh" else get_case(name)

    monkeypatch.setattr(check_command, "get_case", fake_get_case)
    parser = argparse.ArgumentParser()
    check_command.add_arguments(parser)
    args = parser.parse_args(["--backend", backend, "--layer", "tanh", "--oracle", "numerical"])
    assert check_command.run(args) == 1
    out = capsys.readouterr().out
    assert "FAIL dx vs numerical" in out and "0 layer checks passed, 1 failed" in out
    assert "dx[" in out  # the report names the worst entries


@pytest.mark.parametrize("command", ["check", "train", "plot activations"])
def test_abbreviated_and_unknown_options_show_the_subcommands_usage(command: str) -> None:
    """``--epoch`` is not ``--epochs`` (no abbreviations), and an unknown flag is reported
    with the usage of the subcommand it was given to, not the top-level one."""
    words = command.split()
    for flag in ("--epoch", "--bogus-flag", "--back"):
        out = run(*words, flag, "1")
        assert out.returncode == 2, (flag, out.stdout, out.stderr)
        assert f"usage: portable_layers {words[0]}" in out.stderr, out.stderr
        assert f"portable_layers {words[0]}: error:" in out.stderr, out.stderr
        assert flag in out.stderr


def test_check_takes_backend_as_the_readme_shows_it(xp: Any) -> None:
    """``--backend NAME ...``: several names after one flag, repeated flags, or a comma list."""
    backend = _backend(xp)
    other = "numpy" if backend != "numpy" else "array_api_strict"
    for spelling in (["--backend", backend, other], ["--backend", backend, "--backend", other],
                     ["--backend", f"{backend},{other}"]):
        out = run("check", *spelling, "--layer", "relu", "--oracle", "numerical")
        assert out.returncode == 0, out.stderr
        rows = [ln.split()[1] for ln in out.stdout.splitlines() if ln.startswith("relu")]
        assert rows == [backend, other], (spelling, out.stdout)
    out = run("check", "--backend", "numpy,tensorflow")
    assert out.returncode == 2 and "invalid choice: 'numpy,tensorflow'" in out.stderr


def test_train_plot_checks_for_matplotlib_before_training(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: Any, tmp_path: Any) -> None:
    from portable_layers import cli, training

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # find_spec says: not installed

    def no_training(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("training started although --plot cannot be honoured")

    monkeypatch.setattr(training, "_load", no_training)
    status = cli.main(["train", "--plot", str(tmp_path / "t.png")])
    assert status == 2
    out = capsys.readouterr().out
    assert "train --plot needs matplotlib" in out and "portable-layers[plot]" in out
    assert not (tmp_path / "t.png").exists()
