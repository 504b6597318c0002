"""Whether the Kafka brokers answer: one line when they are gone, one when they are back.

While every broker is down, librdkafka tries to reconnect (``reconnect.backoff.ms``
growing to ``reconnect.backoff.max.ms``, :data:`RECONNECT`) and reports each
refused connection, from several connections at once: about twenty lines a
second. :class:`BrokerHealth` stands between librdkafka and the log: the first
"all brokers down" is one warning naming the brokers; the connection failures
after it are counted, not logged; the service probes the brokers at most once
every :attr:`BrokerHealth.probe_every` seconds and says when they answer again.
Nothing is committed meanwhile: the documents wait in the broker.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from resonance_callback._extras import needs_extra

with needs_extra("kafka", "confluent-kafka", "serving from Kafka"):
    import confluent_kafka as ck

__all__ = ["RECONNECT", "BrokerHealth", "unreachable"]

log = logging.getLogger("resonance_callback.serve")

#: librdkafka's reconnection back-off, first and longest (ms): it grows from a quarter
#: of a second to two, so a broker back is found within about two seconds.
RECONNECT = {"reconnect.backoff.ms": 250, "reconnect.backoff.max.ms": 2000}

#: The librdkafka log facilities of connection failures.
_CONNECTION_FACILITIES = frozenset({"FAIL", "ERROR"})

_E = ck.KafkaError
#: Errors that say the brokers (or the group's coordinator) did not answer: worth a new try.
_UNREACHABLE = frozenset({
    _E._TRANSPORT, _E._TIMED_OUT, _E._WAIT_COORD, _E._ALL_BROKERS_DOWN, _E._RESOLVE,
    _E.COORDINATOR_NOT_AVAILABLE, _E.NOT_COORDINATOR, _E.COORDINATOR_LOAD_IN_PROGRESS,
    _E.REQUEST_TIMED_OUT, _E.NETWORK_EXCEPTION})


def unreachable(err: Any) -> bool:
    """``err`` (a KafkaError) says no broker answered, not that the request was refused."""
    return bool(err.code() in _UNREACHABLE)


class BrokerHealth:
    """Follow whether the brokers answer; librdkafka's ``logger`` and ``error_cb``.

    Parameters
    ----------
    bootstrap : str
        The brokers, as named in the log lines.
    probe_every : float, optional
        Seconds between two checks whether the brokers are back.
    """

    def __init__(self, bootstrap: str, probe_every: float = 1.0) -> None:
        self.bootstrap = bootstrap
        self.probe_every = probe_every
        self.down_since: float | None = None
        self.unlogged = 0  # connection failures not logged while down
        self._next_probe = 0.0

    @property
    def down(self) -> bool:
        """Every broker was found down and none has answered since."""
        return self.down_since is not None

    def log(self, level: int, msg: str, *args: Any) -> None:
        """Log a librdkafka line (facility, client, text), unless it repeats a failure.

        Connection failures are counted, not logged, while the brokers are down.
        """
        if self.down and args and args[0] in _CONNECTION_FACILITIES:
            self.unlogged += 1
            return
        log.log(level, msg, *args)

    def error(self, err: Any) -> None:
        """Take librdkafka's errors: "all brokers down" is logged once.

        Connection failures are left to librdkafka's log; the rest is logged as it comes.
        """
        if err.code() == _E._ALL_BROKERS_DOWN:
            if not self.down:
                self.down_since = time.monotonic()
                self._next_probe = self.down_since + self.probe_every
                log.warning("Kafka %s: no broker answers (%s); waiting for them, nothing is "
                            "committed meanwhile (reconnecting every %g s at most)",
                            self.bootstrap, err.str(), RECONNECT["reconnect.backoff.max.ms"] / 1000)
            return
        if err.code() in (_E._TRANSPORT, _E._RESOLVE):  # librdkafka's log has them (FAIL)
            return
        log.warning("Kafka %s: %s", self.bootstrap, err.str())

    def probe(self, client: Any, topic: str) -> None:
        """Ask the brokers, if down, for ``topic``'s metadata; if they answer, they are back.

        At most once every ``probe_every`` seconds, through ``client`` (a librdkafka client).
        """
        if not self.down or time.monotonic() < self._next_probe:
            return
        self._next_probe = time.monotonic() + self.probe_every
        try:
            client.list_topics(topic, timeout=min(0.5, self.probe_every))
        except ck.KafkaException:
            return
        self.up()

    def up(self) -> None:
        """A broker answered: say so once, with how long they were gone."""
        if self.down_since is None:
            return
        log.info("Kafka %s: the brokers answer again after %.1f s (%d connection "
                 "failure(s) not logged); carrying on", self.bootstrap,
                 time.monotonic() - self.down_since, self.unlogged)
        self.down_since, self.unlogged = None, 0
