"""``SampleMetadata``: the sample a run was measured on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CARRIED_SAMPLE_KEY", "SampleMetadata"]

#: The key of an exported start document that carries the run's stored sample
#: (:meth:`SampleMetadata.carried_by`); the callback takes it out before storing.
CARRIED_SAMPLE_KEY = "resonance_callback_sample"


@dataclass
class SampleMetadata:
    """A sample, stored once per beamtime in the ``samples`` table and linked to runs.

    Samples are identified by ``name`` within a beamtime database.

    Parameters
    ----------
    name : str
        Unique sample name within the beamtime, e.g. ``"PS-b-PMMA film 3"``.
    id : int or None, optional
        Primary key of the ``samples`` row; ``None`` until the writer has
        looked it up or inserted it.
    formula : str or None, optional
        Chemical formula.
    description : str or None, optional
        Free text.
    extra : dict, optional
        Any other sample metadata, stored as JSON.
    """

    name: str
    id: int | None = None
    formula: str | None = None
    description: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_start(cls, value: object, default: SampleMetadata | None = None) -> SampleMetadata:
        """Build the sample named by a start document's ``sample`` entry.

        Parameters
        ----------
        value : str, dict or None
            ``start["sample"]``: a name, or a dict with ``name`` and other keys.
        default : SampleMetadata or None, optional
            Used when ``value`` names no sample.

        Returns
        -------
        SampleMetadata
            The sample; one named ``"unknown"`` when nothing names one.
        """
        if isinstance(value, str) and value.strip():
            return cls(name=value.strip())
        if isinstance(value, dict) and str(value.get("name", "")).strip():
            rest = {k: v for k, v in value.items() if k not in ("name", "formula", "description")}
            return cls(
                name=str(value["name"]).strip(),
                formula=value.get("formula"),
                description=value.get("description"),
                extra=rest,
            )
        if default is not None:
            return SampleMetadata(default.name, None, default.formula, default.description,
                                  dict(default.extra))
        return cls(name="unknown")

    def metadata(self) -> dict[str, Any]:
        """Return everything but name and id, as stored in ``samples.metadata``."""
        out: dict[str, Any] = dict(self.extra)
        if self.formula is not None:
            out["formula"] = self.formula
        if self.description is not None:
            out["description"] = self.description
        return out

    def as_start_value(self) -> dict[str, Any]:
        """Return the sample as a start document names one: ``{"name": ..., **metadata}``."""
        return {"name": self.name, **{k: v for k, v in self.metadata().items() if k != "name"}}

    def carry(self, start: dict[str, Any]) -> dict[str, Any]:
        """Return a copy of ``start`` that carries this sample, if it needs to.

        The copy holds the sample under :data:`CARRIED_SAMPLE_KEY` unless the
        start document's own ``sample`` already names this very sample (name
        and metadata), or the key is taken. The callback stores the run with
        the carried sample and the start document without the key, as it was.
        """
        own = SampleMetadata.from_start(start.get("sample"))
        same = (own.name, own.metadata()) == (self.name, self.metadata())
        if same or CARRIED_SAMPLE_KEY in start:
            return start
        return {**start, CARRIED_SAMPLE_KEY: self.as_start_value()}

    @classmethod
    def carried_by(cls, start: Mapping[str, Any]) -> tuple[Any, SampleMetadata | None]:
        """Return ``start`` without a carried sample, and that sample (None if none).

        Only a dict naming a sample (a non-empty ``name``) under
        :data:`CARRIED_SAMPLE_KEY` is a carried sample; anything else stays.
        """
        value = start.get(CARRIED_SAMPLE_KEY)
        if not isinstance(value, dict) or not str(value.get("name", "")).strip():
            return start, None
        rest = {k: v for k, v in start.items() if k != CARRIED_SAMPLE_KEY}
        return rest, cls.from_start(value)
