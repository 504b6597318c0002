"""The declared public surface: what `import resonance_callback` offers, and nothing else."""

from __future__ import annotations

import resonance_callback
from resonance_callback import errors


def test_all_is_sorted_and_every_name_exists() -> None:
    names = resonance_callback.__all__
    assert names == sorted(names)
    for name in names:
        assert hasattr(resonance_callback, name), name


def test_public_names_without_underscore_are_all_declared() -> None:
    public = {n for n in vars(resonance_callback) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(resonance_callback, n)).__name__ == "module"}
    assert public - modules == set(resonance_callback.__all__) - {"__version__"}


def test_every_library_exception_derives_from_the_one_base() -> None:
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, errors.ResonanceError)
        assert cls.__doc__, f"{name} needs a docstring saying when it is raised"


def test_spec_exception_types_are_kept() -> None:
    import sqlite3

    assert issubclass(errors.WriterStateError, RuntimeError)
    assert issubclass(errors.BeamtimeDatabaseError, sqlite3.DatabaseError)
