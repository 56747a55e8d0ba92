"""The wheel: it builds without a warning, and it ships the package, its typing marker and
the license, and nothing else of the repository (no tests, docs, benchmarks, examples).

Backend-independent (no ``xp``): the noxfile runs it in one session, ``tests-numpy``.
``python -m build`` builds in an isolated environment with the build requirements of
pyproject.toml, as a user's ``pip install .`` does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("dist")
    # a copy of what the build reads: setuptools writes build/ and *.egg-info into the
    # source folder, which other sessions may be installing from at the same time
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(ROOT / "portable_layers", src / "portable_layers",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    # with PYTHONDONTWRITEBYTECODE set, setuptools says "warning: byte-compiling is
    # disabled": about the environment, not the package, so it is unset here
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out),
                           str(src)], capture_output=True, text=True, check=False, env=env)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    (path,) = out.glob("*.whl")
    return path, log


def test_the_wheel_builds_without_warnings(wheel: tuple[Path, str]) -> None:
    _, log = wheel
    warnings = [line for line in log.splitlines() if "warning" in line.lower()]
    assert not warnings, "\n".join(warnings)


def test_the_wheel_ships_the_package_and_nothing_else(wheel: tuple[Path, str]) -> None:
    path, _ = wheel
    names = zipfile.ZipFile(path).namelist()
    tops = {name.split("/")[0] for name in names}
    dist_info = {t for t in tops if t.endswith(".dist-info")}
    assert tops - dist_info == {"portable_layers"}, tops
    assert "portable_layers/__init__.py" in names
    assert "portable_layers/py.typed" in names
    # every module of the package, subpackages included
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "portable_layers").rglob("*.py")}
    assert modules <= set(names), sorted(modules - set(names))
    (info,) = dist_info
    assert f"{info}/licenses/LICENSE" in names
    license_text = zipfile.ZipFile(path).read(f"{info}/licenses/LICENSE").decode()
    assert license_text.startswith("MIT License")
    metadata = zipfile.ZipFile(path).read(f"{info}/METADATA").decode()
    assert "License-Expression: MIT" in metadata
    assert "Classifier: Operating System :: OS Independent" in metadata
    for part in ("tests/", "docs/", "benchmarks/", "examples/"):
        assert not [n for n in names if n.startswith(part) or f"/{part}" in n], part
