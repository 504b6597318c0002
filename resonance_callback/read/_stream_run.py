"""What a :class:`Stream` needs of its run, as a Protocol (``_Run``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas

    from resonance_callback.read._frames import FrameArray
    from resonance_callback.read._sources import StreamResourceRef
    from resonance_callback.store import column_reads


class _Run(Protocol):
    """What a stream needs of its run (:class:`~resonance_callback.read.Run`)."""

    uid: str

    def descriptors(self, stream: str | None = None) -> list[dict[str, Any]]: ...

    def image_fields(self, stream: str = "primary") -> list[str]: ...

    def images(self, field: str, stream: str = "primary") -> FrameArray: ...

    def unresolved_frames(self, stream: str = "primary") -> dict[str, dict[int, str]]: ...

    def stream_resources(self, stream: str = "primary"
                         ) -> dict[str, list[StreamResourceRef]]: ...

    def stream_frames(self, field: str, stream: str, seq_nums: list[int],
                      unresolved: dict[int, str]) -> FrameArray: ...

    def stored_table(self, stream: str = "primary", *, timestamps: bool = False
                     ) -> pandas.DataFrame: ...

    def field_resources(self, streamed: list[str], datum_ids: dict[str, str]
                        ) -> dict[str, dict[str, Any]]: ...

    def stream_extent(self, stream: str, frame_field: str | None = None
                      ) -> column_reads.StreamExtent: ...

    def first_texts(self, extent: column_reads.StreamExtent, fields: list[str]
                    ) -> dict[str, str]: ...

    def column_rows(self, extent: column_reads.StreamExtent, fields: list[str]
                    ) -> list[tuple[Any, ...]]: ...
