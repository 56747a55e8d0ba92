"""The command line, run as a user runs it: ``python -m portable_layers ...``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from portable_layers import _compat, cli
from portable_layers.cli import recipes

TINY_TABLE = textwrap.dedent("""
    import numpy as np
    from portable_layers.cases import LayerCase

    def square_forward(x):
        return x * x, x

    def square_backward(dout, x):
        return {factor} * x * dout

    def broken_forward(x):
        return x.no_such_attribute, x

    CASES = [LayerCase("square", square_forward, square_backward,
                       lambda rng: (rng.standard_normal((3, 4)),), ("x",))]
    BROKEN = [LayerCase("broken", broken_forward, square_backward,
                        lambda rng: (rng.standard_normal((2,)),), ("x",))]
    NOT_CASES = [1, 2]
""")


def _backend(xp: Any) -> str:
    return _compat.backend_name(_compat.array_namespace("t", a=xp.asarray(0.0)))


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if cwd is not None:  # the package must still import from the folder given
        env["PYTHONPATH"] = os.pathsep.join([str(Path(cli.__file__).parents[2]),
                                             env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "portable_layers", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd, env=env)


def test_help_lists_the_commands() -> None:
    out = run("--help")
    assert out.returncode == 0
    for command in ("check", "train", "plot"):
        assert command in out.stdout


def test_only_the_command_run_is_imported() -> None:
    """Building the parser imports no command module; running ``check`` imports only it."""
    code = textwrap.dedent("""
        import sys
        from portable_layers import cli
        commands = {"check", "train", "plot"}
        def loaded():
            return sorted(c for c in commands if f"portable_layers.cli.{c}" in sys.modules)
        cli.build_parser()
        assert cli.main(["--help"]) == 0
        print("loaded:", loaded())
        assert cli.main(["check", "--backend", "numpy", "--layer", "relu", "--oracle",
                         "numerical"]) == 0
        print("loaded:", loaded())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("loaded:")]
    assert lines == ["loaded: []", "loaded: ['check']"], out.stdout


@pytest.mark.parametrize("command", list(cli.SUBCOMMANDS))
def test_every_option_shows_its_default(command: str) -> None:
    sub = cli.build_parser(command).get_default("subcommands")[command]
    formatter = sub.formatter_class(prog=command)
    for action in sub._actions:
        if action.option_strings and action.dest != "help":
            assert "default" in formatter._get_help_string(action), (command, action.dest)


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


def test_check_cases_runs_a_users_table(xp: Any, tmp_path: Path) -> None:
    """``--cases MODULE:ATTR`` from the current folder: passes right, names a wrong backward."""
    backend = _backend(xp)
    (tmp_path / "my_layers.py").write_text(TINY_TABLE.format(factor=2))
    (tmp_path / "wrong_layers.py").write_text(TINY_TABLE.format(factor=3))
    out = run("check", "--cases", "my_layers:CASES", "--backend", backend, "--oracle",
              "numerical", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    (result,) = json.loads(out.stdout)["results"]
    assert result["name"] == "square" and result["ok"] and result["backend"] == backend
    out = run("check", "--cases", "wrong_layers:CASES", "--backend", backend, "--oracle",
              "numerical", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert "FAIL dx vs numerical" in out.stdout and "square: FAILED" in out.stdout
    assert "dx[" in out.stdout and "0 layer checks passed, 1 failed" in out.stdout
    out = run("check", "--cases", "my_layers:BROKEN", "--backend", backend, "--oracle",
              "numerical", cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stdout + out.stderr
    assert "broken: FAILED" in out.stdout and "raised AttributeError" in out.stdout
    assert "on inputs x" in out.stdout


@pytest.mark.parametrize(("spec", "message"), [
    ("my_layers", "expected MODULE:ATTR"),
    ("no_such_module:CASES", "no module named 'no_such_module'"),
    ("my_layers:CASE", "has no attribute 'CASE' (did you mean CASES?)"),
    ("my_layers:NOT_CASES", "item 0 is a int, not a portable_layers.cases.LayerCase"),
    ("my_layers:np", "expected a non-empty sequence of LayerCase, got module"),
    ("bad_module:CASES", "importing bad_module raised ZeroDivisionError"),
])
def test_check_cases_usage_errors(tmp_path: Path, spec: str, message: str) -> None:
    (tmp_path / "my_layers.py").write_text(TINY_TABLE.format(factor=2))
    (tmp_path / "bad_module.py").write_text("x = 1 / 0\n")
    out = run("check", "--cases", spec, "--backend", "numpy", cwd=tmp_path)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert message in out.stderr and "Traceback" not in out.stderr
    if spec.startswith("bad_module"):
        assert "bad_module.py:1" in out.stderr


@pytest.mark.parametrize(("argv", "message"), [
    (["check", "--backend", "tensorflow"], "--backend tensorflow: unknown backend"),
    (["check", "--backend", "pytorch"], "(did you mean torch?)"),
    (["check", "--backend", "numpy,pytroch"], "--backend pytroch"),
    (["check", "--sampled", "0"], "--sampled: must be a positive integer, got 0"),
    (["check", "--seed", "-1"], "--seed: must be an integer in [0, 4294967295], got -1"),
    (["check", "--layer", "tanhh"], "--layer tanhh: no such case (did you mean tanh?)"),
    (["check", "--oracle", "autodif"], "(did you mean autodiff?)"),
    (["train", "--epcohs", "3"], "unrecognized arguments: --epcohs 3 (did you mean --epochs?)"),
    (["train", "--backend", "pytorch"], "(did you mean torch?)"),
    (["train", "--learning-rate", "nan"], "--learning-rate: must be a finite number, got nan"),
    (["train", "--learning-rate", "-5"], "--learning-rate: must be a finite number > 0"),
    (["train", "--hidden-dims", "100000000000"], "needs about"),
    (["train", "--model", "two_layer", "--normalization", "batchnorm"],
     "--normalization does not apply to --model two_layer"),
    (["train", "--model", "vit", "--num-filters", "3"], "--num-filters does not apply"),
    (["train", "--hidden-dims", "5", "6"], "--model two_layer takes one hidden size"),
    (["train", "--dataset", "cifar10"], "needs --root"),
    (["train", "--root", "/tmp"], "--root is for --dataset cifar10"),
    (["train", "--dropout-keep-ratio", "1.5", "--model", "fc"], "must be in (0, 1]"),
    (["train", "--plot", "/no/such/folder/t.png"], "the folder /no/such/folder does not exist"),
    (["train", "--seed", "-1"], "--seed: must be an integer in"),
    (["plot"], "choose a figure: activations ("),
    (["plot", "activatons"], "(did you mean activations?)"),
    (["plot", "attention", "--index", "99999"], "--index must be in [0, 397)"),
    (["plot", "activations", "--num", "1000000000000"], "needs about"),
    (["plot", "activations", "--index", "3"], "--index is for plot attention"),
    (["plot", "activations", "--lo", "3", "--hi", "1"], "--lo must be below --hi"),
    (["plot", "attention", "--checkpoint", "/no/such.npz"], "no such file"),
])
def test_bad_options_exit_2_before_any_work(argv: list[str], message: str, capsys: Any,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A usage error: the message and the command's usage on stderr, status 2, no data
    loaded, nothing trained or drawn."""
    def no_work(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("work started although an option is wrong")

    monkeypatch.setattr(recipes, "load_split", no_work)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert f"usage: portable_layers {argv[0]}" in err


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


def test_a_missing_backend_names_its_extra(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setitem(sys.modules, "array_api_strict", None)  # import fails
    assert cli.main(["check", "--backend", "array_api_strict"]) == 2
    assert "pip install 'portable-layers[array-api-strict]'" in capsys.readouterr().err


def test_train_plot_checks_for_matplotlib_before_training(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: Any, tmp_path: Any) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # find_spec says: not installed

    def no_training(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("training started although --plot cannot be honoured")

    monkeypatch.setattr(recipes, "load_split", no_training)
    assert cli.main(["train", "--plot", str(tmp_path / "t.png")]) == 2
    err = capsys.readouterr().err
    assert "train --plot needs matplotlib" in err and "portable-layers[plot]" in err
    assert not (tmp_path / "t.png").exists()


def test_a_failing_command_exits_1_without_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: Any) -> None:
    def no_data(*args: Any, **kwargs: Any) -> Any:
        raise OSError("cannot read the data")

    monkeypatch.setattr(recipes, "load_split", no_data)
    assert cli.main(["train", "--quiet"]) == 1
    assert capsys.readouterr().err == "portable_layers train: cannot read the data\n"


def test_train_jax_float64_turns_on_x64_itself(tmp_path: Path) -> None:
    pytest.importorskip("jax")
    pytest.importorskip("sklearn")
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    out = subprocess.run([sys.executable, "-m", "portable_layers", "train", "--backend", "jax",
                          "--dtype", "float64", "--epochs", "1", "--quiet"],
                         capture_output=True, text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr
    assert "trained TwoLayerPerceptron on jax" in out.stdout


def test_old_module_paths_are_shims() -> None:
    from portable_layers import check_command, training
    from portable_layers.cli import check, train

    assert check_command.run is check.run and check_command.format_table is check.format_table
    assert training.run is train.run and training.add_arguments is train.add_arguments
    assert training.VIT_DEFAULTS is recipes.VIT_DEFAULTS
    assert "portable_layers.cli.check" in (check_command.__doc__ or "")
    assert "portable_layers.cli.train" in (training.__doc__ or "")
