"""The replay, runs and show commands: summaries, exit codes, filters, one-line errors."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import event_model
import pytest
from click.testing import CliRunner

from resonance_callback import RunWriterCallback, replay
from resonance_callback.cli import main
from resonance_callback.cli._replay_cmd import ProgressLine
from resonance_callback.replay import ReplaySummary

from ..conftest import sql
from ..replay_corpus import Corpus, save


def invoke(*args: str, input: bytes | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


@pytest.fixture(scope="module")
def beamtime(kinds: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus replayed into a beamtime of this module's own (read only here)."""
    db_path = tmp_path_factory.mktemp("inspect") / "beamtime.db"
    replay(save("json-seq", kinds.docs, db_path.parent / "saved"), db_path)
    return db_path


def stored_uids(db_path: Path) -> list[str]:
    return [uid for (uid,) in sql(db_path, "SELECT uid FROM runs ORDER BY time_start")]


# -- replay -------------------------------------------------------------------------------


def test_replay_prints_a_summary_on_stdout_and_nothing_else_when_piped(
    kinds: Corpus, tmp_path: Path
) -> None:
    source = save("suitcase-jsonl", kinds.docs, tmp_path / "saved")
    result = invoke("replay", source, "--db", tmp_path / "bt.db")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no progress line: stderr is not a terminal
    assert "runs: 11 read, 11 added, 0 already stored" in result.stdout
    assert "events: 34 read, 38 added; frames: 13 added" in result.stdout
    assert "rejected documents: 0" in result.stdout and " s (" in result.stdout
    again = invoke("replay", source, "--db", tmp_path / "bt.db")
    assert again.exit_code == 0 and "runs: 11 read, 0 added, 11 already stored" in again.stdout


def test_replay_of_a_truncated_file_exits_1_naming_file_and_line(
    kinds: Corpus, tmp_path: Path
) -> None:
    lines = save("json-seq", kinds.docs, tmp_path / "saved").read_bytes().splitlines(True)
    damaged = tmp_path / "damaged.json-seq"
    damaged.write_bytes(b"".join(lines[:20]) + lines[20][:15])
    result = invoke("replay", damaged, "--db", tmp_path / "bt.db")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {damaged} line 21: unterminated JSON (truncated file?)\n"
    assert "Traceback" not in result.output
    assert "runs left open (no stop in the stream): " in result.stdout
    assert invoke("runs", tmp_path / "bt.db", "--status", "open", "--json").stdout.count(
        '"exit_status":null') == 1


def test_replay_of_several_paths_goes_on_after_a_damaged_one_and_exits_1(
    kinds: Corpus, tmp_path: Path
) -> None:
    runs = kinds.runs()
    first = save("json-seq", sum(runs[:3], []), tmp_path / "a")
    missing = tmp_path / "nowhere.jsonl"
    rest = save("json-array", sum(runs[3:], []), tmp_path / "b")
    result = invoke("replay", first, missing, rest, "--db", tmp_path / "bt.db")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"Error: {missing}: cannot open (No such file or "
                                          "directory)"]
    assert "Replayed 87 documents from 2 file(s)" in result.stdout
    assert stored_uids(tmp_path / "bt.db") == [d["uid"] for d in kinds.of("start")]


def test_replay_reads_standard_input(kinds: Corpus, tmp_path: Path) -> None:
    source = save("json-seq-gzip", kinds.docs, tmp_path / "saved")
    result = invoke("replay", "-", "--db", tmp_path / "bt.db", input=source.read_bytes())
    assert result.exit_code == 0, result.output
    assert "from 1 file(s)" in result.stdout and "runs: 11 read, 11 added" in result.stdout


def test_replay_options_sample_and_root_map(kinds: Corpus, tmp_path: Path) -> None:
    run = next(run for run in kinds.runs() if any(n == "resource" for n, _ in run))
    source = save("json-seq", run, tmp_path / "saved")
    moved = tmp_path / "moved"
    shutil.copytree(kinds.directory / "files" / "npy", moved)
    old = str(kinds.directory / "files" / "npy")
    result = invoke("replay", source, "--db", tmp_path / "bt.db", "--sample", "PS-9",
                    "--root-map", f"{old}={moved}", "--allowed-root", moved)
    assert result.exit_code == 0, result.output
    assert "frames: 3 added" in result.stdout
    assert sql(tmp_path / "bt.db", "SELECT s.name FROM runs r JOIN samples s "
                                   "ON s.id = r.sample_id") == [("PS-9",)]
    bad = invoke("replay", source, "--db", tmp_path / "bt.db", "--root-map", "no-equals-sign")
    assert bad.exit_code == 2 and "is not OLD=NEW" in bad.output


def test_replay_with_a_rejected_document_exits_1_and_says_where_to_look(
    kinds: Corpus, tmp_path: Path
) -> None:
    source = save("json-seq", kinds.runs()[0], tmp_path / "saved")
    invoke("replay", source, "--db", tmp_path / "bt.db")
    docs = [(n, dict(d, exit_status="fail") if n == "stop" else d) for n, d in kinds.runs()[0]]
    result = invoke("replay", save("json-seq", docs, tmp_path / "changed"), "--db",
                    tmp_path / "bt.db")
    assert result.exit_code == 1
    assert "rejected documents: 1" in result.stdout
    assert result.stderr.startswith("Error: 1 document(s) rejected")


def test_progress_line_is_drawn_only_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    summary = ReplaySummary("bt.db", files=["run.jsonl"], documents=500, runs=3, seconds=2.0)
    piped, terminal = io.StringIO(), Terminal()
    ProgressLine(piped)(summary)
    line = ProgressLine(terminal)
    line(summary)
    assert piped.getvalue() == ""
    drawn = "500 documents (250/s), 3 runs  run.jsonl"
    assert terminal.getvalue() == "\r" + drawn
    line.clear()
    assert terminal.getvalue() == "\r" + drawn + "\r" + " " * len(drawn) + "\r"


# -- runs ---------------------------------------------------------------------------------


def test_runs_json_lists_exactly_the_stored_runs(beamtime: Path) -> None:
    result = invoke("runs", beamtime, "--json")
    assert result.exit_code == 0
    listed = json.loads(result.stdout)
    assert [run["uid"] for run in listed] == stored_uids(beamtime)[::-1]  # newest first
    scan = next(run for run in reversed(listed) if run["plan_name"] == "scan")
    assert scan["sample"] == "Au foil" and scan["exit_status"] == "success"
    assert scan["events"] == {"primary": 5} and scan["frames"] == 0
    baseline = next(run for run in listed if "baseline" in run["events"])
    assert list(baseline["events"]) == ["baseline", "primary"]
    assert sum(run["frames"] for run in listed) == 13


def test_runs_table_shows_one_line_per_run(beamtime: Path) -> None:
    result = invoke("runs", beamtime)
    assert result.exit_code == 0
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["UID", "SCAN", "START", "PLAN", "SAMPLE", "STATUS", "EVENTS",
                              "FRAMES"]
    assert [row.split()[0] for row in rows] == [uid[:8] for uid in stored_uids(beamtime)[::-1]]
    assert any("det_sigma_monitor:3 primary:2" in row for row in rows)
    assert any("aborted" in row for row in rows) and any("failed" in row for row in rows)


@pytest.mark.parametrize(
    ("options", "plans"),
    [
        (["--sample", "Au*"], ["scan"]),
        (["--plan", "grid_scan"], ["grid_scan"]),
        (["--status", "aborted"], ["aborted"]),
        (["--status", "failed"], ["failed"]),
        (["--status", "open"], []),
        (["--sample", "Si wafer", "--plan", "count"], ["count"]),
    ],
)
def test_runs_filters(beamtime: Path, options: list[str], plans: list[str]) -> None:
    result = invoke("runs", beamtime, *options, "--json")
    assert [run["plan_name"] for run in json.loads(result.stdout)] == plans


def test_runs_since_and_until_take_unix_and_iso_times(beamtime: Path) -> None:
    times = [t for (t,) in sql(beamtime, "SELECT time_start FROM runs ORDER BY time_start")]
    since = json.loads(invoke("runs", beamtime, "--since", str(times[4]), "--json").stdout)
    assert len(since) == len(times) - 4
    until = json.loads(invoke("runs", beamtime, "--until", str(times[4]), "--json").stdout)
    assert len(until) == 4
    assert json.loads(invoke("runs", beamtime, "--until", "1999-12-31", "--json").stdout) == []
    bad = invoke("runs", beamtime, "--since", "last tuesday")
    assert bad.exit_code == 2 and "is not a time" in bad.output


def test_runs_of_something_that_is_not_a_beamtime_fails_with_one_line(tmp_path: Path) -> None:
    other = tmp_path / "notes.db"
    other.write_text("not a database")
    result = invoke("runs", other)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert str(other) in result.stderr


# -- show ---------------------------------------------------------------------------------


def test_show_prints_metadata_streams_fields_and_frame_arrays(
    beamtime: Path, kinds: Corpus
) -> None:
    start = next(d for d in kinds.of("start") if d.get("sample") == "Si wafer")  # direct_img
    result = invoke("show", beamtime, start["uid"][:8])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"Run {start['uid']}\n")
    assert f"  plan:        count (scan_id {start['scan_id']})" in out
    assert "  sample:      Si wafer" in out
    assert "  exit status: success" in out and '  detectors:   ["direct", "det"]' in out
    assert "Stream primary (descriptor" in out and "3 events)" in out
    [img] = [line for line in out.splitlines() if line.startswith("  img ")]
    assert img.split()[:5] == ["img", "array", "(float64)", "[10,", "10]"] and "frames" in img
    assert f"runs/{start['uid']}/primary/img  3       (3, 10, 10)  float64  blosc-lz4" in out
    assert "Rejected documents: 0" in out and "Unresolved frames: 0" in out


def test_show_json_holds_the_start_document_and_every_stream(
    beamtime: Path, kinds: Corpus
) -> None:
    start = next(d for d in kinds.of("start") if d["plan_name"] == "monitored")
    info = json.loads(invoke("show", beamtime, start["uid"], "--json").stdout)
    assert info["start"]["uid"] == start["uid"] and info["run"]["exit_status"] == "success"
    descriptors = [d["name"] for d in kinds.of("descriptor") if d["run_start"] == start["uid"]]
    assert [(s["name"], s["events"]) for s in info["streams"]] == [
        (name, {"primary": 2, "det_sigma_monitor": 3}[name]) for name in descriptors]
    assert {f["name"]: f["stored"] for f in info["streams"][0]["fields"]} in (
        {"det": "inline"}, {"det_sigma": "inline"})
    assert info["arrays"] == [] and info["rejected_documents"] == []


def test_show_lists_rejected_documents_and_unresolved_frames(
    kinds: Corpus, tmp_path: Path
) -> None:
    run = next(run for run in kinds.runs() if any(n == "resource" for n, _ in run))
    files = tmp_path / "files"
    shutil.copytree(kinds.directory / "files" / "npy", files)
    resource = next(d for n, d in run if n == "resource")
    (files / f"{resource['resource_path']}_1.npy").unlink()
    db_path = tmp_path / "bt.db"
    options = {"root_map": {resource["root"]: str(files)}}
    replay(save("json-seq", run, tmp_path / "saved"), db_path, **options)
    changed = [(n, dict(d, reason="changed") if n == "stop" else d) for n, d in run]
    replay(save("json-seq", changed, tmp_path / "changed"), db_path, **options)
    out = invoke("show", db_path, run[0][1]["uid"]).stdout
    assert "Rejected documents: 1\n  stop " in out and "differs from the stop" in out
    assert "Unresolved frames: 1\n  primary/img seq_num 2 (" in out
    assert "FileNotFoundError" in out


def test_show_ambiguous_or_unknown_uid_is_one_line_and_exit_1(tmp_path: Path) -> None:
    db_path = tmp_path / "bt.db"
    with RunWriterCallback(db_path) as callback:
        for uid in ("feed0001-aaaa", "feed0002-bbbb"):
            bundle = event_model.compose_run(uid=uid, metadata={"plan_name": "count"})
            callback("start", bundle.start_doc)
            callback("stop", bundle.compose_stop())
    result = invoke("show", db_path, "feed")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: uid 'feed' is ambiguous in {db_path.resolve()}: it "
                             "matches feed0002-bbbb (scan -, count), "
                             "feed0001-aaaa (scan -, count)\n")
    assert invoke("show", db_path, "feed0002").stdout.startswith("Run feed0002-bbbb\n")
    unknown = invoke("show", db_path, "beef")
    assert unknown.exit_code == 1
    assert unknown.stderr == f"Error: no run matches uid 'beef' in {db_path.resolve()}\n"
