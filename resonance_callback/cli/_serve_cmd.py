"""The ``serve`` command: the writer as a long-running service on a message bus."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from resonance_callback.callback import RunWriterCallback
from resonance_callback.cli._base import FRAMES_HELP, handle_errors, main
from resonance_callback.cli._index_arg import IndexTarget
from resonance_callback.errors import RoutingError
from resonance_callback.index import RunIndexer
from resonance_callback.serve import (
    DEFAULT_MAX_OPEN,
    FORMATS,
    BeamtimeRouter,
    DbTemplate,
    JsonFormatter,
    ServiceCallback,
    make_source,
    serve,
)

__all__ = ["serve_command"]


def _logging(fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("resonance_callback")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False


@main.command("serve")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
              help="The one beamtime database every run goes to (created if missing).")
@click.option("--db-template", metavar="TEMPLATE",
              help="Beamtime path from the start document, e.g. '{beamline}/{proposal_id}.db' "
                   "(under --root).")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path),
              help="The data root --db-template paths lie under [default: .].")
@click.option("--unrouted", type=click.Path(dir_okay=False, path_type=Path),
              help="Where runs --db-template cannot place go, and where what the service "
                   "refused is recorded with its reason [default: ROOT/unrouted.db; with "
                   "--db: DB].")
@click.option("--max-open-beamtimes", default=DEFAULT_MAX_OPEN, show_default=True,
              type=click.IntRange(min=1),
              help="Beamtimes open at once at most; the least recently used are closed "
                   "(and reopened when a run goes there again).")
@click.option("--zmq", "zmq_address", metavar="HOST:PORT",
              help="A bluesky 0MQ proxy's out port (at most once).")
@click.option("--zmq-prefix", default="", help="The 0MQ publisher's prefix.")
@click.option("--zmq-format", type=click.Choice(FORMATS), default="auto", show_default=True,
              help="How 0MQ payloads are read (the Publisher's serializer): auto reads msgpack "
                   "(msgpack-numpy arrays included) or JSON, per message. 'pickle' is UNSAFE: "
                   "unpickling executes code sent over the network, so anyone who can publish "
                   "to the proxy runs code as this service; use it only on a bus nobody else "
                   "can reach. Without it a pickled message is refused and recorded.")
@click.option("--zmq-max-bytes", type=click.IntRange(min=1), default=64 * 1024**2,
              show_default=True,
              help="The largest 0MQ message read; a larger one is refused unread (0MQ drops "
                   "the connection, the service records it and reconnects).")
@click.option("--nats", "nats_url", metavar="URL",
              help="A NATS server, e.g. nats://host:4222; a cluster's servers separated by "
                   "commas.")
@click.option("--stream", help="The JetStream stream bluesky-nats publishes to.")
@click.option("--subject", metavar="PATTERN",
              help="Only subjects matching PATTERN, e.g. 'bluesky.>' [default: all].")
@click.option("--durable", default="resonance-callback", show_default=True,
              help="The durable consumer's name (its position survives restarts).")
@click.option("--lease", default=10.0, show_default=True, type=click.FloatRange(min=0.0),
              help="NATS: serve only while holding the durable's lease (a JetStream key-value "
                   "entry living this many seconds after its last renewal): a second process "
                   "on the same durable waits as a standby and takes over when this one stops "
                   "or dies. 0: no lease.")
@click.option("--ack-wait", default=30.0, show_default=True,
              help="Seconds before NATS redelivers a message not acknowledged.")
@click.option("--kafka", "kafka_bootstrap", metavar="HOST:PORT[,HOST:PORT]",
              help="Kafka brokers; documents as bluesky-kafka's Publisher produces them.")
@click.option("--topic", help="The Kafka topic to read.")
@click.option("--group", default="resonance-callback", show_default=True,
              help="The Kafka consumer group (its committed offsets survive restarts; "
                   "processes of one group share the topic's partitions).")
@click.option("--session-timeout", default=10.0, show_default=True,
              type=click.FloatRange(min=1.0),
              help="Kafka: seconds without a heartbeat before the group gives this "
                   "process's partitions to another member.")
@click.option("--sample", help="Sample of runs whose start document names none.")
@click.option("--index", "index_path", type=IndexTarget(),
              help="Keep this master index current (with --researcher).")
@click.option("--researcher", help="The researcher the beamtimes belong to in --index.")
@click.option("--ack-every", default=1000, show_default=True,
              help="Commit and acknowledge after this many documents at the latest.")
@click.option("--ack-interval", default=0.2, show_default=True,
              help="Commit and acknowledge documents at most this many seconds old.")
@click.option("--status-interval", default=10.0, show_default=True,
              help="Seconds between status lines (0: none).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Log lines as text, or one JSON object per line.")
@click.option("--frames", metavar="URL", help=FRAMES_HELP)
@handle_errors
def serve_command(db: Path | None, db_template: str | None, root: Path | None,
                  unrouted: Path | None, max_open_beamtimes: int, zmq_address: str | None,
                  zmq_prefix: str, zmq_format: str, zmq_max_bytes: int,
                  nats_url: str | None, stream: str | None, subject: str | None,
                  durable: str, lease: float, ack_wait: float, kafka_bootstrap: str | None,
                  topic: str | None, group: str, session_timeout: float,
                  sample: str | None,
                  index_path: Path | str | None, researcher: str | None,
                  ack_every: int, ack_interval: float, status_interval: float,
                  log_format: str, frames: str | None) -> None:
    r"""Write every run from a message bus into its beamtime, until SIGTERM.

    Reads one source: a bluesky 0MQ proxy's out port (--zmq; at most once:
    what is sent while the service is down is lost, and its run stays open),
    a NATS JetStream stream as bluesky-nats publishes it (--nats, --stream;
    a durable consumer that acknowledges a message only once its rows are
    committed, so a crash or restart loses nothing and stores nothing twice),
    or a Kafka topic as bluesky-kafka publishes it (--kafka, --topic, --group;
    offsets committed only after the rows are, with the same promise).
    Each run goes to --db, or to the beamtime --db-template makes from its
    start document. SIGTERM or SIGINT drains what was received and exits 0.
    A status line is logged every --status-interval seconds.

    No message ends the service: a run that cannot be routed, or whose beamtime
    cannot be opened or written, goes to --unrouted; a message that cannot be
    read (a pickle without --zmq-format pickle, one over --zmq-max-bytes) is
    recorded there with its reason (rejected_documents); both are acknowledged.

    \b
    Examples:
        resonance-callback serve --db beamtime.db --nats nats://127.0.0.1:4222 --stream bluesky
        resonance-callback serve --db beamtime.db --zmq 127.0.0.1:5578
        resonance-callback serve --db beamtime.db --kafka 127.0.0.1:9092 --topic bluesky
        resonance-callback serve --root /data --db-template '{beamline}/{proposal_id}.db' \
            --nats nats://broker:4222 --stream bluesky --subject 'bluesky.>' --durable writer
    """
    if (db is None) == (db_template is None):
        raise click.UsageError("give one of --db DB or --db-template TEMPLATE")
    if (index_path is None) != (researcher is None):
        raise click.UsageError("--index and --researcher go together")
    _logging(log_format)
    data_root = (root or (Path.cwd() if db is None else db.absolute().parent)).absolute()
    source = make_source(zmq=zmq_address, nats=nats_url, stream=stream, subject=subject,
                         durable=durable, zmq_prefix=zmq_prefix.encode(), ack_wait=ack_wait,
                         zmq_format=zmq_format, zmq_max_bytes=zmq_max_bytes,
                         kafka=kafka_bootstrap, topic=topic, group=group,
                         session_timeout=session_timeout, lease=lease)

    def make_callback(path: Path, **options: Any) -> RunWriterCallback:
        return ServiceCallback(path, sample=sample, frames=frames, **options)

    indexer = None
    if index_path is not None:
        assert researcher is not None

        def indexer(path: Path) -> RunIndexer:
            label = str(path.relative_to(data_root).with_suffix("")) if path.is_relative_to(
                data_root) else path.stem
            return RunIndexer(index_path, researcher, data_root, label, path)

    try:
        template = None if db_template is None else DbTemplate(db_template, data_root)
    except RoutingError as exc:
        raise click.UsageError(str(exc)) from exc
    router = BeamtimeRouter(db, template=template, unrouted=unrouted,
                            make_callback=make_callback, indexer=indexer,
                            max_open=max_open_beamtimes,
                            open_now=getattr(source, "lease", None) is None)
    stats = serve(source, router, ack_every=ack_every, ack_interval=ack_interval,
                  status_interval=status_interval)
    click.echo(f"served {stats.documents} documents ({stats.recovered} recovered, "
               f"{stats.redelivered} redelivered), {stats.rejected} rejected", err=True)
