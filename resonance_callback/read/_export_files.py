"""Which runs an export writes, the files it writes them to, and the files made safely.

:func:`pick_runs` selects runs as ``export DB 3..12 --since ...`` names them:
run keys (what ``Beamtime[key]`` takes) and scan-id ranges, narrowed by the
run filter of :meth:`Beamtime.runs <resonance_callback.read.Beamtime.runs>`.
:func:`run_stem` names a run's own file, :func:`created` makes an output file
that did not exist, and removes it again when writing it fails.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from resonance_callback.errors import DataLookupError, RunLookupError, StorageError

if TYPE_CHECKING:
    from resonance_callback.read._beamtime import Beamtime
    from resonance_callback.read._run import Run

__all__ = ["created", "is_range", "out_directory", "pick_runs", "run_stem", "runs_named"]

_RANGE = re.compile(r"^(\d*)\.\.(\d*)$")


def is_range(key: str) -> bool:
    """Whether ``key`` is a scan-id range (``3..12``, ``3..``, ``..12``, ``..``)."""
    return _RANGE.match(key.strip()) is not None


def pick_runs(bt: Beamtime, keys: Sequence[str] = (), **filters: Any) -> list[Run]:
    """Return the runs named by ``keys`` that match every filter, oldest first.

    Parameters
    ----------
    bt : Beamtime
        The open beamtime.
    keys : sequence of str, optional
        Run keys as ``bt[key]`` takes them (a uid, a unique uid prefix, a
        scan id, ``-N``), and scan-id ranges ``A..B`` (both ends included;
        either end may be left out). None: every run the filters match.
    **filters
        The filters of :meth:`Beamtime.runs` (``sample``, ``since``, ...);
        ``None`` values are ignored.

    Returns
    -------
    list of Run
        Each run once, by start time, oldest first.

    Raises
    ------
    KeyError
        If a key names no run (:class:`RunLookupError`), or nothing is
        left once filtered (:class:`DataLookupError`).
    """
    filters = {k: v for k, v in filters.items() if v is not None and v != {}}
    chosen: dict[str, Run] = {}
    everything: list[Run] | None = None
    for key in keys:
        found = _RANGE.match(key.strip())
        if found is None:
            run = bt[key]
            chosen.setdefault(run.uid, run)
            continue
        low = int(found[1]) if found[1] else None
        high = int(found[2]) if found[2] else None
        everything = bt.runs() if everything is None else everything
        inside = [run for run in everything if run.scan_id is not None
                  and (low is None or run.scan_id >= low) and (high is None or run.scan_id <= high)]
        if not inside:
            raise RunLookupError(f"no run of {bt.path} has a scan_id in {key}")
        for run in inside:
            chosen.setdefault(run.uid, run)
    runs = list(chosen.values()) if keys else bt.runs(**filters)
    if keys and filters:
        wanted = {run.uid for run in bt.runs(**filters)}
        runs = [run for run in runs if run.uid in wanted]
    if not runs:
        named = " ".join(keys) or "any run"
        shown = " ".join(f"{k}={v}" for k, v in filters.items())
        raise DataLookupError(f"no run of {bt.path} matches {named}"
                              + (f" with {shown}" if shown else ""))
    return sorted(runs, key=lambda run: (run.time_start, run.uid))


def run_stem(run: Run) -> str:
    """A run's file name without suffix: ``scan00012-1a2b3c4d`` (``noscan-...`` without one)."""
    scan = "noscan" if run.scan_id is None else f"scan{run.scan_id:05d}"
    return f"{scan}-{run.uid[:8]}"


def runs_named(uids: Sequence[str]) -> str:
    """What an error about a file of these runs says it held: ``run <uid>`` or ``3 runs``."""
    return f"run {uids[0]}" if len(uids) == 1 else f"{len(uids)} runs"


def out_directory(out: Path) -> Path:
    """Create the directory ``out`` (and its parents) if missing; one clear error if not."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create directory {out}: {exc.strerror or exc}") from exc
    return out


@contextlib.contextmanager
def created(path: Path, what: str = "") -> Iterator[IO[bytes]]:
    """Create ``path`` (not there yet) and its directory; yield it open; remove it on failure.

    Parameters
    ----------
    path : Path
        The file to create.
    what : str, optional
        What goes in it (``"run 1a2b3c4d"``), named in error messages.

    Raises
    ------
    OSError
        If the file exists or cannot be created or written (:class:`StorageError`,
        one line naming the path).
    """
    about = f" ({what})" if what else ""
    out_directory(path.parent)
    try:
        handle = path.open("xb")
    except FileExistsError:
        raise StorageError(f"{path} already exists{about}: not overwritten; remove it or "
                           "choose another output") from None
    except OSError as exc:
        raise StorageError(f"cannot create {path}{about}: {exc.strerror or exc}") from exc
    try:
        with handle:
            yield handle
    except BaseException as exc:
        path.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, StorageError):
            raise StorageError(f"cannot write {path}{about}: {exc.strerror or exc}") from exc
        raise
