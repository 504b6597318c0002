"""Write runs as a msgpack document stream, laid out as suitcase-msgpack lays it out.

Each document is one msgpack array ``[name, doc]`` packed with
``use_bin_type=True``; numpy arrays and scalars are the maps msgpack-numpy
writes (``{b"nd": True, b"type": dtype.str, b"kind": b"", b"shape": [...],
b"data": raw bytes}``); events are written as one-event ``event_page``
documents and datums as one-datum ``datum_page`` documents, as
suitcase-msgpack's serializer (an ``event_model.DocumentRouter``) turns them.
So a file written here is the file suitcase-msgpack would write for the same
documents, read by ``msgpack.Unpacker(file, object_hook=msgpack_numpy.decode,
raw=False)``, by databroker's msgpack catalog and by ``resonance-callback
replay``. Unlike suitcase-msgpack, ophyd-async's ``stream_resource`` and
``stream_datum`` documents are kept (a replay needs them), and an
object-dtype array is written as a list, never pickled.

An exported start document carries the run's stored sample when the start
document does not name that same sample
(:meth:`SampleMetadata.carry <resonance_callback.store.SampleMetadata.carry>`),
so a replay stores the run with the sample it had.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import event_model
import msgpack
import numpy as np

from resonance_callback.errors import DocumentError
from resonance_callback.read._export_files import created, runs_named
from resonance_callback.read._run import Run

__all__ = ["export_msgpack", "exported_documents", "pack_document", "write_runs"]


def exported_documents(run: Run, *, fill: bool = True) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``run.documents(fill)``, the start document carrying the run's stored sample."""
    sample = run.sample
    for name, doc in run.documents(fill=fill):
        if name == "start" and sample is not None:
            doc = sample.carry(doc)
        yield name, doc


def _encode(obj: Any) -> Any:
    """msgpack-numpy's encoding of numpy values (an object array becomes a list)."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "O":
            return obj.tolist()
        kind, descr = (b"V", obj.dtype.descr) if obj.dtype.kind == "V" else (b"", obj.dtype.str)
        data = obj.data if obj.flags["C_CONTIGUOUS"] else obj.tobytes()
        return {b"nd": True, b"type": descr, b"kind": kind, b"shape": obj.shape, b"data": data}
    if isinstance(obj, np.bool_ | np.number):
        return {b"nd": False, b"type": obj.dtype.str, b"data": obj.data}
    if isinstance(obj, complex):
        return {b"complex": True, b"data": repr(obj)}
    raise TypeError(f"cannot pack a {type(obj).__name__}")


def pack_document(name: str, doc: dict[str, Any]) -> bytes:
    """Pack one document as suitcase-msgpack does (an event as an event page, ...).

    Raises
    ------
    ValueError
        If a value cannot be packed (an integer wider than 64 bits, an
        unknown type) (:class:`DocumentError`, naming the document).
    """
    if name == "event":
        name, doc = "event_page", dict(event_model.pack_event_page(doc))  # type: ignore[arg-type]
    elif name == "datum":
        name, doc = "datum_page", dict(event_model.pack_datum_page(doc))  # type: ignore[arg-type]
    try:
        packed: bytes = msgpack.packb((name, doc), default=_encode, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DocumentError(f"cannot pack {name} {doc.get('uid', '')}: {exc}") from exc
    return packed


def write_runs(handle: IO[bytes], runs: Sequence[Run], *, fill: bool = True) -> int:
    """Write the runs' documents to an open binary file; return how many."""
    n = 0
    for run in runs:
        try:
            for name, doc in exported_documents(run, fill=fill):
                handle.write(pack_document(name, doc))
                n += 1
        except DocumentError as exc:
            raise DocumentError(f"run {run.uid}: {exc}") from exc
    return n


def export_msgpack(runs: Run | Sequence[Run], out: Path | str, *, fill: bool = True) -> int:
    """Write runs as one msgpack document stream (suitcase-msgpack's layout).

    Parameters
    ----------
    runs : Run or sequence of Run
        The run, or the runs one after the other (each start to stop).
    out : Path or str
        The file; it must not exist.
    fill : bool, optional
        As :meth:`Run.documents`: frames copied into the store go into the events.

    Returns
    -------
    int
        The number of documents written.

    Raises
    ------
    OSError
        If the file exists or cannot be written (:class:`StorageError`; a
        partly written file is removed).
    ValueError
        If a value cannot be packed (:class:`DocumentError`, naming the run).
    """
    chosen = [runs] if isinstance(runs, Run) else list(runs)
    path = Path(out)
    with created(path, runs_named([run.uid for run in chosen])) as handle:
        return write_runs(handle, chosen, fill=fill)
