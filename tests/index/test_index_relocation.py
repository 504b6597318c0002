from __future__ import annotations

import shutil
from pathlib import Path

from resonance_callback import IndexWriter, reindex, search
from resonance_callback import _sqlite as schema

from ..beamtime_fixture import Site


def move_tree(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target)
    shutil.rmtree(source)


def test_moved_researcher_tree_resolves_and_opens_under_the_new_root(site: Site) -> None:
    before = {run.uid: run.relative_path for run in search(site.index, researcher="Alice Smith")}
    new_root = site.base / "mnt" / "archive" / "alice"
    move_tree(site.alice_root, new_root)

    with IndexWriter(site.index) as writer:
        rid = writer.find_researcher("Alice Smith")
        assert writer.move_researcher(rid, new_root) == rid

    runs = search(site.index, researcher="Alice Smith")
    assert {run.uid: run.relative_path for run in runs} == before
    for run in runs:
        assert run.db_path.is_relative_to(new_root)
        conn = schema.connect(run.db_path, "beamtime", readonly=True)
        try:
            assert conn.execute("SELECT plan_name FROM runs WHERE uid = ?",
                                (run.uid,)).fetchone() == (run.plan_name,)
        finally:
            conn.close()
    # Bob's tree did not move and still resolves where it was.
    assert all(run.db_path.is_file() for run in search(site.index, researcher="Bob Jones"))


def test_reindex_after_a_move_reads_the_moved_databases(site: Site) -> None:
    new_root = site.base / "mnt" / "alice"
    move_tree(site.alice_root, new_root)
    assert len(reindex(site.index).problems) == 2  # not yet re-rooted: both reported

    with IndexWriter(site.index) as writer:
        writer.move_researcher(writer.find_researcher("Alice Smith"), new_root)
    report = reindex(site.index)
    assert report.ok and report.runs_indexed == 8 and report.runs_removed == 0


def test_copied_tree_registered_under_its_new_root_indexes_the_same_runs(site: Site) -> None:
    """A copy mounted elsewhere may also be registered as a researcher of its own."""
    copy_root = site.base / "copy" / "bob"
    shutil.copytree(site.bob_root, copy_root)
    with IndexWriter(site.index) as writer:
        rid = writer.register_researcher("Bob Jones", copy_root)
        writer.register_beamtime(rid, "bob-march", copy_root / "sessions" / "march.db")
    reindex(site.index)
    runs = search(site.index, researcher="Bob Jones")
    assert len(runs) == 2  # a uid lives in one beamtime: no duplicates
    assert all(run.db_path.is_relative_to(copy_root) for run in runs)
