"""The resolver's path policy: ``root_map``, ``base_dir``, ``allowed_roots`` and the checks.

Every path a document names goes through :class:`_PathPolicy` before a file is
opened; the rules are drawn in the package documentation (``Paths``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from resonance_callback._confine import within
from resonance_callback.errors import UnsafePathError
from resonance_callback.external._common import _refuse_traversal
from resonance_callback.external._guard import (
    DEFAULT_MAX_READ_BYTES,
    DEFAULT_MAX_RESOURCE_BYTES,
    _FileGuard,
)
from resonance_callback.external._templates import check_path_length


def _map_prefix(path: str, root_map: Mapping[str, str]) -> str:
    """Apply the longest ``root_map`` prefix matching ``path`` at a component boundary."""
    best: tuple[str, str] | None = None
    for old, new in root_map.items():
        if not old:
            continue
        key = old.rstrip("/") or old
        matches = path == key or path.startswith(key if key.endswith("/") else key + "/")
        if matches and (best is None or len(key) > len(best[0])):
            best = (key, new)
    if best is None:
        return path
    key, new = best
    rest = path[len(key) :].lstrip("/")
    return os.path.join(new, rest) if rest else new


class _PathPolicy:
    """Map, anchor and check the paths of resources and stream resources.

    Parameters
    ----------
    root_map : mapping of str to str
        ``{old_prefix: new_prefix}``.
    base_dir : Path
        The absolute directory relative paths resolve against.
    allowed_roots : iterable of path-like, optional
        The caller's trusted roots; ``None`` skips the containment check of
        the path a document names, and limits the real path of each file
        (symlinks resolved) to its own resource's directory instead.
    max_bytes : int, optional
        The bound on the bytes read for one resource in total; one read is
        bounded by it too, and by :data:`~._guard.DEFAULT_MAX_READ_BYTES`
        (see :class:`~._guard._FileGuard`).
    """

    def __init__(
        self,
        root_map: Mapping[str, str],
        base_dir: Path,
        allowed_roots: Iterable[str | os.PathLike[str]] | None,
        max_bytes: int = DEFAULT_MAX_RESOURCE_BYTES,
    ) -> None:
        self.root_map: dict[str, str] = dict(root_map)
        self.base_dir = base_dir
        self.allowed_roots = self._trusted_roots(allowed_roots)
        self.max_bytes = max_bytes

    def _trusted_roots(
        self, allowed_roots: Iterable[str | os.PathLike[str]] | None
    ) -> tuple[Path, ...] | None:
        if allowed_roots is None:
            return None
        roots = [*allowed_roots, *self.root_map.values(), self.base_dir]
        return tuple(Path(os.path.realpath(self.base_dir / Path(root))) for root in roots)

    def check_allowed(self, path: Path) -> None:
        """Refuse ``path`` unless it lies under an allowed root (when configured)."""
        if self.allowed_roots is None:
            return
        real = Path(os.path.realpath(path))
        if not any(within(real, root, resolve=False) for root in self.allowed_roots):
            allowed = ", ".join(str(root) for root in self.allowed_roots)
            raise UnsafePathError(f"path {str(path)!r} is outside the allowed roots ({allowed})")

    def guard(self, own_root: Path) -> _FileGuard:
        """The guard of a resource whose own directory is ``own_root``.

        Its files must really (symlinks resolved) lie under the allowed roots
        when they are configured, else under ``own_root``.
        """
        roots = self.allowed_roots
        if roots is None:
            roots = (Path(os.path.realpath(own_root)),)
        return _FileGuard(roots, min(self.max_bytes, DEFAULT_MAX_READ_BYTES), self.max_bytes)

    def _finish_path(self, path: str, what: str) -> Path:
        """Map, anchor at ``base_dir``, normalise and containment-check a raw path."""
        mapped = _map_prefix(path, self.root_map)
        _refuse_traversal(mapped, f"{what} (after root_map)")
        resolved = Path(os.path.normpath(self.base_dir / mapped))
        check_path_length(str(resolved), what)
        self.check_allowed(resolved)
        return resolved

    def resource_path(self, doc: Mapping[str, Any], what: str | None = None
                      ) -> tuple[Path, _FileGuard]:
        """The checked path of a ``resource``'s ``root/resource_path``, and its guard.

        The resource's own directory is its (mapped) ``root``, or the directory
        of the path when there is no root. A ``resource_path`` under a ``root``
        is relative to it, also when it starts with ``/``.
        """
        what = what or f"resource {doc['uid']}"
        root = str(doc.get("root") or "")
        resource_path = str(doc["resource_path"])
        _refuse_traversal(root, f"{what} root")
        _refuse_traversal(resource_path, f"{what} resource_path")
        if root:  # a leading "/" under a root is relative to it (as TiledWriter joins them)
            resource_path = resource_path.lstrip("/")
        joined = os.path.join(root, resource_path) if root else resource_path
        path = self._finish_path(joined, what)
        own = path.parent
        if root:
            mapped_root = Path(os.path.normpath(self.base_dir / _map_prefix(root, self.root_map)))
            own = mapped_root if within(path, mapped_root, resolve=False) else own
        return path, self.guard(own)

    def uri_path(self, uri: str, what: str, *, directory: bool) -> tuple[Path, _FileGuard]:
        """The checked local path of a ``file:`` URI (a stream_resource's ``uri``), and its guard.

        The resource's own directory is the URI's path when it names a
        ``directory`` (an image sequence), else the directory of the file.
        """
        parts = urlsplit(uri)
        if parts.scheme.lower() != "file":
            raise UnsafePathError(f"{what}: URI {uri!r} has scheme {parts.scheme!r}, not 'file'")
        if parts.netloc.lower() not in ("", "localhost"):
            raise UnsafePathError(
                f"{what}: URI {uri!r} names host {parts.netloc!r}; only local files are read"
            )
        if parts.query or parts.fragment:
            raise UnsafePathError(f"{what}: URI {uri!r} has a query or fragment; refused")
        path = unquote(parts.path)
        _refuse_traversal(path, f"{what} URI {uri!r}")
        if not path.startswith("/"):
            raise UnsafePathError(f"{what}: URI {uri!r} has no absolute path")
        resolved = self._finish_path(path, what)
        if directory and not (path.endswith("/") or resolved.is_dir()):  # a stem: files beside it
            directory = False
        return resolved, self.guard(resolved if directory else resolved.parent)
