"""A :class:`CheckReport` as text lines for a terminal (``resonance-callback check``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resonance_callback.read._check import CheckReport

__all__ = ["report_lines"]


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp).isoformat(timespec="seconds")


def report_lines(report: CheckReport) -> list[str]:
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
