"""Replay progress: the readers' position in the file, the bar with rate and ETA on a terminal."""

from __future__ import annotations

import gzip
import io
import json
import os
import pty
import select
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import event_model
import pytest
from click.testing import CliRunner

from resonance_callback import replay
from resonance_callback.cli import main
from resonance_callback.cli._replay_cmd import ProgressLine
from resonance_callback.replay import ReplaySummary
from resonance_callback.replay.formats import ReadPosition, iter_located

from ..replay_corpus import Corpus, save


def jsonl_run(path: Path, n: int) -> Path:
    """One suitcase-jsonl run of ``n`` scalar events at ``path``."""
    bundle = event_model.compose_run(metadata={"plan_name": "count", "scan_id": 1})
    desc = bundle.compose_descriptor(
        name="primary", data_keys={"det": {"source": "sim", "dtype": "number", "shape": []}})
    docs = [("start", bundle.start_doc), ("descriptor", desc.descriptor_doc)]
    docs += [("event", desc.compose_event(data={"det": float(i)}, timestamps={"det": 1.0 * i},
                                          seq_num=i + 1, validate=False)) for i in range(n)]
    docs.append(("stop", bundle.compose_stop()))
    text = "".join(json.dumps([name, doc]) + "\n" for name, doc in docs)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["run.jsonl", "run.jsonl.gz"])
def test_position_counts_the_file_bytes_up_to_its_size(tmp_path: Path, name: str) -> None:
    path = jsonl_run(tmp_path / name, 5_000)
    position = ReadPosition()
    seen = []
    for k, _ in enumerate(iter_located(path, position)):
        if k % 500 == 0 and k < 4_000:  # before the readers' buffers reach the end
            seen.append(position.bytes_read)
    assert position.bytes_total == path.stat().st_size
    assert position.bytes_read == position.bytes_total and position.fraction == 1.0
    assert seen == sorted(seen) and 0 < seen[1] < seen[-1] < position.bytes_total


def test_position_of_a_directory_adds_its_files(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    files = [jsonl_run(tmp_path / "d" / f"{k}.jsonl", 100) for k in range(3)]
    position = ReadPosition()
    at_second_file = None
    for located in iter_located(tmp_path / "d", position):
        if at_second_file is None and located.path == str(files[1]):
            at_second_file = position.bytes_read
    assert position.bytes_total == sum(f.stat().st_size for f in files) == position.bytes_read
    assert at_second_file is not None and at_second_file >= files[0].stat().st_size


def test_position_of_a_pipe_has_no_size(tmp_path: Path) -> None:
    data = jsonl_run(tmp_path / "run.jsonl", 10).read_bytes()
    position = ReadPosition()
    assert len(list(iter_located(io.BytesIO(data), position))) == 13
    assert position.bytes_total is None and position.fraction is None


def test_replay_summary_reports_the_bytes_read(kinds: Corpus, tmp_path: Path) -> None:
    source = save("suitcase-jsonl", kinds.docs, tmp_path / "saved")
    summary = replay(source, tmp_path / "bt.db")
    assert summary.bytes_total == source.stat().st_size == summary.bytes_read


def test_progress_bar_shows_percent_rate_and_eta_on_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    summary = ReplaySummary("bt.db", files=["scans/run.jsonl"], documents=3_000, runs=1,
                            seconds=2.0, bytes_read=250_000, bytes_total=1_000_000)
    terminal, piped = Terminal(), io.StringIO()
    ProgressLine(piped)(summary)
    line = ProgressLine(terminal, interval=0)
    line(summary)
    drawn = terminal.getvalue()
    assert piped.getvalue() == ""
    assert "run.jsonl" in drawn and " 25%" in drawn
    assert "3000 documents, 1500/s, 0.1 MB/s, ETA 0:00:06" in drawn
    line.clear()
    assert terminal.getvalue().endswith("\r\033[?25h")  # line erased, cursor shown again


def test_replay_command_draws_the_bar_on_a_pty_and_stays_plain_when_piped(
    tmp_path: Path,
) -> None:
    source = jsonl_run(tmp_path / "run.jsonl", 30_000)
    command = [sys.executable, "-c", "from resonance_callback.cli import main; main()",
               "replay", str(source), "--db"]
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(command + [str(tmp_path / "tty.db")], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=terminal)
    os.close(terminal)
    drawn = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the pty closed: the command ended
            break
        if not chunk:
            break
        drawn += chunk
    stdout, _ = proc.communicate(timeout=120)
    os.close(controller)
    assert proc.returncode == 0, drawn
    text = drawn.decode()
    assert "%" in text and "documents, " in text and "/s, " in text and "ETA " in text
    assert "30000 events" not in text and b"30000 read" in stdout  # summary on stdout
    piped = subprocess.run(command + [str(tmp_path / "piped.db")], capture_output=True,
                           timeout=120)
    assert piped.returncode == 0 and piped.stderr == b""
    assert b"\r" not in piped.stdout and b"ETA" not in piped.stdout


# -- Ctrl-C -------------------------------------------------------------------------------


def big_jsonl_run(path: Path, n: int) -> tuple[Path, str]:
    """A suitcase-jsonl run of ``n`` scalar events, written fast; return it and its uid."""
    start = {"uid": "run-interrupted", "time": 1.0, "plan_name": "count", "scan_id": 1}
    desc = {"uid": "desc-1", "run_start": start["uid"], "name": "primary", "time": 1.0,
            "data_keys": {"det": {"source": "sim", "dtype": "number", "shape": []}}}
    stop = {"uid": "stop-1", "run_start": start["uid"], "time": 2.0, "exit_status": "success",
            "reason": "", "num_events": {"primary": n}}
    event = ('["event", {{"uid": "ev-{0}", "descriptor": "desc-1", "seq_num": {1}, '
             '"time": {1}.5, "data": {{"det": {1}.25}}, "timestamps": {{"det": {1}.5}}}}]\n')
    with path.open("w") as f:
        f.write(json.dumps(["start", start]) + "\n" + json.dumps(["descriptor", desc]) + "\n")
        f.writelines(event.format(i, i + 1) for i in range(n))
        f.write(json.dumps(["stop", stop]) + "\n")
    return path, start["uid"]


def stored_events(db: Path) -> int:
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as con:
            return con.execute("SELECT count(*) FROM events").fetchone()[0]
    except sqlite3.Error:  # not created yet
        return 0


def test_ctrl_c_stops_replay_with_summary_and_rerun_line_and_rerunning_finishes(
    tmp_path: Path,
) -> None:
    n = 400_000
    source, run_uid = big_jsonl_run(tmp_path / "big.jsonl", n)
    db = tmp_path / "bt.db"
    command = [sys.executable, "-c", "from resonance_callback.cli import main; main()",
               "replay", str(source), "--db", str(db)]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while stored_events(db) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "replay ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    stdout, stderr = out.decode(), err.decode()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    assert stderr.strip().endswith(
        "interrupted: rerun the same command to finish (already stored documents are skipped)")
    stored = stored_events(db)
    assert 0 < stored < n
    assert "Replayed " in stdout and "events: " in stdout
    assert f"runs left open (no stop in the stream): {run_uid}" in stdout
    with closing(sqlite3.connect(db)) as con:  # committed and consistent
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert con.execute("SELECT exit_status FROM runs").fetchall() == [(None,)]

    again = subprocess.run(command, capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert stored_events(db) == n
    with closing(sqlite3.connect(db)) as con:
        assert con.execute("SELECT exit_status FROM runs").fetchall() == [("success",)]


def test_replay_command_lists_damaged_lines_stores_the_rest_and_exits_1(tmp_path: Path) -> None:
    source, run_uid = big_jsonl_run(tmp_path / "run.jsonl", 10)
    lines = source.read_bytes().splitlines(keepends=True)
    source.write_bytes(b"".join([*lines[:4], b"\xff\xfe not json\n", *lines[4:],
                                 b'["start", {"uid": "cut-off", "ti']))
    db = tmp_path / "bt.db"
    result = CliRunner().invoke(main, ["replay", str(source), "--db", str(db)])
    assert result.exit_code == 1
    offset = sum(map(len, lines[:4]))
    assert "damaged records (skipped, kept in rejected_documents as 'damaged'): 2" in (
        result.stdout)
    assert f"{source} line 5: not UTF-8 text (byte 1 of the line) (byte {offset}, 12 bytes" in (
        result.stdout)
    assert f"{source} line {len(lines) + 2}: unterminated JSON (truncated file?)" in (
        result.stdout)
    assert result.stderr.splitlines() == [
        f"Error: {source} line 5: not UTF-8 text (byte 1 of the line)",
        f"Error: {source} line {len(lines) + 2}: unterminated JSON (truncated file?)"]
    assert "events: 10 read, 10 added" in result.stdout  # the events after the damage too
    with closing(sqlite3.connect(db)) as con:
        assert con.execute("SELECT uid, exit_status FROM runs").fetchall() == [
            (run_uid, "success")]
