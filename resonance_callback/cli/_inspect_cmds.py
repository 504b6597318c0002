"""The ``runs`` and ``show`` commands: what a beamtime holds, from the command line.

The data comes from :func:`~resonance_callback.read.list_runs` and
:func:`~resonance_callback.read.describe_run` (the store's read-only queries).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from resonance_callback import jsoncodec
from resonance_callback.cli._base import _table, _when, handle_errors, main
from resonance_callback.cli._filters import RUN_KEY_SETTINGS, filter_options
from resonance_callback.read import describe_run, list_runs

__all__ = ["runs_command", "show_command"]

_DB = click.Path(exists=True, dir_okay=False, path_type=Path)

#: Start-document keys ``show`` prints on lines of their own (or leaves out).
_START_SHOWN = ("uid", "time", "plan_name", "scan_id", "sample", "detectors", "motors",
                "num_points", "plan_args", "versions", "hints", "plan_type",
                "plan_pattern", "plan_pattern_module", "plan_pattern_args", "num_intervals")


@main.command("runs")
@click.argument("db", type=_DB)
@filter_options
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (full uids), for scripts.")
@handle_errors
def runs_command(db: Path, sample: str | None, plan: str | None, status: str | None,
                 since: str | None, until: str | None, scan_id: int | None, tag: str | None,
                 where: dict[str, str], as_json: bool) -> None:
    r"""List the runs stored in beamtime DB that match every filter given, newest first.

    Each run with its uid prefix, scan id, start time, plan, sample, exit
    status, events per stream (every stored row, fly-scan rows included) and
    frames stored. The filters mean what they mean for Beamtime.runs() and
    the search command.

    \b
    Examples:
        resonance-callback runs beamtime.db
        resonance-callback runs beamtime.db --sample 'PS-*' --status success --since 2026-03-01
        resonance-callback runs beamtime.db --status open --json
    """
    runs = list_runs(db, sample=sample, plan=plan, status=status, since=since, until=until,
                     scan_id=scan_id, tag=tag, where=where)
    if as_json:
        click.echo(jsoncodec.dumps([run.to_dict() for run in runs]))
        return
    if not runs:
        click.echo("No runs match.", err=True)
        return
    headers = ["UID", "SCAN", "START", "PLAN", "SAMPLE", "STATUS", "EVENTS", "FRAMES"]
    rows = [[run.uid[:8], "-" if run.scan_id is None else str(run.scan_id),
             _when(run.time_start), run.plan_name or "-", run.sample or "-",
             run.exit_status or "open",
             " ".join(f"{name}:{n}" for name, n in run.events.items()) or "-", str(run.frames)]
            for run in runs]
    click.echo(_table(headers, rows))


@main.command("show", context_settings=RUN_KEY_SETTINGS)
@click.argument("db", type=_DB)
@click.argument("run")
@click.option("--zarr", "zarr_store", type=click.Path(file_okay=False, path_type=Path),
              help="The frame store, if not DB's stem + .zarr beside it.")
@click.option("--json", "as_json", is_flag=True, help="Print everything as one JSON object.")
@handle_errors
def show_command(db: Path, run: str, zarr_store: Path | None, as_json: bool) -> None:
    r"""Show RUN of beamtime DB: a uid, a unique uid prefix, a scan_id, or -N (-1: the latest).

    Its metadata (the start document), streams with their fields, dtypes,
    shapes and event counts, frame arrays (path, shape, dtype, codec),
    rejected documents and detector frames that could not be read.

    \b
    Examples:
        resonance-callback show beamtime.db 5cad8dde
        resonance-callback show beamtime.db 5cad --json
        resonance-callback show beamtime.db 12
        resonance-callback show beamtime.db -1
    """
    info = describe_run(db, run, zarr_store=zarr_store)
    if as_json:
        click.echo(jsoncodec.dumps(info))
        return
    click.echo("\n".join(_run_lines(info)))


def _value(value: Any, width: int = 70) -> str:
    text = value if isinstance(value, str) else json.dumps(jsoncodec.to_builtin(value))
    return text if len(text) <= width else text[:width - 3] + "..."


def _run_lines(info: dict[str, Any]) -> list[str]:
    run, start, stop = info["run"], info["start"] or {}, info["stop"] or {}
    took = (f" ({run['time_stop'] - run['time_start']:.1f} s)"
            if run["time_stop"] is not None and run["time_start"] is not None else "")
    status = run["exit_status"] or "open (no stop: still running, or cut off)"
    out = [f"Run {run['uid']}",
           f"  plan:        {run['plan_name'] or '-'}"
           + (f" (scan_id {run['scan_id']})" if run["scan_id"] is not None else ""),
           f"  sample:      {run['sample'] or '-'}",
           f"  started:     {_when(run['time_start'])}",
           f"  stopped:     {_when(run['time_stop'])}{took}",
           f"  exit status: {status}" + (f" ({run['reason']})" if run["reason"] else "")]
    for key in ("detectors", "motors", "num_points", "plan_args"):
        if key in start:
            out.append(f"  {key + ':':<12} {_value(start[key])}")
    if stop.get("num_events"):
        out.append(f"  num_events:  {_value(stop['num_events'])}")
    other = {k: v for k, v in start.items() if k not in _START_SHOWN}
    if other:
        out.append("Metadata")
        width = max(len(k) for k in other)
        out += [f"  {k.ljust(width)}  {_value(v)}" for k, v in sorted(other.items())]
    for stream in info["streams"]:
        out.append(f"Stream {stream['name']} (descriptor {stream['uid'][:8]}, "
                   f"{stream['events']} events)")
        rows = [[f["name"], _dtype(f), _shape(f), f["stored"], f["source"] or "-"]
                for f in stream["fields"]]
        out += ["  " + line for line in
                _table(["FIELD", "DTYPE", "SHAPE", "STORED", "SOURCE"], rows).splitlines()]
    if info["arrays"]:
        out.append("Frame arrays")
        rows = [[a["path"], str(a["frames"]), "-" if a["shape"] is None else str(tuple(a["shape"])),
                 a["dtype"] or "-", a["codec"] or "-"] + ([a["problem"]] if a["problem"] else [])
                for a in info["arrays"]]
        headers = ["PATH", "FRAMES", "SHAPE", "DTYPE", "CODEC"]
        headers += ["PROBLEM"] if any(a["problem"] for a in info["arrays"]) else []
        rows = [row + [""] * (len(headers) - len(row)) for row in rows]
        out += ["  " + line for line in _table(headers, rows).splitlines()]
    out.append(f"Rejected documents: {len(info['rejected_documents'])}")
    out += [f"  {r['name']} {r['uid'] or '(no uid)'}: {r['reason']}"
            for r in info["rejected_documents"]]
    out.append(f"Unresolved frames: {len(info['unresolved_frames'])}")
    out += [f"  {u['stream']}/{u['field']} seq_num {u['seq_num']} ({u['reference']}): "
            f"{u['reason']}" for u in info["unresolved_frames"]]
    return out


def _dtype(field: dict[str, Any]) -> str:
    """The declared dtype, with the stored frames' numpy dtype when they are frames.

    Frames of another dtype than the declared ``dtype_numpy`` say so.
    """
    declared = field["dtype"] or "-"
    actual = field.get("frame_dtype") or field.get("dtype_numpy")
    if field.get("dtype_differs"):
        actual = f"{actual}; declared {field['dtype_numpy']}"
    return f"{declared} ({actual})" if actual else declared


def _shape(field: dict[str, Any]) -> str:
    declared = "-" if field["shape"] is None else json.dumps(field["shape"])
    stored = field.get("frame_shape")
    if stored is not None and list(stored) != field["shape"]:
        return f"{declared} (stored {json.dumps(stored)})"
    return declared
