from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from resonance_callback import (
    IndexEntryError,
    IndexWriter,
    NotABeamtimeError,
    StorageError,
    search,
)
from resonance_callback.index._search import parse_time

from ..beamtime_fixture import Site


def uids(runs) -> list[str]:
    return [run.uid for run in runs]


def by(engine_site: Site, **filters) -> set[tuple[str | None, str | None]]:
    """(plan, sample) pairs of the runs the filters select."""
    return {(r.plan_name, r.sample_name) for r in search(engine_site.index, **filters)}


def test_search_without_filters_returns_every_run_newest_first(engine_site: Site) -> None:
    runs = search(engine_site.index)
    assert len(runs) == 8
    starts = [run.time_start for run in runs]
    assert starts == sorted(starts, reverse=True)
    assert runs[0].plan_name == "rel_scan" and runs[-1].scan_id == min(r.scan_id for r in runs)


def test_search_result_names_the_beamtime_and_its_absolute_database(engine_site: Site) -> None:
    [run] = search(engine_site.index, sample="Si-wafer")
    assert (run.researcher, run.beamtime) == ("Alice Smith", "2026-03")
    assert run.db_path == engine_site.beamtimes["2026-03"]
    assert run.db_path.is_absolute() and run.db_path.is_file()
    assert (run.plan_name, run.exit_status, run.num_events) == ("count", "success", {"primary": 2})
    assert run.time_stop > run.time_start and isinstance(run.scan_id, int)


def test_search_by_sample_is_exact(engine_site: Site) -> None:
    assert by(engine_site, sample="PS-1") == {("count", "PS-1"), ("scan", "PS-1")}
    assert len(search(engine_site.index, sample="PS-1")) == 3
    assert search(engine_site.index, sample="PS") == []


def test_search_by_sample_accepts_wildcards(engine_site: Site) -> None:
    assert {r.sample_name for r in search(engine_site.index, sample="PS-*")} == {"PS-1", "PS-2"}


def test_search_by_plan(engine_site: Site) -> None:
    assert by(engine_site, plan="scan") == {("scan", "PS-1"), ("scan", "PS-2")}
    assert by(engine_site, plan="*scan") == {("scan", "PS-1"), ("scan", "PS-2"),
                                             ("rel_scan", "Au-foil")}


def test_search_by_researcher(engine_site: Site) -> None:
    runs = search(engine_site.index, researcher="Bob Jones")
    assert {r.sample_name for r in runs} == {"Au-foil"} and len(runs) == 2
    assert len(search(engine_site.index, researcher="Alice*")) == 6


def test_search_by_tag(engine_site: Site) -> None:
    assert by(engine_site, tag="calibration") == {("count", "PS-1"), ("count", "Au-foil")}
    assert by(engine_site, tag="production") == {("scan", "PS-1"), ("scan", "PS-2")}


def test_search_where_matches_a_start_document_string(engine_site: Site) -> None:
    assert by(engine_site, where={"operator": "bob"}) == {("count", "Au-foil")}


def test_search_where_string_matches_a_stored_number(engine_site: Site) -> None:
    assert len(search(engine_site.index, where={"proposal": "1002"})) == 3
    assert len(search(engine_site.index, where={"proposal": 1002})) == 3
    assert by(engine_site, where={"proposal": "1001-b"}) == {("count", "Si-wafer")}


def test_search_where_matches_a_member_of_a_list(engine_site: Site) -> None:
    assert by(engine_site, where={"detectors": "det4"}) == {("count", "Si-wafer"),
                                                            ("count", "Au-foil")}


def test_search_where_follows_a_dotted_path_into_nested_metadata(engine_site: Site) -> None:
    assert by(engine_site, where={"sample_info.formula": "C8H8"}) == {("count", "PS-1")}
    assert search(engine_site.index, where={"sample_info": "C8H8"}) == []


def test_search_where_pairs_must_all_hold(engine_site: Site) -> None:
    assert by(engine_site, where={"proposal": 1001, "plan_name": "scan"}) == {("scan", "PS-1")}


def test_search_filters_combine(engine_site: Site) -> None:
    assert by(engine_site, sample="PS-*", plan="count", researcher="Alice Smith",
              where={"proposal": 1002}) == {("count", "PS-1")}


def test_search_since_and_until_bound_the_start_time(engine_site: Site) -> None:
    runs = search(engine_site.index)  # newest first
    newer, older = runs[2].time_start, runs[3].time_start
    boundary = (newer + older) / 2
    assert uids(search(engine_site.index, since=boundary)) == uids(runs[:3])
    assert uids(search(engine_site.index, until=boundary)) == uids(runs[3:])
    when = dt.datetime.fromtimestamp(boundary)
    assert uids(search(engine_site.index, since=when)) == uids(runs[:3])
    assert uids(search(engine_site.index, until=when.isoformat())) == uids(runs[3:])


def test_since_is_inclusive_and_until_exclusive(engine_site: Site) -> None:
    run = search(engine_site.index)[4]
    assert run.uid in uids(search(engine_site.index, since=run.time_start))
    assert run.uid not in uids(search(engine_site.index, until=run.time_start))


def _runs_at(tmp_path: Path, times: dict[str, dt.datetime], index: Path | str) -> Path | str:
    with IndexWriter(index) as writer:
        rid = writer.register_researcher("Alice", tmp_path)
        bid = writer.register_beamtime(rid, "bt", tmp_path / "bt.db")
        for uid, when in times.items():
            writer.index_run(uid, rid, bid, "count", time_start=when.timestamp())
    return index


def test_a_date_as_until_includes_that_whole_day(tmp_path: Path, index_target: Path | str
                                                 ) -> None:
    index = _runs_at(tmp_path, index=index_target, times={
        "eve": dt.datetime(2026, 3, 4, 23, 59), "day": dt.datetime(2026, 3, 5, 10, 0),
        "late": dt.datetime(2026, 3, 5, 23, 59, 59), "next": dt.datetime(2026, 3, 6, 0, 0),
    })
    assert uids(search(index, since="2026-03-05", until="2026-03-05")) == ["late", "day"]
    assert uids(search(index, since=dt.date(2026, 3, 5), until=dt.date(2026, 3, 5))) == [
        "late", "day"]
    assert uids(search(index, until="2026-03-05T23:59:59")) == ["day", "eve"]


def test_runs_without_a_start_time_come_last(tmp_path: Path, index_target: Path | str) -> None:
    index = _runs_at(tmp_path, {"dated": dt.datetime(2026, 1, 1)}, index_target)
    with IndexWriter(index) as writer:
        rid = writer.find_researcher("Alice")
        writer.index_run("undated", rid, writer.beamtimes()[0].id, "count")
    assert uids(search(index)) == ["dated", "undated"]


@pytest.mark.parametrize("value, expected", [
    (1700000000, 1700000000.0),
    ("1700000000.5", 1700000000.5),
    ("2026-03-05T12:00:00+00:00", dt.datetime(2026, 3, 5, 12, tzinfo=dt.UTC).timestamp()),
    (dt.datetime(2026, 3, 5, 12), dt.datetime(2026, 3, 5, 12).timestamp()),
    ("2026-03-05", dt.datetime(2026, 3, 5).timestamp()),
])
def test_parse_time_accepts_unix_datetime_and_iso(value, expected) -> None:
    assert parse_time(value) == pytest.approx(expected)


def test_unreadable_time_is_refused_with_the_value(engine_site: Site) -> None:
    with pytest.raises(IndexEntryError, match="'last tuesday' is not a time"):
        search(engine_site.index, since="last tuesday")


def test_malformed_where_key_is_refused(engine_site: Site) -> None:
    with pytest.raises(IndexEntryError, match="where key 'a..b'"):
        search(engine_site.index, where={"a..b": 1})


def test_search_of_a_missing_index_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no index database at .*missing.db"):
        search(tmp_path / "missing.db")


def test_search_of_a_missing_postgres_database_names_the_url(postgres_server) -> None:
    url = postgres_server.url("missing")
    with pytest.raises(StorageError, match=f"cannot open index {url}"):
        search(url)


def test_search_of_an_empty_postgres_database_says_it_is_not_an_index(postgres_server) -> None:
    url = postgres_server.new_database()
    with pytest.raises(NotABeamtimeError, match="is empty, not an index database"):
        search(url)


def test_indexed_run_to_dict_is_json_ready(engine_site: Site) -> None:
    [run] = search(engine_site.index, sample="Si-wafer")
    data = run.to_dict()
    assert data["db_path"] == str(engine_site.beamtimes["2026-03"])
    assert data["beamtime"] == "2026-03" and data["tags"] == []
