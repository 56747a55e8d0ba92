"""Griffe extension: Sphinx roles in the docstrings become cross-references in the site.

The docstrings write references the Sphinx way (``:func:`check_layer```,
``:class:`~portable_layers.solver.Solver```); MkDocs would show the role literally.  This
extension, loaded by mkdocstrings (``extensions`` in ``mkdocs.yml``), rewrites each role
into an optional mkdocs-autorefs reference: a link when the target is documented on some
page of the API reference, plain code otherwise (an optional reference never warns, so
``mkdocs build --strict`` is not broken by a reference to an undocumented name).  The
docstrings themselves are unchanged.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|data|attr|mod|exc|obj|const):`(~?)([\w.]+)`")


def _resolve(obj: griffe.Object, target: str) -> str:
    """The full dotted path ``target`` most likely names, seen from ``obj``."""
    if target.startswith("portable_layers"):
        return target
    head = target.split(".")[0]
    for scope in (obj if isinstance(obj, (griffe.Class, griffe.Module)) else obj.parent,
                  obj.module):
        if scope is not None and head in scope.members:
            return f"{scope.path}.{target}"
    return target


class SphinxRoles(griffe.Extension):
    """Rewrite ``:role:`target``` in every docstring into an optional cross-reference."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        # the package loaded first (``portable_layers``) is not passed to on_object
        self.on_object(obj=pkg)

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is None or ":" not in obj.docstring.value:
            return

        def ref(m: re.Match[str]) -> str:
            tilde, target = m.group(1), m.group(2)
            shown = target.rsplit(".", 1)[-1] if tilde else target
            ident = html.escape(_resolve(obj, target), quote=True)
            return f'<autoref identifier="{ident}" optional><code>{shown}</code></autoref>'

        obj.docstring.value = ROLE.sub(ref, obj.docstring.value)
