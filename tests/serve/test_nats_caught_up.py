"""The end of a backlog is committed at once: JetStream says when nothing waits behind a message.

Every message JetStream delivers carries the number of messages still waiting for
the consumer behind it. The fetch that takes a backlog's last one says so
(``caught_up``), and the service commits and acknowledges then, not after a fetch
has waited in vain for more. A real nats-server, bluesky-nats' own publisher, the
service in this process.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from resonance_callback.serve import BeamtimeRouter, Service
from resonance_callback.serve._nats import NatsSource

from .runs import publish_run, runs_in
from .servers import NatsPublisher, NatsServer, stream_last_seq
from .test_nats_recovery import _acknowledged, _serve_service


def test_the_fetch_that_takes_a_backlogs_last_message_says_it_is_caught_up(
        nats_server: NatsServer, publisher: NatsPublisher) -> None:
    publish_run(publisher, events=600)
    last = 603
    assert stream_last_seq(nats_server.url) == last

    async def fetch_all() -> list[tuple[int, bool]]:
        source = NatsSource(nats_server.url, "bluesky", batch=100)
        await source.open()
        seen: list[tuple[int, bool]] = []  # (highest sequence so far, caught_up) per fetch
        try:
            while not seen or seen[-1][0] < last:
                new, _ = await source.fetch(5.0)
                if new:
                    seen.append((new[-1].seq, source.caught_up))
        finally:
            await source.close()
        return seen

    seen = asyncio.run(fetch_all())
    assert len(seen) >= 7  # 603 messages in requests of 100 at most
    assert [up for _, up in seen[:-1]] == [False] * (len(seen) - 1)
    assert seen[-1] == (last, True)


class _Watched(NatsSource):
    """A NatsSource that records what each fetch was asked and brought (the server is real)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.log: list[str] = []

    async def fetch(self, timeout: float) -> Any:
        new, again = await super().fetch(timeout)
        self.log.append(f"fetch {len(new)}" + (" caught up" if self.caught_up else "")
                        if new else f"waited {'<=' if timeout <= 0.05 else '>'} 0.05 s")
        return new, again

    async def ack(self, deliveries: Any) -> None:
        self.log.append(f"ack {len(deliveries)}")
        await super().ack(deliveries)


def test_a_backlogs_end_is_committed_within_the_group_window_not_a_fetch_timeout(
        tmp_path: Path, nats_server: NatsServer, publisher: NatsPublisher) -> None:
    uid = publish_run(publisher, events=50)
    source = _Watched(nats_server.url, "bluesky")
    # neither a count nor an age would commit these 53 documents, nor a fetch for 5 s:
    # being caught up does, once the oldest is group_window old
    service = Service(source, BeamtimeRouter(tmp_path / "bt.db"), status_interval=0,
                      ack_every=10**6, ack_interval=3600.0, fetch_timeout=5.0,
                      group_window=0.02)
    _serve_service(service, _acknowledged(nats_server.url))
    assert runs_in(tmp_path / "bt.db") == {uid: ("success", 50)}
    first_ack = source.log.index("ack 53")
    assert source.log[:first_ack] in (["fetch 53 caught up"],
                                      ["fetch 53 caught up", "waited <= 0.05 s"]), source.log
    assert service.stats.acknowledged == 53
