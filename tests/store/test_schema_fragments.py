"""The run_metadata DDL is written once (resonance_callback/sql/run_metadata.sql).

Both kinds of database include it from their migrations; every migration renders to
the bytes it shipped with, so files made by older releases replay the same SQL.
"""

from __future__ import annotations

import hashlib
import sqlite3
from importlib import resources
from pathlib import Path

import pytest

from resonance_callback import _sql_files as sql_text
from resonance_callback import _sqlite as schema

#: sha256 of each migration as shipped (the text a database runs).
SHIPPED = {
    ("beamtime", "0001_initial.sql"):
        "fa0da7f667589d3a35320a5f5555e3cf831e9bdaa0c74882043a8f5987fb2acb",
    ("beamtime", "0002_recovery.sql"):
        "718fc1540a6f0277893f6aefe9fccbb7f2eb5c8c37b272bcef32cbb80e81d3e4",
    ("beamtime", "0003_run_queries.sql"):
        "3aa0d063a7ac7e2d9ce807ef3b8f273e49019988d51c84633b6aa818e7e489a1",
    ("beamtime", "0004_event_order.sql"):
        "6fd17c5bada4b05b778edf72ce6280615ae0351e30e39d5af78c5eb833f692b3",
    ("beamtime", "0005_linear_run_metadata.sql"):
        "22358cfa5957d19dcbbc0080a588eeafe509ae97823f47e46661f75495f009de",
    ("beamtime", "0006_external_documents_per_run.sql"):
        "9ad3d3e9c268924a0c85279ba103a71453c28083285fd9aa3f4af50281934d61",
    ("beamtime", "0007_acknowledged_problems.sql"):
        "0e553e3569358e623417cc022179ed7d252807b40c340565526267633bfa9532",
    ("beamtime", "0008_frame_spans.sql"):
        "54c9a8de9a19865fe5b0fb4526ed58a1adcbdd259a27c809c1d616538d9fbe41",
    ("beamtime", "0009_frame_store.sql"):
        "745300d4e5f127c68bcf65bb411500bbdb409626847ddbb753b51f90cf717c36",
    ("index", "0001_initial.sql"):
        "ab32cbbfe4fc9d3ffcc30368c598f6a939d50dfbac87ff5d8760bccb021ed29d",
    ("index", "0002_run_queries.sql"):
        "5a3d31ceda0eb1b12c52f3549bdcf3ada78fa3f07a17f1c58139e9354a24920f",
    ("index", "0003_linear_run_metadata.sql"):
        "25d3627abb6cb34fcdace9e402a6a38eb8e929750b2fbd2d0f1d6bf05a591a0e",
}


@pytest.mark.parametrize("kind", ["beamtime", "index"])
def test_every_shipped_migration_renders_to_the_bytes_it_shipped_with(kind: str) -> None:
    for _number, name, sql in sql_text._migrations(kind):
        if (kind, name) in SHIPPED:
            assert hashlib.sha256(sql.encode()).hexdigest() == SHIPPED[kind, name], name


def _sql_files(package: str) -> list[str]:
    folder = resources.files(package) / "sql"
    return [entry.read_text(encoding="utf-8") for entry in folder.iterdir()
            if entry.name.endswith(".sql")]


def test_the_run_metadata_view_is_written_in_one_file_only() -> None:
    texts = [*_sql_files("resonance_callback.store"), *_sql_files("resonance_callback.index"),
             *_sql_files("resonance_callback")]
    for statement in ("CREATE VIEW run_metadata_leaves", "CREATE TABLE run_metadata ",
                      "CREATE TRIGGER run_metadata_insert"):
        assert sum(text.count(statement) for text in texts) == 1, statement


def _schema_of(path: Path, name: str) -> str | None:
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()
    return None if row is None else row[0]


def test_a_beamtime_and_an_index_get_the_same_run_metadata_definitions(tmp_path: Path) -> None:
    beamtime, index = tmp_path / "bt.db", tmp_path / "index.db"
    schema.connect(beamtime, "beamtime").close()
    schema.connect(index, "index").close()
    for name in ("run_metadata", "run_metadata_leaves", "run_metadata_key_value",
                 "run_metadata_insert", "run_metadata_update", "run_metadata_delete"):
        assert _schema_of(beamtime, name) is not None
        assert _schema_of(beamtime, name) == _schema_of(index, name), name


def test_an_include_of_a_fragment_that_does_not_exist_names_it() -> None:
    with pytest.raises(KeyError, match="run_metadata.sql nothing"):
        schema.render("SELECT 1;\n-- @include run_metadata.sql nothing\n")
