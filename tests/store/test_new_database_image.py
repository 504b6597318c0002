"""A new database file is written from the image of its migrated self: the same file in effect."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from resonance_callback import _sqlite as schema


def _schema_of(conn: sqlite3.Connection) -> dict[str, object]:
    return {
        "objects": sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")),
        "application_id": conn.execute("PRAGMA application_id").fetchone()[0],
        "user_version": conn.execute("PRAGMA user_version").fetchone()[0],
        "page_size": conn.execute("PRAGMA page_size").fetchone()[0],
        "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
        "integrity": conn.execute("PRAGMA integrity_check").fetchone()[0],
    }


@pytest.mark.parametrize("kind", ["beamtime", "index"])
def test_new_file_has_exactly_the_schema_its_migrations_make(tmp_path: Path, kind: str) -> None:
    conn = schema.connect(tmp_path / "new.db", kind)
    made = _schema_of(conn)
    conn.close()
    # The same migrations run statement by statement on a file that exists (empty).
    (tmp_path / "migrated.db").touch()
    conn = schema.connect(tmp_path / "migrated.db", kind)
    migrated = _schema_of(conn)
    conn.close()
    assert made == migrated
    assert made["user_version"] == schema.latest_version(kind)
    assert made["journal_mode"] == "wal" and made["integrity"] == "ok"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["migrated.db", "new.db"]


def test_file_made_meanwhile_at_the_path_is_never_replaced(tmp_path: Path) -> None:
    """Another tool's database at the path stays as it is: it is refused, not overwritten."""
    path = tmp_path / "bt.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE mine (x)")
    other.execute("INSERT INTO mine VALUES (42)")
    other.commit()
    other.close()
    with pytest.raises(Exception, match="another application's database"):
        schema.connect(path, "beamtime")
    check = sqlite3.connect(path)
    assert check.execute("SELECT x FROM mine").fetchall() == [(42,)]
    check.close()
