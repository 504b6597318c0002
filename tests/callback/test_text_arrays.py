"""An array of strings in the events (``dtype_numpy`` ``<U2``) is stored inline and reads
back as strings, live and through replay; the event's other fields are stored with it."""

from __future__ import annotations

import json
from pathlib import Path

import bluesky.plans as bp
import numpy as np
import pytest
from ophyd import Signal
from ophyd.sim import det

from resonance_callback import RunWriterCallback, open_beamtime, replay

from ..conftest import sql

TEXT = np.array([["aa", "bb", "cc"], ["dd", "ee", "ff"]])


class TextSignal(Signal):
    """A signal whose description declares ``dtype_numpy`` (as ophyd-async's do), or not."""

    def __init__(self, *args, declare: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.declare = declare

    def describe(self):
        out = super().describe()
        if self.declare:
            out[self.name]["dtype_numpy"] = TEXT.dtype.str
        return out


@pytest.mark.parametrize("declare", [True, False])
@pytest.mark.parametrize("how", ["live", "replay"])
def test_an_array_of_strings_reads_back_as_those_strings(RE, tmp_path: Path, how: str,
                                                         declare: bool) -> None:
    text = TextSignal(name="text", value=TEXT, declare=declare)
    docs: list[tuple[str, dict]] = []
    live = tmp_path / "live.db"
    with RunWriterCallback(live) as callback:
        (uid,) = RE(bp.count([det, text], num=2),
                    [callback, lambda n, d: docs.append((n, d))]).run_start_uids
    db = live
    if how == "replay":
        saved = tmp_path / "saved.jsonl"
        saved.write_text("".join(json.dumps([n, d], default=np.ndarray.tolist) + "\n"
                                 for n, d in docs))
        db = tmp_path / "replayed.db"
        replay(saved, db)
    assert sql(db, "SELECT count(*) FROM rejected_documents") == [(0,)]
    dataset = open_beamtime(db)[uid]["primary"].read()
    assert dataset["text"].values.tolist() == [TEXT.tolist()] * 2
    assert dataset["det"].shape == (2,)
