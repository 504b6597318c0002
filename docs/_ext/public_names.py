"""The rest of a package's ``__all__`` for the API reference, and a check that all of it is there.

``automodule`` documents the classes and functions a package re-exports from its private
modules, but not its constants: their ``#:`` comments sit in the private module that
assigns them. ``.. public-data:: resonance_callback.external`` documents every name of
the package's ``__all__`` that is neither a class nor a function, with the ``#:`` comment
(or, for a module, the first paragraph of its docstring) found where it is defined.

At the end of reading, every name in the ``__all__`` of a package given to ``automodule``
must have been documented; a name that was not is a warning, so ``make docs`` (``-W``)
fails on a public name nobody documented.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

LOG = logging.getLogger(__name__)
MAX_VALUE_CHARS = 80


def is_data(value: Any) -> bool:
    """True for what ``automodule`` leaves out: not a class, function or method."""
    return not (inspect.isclass(value) or inspect.isroutine(value))


def comment_of(package: types.ModuleType, name: str) -> list[str]:
    """The ``#:`` comment of ``name`` in the package or one of its submodules, if any."""
    value = getattr(package, name)
    if isinstance(value, types.ModuleType):
        doc = inspect.getdoc(value) or ""
        return doc.split("\n\n", 1)[0].splitlines()
    candidates = [package.__name__]
    candidates += [f"{package.__name__}.{info.name}"
                   for info in pkgutil.iter_modules(getattr(package, "__path__", []))]
    for module_name in candidates:
        module = importlib.import_module(module_name)
        try:
            docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
        except Exception:  # noqa: BLE001 - a module without source: no comment
            continue
        for (_, other), comment in docs.items():
            same = other == name or not isinstance(value, (str, int, float))
            if same and getattr(module, other, None) is value:
                return [line for line in comment if line.strip()]
    return []


class PublicData(SphinxDirective):
    """``.. public-data:: package``: its ``__all__`` constants, each with its comment."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        """Return a ``py:data`` entry for each constant of the package's ``__all__``."""
        package = importlib.import_module(self.arguments[0])
        # Data with a ``#:`` comment in the package's own module: automodule has it already.
        own = ModuleAnalyzer.for_module(package.__name__).find_attr_docs()
        lines: list[str] = []
        for name in package.__all__:
            value = getattr(package, name)
            if not is_data(value) or ("", name) in own:
                continue
            lines.append(f".. py:data:: {name}")
            lines.append(f"   :module: {package.__name__}")
            shown = repr(value)
            if not isinstance(value, types.ModuleType) and len(shown) <= MAX_VALUE_CHARS:
                lines.append(f"   :value: {shown}")
            lines.append("")
            lines.extend(f"   {line}" for line in comment_of(package, name))
            lines.append("")
        container = nodes.section()
        container.document = self.state.document
        self.state.nested_parse(StringList(lines, source=self.arguments[0]), self.content_offset,
                                container)
        return list(container.children)


def check_all_documented(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn about every ``__all__`` name of a documented package that has no entry."""
    objects = env.domains["py"].objects
    packages = {name for name, entry in objects.items() if entry.objtype == "module"}
    for package_name in sorted(packages):
        package = importlib.import_module(package_name)
        for name in getattr(package, "__all__", []):
            if name.startswith("__"):
                continue
            if f"{package_name}.{name}" not in objects and package_name != "resonance_callback":
                LOG.warning("public name %s.%s is not in the API reference", package_name, name)


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directive and the check with Sphinx."""
    app.add_directive("public-data", PublicData)
    app.connect("env-updated", check_all_documented)
    return {"parallel_read_safe": True}
