"""One path-confinement rule (``resonance_callback._confine``) for external, serve and tiled."""

from __future__ import annotations

from pathlib import Path

import pytest

from resonance_callback._confine import has_traversal, within
from resonance_callback.errors import RoutingError, UnsafePathError
from resonance_callback.external._guard import _FileGuard
from resonance_callback.external._templates import sequence_file
from resonance_callback.serve import DbTemplate
from resonance_callback.tiled_server._directory import Beamtimes


def test_a_path_below_the_root_is_within_and_comes_back_real(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert within(tmp_path / "a" / "b.db", tmp_path) == tmp_path.resolve() / "a" / "b.db"


def test_the_root_itself_is_within(tmp_path: Path) -> None:
    assert within(tmp_path, tmp_path) == tmp_path.resolve()


def test_a_sibling_sharing_the_prefix_is_not_within(tmp_path: Path) -> None:
    assert within(tmp_path / "data2" / "x", tmp_path / "data") is None


def test_an_absolute_path_elsewhere_is_not_within(tmp_path: Path) -> None:
    assert within("/etc/passwd", tmp_path) is None


def test_dotdot_leaving_the_root_is_not_within(tmp_path: Path) -> None:
    assert within(tmp_path / "a" / ".." / ".." / "x", tmp_path) is None
    assert within(f"{tmp_path}/a/../../x", tmp_path, resolve=False) is None


def test_dotdot_that_stays_inside_is_within(tmp_path: Path) -> None:
    assert within(f"{tmp_path}/a/../b", tmp_path, resolve=False) == tmp_path / "b"


def test_a_symlink_out_of_the_root_is_not_within_once_resolved(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside)
    assert within(root / "link" / "f", root) is None
    # lexically (a file name not written yet) the link is not followed
    assert within(root / "link" / "f", root, resolve=False) == root / "link" / "f"


def test_a_symlink_inside_the_root_is_within(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert within(tmp_path / "link" / "f", tmp_path) == tmp_path.resolve() / "real" / "f"


def test_an_area_detector_template_with_a_leading_slash_stays_in_its_directory(
        tmp_path: Path) -> None:
    # area detector formats "/%s%s_%5.5d.tif" % (directory + "/", name, n): "//" folds away
    name = "/%s%s_%5.5d.tif" % (f"{tmp_path}/", "img", 3)  # noqa: UP031 (as AD does)
    assert name.startswith("//")
    assert within(name, tmp_path, resolve=False) == tmp_path / "img_00003.tif"
    assert sequence_file(str(tmp_path), "/%s%s_%5.5d.tif", "img", 3, "here") == str(
        tmp_path / "img_00003.tif")


def test_dotdot_is_a_component_with_either_separator_and_not_part_of_a_name() -> None:
    assert has_traversal("a/../b") and has_traversal("a\\..\\b") and has_traversal("..")
    assert not has_traversal("a..b/c...") and not has_traversal("/data/x")


def _link_out(tmp_path: Path) -> tuple[Path, Path]:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "run.db").write_bytes(b"")
    (root / "run.db").symlink_to(outside / "run.db")
    return root, root / "run.db"


def test_external_serve_and_tiled_refuse_the_same_link_out_of_their_root(tmp_path: Path) -> None:
    root, link = _link_out(tmp_path)
    with pytest.raises(UnsafePathError, match="outside the allowed roots"):
        _FileGuard((root.resolve(),)).check(link, "resource r1")
    with pytest.raises(RoutingError, match="outside the data root"):
        DbTemplate("{name}.db", root).path({"uid": "u1", "name": "run"})
    assert Beamtimes().refusal(link, root.resolve()) == "leads out of the served directory"


def test_external_serve_and_tiled_accept_the_same_path_inside_their_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    inside = root / "run.db"
    inside.write_bytes(b"")
    _FileGuard((root.resolve(),)).check(inside, "resource r1")
    assert DbTemplate("{name}.db", root).path({"uid": "u1", "name": "run"}) == inside.resolve()
    assert Beamtimes().refusal(inside, root.resolve()) != "leads out of the served directory"
