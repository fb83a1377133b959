"""``kanal router``: consume the intake queue, route, publish, then ack.

For the deliveries at hand (a batch of up to ``batch_max``; one when traffic is low),
on one kombu channel in AMQP transaction mode (``tx.select``):

1. decode the body; a body that is not a valid complaint is a poison message;
2. route them (:meth:`Router.route_many`, the learned model asked once for the batch;
   pure apart from one pass over the duplicate index);
3. note the ids in the dedup store's in-doubt journal (a committed transaction of its
   own), then claim them (one database transaction, see router/dedup.py); an id routed
   before is acked and counted as a duplicate; for the others publish the routed
   message (persistent, ``mandatory``, AMQP priority set);
4. ack the intake messages and ``tx.commit``: the broker applies the publishes and the
   acks together and confirms the commit; only then is the dedup claim committed.

A routed message no queue takes (a binding is missing) comes back as ``basic.return``
while the broker executes the commit, before ``tx.commit-ok``. RabbitMQ has applied the
ack of its intake message by then (a ``tx.rollback`` after the return undoes nothing:
measured, docs/router.md), so the router withdraws that id from the open dedup claim and,
in the next transaction, publishes the intake message again as a retry; after
``delivery_limit`` tries it goes to the dead-letter exchange with
``kanal_dead_reason=unroutable`` and the broker's reason. Never a silent drop.

An integrity copy (router/decision.py) is published with its complaint, in the same
transaction; a returned copy goes to the dead-letter exchange with the reason and its
complaint stays routed. After each committed batch ``after_routed`` is given the routed
complaints (router/feedback_consumer.py keeps their texts); SIGHUP sets
``reload_requested`` and the model file is loaded again between two batches.

A poison message is retried (a copy at the tail of the intake queue with the attempt
counted in ``kanal_attempts``) until it has been tried ``delivery_limit`` times, then
published to the dead-letter exchange with the reason in its headers
(``kanal_dead_reason``, ``kanal_error``, ``kanal_deliveries``); each step publishes
the copy and acks the original in one transaction. A message that
kills the router itself is dead-lettered by the broker's own ``x-delivery-limit``.

Connection loss (broker or database) closes everything, waits with backoff and starts
over; unacked messages are redelivered and the dedup store sorts them out.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kombu.exceptions
import psycopg
import structlog
from kombu import Connection, Consumer, Producer, Queue
from kombu.message import Message

from config.models import TopologyConfig
from normalizer.complaint import Complaint
from normalizer.wire import routed_message
from router.decision import Copy, Routed
from router.engine import Router
from router.intake import PoisonMessage, broker_url, decode_intake
from router.shared_duplicates import SharedIndexUnavailable
from router.topology import declare_routed_side

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

    def as_dict(self) -> dict[str, int]:
        """Counters as a dict (for logs)."""
        return {k: getattr(self, k) for k in self.__slots__}


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
                 heartbeat: int = 15, batch_max: int = 100, after_routed: Any = None) -> None:
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
        self._channel: Any = None
        #: Set (by SIGHUP) to load the model file again between two batches.
        self.reload_requested = threading.Event()
        #: Set while consuming: the routed side is declared and the consumer registered.
        self.ready = threading.Event()
        self._producer: Producer | None = None
        #: Complaint id -> reason of routed messages the broker returned in the commit at hand.
        self._returned: dict[str, str] = {}
        #: Message id -> reason of integrity copies the broker returned in the commit at hand.
        self._returned_copies: dict[str, str] = {}

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
                with Connection(self.url, heartbeat=self.heartbeat, connect_timeout=10) as conn:
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
        channel.tx_select()
        self._channel = channel
        self._producer = Producer(channel, auto_declare=False, on_return=self._on_return)
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
                    batch = [inbox.popleft() for _ in range(min(len(inbox), self.batch_max))]
                    self._handle_batch(batch)
                self._reload_if_asked()
                now = time.monotonic()
                if now >= next_prune:
                    self.router.prune()
                    next_prune = now + PRUNE_EVERY_S
                if now >= next_stats:
                    log.info("router stats", **self.stats.as_dict())
                    next_stats = now + STATS_EVERY_S

    def _handle_batch(self, messages: list[Message]) -> None:
        """Route the deliveries at hand: one dedup transaction, one AMQP transaction."""
        decoded: list[tuple[Message, Complaint]] = []
        poison: list[tuple[Message, str]] = []
        for message in messages:
            try:
                decoded.append((message, decode_intake(message.body)))
            except PoisonMessage as exc:
                poison.append((message, str(exc)))
        decided: list[tuple[Message, Routed]] = []
        # A failure of the shared duplicate index propagates: the database, not the message.
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
                poison.append((message, self._routing_failed(complaint, result)))
            else:
                decided.append((message, result))
        sent: dict[str, tuple[Message, Routed]] = {}
        duplicates: list[str] = []
        # Committed before the AMQP commit: an id a crash leaves neither claimed nor
        # acked-and-redelivered is then known to have been in a commit (router/dedup.py).
        self.router.dedup.note_in_doubt([r.complaint_id for _, r in decided])
        with self.router.dedup.claim_many([(r.complaint_id, r.queue) for _, r in decided]) as fresh:
            for message, routed in decided:
                if routed.complaint_id in fresh:
                    fresh.discard(routed.complaint_id)  # a second copy in this batch is a duplicate
                    self._publish(routed)
                    sent[routed.complaint_id] = (message, routed)
                else:
                    duplicates.append(routed.complaint_id)
                message.ack()
            for message, reason in poison:
                self._poison(message, reason)
            returned = self._commit()
            if returned:
                self.router.dedup.withdraw(list(returned))
            # Nothing else between the AMQP commit and the database commit (leaving this block):
            # that gap is the one a crash plus a later resend of the same id could exploit.
        copies_back, self._returned_copies = self._returned_copies, {}
        if returned:
            self._retry_returned({cid: (sent.pop(cid)[0], reason) for cid, reason in returned.items() if cid in sent})
        if copies_back:
            self._dead_letter_copies([(c, copies_back[c.message_id]) for _, r in sent.values() for c in r.copies
                                      if c.message_id in copies_back], sent)
        self._account([routed for _, routed in sent.values()], duplicates, poison)
        if self.after_routed is not None and sent:
            by_id = {str(c.id): c for _, c in decoded}
            self.after_routed([(by_id[cid], routed) for cid, (_, routed) in sent.items()])

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
        """Send the intake messages of returned routed messages to retry or dead-letter,
        in a transaction of their own (their acks were committed with the batch)."""
        for cid, (message, reason) in returned.items():
            log.error("routed message returned by the broker", complaint_id=cid, reason=reason[:300])
            self._poison(message, reason, dead_reason="unroutable", acked=True)
        self._commit()

    def _dead_letter_copies(self, copies: list[tuple[Copy, str]], sent: dict[str, tuple[Message, Routed]]) -> None:
        """Publish returned integrity copies to the dead-letter exchange with the reason, in a
        transaction of their own; their complaints stay routed (never a silent drop, never twice)."""
        copy_of = {c.message_id: cid for cid, (_, r) in sent.items() for c in r.copies}
        assert self._producer is not None
        for copy, reason in copies:
            log.error("integrity copy returned by the broker; dead-lettered", message_id=copy.message_id,
                      copy_of=copy_of[copy.message_id], reason=reason[:300])
            headers = {"kanal_dead_reason": "unroutable", "kanal_error": reason[:1000], "kanal_deliveries": 1,
                       "kanal_copy_of": copy_of[copy.message_id],
                       "kanal_dead_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            self._producer.publish(
                copy.body, exchange=self.topology.dead_letter_exchange, routing_key=copy.routing_key,
                headers=headers, message_id=copy.message_id, content_type="application/json",
                content_encoding="utf-8", delivery_mode=2, retry=False, declare=[],
            )
            self.stats.dead_lettered += 1
        self._commit()

    def _on_return(self, exc: Any, exchange: str, routing_key: str, message: Any) -> None:
        """``basic.return`` of a mandatory routed message no queue took (read during tx.commit).

        A returned integrity copy is kept apart: its complaint did reach its agency.
        """
        props = message.properties or {}
        mid = str(props.get("message_id") or "")
        code, text = getattr(exc, "reply_code", ""), getattr(exc, "reply_text", "") or str(exc)
        reason = f"unroutable: no queue bound for {routing_key!r} on {exchange!r} ({code} {text})"
        if (props.get("application_headers") or {}).get("kanal_copy_of"):
            self._returned_copies[mid] = reason
        else:
            self._returned[mid] = reason

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

    def _publish(self, routed: Routed) -> None:
        """Publish a routed message (persistent, mandatory) in the open transaction."""
        wire = routed_message(routed)
        assert self._producer is not None
        self._producer.publish(
            wire.body, exchange=self.topology.routed_exchange, routing_key=routed.routing_key,
            priority=wire.priority, message_id=wire.message_id, type=wire.type, content_type=wire.content_type,
            content_encoding=wire.content_encoding, delivery_mode=wire.delivery_mode, headers=wire.headers,
            timestamp=wire.timestamp, mandatory=True, retry=False, declare=[],
        )
        for copy in routed.copies:  # the integrity copy to the Inspektorat, in the same transaction
            self._producer.publish(
                copy.body, exchange=self.topology.routed_exchange, routing_key=copy.routing_key,
                priority=wire.priority, message_id=copy.message_id, type=wire.type, content_type=wire.content_type,
                content_encoding=wire.content_encoding, delivery_mode=wire.delivery_mode,
                headers={**wire.headers, "cloudEvents_id": copy.message_id, "kanal_integrity_copy": True,
                         "kanal_copy_of": routed.complaint_id},
                timestamp=wire.timestamp, mandatory=True, retry=False, declare=[],
            )

    def _commit(self) -> dict[str, str]:
        """Commit the AMQP transaction (publish + ack); returns once the broker confirmed,
        with complaint id -> reason for every routed message the broker returned."""
        self._returned = {}
        self._channel.tx_commit()  # basic.return frames arrive before tx.commit-ok
        returned, self._returned = self._returned, {}
        return returned

    def _poison(self, message: Message, reason: str, dead_reason: str = "poison", acked: bool = False) -> None:
        """Retry an intake message (a copy at the tail) or dead-letter it with ``reason``;
        acks the original unless it is ``acked`` already. Part of the caller's AMQP transaction.
        """
        headers = dict(message.headers or {})
        delivery = max(int(headers.get("x-delivery-count") or 0), int(headers.get("kanal_attempts") or 0)) + 1
        if delivery < self.topology.delivery_limit:
            # A requeueing reject is refused inside an AMQP transaction on this broker, so the
            # retry is a copy at the queue's tail with the attempt counted.
            headers["kanal_attempts"] = delivery
            self._republish(message, "", self.topology.intake_queue, headers, acked)
            self.stats.requeued += 1
            return
        headers.update({"kanal_dead_reason": dead_reason, "kanal_error": reason[:1000], "kanal_deliveries": delivery,
                        "kanal_dead_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        key = message.delivery_info.get("routing_key") or self.topology.intake_routing_key
        self._republish(message, self.topology.dead_letter_exchange, key, headers, acked)
        self.stats.dead_lettered += 1
        log.error("message dead-lettered", message_id=message.properties.get("message_id"),
                  reason=dead_reason, deliveries=delivery)

    def _republish(self, message: Message, exchange: str, routing_key: str, headers: dict[str, Any],
                   acked: bool) -> None:
        """Publish a copy of ``message`` and ack the original (in the open transaction)."""
        props = message.properties
        assert self._producer is not None
        self._producer.publish(
            message.body, exchange=exchange, routing_key=routing_key, headers=headers,
            message_id=props.get("message_id"), type=props.get("type"), timestamp=props.get("timestamp"),
            content_type=message.content_type or "application/octet-stream",
            content_encoding=message.content_encoding or "binary", delivery_mode=2, retry=False, declare=[],
        )
        if not acked:
            message.ack()

    def _count(self, routed: Routed) -> None:
        self.stats.routed += 1
        self.routed_by[(routed.agency_code, str(routed.routing.get("priority", routed.priority)))] += 1
        self.stats.triage += routed.triage
        self.stats.confidential += routed.confidential
        self.stats.linked += routed.duplicate_of is not None


def build_consumer(loaded: Any) -> RouterConsumer:
    """The router process's consumer for a :class:`config.loader.LoadedConfig` (no I/O yet)."""
    cfg = loaded.kanal
    dedup_path = Path(cfg.spool.path).with_name("router-dedup.db")
    router = Router.from_config(cfg.router, cfg.broker.topology, dedup_path)
    log.info("router decides with", model=router.model.version if router.model else None,
             unmapped_labels=router.unmapped_labels())
    return RouterConsumer(broker_url(cfg.broker), cfg.broker.topology, router,
                          prefetch=cfg.router.prefetch, heartbeat=cfg.broker.heartbeat,
                          batch_max=router.options.batch_max)


def run_router(loaded: Any, stop: threading.Event) -> None:
    """Run the router process against RabbitMQ until ``stop`` is set.

    Args:
        loaded: a :class:`config.loader.LoadedConfig`; ``broker.url`` must be set.
        stop: set it (SIGTERM, Ctrl-C) to finish the message in hand and return.
    """
    from router.engine import dedup_dsn
    from router.feedback_consumer import start_feedback

    consumer = build_consumer(loaded)
    cfg = loaded.kanal
    _, consumer.after_routed = start_feedback(cfg, broker_url(cfg.broker), stop, dedup_dsn(cfg.router.dedup_dsn))
    reload_on_sighup(consumer)
    consumer.run(stop)


def reload_on_sighup(consumer: RouterConsumer) -> None:
    """SIGHUP asks ``consumer`` to load its model file again (between batches); main thread only."""
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: consumer.reload_requested.set())
