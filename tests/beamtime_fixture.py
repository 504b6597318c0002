"""Test stand-ins for the beamtime writer, which is not on this branch yet.

``BeamtimeSession`` receives real bluesky documents (from a RunEngine or
``event_model.compose_run``) and inserts them into a beamtime database with
plain SQL through ``schema.connect(path, "beamtime")``, following the 0001
schema; it calls a ``RunIndexer`` the way the callback will (after the
beamtime write). ``build_site`` makes three such beamtimes for two researchers.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import bluesky.preprocessors as bpp
import event_model
from ophyd.sim import det, det4, motor

from resonance_callback import _sqlite as schema
from resonance_callback import jsoncodec
from resonance_callback.index._live import RunIndexer
from resonance_callback.store._vocabulary import exit_status_from_stop


class BeamtimeSession:
    """Write documents into one beamtime database and index each run live."""

    def __init__(self, db_path: Path, indexer: RunIndexer | None = None) -> None:
        self.db_path = db_path
        self.indexer = indexer
        self.sample: str | None = None
        self.conn = schema.connect(db_path, "beamtime")
        self._counts: Counter[str] = Counter()
        self._stream_names: dict[str, str] = {}

    def close(self) -> None:
        self.conn.close()
        if self.indexer is not None:
            self.indexer.close()

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        getattr(self, f"_{name}", lambda doc: None)(doc)

    def _start(self, doc: dict[str, Any]) -> None:
        with schema.transaction(self.conn):
            sample_id = None
            if self.sample is not None:
                self.conn.execute(
                    "INSERT INTO samples (name) VALUES (?) ON CONFLICT (name) DO NOTHING",
                    (self.sample,),
                )
                sample_id = self.conn.execute(
                    "SELECT id FROM samples WHERE name = ?", (self.sample,)
                ).fetchone()[0]
            self.conn.execute(
                """INSERT INTO runs (uid, sample_id, plan_name, scan_id, time_start, metadata)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                (doc["uid"], sample_id, doc.get("plan_name"), doc.get("scan_id"), doc["time"],
                 jsoncodec.dumps(doc)),
            )
        self._counts = Counter()
        if self.indexer is not None:
            self.indexer.run_started(doc, self.sample)

    def _descriptor(self, doc: dict[str, Any]) -> None:
        with schema.transaction(self.conn):
            self.conn.execute(
                """INSERT INTO streams (uid, run_uid, name, time, data_keys, configuration,
                                        document) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (doc["uid"], doc["run_start"], doc["name"], doc["time"],
                 jsoncodec.dumps(doc["data_keys"]), jsoncodec.dumps(doc.get("configuration", {})),
                 jsoncodec.dumps(doc)),
            )
        self._stream_names[doc["uid"]] = doc["name"]
        self._counts[doc["name"]] += 0

    def _event(self, doc: dict[str, Any]) -> None:
        with schema.transaction(self.conn):
            self.conn.execute(
                """INSERT INTO events (uid, stream_uid, seq_num, time, data, timestamps)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                (doc["uid"], doc["descriptor"], doc["seq_num"], doc["time"],
                 jsoncodec.dumps(doc["data"]), jsoncodec.dumps(doc["timestamps"])),
            )
        self._counts[self._stream_names[doc["descriptor"]]] += 1

    def _event_page(self, doc: dict[str, Any]) -> None:
        for event in event_model.unpack_event_page(doc):
            self._event(event)

    def _stop(self, doc: dict[str, Any]) -> None:
        with schema.transaction(self.conn):
            self.conn.execute(
                """UPDATE runs SET time_stop = ?, exit_status = ?, reason = ?, stop_document = ?
                   WHERE uid = ?""",
                (doc["time"], exit_status_from_stop(doc["exit_status"])[0], doc.get("reason"),
                 jsoncodec.dumps(doc), doc["run_start"]),
            )
        if self.indexer is not None:
            self.indexer.run_stopped(doc, dict(self._counts))


def failing_count(detectors: list[Any]) -> Any:
    """A plan that takes one reading and then fails inside its run."""

    @bpp.run_decorator(md={"plan_name": "failing_count"})
    def inner() -> Any:
        yield from bps.trigger_and_read(detectors)
        raise RuntimeError("sample holder jammed")

    return (yield from inner())


@dataclasses.dataclass
class Site:
    """Two researchers' trees with three beamtimes, and the index built live."""

    base: Path
    index: Path | str  # a file, or a PostgreSQL URL
    alice_root: Path
    bob_root: Path
    beamtimes: dict[str, Path]  # label -> db path

    @property
    def researchers(self) -> dict[str, Path]:
        return {"Alice Smith": self.alice_root, "Bob Jones": self.bob_root}


#: One RunEngine-recorded run: the sample it measured and its (name, document) pairs.
Recorded = tuple[str, list[tuple[str, dict[str, Any]]]]

OWNERS = {"2026-03": "Alice Smith", "2026-04": "Alice Smith", "bob-march": "Bob Jones"}


def _plans() -> dict[str, list[tuple[str, Any, dict[str, Any]]]]:
    return {
        "2026-03": [
            ("PS-1", bp.count([det], num=3), {"tags": ["calibration"], "proposal": 1001,
                                               "operator": "alice"}),
            ("PS-1", bp.scan([det], motor, -1, 1, 5), {"tags": ["production", "edge"],
                                                       "proposal": 1001}),
            ("Si-wafer", bp.count([det4], num=2), {"proposal": "1001-b"}),
        ],
        "2026-04": [
            ("PS-2", bp.scan([det], motor, 0, 2, 4), {"tags": "production", "proposal": 1002}),
            ("PS-1", bp.count([det], num=1), {"sample_info": {"formula": "C8H8"},
                                              "proposal": 1002}),
            ("PS-2", failing_count([det]), {"proposal": 1002}),
        ],
        "bob-march": [
            ("Au-foil", bp.count([det4], num=4), {"tags": ["calibration"], "operator": "bob"}),
            ("Au-foil", bp.rel_scan([det], motor, -1, 1, 3), {"beamline": "7.0.1.2"}),
        ],
    }


def record_runs(run_engine: Any,
                sessions: dict[str, BeamtimeSession] | None = None) -> dict[str, list[Recorded]]:
    """Run every plan of the three beamtimes on a real RunEngine and keep the documents.

    With ``sessions`` (label -> session), each session also receives its
    beamtime's documents as the RunEngine emits them.
    """
    recorded: dict[str, list[Recorded]] = {}
    for label, plans in _plans().items():
        recorded[label] = []
        session = (sessions or {}).get(label)
        for sample, plan, md in plans:
            docs: list[tuple[str, dict[str, Any]]] = []
            tokens = [run_engine.subscribe(lambda name, doc, docs=docs: docs.append((name, doc)))]
            if session is not None:
                session.sample = sample
                tokens.append(run_engine.subscribe(session))
            try:
                run_engine(plan, **md)
            except RuntimeError:
                pass  # failing_count: the run is closed with exit_status "fail"
            finally:
                for token in tokens:
                    run_engine.unsubscribe(token)
            recorded[label].append((sample, docs))
    return recorded


def build_site(base: Path, *, recorded: dict[str, list[Recorded]] | None = None,
               run_engine: Any = None, live_index: bool = True,
               index: Path | str | None = None) -> Site:
    """Write runs into three beamtime databases, indexing each run as it happens.

    The runs are either ``recorded`` documents, replayed, or run now on ``run_engine``;
    the index is ``base / "index.db"`` unless ``index`` (a path or a PostgreSQL URL) is given.
    """
    alice_root, bob_root = base / "alice", base / "bob"
    site = Site(
        base=base, index=(base / "index.db") if index is None else index,
        alice_root=alice_root, bob_root=bob_root,
        beamtimes={
            "2026-03": alice_root / "2026-03" / "beamtime.db",
            "2026-04": alice_root / "2026-04" / "beamtime.db",
            "bob-march": bob_root / "sessions" / "march.db",
        },
    )
    sessions = {}
    for label, db_path in site.beamtimes.items():
        db_path.parent.mkdir(parents=True, exist_ok=True)
        owner = OWNERS[label]
        indexer = (RunIndexer(site.index, owner, site.researchers[owner], label, db_path)
                   if live_index else None)
        sessions[label] = BeamtimeSession(db_path, indexer)
    try:
        if run_engine is not None:
            record_runs(run_engine, sessions)
        else:
            for label, runs in (recorded or {}).items():
                for sample, docs in runs:
                    sessions[label].sample = sample
                    for name, doc in docs:
                        sessions[label](name, doc)
    finally:
        for session in sessions.values():
            session.close()
    return site


def synthetic_beamtime(db_path: Path, n_runs: int, *, sample: str = "S", t0: float = 1.7e9,
                       tags: tuple[str, ...] = ("bulk", "synthetic")) -> list[dict[str, Any]]:
    """Fill a beamtime database with ``n_runs`` short runs made by ``event_model.compose_run``.

    Returns the (start, stop, num_events) of each run, for writers that index them.
    """
    db_path.parent.mkdir(parents=True, exist_ok=True)
    session = BeamtimeSession(db_path)
    session.sample = sample
    runs = []
    scan_ids = itertools.count(1)
    try:
        for i in range(n_runs):
            bundle = event_model.compose_run(
                time=t0 + i, metadata={"plan_name": "count", "scan_id": next(scan_ids),
                                       "tags": list(tags)}
            )
            session("start", bundle.start_doc)
            desc = bundle.compose_descriptor(
                name="primary", data_keys={"x": {"source": "sim", "dtype": "number",
                                                  "shape": []}}
            )
            session("descriptor", desc.descriptor_doc)
            session("event", desc.compose_event(data={"x": float(i)}, timestamps={"x": t0 + i},
                                                seq_num=1, time=t0 + i))
            stop = bundle.compose_stop(time=t0 + i + 0.5)
            session("stop", stop)
            runs.append({"start": bundle.start_doc, "stop": stop, "num_events": {"primary": 1}})
    finally:
        session.close()
    return runs
