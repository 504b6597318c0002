"""Templates and reference parameters are checked before use; reads are bounded in total (issue 21).

The resolver is fed documents as the RunEngine would send them, over real TIFF
and HDF5 files; each refusal names the document, the parameter and the bound.
"""

from __future__ import annotations

import tracemalloc

import h5py
import numpy as np
import pytest
import tifffile

from resonance_callback.errors import MalformedReferenceError, UnsafePathError
from resonance_callback.external import (
    MAX_FIELD_WIDTH,
    NAME_MAX,
    PATH_MAX,
    ExternalResolver,
    check_template,
)

from .test_external import datum_doc, resource_doc, stream_datum_doc, stream_resource_doc

TIFF = "multipart/related;type=image/tiff"


def frame(value: int = 1) -> np.ndarray:
    return np.full((16, 16), value, np.uint16)  # 512 bytes of pixels


@pytest.mark.parametrize(
    "template",
    ["%s%s_%6.6d.tiff", "%s%s_%3.3d.h5", "%s%s%d.tif", "%d.tif", "_{:06d}.tiff", "_{:d}.npy",
     "{}.tif", "{0:>6}.tif", "x_%%_%s%s%d"],
)
def test_templates_the_ecosystem_writes_are_accepted(template):
    assert check_template(template, "resource r", "cam") == template


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("%s%s_%300000000d.tiff", "field width of 300000000"),
        ("%s%s_%6.100d.tiff", "precision of 100"),
        ("_{:300000000d}.tiff", "field width of 300000000"),
        ("%s%*d.tiff", "'*'"),
        ("%(x)s%d.tiff", "mapping key"),
        ("%s%s_%c.tiff", "conversion %c"),
        ("{0.__class__}.tiff", "attribute or item"),
        ("{x[0]}.tiff", "attribute or item"),
        ("{0[0]}.tiff", "attribute or item"),
        ("{index}.tiff", "names the field 'index'"),
        ("{:{}}.tiff", "format spec"),
        ("cam.tiff{{}}", "no field for the index"),
        ("cam.tiff", "does not take 1 argument"),
        ("x" * (PATH_MAX + 1) + "%d", f"longer than {PATH_MAX}"),
    ],
)
def test_unsafe_template_is_refused_before_any_expansion(template, reason):
    with pytest.raises(MalformedReferenceError, match="resource r: template") as info:
        check_template(template, "resource r", "cam")
    assert reason in str(info.value)
    assert MAX_FIELD_WIDTH == 64


def test_huge_field_width_refuses_the_resource_without_allocating(tmp_path):
    resolver = ExternalResolver()
    tracemalloc.start()
    try:
        with pytest.raises(MalformedReferenceError,
                           match=r"resource t \(spec AD_TIFF\): template "
                                 r"'%s%s_%300000000d.tiff' asks for a field "
                                 r"width of 300000000 \(at most 64\)"):
            resolver.add_resource(resource_doc("t", "AD_TIFF", str(tmp_path), "",
                                               template="%s%s_%300000000d.tiff",
                                               filename="cam"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 << 20


def test_new_style_attribute_access_refuses_the_stream_resource(tmp_path):
    resolver = ExternalResolver()
    with pytest.raises(MalformedReferenceError, match=r"stream_resource s: .*attribute or item"):
        resolver.add_stream_resource(stream_resource_doc(
            "s", tmp_path.as_uri() + "/", TIFF, template="{0.__class__.__mro__}.tiff"))


def test_name_longer_than_the_file_system_takes_is_refused_at_registration(tmp_path):
    resolver = ExternalResolver()
    with pytest.raises(MalformedReferenceError, match=f"longer than {NAME_MAX} bytes"):
        resolver.add_resource(resource_doc("t", "AD_TIFF", str(tmp_path), "",
                                           template="%s%s_%6.6d.tiff", filename="c" * 300))
    with pytest.raises(MalformedReferenceError, match=f"longer than {PATH_MAX} bytes"):
        resolver.add_resource(resource_doc("u", "AD_HDF5", str(tmp_path),
                                           "/".join(["d" * 200] * 30)))


def test_one_file_named_for_every_index_is_read_up_to_the_resource_total(tmp_path):
    tifffile.imwrite(tmp_path / "cam_.tiff", frame())
    resolver = ExternalResolver(max_read_bytes=3 * 512)
    resolver.add_resource(resource_doc("t", "AD_TIFF", str(tmp_path), "",
                                       template="%s%s_%.0s.tiff", filename="cam"))
    for point in range(5):
        resolver.add_datum(datum_doc("t", point, point_number=point))
    for point in range(3):
        np.testing.assert_array_equal(resolver.fill(f"t/{point}", wait=0), frame())
    with pytest.raises(MalformedReferenceError,
                       match=r"has read 1536 bytes; 512 more is over the bound of 1536 bytes "
                             r"one resource may read in total \(external_max_bytes\)"):
        resolver.fill("t/3", wait=5)


def test_datums_repeating_one_hdf5_point_stop_at_the_resource_total(tmp_path):
    with h5py.File(tmp_path / "cam.h5", "w") as f:
        f.create_dataset("/entry/data/data", data=np.stack([frame(1), frame(2)]))
    resolver = ExternalResolver(max_read_bytes=2 * 512)
    resolver.add_resource(resource_doc("h", "AD_HDF5", str(tmp_path), "cam.h5"))
    resolver.add_resource(resource_doc("other", "AD_HDF5", str(tmp_path), "cam.h5"))
    for n in range(3):
        resolver.add_datum(datum_doc("h", n, point_number=0))
    resolver.add_datum(datum_doc("other", 0, point_number=1))
    resolver.fill("h/0", wait=0)
    resolver.fill("h/1", wait=0)
    with pytest.raises(MalformedReferenceError, match="in total"):
        resolver.fill("h/2", wait=0)
    np.testing.assert_array_equal(resolver.fill("other/0", wait=0), frame(2))  # its own total


def test_one_read_over_several_files_is_bounded_as_one(tmp_path):
    for j in range(4):
        tifffile.imwrite(tmp_path / f"cam_{j:06d}.tiff", frame(j))
    resolver = ExternalResolver(max_read_bytes=3 * 512)
    resolver.add_resource(resource_doc("t", "AD_TIFF", str(tmp_path), "",
                                       template="%s%s_%6.6d.tiff", filename="cam",
                                       frame_per_point=4))
    resolver.add_datum(datum_doc("t", 0, point_number=0))
    with pytest.raises(UnsafePathError, match="reading 512 bytes after 1536 bytes of the same "
                                              "read is over the read bound of 1536 bytes"):
        resolver.fill("t/0", wait=0)


def test_unknown_join_method_is_refused_naming_it(tmp_path):
    resolver = ExternalResolver()
    with pytest.raises(MalformedReferenceError,
                       match=r"stream_resource s: join_method 'zip' is not one of "
                             r"\['concat', 'stack'\]"):
        resolver.add_stream_resource(stream_resource_doc(
            "s", (tmp_path / "f.h5").as_uri(), dataset="/d", join_method="zip"))


@pytest.mark.parametrize("chunk_shape", [5, "abc", [], [-1, 4], [0], [1.5], [True], [10**20],
                                         [1] * 33])
def test_bad_chunk_shape_is_refused_at_registration(tmp_path, chunk_shape):
    resolver = ExternalResolver()
    doc = stream_resource_doc("s", tmp_path.as_uri() + "/", TIFF, template="{:06d}.tiff",
                              chunk_shape=chunk_shape)
    if chunk_shape == []:  # TiledWriter's "one chunk for everything": accepted
        resolver.add_stream_resource(doc)
        return
    with pytest.raises(MalformedReferenceError, match=r"stream_resource s: chunk_shape"):
        resolver.add_stream_resource(doc)


def test_chunk_shape_longer_than_the_data_is_refused_at_once(tmp_path):
    tifffile.imwrite(tmp_path / "000000.tiff", frame())
    resolver = ExternalResolver(timeout=60)
    resolver.add_stream_resource(stream_resource_doc(
        "s", tmp_path.as_uri() + "/", TIFF, template="{:06d}.tiff", chunk_shape=[1, 1, 1, 1]))
    with pytest.raises(MalformedReferenceError, match="more dimensions than the data"):
        resolver.read_stream_datum(stream_datum_doc("s", 0, 1), [16, 16])


@pytest.mark.parametrize("value", [0, -1, "2", 2.5, True, 10**12])
def test_bad_frame_per_point_is_refused_at_registration(tmp_path, value):
    resolver = ExternalResolver()
    with pytest.raises(MalformedReferenceError,
                       match=r"resource h \(spec AD_HDF5\): frame_per_point="):
        resolver.add_resource(resource_doc("h", "AD_HDF5", str(tmp_path), "cam.h5",
                                           frame_per_point=value))


def test_events_reaching_beyond_the_largest_frame_index_are_refused_at_once(tmp_path):
    tifffile.imwrite(tmp_path / "000000.tiff", frame())
    resolver = ExternalResolver(timeout=60)
    resolver.add_stream_resource(stream_resource_doc(
        "s", tmp_path.as_uri() + "/", TIFF, template="{:06d}.tiff", chunk_shape=[1, 16, 16]))
    with pytest.raises(MalformedReferenceError, match="beyond the largest index"):
        resolver.read_stream_datum(stream_datum_doc("s", 0, 3000), [1_000_000, 16, 16])


def test_hdf5_file_larger_than_one_read_is_read_slice_by_slice(tmp_path):
    frames = np.stack([frame(j) for j in range(8)])  # 4096 bytes of frames, a bigger file
    with h5py.File(tmp_path / "cam.h5", "w") as f:
        f.create_dataset("/entry/data/data", data=frames)
    resolver = ExternalResolver(max_read_bytes=1024)
    resolver.add_resource(resource_doc("h", "AD_HDF5", str(tmp_path), "cam.h5"))
    resolver.add_datum(datum_doc("h", 0, point_number=1))
    assert (tmp_path / "cam.h5").stat().st_size > 1024
    np.testing.assert_array_equal(resolver.fill("h/0", wait=0), frames[1])
