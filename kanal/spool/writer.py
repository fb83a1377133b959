"""The spool's intake writer: one transaction stores a batch of complaints, their raw
payloads and the channel's new checkpoint, and concurrent callers share transactions
(group commit: one fsync for every batch queued meanwhile, a savepoint per batch).

A complaint id already in the ledger is not stored again: it comes back as a
``duplicate``. After a commit that stored a complaint, the commit listeners are called
(the forwarder's wake-up).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from connectors.base import UNCHANGED, IngestResult, Outcome, RawMessage
from kanal import ack_outbox, fetch_queue, held_parts
from kanal.spool.records import SpoolBusy


@dataclass(slots=True)
class CommitRequest:
    """One caller's batch waiting for the next group commit."""

    channel: str
    channel_type: str
    outcomes: Sequence[Outcome]
    checkpoint: Any
    wait: float | None = None
    results: list[IngestResult] = field(default_factory=list)
    error: Exception | None = None
    done: bool = False
    finished: threading.Event = field(default_factory=threading.Event)


class SpoolWriter:
    """The intake half of :class:`kanal.spool.Spool` (a base class of it).

    It uses the spool's write connection ``_conn`` under its write lock ``_lock``;
    :meth:`_init_writer` sets up the queue of batches waiting for a transaction.
    """

    _conn: sqlite3.Connection
    _lock: threading.RLock
    busy_timeout: float

    def _init_writer(self) -> None:
        self._queue_lock = threading.Lock()
        self._queue: list[CommitRequest] = []
        self._commit_listeners: tuple[Callable[[], None], ...] = ()

    def add_commit_listener(self, listener: Callable[[], None]) -> None:
        """Have ``listener()`` called after every commit that stored a new complaint in
        the outbox (the forwarder's wake-up). It runs in the committing thread, after
        the write lock is released: it must be quick and must not raise."""
        with self._queue_lock:
            self._commit_listeners = (*self._commit_listeners, listener)

    def remove_commit_listener(self, listener: Callable[[], None]) -> None:
        """Stop calling ``listener`` (see :meth:`add_commit_listener`)."""
        with self._queue_lock:
            self._commit_listeners = tuple(f for f in self._commit_listeners if f != listener)

    def commit(
        self,
        channel: str,
        channel_type: str,
        outcomes: Sequence[Outcome],
        checkpoint: Any = UNCHANGED,
        wait: float | None = None,
    ) -> list[IngestResult]:
        """Store a batch and (optionally) the channel's new checkpoint in ONE transaction.

        ``wait`` bounds how long this caller waits for the write lock, of this
        process or of another (None: ``busy_timeout``): a webhook must answer 503
        well before its sender times out rather than wait 30 s.

        Returns one :class:`IngestResult` per outcome, in order; an accepted
        complaint whose id is already in the ledger comes back as ``duplicate``.

        Concurrent callers (webhook threads) share transactions: whoever takes the
        write lock commits every batch queued so far, each under its own savepoint,
        with a single fsync. A caller returns only after the transaction holding its
        batch is committed, and gets its own error if its batch failed.

        Raises:
            SpoolBusy: the lock was not had within ``wait``; nothing was stored.
            sqlite3.Error: the transaction could not be committed; nothing was stored.
        """
        request = CommitRequest(channel, channel_type, outcomes, checkpoint, wait)
        with self._queue_lock:
            self._queue.append(request)
        if self._lock.acquire(timeout=-1 if wait is None else wait):
            stored = False
            try:
                if not request.done:
                    with self._queue_lock:
                        group, self._queue = self._queue, []
                    stored = self._commit_group(group)
            finally:
                self._lock.release()
            if stored:
                for listener in self._commit_listeners:
                    listener()
        else:
            with self._queue_lock:
                queued = any(r is request for r in self._queue)
                if queued:  # withdrawn before any transaction took it
                    self._queue = [r for r in self._queue if r is not request]
            if queued:
                msg = f"spool busy: no write lock within {wait:g}s"
                raise SpoolBusy(msg)
            # A transaction holding it is under way; it waits no longer than ``wait`` for SQLite.
            request.finished.wait()
        if request.error is not None:
            raise request.error
        return request.results

    def _commit_group(self, group: list[CommitRequest]) -> bool:
        """Commit ``group`` in one transaction; True if it stored a complaint in the outbox."""
        conn = self._conn
        now = time.time()
        waits = [r.wait for r in group if r.wait is not None]
        busy = min(waits) if waits else None
        try:
            if busy is not None:
                conn.execute(f"PRAGMA busy_timeout = {int(busy * 1000)}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for request in group:
                    conn.execute("SAVEPOINT batch")
                    try:
                        request.results = self._apply(conn, request, now)
                    except Exception as exc:  # noqa: BLE001 - raised again in that caller's thread
                        conn.execute("ROLLBACK TO batch")
                        request.error = exc
                    conn.execute("RELEASE batch")
                conn.execute("COMMIT")
                return any(r.status == "accepted" for q in group if q.error is None for r in q.results)
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except BaseException as exc:
            failure = exc if isinstance(exc, Exception) else RuntimeError(f"commit interrupted: {exc!r}")
            for request in group:
                if request.error is None:
                    request.error = failure
                    request.results = []
            if not isinstance(exc, Exception):
                raise
            return False
        finally:
            if busy is not None:
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            for request in group:
                request.done = True
                request.finished.set()

    def _apply(self, conn: sqlite3.Connection, request: CommitRequest, now: float) -> list[IngestResult]:
        channel, channel_type = request.channel, request.channel_type
        results: list[IngestResult] = []
        counts = {"accepted": 0, "duplicate": 0, "dropped": 0, "quarantined": 0}
        ledger_rows, outbox_rows, raw_rows = [], [], []
        # Inside BEGIN IMMEDIATE no other writer can add ids, so one lookup per
        # batch is as safe as INSERT OR IGNORE per row, and far cheaper.
        taken = self._taken(conn, [str(o.complaint.id) for o in request.outcomes if o.kind == "accepted"])
        for outcome in request.outcomes:
            raw = outcome.raw
            if outcome.releases:
                held_parts.release(conn, channel, outcome.releases, now)
            if outcome.kind == "held" and outcome.held is not None:
                held_parts.hold(conn, channel, outcome.held, raw, now)
                results.append(IngestResult(raw, "held"))
            elif outcome.kind == "accepted":
                complaint = outcome.complaint
                cid = str(complaint.id)
                if cid in taken:
                    results.append(IngestResult(raw, "duplicate", complaint))
                    counts["duplicate"] += 1
                    continue
                taken.add(cid)
                ledger_rows.append((cid, channel, complaint.provider_message_id, complaint.raw_ref, now))
                outbox_rows.append((cid, channel, outcome.body, now))
                raw_rows.append((complaint.raw_ref, channel, raw.payload, metadata_json(raw.metadata), now))
                if outcome.fetch:
                    fetch_queue.enqueue(conn, cid, channel, outcome.fetch, now)
                if complaint.attachments:
                    fetch_queue.refer(conn, cid, [a.sha256 for a in complaint.attachments if a.stored_ref and a.sha256])
                reply = ack_outbox.grant(conn, channel, outcome.reply, cid, now) if outcome.reply else None
                results.append(IngestResult(raw, "accepted", complaint, reply=reply))
                counts["accepted"] += 1
            elif outcome.kind == "dropped":
                self.bump(conn, channel, f"dropped.{outcome.reason}")
                results.append(IngestResult(raw, "dropped", reason=outcome.reason))
                counts["dropped"] += 1
            elif outcome.kind == "quarantined":
                self._quarantine(conn, channel, channel_type, raw, outcome.reason or "unknown error", now)
                results.append(IngestResult(raw, "quarantined", reason=outcome.reason))
                counts["quarantined"] += 1
            else:
                msg = f"unknown outcome kind {outcome.kind!r}"
                raise ValueError(msg)
        conn.executemany(
            "INSERT INTO ledger (id, channel, provider_message_id, raw_ref, taken_at) VALUES (?, ?, ?, ?, ?)",
            ledger_rows,
        )
        conn.executemany("INSERT INTO outbox (id, channel, body, created_at) VALUES (?, ?, ?, ?)", outbox_rows)
        conn.executemany(
            "INSERT OR IGNORE INTO raw_archive (ref, channel, payload, metadata, stored_at) VALUES (?, ?, ?, ?, ?)",
            raw_rows,
        )
        if request.checkpoint is not UNCHANGED:
            conn.execute(
                "INSERT INTO checkpoints (channel, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (channel) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (channel, json.dumps(request.checkpoint), now),
            )
        conn.execute(
            "INSERT INTO channel_status (channel, type, state, last_success, accepted, duplicates, dropped, "
            "quarantined, updated_at, pid) VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (channel) DO UPDATE SET last_success = excluded.last_success, "
            "accepted = accepted + excluded.accepted, duplicates = duplicates + excluded.duplicates, "
            "dropped = dropped + excluded.dropped, quarantined = quarantined + excluded.quarantined, "
            "updated_at = excluded.updated_at",
            (
                channel, channel_type, now, counts["accepted"], counts["duplicate"],
                counts["dropped"], counts["quarantined"], now, os.getpid(),
            ),
        )
        return results

    @staticmethod
    def _taken(conn: sqlite3.Connection, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in conn.execute(f"SELECT id FROM ledger WHERE id IN ({marks})", chunk))
        return found

    @staticmethod
    def bump(conn: sqlite3.Connection, channel: str, name: str, by: int = 1) -> None:
        """Add to a channel's named counter inside the caller's write transaction, so the
        counter moves together with the state change it counts."""
        conn.execute(
            "INSERT INTO counters (channel, name, count) VALUES (?, ?, ?) "
            "ON CONFLICT (channel, name) DO UPDATE SET count = count + excluded.count",
            (channel, name, by),
        )

    @staticmethod
    def _quarantine(
        conn: sqlite3.Connection, channel: str, channel_type: str, raw: RawMessage, error: str, now: float
    ) -> None:
        digest = hashlib.sha256(raw.payload).hexdigest()
        # A source id made from what the sender sent may hold a lone surrogate, which
        # SQLite cannot store as text; the entry must still be written.
        source_id = raw.source_id.encode("utf-8", "backslashreplace").decode("utf-8")
        conn.execute(
            "INSERT INTO quarantine (channel, channel_type, source_id, digest, payload, metadata, received_at, "
            "error, attempts, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) "
            "ON CONFLICT (channel, digest) DO UPDATE SET attempts = attempts + 1, error = excluded.error, "
            "last_seen = excluded.last_seen, resolved_at = NULL, resolution = NULL",
            (
                channel, channel_type, source_id, digest, raw.payload, metadata_json(raw.metadata),
                raw.received_at.timestamp(), error, now, now,
            ),
        )


def metadata_json(value: Any) -> str:
    """Raw metadata as JSON text SQLite can store."""
    if not value:
        return "{}"
    text = json.dumps(dict(value), default=str, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a sender: keep it as a \u escape
        text = json.dumps(dict(value), default=str)
    return text
