"""Every ```python block of README.md and of the guide (docs/**/*.md) runs, as written,
in a fresh process.

The blocks are found in the README and the docs pages when the tests are collected, so a
block or a page added or edited by anyone is picked up without touching this file.  Each
block is written to a file in a temporary folder and run with this interpreter
(``python block.py``); a block whose first line names a test file
(``# test_my_layer.py``) is written under that name and run with ``python -m pytest``,
as the README tells its reader to.  This checkout comes first on ``PYTHONPATH``, so the
blocks import the code under test.

A block that needs an optional library this session does not install is skipped, with a
reason naming the missing module, and only then: before the run, for an ``import`` of a
module that cannot be found; after the run, when the block failed with an ImportError
naming a module (``No module named 'x'``, or the library's own ``pip install
'portable-layers[extra]'`` hint) that is indeed not installed.  Any other failure fails.

A block that is deliberately not runnable (a fragment shown for its shape) starts with
the line ``# not run: <why>``; it is still parsed, so it must be valid Python, and the
reason must be given.  Output, shell commands and signatures go in ```text or ```bash
fences, which are not collected.

The API reference's table of ``portable_layers.__all__`` (``docs/hooks.py``) is checked
here too, without building the site: every name has an entry.
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
DOCS = ROOT / "docs"
#: the files whose blocks run: the README, then every docs page
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
TEST_FILE = re.compile(r"#\s*(test_\w+\.py)\s*$")
NOT_RUN = re.compile(r"#\s*not run:(.*)$")
#: modules behind the extras named in the library's ImportError hints
EXTRAS = {"jax": "jax", "torch": "torch", "dask": "dask", "digits": "sklearn",
          "plot": "matplotlib", "train": "tqdm", "array-api-strict": "array_api_strict"}
TIMEOUT = 900  # seconds; the slowest block (Dask: a local cluster) takes well under a minute
#: modules whose blocks carry the ``dask`` marker: the tests-dask session, the one that
#: installs Dask, runs them (``-m dask``); the other sessions skip them (no Dask there)
DASK_MODULES = {"dask", "distributed"}
#: set by a session that must run its blocks: a block that would be skipped fails instead
NO_SKIP = "PORTABLE_LAYERS_BLOCKS_NO_SKIP"


@dataclasses.dataclass(frozen=True)
class Block:
    line: int  # line of the opening fence in its file
    code: str
    page: str = "README.md"  # the file, relative to the repository root

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def not_run(self) -> str | None:
        """The reason given by a ``# not run: <why>`` first line, else None."""
        first = self.code.splitlines()[0] if self.code.strip() else ""
        match = NOT_RUN.match(first)
        return match.group(1).strip() if match else None

    @property
    def test_file(self) -> str | None:
        first = self.code.splitlines()[0] if self.code.strip() else ""
        match = TEST_FILE.match(first)
        return match.group(1) if match else None


def python_blocks(text: str, page: str = "README.md") -> list[Block]:
    """The ```python blocks of ``text``, with the line of each opening fence."""
    return [Block(text.count("\n", 0, m.start()) + 1, m.group(1), page)
            for m in FENCE.finditer(text)]


ALL_BLOCKS = [b for path in PAGES for b in python_blocks(
    path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())]
BLOCKS = [b for b in ALL_BLOCKS if b.not_run is None]
SHOWN = [b for b in ALL_BLOCKS if b.not_run is not None]


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
    readme = [b for b in ALL_BLOCKS if b.page == "README.md"]
    assert len(readme) == len(re.findall(r"^```python", text, re.MULTILINE)) >= 5
    assert any("import portable_layers" in b.code for b in readme)


def test_every_docs_page_is_collected() -> None:
    """Every page of the guide is read, and every ```python fence in it is a block here."""
    pages = sorted(DOCS.rglob("*.md"))
    assert DOCS / "getting-started.md" in pages and DOCS / "guide" / "training.md" in pages
    for path in pages:
        text = path.read_text(encoding="utf-8")
        found = [b for b in ALL_BLOCKS if b.page == path.relative_to(ROOT).as_posix()]
        assert len(found) == len(re.findall(r"^```python", text, re.MULTILINE)), path
    assert sum(b.page.startswith("docs/") for b in BLOCKS) >= 6


def test_blocks_not_run_say_why_and_parse() -> None:
    """A ``# not run:`` block names its reason and is valid Python (it cannot rot into
    nonsense); the README and guide may have none."""
    for block in SHOWN:
        assert block.not_run, f"{block.where}: '# not run:' needs a reason"
        ast.parse(block.code)


def test_every_public_name_is_in_the_api_reference() -> None:
    """Each name of ``portable_layers.__all__`` is documented on a page of docs/api/: the
    module itself has a ``::: module`` directive, or a documented module exports the same
    object (computed from the package and the pages, not listed here)."""
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    import portable_layers

    where = hooks.api_locations()
    assert list(where) == list(portable_layers.__all__)
    missing = [n for n, w in where.items() if w is None and n != "__version__"]
    assert not missing, f"not in the API reference (docs/api/*.md): {missing}"
    assert "<!-- api:all -->" in (DOCS / "api" / "portable_layers.md").read_text()
    table = hooks.api_table()
    for name in portable_layers.__all__:
        assert f"`{name}`" in table


def test_the_counts_typed_in_the_pages_are_the_computed_ones() -> None:
    """A ``<!-- count:NAME -->N<!-- /count -->`` marker's N is what docs/hooks.py computes
    from the code (the site shows the computed number; the source must not lag)."""
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    found = [(path, *c) for path in PAGES for c in hooks.counts_in(path.read_text("utf-8"))]
    assert any(name == "layer-cases" for _, name, _, _ in found)
    wrong = [(p.name, name, typed, n) for p, name, typed, n in found if typed != str(n)]
    assert not wrong, f"(page, count, typed, computed): {wrong}"
    assert hooks.render_counts("<!-- count:layer-cases -->1<!-- /count -->") == str(
        found[0][3])


def test_the_block_parser() -> None:
    text = "x\n```python\nimport numpy, foo.bar\nfrom baz import q\n```\n\n```bash\nls\n```\n"
    (block,) = python_blocks(text)
    assert block.line == 2 and imported_modules(block.code) == ["numpy", "foo", "baz"]
    assert Block(1, "# test_x.py\nimport numpy\n").test_file == "test_x.py"
    assert Block(1, "# not run: a fragment\nf(x)\n").not_run == "a fragment"
    assert Block(1, "import numpy\n# not run: late\n").not_run is None
    (block,) = python_blocks(text, "docs/a.md")
    assert block.where == "docs/a.md:2"
    assert missing_module_in("ModuleNotFoundError: No module named 'dask.array'") == "dask"
    assert missing_module_in("ImportError: autodiff_vjp needs JAX; install it with pip "
                             "install 'portable-layers[jax]'") == "jax"
    assert missing_module_in("ValueError: bad") is None


#: the blocks as test parameters, a Dask block marked ``dask``
PARAMS = [pytest.param(b, id=b.where, marks=[pytest.mark.dask]
                       if DASK_MODULES & set(imported_modules(b.code)) else [])
          for b in BLOCKS]


def _skip(reason: str) -> None:
    if os.environ.get(NO_SKIP):
        pytest.fail(f"{reason} ({NO_SKIP} is set: this session must run the block)")
    pytest.skip(reason)


def test_the_dask_blocks_are_marked() -> None:
    """The README and the scaling page show Dask; their blocks carry the marker that the
    Dask session selects (a Dask block without it would be skipped everywhere)."""
    dask_blocks = [b for b in BLOCKS if DASK_MODULES & set(imported_modules(b.code))]
    assert {b.page for b in dask_blocks} >= {"README.md", "docs/guide/scaling.md"}
    marked = [p for p in PARAMS if p.marks]
    assert [p.values[0] for p in marked] == dask_blocks


@pytest.mark.parametrize("block", PARAMS)
def test_readme_block_runs_as_written(block: Block, tmp_path: Path) -> None:
    absent = [m for m in imported_modules(block.code) if not _installed(m)]
    if absent:
        _skip(f"{block.where} imports {', '.join(absent)}, not installed here")
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
            _skip(f"{block.where} needs {missing}, not installed here")
        pytest.fail(f"{block.where} exited with {done.returncode}:\n{output[-4000:]}")
