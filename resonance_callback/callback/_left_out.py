"""A start or descriptor whose content cannot all be encoded: stored without that part.

The store keeps a start document whole as the run's metadata (a descriptor
whole as its stream). When the JSON encoder cannot take a part of it (a key
that is a tuple or bytes, a cycle, nesting beyond the limit, an object whose
``repr`` raises), refusing the document would lose its whole run (or stream):
every later document of it would be rejected. Instead the run (stream) is
opened with that part left out
(:func:`~resonance_callback.store.leave_out_unencodable`), and the document is
kept whole in ``rejected_documents`` with a reason naming what was left out,
logged as one warning line. Live and replay take the same path, so a saved
stream replayed gives the same rows; replayed again, the run is found stored
and resumed (the kept metadata is the same), and the rejection is not stored twice.
"""

from __future__ import annotations

import dataclasses

from event_model.documents import EventDescriptor, RunStart

from resonance_callback.callback._jobs import reject
from resonance_callback.errors import DocumentError
from resonance_callback.store import RowWriter, RunRow, StreamRow, leave_out_unencodable

__all__ = ["open_run", "open_stream"]


def open_run(writer: RowWriter, row: RunRow, doc: RunStart) -> None:
    """Open the run of ``row``; metadata the encoder refuses is left out and recorded."""
    try:
        writer.write_run(row)
        return
    except DocumentError:
        kept, left_out = leave_out_unencodable(row.metadata)
        if left_out is None:  # refused for another reason: rejected as it is
            raise
    writer.write_run(dataclasses.replace(row, metadata=kept))
    reject(writer, "start", doc, f"start {row.uid}: part of its metadata cannot be encoded "
                                 f"and is left out: {left_out}; the run is stored without it",
           row.uid)


def open_stream(writer: RowWriter, row: StreamRow, doc: EventDescriptor) -> None:
    """Open the stream of ``row``; content the encoder refuses is left out and recorded."""
    try:
        writer.write_stream(row)
        return
    except DocumentError:
        kept, left_out = leave_out_unencodable(row.document)
        if left_out is None or not isinstance(kept.get("data_keys"), dict):
            raise
    configuration = kept.get("configuration")
    writer.write_stream(dataclasses.replace(
        row, data_keys=kept["data_keys"], document=kept,
        configuration=configuration if isinstance(configuration, dict) else {}))
    reject(writer, "descriptor", doc, f"descriptor {row.uid}: part of it cannot be encoded "
                                      f"and is left out: {left_out}; the stream is stored "
                                      "without it", row.run_uid)
