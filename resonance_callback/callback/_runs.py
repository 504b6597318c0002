"""Per-run state of the callback: one :class:`Run` per open run, from ``start`` to ``stop``.

This is event-model's ``RunRouter`` pattern: what the callback knows of a run
lives in the run's own object, made by its ``start`` and gone with its ``stop``
(the callback's other state is not per run: see
:class:`~resonance_callback.callback.RunWriterCallback`). :class:`OpenRuns`
finds the run a document belongs to, by its ``run_start``, ``descriptor``,
``resource`` or ``stream_resource``, and remembers which runs have stopped, so
a late document is rejected saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from event_model.documents import Datum, Resource, RunStart, StreamResource

from resonance_callback.callback._external_refs import RunState
from resonance_callback.callback._plan import StreamPlan
from resonance_callback.errors import DocumentError

__all__ = ["HeldDocument", "OpenRuns", "Run", "Unplaced", "check_page", "require", "require_str"]


def require(doc: Mapping[str, object], *keys: str) -> None:
    """Raise :class:`DocumentError` naming the keys ``doc`` lacks.

    The checks here take any ``Mapping[str, object]``, not event-model's
    documents: they run on what arrived, before it is known to be one.
    """
    missing = [k for k in keys if k not in doc]
    if missing:
        raise DocumentError(f"missing required key(s) {', '.join(map(repr, missing))}")


def require_str(doc: Mapping[str, object], *keys: str) -> None:
    """Raise :class:`DocumentError` naming a key of ``doc`` that is missing or not a string."""
    require(doc, *keys)
    for key in keys:
        value = doc[key]
        if type(value) is not str:
            raise DocumentError(f"{key} is a {type(value).__name__}, not a string")


def check_page(doc: Mapping[str, object]) -> None:
    """Raise :class:`DocumentError` unless an ``event_page``'s columns are lists of one length."""
    require(doc, "uid", "time", "seq_num", "data", "descriptor")
    columns: dict[str, object] = {key: doc[key] for key in ("uid", "time", "seq_num")}
    for part in ("data", "timestamps", "filled"):
        value = doc.get(part, {})
        if not isinstance(value, dict):
            raise DocumentError(f"event_page {part} is a {type(value).__name__}, not a dict")
        columns.update({f"{part}[{key!r}]": column for key, column in value.items()})
    lengths = {}
    for name, column in columns.items():
        if not isinstance(column, list | tuple):
            raise DocumentError(f"event_page column {name} is a {type(column).__name__}, "
                                "not a list")
        lengths[name] = len(column)
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{name} {n}" for name, n in lengths.items())
        raise DocumentError(f"event_page columns differ in length: {shown}")


class Run:
    """What the callback knows about one open run; made at its ``start``, dropped at its ``stop``.

    Attributes
    ----------
    uid : str
        The start document's uid.
    start : RunStart
        The start document (as captured when it came).
    plans : dict of str to StreamPlan
        Per descriptor uid, how its data keys are stored (inline, Zarr or
        external), decided once at the descriptor; read for every event.
    resources : set of str
        The uids of the run's resources and stream_resources (their documents
        are found by them; scoped per run, as TiledWriter's ``RunRouter`` does).
    external : RunState
        The run's detector documents as the writer thread sees them: refused
        resources and datums, each stream_resource's data key, references not
        readable yet, and which reference gave each event its data. Touched only
        by jobs on the writer thread (the last one, at ``stop``, reads what is
        pending; then the run's jobs, and with them this, are gone).
    """

    def __init__(self, start: RunStart) -> None:
        self.uid: str = start["uid"]
        self.start = start
        self.plans: dict[str, StreamPlan] = {}
        self.resources: set[str] = set()
        self.external = RunState()


class OpenRuns:
    """The open runs, and what points at each; see the module documentation."""

    def __init__(self) -> None:
        self.runs: dict[str, Run] = {}
        self.by_descriptor: dict[str, Run] = {}
        self.by_resource: dict[str, Run] = {}
        self._finished: set[str] = set()
        self._stopped: dict[str, str] = {}  # descriptor/resource uid of a stopped run -> run

    def start(self, doc: RunStart) -> Run:
        """A new run for a start document; a uid received before is refused."""
        uid = doc["uid"]
        if uid in self.runs or uid in self._finished:
            raise DocumentError(f"start {uid} was already received")
        return Run(doc)

    def add(self, run: Run) -> None:
        """Open ``run``."""
        self.runs[run.uid] = run

    def add_stream(self, run: Run, uid: str, plan: StreamPlan) -> None:
        """Give ``run`` a descriptor; a uid received before is refused."""
        if uid in self.by_descriptor:
            raise DocumentError(f"descriptor {uid} was already received")
        run.plans[uid] = plan
        self.by_descriptor[uid] = run

    def add_resource(self, run: Run, uid: str) -> None:
        """Give ``run`` a resource or stream_resource.

        Resource uids are scoped per run (as TiledWriter's ``RunRouter`` scopes
        them): a uid an earlier run used is this run's from now on.
        """
        run.resources.add(uid)
        self.by_resource[uid] = run

    def of(self, doc: Mapping[str, object]) -> Run:
        """The open run a document belongs to; raise :class:`DocumentError` if none."""
        run = self._find(doc, strict=True)
        assert run is not None  # strict: raised instead
        return run

    def _find(self, doc: Mapping[str, object], *, strict: bool) -> Run | None:
        """The open run a document belongs to (``strict``: raise if none)."""
        for key, table in (("run_start", self.runs), ("descriptor", self.by_descriptor),
                           ("resource", self.by_resource),
                           ("stream_resource", self.by_resource)):
            if key in doc:
                value = doc[key]
                if type(value) is not str:
                    if strict:
                        raise DocumentError(
                            f"{key} is a {type(value).__name__}, not a string")
                    return None
                run = table.get(value)
                if run is None and strict:
                    stopped = value in self._finished or value in self._stopped
                    state = "already stopped" if stopped else "unknown"
                    raise DocumentError(f"{key} {value} is {state}")
                return run
        if strict:
            raise DocumentError("document names no run_start, descriptor or resource")
        return None

    def uid_of(self, doc: Mapping[str, object]) -> str | None:
        """The run a (possibly rejected) document belongs to, open or stopped, if known."""
        run = self._find(doc, strict=False)
        if run is not None:
            return run.uid
        start = doc.get("run_start")
        if type(start) is str:
            return start
        for key in ("descriptor", "resource", "stream_resource"):
            value = doc.get(key)
            if isinstance(value, str) and value in self._stopped:
                return self._stopped[value]
        return None

    def stop(self, run: Run) -> None:
        """Forget ``run``: its later documents are rejected as of a stopped run."""
        del self.runs[run.uid]
        for uid in run.plans:
            self.by_descriptor.pop(uid, None)
        for uid in run.resources:  # a uid another open run reused stays that run's
            if self.by_resource.get(uid) is run:
                del self.by_resource[uid]
        self._finished.add(run.uid)
        self._stopped.update(dict.fromkeys([*run.plans, *run.resources], run.uid))


@dataclass(frozen=True, slots=True)
class HeldDocument:
    """A document :class:`Unplaced` holds, and how to give it to a run once one uses it.

    Attributes
    ----------
    name : str
        ``"resource"``, ``"stream_resource"`` or ``"datum"``.
    doc : Resource, StreamResource or Datum
        The document.
    uid : str
        Its uid (``datum_id`` for a datum).
    place : callable
        ``place(run)`` keeps it as ``run``'s and hands it to the external routing.
    """

    name: str
    doc: Resource | StreamResource | Datum
    uid: str
    place: Callable[[Run], None]


class Unplaced:
    """Resources without ``run_start`` received while several runs were open, and their datums.

    They are held until an event (through a datum id) or a ``stream_datum``
    uses them, and then belong to that event's run.
    """

    def __init__(self) -> None:
        self.documents: dict[str, list[HeldDocument]] = {}  # resource uid -> its documents
        self._by_datum: dict[str, str] = {}  # datum id -> resource uid

    def hold(self, resource: str, held: HeldDocument) -> None:
        """Hold a (stream) resource, or a datum of a held resource."""
        self.documents.setdefault(resource, []).append(held)
        if held.name == "datum":
            self._by_datum[held.uid] = resource

    def holds(self, resource: object) -> bool:
        """True if ``resource`` (a uid) is held."""
        return isinstance(resource, str) and resource in self.documents

    def claim(self, references: list[object]) -> list[HeldDocument]:
        """Release the documents of the held resources ``references`` name (datum ids or uids)."""
        released: list[HeldDocument] = []
        for ref in references:
            if not isinstance(ref, str):
                continue
            resource = self._by_datum.get(ref, ref)
            for held in self.documents.pop(resource, []):
                if held.name == "datum":
                    self._by_datum.pop(held.uid, None)
                released.append(held)
        return released
