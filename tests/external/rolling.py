"""An ophyd-async detector whose writer rolls over to a new HDF5 file every few frames.

ophyd-async's simulated blob detector writes every frame into one file. This one
is the same detector (its trigger and acquire logic, its pattern generator and
file layout) with a writer that closes its file after ``per_file`` frames and
opens the next (``det_0.h5``, ``det_1.h5``, ...), emitting one ``stream_resource``
per file and ``stream_datum`` indices counted from 0 in each file, as detectors
that roll over do.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

from bluesky.protocols import StreamAsset
from event_model import ComposeStreamResource, ComposeStreamResourceBundle, DataKey
from ophyd_async.core import (
    PathProvider,
    StandardDetector,
    StaticFilenameProvider,
    StaticPathProvider,
    StreamableDataProvider,
    init_devices,
)
from ophyd_async.sim import PatternGenerator
from ophyd_async.sim._blob_acquire_logic import BlobAcquireLogic
from ophyd_async.sim._blob_data_logic import HEIGHT, WIDTH, BlobDataLogic
from ophyd_async.sim._blob_trigger_logic import BlobTriggerLogic
from ophyd_async.sim._pattern_generator import DATA_PATH, PatternFile


class RollingPatternGenerator(PatternGenerator):
    """The blob pattern generator, writing ``per_file`` frames per file."""

    def __init__(self, per_file: int) -> None:
        super().__init__()
        self.per_file = per_file
        self.paths: list[Path] = []
        self._written = 0

    def open_file(self, path, width: int, height: int) -> None:  # noqa: ANN001 - as the base
        self._size = (width, height)
        self._stem = Path(path).with_suffix("")
        self.paths, self._written = [], 0
        self._roll()
        self._update_images_written(0)

    def path_of(self, number: int) -> Path:
        return Path(f"{self._stem}_{number}.h5")

    def _roll(self) -> None:
        self.paths.append(self.path_of(len(self.paths)))
        self._file = PatternFile(self.paths[-1], *self._size)

    async def write_images_to_file(self) -> None:
        start = time.monotonic()
        for i in range(1, self._number_of_frames + 1):
            await self.sleep(start + i * self._period - time.monotonic())
            file = self._get_file()
            if file.image_counter == self.per_file:
                file.close()
                self._roll()
                file = self._get_file()
            file.write_image_to_file(self.generate_point() * self._exposure)
            self._written += 1
            self._update_images_written(self._written)


class RollingProvider(StreamableDataProvider):
    """One stream_resource per file; each file's stream_datum indices start at 0."""

    def __init__(self, generator: RollingPatternGenerator, data_key: str, uri_stem: str) -> None:
        self.generator = generator
        self.collections_written_signal = generator.images_written
        self.data_key = data_key
        self.uri_stem = uri_stem
        self.emitted = 0
        self.bundles: dict[int, ComposeStreamResourceBundle] = {}

    async def make_datakeys(self, collections_per_event: int) -> dict[str, DataKey]:
        return {self.data_key: DataKey(source=self.uri_stem, shape=[collections_per_event,
                                                                    HEIGHT, WIDTH],
                                       dtype="array", dtype_numpy="|u1", external="STREAM:")}

    async def make_stream_docs(self, collections_written: int, collections_per_event: int
                               ) -> AsyncIterator[StreamAsset]:
        per_file = self.generator.per_file // collections_per_event  # events per file
        written = collections_written // collections_per_event
        if self.emitted < written:  # one stream_datum per collect, as bluesky counts seq_nums
            number = self.emitted // per_file
            first = number * per_file
            stop = min(written, first + per_file)
            if number not in self.bundles:
                self.bundles[number] = ComposeStreamResource()(
                    mimetype="application/x-hdf5", uri=f"{self.uri_stem}_{number}.h5",
                    data_key=self.data_key,
                    parameters={"dataset": DATA_PATH, "chunk_shape": (1, HEIGHT, WIDTH)},
                    uid=None, validate=True)
                yield "stream_resource", self.bundles[number].stream_resource_doc
            yield "stream_datum", self.bundles[number].compose_stream_datum(
                {"start": self.emitted - first, "stop": stop - first})
            self.emitted = stop


class RollingDataLogic(BlobDataLogic):
    async def prepare_unbounded(self, datakey_name: str) -> StreamableDataProvider:
        info = self.path_provider(datakey_name)
        generator = self.pattern_generator
        assert isinstance(generator, RollingPatternGenerator)
        generator.open_file(info.directory_path / f"{info.filename}.h5", WIDTH, HEIGHT)
        return RollingProvider(generator, datakey_name, f"{info.directory_uri}{info.filename}")


class RollingBlobDetector(StandardDetector):
    """The simulated blob detector with a writer rolling over every ``per_file`` frames."""

    def __init__(self, path_provider: PathProvider, per_file: int, name: str = "") -> None:
        self.pattern_generator = RollingPatternGenerator(per_file)
        self.add_detector_logics(
            BlobTriggerLogic(pattern_generator=self.pattern_generator),
            BlobAcquireLogic(pattern_generator=self.pattern_generator),
            RollingDataLogic(path_provider=path_provider,
                             pattern_generator=self.pattern_generator),
        )
        super().__init__(name=name)


def rolling_detector(directory: Path, per_file: int, name: str = "det") -> RollingBlobDetector:
    directory.mkdir(parents=True, exist_ok=True)
    provider = StaticPathProvider(StaticFilenameProvider(name), directory)
    with init_devices():
        det = RollingBlobDetector(provider, per_file, name=name)
    return det
