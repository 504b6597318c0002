"""How frames go to an object store: held compressed until their shard is put, signed as needed."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from resonance_callback.store import FrameStore, frame_stores
from resonance_callback.store._shards import frames_per_shard


def test_a_shard_not_yet_full_holds_its_frames_compressed_not_raw(frames_url: str) -> None:
    frame = np.zeros((512, 512), dtype=np.uint16)  # 512 KiB raw, a few hundred bytes encoded
    held = frames_per_shard(frame) - 1  # the shard is never full: nothing is put whole
    store = FrameStore(frames_url)
    tracemalloc.start()
    try:
        for _ in range(held):
            store.append("runs/a/primary/img", frame)
        store.flush()  # every frame encoded and the partial shard put
        in_use, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        store.close()
    assert held * frame.nbytes > 15 * 1024**2
    assert in_use < 4 * frame.nbytes  # raw, the held frames would be 15.5 MiB
    np.testing.assert_array_equal(store.read("runs/a/primary/img", held - 1), frame)


@pytest.mark.parametrize(("endpoint", "unsigned"), [
    ("http://127.0.0.1:9000", True), ("http://localhost:9000", True),
    ("https://s3.example.org", True), (None, True), ("http://s3.example.org:9000", False)])
def test_a_body_is_signed_only_where_neither_tls_nor_the_host_keeps_it_intact(
        monkeypatch: pytest.MonkeyPatch, s3_env: object, endpoint: str | None,
        unsigned: bool) -> None:
    monkeypatch.delenv("AWS_UNSIGNED_PAYLOAD", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT", raising=False)
    if endpoint is None:
        monkeypatch.delenv("AWS_ENDPOINT_URL")
    else:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    store = frame_stores.ObjectFrames("s3://frames/x")._store
    assert bool(store.config.get("unsigned_payload", False)) is unsigned


def test_aws_unsigned_payload_set_in_the_environment_wins(
        monkeypatch: pytest.MonkeyPatch, s3_env: object) -> None:
    monkeypatch.setenv("AWS_UNSIGNED_PAYLOAD", "false")
    store = frame_stores.ObjectFrames("s3://frames/x")._store
    assert not store.config.get("unsigned_payload", False)
