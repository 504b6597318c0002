"""The conformance harness's offline parts (``make conformance`` runs the rest, not CI).

Nothing here downloads: the classification, the merge and the table, the copy
of an sdist with its conftest addition, the per-test recording plugin (on a
small real pytest run) and the redirect itself (a run written through the
TiledWriter stand-in and read back through our served app).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tools.conformance.run import REPO, ConformanceError, conftest_addition, prepare
from tools.conformance.suites import SUITES, Suite, classify
from tools.conformance.table import causes, merge, normalize, render_markdown, totals

SUITE = Suite(
    name="example-suite", version="1.0", files=("tests/test_x.py",),
    conftest="tests/conftest.py", reference_plugin=None,
    ours_plugin="tools.conformance.redirect_btp",
    renames=(("tests/test_x.py", "def streaming_client(", "def _upstream_streaming_client("),),
    writer_internal={"test_json_backup": "backups", "test_validator.py": "repairs",
                     "test_roundtrip[*-True]": "validate=True"},
)


def result(outcome: str, message: str = "", fixtures: tuple[str, ...] = ("client",),
           notes: tuple[str, ...] = ()) -> dict[str, object]:
    return {"outcome": outcome, "message": message, "fixtures": list(fixtures),
            "notes": list(notes)}


def test_tests_of_tiledwriter_options_are_classed_writer_internal() -> None:
    assert classify(SUITE, "tests/test_x.py::test_json_backup[app0]", ["client"]) == (
        "writer-internal", "backups")
    assert classify(SUITE, "tests/test_validator.py::test_anything", ["client"])[0] == (
        "writer-internal")


def test_a_key_with_parameters_classes_only_the_cases_it_matches() -> None:
    assert classify(SUITE, "tests/test_x.py::test_roundtrip[app0-True]", ["client"]) == (
        "writer-internal", "validate=True")
    assert classify(SUITE, "tests/test_x.py::test_roundtrip[app0-False]", ["client"])[0] == (
        "client-visible")


def test_a_test_without_server_fixtures_is_classed_no_server() -> None:
    assert classify(SUITE, "tests/test_x.py::test_parse[rfc]", ["request"])[0] == "no-server"
    assert classify(SUITE, "tests/test_x.py::test_read[app0]", ["client", "RE"])[0] == (
        "client-visible")


def test_pinned_suites_are_the_releases_the_issue_names() -> None:
    assert {s.requirement for s in SUITES} == {
        "bluesky-tiled-plugins==2.0.12", "databroker==2.0.2"}


def test_backend_parameter_ids_of_both_runs_meet_in_one_row() -> None:
    assert normalize("t.py::test_a[sqlite-tiled-False]") == "t.py::test_a[db-False]"
    assert normalize("t.py::test_a[resonance-False]") == "t.py::test_a[db-False]"
    assert normalize("t.py::test_a[resonance]") == "t.py::test_a[db]"
    rows = merge(SUITE, {"tests/test_x.py::test_a[sqlite-tiled]": result("passed")},
                 {"tests/test_x.py::test_a[resonance]": result("failed", "406: json-seq")})
    assert [(r.test, r.tiledwriter, r.ours, r.message) for r in rows] == [
        ("tests/test_x.py::test_a[db]", "passed", "failed", "406: json-seq")]


def test_a_test_missing_from_one_run_is_absent_there() -> None:
    rows = merge(SUITE, {"tests/test_x.py::test_only_upstream": result("passed")}, {})
    assert (rows[0].tiledwriter, rows[0].ours) == ("passed", "absent")


def test_totals_count_passes_per_class_and_run() -> None:
    rows = merge(SUITE, {
        "tests/test_x.py::test_a": result("passed"),
        "tests/test_x.py::test_b": result("passed"),
        "tests/test_x.py::test_json_backup": result("passed"),
    }, {
        "tests/test_x.py::test_a": result("passed"),
        "tests/test_x.py::test_b": result("failed", "KeyError: 'XAS_Calib'"),
        "tests/test_x.py::test_json_backup": result("failed", "no backup"),
    })
    counted = totals(rows)
    assert counted["client-visible"]["tiledwriter"] == {"passed": 2}
    assert counted["client-visible"]["ours"] == {"passed": 1, "failed": 1}
    assert counted["writer-internal"]["both_pass"] == {"count": 0}
    assert counted["all"]["tests"] == {"count": 3}


def test_markdown_table_has_totals_and_one_escaped_row_per_test() -> None:
    rows = merge(SUITE, {"tests/test_x.py::test_a[x|y]": result("passed"),
                         "tests/test_x.py::test_b": result("passed")},
                 {"tests/test_x.py::test_a[x|y]": result(
                     "failed", "ValueError: a|b", notes=("rejected event e1: ragged",)),
                  "tests/test_x.py::test_b": result("passed")})
    page = render_markdown([(SUITE, rows)], header="# Title")
    assert page.startswith("# Title\n")
    assert "| example-suite-1.0 | client-visible | 2 | 2 | 1 | 1 |" in page
    assert ("| `tests/test_x.py::test_a[x\\|y]` | pass | **FAIL** | client-visible |"
            " ValueError: a\\|b — callback: rejected event e1: ragged |") in page
    assert "| `tests/test_x.py::test_b` | pass | pass | client-visible |  |" in page


def test_failures_against_us_group_by_cause_whatever_uid_or_path_they_name() -> None:
    rows = merge(SUITE, {
        "tests/test_x.py::test_a": result("passed"),
        "tests/test_x.py::test_b": result("passed"),
        "tests/test_x.py::test_c": result("passed"),
        "tests/test_x.py::test_d": result("failed"),
    }, {
        "tests/test_x.py::test_a": result("failed", "KeyError: 'd1b7f3c2e4a5b6c7d8' in /tmp/b.h5"),
        "tests/test_x.py::test_b": result("failed", "KeyError: 'aa11bb22cc33dd44ee' in /tmp/c.h5"),
        "tests/test_x.py::test_c": result("failed", "406: application/json-seq"),
        "tests/test_x.py::test_d": result("failed", "fails upstream too"),
    })
    assert [(cause, [r.test for r in members]) for cause, members in causes(rows)] == [
        ("KeyError: '…' in …", ["tests/test_x.py::test_a", "tests/test_x.py::test_b"]),
        ("406: application/json-seq", ["tests/test_x.py::test_c"]),
    ]


def fake_sdist(root: Path, *, with_config: bool) -> Path:
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "conftest.py").write_text("import pytest\n")
    (root / "tests" / "test_x.py").write_text("def streaming_client(tmp_path):\n    pass\n")
    if with_config:
        (root / "pyproject.toml").write_text("[tool.pytest.ini_options]\naddopts = []\n")
    return root


def test_ours_copy_loads_the_redirect_and_renames_shadowing_fixtures(tmp_path: Path) -> None:
    source = fake_sdist(tmp_path / "src", with_config=True)
    copy = prepare(SUITE, source, tmp_path / "cache", "ours")
    assert (copy / "tests" / "conftest.py").read_text() == (
        "import pytest\n" + conftest_addition("tools.conformance.redirect_btp"))
    assert "def _upstream_streaming_client(" in (copy / "tests" / "test_x.py").read_text()
    assert not (copy / "pytest.ini").exists()
    assert (source / "tests" / "conftest.py").read_text() == "import pytest\n"


def test_reference_copy_is_upstream_as_is(tmp_path: Path) -> None:
    source = fake_sdist(tmp_path / "src", with_config=True)
    copy = prepare(SUITE, source, tmp_path / "cache", "tiledwriter")
    assert (copy / "tests" / "conftest.py").read_text() == "import pytest\n"
    assert "def streaming_client(" in (copy / "tests" / "test_x.py").read_text()


def test_an_sdist_without_pytest_config_gets_an_empty_one(tmp_path: Path) -> None:
    """Else pytest would climb to our pyproject and run upstream's tests with our config."""
    copy = prepare(SUITE, fake_sdist(tmp_path / "src", with_config=False),
                   tmp_path / "cache", "tiledwriter")
    assert (copy / "pytest.ini").read_text().startswith("[pytest]\n#")


def test_a_rename_that_no_longer_matches_upstream_is_an_error(tmp_path: Path) -> None:
    source = fake_sdist(tmp_path / "src", with_config=True)
    (source / "tests" / "test_x.py").write_text("def other_fixture():\n    pass\n")
    with pytest.raises(ConformanceError, match="streaming_client"):
        prepare(SUITE, source, tmp_path / "cache", "ours")


def test_record_plugin_writes_every_outcome_with_its_first_line(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_outcomes.py").write_text(
        "import pytest\n"
        "@pytest.fixture\n"
        "def broken():\n    raise RuntimeError('setup broke')\n"
        "def test_pass():\n    pass\n"
        "def test_fail():\n    assert 1 == 2, 'one is not two'\n"
        "def test_error(broken):\n    pass\n"
        "def test_skip():\n    pytest.skip('not here')\n"
        "@pytest.mark.xfail(reason='known')\n"
        "def test_xfail():\n    assert False\n")
    out = tmp_path / "results.json"
    env = {**os.environ, "CONFORMANCE_RESULTS": str(out),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, "-m", "pytest", "-p", "tools.conformance.record",
                    "-p", "no:cacheprovider", "-q", f"--rootdir={tmp_path}"],
                   cwd=tmp_path, env=env, capture_output=True, timeout=120, check=False)
    recorded = json.loads(out.read_text())
    outcomes = {k.split("::")[1]: v["outcome"] for k, v in recorded.items()}
    assert outcomes == {"test_pass": "passed", "test_fail": "failed", "test_error": "error",
                        "test_skip": "skipped", "test_xfail": "xfailed"}
    assert "one is not two" in recorded["test_outcomes.py::test_fail"]["message"]
    assert "setup broke" in recorded["test_outcomes.py::test_error"]["message"]
    assert recorded["test_outcomes.py::test_error"]["fixtures"] == ["broken"]


def test_stand_in_writer_stores_through_our_callback_and_the_served_client_reads_it(
        tmp_path: Path) -> None:
    from tools.conformance.served import CallbackAsTiledWriter, ServedBeamtime

    served = ServedBeamtime(tmp_path / "beamtime")
    try:
        writer = CallbackAsTiledWriter(served.client, batch_size=1)
        run, desc = uuid.uuid4().hex, uuid.uuid4().hex
        documents = [
            ("start", {"uid": run, "time": 0.0}),
            ("descriptor", {"uid": desc, "run_start": run, "time": 0.0, "name": "primary",
                            "data_keys": {"x": {"source": "sim", "dtype": "number",
                                                "shape": [], "object_name": "m"}},
                            "object_keys": {"m": ["x"]}}),
            ("event", {"uid": uuid.uuid4().hex, "descriptor": desc, "time": 1.0,
                       "seq_num": 1, "data": {"x": 2.5}, "timestamps": {"x": 1.0},
                       "filled": {}}),
            ("stop", {"uid": uuid.uuid4().hex, "run_start": run, "time": 2.0,
                      "exit_status": "success", "num_events": {"primary": 1}}),
        ]
        for name, doc in documents:
            writer(name=name, doc=doc)
        assert served.client[run]["primary"]["x"].read().tolist() == [2.5]
        assert (tmp_path / "beamtime" / "beamtime.db").is_file()
    finally:
        served.close()


def _dataset(values: object, dims: tuple[str, ...], **extra: object) -> object:
    import xarray

    return xarray.Dataset({"x": (dims, values), **extra}, coords={"time": [1.0, 2.0]})


def test_comparing_read_datasets_finds_dims_dtype_values_and_missing_variables() -> None:
    import numpy as np

    from tools.conformance.compare import compare_datasets

    theirs = _dataset(np.array([[1.0, np.nan], [3.0, 4.0]]), ("time", "dim_int_1"),
                      y=(("time",), np.array(["a", "b"])))
    same = compare_datasets(theirs, _dataset(np.array([[1.0, np.nan], [3.0, 4.0]]),
                                             ("time", "dim_int_1"),
                                             y=(("time",), np.array(["a", "b"]))))
    assert {r.variable: r.status for r in same} == {"x": "equal", "y": "equal", "time": "equal"}
    ours = _dataset(np.array([[1, 0], [3, 5]]), ("time", "dim_int_2"),
                    z=(("time",), np.array([0, 1])))
    rows = {r.variable: r for r in compare_datasets(theirs, ours)}
    assert rows["x"].what == ("dims", "dtype", "values")
    assert "float64 vs int64" in rows["x"].detail
    assert rows["y"].what == ("missing",) and rows["z"].what == ("extra",)
    assert rows["time"].status == "equal"


def test_timestamps_a_fraction_of_a_second_apart_are_not_equal() -> None:
    from tools.conformance.compare import values_equal

    assert values_equal([1745338531.00165], [1745338531.215753])[0] is False
    assert values_equal([1745338531.00165], [1745338531.00165]) == (True, "")
