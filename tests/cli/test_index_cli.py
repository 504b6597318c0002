from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from resonance_callback import IndexWriter, search
from resonance_callback.cli import main

from ..beamtime_fixture import OWNERS, Site


def invoke(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def add_all(site: Site, index: Path) -> None:
    for label, db_path in site.beamtimes.items():
        owner = OWNERS[label]
        result = invoke("index", "add-beamtime", index, db_path, "--researcher", owner,
                        "--root", site.researchers[owner], "--label", label)
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize("command", [
    ["index"], ["index", "add-beamtime"], ["index", "move-researcher"],
    ["index", "remove-beamtime"], ["reindex"], ["search"],
])
def test_every_index_command_has_help_with_an_example(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert "Example:" in result.output and "resonance-callback" in result.output


def test_add_beamtime_indexes_every_run_like_live_indexing(shared_site: Site,
                                                          tmp_path: Path) -> None:
    index = tmp_path / "cli-index.db"
    add_all(shared_site, index)
    assert search(index) == search(shared_site.index)


def test_add_beamtime_reports_what_it_indexed(shared_site: Site, tmp_path: Path) -> None:
    db_path = shared_site.beamtimes["2026-04"]
    result = invoke("index", "add-beamtime", tmp_path / "i.db", db_path,
                    "--researcher", "Alice Smith", "--root", shared_site.alice_root)
    assert result.exit_code == 0
    assert result.output.startswith("Indexed 3 runs of beamtime 'beamtime'")
    # Adding it again without --label keeps the label it has.
    with IndexWriter(tmp_path / "i.db") as writer:
        rid = writer.find_researcher("Alice Smith")
        writer.register_beamtime(rid, "April", db_path)
    result = invoke("index", "add-beamtime", tmp_path / "i.db", db_path,
                    "--researcher", "Alice Smith", "--root", shared_site.alice_root)
    assert "beamtime 'April'" in result.output


def test_add_beamtime_outside_the_root_is_one_error_line(shared_site: Site,
                                                         tmp_path: Path) -> None:
    result = invoke("index", "add-beamtime", tmp_path / "i.db", shared_site.beamtimes["2026-03"],
                    "--researcher", "Bob Jones", "--root", shared_site.bob_root)
    assert result.exit_code == 1
    assert result.output.startswith("Error: beamtime database ")
    assert "is not under" in result.output and len(result.output.splitlines()) == 1


def test_search_prints_a_table_with_the_beamtime_of_each_run(shared_site: Site) -> None:
    result = invoke("search", shared_site.index, "--sample", "PS-1")
    assert result.exit_code == 0
    header, *rows = result.output.splitlines()
    assert header.split() == ["START", "SCAN", "UID", "PLAN", "SAMPLE", "STATUS", "RESEARCHER",
                              "BEAMTIME", "DATABASE"]
    assert len(rows) == 3
    assert "2026-04" in rows[0] and str(shared_site.beamtimes["2026-04"]) in rows[0]
    assert all("Alice Smith" in row and "PS-1" in row for row in rows)


def test_search_json_lists_every_field_for_scripts(shared_site: Site) -> None:
    result = invoke("search", shared_site.index, "--researcher", "Bob Jones", "--json")
    assert result.exit_code == 0
    runs = json.loads(result.output)
    assert [run["plan_name"] for run in runs] == ["rel_scan", "count"]
    assert runs[1]["tags"] == ["calibration"]
    assert runs[1]["db_path"] == str(shared_site.beamtimes["bob-march"])
    assert {"uid", "scan_id", "time_start", "time_stop", "exit_status", "researcher",
            "beamtime", "num_events"} <= set(runs[0])


def test_search_options_reach_the_filters(shared_site: Site) -> None:
    result = invoke("search", shared_site.index, "--plan", "*scan", "--tag", "production",
                    "--where", "proposal=1002", "--since", "2000-01-01", "--until", "2999-01-01",
                    "--json")
    assert [(r["plan_name"], r["sample_name"]) for r in json.loads(result.output)] == [
        ("scan", "PS-2")]
    result = invoke("search", shared_site.index, "--where", "proposal=1001",
                    "--where", "plan_name=count", "--json")
    assert [r["sample_name"] for r in json.loads(result.output)] == ["PS-1"]


def test_search_without_matches_says_so(shared_site: Site) -> None:
    result = invoke("search", shared_site.index, "--sample", "unobtainium")
    assert result.exit_code == 0 and "No runs match." in result.output
    assert invoke("search", shared_site.index, "--sample", "x", "--json").output == "[]\n"


@pytest.mark.parametrize("option, value, message", [
    ("--where", "proposal", "'proposal' is not KEY=VALUE"),
    ("--since", "yesterday", "'yesterday' is not a time"),
])
def test_search_usage_mistakes_are_usage_errors(shared_site: Site, option, value,
                                                message) -> None:
    result = invoke("search", shared_site.index, option, value)
    assert result.exit_code == 2 and message in result.output


def test_reindex_reports_counts(site: Site) -> None:
    result = invoke("reindex", site.index)
    assert result.exit_code == 0
    assert result.output == f"Reindexed 8 runs from 3 beamtimes in {site.index}\n"


def test_reindex_with_a_missing_beamtime_names_it_and_exits_1(site: Site) -> None:
    site.beamtimes["2026-03"].unlink()
    result = invoke("reindex", site.index)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Reindexed 5 runs from 2 beamtimes in {site.index}",
        f"Error: beamtime '2026-03' of Alice Smith not reindexed: no beamtime database at "
        f"{site.beamtimes['2026-03']}",
    ]


def test_move_researcher_re_roots_their_beamtimes(site: Site) -> None:
    new_root = site.base / "mounted" / "bob"
    new_root.parent.mkdir()
    site.bob_root.rename(new_root)
    result = invoke("index", "move-researcher", site.index, "Bob Jones", new_root)
    assert result.exit_code == 0
    assert result.output == f"Bob Jones's 1 beamtimes now resolve under {new_root}\n"
    assert all(r.db_path.is_file() for r in search(site.index, researcher="Bob Jones"))


def test_move_unknown_researcher_is_one_error_line(site: Site) -> None:
    result = invoke("index", "move-researcher", site.index, "Carol", site.base)
    assert result.exit_code == 1
    assert result.output == f"Error: no researcher 'Carol' in index {site.index}\n"


def test_remove_beamtime_drops_its_runs_only(site: Site) -> None:
    result = invoke("index", "remove-beamtime", site.index, site.beamtimes["2026-04"])
    assert result.exit_code == 0 and "and its 3 runs" in result.output
    assert len(search(site.index)) == 5
    assert site.beamtimes["2026-04"].is_file()
    conn = sqlite3.connect(site.index)
    assert conn.execute("SELECT count(*) FROM beamtimes").fetchone()[0] == 2
    conn.close()
