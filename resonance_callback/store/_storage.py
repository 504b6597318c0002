"""An open beamtime: its connection, writer lock, frame store and batch transaction."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resonance_callback._sqlite import connect
from resonance_callback.store._batch import Batch, tune
from resonance_callback.store._frame_location import record_location, resolve_location
from resonance_callback.store._frames import FrameStore
from resonance_callback.store._liveness import WriterLock
from resonance_callback.store._repair import register_writer
from resonance_callback.store._take_over import take_over_run

__all__ = ["Storage"]


@dataclass
class Storage:
    """What a writer holds while it is open; :meth:`open` makes it, :meth:`close` ends it."""

    conn: sqlite3.Connection
    lock: WriterLock
    frames: FrameStore
    batch: Batch

    @classmethod
    def open(cls, db_path: Path, zarr_location: Any, *, codec: str, synchronous: str,
             commit_every: int, commit_interval: float) -> Storage:
        """Connect (creating the schema), open the Zarr store, repair and register the writer.

        Raises what :meth:`RunWriter.open` documents; nothing is left open then.
        """
        conn = connect(db_path, "beamtime", synchronous=synchronous)
        try:
            zarr_location = resolve_location(conn, db_path, zarr_location)
            frames = FrameStore(zarr_location, codec=codec)
            record_location(conn, zarr_location)
            lock = register_writer(conn, db_path, frames)
        except BaseException:
            conn.close()
            raise
        tune(conn)
        batch = Batch(conn, db_path, frames, commit_every=commit_every,
                      commit_interval=commit_interval)
        return cls(conn, lock, frames, batch)

    def take_over(self, uid: str) -> None:
        """Resume run ``uid`` as this writer's, trimming it first if its writer is gone."""
        take_over_run(self.conn, self.lock.db_path, getattr(self.frames, "_location", None),
                      self.lock.token, uid)

    def close(self) -> None:
        """Release the lock (the writer's open runs are no longer live) and close it all.

        Commit first: what is pending here is lost.
        """
        try:
            self.lock.release(self.conn)
        finally:
            self.conn.close()
            self.frames.close()
