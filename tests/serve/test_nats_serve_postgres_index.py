"""``serve --nats --index postgresql://...``: the served runs are indexed in PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from bluesky.plans import count

from resonance_callback import search

from .servers import wait_acknowledged


def test_serve_with_a_postgres_index_indexes_every_run_it_stores(
        tmp_path: Path, RE, sim, publisher, nats_server, served, postgres_server) -> None:
    url = postgres_server.new_database()
    service = served("--index", url, "--researcher", "Alice")
    RE.subscribe(publisher)
    RE(count([sim["det"]], num=3), sample="PS-1")
    RE(count([sim["det"]], num=2), sample="PS-2")
    wait_acknowledged(nats_server.url)
    assert service.terminate() == 0
    indexed = search(url)
    assert [run.sample_name for run in indexed] == ["PS-2", "PS-1"]
    assert [run.exit_status for run in indexed] == ["success", "success"]
    assert [run.db_path for run in indexed] == [tmp_path / "served.db"] * 2
    assert [run.num_events for run in indexed] == [{"primary": 2}, {"primary": 3}]
