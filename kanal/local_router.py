"""The embedded default's router loop: spool outbox -> router -> local routed store.

With no broker configured, complaints never leave the machine: this loop reads the
outbox in order, asks the router for a decision and moves each row to the spool's
``routed`` table in one transaction. ``kanal routed`` shows the result.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from typing import Any

import structlog

from kanal.spool import OutboxRow, Spool
from normalizer.wire import decode_complaint

log = structlog.get_logger("kanal.local_router")

#: Seconds between prunes of ids and raw payloads older than the retention window.
PRUNE_EVERY = 3600.0


class LocalRouterLoop:
    """Drains the outbox into the routed store through ``router``.

    Parameters:
        spool: the spool.
        router: an object with ``route(complaint) -> Routed`` (see router.engine).
        triage_queue: where a complaint goes when routing it raises.
        batch_size: rows per transaction.
        idle_wait: seconds to sleep when the outbox is empty.
    """

    def __init__(
        self, spool: Spool, router: Any, triage_queue: str, batch_size: int = 200, idle_wait: float = 0.5
    ) -> None:
        self.spool = spool
        self.router = router
        self.triage_queue = triage_queue
        self.batch_size = batch_size
        self.idle_wait = idle_wait

    def route_row(self, row: OutboxRow) -> list[tuple[int, str, str, str, bytes]]:
        """Route one outbox row: its routed message, then its copies (the integrity copy for
        the Inspektorat, under its own id). A failure sends it to triage with the error (never
        raises for the row's sake, so one bad row cannot hold up the ones behind it)."""
        try:
            routed = self.router.route(decode_complaint(row.body))
            copies = [(row.seq, c.message_id, "inspektorat", c.queue, c.body) for c in getattr(routed, "copies", ())]
            return [(row.seq, row.id, routed.agency_code, routed.queue, routed.body), *copies]
        except Exception as exc:
            log.exception("routing failed; sent to triage", complaint_id=row.id)
            return [(row.seq, row.id, "triage", self.triage_queue, triage_body(row, exc))]

    def drain_once(self) -> int:
        """Route one batch; returns how many rows it handled."""
        rows = self.spool.pending(self.batch_size)
        if rows:
            self.spool.route_locally([out for row in rows for out in self.route_row(row)])
        return len(rows)

    def run(self, stop: threading.Event) -> None:
        """Route until ``stop`` is set (finishing the batch in hand).

        Raises:
            Exception: anything but a database error of the spool (which is retried):
                a bug stops the loop, and the supervisor stops the process.
        """
        log.info("embedded router started (no broker configured)")
        next_prune = time.monotonic()
        while not stop.is_set():
            try:
                if time.monotonic() >= next_prune:
                    forgotten = self.spool.prune()
                    if forgotten:
                        log.info("spool pruned", forgotten_ids=forgotten)
                    next_prune = time.monotonic() + PRUNE_EVERY
                if not self.drain_once():
                    stop.wait(self.idle_wait)
            except sqlite3.OperationalError as exc:  # locked, disk full, I/O: the spool may recover
                log.warning("embedded router could not use the spool; retrying", error=str(exc))
                stop.wait(5)
        log.info("embedded router stopped")


def triage_body(row: OutboxRow, error: BaseException) -> bytes:
    """The routed body of a row that could not be routed: the complaint plus a routing
    object, the same shape as every routed body. A row whose body is not even JSON
    (a damaged spool) keeps its bytes as text under ``raw_body``."""
    routing = {"agency_code": "triage", "triage": True, "error": f"{type(error).__name__}: {error}"[:1000]}
    try:
        complaint = json.loads(row.body)
    except ValueError:
        complaint = None
    if not isinstance(complaint, dict):
        complaint = {"id": row.id, "raw_body": bytes(row.body).decode("utf-8", "replace")}
    return json.dumps({**complaint, "routing": routing}).encode()
