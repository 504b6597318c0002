"""Frame codecs: the names users give, the codecs zarr writes, and the fast chunk encoder.

The frame store (:mod:`._frames`) writes each frame as its own chunk; the
encoder here turns a frame into exactly the bytes zarr's own codec pipeline
would write for that chunk (numcodecs, which releases the GIL), or says the
array needs zarr's pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numcodecs
import numpy as np
from zarr.abc.codec import BytesBytesCodec
from zarr.codecs import BloscCname, BloscCodec, BytesCodec, ZstdCodec
from zarr.core.array_spec import ArrayConfigParams
from zarr.types import AnyArray

__all__ = ["ARRAY_CONFIG", "DEFAULT_CODEC", "chunk_encoder", "codec_name", "make_codec"]

#: The codec new arrays get unless told otherwise (chosen by benchmark: benchmarks/README.md).
DEFAULT_CODEC = "blosc-lz4"

#: Runtime settings of the arrays the store writes: every chunk is a real frame, so
#: zarr's check of each chunk against the fill value is skipped (the fast path never
#: makes it either).
ARRAY_CONFIG: ArrayConfigParams = {"write_empty_chunks": True}

_BLOSC_SHUFFLE = {"noshuffle": numcodecs.Blosc.NOSHUFFLE, "shuffle": numcodecs.Blosc.SHUFFLE,
                  "bitshuffle": numcodecs.Blosc.BITSHUFFLE}


def make_codec(name: str) -> BytesBytesCodec | None:
    """Return the zarr codec for a short name.

    Parameters
    ----------
    name : str
        ``"blosc-lz4"``, ``"blosc-zstd"``, ``"zstd"`` or ``"none"``.

    Returns
    -------
    BytesBytesCodec or None
        ``None`` means no compression.

    Raises
    ------
    ValueError
        For an unknown name.
    """
    if name == "none":
        return None
    if name == "zstd":
        return ZstdCodec(level=0)
    if name.startswith("blosc-"):
        try:
            cname = BloscCname(name.removeprefix("blosc-"))
        except ValueError:
            pass
        else:
            return BloscCodec(cname=cname, clevel=5, shuffle="bitshuffle")
    raise ValueError(f"unknown frame codec {name!r}: use blosc-lz4, blosc-zstd, zstd or none")


def codec_name(array: AnyArray) -> str:
    """Describe the compression an array really uses, e.g. ``"blosc-lz4"`` or ``"zstd"``.

    Parameters
    ----------
    array : zarr.Array
        An open array.

    Returns
    -------
    str
        Names of its byte-to-byte codecs joined by ``+``, or ``"none"``.
    """
    names = []
    for codec in array.compressors:
        if isinstance(codec, BloscCodec):
            names.append(f"blosc-{codec.cname.value}")
        elif isinstance(codec, BytesBytesCodec):
            names.append(str(codec.to_dict().get("name", type(codec).__name__)))
        else:  # a numcodecs codec wrapped by zarr
            names.append(str(codec.get_config().get("id", type(codec).__name__)))
    return "+".join(names) or "none"


def chunk_encoder(array: AnyArray) -> Callable[[np.ndarray], Any] | None:
    """Return a function turning one frame into its chunk's bytes, as the array's codecs would.

    None when the array uses anything but the plain ``bytes`` serializer and at
    most one Blosc or Zstd compressor with no filters, one frame per chunk.
    """
    if (array.metadata.zarr_format != 3 or array.filters
            or not isinstance(array.serializer, BytesCodec)
            or tuple(array.chunks) != (1, *array.shape[1:]) or len(array.compressors) > 1):
        return None
    endian = array.serializer.endian
    dtype = array.dtype
    if endian is not None and dtype.itemsize > 1:
        dtype = dtype.newbyteorder("<" if endian.value == "little" else ">")
    compress: Callable[[Any], Any] | None = None
    for codec in array.compressors:
        if isinstance(codec, BloscCodec):
            compress = numcodecs.Blosc(cname=codec.cname.value, clevel=codec.clevel,
                                       shuffle=_BLOSC_SHUFFLE[codec.shuffle.value],
                                       blocksize=codec.blocksize,
                                       typesize=codec.typesize).encode
        elif isinstance(codec, ZstdCodec):
            compress = numcodecs.Zstd(level=codec.level, checksum=codec.checksum).encode
        else:
            return None

    def encode(frame: np.ndarray) -> Any:
        data = np.ascontiguousarray(frame, dtype=dtype).reshape(-1).view(np.uint8)
        return data if compress is None else compress(data)

    return encode
