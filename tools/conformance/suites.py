"""The suites the harness runs: pinned sdists, the test files, and how each test is classed.

Classes
-------
``client-visible``
    The test reads through the client what a writer stored: it should pass
    against us as against TiledWriter.
``writer-internal``
    The test asserts TiledWriter's own behaviour or internals (its options,
    validation and repair of data sources, backups, batching into patches,
    node splitting, storage schemes): listed, not expected of us.
``no-server``
    The test uses neither a writer nor a server (a parser, a query object):
    both runs are the same code.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

__all__ = ["SERVER_FIXTURES", "SUITES", "Suite", "classify"]

# A test that requests none of these fixtures touches neither a writer nor a server.
SERVER_FIXTURES = frozenset({
    "client", "context", "app", "catalog", "run_client", "streaming_client",
    "db", "db_empty", "broker_factory", "c",
})


@dataclass(frozen=True)
class Suite:
    """One upstream suite: where its tests are and how the harness redirects them.

    Attributes
    ----------
    name : str
        The distribution name on PyPI.
    version : str
        The pinned release whose sdist is fetched.
    files : tuple of str
        Test files run, relative to the sdist root (pytest runs there, with
        upstream's own pytest configuration).
    conftest : str
        The conftest (relative to the sdist root) the redirect is appended to.
    reference_plugin : str or None
        Module appended to the conftest for the TiledWriter run (``None``: as is).
    ours_plugin : str
        Module appended to the conftest for the run against us.
    renames : tuple of (str, str, str)
        ``(file, old, new)`` text replacements in the ``ours`` copy: module-level
        fixtures that shadow conftest ones are renamed so the redirect applies.
    writer_internal : dict of str to str
        Test function name (or ``file::name``) to the reason it is writer-internal.
    """

    name: str
    version: str
    files: tuple[str, ...]
    conftest: str
    reference_plugin: str | None
    ours_plugin: str
    renames: tuple[tuple[str, str, str], ...] = ()
    writer_internal: dict[str, str] = field(default_factory=dict)

    @property
    def requirement(self) -> str:
        """``name==version``, as pip takes it."""
        return f"{self.name}=={self.version}"

    @property
    def slug(self) -> str:
        """A directory name for this suite and version."""
        return f"{self.name}-{self.version}"


_BTP_INTERNAL = {
    "test_data_source_patching": "TiledWriter's batching of events into data-source patches",
    "test_validate_external_data": "TiledWriter's validate=True repairs stored data sources",
    "test_ignore_validation_errors": "TiledWriter's ignore_errors option of validation",
    "test_json_backup": "TiledWriter's backup_directory of failed writes",
    "test_event_append_retried_with_possible_duplication":
        "TiledWriter's retry of a failed table append (notes in run metadata)",
    "test_internal_arrays_written_as_zarr": "TiledWriter's storage scheme (max_array_size)",
    "test_large_internal_table_split_into_multiple_nodes":
        "TiledWriter's split of a large internal table into nodes",
    "test_tiled_writer_stop_closes_run_stream_and_table_subscriptions":
        "TiledWriter's own stop handling of its subscriptions",
    "test_zero_gets": "TiledWriter's own HTTP requests (no GET while writing; it turns on"
                      " include_data_sources on its client)",
    "test_validator.py": "validates and repairs TiledWriter's stored data sources (writes)",
    # One parametrisation of a test: the cases that turn a TiledWriter option on.
    "test_legacy_with_multiplier_parameter[*-True-*]":
        "TiledWriter's validate=True rewrites the node's shape and warns that it did",
    "test_bytes_roundtrip[*-True]":
        "TiledWriter's validate=True raises ValidationException at stop for a missing file"
        " (our callback never raises into a scan: the frames go to unresolved_frames, check"
        " lists them and read() raises)",
    "test_subscribe_to_streams_delivers_selected_array":
        "TiledWriter(max_array_size=0) makes every array a node; by its default (16) a"
        " 2-element array is a table column, as ours",
    "test_subscribe_to_streams_selects_all_native_batches":
        "TiledWriter(max_array_size=0) makes every array a node; by its default (16) a"
        " 2-element array is a table column, as ours",
    "test_conditional_backup.py": "TiledWriter's backup sink",
}

SUITES: tuple[Suite, ...] = (
    Suite(
        name="bluesky-tiled-plugins",
        version="2.0.12",
        files=("tests/test_clients.py", "tests/test_tiled_writer.py",
               "tests/test_streaming.py", "tests/test_validator.py",
               "tests/test_conditional_backup.py"),
        conftest="tests/conftest.py",
        reference_plugin=None,
        ours_plugin="tools.conformance.redirect_btp",
        renames=(("tests/test_streaming.py", "def streaming_client(",
                  "def _upstream_streaming_client("),),
        writer_internal=_BTP_INTERNAL,
    ),
    Suite(
        name="databroker",
        version="2.0.2",
        files=("databroker/tests/test_broker.py", "databroker/tests/test_queries.py"),
        conftest="databroker/tests/conftest.py",
        reference_plugin="tools.conformance.reference_databroker",
        ours_plugin="tools.conformance.redirect_databroker",
    ),
)


def classify(suite: Suite, test_id: str, fixtures: list[str] | None) -> tuple[str, str]:
    """Return ``(class, reason)`` of one test of ``suite`` (see the module docstring).

    ``test_id`` is a pytest node id (``file::name[params]``); ``fixtures`` the
    fixture names it requested (``None`` if unknown, e.g. it was not collected).
    """
    path, _, rest = test_id.partition("::")
    function = rest.split("[", 1)[0].split("::")[-1]
    filename = path.rsplit("/", 1)[-1]
    for key in (f"{filename}::{function}", function, filename):
        if key in suite.writer_internal:
            return "writer-internal", suite.writer_internal[key]
    case = rest.split("::")[-1]  # name[params]: a key with [...] names some cases only
    for key, reason in suite.writer_internal.items():
        if "[" in key and fnmatch.fnmatchcase(case, key.replace("[", "[[]", 1)):
            return "writer-internal", reason
    if fixtures is not None and not SERVER_FIXTURES.intersection(fixtures):
        return "no-server", "uses neither a writer nor a server"
    return "client-visible", ""
