"""``IndexWriter``'s beamtimes: register, list, find and remove beamtime databases."""

from __future__ import annotations

import os

from resonance_callback.errors import IndexEntryError, IndexLookupError
from resonance_callback.index import _store as store
from resonance_callback.index._connection import _absolute, _IndexConnection
from resonance_callback.index._dialect import IndexConn
from resonance_callback.index._model import BeamtimeEntry


class _Beamtimes(_IndexConnection):
    """The beamtime methods of :class:`~resonance_callback.index.IndexWriter`."""

    def register_beamtime(
        self,
        researcher_id: int,
        label: str,
        db_path: str | os.PathLike[str],
        *,
        time_start: float | None = None,
    ) -> int:
        """Insert or retrieve a beamtime row and return its id.

        Parameters
        ----------
        researcher_id : int
            Foreign key into the ``researchers`` table.
        label : str
            Human-readable beamtime label, e.g. "2026-03-05". Registering the
            same database again replaces the label.
        db_path : str
            Path to the per-beamtime SQLite file; it must lie under the
            researcher's root and is stored relative to it.
        time_start : float or None
            Unix timestamp for the start of the beamtime session. The earliest
            time given is kept.

        Returns
        -------
        int
            Primary key of the beamtime row; the same database always gives
            the same id.

        Raises
        ------
        IndexLookupError
            If there is no researcher ``researcher_id``.
        IndexEntryError
            If ``db_path`` is not under the researcher's root.
        """
        target = _absolute(db_path)

        def work(conn: IndexConn) -> int:
            name, root = self._researcher_row(conn, researcher_id)
            try:
                relative = target.relative_to(root).as_posix()
            except ValueError:
                raise IndexEntryError(
                    f"beamtime database {target} is not under {root}, the root of researcher "
                    f"{name!r}; the index stores beamtime paths relative to that root"
                ) from None
            return store.upsert_beamtime(conn, researcher_id, label, relative, time_start)

        return self._write(work)

    def beamtimes(self) -> list[BeamtimeEntry]:
        """Return every registered beamtime, in registration order.

        Returns
        -------
        list of BeamtimeEntry
            Each with its researcher and resolved ``db_path``.
        """
        return store.list_beamtimes(self._connection())

    def find_beamtime(self, db_path: str | os.PathLike[str]) -> BeamtimeEntry:
        """Return the registered beamtime whose database is ``db_path``.

        Parameters
        ----------
        db_path : str or PathLike
            The beamtime database, as it resolves now.

        Returns
        -------
        BeamtimeEntry
            The beamtime (the first registered, should two researchers' roots
            both contain it).

        Raises
        ------
        IndexLookupError
            If no registered beamtime resolves to ``db_path``.
        """
        target = _absolute(db_path)
        for entry in self.beamtimes():
            if entry.db_path == target:
                return entry
        raise IndexLookupError(f"beamtime database {target} is not registered in {self._path}")

    def remove_beamtime(self, beamtime: int | str | os.PathLike[str]) -> int:
        """Remove a beamtime and every run indexed from it.

        Parameters
        ----------
        beamtime : int, str or PathLike
            The beamtime's id, or the path of its database.

        Returns
        -------
        int
            The number of runs removed from the index.

        Raises
        ------
        IndexLookupError
            If no such beamtime is registered.
        """
        if isinstance(beamtime, str | os.PathLike):
            beamtime_id = self.find_beamtime(beamtime).id
        elif isinstance(beamtime, bool):  # an int to Python, never meant as an id
            raise TypeError(f"beamtime must be an id or a database path, not {beamtime!r}")
        else:
            beamtime_id = beamtime

        def work(conn: IndexConn) -> int:
            self._check_beamtime(conn, beamtime_id)
            return store.delete_beamtime(conn, beamtime_id)

        return self._write(work)
