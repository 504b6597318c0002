"""The rows a writer keeps besides runs, streams and events: what documents could not give.

:class:`Records` keeps a document that could not be stored as it came
(``rejected_documents``), a resource, datum, stream_resource or stream_datum for
provenance (``external_documents``), and a frame that could not be read
(``unresolved_frames``).
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from typing import Any

from resonance_callback import jsoncodec
from resonance_callback.store._conflicts import ConflictPolicy, WriterParts
from resonance_callback.store._rows import ExternalRow, RejectedRow, UnresolvedRow

#: Insert one external document, numbered after every one stored (by any writer).
_INSERT_EXTERNAL = (
    "INSERT INTO external_documents (name, uid, run_uid, document, ordinal) VALUES "
    "(?, ?, ?, ?, (SELECT coalesce(max(ordinal), 0) + 1 FROM external_documents)) "
    "ON CONFLICT DO NOTHING")

__all__ = ["Records", "rejected_content", "storable_text"]


def storable_text(value: str | None) -> str | None:
    """A column value that is always valid UTF-8 (a lone surrogate becomes ``\\udXXX``)."""
    if value is None:
        return None
    value = str(value)
    if value.isascii():
        return value
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def rejected_content(content: Any) -> str:
    """A rejected document as JSON, always: whole, or clipped where nested too deep.

    Parameters
    ----------
    content : Any
        The document as it came.

    Returns
    -------
    str
        :func:`jsoncodec.dumps_whole` of it, or, when no encoder takes it, its ``repr``.
    """
    try:
        return jsoncodec.dumps_whole(content)
    except Exception:  # noqa: BLE001 - a value no encoder takes: keep what it looked like
        try:
            shown = repr(content)
        except Exception:  # noqa: BLE001 - not even a repr (too deep)
            shown = f"<{type(content).__name__} that cannot be shown>"
        return jsoncodec.dumps({"repr": shown})


class Records:
    """Rejected documents, external documents and unresolved frames of an open writer.

    Parameters
    ----------
    parts : callable
        ``parts(what)``: the open writer's parts; raises :class:`WriterStateError`
        (saying it cannot do ``what``) when the writer is not open.
    conflicts : ConflictPolicy
        The writer's conflict policy.
    """

    def __init__(self, parts: Callable[[str], WriterParts], conflicts: ConflictPolicy) -> None:
        self.parts = parts
        self.conflicts = conflicts

    def record_unresolved(self, row: UnresolvedRow) -> None:
        """Record a frame that could not be read into the store, with the reason.

        Parameters
        ----------
        row : UnresolvedRow
            The data key, the reference, the reason and where it belongs.
        """
        batch = self.parts("record an unresolved frame").batch
        batch.execute(
            "INSERT INTO unresolved_frames (run_uid, stream_uid, field_name, seq_num, "
            "reference, reason, time) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row.run_uid, row.stream_uid, row.field_name, row.seq_num, row.reference,
             row.reason, _time.time()),
        )
        batch.count()

    def record_rejected(self, row: RejectedRow) -> None:
        """Keep a document that could not be stored as it came, with the reason.

        Parameters
        ----------
        row : RejectedRow
            Its name, uid, run, the reason and the content as it came (kept
            whole as JSON, or its ``repr`` if it cannot be encoded).
        """
        parts = self.parts("record a rejected document")
        batch = parts.batch
        parts.counts["rejected"] += 1
        if self.conflicts.rejection_stored(row):
            return
        batch.execute(
            "INSERT INTO rejected_documents (run_uid, name, uid, reason, document, time) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (*map(storable_text, (row.run_uid, row.name, row.uid, row.reason)),
             rejected_content(row.content), _time.time()),
        )
        batch.count()

    def record_external(self, row: ExternalRow) -> None:
        """Keep a resource, datum, stream_resource or stream_datum document for provenance.

        Parameters
        ----------
        row : ExternalRow
            The document's name, uid, run, and the document kept whole.

        Raises
        ------
        ValueError
            If a document of this name and uid is already stored (:class:`DocumentError`).
        """
        batch = self.parts("record an external document").batch
        self.conflicts.external(row)
        columns = {"name": row.name, "uid": row.uid, "run_uid": row.run_uid,
                   "document": jsoncodec.dumps(row.document)}
        # The number is taken in the same statement, under the write lock, so writers
        # in other processes never hand out the same one (an index makes it cheap).
        with batch.unit():
            if batch.execute(_INSERT_EXTERNAL, tuple(columns.values())).rowcount != 1:
                self.conflicts.conflict("external_documents", columns)
        batch.count()
