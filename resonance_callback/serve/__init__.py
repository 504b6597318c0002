"""The writer as a service: bluesky documents from a 0MQ proxy or NATS JetStream into beamtimes.

``resonance-callback serve`` runs :func:`serve`: a :class:`Service` reads one
source (:class:`NatsSource`, a durable JetStream consumer acknowledged after
commit; or :class:`ZmqSource`, bluesky's 0MQ proxy, at most once) and hands every
document to a :class:`BeamtimeRouter`, which sends each run to the
:class:`~resonance_callback.callback.RunWriterCallback` of its beamtime (one
fixed database, or a :class:`DbTemplate` over the start document).

Nothing a message holds ends the service: what cannot be routed, read or
stored is recorded with its reason in the unrouted beamtime (``--unrouted``,
default ``ROOT/unrouted.db``; the ``--db`` beamtime with ``--db``), in its
``rejected_documents``. 0MQ payloads are msgpack or JSON; pickle only when
asked for (it runs code sent over the network).

A NATS publisher that packs documents with :func:`pack_document` sends arrays
whole (msgpack-numpy's maps), read back in one call; bluesky-nats' own packing
(lists of numbers) is read too, at a cost per number.

The sources need the ``serve`` extra (nats-py, pyzmq); without it, using one
raises :class:`~resonance_callback.errors.MissingExtraError` naming the extra.
"""

from resonance_callback.serve._beamtimes import DEFAULT_MAX_OPEN, ServiceCallback
from resonance_callback.serve._route import BeamtimeRouter, DbTemplate
from resonance_callback.serve._run import make_source, serve
from resonance_callback.serve._service import Service
from resonance_callback.serve._source import ServiceStats
from resonance_callback.serve._status import JsonFormatter
from resonance_callback.serve._wire import FORMATS, Delivery, pack_document

__all__ = [
    "DEFAULT_MAX_OPEN",
    "FORMATS",
    "BeamtimeRouter",
    "DbTemplate",
    "Delivery",
    "JsonFormatter",
    "Service",
    "ServiceCallback",
    "ServiceStats",
    "make_source",
    "pack_document",
    "serve",
]
