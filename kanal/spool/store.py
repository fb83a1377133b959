"""The :class:`Spool` itself: it opens the file, owns the write connection and its
lock, and holds the writes that are not intake - channel state, process liveness,
the outbox's removal and local routing, quarantine resolution, pruning. Intake
(:mod:`kanal.spool.writer`) and the queries (:mod:`kanal.spool.readers`) are its two
base classes."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from config.redact import redact_credentials
from kanal import channel_state, fetch_queue, held_parts
from kanal.spool.readers import SpoolReaders
from kanal.spool.records import OutboxRow
from kanal.spool.schema import connect, create_schema, private_files
from kanal.spool.writer import SpoolWriter


class Spool(SpoolWriter, SpoolReaders):
    """The durable spool. Thread-safe: writes are serialised on one connection.

    Parameters:
        path: the SQLite file (its folder is created).
        retention_days: how long forwarded ledger ids and raw payloads are kept.
        busy_timeout: seconds a write waits for another process's lock before failing.
        fetch_hold_seconds: longest time the outbox read holds a complaint back while
            its attachments are fetched.
    """

    def __init__(self, path: Path | str, retention_days: float = 30, busy_timeout: float = 30,
                 fetch_hold_seconds: float = 120) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.retention_seconds = retention_days * 86400
        self.busy_timeout = busy_timeout
        self.fetch_hold_seconds = fetch_hold_seconds
        private_files(self.path)
        self._conn = connect(self.path, busy_timeout)
        self._lock = threading.RLock()
        create_schema(self._conn)
        self._init_readers()
        self._init_writer()

    # -- connections -------------------------------------------------------

    def close(self) -> None:
        """Close the write connection and every thread's reader connection."""
        self._close_readers()
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def _write(self, synced: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction on the shared connection under the write lock.

        ``synced`` False commits without waiting for the disk (``synchronous=NORMAL``
        for this transaction only): for writes that may be lost on a power cut
        without losing a complaint. In WAL mode such a commit is still atomic, and
        the next synced commit's fsync of the log makes it durable too.
        """
        conn = self._conn
        with self._lock:
            if not synced:
                conn.execute("PRAGMA synchronous=NORMAL")
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                try:
                    conn.execute("COMMIT")
                except BaseException:
                    # A COMMIT that failed (SQLITE_BUSY) leaves the transaction open; every
                    # later write on this shared connection would then fail too.
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            finally:
                if not synced:
                    conn.execute("PRAGMA synchronous=FULL")

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT), for modules that keep
        their own table in the spool (:mod:`kanal.ack_outbox`)."""
        return self._write()

    def count(self, channel: str, name: str, by: int = 1) -> None:
        """Add to a named counter (e.g. ``webhook.forbidden``) of a channel."""
        with self._write() as conn:
            self.bump(conn, channel, name, by)

    # -- channel state ------------------------------------------------------

    def set_state(
        self, channel: str, channel_type: str, state: str, detail: str | None = None, error: str | None = None
    ) -> None:
        """Record a channel's state (running, backing_off, auth_failed, needs_reauthorisation, stopped)."""
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO channel_status (channel, type, state, detail, last_error, last_error_at, updated_at, pid) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel) DO UPDATE SET type = excluded.type, "
                "state = excluded.state, detail = excluded.detail, updated_at = excluded.updated_at, "
                "pid = excluded.pid, last_error = COALESCE(excluded.last_error, last_error), "
                "last_error_at = COALESCE(excluded.last_error_at, last_error_at)",
                (channel, channel_type, state, detail, redact_credentials(error) if error else None,
                 now if error else None, now, os.getpid()),
            )

    def mark_success(self, channel: str, channel_type: str) -> None:
        """Record a successful poll that took nothing new (keeps ``last_success`` fresh)."""
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO channel_status (channel, type, state, last_success, updated_at, pid) "
                "VALUES (?, ?, 'running', ?, ?, ?) ON CONFLICT (channel) DO UPDATE SET state = 'running', "
                "detail = NULL, last_success = excluded.last_success, updated_at = excluded.updated_at",
                (channel, channel_type, now, now, os.getpid()),
            )

    # -- process liveness -----------------------------------------------------

    def heartbeat(self, role: str, started_at: float, stopped: str | None = None) -> None:
        """Record that this process (``kanal run``) is alive, or with ``stopped``, that it
        ended and why. ``kanal status`` reads it to tell a dead process from a live one."""
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO processes (pid, host, role, started_at, heartbeat_at, stopped_at, exit_reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (host, pid) DO UPDATE SET role = excluded.role, "
                "started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, "
                "stopped_at = excluded.stopped_at, exit_reason = excluded.exit_reason",
                (os.getpid(), socket.gethostname(), role, started_at, now, now if stopped else None,
                 redact_credentials(stopped) if stopped else None),
            )
            # Keep the table small: only the newest records matter to an operator.
            conn.execute(
                "DELETE FROM processes WHERE rowid NOT IN (SELECT rowid FROM processes "
                "ORDER BY heartbeat_at DESC LIMIT 20)"
            )

    # -- outbox ---------------------------------------------------------------

    def pending(self, limit: int, after_seq: int = 0) -> list[OutboxRow]:
        """Oldest complaints waiting to be forwarded, after ``after_seq``.

        A complaint whose attachments are still being fetched is left out until they
        are or its ``fetch_hold_seconds`` are over (this read then releases it); it
        comes back under a new, higher ``seq``, so a reader that has passed its old
        one still gets it (see :mod:`kanal.fetch_queue`).
        """
        reader = self._reader()
        cutoff = time.time() - self.fetch_hold_seconds
        if fetch_queue.has_expired(reader, cutoff):
            with self._write() as conn:
                fetch_queue.release_expired(conn, cutoff)
        rows = reader.execute(
            f"SELECT seq, id, channel, body FROM outbox o WHERE seq > ? AND {fetch_queue.HELD_FILTER} "
            "ORDER BY seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()
        return [OutboxRow(*r) for r in rows]

    def mark_forwarded(self, seqs: Sequence[int]) -> None:
        """Remove confirmed complaints from the outbox; the ledger remembers them, and
        ``forwarded_bodies`` keeps their bodies for :meth:`requeue_forwarded`."""
        if not seqs:
            return
        now = time.time()
        # Not synced: losing this on a power cut only means the rows are published again
        # with the same message_id, which the router drops as duplicates. Each sync here
        # held the write lock for a disk flush that webhooks waiting to commit paid for.
        with self._write(synced=False) as conn:
            for start in range(0, len(seqs), 500):
                chunk = list(seqs[start : start + 500])
                marks = ",".join("?" * len(chunk))
                conn.execute(
                    f"UPDATE ledger SET forwarded_at = ? WHERE id IN (SELECT id FROM outbox WHERE seq IN ({marks}))",
                    [now, *chunk],
                )
                conn.execute(
                    "INSERT OR REPLACE INTO forwarded_bodies (id, channel, body, forwarded_at)"
                    f" SELECT id, channel, body, ? FROM outbox WHERE seq IN ({marks})",
                    [now, *chunk],
                )
                conn.execute(f"DELETE FROM outbox WHERE seq IN ({marks})", chunk)

    def requeue_forwarded(self, ids: Sequence[str]) -> tuple[list[str], list[str]]:
        """Put forwarded complaints back in the outbox, bodies as the broker confirmed them,
        for the forwarder to publish again (``kanal router unrouted --replay``).

        A router acks a replayed complaint as a duplicate if the dedup store holds its
        claim, and routes it otherwise. Returns (ids put back, ids whose body is
        no longer kept: older than ``spool.retention_days``, or never forwarded). An id
        already waiting in the outbox counts as put back and is not added twice.
        """
        now = time.time()
        requeued: list[str] = []
        missing: list[str] = []
        with self._write() as conn:
            waiting: set[str] = set()
            for start in range(0, len(ids), 500):  # the outbox has no index on id: one scan per chunk
                chunk = list(ids[start : start + 500])
                marks = ",".join("?" * len(chunk))
                waiting.update(r[0] for r in conn.execute(f"SELECT id FROM outbox WHERE id IN ({marks})", chunk))
            for cid in dict.fromkeys(ids):
                if cid in waiting:
                    requeued.append(cid)
                    continue
                row = conn.execute("SELECT channel, body FROM forwarded_bodies WHERE id = ?", (cid,)).fetchone()
                if row is None:
                    missing.append(cid)
                    continue
                conn.execute("INSERT INTO outbox (id, channel, body, created_at) VALUES (?, ?, ?, ?)",
                             (cid, row[0], row[1], now))
                conn.execute("UPDATE ledger SET forwarded_at = NULL WHERE id = ?", (cid,))
                requeued.append(cid)
        return requeued, missing

    def route_locally(self, routed: Sequence[tuple[int, str, str, str, bytes]]) -> int:
        """Embedded default: move outbox rows to the routed store in one transaction.

        ``routed`` holds (seq, complaint id, agency code, queue, routed body).
        Returns how many were new (an id already routed is not routed again).
        """
        now = time.time()
        new = 0
        with self._write() as conn:
            for seq, cid, agency, queue, body in routed:
                cur = conn.execute(
                    "INSERT OR IGNORE INTO routed (id, agency_code, queue, body, routed_at) VALUES (?, ?, ?, ?, ?)",
                    (cid, agency, queue, body, now),
                )
                new += cur.rowcount
                conn.execute("UPDATE ledger SET forwarded_at = ? WHERE id = ?", (now, cid))
                conn.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
        return new

    def resolve_quarantine(self, qid: int, resolution: str) -> None:
        """Mark an entry handled (``accepted``, ``duplicate``, ``dropped:<reason>``)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE quarantine SET resolved_at = ?, resolution = ? WHERE qid = ?", (time.time(), resolution, qid)
            )

    def save_state(self, channel: str, key: str, value: Any) -> None:
        """Store a channel's state value at once (see :mod:`kanal.channel_state`)."""
        with self._write() as conn:
            channel_state.save(conn, channel, key, value, time.time())

    # -- housekeeping -----------------------------------------------------------

    def prune(self, now: float | None = None) -> int:
        """Forget what is older than the retention window: forwarded ids, raw payloads,
        the embedded default's routed complaints and resolved quarantine entries.

        Never pruned, however old: the raw payload of a complaint still waiting for
        the broker, and an open quarantine entry. Returns how many ids were forgotten.
        """
        cutoff = (now or time.time()) - self.retention_seconds
        with self._write() as conn:
            gone = conn.execute(
                "DELETE FROM ledger WHERE forwarded_at IS NOT NULL AND taken_at < ?", (cutoff,)
            ).rowcount
            conn.execute("DELETE FROM routed WHERE routed_at < ?", (cutoff,))
            conn.execute("DELETE FROM forwarded_bodies WHERE forwarded_at < ?", (cutoff,))
            conn.execute("DELETE FROM quarantine WHERE resolved_at IS NOT NULL AND resolved_at < ?", (cutoff,))
            held_parts.prune(conn, now or time.time())
            fetch_queue.prune(conn)
            # A complaint still waiting for the broker keeps its raw payload, however old.
            conn.execute(
                "DELETE FROM raw_archive WHERE stored_at < ? "
                "AND ref NOT IN (SELECT raw_ref FROM ledger WHERE forwarded_at IS NULL)",
                (cutoff,),
            )
        return gone
