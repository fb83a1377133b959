"""``kanal router``: consume the intake queue, route, publish, then ack.

For the deliveries at hand (a batch of up to ``batch_max``; one when traffic is low),
on one channel in AMQP transaction mode (``tx.select``, router/transaction.py):

1. decode the body; a body that is not a valid complaint is a poison message;
2. route them (:meth:`Router.route_many`, the learned model asked once for the batch;
   pure apart from one pass over the duplicate index);
3. claim them in the dedup store (one database transaction, left open; router/dedup.py);
   an id routed before is counted as a duplicate; for the others publish the routed
   message (persistent, ``mandatory``, AMQP priority set), and ``tx.commit``: the broker
   confirms once every routed message is on its queue;
4. commit the claims, then ack the intake messages (one ``basic.ack multiple`` for the
   batch) in a second ``tx.commit``.

Publishing and acking are two commits on purpose. RabbitMQ applies a transaction that
spans several quorum queues queue by queue, and a router killed while the broker applies
one can leave the intake ack applied and a routed message dropped (docs/router.md,
*Cross-queue transactions*): with the ack in the same commit that lost complaints. Now a
crash at any point leaves the intake messages unacked unless their routed messages are
on their queues and their claims committed; the cost is that a crash after the publish
commit and before the claims' commit routes that batch a second time (same
``message_id``; the CRM drops repeats, docs/message-contract.md).

A routed message no queue takes (a binding is missing) comes back as ``basic.return``
while the broker executes the publish commit, before ``tx.commit-ok``. The router
withdraws that id from the open dedup claim and, in a transaction committed before the
batch's acks, publishes the intake message again as a retry; after ``delivery_limit``
tries it goes to the dead-letter exchange with ``kanal_dead_reason=unroutable`` and the
broker's reason. Never a silent drop.

An integrity copy (router/decision.py) is published with its complaint, in the same
transaction; a returned copy goes to the dead-letter exchange with the reason and its
complaint stays routed. After each committed batch ``after_routed`` is given the routed
complaints (router/feedback_consumer.py keeps their texts); SIGHUP sets
``reload_requested`` and the model file is loaded again between two batches.

A poison message is retried, then dead-lettered with the reason (router/redelivery.py);
the copy is published with the batch's routed messages and the original acked with the
batch. A message that kills the router itself is dead-lettered by the broker's own
``x-delivery-limit``.
The process around this loop (config, feedback, SIGHUP) is router/service.py.

Over 300 lines on purpose: the steps above share one batch's open state (the claims,
the returns, the acks), and the guarantee is checked by reading them together.

Connection loss (broker or database) closes everything, waits with backoff and starts
over; unacked messages are redelivered and the dedup store sorts them out.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import kombu.exceptions
import psycopg
import structlog
from kombu import Connection, Consumer, Queue
from kombu.message import Message

from config.models import TopologyConfig
from normalizer.complaint import Complaint
from normalizer.wire import routed_message
from router.decision import Copy, Routed
from router.engine import DEFAULT_BATCH_MAX, Router
from router.intake import PoisonMessage, decode_intake
from router.redelivery import Redelivery
from router.shared_duplicates import SharedIndexUnavailable
from router.topology import declare_routed_side
from router.transaction import Returned, TxChannel, router_connection

log = structlog.get_logger("kanal.router")

PRUNE_EVERY_S = 3600.0
STATS_EVERY_S = 60.0


@dataclass(slots=True)
class RouterStats:
    """Counters of one router process."""

    routed: int = 0
    duplicates: int = 0
    triage: int = 0
    confidential: int = 0
    linked: int = 0
    requeued: int = 0
    dead_lettered: int = 0
    #: Routed from an intake message another router had held: published with
    #: ``kanal_redelivered`` (possibly a repeat).
    redelivered: int = 0

    def as_dict(self) -> dict[str, int]:
        """Counters as a dict (for logs)."""
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(slots=True)
class DecidedBatch:
    """A batch of deliveries with their decisions, before anything is published or claimed."""

    #: Every delivery of the batch, in delivery order (all are acked with the batch).
    messages: list[Message]
    #: Deliveries routed, with their decisions.
    decided: list[tuple[Message, Routed]] = field(default_factory=list)
    #: Deliveries to retry or dead-letter, with the reason.
    poison: list[tuple[Message, str]] = field(default_factory=list)
    #: Complaint id -> the decoded complaint, for ``after_routed``.
    complaints: dict[str, Complaint] = field(default_factory=dict)


class RouterConsumer:
    """The consume -> route -> publish -> ack loop (see the module docstring).

    Args:
        url: AMQP URL.
        topology: exchange and queue names.
        router: the routing engine; its ``dedup`` store is used.
        prefetch: unacked deliveries the broker may send ahead.
        heartbeat: AMQP heartbeat seconds.
        batch_max: most deliveries handled in one transaction (those already received;
            the router never waits to fill a batch).
        after_routed: called with ``[(complaint, routed)]`` after each committed batch
            (router/feedback_consumer.py keeps the texts for corrections); must not raise.
    """

    def __init__(self, url: str, topology: TopologyConfig, router: Router, prefetch: int = 200,
                 heartbeat: int = 15, batch_max: int = DEFAULT_BATCH_MAX, after_routed: Any = None) -> None:
        self.url = url
        self.topology = topology
        self.router = router
        self.prefetch = prefetch
        self.heartbeat = heartbeat
        self.batch_max = batch_max
        self.after_routed = after_routed
        self.stats = RouterStats()
        #: Routed complaints by (agency code, priority), for metrics.
        self.routed_by: Counter[tuple[str, str]] = Counter()
        #: Told how long each routing decision took, in seconds (``kanal router`` sets it).
        self.on_decision: Callable[[float], None] | None = None
        #: Since when (Unix time) the router has not been consuming; meaningless while ``ready``.
        self.disconnected_since = time.time()
        self._tx: TxChannel | None = None
        self._redelivery: Redelivery | None = None
        #: Set (by SIGHUP) to load the model file again between two batches.
        self.reload_requested = threading.Event()
        #: Set while consuming: the routed side is declared and the consumer registered.
        self.ready = threading.Event()

    def agency_queues(self) -> dict[str, str]:
        """Agency code -> queue name, for every agency of the rules and triage."""
        return {code: self.router.agency_queue(code) for code in self.router.agency_codes()}

    def transient_errors(self) -> tuple[type[BaseException], ...]:
        """Failures of the broker, the network or the dedup database: retried for ever.

        Anything else is a bug (or a surprise nobody planned for) and ends :meth:`run`.
        """
        probe = Connection(self.url)  # not connected: it only names its transport's errors
        # kombu raises its own OperationalError when (re)connecting fails or the broker
        # goes away mid-operation; it is a broker failure, not a bug.
        return (*probe.connection_errors, *probe.recoverable_connection_errors, *probe.channel_errors, OSError,
                kombu.exceptions.OperationalError, psycopg.OperationalError, psycopg.InterfaceError,
                sqlite3.OperationalError, SharedIndexUnavailable)

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, reconnecting with backoff after broker,
        network or database failures.

        Raises:
            Exception: anything else (a bug), logged with its traceback first; the
                ``kanal router`` process then exits non-zero to be restarted.
        """
        backoff = 1.0
        transient = self.transient_errors()
        while not stop.is_set():
            try:
                with router_connection(self.url, heartbeat=self.heartbeat, connect_timeout=10) as conn:
                    conn.ensure_connection(max_retries=1)
                    backoff = 1.0
                    self._serve(conn, stop)
            except transient as exc:
                if self.ready.is_set():
                    self.disconnected_since = time.time()
                self.ready.clear()
                log.warning("router connection lost; reconnecting", error=type(exc).__name__,
                            detail=str(exc)[:200], retry_in=backoff)
                self.router.reset_dedup()
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
        log.info("router stopped", **self.stats.as_dict())

    def _serve(self, conn: Connection, stop: threading.Event) -> None:
        channel = conn.channel()
        declare_routed_side(channel, self.topology, self.router.agency_codes())
        channel.basic_qos(0, self.prefetch, False)
        self._tx = TxChannel(channel)
        self._redelivery = Redelivery(self._tx, self.topology)
        intake = Queue(self.topology.intake_queue, no_declare=True)
        log.info("router consuming", queue=self.topology.intake_queue, prefetch=self.prefetch)
        next_prune, next_stats = time.monotonic(), time.monotonic() + STATS_EVERY_S
        inbox: deque[Message] = deque()
        with Consumer(channel, queues=[intake], on_message=inbox.append, no_ack=False, auto_declare=False):
            self.ready.set()
            while not stop.is_set():
                if not inbox:
                    try:
                        conn.drain_events(timeout=1.0)
                    except TimeoutError:
                        conn.heartbeat_check()
                # Handled outside the delivery callback: waiting for tx.commit-ok reads more
                # deliveries, and handling those re-entrantly would interleave two transactions.
                while inbox and not stop.is_set():
                    self._complete(self._decide([inbox.popleft() for _ in range(min(len(inbox), self.batch_max))]))
                self._reload_if_asked()
                now = time.monotonic()
                if now >= next_prune:
                    self.router.prune()
                    next_prune = now + PRUNE_EVERY_S
                if now >= next_stats:
                    log.info("router stats", **self.stats.as_dict())
                    next_stats = now + STATS_EVERY_S

    def _decide(self, messages: list[Message]) -> DecidedBatch:
        """Decode and route a batch (no publishing, no claims).

        A failure of the shared duplicate index propagates: the database, not the messages.
        """
        batch = DecidedBatch(messages)
        decoded: list[tuple[Message, Complaint]] = []
        for message in messages:
            try:
                decoded.append((message, decode_intake(message.body)))
            except PoisonMessage as exc:
                batch.poison.append((message, str(exc)))
        started = time.perf_counter()
        complaints = [c for _, c in decoded]
        results = self.router.route_many(complaints, self._predict(complaints))
        if self.on_decision is not None and decoded:
            # One lookup round trip decides the whole batch: each complaint is given its share.
            share = (time.perf_counter() - started) / len(decoded)
            for _ in decoded:
                self.on_decision(share)
        for (message, complaint), result in zip(decoded, results, strict=True):
            if isinstance(result, Exception):
                batch.poison.append((message, self._routing_failed(complaint, result)))
            else:
                batch.decided.append((message, result))
                batch.complaints[result.complaint_id] = complaint
        return batch

    def _complete(self, batch: DecidedBatch) -> None:
        """Publish, claim and ack a decided batch, in that order (see the module docstring):
        the publishes are committed on the broker before the claims are committed, and the
        claims before the acks."""
        decided, poison = batch.decided, batch.poison
        sent: dict[str, tuple[Message, Routed]] = {}
        duplicates: list[str] = []
        with self.router.dedup.claim_many([(r.complaint_id, r.queue) for _, r in decided]) as fresh:
            for message, routed in decided:
                if routed.complaint_id in fresh:
                    fresh.discard(routed.complaint_id)  # a second copy in this batch is a duplicate
                    self._publish(routed, redelivered=bool(message.delivery_info.get("redelivered")))
                    sent[routed.complaint_id] = (message, routed)
                else:
                    duplicates.append(routed.complaint_id)
            for message, reason in poison:
                self._poison(message, reason)
            # A batch of duplicates published nothing: no commit to wait for.
            returned = self._commit() if sent or poison else Returned()
            if returned.routed:
                self.router.dedup.withdraw(list(returned.routed))
                self._retry_returned({cid: (sent.pop(cid)[0], reason) for cid, reason in returned.routed.items()
                                      if cid in sent})
            if returned.copies:
                self._dead_letter_copies([(c, returned.copies[c.message_id]) for _, r in sent.values()
                                          for c in r.copies if c.message_id in returned.copies], sent)
            # Leaving the block commits the claims: only now may the intake messages be acked.
        # Every delivery of the batch, routed, duplicate or poison, is acked with it.
        self._ack_batch(batch.messages)
        self._commit()
        self._account([routed for _, routed in sent.values()], duplicates, poison)
        if self.after_routed is not None and sent:
            self.after_routed([(batch.complaints[cid], routed) for cid, (_, routed) in sent.items()])

    def _predict(self, complaints: list[Complaint]) -> list[Any] | None:
        """The model's answers for the batch at once; on a failure each complaint is tried alone."""
        try:
            return self.router.predict(complaints)
        except Exception:  # noqa: BLE001 - one bad complaint must not poison the batch: retried one by one
            log.warning("batch prediction failed; predicting one by one")
            return None

    def _reload_if_asked(self) -> None:
        """Load the model file again after SIGHUP, between batches (nothing in hand is dropped)."""
        if not self.reload_requested.is_set():
            return
        self.reload_requested.clear()
        try:
            version = self.router.reload_model()
        except Exception as exc:  # noqa: BLE001 - a bad file must not stop routing: the old model stays
            log.error("model reload failed; keeping the loaded model", error=str(exc)[:300])
            return
        log.info("model reloaded", version=version)

    def _retry_returned(self, returned: dict[str, tuple[Message, str]]) -> None:
        """Send the intake messages of returned routed messages to retry or dead-letter, in a
        transaction of their own, committed before the batch's acks."""
        for cid, (message, reason) in returned.items():
            log.error("routed message returned by the broker", complaint_id=cid, reason=reason[:300])
            self._poison(message, reason, dead_reason="unroutable")
        self._commit()

    def _dead_letter_copies(self, copies: list[tuple[Copy, str]], sent: dict[str, tuple[Message, Routed]]) -> None:
        """Publish returned integrity copies to the dead-letter exchange with the reason, in a
        transaction of their own; their complaints stay routed (never a silent drop, never twice)."""
        copy_of = {c.message_id: cid for cid, (_, r) in sent.items() for c in r.copies}
        assert self._redelivery is not None
        for copy, reason in copies:
            self._redelivery.dead_letter_copy(copy, copy_of[copy.message_id], reason)
            self.stats.dead_lettered += 1
        self._commit()

    def _routing_failed(self, complaint: Complaint, exc: Exception) -> str:
        log.error("routing raised; the message is retried, then dead-lettered", complaint_id=str(complaint.id),
                  exc_info=exc)
        return f"routing failed: {type(exc).__name__}: {exc}"

    def _account(self, routed: list[Routed], duplicates: list[str], poison: list[tuple[Message, str]]) -> None:
        for r in routed:
            self._count(r)
            log.info("complaint routed", **r.log_fields())
        for cid in duplicates:
            self.stats.duplicates += 1
            log.info("duplicate complaint acked", complaint_id=cid)
        for message, reason in poison:
            log.warning("poison message", message_id=message.properties.get("message_id"), reason=reason[:300])

    def _publish(self, routed: Routed, redelivered: bool = False) -> None:
        """Publish a routed message (persistent, mandatory) in the open transaction.

        ``redelivered``: the intake message came back from a router that did not ack it.
        The routed message then says ``kanal_redelivered: true``: that router may have
        published it already (the one window, docs/router.md), so the CRM knows which
        messages can be repeats.
        """
        wire = routed_message(routed)
        assert self._tx is not None
        exchange = self.topology.routed_exchange
        if redelivered:
            wire = replace(wire, headers={**wire.headers, "kanal_redelivered": True})
            self.stats.redelivered += 1
        self._tx.publish(wire.body, exchange, routed.routing_key, mandatory=True, priority=wire.priority,
                         message_id=wire.message_id, type=wire.type, content_type=wire.content_type,
                         content_encoding=wire.content_encoding, delivery_mode=wire.delivery_mode,
                         application_headers=wire.headers, timestamp=wire.timestamp)
        for copy in routed.copies:  # the integrity copy to the Inspektorat, in the same commit
            self._tx.publish(copy.body, exchange, copy.routing_key, mandatory=True, priority=wire.priority,
                             message_id=copy.message_id, type=wire.type, content_type=wire.content_type,
                             content_encoding=wire.content_encoding, delivery_mode=wire.delivery_mode,
                             application_headers={**wire.headers, "cloudEvents_id": copy.message_id,
                                                  "kanal_integrity_copy": True, "kanal_copy_of": routed.complaint_id},
                             timestamp=wire.timestamp)

    def _ack_batch(self, messages: list[Message]) -> None:
        """Ack every delivery of the batch (one ``basic.ack multiple``) in the open transaction."""
        assert self._tx is not None
        if messages:
            self._tx.ack_through(max(m.delivery_tag for m in messages))

    def _commit(self) -> Returned:
        """Commit the AMQP transaction (the batch's publishes, or its acks); returns once the
        broker confirmed, with what it returned (routed messages and integrity copies no
        queue took)."""
        assert self._tx is not None
        return self._tx.commit()

    def _poison(self, message: Message, reason: str, dead_reason: str = "poison") -> None:
        """Retry or dead-letter ``message`` (router/redelivery.py) in the open transaction;
        the caller acks the original with its batch, after this transaction is committed."""
        assert self._redelivery is not None
        if self._redelivery.retry_or_dead_letter(message, reason, dead_reason):
            self.stats.dead_lettered += 1
        else:
            self.stats.requeued += 1

    def _count(self, routed: Routed) -> None:
        self.stats.routed += 1
        self.routed_by[(routed.agency_code, str(routed.routing.get("priority", routed.priority)))] += 1
        self.stats.triage += routed.triage
        self.stats.confidential += routed.confidential
        self.stats.linked += routed.duplicate_of is not None
