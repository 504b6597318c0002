"""One run lookup and one run filter: ``bt[...]``, ``bt.runs()``, ``runs``, ``show``, ``search``.

The beamtime side and the master index read a run key and a filter the same
way, and list runs in the same order (newest first).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import bluesky.plans as bp
import event_model
import pytest
from click.testing import CliRunner
from ophyd.sim import det, motor

from resonance_callback import (
    FilterError,
    ResonanceError,
    RunLookupError,
    RunWriterCallback,
    open_beamtime,
    search,
)
from resonance_callback.cli import main
from resonance_callback.read import list_runs


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def beamtime(RE, tmp_path: Path) -> Path:
    """Five runs: two gold samples, silver, tags, operators and an int proposal."""
    db_path = tmp_path / "bt" / "beamtime.db"
    db_path.parent.mkdir()
    with RunWriterCallback(db_path) as callback:
        RE.subscribe(callback)
        RE(bp.count([det], num=2), sample="gold foil", operator="ana", proposal=1001,
           tags=["calibration", "gold"])
        RE(bp.scan([det], motor, 0, 1, 3), sample="gold wire", operator="ben", proposal=1001)
        RE(bp.count([det], num=1), sample="gold", operator="ana", proposal=1002,
           tags="calibration")
        RE(bp.scan([det], motor, 0, 1, 4), sample="silver", operator="ana")
        RE(bp.count([det], num=3), sample="silver", operator="cy", proposal="1001")
    return db_path


@pytest.fixture
def index(beamtime: Path, tmp_path: Path) -> Path:
    index_path = tmp_path / "index.db"
    result = invoke("index", "add-beamtime", index_path, beamtime, "--researcher", "Ana",
                    "--root", beamtime.parent)
    assert result.exit_code == 0, result.output
    return index_path


def bt_uids(db_path: Path, **filters: Any) -> list[str]:
    with open_beamtime(db_path) as bt:
        return [run.uid for run in bt.runs(**filters)]


def cli_args(filters: dict[str, Any]) -> list[str]:
    args = []
    for key, value in filters.items():
        if key == "where":
            for k, v in value.items():
                args += ["--where", f"{k}={v}"]
        else:
            option = {"exit_status": "status", "scan_id": "scan-id"}.get(key, key)
            args += [f"--{option}", str(value)]
    return args


TODAY = datetime.date.today().isoformat()

FILTERS = [
    {},
    {"sample": "gold*"},
    {"sample": "gold"},
    {"sample": "gold?[fw]*"},
    {"plan": "count"},
    {"plan": "sc*", "sample": "silver"},
    {"exit_status": "success"},
    {"exit_status": "open"},
    {"scan_id": 2},
    {"tag": "calibration"},
    {"tag": "gol*"},
    {"where": {"operator": "ana"}},
    {"where": {"proposal": "1001"}},
    {"where": {"tags": "gold"}},
    {"where": {"operator": "ana", "plan_name": "count"}},
    {"since": TODAY, "until": TODAY},
    {"until": "2000-01-01"},
]


@pytest.mark.parametrize("filters", FILTERS, ids=[json.dumps(f) for f in FILTERS])
def test_bt_runs_runs_json_and_search_agree_on_the_same_filters(
        beamtime: Path, index: Path, filters: dict[str, Any]) -> None:
    expected = bt_uids(beamtime, **filters)
    listed = invoke("runs", beamtime, "--json", *cli_args(filters))
    assert listed.exit_code == 0, listed.output
    assert [run["uid"] for run in json.loads(listed.stdout)] == expected
    found = invoke("search", index, "--json", *cli_args(filters))
    assert found.exit_code == 0, found.output
    assert [run["uid"] for run in json.loads(found.stdout)] == expected
    assert [run.uid for run in search(index, **filters)] == expected


def test_a_sample_pattern_finds_the_same_runs_in_python_and_on_the_command_line(
        beamtime: Path) -> None:
    with open_beamtime(beamtime) as bt:
        gold = bt.runs(sample="gold*")
        assert [run.sample.name for run in gold] == ["gold", "gold wire", "gold foil"]
        assert [run.scan_id for run in gold] == [3, 2, 1]  # newest first
    listed = json.loads(invoke("runs", beamtime, "--sample", "gold*", "--json").stdout)
    assert [run["uid"] for run in listed] == [run.uid for run in gold]


def test_a_name_without_wildcards_matches_exactly(beamtime: Path) -> None:
    with open_beamtime(beamtime) as bt:
        assert [run.scan_id for run in bt.runs(sample="gold")] == [3]
        assert bt.runs(sample="gol") == []


def test_a_where_value_matches_an_element_of_a_stored_list_and_numbers_given_as_text(
        beamtime: Path) -> None:
    with open_beamtime(beamtime) as bt:
        assert [r.scan_id for r in bt.runs(where={"tags": "calibration"})] == [3, 1]
        assert [r.scan_id for r in bt.runs(where={"proposal": 1001})] == [2, 1]
        assert [r.scan_id for r in bt.runs(where={"proposal": "1001"})] == [5, 2, 1]
        assert [r.scan_id for r in bt.runs(where={"tags": ["calibration", "gold"]})] == [1]


def test_iterating_a_beamtime_and_listing_runs_share_the_newest_first_order(
        beamtime: Path) -> None:
    with open_beamtime(beamtime) as bt:
        assert [run.scan_id for run in bt.values()] == [5, 4, 3, 2, 1]
    assert [row.scan_id for row in list_runs(beamtime)] == [5, 4, 3, 2, 1]


# -- run keys -----------------------------------------------------------------------------


@pytest.mark.parametrize("key, scan_id", [
    (1, 1), ("1", 1), ("5", 5), (-1, 5), ("-1", 5), ("-5", 1), (-2, 4),
])
def test_a_run_key_is_a_scan_id_or_a_position_from_the_newest(
        beamtime: Path, key: Any, scan_id: int) -> None:
    with open_beamtime(beamtime) as bt:
        assert bt[key].scan_id == scan_id


def test_a_string_of_digits_is_a_scan_id_first_and_else_a_uid_prefix(tmp_path: Path) -> None:
    db_path = tmp_path / "bt.db"
    with RunWriterCallback(db_path) as callback:
        for uid, scan_id in (("1234abcd-0001", 1), ("9999abcd-0002", 2)):
            bundle = event_model.compose_run(uid=uid, metadata={"scan_id": scan_id})
            callback("start", bundle.start_doc)
            callback("stop", bundle.compose_stop())
    with open_beamtime(db_path) as bt:
        assert bt["1"].uid == "1234abcd-0001"  # scan_id 1
        assert bt["2"].uid == "9999abcd-0002"  # scan_id 2
        assert bt["1234"].uid == "1234abcd-0001"  # no scan_id 1234: a uid prefix
        assert bt["9999"].uid == "9999abcd-0002"
        assert "3" not in bt
    assert invoke("show", db_path, "9999").stdout.startswith("Run 9999abcd-0002\n")


def test_a_scan_id_used_twice_is_ambiguous_and_the_error_lists_both_runs(
        RE, tmp_path: Path) -> None:
    db_path = tmp_path / "bt.db"
    with RunWriterCallback(db_path) as callback:
        RE.subscribe(callback)
        (first,) = RE(bp.count([det]), scan_id=7).run_start_uids
        (second,) = RE(bp.count([det]), scan_id=7).run_start_uids
    with open_beamtime(db_path) as bt, pytest.raises(RunLookupError) as raised:
        bt[7]
    assert isinstance(raised.value, KeyError)
    assert "scan_id 7 is ambiguous" in str(raised.value)
    assert first in str(raised.value) and second in str(raised.value)
    result = invoke("show", db_path, "7")
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1 and first in result.stderr


def test_show_takes_a_scan_id_or_minus_n(beamtime: Path) -> None:
    with open_beamtime(beamtime) as bt:
        first, latest = bt[1].uid, bt[-1].uid
    shown = invoke("show", beamtime, "1")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith(f"Run {first}\n")
    newest = invoke("show", beamtime, "-1", "--json")
    assert newest.exit_code == 0, newest.output
    assert json.loads(newest.stdout)["run"]["uid"] == latest
    after_dashes = invoke("show", beamtime, "--", "-1")
    assert after_dashes.stdout.startswith(f"Run {latest}\n")
    missing = invoke("show", beamtime, "-9")
    assert missing.exit_code == 1 and "no run -9" in missing.stderr


def test_export_and_plot_take_a_scan_id_or_minus_n(beamtime: Path, tmp_path: Path) -> None:
    with open_beamtime(beamtime) as bt:
        latest, second = bt[-1], bt[2]
        latest_docs = len(list(latest.documents()))
    exported = invoke("export", beamtime, "-1", "-o", tmp_path / "latest.jsonl")
    assert exported.exit_code == 0, exported.output
    assert latest.uid in exported.stderr
    assert len((tmp_path / "latest.jsonl").read_text().splitlines()) == latest_docs
    plotted = invoke("plot", beamtime, "2", "det", "-o", tmp_path / "p.png")
    assert plotted.exit_code == 0, plotted.output
    assert (tmp_path / "p.png").stat().st_size > 0
    assert second.plan_name == "scan"


# -- errors -------------------------------------------------------------------------------


def test_a_bad_time_on_a_beamtime_is_our_value_error(beamtime: Path) -> None:
    with open_beamtime(beamtime) as bt, pytest.raises(FilterError, match="since: 'last tuesday'"):
        bt.runs(since="last tuesday")
    with pytest.raises(ValueError, match="until: 'soon' is not a time"):
        list_runs(beamtime, until="soon")
    assert issubclass(FilterError, ResonanceError)


def test_a_malformed_where_key_on_the_command_line_is_one_line(beamtime: Path) -> None:
    result = invoke("runs", beamtime, "--where", "a..b=1")
    assert result.exit_code == 1
    assert result.stderr == ("Error: where key 'a..b' is not a key or a dotted path of keys "
                             "(no empty parts, no quotes)\n")
