"""The shards the frame store puts in an object store are the bytes zarr itself writes."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from resonance_callback.store._codecs import ARRAY_CONFIG, make_codec
from resonance_callback.store._shards import _shard_encoder, shard_bytes


@pytest.mark.parametrize("codec", ["blosc-lz4", "zstd", "none"])
@pytest.mark.parametrize("frames", [4, 3, 1])
def test_a_shard_encoded_by_the_store_is_byte_for_byte_zarrs(codec: str, frames: int) -> None:
    store = zarr.storage.MemoryStore()
    array = zarr.open_group(store, mode="w").create_array(
        "img", shape=(8, 8, 6), chunks=(1, 8, 6), shards=(4, 8, 6), dtype="u2",
        compressors=make_codec(codec), config=ARRAY_CONFIG)
    data = np.random.default_rng(0).integers(0, 1000, (frames, 8, 6)).astype("u2")
    array[4:4 + frames] = data
    encode = _shard_encoder(array)
    assert encode is not None
    assert shard_bytes(encode, data, 4) == store._store_dict["img/c/1/0/0"].to_bytes()
