"""MkDocs hook: the table of ``portable_layers.__all__`` on the API reference's first page.

The page ``api/portable_layers.md`` holds the marker ``<!-- api:all -->``; this hook
replaces it with one row per name of ``portable_layers.__all__``, computed at build time:
the name, a cross-reference to its entry in the API reference (the first page whose
``::: module`` directive documents a module that exports it) and the first line of its
docstring.  A name that no page documents is an error that fails the build (and
``tests/test_readme.py`` checks the same without building), so the reference cannot
fall behind the package.
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


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    if MARKER in markdown:
        return markdown.replace(MARKER, api_table())
    return markdown
