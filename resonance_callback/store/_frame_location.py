"""Where a beamtime's frames are: a folder beside it, or ``s3://bucket/prefix``; opened once here.

Every writer and reader of frames asks this module: :func:`frames_location` says where
the frames of a beamtime are (the location given, else the one the beamtime records,
else ``{db stem}.zarr`` beside it), :func:`open_frames_group` opens the Zarr group
there, and :class:`ObjectFrames` lists and removes the objects of an object store (for
``repair`` and ``check``).

An object store is an S3 bucket (or any S3-compatible server) reached through zarr's
own :class:`zarr.storage.ObjectStore` over :class:`obstore.store.S3Store` (the ``s3``
extra). The endpoint and credentials come from the standard AWS environment variables
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``,
``AWS_ALLOW_HTTP=true`` for an ``http://`` endpoint). A URL that is not one, missing
credentials or an endpoint that does not answer is one :class:`StorageError` naming the
URL, raised when the store is opened (before any run is written).
"""

from __future__ import annotations

import os
import re
import sqlite3
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import zarr

from resonance_callback._extras import needs_extra
from resonance_callback.errors import StorageError

__all__ = ["ObjectFrames", "frames_location", "is_object_url", "obstore_module",
           "open_frames_group",
           "parse_frames_url", "record_location", "recorded_location", "resolve_location"]

#: Schemes of the object stores frames can go to.
SCHEMES = ("s3",)

#: A bucket name as S3 allows it (3 to 63 lower-case letters, digits, dots, hyphens).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")

#: Retries of a request that failed for a reason that may pass (a server restarting):
#: a writer waits up to this long for the store before the write is an error.
WRITE_RETRY = timedelta(seconds=120)

#: How long opening a store waits for the endpoint before saying it does not answer.
OPEN_RETRY = timedelta(seconds=8)

_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SKIP_SIGNATURE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


#: Schemes read as a URL (refused unless in :data:`SCHEMES`), never as a folder's name.
_URL_SCHEMES = (*SCHEMES, "s3a", "gs", "gcs", "az", "abfs", "abfss", "http", "https", "file")


def is_object_url(location: Any) -> bool:
    """Whether ``location`` is a URL (``s3://...``) rather than a folder or a zarr store."""
    return (isinstance(location, str) and "://" in location
            and location.partition("://")[0].lower() in _URL_SCHEMES)


def parse_frames_url(url: str) -> tuple[str, str]:
    """Return ``(bucket, prefix)`` of ``s3://bucket/prefix``.

    Raises
    ------
    ValueError
        If the URL is not one (:class:`StorageError` naming it).
    """
    scheme, _, rest = url.partition("://")
    if scheme.lower() not in SCHEMES:
        raise StorageError(f"frames URL {url}: unsupported scheme {scheme!r}; "
                           "use s3://bucket/prefix")
    if any(c in rest for c in "?#\\\0") or not rest.isprintable():
        raise StorageError(f"frames URL {url}: a bucket and a prefix only, no query, "
                           "fragment or control characters")
    bucket, _, prefix = rest.partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise StorageError(f"frames URL {url}: {bucket!r} is not an S3 bucket name")
    parts = [p for p in prefix.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise StorageError(f"frames URL {url}: '.' and '..' are not allowed in the prefix")
    return bucket, "/".join(parts)


def _s3_store(url: str, retry: timedelta) -> Any:
    with needs_extra("s3", "obstore", f"frames at {url}"):
        from obstore.store import S3Store

    bucket, prefix = parse_frames_url(url)
    if not any(os.environ.get(name) for name in _CREDENTIALS):
        raise StorageError(f"no credentials for frames at {url}: set AWS_ACCESS_KEY_ID and "
                           "AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a server "
                           "other than AWS)")
    config: dict[str, Any] = {}
    if not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
        config["region"] = "us-east-1"
    if "AWS_UNSIGNED_PAYLOAD" not in os.environ and _body_is_safe():
        config["unsigned_payload"] = True
    try:
        return S3Store(bucket, prefix=prefix or None, config=config,  # type: ignore[arg-type]
                       retry_config={"max_retries": 1000, "retry_timeout": retry,
                                     "backoff": {"init_backoff": timedelta(milliseconds=100),
                                                 "max_backoff": timedelta(seconds=2),
                                                 "base": 2}},
                       client_options={"connect_timeout": timedelta(seconds=2),
                                       "allow_http": os.environ.get("AWS_ALLOW_HTTP", "")
                                       .lower() in ("1", "true", "yes")})
    except Exception as exc:  # noqa: BLE001 - obstore raises its own types for bad settings
        raise StorageError(f"cannot use frames at {url}: {_first_line(exc)}") from exc


def _body_is_safe() -> bool:
    """Whether a request's body needs no SHA-256 in its signature, as botocore decides.

    Over TLS (AWS itself, an ``https://`` endpoint) TLS keeps the body intact; a
    loopback endpoint never leaves the host. Elsewhere (plain ``http://``) the body is
    signed. The hash costs the writer about 0.6 ms of CPU per MB of frames.
    """
    from urllib.parse import urlsplit

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT") or ""
    parts = urlsplit(endpoint)
    return not endpoint or parts.scheme == "https" or parts.hostname in (
        "127.0.0.1", "::1", "localhost")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def open_frames_group(location: Path | str | Any, *, writable: bool) -> zarr.Group:
    """Open the Zarr group of frames at ``location``.

    Parameters
    ----------
    location : Path, str or zarr store
        A folder, an ``s3://bucket/prefix`` URL or any zarr store.
    writable : bool
        Open to write (the group is made if missing) or read only.

    Raises
    ------
    OSError
        If the store cannot be opened (:class:`StorageError` naming it): a bad URL,
        no credentials, an endpoint that does not answer or refuses them.
    """
    if not is_object_url(location):
        from resonance_callback.store._zarr_files import open_or_create_group

        if writable:
            return open_or_create_group(location)
        return zarr.open_group(str(location) if isinstance(location, Path) else location,
                               mode="r")
    from zarr.storage import ObjectStore

    assert isinstance(location, str)
    probe = _s3_store(location, OPEN_RETRY)
    try:
        _probe(probe)
        store = ObjectStore(_s3_store(location, WRITE_RETRY if writable else OPEN_RETRY),
                            read_only=not writable)
        return zarr.open_group(store, mode="a" if writable else "r")
    except StorageError:
        raise
    except Exception as exc:  # noqa: BLE001 - obstore's errors, zarr's, the network's
        raise StorageError(f"cannot open frames at {location}: {_first_line(exc)}") from exc


def obstore_module() -> ModuleType:
    """The ``obstore`` package (the ``s3`` extra)."""
    with needs_extra("s3", "obstore", "frames on object storage"):
        import obstore
    return obstore


def _probe(store: Any) -> None:
    """Ask the store for its root metadata: it answers, and takes the credentials."""
    try:
        obstore_module().head(store, "zarr.json")
    except FileNotFoundError:
        pass  # a new store: the group is made when it is opened to write


class ObjectFrames:
    """The objects of a frame store in an object store: listed by prefix, removed by key.

    Parameters
    ----------
    url : str
        ``s3://bucket/prefix``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._store = _s3_store(url, OPEN_RETRY)

    def keys(self, prefix: str) -> list[str]:
        """Keys (relative to the store's prefix) of every object under ``prefix``."""
        try:
            return [meta["path"] for batch in obstore_module().list(self._store, prefix=prefix)
                    for meta in batch]
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"cannot list {prefix} in {self.url}: {_first_line(exc)}"
                               ) from exc

    def delete(self, keys: list[str]) -> None:
        """Remove the objects at ``keys`` (one already gone is not an error)."""
        try:
            for start in range(0, len(keys), 1000):
                obstore_module().delete(self._store, keys[start:start + 1000])
        except FileNotFoundError:
            pass
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"cannot remove objects from {self.url}: {_first_line(exc)}"
                               ) from exc

    def get(self, key: str, limit: int) -> bytes | None:
        """The object at ``key`` if it is at most ``limit`` bytes, else None (or missing)."""
        try:
            result = obstore_module().get(self._store, key)
            if result.meta["size"] > limit:
                return None
            return bytes(result.bytes())
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"cannot read {key} in {self.url}: {_first_line(exc)}"
                               ) from exc


def resolve_location(conn: sqlite3.Connection, db_path: Path, location: Any) -> Any:
    """Where a writer of the beamtime on ``conn`` writes its frames.

    A beamtime keeps its frames in one place: a writer given none opens the object
    store recorded (:func:`record_location`), else ``{db stem}.zarr`` beside it; one
    given another place than the recorded one is refused.

    Raises
    ------
    OSError
        If ``location`` differs from the recorded one (:class:`StorageError`).
    """
    recorded = _recorded(conn)
    if location is None:
        return recorded if recorded is not None else db_path.with_name(f"{db_path.stem}.zarr")
    if recorded is not None and location != recorded:
        raise StorageError(f"{db_path} keeps its frames at {recorded}, not {location}")
    if recorded is None and is_object_url(location) and conn.execute(
            "SELECT 1 FROM image_refs LIMIT 1").fetchone() is not None:
        raise StorageError(f"{db_path} keeps its frames in a folder (its .zarr unless told "
                           f"otherwise), not at {location}")
    return location


def record_location(conn: sqlite3.Connection, location: Any) -> None:
    """Record ``location`` as the beamtime's frames if it is an object store (once opened)."""
    if is_object_url(location) and _recorded(conn) is None:
        with conn:
            conn.execute("INSERT OR IGNORE INTO frame_store (id, location) VALUES (1, ?)",
                         (location,))


def _recorded(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT location FROM frame_store WHERE id = 1").fetchone()
    except sqlite3.OperationalError:  # a beamtime older than the table (opened read only)
        return None
    return None if row is None else str(row[0])


def recorded_location(db_path: Path | str) -> str | None:
    """The object store the beamtime at ``db_path`` records for its frames, if any."""
    try:
        conn = sqlite3.connect(f"file:{Path(db_path)}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        return _recorded(conn)
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()


def frames_location(db_path: Path | str, given: Any = None) -> Any:
    """Where the frames of the beamtime at ``db_path`` are.

    ``given`` if not None, else the object store the beamtime records, else
    ``{db stem}.zarr`` beside it.
    """
    if given is not None:
        return Path(given) if isinstance(given, str) and not is_object_url(given) else given
    db_path = Path(db_path)
    recorded = recorded_location(db_path)
    return recorded if recorded is not None else db_path.with_name(f"{db_path.stem}.zarr")
