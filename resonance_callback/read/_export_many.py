"""Export several runs at once: one file per run, or one file holding them all.

The function behind ``resonance-callback export`` for every format.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback.errors import DataLookupError
from resonance_callback.read._beamtime import Beamtime
from resonance_callback.read._export import export_csv, export_jsonl, export_tiff
from resonance_callback.read._export_files import (
    created,
    is_range,
    out_directory,
    pick_runs,
    run_stem,
    runs_named,
)
from resonance_callback.read._msgpack_export import (
    export_msgpack,
    exported_documents,
    write_runs,
)
from resonance_callback.read._nexus import export_nexus
from resonance_callback.read._run import Run

__all__ = ["EXPORT_FORMATS", "Exported", "export_runs", "export_selected"]

#: The formats :func:`export_runs` writes, and the suffix of a run's file in each.
EXPORT_FORMATS = {"jsonl": ".jsonl", "msgpack": ".msgpack", "nexus": ".nxs", "csv": "",
                  "tiff": ""}
_ONE_FILE = ("jsonl", "msgpack", "nexus")
_STDOUT = ("jsonl", "msgpack")


@dataclass
class Exported:
    """One file (or directory, for csv and tiff) an export wrote.

    Attributes
    ----------
    path : Path
        What was written (``"-"`` for standard output).
    runs : list of str
        The uids of the runs in it.
    files : int
        Files written there (csv and tiff: in the directory; else 1).
    documents : int or None
        Documents written (jsonl, msgpack), else None.
    """

    path: Path
    runs: list[str]
    files: int = 1
    documents: int | None = None

    @property
    def named(self) -> str:
        """The runs in it as a message names them: ``run <uid>`` or ``3 runs``."""
        return runs_named(self.runs)


def export_runs(runs: Sequence[Run], fmt: str, out: Path | str, *, per_run: bool,
                fill: bool = True, streams: Iterable[str] = (), fields: Iterable[str] = (),
                stack: bool = False, timestamps: bool = False) -> list[Exported]:
    """Write runs in one format: to ``out`` itself, or one file per run inside ``out``.

    Parameters
    ----------
    runs : sequence of Run
        The runs, in the order written (see :func:`pick_runs`).
    fmt : str
        One of :data:`EXPORT_FORMATS`.
    out : Path or str
        With ``per_run``, a directory (created if missing) holding each run's
        file, named after the run: ``scan00012-1a2b3c4d.nxs`` (csv and tiff:
        a directory ``scan00012-1a2b3c4d/``). Without, the one file holding
        every run (jsonl, msgpack, nexus),
        or the directory of the single run (csv, tiff); one run's file goes
        into ``out`` when it is a directory. ``"-"`` is standard output
        (jsonl, msgpack; not ``per_run``).
    per_run : bool
        One file per run rather than one for all.
    fill, streams, fields, stack, timestamps
        As :func:`export_jsonl`, :func:`export_csv` and :func:`export_tiff`.

    Returns
    -------
    list of Exported
        What was written, in order.

    Raises
    ------
    OSError
        If a file exists already (never overwritten) or cannot be written
        (:class:`StorageError`, naming it and its run).
    KeyError
        csv or tiff of several runs without ``per_run``, or a field or
        stream that is missing (:class:`DataLookupError`).
    """
    if fmt not in EXPORT_FORMATS:
        raise DataLookupError(f"unknown export format {fmt!r}; one of {list(EXPORT_FORMATS)}")
    out = Path(out)
    if str(out) == "-" and (per_run or fmt not in _STDOUT):
        raise DataLookupError(f"-o - (standard output) takes one stream: {', '.join(_STDOUT)} "
                              "of one run or, with --one-file, of all")
    if not per_run:
        if fmt not in _ONE_FILE and len(runs) > 1:
            raise DataLookupError(f"{fmt} writes a directory per run: {len(runs)} runs cannot "
                                  f"go into one; one file for all is for {', '.join(_ONE_FILE)}")
        if fmt in _ONE_FILE and len(runs) == 1 and out.is_dir():  # -o nexus/: a file in it
            out = out / f"{run_stem(runs[0])}{EXPORT_FORMATS[fmt]}"
        return [_write(list(runs), fmt, out, fill, streams, fields, stack, timestamps)]
    directory = out_directory(out)
    return [_write([run], fmt, directory / f"{run_stem(run)}{EXPORT_FORMATS[fmt]}", fill,
                   streams, fields, stack, timestamps) for run in runs]


def export_selected(bt: Beamtime, keys: Sequence[str], fmt: str, out: Path | str, *,
                    one_file: bool = False, filters: dict[str, Any] | None = None,
                    **options: Any) -> list[Exported]:
    """Export the runs ``keys`` and ``filters`` select, as ``resonance-callback export`` does.

    One key naming one run (no range, no filter) is written to ``out``
    itself; otherwise ``out`` is a directory of one file per run, or with
    ``one_file`` the one file holding them all (:func:`export_runs`).

    Parameters
    ----------
    bt : Beamtime
        The open beamtime.
    keys : sequence of str
        Run keys and scan-id ranges (:func:`pick_runs`).
    fmt : str
        One of :data:`EXPORT_FORMATS`.
    out : Path or str
        Where to write.
    one_file : bool, optional
        Every run in the one file ``out``.
    filters : dict, optional
        :meth:`Beamtime.runs` filters; None values are ignored.
    **options
        Passed to :func:`export_runs` (``fill``, ``streams``, ...).

    Returns
    -------
    list of Exported
        What was written.
    """
    filters = {k: v for k, v in (filters or {}).items() if v is not None and v != {}}
    single = len(keys) == 1 and not is_range(keys[0]) and not filters
    runs = pick_runs(bt, keys, **filters)
    return export_runs(runs, fmt, out, per_run=not (single or one_file), **options)


def _write(runs: list[Run], fmt: str, out: Path, fill: bool, streams: Iterable[str],
           fields: Iterable[str], stack: bool, timestamps: bool) -> Exported:
    uids = [run.uid for run in runs]
    if fmt == "nexus":
        export_nexus(runs, out)
    elif fmt == "msgpack" and str(out) == "-":
        documents = write_runs(sys.stdout.buffer, runs, fill=fill)
        sys.stdout.buffer.flush()
        return Exported(out, uids, documents=documents)
    elif fmt == "msgpack":
        return Exported(out, uids, documents=export_msgpack(runs, out, fill=fill))
    elif fmt == "jsonl" and str(out) == "-":
        return Exported(out, uids, documents=sum(export_jsonl(run, "-", fill=fill)
                                                 for run in runs))
    elif fmt == "jsonl":
        n = 0
        with created(out, runs_named(uids)) as handle:
            for run in runs:
                for name, doc in exported_documents(run, fill=fill):
                    handle.write(jsoncodec.dumps([name, doc]).encode("utf-8") + b"\n")
                    n += 1
        return Exported(out, uids, documents=n)
    elif fmt == "csv":
        return Exported(out, uids, len(export_csv(runs[0], out, streams=streams,
                                                  timestamps=timestamps)))
    else:
        return Exported(out, uids, len(export_tiff(runs[0], out, streams=streams,
                                                   fields=fields, stack=stack)))
    return Exported(out, uids)
