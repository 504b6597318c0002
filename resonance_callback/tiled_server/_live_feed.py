"""What one live subscription sends: Tiled's streaming messages, worked out by polling.

Tiled's SQL catalog publishes a message when its own write path makes a node
or writes data. Our beamtime is written by another process, so a
subscription polls its node instead (:mod:`._live`) and turns what appeared
since into the messages the catalog sends, with the same schema:

- a container (a beamtime, a run, a stream): ``container-child-created`` per
  new child (key, structure family, specs, metadata, a data source carrying
  the structure of a table or array child);
- a table (a stream's ``internal``): ``table-data``, the new rows as one
  Arrow file (at most :data:`MAX_ROWS_PER_MESSAGE` rows a message);
- an array (a field's frames): ``array-ref``, the new frames as a patch and
  the array's whole shape, with the URI that reads them.

Sequence numbers are derived from what is stored, so they are the same on
every connection and ``start=`` replays: a container's child ``n`` (its
position, from 1), a table's message ends at row ``n``, an array's at frame
``n``. A run's subscriptions end (the socket closed, code 1000) once its
stop document is stored and everything before it was sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from resonance_callback._extras import needs_extra

with needs_extra("tiled", "tiled[server]", "serving beamtimes over Tiled"):
    import orjson
    from tiled.serialization.table import serialize_arrow
    from tiled.utils import APACHE_ARROW_FILE_MIME_TYPE, safe_json_dump

__all__ = ["MAX_CHILDREN_PER_POLL", "MAX_ROWS_PER_MESSAGE", "Feed", "schema_message",
           "structure_family"]

#: Most ``container-child-created`` messages one poll sends (the rest on the next).
MAX_CHILDREN_PER_POLL = 100
#: Most rows (or frames) one ``table-data`` (``array-ref``) message carries.
MAX_ROWS_PER_MESSAGE = 10_000

Message = tuple[dict[str, Any], bytes | None]


def _plain(value: dict[str, Any]) -> dict[str, Any]:
    """``value`` as JSON builtins, as the catalog's streaming cache keeps a message."""
    plain: dict[str, Any] = orjson.loads(safe_json_dump(value))  # a dict comes back a dict
    return plain


def _now() -> str:
    return datetime.now().isoformat()


def structure_family(node: Any) -> str:
    """The node's structure family, as the text Tiled's messages carry."""
    return str(getattr(node.structure_family, "value", node.structure_family))


def schema_message(node: Any) -> dict[str, Any]:
    """Return the first message of a subscription to ``node``, as the catalog's."""
    family = structure_family(node)
    if family == "table":
        return {"type": "table-schema", "version": 1,
                "arrow_schema": node.structure().arrow_schema}
    if family == "array":
        return {"type": "array-schema", "version": 1,
                "data_type": _plain(node.structure().data_type)}
    return {"type": "container-schema", "version": 1}


def _data_source(child: Any, family: str) -> dict[str, Any]:
    mimetype = APACHE_ARROW_FILE_MIME_TYPE if family == "table" else "application/x-zarr"
    return {"id": None, "structure_family": family, "structure": child.structure(),
            "mimetype": mimetype, "parameters": {}, "properties": {}, "assets": [],
            "management": "external"}


def _child_created(sequence: int, key: str, child: Any) -> dict[str, Any]:
    family = structure_family(child)
    sources = [] if family == "container" else [_data_source(child, family)]
    return _plain({"type": "container-child-created", "sequence": sequence,
                   "timestamp": _now(), "key": key, "structure_family": family,
                   "specs": list(child.specs), "metadata": child.metadata(),
                   "data_sources": sources, "access_tags": []})


@dataclass
class Feed:
    """What one subscription has sent of its node, and what to send next.

    Parameters
    ----------
    start : int or None
        Tiled's ``start``: None sends only what appears from now on, ``0`` or
        ``1`` everything from the first item, ``n`` from sequence ``n`` on.
    uri : str
        The node's ``/array/full/...`` URI (an ``array-ref`` names its slice of it).
    """

    start: int | None
    uri: str
    _sent_keys: set[str] = field(default_factory=set)
    _sent: int = 0  # rows or frames sent
    _begun: bool = False

    def poll(self, node: Any) -> list[Message]:
        """Return the messages for what ``node`` (read now) holds that was not sent yet."""
        family = structure_family(node)
        if family == "container":
            return self._children(node)
        if family == "table":
            frame = node.read()
            return self._rows(len(frame), lambda lo, hi: self._table_data(frame, lo, hi))
        if family == "array":
            shape = tuple(node.structure().shape)
            if not shape:
                return []
            return self._rows(shape[0], lambda lo, hi: self._array_ref(node, shape, lo, hi))
        return []

    def _skip_to(self, available: int) -> int:
        """Where sending starts on the first poll (the count sent so far, as if replayed)."""
        if self.start is None:
            return available
        return min(max(self.start - 1, 0), available)

    def _children(self, node: Any) -> list[Message]:
        keys = list(node.child_keys())
        if not self._begun:
            self._begun = True
            self._sent_keys.update(keys[:self._skip_to(len(keys))])
        out: list[Message] = []
        for position, key in enumerate(keys, start=1):
            if key in self._sent_keys:
                continue
            try:
                child = node.child(key)
            except KeyError:  # listed, then gone (a search's view): not there yet
                continue
            self._sent_keys.add(key)
            out.append((_child_created(position, key, child), None))
            if len(out) >= MAX_CHILDREN_PER_POLL:
                break
        return out

    def _rows(self, available: int, make: Any) -> list[Message]:
        if not self._begun:
            self._begun = True
            self._sent = self._skip_to(available)
        out: list[Message] = []
        while self._sent < available:
            hi = min(available, self._sent + MAX_ROWS_PER_MESSAGE)
            out.append(make(self._sent, hi))
            self._sent = hi
        return out

    @staticmethod
    def _table_data(frame: Any, lo: int, hi: int) -> Message:
        payload = bytes(serialize_arrow(APACHE_ARROW_FILE_MIME_TYPE, frame.iloc[lo:hi], {}))
        return ({"type": "table-data", "sequence": hi, "timestamp": _now(),
                 "mimetype": APACHE_ARROW_FILE_MIME_TYPE, "partition": 0, "append": True},
                payload)

    def _array_ref(self, node: Any, shape: tuple[int, ...], lo: int, hi: int) -> Message:
        offset = (lo, *(0 for _ in shape[1:]))
        patch = (hi - lo, *shape[1:])
        window = ",".join(f"{o}:{o + n}" for o, n in zip(offset, patch, strict=True))
        return (_plain({"type": "array-ref", "sequence": hi, "timestamp": _now(),
                        "data_source": _data_source(node, "array"),
                        "patch": {"offset": offset, "shape": patch}, "shape": shape,
                        "uri": f"{self.uri}?slice={window}"}), None)
