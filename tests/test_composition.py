"""The writer and the callback are composed: no class of store/ or callback/ extends ours.

Issue 23: one writer class holding its parts and a conflict policy passed in,
one callback class holding its collaborators; exceptions (the error taxonomy),
Protocols and generics aside.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import resonance_callback
from resonance_callback import errors

PACKAGE = Path(resonance_callback.__file__).parent
#: Bases a class of ours may have: outside the package, typing's, or an error of ours.
ALLOWED = {"Protocol", "Generic", "NamedTuple", "Enum", *errors.__all__}


def _ours(tree: ast.Module) -> set[str]:
    """Names a module defines or imports from the package."""
    names = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "resonance_callback"):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _base_name(base: ast.expr) -> str:
    if isinstance(base, ast.Subscript):
        base = base.value
    if isinstance(base, ast.Attribute):
        return base.attr
    return base.id if isinstance(base, ast.Name) else ""


@pytest.mark.parametrize("package", ["store", "callback"])
def test_no_class_extends_another_class_of_the_package(package: str) -> None:
    found = []
    for path in sorted((PACKAGE / package).glob("*.py")):
        tree = ast.parse(path.read_text())
        ours = _ours(tree) - ALLOWED
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                found += [f"{path.name}: {node.name}({_base_name(b)})" for b in node.bases
                          if _base_name(b) in ours]
    assert found == []
