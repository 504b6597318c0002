"""What ``check`` found (:class:`CheckReport`), which of it is new, and the report as text.

Every problem ``check`` lists but database damage can be acknowledged: it is named by
its kind and a key that stays the same while the problem does, so acknowledging it
covers that problem only, never another of the same kind found later:

======================  =============================================================
kind                    key
======================  =============================================================
``bad_image_ref``       ``{zarr_path}: {rows} row(s): {problem}`` (more rows, or other
                        frames unreadable, is another key)
``unresolved_frame``    ``run {run_uid} {stream}/{field} seq_num {seq_num}``
``open_run``            the run's uid (a run left open by a writer that is gone)
``interrupted_run``     the run's uid
``rejected_document``   the ``rejected_documents`` row's id (counted, never listed)
``reused_event_uid``    ``{uid} on {rows} rows``
``declared_mismatch``   ``run {run_uid} {stream}/{field} ({zarr_path}): declared
                        {declared}, stored {stored}``
======================  =============================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["KINDS", "CheckReport", "found", "new_problems"]

Item = dict[str, Any]

#: Per kind: the :class:`CheckReport` list it is found in, and the key naming one problem.
KINDS: dict[str, tuple[str, Callable[[Item], str]]] = {
    "bad_image_ref": ("bad_image_refs",
                      lambda b: f"{b['zarr_path']}: {b['rows']} row(s): {b['problem']}"),
    "unresolved_frame": ("unresolved_frames", lambda u: (
        f"run {u['run_uid']} {u['stream']}/{u['field']} seq_num {u['seq_num']}")),
    "open_run": ("open_runs", lambda r: str(r["uid"])),
    "interrupted_run": ("interrupted_runs", lambda r: str(r["uid"])),
    "reused_event_uid": ("reused_event_uids", lambda r: f"{r['uid']} on {r['rows']} rows"),
    "declared_mismatch": ("declared_mismatches", lambda m: (
        f"run {m['run_uid']} {m['stream']}/{m['field']} ({m['zarr_path']}): declared "
        f"{m['declared']}, stored {m['stored']}")),
}


def _items(report: CheckReport, kind: str) -> list[Item]:
    items: list[Item] = getattr(report, KINDS[kind][0])
    return [r for r in items if not r["live"]] if kind == "open_run" else items


def found(report: CheckReport) -> Iterator[tuple[str, str]]:
    """Yield ``(kind, key)`` of every problem in ``report`` that can be acknowledged."""
    for kind, (_, key) in KINDS.items():
        for item in _items(report, kind):
            yield kind, key(item)


def new_problems(report: CheckReport) -> dict[str, list[Item]]:
    """Return, per kind, the problems of ``report`` not acknowledged."""
    seen = {(a["kind"], a["key"]) for a in report.acknowledged}
    return {kind: [item for item in _items(report, kind) if (kind, key(item)) not in seen]
            for kind, (_, key) in KINDS.items()}



@dataclass
class CheckReport:
    """What :func:`check_beamtime` found; every list is empty for a sound beamtime.

    Attributes
    ----------
    db_path, zarr_path : str
        What was checked.
    integrity : list of str
        ``PRAGMA integrity_check`` messages other than ``ok``, and foreign-key
        violations.
    image_refs_checked : int
        ``image_refs`` rows looked at.
    bad_image_refs : list of dict
        ``{"zarr_path", "rows", "problem"}`` per array with bad references.
    unresolved_frames : list of dict
        ``{"run_uid", "stream", "field", "seq_num", "reference", "reason"}``.
    open_runs : list of dict
        ``{"uid", "plan_name", "time_start", "live"}`` of runs with no exit status;
        ``live`` is True while the writer that opened the run is running.
    interrupted_runs : list of dict
        ``{"uid", "plan_name", "time_start", "reason"}`` of runs marked interrupted.
    rejected_documents : dict of str to int
        Rejected documents counted by document name.
    reused_event_uids : list of dict
        ``{"uid", "rows", "streams"}`` per event uid stored on several rows.
    declared_mismatches : list of dict
        ``{"run_uid", "stream", "field", "zarr_path", "declared", "stored"}`` per
        frame array whose dtype differs from the ``dtype_numpy`` its descriptor
        declares (detector files are stored as they are, never cast).
    acknowledged : list of dict
        ``{"kind", "key", "time", "note"}`` of each problem found that was
        acknowledged (``check --ack``); :attr:`problems` leaves them out.
    rejected_acknowledged : dict of str to int
        The acknowledged rejected documents, counted by document name.
    rejected_last_id : int or None
        The newest rejected document's row id (``check --ack`` acknowledges up to it).
    acknowledged_now : int
        Problems :func:`acknowledge_problems` acknowledged that were not before.
    """

    db_path: str
    zarr_path: str
    integrity: list[str] = field(default_factory=list)
    image_refs_checked: int = 0
    bad_image_refs: list[dict[str, Any]] = field(default_factory=list)
    unresolved_frames: list[dict[str, Any]] = field(default_factory=list)
    open_runs: list[dict[str, Any]] = field(default_factory=list)
    interrupted_runs: list[dict[str, Any]] = field(default_factory=list)
    rejected_documents: dict[str, int] = field(default_factory=dict)
    reused_event_uids: list[dict[str, Any]] = field(default_factory=list)
    declared_mismatches: list[dict[str, Any]] = field(default_factory=list)
    acknowledged: list[dict[str, Any]] = field(default_factory=list)
    rejected_acknowledged: dict[str, int] = field(default_factory=dict)
    rejected_last_id: int | None = None
    acknowledged_now: int = 0

    @property
    def problems(self) -> list[str]:
        """One line per kind of problem found and not acknowledged."""
        found, new = [], new_problems(self)
        if self.integrity:
            found.append(f"{len(self.integrity)} database integrity message(s)")
        if new["bad_image_ref"]:
            rows = sum(bad["rows"] for bad in new["bad_image_ref"])
            found.append(f"{rows} image_refs row(s) pointing at no stored frame")
        if new["unresolved_frame"]:
            found.append(f"{len(new['unresolved_frame'])} unresolved detector frame(s)")
        if new["open_run"]:
            found.append(f"{len(new['open_run'])} run(s) left open")
        if new["interrupted_run"]:
            found.append(f"{len(new['interrupted_run'])} run(s) interrupted")
        if self.rejected_new:
            found.append(f"{self.rejected_new} rejected document(s)")
        if new["reused_event_uid"]:
            found.append(f"{len(new['reused_event_uid'])} event uid(s) given to several events")
        if new["declared_mismatch"]:
            found.append(f"{len(new['declared_mismatch'])} frame array(s) not of their "
                         "declared dtype")
        return found

    @property
    def rejected_new(self) -> int:
        """Rejected documents not acknowledged."""
        return sum(self.rejected_documents.values()) - sum(self.rejected_acknowledged.values())

    @property
    def ok(self) -> bool:
        """True if no problem was found."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able data, with ``ok`` and ``problems``."""
        return {"ok": self.ok, "problems": self.problems, **asdict(self)}

    def lines(self) -> list[str]:
        """The report as text lines for a terminal."""
        return _report_lines(self)


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp).isoformat(timespec="seconds")


def _report_lines(report: CheckReport) -> list[str]:
    """Every finding, one section per check; then the acknowledged ones and the verdict."""
    r = report
    out = [f"{r.db_path} (frames in {r.zarr_path})"]
    out.append(f"integrity: {'ok' if not r.integrity else 'DAMAGED'}")
    out += [f"  {message}" for message in r.integrity]
    out.append(f"image_refs: {r.image_refs_checked} checked, "
               f"{sum(b['rows'] for b in r.bad_image_refs)} bad")
    out += [f"  {b['zarr_path']}: {b['rows']} row(s): {b['problem']}" for b in r.bad_image_refs]
    out.append(f"unresolved detector frames: {len(r.unresolved_frames)}")
    out += [f"  run {u['run_uid']} {u['stream']}/{u['field']} seq_num {u['seq_num']} "
            f"({u['reference']}): {u['reason']}" for u in r.unresolved_frames]
    out.append(f"open runs: {len(r.open_runs)}")
    out += [f"  run {o['uid']} {o['plan_name']} started {_when(o['time_start'])}: "
            + ("being written" if o["live"] else "its writer is gone; run repair")
            for o in r.open_runs]
    out.append(f"interrupted runs: {len(r.interrupted_runs)}")
    out += [f"  run {i['uid']} {i['plan_name']} started {_when(i['time_start'])}: "
            f"{i['reason']}" for i in r.interrupted_runs]
    counts = ", ".join(f"{n} {name}" for name, n in sorted(r.rejected_documents.items()))
    out.append(f"rejected documents: {sum(r.rejected_documents.values())}"
               + (f" ({counts})" if counts else ""))
    out.append(f"event uids on several events: {len(r.reused_event_uids)}")
    out += [f"  {e['uid']}: {e['rows']} rows (streams {e['streams']})"
            for e in r.reused_event_uids]
    out.append(f"frame arrays not of their declared dtype: {len(r.declared_mismatches)}")
    out += [f"  run {m['run_uid']} {m['stream']}/{m['field']} ({m['zarr_path']}): declared "
            f"{m['declared']}, stored {m['stored']}" for m in r.declared_mismatches]
    out += _acknowledged_lines(r)
    if not r.ok:
        out.append("PROBLEMS: " + "; ".join(r.problems))
    else:
        known = len(r.acknowledged) + sum(r.rejected_acknowledged.values())
        out.append(f"OK: no new problems, {known} acknowledged" if known
                   else "OK: no problems found")
    return out


def _acknowledged_lines(report: CheckReport) -> list[str]:
    rejected = sum(report.rejected_acknowledged.values())
    if not report.acknowledged and not rejected:
        return []
    now = f", {report.acknowledged_now} just now" if report.acknowledged_now else ""
    out = [f"acknowledged (check --ack): {len(report.acknowledged) + rejected}{now}"]
    out += [f"  {a['kind']} {a['key']} (since {_when(a['time'])}"
            + (f": {a['note']})" if a["note"] else ")") for a in report.acknowledged]
    if rejected:
        counts = ", ".join(f"{n} {name}" for name, n in sorted(
            report.rejected_acknowledged.items()))
        out.append(f"  rejected_document: {rejected} ({counts})")
    return out
