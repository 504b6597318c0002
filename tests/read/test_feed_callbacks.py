"""``Run.documents()`` fed to other Bluesky callbacks, as a live RunEngine would feed them.

suitcase-jsonl's ``Serializer`` writes a file whose documents equal the
stream; bluesky's ``BestEffortCallback`` (plots off, headless) consumes it and
prints its table. Feeding a fresh ``RunWriterCallback`` is the re-ingest check
of ``test_roundtrip``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib
import pytest
from bluesky import RunEngine
from bluesky.callbacks.best_effort import BestEffortCallback
from suitcase.jsonl import Serializer

from resonance_callback import open_beamtime
from resonance_callback.replay.formats import iter_documents

from ..docs_compare import assert_same_documents, filled
from .test_roundtrip import CASES

matplotlib.use("Agg")

#: Step scans with and without frames, detector files of both kinds, a fly scan, odd metadata.
FED = ["scan", "baseline", "direct_img_frames", "external_npy", "ophyd_async_stream",
       "ophyd_async_fly", "odd_metadata"]


def _record(case: str, RE: RunEngine, sim: dict[str, Any], recorder: Any  # noqa: N803
            ) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    CASES[case](RE, sim)
    recorder.callback.close()
    [uid] = recorder.run_uids()
    return uid, recorder.run_docs(uid)


@pytest.mark.parametrize("fill", [False, True])
@pytest.mark.parametrize("case", FED)
def test_suitcase_jsonl_writes_the_stream(case: str, fill: bool, RE: RunEngine,  # noqa: N803
                                          sim: dict[str, Any], recorder: Any,
                                          tmp_path: Path) -> None:
    uid, emitted = _record(case, RE, sim, recorder)
    out = tmp_path / "jsonl"
    with open_beamtime(recorder.db) as bt, Serializer(out) as serializer:
        for name, doc in bt[uid].documents(fill=fill):
            serializer(name, doc)
    [path] = serializer.artifacts["all"]
    assert Path(path) == out / f"{uid}.jsonl"
    # JSON has no arrays or tuples: they come back as lists, equal by value.
    assert_same_documents(filled(emitted) if fill else emitted, list(iter_documents(path)))


_ROW = re.compile(r"^\|\s+(\d+) \|")


@pytest.mark.filterwarnings("ignore:The key .* will be skipped:UserWarning")  # frames: no column
@pytest.mark.parametrize("case", ["scan", "baseline", "external_npy", "ophyd_async_fly"])
def test_best_effort_callback_prints_the_table(case: str, RE: RunEngine,  # noqa: N803
                                               sim: dict[str, Any], recorder: Any,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    uid, emitted = _record(case, RE, sim, recorder)
    capsys.readouterr()
    bec = BestEffortCallback()
    bec.disable_plots()
    with open_beamtime(recorder.db) as bt:
        for name, doc in bt[uid].documents():
            bec(name, doc)
    printed = capsys.readouterr().out
    start = emitted[0][1]
    assert f"Transient Scan ID: {start['scan_id']}" in printed
    events = [d for n, d in emitted if n == "event"]
    primary = {d["uid"] for n, d in emitted if n == "descriptor" and d["name"] == "primary"}
    rows = [int(m[1]) for line in printed.splitlines() if (m := _ROW.match(line))]
    assert rows == [e["seq_num"] for e in events if e["descriptor"] in primary]
    if rows:  # the table: a header naming seq_num and the scalar fields, a row per event
        header = next(line for line in printed.splitlines() if "seq_num" in line)
        assert "time" in header
        for field in ("motor", "det") if case in ("scan", "baseline") else ("det",):
            assert re.search(rf"\b{field}\b", header), header
    if case == "baseline":
        assert "Start-of-run baseline readings:" in printed
        assert "End-of-run baseline readings:" in printed
