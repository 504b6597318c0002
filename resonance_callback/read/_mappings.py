"""A beamtime as a read-only mapping of uid to :class:`Run`, newest first, as databroker's.

``bt.keys()`` are the uids, ``bt.values()`` and ``bt.items()`` list the runs in one
query (not one per uid). A beamtime is compared and hashed as the object it is,
not by its contents. (A run's mapping of its streams: :mod:`._run_streams`.)
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import ItemsView, Iterator, Mapping, ValuesView
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resonance_callback.read._run import Run

__all__ = ["RunsMapping"]


class _RunValues(ValuesView["Run"]):
    """The runs of a beamtime, newest first, listed in one query."""

    def __init__(self, beamtime: RunsMapping) -> None:
        super().__init__(beamtime)
        self._beamtime = beamtime

    def __iter__(self) -> Iterator[Run]:
        return iter(self._beamtime.runs())


class _RunItems(ItemsView[str, "Run"]):
    """``(uid, run)`` of a beamtime's runs, newest first, listed in one query."""

    def __init__(self, beamtime: RunsMapping) -> None:
        super().__init__(beamtime)
        self._beamtime = beamtime

    def __iter__(self) -> Iterator[tuple[str, Run]]:
        return ((run.uid, run) for run in self._beamtime.runs())


class RunsMapping(Mapping[str, "Run"]):
    """uid -> :class:`Run`, newest first; the runs are listed by :meth:`runs`."""

    @abstractmethod
    def runs(self) -> list[Run]:
        """Return the runs, newest first."""

    def __iter__(self) -> Iterator[str]:
        """Iterate the runs' uids, newest first."""
        return (run.uid for run in self.runs())

    def values(self) -> ValuesView[Run]:
        """The runs, newest first (listed at once, as :meth:`runs` lists them)."""
        return _RunValues(self)

    def items(self) -> ItemsView[str, Run]:
        """``(uid, run)``, newest first (listed at once, as :meth:`runs` lists them)."""
        return _RunItems(self)

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return id(self)
