"""The declared public surface: what `import resonance_callback` offers, and nothing else."""

from __future__ import annotations

import importlib
import types

import pytest

import resonance_callback
from resonance_callback import errors

FEATURE_PACKAGES = ("callback", "external", "index", "read", "replay", "serve", "store",
                    "tiled_server")
PUBLIC_MODULES = {*FEATURE_PACKAGES, "cli", "errors", "jsoncodec"}


def isort_order(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 sorts ``__all__`` in: CONSTANTS, then Classes, then functions."""
    if name.isupper() and len(name) > 1:
        return 0, name
    return (1 if name[:1].isupper() else 2), name


def test_all_is_sorted_and_every_name_exists() -> None:
    names = resonance_callback.__all__
    assert names == sorted(names)
    for name in names:
        assert hasattr(resonance_callback, name), name


def test_public_names_without_underscore_are_all_declared() -> None:
    public = {n for n in vars(resonance_callback) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(resonance_callback, n)).__name__ == "module"}
    assert public - modules == set(resonance_callback.__all__) - {"__version__"}


def test_public_module_attributes_are_only_the_feature_packages_errors_jsoncodec_and_cli(
) -> None:
    importlib.import_module("resonance_callback.cli")  # the one not imported by the package
    modules = {
        name
        for name, value in vars(resonance_callback).items()
        if isinstance(value, types.ModuleType) and not name.startswith("_")
    }
    # (``resonance_callback.replay`` is the function, which shadows its package.)
    assert modules <= PUBLIC_MODULES, modules - PUBLIC_MODULES
    assert {"errors", "jsoncodec", "cli"} <= modules


@pytest.mark.parametrize("package", FEATURE_PACKAGES)
def test_feature_package_all_is_sorted_and_every_name_exists(package: str) -> None:
    module = importlib.import_module(f"resonance_callback.{package}")
    names = list(module.__all__)
    assert names == sorted(names, key=isort_order)
    assert len(set(names)) == len(names)
    for name in names:
        assert hasattr(module, name), f"resonance_callback.{package}.{name}"


@pytest.mark.parametrize("package", FEATURE_PACKAGES)
def test_feature_package_public_names_are_all_declared(package: str) -> None:
    module = importlib.import_module(f"resonance_callback.{package}")
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(module.__all__), public - set(module.__all__)


def test_every_library_exception_derives_from_the_one_base() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.ResonanceError)
        assert cls.__doc__, f"{name} needs a docstring saying when it is raised"


def test_spec_exception_types_are_kept() -> None:
    import sqlite3

    assert issubclass(errors.WriterStateError, RuntimeError)
    assert issubclass(errors.BeamtimeDatabaseError, sqlite3.DatabaseError)
    assert issubclass(errors.MissingExtraError, ImportError)
