"""serve-tiled over the master index on PostgreSQL: the runs and searches of the SQLite index."""

from __future__ import annotations

from tiled.client.container import Container
from tiled.queries import Key

from ..cli.test_index_cli import add_all
from .conftest import API_KEY, serving


def test_a_postgres_index_serves_the_runs_and_searches_of_the_sqlite_index(
        shared_site, postgres_server, open_client) -> None:
    url = postgres_server.new_database()
    add_all(shared_site, url)
    with serving(url) as served, serving(shared_site.index) as reference:
        client, same = open_client(served, api_key=API_KEY), open_client(reference,
                                                                          api_key=API_KEY)
        assert list(client) == list(same) and len(client) == 8
        bob = Container.search(client, Key("summary.researcher") == "Bob Jones")
        assert list(bob) == list(Container.search(same, Key("summary.researcher") == "Bob Jones"))
        scans = list(client.search(Key("plan_name") == "scan"))
        assert scans == list(same.search(Key("plan_name") == "scan")) and scans
        assert client[scans[0]]["primary"].read().sizes["time"] in {3, 4, 5}
