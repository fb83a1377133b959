"""The router's side of the corrections: remember routed texts, consume ``{complaint_id, agency}``.

When an agency hands a complaint on (a re-disposition), the CRM publishes
``{"complaint_id": ..., "agency": ...}`` to ``broker.topology.feedback_exchange``;
:class:`FeedbackConsumer` (a thread of ``kanal router``, on its own connection, so the
routing loop and its transactions are untouched) declares the exchange and
``feedback_queue``, stores each correction in PostgreSQL (idempotent) and then acks
it. A message that is not such JSON is published to the dead-letter exchange with the
reason in ``kanal_dead_reason``/``kanal_error`` and acked. :func:`remembering` is the
routing loop's hook that keeps the text of every routed complaint
(:meth:`router.learn.feedback.FeedbackStore.remember`, pruned after
``router.feedback_retention_days``), so a correction can become a training row.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import kombu.exceptions
import psycopg
import structlog
from kombu import Connection, Consumer, Producer
from kombu.message import Message

from config.models import TopologyConfig
from normalizer.complaint import Complaint
from router.decision import Routed
from router.learn.feedback import FeedbackError, FeedbackStore, parse_feedback
from router.topology import declare_feedback_side, feedback_queue

log = structlog.get_logger("kanal.router.feedback")

PRUNE_EVERY_S = 3600.0


def remembering(store: FeedbackStore) -> Callable[[list[tuple[Complaint, Routed]]], None]:
    """The hook the routing loop calls after each committed batch: keep the routed texts.

    A database failure is logged and the batch's texts are not kept (a correction of
    those complaints is then counted as without text); routing never waits for it.
    """

    def remember(batch: list[tuple[Complaint, Routed]]) -> None:
        rows = []
        for complaint, routed in batch:
            text = "\n".join(t for t in (complaint.title, complaint.description) if t)
            kelurahan = (routed.routing.get("location") or {}).get("kelurahan")
            rows.append((str(complaint.id), text, complaint.service_code, kelurahan))
        try:
            store.remember(rows)
        except psycopg.Error as exc:
            log.warning("routed texts not kept for corrections", error=type(exc).__name__, count=len(rows))
            store.close()

    return remember


class FeedbackConsumer:
    """Consumes the feedback queue into a :class:`FeedbackStore` (see the module docstring)."""

    def __init__(self, url: str, topology: TopologyConfig, store: FeedbackStore, heartbeat: int = 15) -> None:
        self.url = url
        self.topology = topology
        self.store = store
        self.heartbeat = heartbeat
        self.stored = 0
        self.rejected = 0
        #: Set while consuming (the exchange and queue are declared).
        self.ready = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; broker and database failures are retried with backoff."""
        probe = Connection(self.url)
        # As the routing loop's: kombu's OperationalError is the broker gone (mid-operation or
        # when reconnecting), not a bug that should stop the router.
        transient = (*probe.connection_errors, *probe.recoverable_connection_errors, *probe.channel_errors, OSError,
                     kombu.exceptions.OperationalError, psycopg.Error)
        backoff, next_prune = 1.0, time.monotonic()
        while not stop.is_set():
            try:
                with Connection(self.url, heartbeat=self.heartbeat, connect_timeout=10) as conn:
                    conn.ensure_connection(max_retries=1)
                    channel = conn.channel()
                    declare_feedback_side(channel, self.topology)
                    channel.basic_qos(0, 50, False)
                    producer = Producer(channel, auto_declare=False)
                    with Consumer(channel, queues=[feedback_queue(self.topology)], no_ack=False, auto_declare=False,
                                  on_message=partial(self._handle, producer=producer)):
                        self.ready.set()
                        backoff = 1.0
                        while not stop.is_set():
                            if time.monotonic() >= next_prune:
                                self.store.prune()
                                next_prune = time.monotonic() + PRUNE_EVERY_S
                            try:
                                conn.drain_events(timeout=1.0)
                            except TimeoutError:
                                conn.heartbeat_check()
            except transient as exc:
                self.ready.clear()
                self.store.close()
                log.warning("feedback consumer lost its connection; reconnecting", error=type(exc).__name__,
                            retry_in=backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
        self.store.close()

    def _handle(self, message: Message, producer: Producer) -> None:
        try:
            complaint_id, agency = parse_feedback(message.body)
        except FeedbackError as exc:
            headers = {**(message.headers or {}), "kanal_dead_reason": "bad feedback", "kanal_error": str(exc)[:1000],
                       "kanal_dead_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            producer.publish(message.body, exchange=self.topology.dead_letter_exchange, routing_key="feedback.invalid",
                             headers=headers, message_id=message.properties.get("message_id"), delivery_mode=2,
                             content_type=message.content_type or "application/octet-stream",
                             content_encoding=message.content_encoding or "binary", retry=False, declare=[])
            message.ack()
            self.rejected += 1
            log.warning("feedback message dead-lettered", reason=str(exc)[:200])
            return
        self.store.store(complaint_id, agency)  # a database error leaves it unacked: redelivered
        message.ack()
        self.stored += 1
        log.info("correction stored", complaint_id=complaint_id, agency=agency)


def build_feedback(loaded_cfg: Any, url: str, dsn: str | None
                   ) -> tuple[FeedbackConsumer | None, Callable[[list[tuple[Complaint, Routed]]], None] | None]:
    """With a PostgreSQL ``dsn``: the feedback consumer (not started) and the remembering hook."""
    if not dsn:
        log.info("corrections off: router.dedup_dsn is not PostgreSQL")
        return None, None
    router_cfg = loaded_cfg.router
    consumer = FeedbackConsumer(url, loaded_cfg.broker.topology,
                                FeedbackStore(dsn, retention_days=router_cfg.feedback_retention_days),
                                heartbeat=loaded_cfg.broker.heartbeat)
    hook_store = FeedbackStore(dsn, retention_days=router_cfg.feedback_retention_days)  # its own connection
    return consumer, remembering(hook_store)


def start_feedback(loaded_cfg: Any, url: str, stop: threading.Event, dsn: str | None
                   ) -> tuple[FeedbackConsumer | None, Callable[[list[tuple[Complaint, Routed]]], None] | None]:
    """:func:`build_feedback`, its consumer started in a thread that sets ``stop`` if it fails."""
    consumer, hook = build_feedback(loaded_cfg, url, dsn)
    if consumer is None:
        return None, None

    def run() -> None:
        try:
            consumer.run(stop)
        except Exception:
            log.exception("feedback consumer failed; stopping the router")  # no silent death of a thread
            stop.set()
            raise

    threading.Thread(target=run, name="kanal-feedback", daemon=True).start()
    return consumer, hook
