"""MkDocs hooks: the table of ``portable_layers.__all__``, counts rendered from the code,
and a check that no raw reStructuredText table reaches a page.

**The API table.**

The page ``api/portable_layers.md`` holds the marker ``<!-- api:all -->``; this hook
replaces it with one row per name of ``portable_layers.__all__``, computed at build time:
the name, a cross-reference to its entry in the API reference (the first page whose
``::: module`` directive documents a module that exports it) and the first line of its
docstring.  A name that no page documents is an error that fails the build (and
``tests/test_readme.py`` checks the same without building), so the reference cannot
fall behind the package.

**Counts.** A page writes ``<!-- count:NAME -->N<!-- /count -->`` where a number taken
from the code belongs (``COUNTS`` below: the layer cases that ``check`` walks); the hook
writes the computed number in place of N, and ``tests/test_readme.py`` checks that the N
typed in the page's source is that number too (so the page reads right on GitHub): a page
cannot go on saying 24 when the table holds 30.

**Leftover RST tables.** numpydoc docstrings may not hold reStructuredText "simple
tables" (rows of ``=====  =====``): mkdocstrings renders them as runs of ``=``.  The hook
fails the build on any page whose HTML shows such a run outside code blocks
(``rst_table_leftovers``; ``tests/test_package.py`` checks the docstrings the same way
without building the site).
"""

from __future__ import annotations

import importlib
import inspect
import re
import types
from pathlib import Path
from typing import Any

API_DIR = Path(__file__).resolve().parent / "api"
DIRECTIVE = re.compile(r"^::: ([\w.]+)\s*$", re.MULTILINE)
MARKER = "<!-- api:all -->"
#: modules that are not the home of a top-level name: the compatibility package re-exports
#: core names, and the pytest plugin (which needs pytest, not installed to build the docs)
CORE_EXCLUDED = ("portable_layers.cs231n", "portable_layers.pytest_plugin")


def documented_modules(api_dir: Path = API_DIR) -> list[str]:
    """The modules named by a ``::: module`` directive in the API pages, page by page."""
    found: list[str] = []
    for page in sorted(api_dir.glob("*.md")):
        found += [m for m in DIRECTIVE.findall(page.read_text(encoding="utf-8"))
                  if m not in found]
    return found


def api_locations(api_dir: Path = API_DIR) -> dict[str, str | None]:
    """For every name of ``portable_layers.__all__``, the identifier it is documented
    under in the API reference (``module.name``, or the module itself), else None."""
    import portable_layers

    modules = {name: importlib.import_module(name) for name in documented_modules(api_dir)
               if name != "portable_layers" and not name.startswith(CORE_EXCLUDED)}
    out: dict[str, str | None] = {}
    for name in portable_layers.__all__:
        obj = getattr(portable_layers, name)
        where = None
        if isinstance(obj, types.ModuleType):
            where = obj.__name__ if obj.__name__ in modules else None
        else:
            for mod_name, mod in modules.items():
                if name in getattr(mod, "__all__", ()) \
                        and getattr(mod, name, None) is obj:
                    where = f"{mod_name}.{name}"
                    break
        out[name] = where
    return out


ROLE = re.compile(r":(?:py:)?\w+:`~?([\w.]+)`")


def _summary(obj: Any) -> str:
    """The first paragraph of ``obj``'s docstring on one line, Sphinx roles as code."""
    doc = inspect.getdoc(obj) if not isinstance(obj, str) else None
    if not doc:
        return ""
    first = " ".join(doc.strip().split("\n\n")[0].split())
    return ROLE.sub(r"`\1`", first).replace("|", "\\|")


def api_table(api_dir: Path = API_DIR) -> str:
    """The Markdown table that replaces the marker."""
    import portable_layers

    rows = ["| name | what |", "|---|---|"]
    missing = []
    for name, where in api_locations(api_dir).items():
        obj = getattr(portable_layers, name)
        if name == "__version__":
            rows.append(f"| `__version__` | the package version, `{obj}` |")
        elif where is None:
            missing.append(name)
        else:
            rows.append(f"| [`{name}`][{where}] | {_summary(obj)} |")
    if missing:
        msg = (f"docs/hooks.py: portable_layers.__all__ names {missing} that no page of "
               f"{api_dir} documents (add a '::: module' directive that exports them)")
        raise ValueError(msg)
    return "\n".join(rows) + "\n"


def _case_count() -> int:
    from portable_layers.cases import case_names

    return len(case_names())  # what `python -m portable_layers check` walks


#: ``<!-- count:NAME -->`` -> a function computing the number from the code
COUNTS = {"layer-cases": _case_count}
COUNT = re.compile(r"<!-- count:([\w-]+) -->(.*?)<!-- /count -->")


def counts_in(markdown: str) -> list[tuple[str, str, int]]:
    """``(name, number typed in the page, number computed)`` for each count marker."""
    out = []
    for name, typed in COUNT.findall(markdown):
        if name not in COUNTS:
            msg = f"docs/hooks.py: unknown count marker {name!r} (known: {sorted(COUNTS)})"
            raise ValueError(msg)
        out.append((name, typed, COUNTS[name]()))
    return out


def render_counts(markdown: str) -> str:
    """``markdown`` with every count marker replaced by its computed number."""
    counts_in(markdown)  # unknown names fail here
    return COUNT.sub(lambda m: str(COUNTS[m.group(1)]()), markdown)


#: a line of reStructuredText simple-table borders: two or more runs of ``=``
RST_BORDER = re.compile(r"^[ \t]*={2,}(?:[ \t]+={2,})+[ \t]*$", re.MULTILINE)
CODE = re.compile(r"<(pre|code)\b.*?</\1>", re.DOTALL)
TAG = re.compile(r"<[^>]+>")


def rst_table_leftovers(text: str, *, html: bool = False) -> list[str]:
    """The lines of ``text`` that are RST simple-table borders (``html``: outside code
    blocks, tags removed, so a table shown in a code block is allowed)."""
    if html:
        text = TAG.sub("\n", CODE.sub("", text))
    return [line.strip() for line in RST_BORDER.findall(text)]


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, api_table())
    return render_counts(markdown)


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    found = rst_table_leftovers(html, html=True)
    if found:
        from mkdocs.exceptions import PluginError

        msg = (f"docs/hooks.py: {page.file.src_path} shows a raw reStructuredText table "
               f"({found[0]!r}); write the docstring's table as a Markdown table or a list")
        raise PluginError(msg)
    return html
