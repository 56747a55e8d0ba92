"""Every ```python block of README.md runs, as written, in a fresh process.

The blocks are found in the README when the tests are collected, so a block added or
edited by anyone is picked up without touching this file.  Each block is written to a
file in a temporary folder and run with this interpreter (``python block.py``); a block
whose first line names a test file (``# test_my_layer.py``) is written under that name
and run with ``python -m pytest``, as the README tells its reader to.  This checkout
comes first on ``PYTHONPATH``, so the blocks import the code under test.

A block that needs an optional library this session does not install is skipped, with a
reason naming the missing module, and only then: before the run, for an ``import`` of a
module that cannot be found; after the run, when the block failed with an ImportError
naming a module (``No module named 'x'``, or the library's own ``pip install
'portable-layers[extra]'`` hint) that is indeed not installed.  Any other failure fails.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
TEST_FILE = re.compile(r"#\s*(test_\w+\.py)\s*$")
#: modules behind the extras named in the library's ImportError hints
EXTRAS = {"jax": "jax", "torch": "torch", "dask": "dask", "digits": "sklearn",
          "plot": "matplotlib", "train": "tqdm", "array-api-strict": "array_api_strict"}
TIMEOUT = 900  # seconds; the slowest block (Dask: a local cluster) takes well under a minute


@dataclasses.dataclass(frozen=True)
class Block:
    line: int  # line of the opening fence in README.md
    code: str

    @property
    def test_file(self) -> str | None:
        first = self.code.splitlines()[0] if self.code.strip() else ""
        match = TEST_FILE.match(first)
        return match.group(1) if match else None


def python_blocks(text: str) -> list[Block]:
    """The ```python blocks of ``text``, with the line of each opening fence."""
    return [Block(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in FENCE.finditer(text)]


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module.split(".")[0]) is not None


def imported_modules(code: str) -> list[str]:
    """Top-level names of the modules ``code`` imports."""
    names = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module.split(".")[0])
    return list(dict.fromkeys(names))


def missing_module_in(stderr: str) -> str | None:
    """The module an ImportError in ``stderr`` names, if it names one."""
    found = re.search(r"No module named '([\w.]+)'", stderr)
    if found:
        return found.group(1).split(".")[0]
    found = re.search(r"pip install 'portable-layers\[([\w-]+)\]'", stderr)
    if found and "ImportError" in stderr:
        return EXTRAS.get(found.group(1))
    return None


def test_the_readme_has_python_blocks() -> None:
    """The collection works: the README's examples are all here (a broken fence regex
    would silently test nothing)."""
    text = README.read_text(encoding="utf-8")
    assert len(BLOCKS) == len(re.findall(r"^```python", text, re.MULTILINE)) >= 5
    assert any("import portable_layers" in b.code for b in BLOCKS)


def test_the_block_parser() -> None:
    text = "x\n```python\nimport numpy, foo.bar\nfrom baz import q\n```\n\n```bash\nls\n```\n"
    (block,) = python_blocks(text)
    assert block.line == 2 and imported_modules(block.code) == ["numpy", "foo", "baz"]
    assert Block(1, "# test_x.py\nimport numpy\n").test_file == "test_x.py"
    assert missing_module_in("ModuleNotFoundError: No module named 'dask.array'") == "dask"
    assert missing_module_in("ImportError: autodiff_vjp needs JAX; install it with pip "
                             "install 'portable-layers[jax]'") == "jax"
    assert missing_module_in("ValueError: bad") is None


@pytest.mark.parametrize("block", BLOCKS, ids=[f"README.md:{b.line}" for b in BLOCKS])
def test_readme_block_runs_as_written(block: Block, tmp_path: Path) -> None:
    absent = [m for m in imported_modules(block.code) if not _installed(m)]
    if absent:
        pytest.skip(f"README.md:{block.line} imports {', '.join(absent)}, not installed here")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("PYTEST_ADDOPTS", None)
    if block.test_file:  # a test file for the reader's project: run it with pytest
        (tmp_path / block.test_file).write_text(block.code, encoding="utf-8")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   block.test_file]
    else:
        (tmp_path / "block.py").write_text(block.code, encoding="utf-8")
        command = [sys.executable, "block.py"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT)
    if done.returncode != 0:
        output = done.stdout + done.stderr
        missing = missing_module_in(output)
        if missing is not None and not _installed(missing):
            pytest.skip(f"README.md:{block.line} needs {missing}, not installed here")
        pytest.fail(f"README.md:{block.line} exited with {done.returncode}:\n{output[-4000:]}")
