"""The index's runs are read by one SELECT: ``search`` and ``IndexCatalog`` agree."""

from __future__ import annotations

from resonance_callback import search
from resonance_callback.index import IndexCatalog, _catalog, _search

from ..beamtime_fixture import Site


def test_search_and_catalog_give_the_same_indexed_runs_in_the_same_order(
        shared_site: Site) -> None:
    found = search(shared_site.index)
    catalog = IndexCatalog(shared_site.index)
    assert [run.uid for run in found] == list(catalog)
    assert found == [catalog[run.uid] for run in found]


def test_the_catalog_reads_the_runs_through_the_search_select() -> None:
    assert _catalog.RUN_SELECT is _search.RUN_SELECT
    assert not hasattr(_catalog, "_ROWS")
