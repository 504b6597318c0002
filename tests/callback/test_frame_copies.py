"""Frames are copied on the RunEngine's thread into buffers reused only once nothing holds them."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zarr
from bluesky.plans import count
from ophyd.sim import SynSignal

from resonance_callback import RunWriterCallback
from resonance_callback.callback._copies import FrameCopies

from ..conftest import sql


def stored_frames(db_path: Path) -> list[np.ndarray]:
    """Every stored frame of the beamtime, in event order."""
    root = zarr.open_group(db_path.with_suffix(".zarr"), mode="r")
    rows = sql(db_path, "SELECT r.zarr_path, r.frame_index FROM image_refs r "
                        "JOIN events e ON e.uid = r.event_uid ORDER BY e.seq_num")
    return [np.asarray(root[path][index]) for path, index in rows]


def _count_frames(RE, db_path: Path, read: Callable[[], np.ndarray],  # noqa: N803
                  num: int) -> list[np.ndarray]:
    """``count`` a SynSignal reading ``read()`` through the callback; the frames stored."""
    img = SynSignal(func=read, name="img", labels={"detectors"})
    with RunWriterCallback(db_path) as callback:
        RE.subscribe(callback)
        RE(count([img], num=num))
    stored = stored_frames(db_path)
    assert len(stored) == num
    return stored


def test_a_device_reusing_its_buffer_has_every_frame_stored_as_it_was_read(
        RE, db_path: Path) -> None:  # noqa: N803
    buffer = np.zeros((64, 48), np.uint16)
    reads = []

    def fill_in_place() -> np.ndarray:
        buffer[...] = np.arange(buffer.size, dtype=np.uint16).reshape(buffer.shape) + len(reads)
        reads.append(buffer.copy())
        return buffer  # the same array every read, as a driver reusing its buffer would

    stored = _count_frames(RE, db_path, fill_in_place, 30)
    # The readings the events carried (the first read is the descriptor's configuration).
    expected = reads[-30:]
    for got, want in zip(stored, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    assert len({frame.tobytes() for frame in stored}) == 30  # all distinct


def test_a_device_handing_over_fresh_arrays_has_every_frame_stored(RE, db_path: Path) -> None:  # noqa: N803
    rng = np.random.default_rng(1)
    reads = []

    def fresh() -> np.ndarray:
        frame = rng.integers(0, 4000, (128, 96), dtype=np.uint16)
        reads.append(frame)
        return frame

    stored = _count_frames(RE, db_path, fresh, 40)
    for got, want in zip(stored, reads[-40:], strict=True):
        np.testing.assert_array_equal(got, want)


def test_a_copy_buffer_is_reused_only_once_nothing_holds_it() -> None:
    copies = FrameCopies()
    first = copies.copy(np.full((8, 8), 1, np.uint16))
    held = weakref.ref(first)
    second = copies.copy(np.full((8, 8), 2, np.uint16))
    assert second is not first  # the first is still held
    assert int(first[0, 0]) == 1
    del first
    third = copies.copy(np.full((8, 8), 3, np.uint16))
    assert third is held()  # its buffer, free again, is reused
    np.testing.assert_array_equal(third, np.full((8, 8), 3, np.uint16))
    np.testing.assert_array_equal(second, np.full((8, 8), 2, np.uint16))
    assert not third.flags.writeable and third.flags.owndata


def test_a_view_of_a_copy_keeps_its_buffer_from_being_reused() -> None:
    copies = FrameCopies()
    frame = copies.copy(np.arange(64, dtype=np.int32).reshape(8, 8))
    view = frame[::2]
    del frame
    again = copies.copy(np.zeros((8, 8), np.int32))
    assert again.base is None and view.base is not again
    np.testing.assert_array_equal(view, np.arange(64, dtype=np.int32).reshape(8, 8)[::2])


def test_copies_keep_dtype_shape_and_values_of_any_layout() -> None:
    copies = FrameCopies()
    fortran = np.asfortranarray(np.arange(30, dtype=">f8").reshape(5, 6))
    strided = np.arange(200, dtype=np.uint8).reshape(10, 20)[:, ::3]
    for value in (fortran, strided, [[1, 2], [3, 4]]):
        copy = copies.copy(value)
        np.testing.assert_array_equal(copy, np.asarray(value))
        assert copy.dtype == np.asarray(value).dtype and not copy.flags.writeable
