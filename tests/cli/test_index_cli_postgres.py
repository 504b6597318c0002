"""The index commands with a postgresql:// URL where an index file goes."""

from __future__ import annotations

import json

from resonance_callback import search

from ..beamtime_fixture import Site
from .test_index_cli import add_all, invoke


def test_add_beamtime_and_search_on_a_postgres_index_find_what_the_sqlite_index_finds(
    shared_site: Site, postgres_server
) -> None:
    url = postgres_server.new_database()
    add_all(shared_site, url)
    result = invoke("search", url, "--sample", "PS-1", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert [run["uid"] for run in found] == [
        run.uid for run in search(shared_site.index, sample="PS-1")]
    assert search(url) == search(shared_site.index)


def test_reindex_of_a_postgres_index_reports_counts(shared_site: Site, postgres_server) -> None:
    url = postgres_server.new_database()
    add_all(shared_site, url)
    result = invoke("reindex", url)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Reindexed 8 runs from 3 beamtimes in {url}")


def test_search_of_an_unreachable_postgres_index_is_one_error_line(postgres_server) -> None:
    url = f"postgresql://postgres@127.0.0.1:{postgres_server.port}/no_such_database"
    result = invoke("search", url)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: cannot open index {url}")
    assert len(result.output.splitlines()) == 1


def test_a_postgres_url_without_psycopg_prints_one_line_naming_the_postgres_extra() -> None:
    from ..test_optional_parts import run_python

    done = run_python("""
        from resonance_callback.cli import main
        main(["search", "postgresql://nobody@127.0.0.1:1/none"])
        """, blocked=("psycopg",))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: an index on PostgreSQL needs psycopg[binary]: "
        "pip install 'resonance-callback[postgres]'"], done.stderr
