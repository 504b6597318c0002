"""``SampleMetadata``: the sample a run was measured on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["SampleMetadata"]


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
