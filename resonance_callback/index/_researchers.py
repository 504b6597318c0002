"""``IndexWriter``'s researchers: register, find, and move one to a new root."""

from __future__ import annotations

import os

from resonance_callback.errors import IndexLookupError
from resonance_callback.index import _store as store
from resonance_callback.index._connection import _absolute, _IndexConnection
from resonance_callback.index._dialect import IndexConn


class _Researchers(_IndexConnection):
    """The researcher methods of :class:`~resonance_callback.index.IndexWriter`."""

    def register_researcher(
        self,
        name: str,
        root_path: str | os.PathLike[str],
        *,
        email: str | None = None,
        orcid: str | None = None,
        affiliation: str | None = None,
    ) -> int:
        """Insert or retrieve a researcher row and return its id.

        Parameters
        ----------
        name : str
            Full name of the researcher.
        root_path : str
            Filesystem root under which this researcher's data lives. Stored
            absolute; beamtime paths are stored relative to it.
        email : str or None
            Contact email address.
        orcid : str or None
            ORCID identifier string.
        affiliation : str or None
            Institutional affiliation.

        Returns
        -------
        int
            Primary key of the researcher row. The same ``name`` and
            ``root_path`` always give the same id; contact details given
            again replace the stored ones, None keeps them.
        """
        root = str(_absolute(root_path))
        return self._write(
            lambda conn: store.upsert_researcher(conn, name, root, email, orcid, affiliation)
        )

    def find_researcher(self, name: str, root_path: str | os.PathLike[str] | None = None) -> int:
        """Return the id of the researcher called ``name`` (under ``root_path``, if given).

        Parameters
        ----------
        name : str
            Full name of the researcher.
        root_path : str or None, optional
            Their root; needed only when several researchers share the name.

        Returns
        -------
        int
            Primary key of the researcher row.

        Raises
        ------
        IndexLookupError
            If no researcher, or more than one, matches.
        """
        root = None if root_path is None else str(_absolute(root_path))
        rows = store.researchers_named(self._connection(), name, root)
        where = f"{name!r}" + (f" with root {root_path}" if root_path is not None else "")
        if not rows:
            raise IndexLookupError(f"no researcher {where} in index {self._path}")
        if len(rows) > 1:
            roots = ", ".join(row[1] for row in rows)
            raise IndexLookupError(
                f"several researchers {where} in index {self._path} (roots {roots}); give the root"
            )
        return rows[0][0]

    def move_researcher(self, researcher_id: int, new_root: str | os.PathLike[str]) -> int:
        """Point a researcher at a new root, after their tree was moved or mounted elsewhere.

        Beamtime paths are relative to the root, so they all resolve under
        ``new_root`` afterwards. If the same name is already registered with
        ``new_root`` (say, a RunEngine on the new machine registered it), the
        two researchers are merged into that one.

        Parameters
        ----------
        researcher_id : int
            The researcher to move.
        new_root : str or PathLike
            The root their tree now lives under.

        Returns
        -------
        int
            The id the researcher has afterwards (the other one's, after a merge).

        Raises
        ------
        IndexLookupError
            If there is no researcher ``researcher_id``.
        """
        root = str(_absolute(new_root))

        def work(conn: IndexConn) -> int:
            name = self._researcher_row(conn, researcher_id)[0]
            others = [rid for rid, _ in store.researchers_named(conn, name, root)
                      if rid != researcher_id]
            if not others:
                store.set_root(conn, researcher_id, root)
                return researcher_id
            store.merge_researchers(conn, researcher_id, others[0])
            return others[0]

        return self._write(work)
