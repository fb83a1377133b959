"""The durable spool: SQLite in WAL mode, the one place where intake becomes durable.

One transaction stores a batch of complaints, their raw payloads and the channel's
new checkpoint, so a checkpoint can never run ahead of the data. A complaint id
that is already in the ledger is not stored again. The forwarder drains the outbox
in order and deletes a row only once the broker confirmed it; the ledger keeps the
ids for ``retention_days`` so a late re-fetch is still recognised.

Tables:
    ledger         every complaint id taken in (dedup), with when it was forwarded
    outbox         complaints waiting for the broker (or the embedded router)
    raw_archive    raw payloads, content-addressed (``raw_ref``)
    checkpoints    one JSON checkpoint per channel instance
    quarantine     messages that failed normalisation: raw bytes, error, attempts
    channel_status state, last success / error, counts per channel instance
    counters       named counts per channel (drops by reason, refused webhooks)
    routed         the embedded default's routed complaints
    ack_outbox     replies to reporters, granted with their complaint (kanal/ack_outbox.py)
    held_parts     parts of a message that arrive separately, until it is whole (kanal/held_parts.py)
    channel_state  values a connector keeps at once, e.g. rotating tokens (kanal/channel_state.py)
    attachment_fetch, attachment_refs, fetch_hold  links to download after the commit,
                   which complaint refers to which stored file, and the complaints
                   held back meanwhile (kanal/fetch_queue.py)

Order: the outbox is read in ``seq`` (commit) order, except that a complaint whose
attachments are still being fetched is held back for at most ``fetch_hold_seconds``
and then published, under a new seq, after complaints committed later (see
:mod:`kanal.fetch_queue`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.redact import redact_credentials
from connectors.base import UNCHANGED, IngestResult, Outcome, RawMessage
from kanal import ack_outbox, channel_state, fetch_queue, held_parts

SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger (
    id TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    raw_ref TEXT NOT NULL,
    taken_at REAL NOT NULL,
    forwarded_at REAL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    channel TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS raw_archive (
    ref TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    payload BLOB NOT NULL,
    metadata TEXT NOT NULL,
    stored_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    channel TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS quarantine (
    qid INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    channel_type TEXT NOT NULL,
    source_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    payload BLOB NOT NULL,
    metadata TEXT NOT NULL,
    received_at REAL NOT NULL,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    resolved_at REAL,
    resolution TEXT,
    UNIQUE (channel, digest)
);
CREATE TABLE IF NOT EXISTS channel_status (
    channel TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT,
    last_success REAL,
    last_error TEXT,
    last_error_at REAL,
    accepted INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    dropped INTEGER NOT NULL DEFAULT 0,
    quarantined INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    pid INTEGER
);
CREATE TABLE IF NOT EXISTS counters (
    channel TEXT NOT NULL,
    name TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (channel, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS routed (
    id TEXT PRIMARY KEY,
    agency_code TEXT NOT NULL,
    queue TEXT NOT NULL,
    body BLOB NOT NULL,
    routed_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS routed_at ON routed (routed_at);
CREATE TABLE IF NOT EXISTS processes (
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    role TEXT NOT NULL,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    stopped_at REAL,
    exit_reason TEXT,
    PRIMARY KEY (host, pid)
);
CREATE INDEX IF NOT EXISTS ledger_provider_id ON ledger (channel, provider_message_id);
"""


@dataclass(slots=True)
class _CommitRequest:
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


class SpoolBusy(sqlite3.OperationalError):
    """The spool stayed locked longer than the caller would wait; nothing was stored."""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A complaint waiting to be forwarded."""

    seq: int
    id: str
    channel: str
    body: bytes


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """A message that failed normalisation."""

    qid: int
    channel: str
    channel_type: str
    source_id: str
    payload: bytes
    metadata: dict[str, Any]
    received_at: float
    error: str
    attempts: int
    first_seen: float
    last_seen: float
    resolved_at: float | None
    resolution: str | None


#: The spool holds personal data: its file and SQLite's -wal / -shm files are owner-only.
FILE_MODE = 0o600


def _private_files(path: Path) -> None:
    """Create the spool file owner-only (whatever the umask), and tighten existing ones.

    SQLite gives the -wal and -shm files the permissions of the database file.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    os.close(fd)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            if file.stat().st_mode & 0o777 != FILE_MODE:
                os.chmod(file, FILE_MODE)


class _ReaderSlot:
    """A thread's reader connection; closed when the thread ends (its slot is dropped)."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn


def _connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before we acknowledge the source, even on power loss.
    conn.execute("PRAGMA synchronous=FULL")
    return conn


class Spool:
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
        _private_files(self.path)
        self._conn = _connect(self.path, busy_timeout)
        self._lock = threading.RLock()
        self._conn.executescript(SCHEMA)
        ack_outbox.create_schema(self._conn)
        held_parts.create_schema(self._conn)
        channel_state.create_schema(self._conn)
        fetch_queue.create_schema(self._conn)
        self._local = threading.local()
        self._readers: set[weakref.finalize] = set()
        self._readers_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_CommitRequest] = []
        self._commit_listeners: tuple[Callable[[], None], ...] = ()

    # -- connections -------------------------------------------------------

    def close(self) -> None:
        """Close the write connection and every thread's reader connection."""
        with self._readers_lock:
            readers, self._readers = self._readers, set()
        for finalizer in readers:
            finalizer()
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        with self._lock:
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

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT), for modules that keep
        their own table in the spool (:mod:`kanal.ack_outbox`)."""
        return self._write()

    def _reader(self) -> sqlite3.Connection:
        """This thread's reader connection (WAL readers do not block the writer)."""
        slot = getattr(self._local, "slot", None)
        if slot is None:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
            slot = _ReaderSlot(conn)
            # The thread-local holds the only reference to the slot: when the thread
            # ends, the slot goes and the finalizer closes the connection.
            finalizer = weakref.finalize(slot, conn.close)
            with self._readers_lock:
                self._readers = {f for f in self._readers if f.alive}
                self._readers.add(finalizer)
            self._local.slot = slot
        return slot.conn

    # -- intake -------------------------------------------------------------

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
        request = _CommitRequest(channel, channel_type, outcomes, checkpoint, wait)
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

    def _commit_group(self, group: list[_CommitRequest]) -> bool:
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

    def _apply(self, conn: sqlite3.Connection, request: _CommitRequest, now: float) -> list[IngestResult]:
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
                raw_rows.append((complaint.raw_ref, channel, raw.payload, _json(raw.metadata), now))
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
                channel, channel_type, source_id, digest, raw.payload, _json(raw.metadata),
                raw.received_at.timestamp(), error, now, now,
            ),
        )

    def count(self, channel: str, name: str, by: int = 1) -> None:
        """Add to a named counter (e.g. ``webhook.forbidden``) of a channel."""
        with self._write() as conn:
            self.bump(conn, channel, name, by)

    def counters(self, channel: str) -> dict[str, int]:
        """A channel's named counters (``dropped.<reason>``, ``webhook.forbidden``...)."""
        rows = self._reader().execute("SELECT name, count FROM counters WHERE channel = ?", (channel,))
        return dict(rows.fetchall())

    def channel_status(self, channel: str) -> dict[str, Any] | None:
        """A channel's row of ``channel_status`` (state, last success and error, counts)."""
        cursor = self._reader().execute("SELECT * FROM channel_status WHERE channel = ?", (channel,))
        row = cursor.fetchone()
        return dict(zip([d[0] for d in cursor.description], row, strict=True)) if row else None

    def load_checkpoint(self, channel: str) -> Any:
        """The channel's last committed checkpoint, or None."""
        row = self._reader().execute("SELECT value FROM checkpoints WHERE channel = ?", (channel,)).fetchone()
        return json.loads(row[0]) if row else None

    def ids_by_provider_id(self, channel: str, provider_ids: Iterable[str]) -> dict[str, str]:
        """The complaint id first taken in under each of ``provider_ids`` on ``channel``."""
        wanted = list(set(provider_ids))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        rows = self._reader().execute(
            f"SELECT provider_message_id, id FROM ledger WHERE channel = ? AND provider_message_id IN ({marks}) "
            "ORDER BY taken_at DESC",
            [channel, *wanted],
        ).fetchall()
        return dict(rows)  # the earliest row is written last

    def known_ids(self, ids: Iterable[uuid.UUID | str]) -> set[str]:
        """Which of ``ids`` are in the ledger (taken in, forwarded or not)."""
        wanted = [str(i) for i in ids]
        if not wanted:
            return set()
        marks = ",".join("?" * len(wanted))
        rows = self._reader().execute(f"SELECT id FROM ledger WHERE id IN ({marks})", wanted).fetchall()
        return {r[0] for r in rows}

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

    def depth(self) -> int:
        """Number of complaints waiting in the outbox."""
        return self._reader().execute("SELECT count(*) FROM outbox").fetchone()[0]

    def oldest_waiting(self) -> float | None:
        """When (Unix time) the oldest complaint still in the outbox was taken in, or None."""
        # By seq (the primary key), not min(created_at): no scan of a long backlog.
        row = self._reader().execute("SELECT created_at FROM outbox ORDER BY seq LIMIT 1").fetchone()
        return row[0] if row else None

    def open_quarantine(self) -> dict[str, int]:
        """Unresolved quarantine entries per channel."""
        return dict(self._reader().execute(
            "SELECT channel, count(*) FROM quarantine WHERE resolved_at IS NULL GROUP BY channel").fetchall())

    def mark_forwarded(self, seqs: Sequence[int]) -> None:
        """Remove confirmed complaints from the outbox; the ledger remembers them."""
        if not seqs:
            return
        now = time.time()
        with self._write() as conn:
            for start in range(0, len(seqs), 500):
                chunk = list(seqs[start : start + 500])
                marks = ",".join("?" * len(chunk))
                conn.execute(
                    f"UPDATE ledger SET forwarded_at = ? WHERE id IN (SELECT id FROM outbox WHERE seq IN ({marks}))",
                    [now, *chunk],
                )
                conn.execute(f"DELETE FROM outbox WHERE seq IN ({marks})", chunk)

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

    def routed(self, limit: int = 50, agency: str | None = None) -> list[tuple[str, str, str, bytes, float]]:
        """Most recently routed complaints of the embedded default, newest first."""
        sql = "SELECT id, agency_code, queue, body, routed_at FROM routed"
        args: list[Any] = []
        if agency:
            sql += " WHERE agency_code = ?"
            args.append(agency)
        sql += " ORDER BY routed_at DESC LIMIT ?"
        args.append(limit)
        return self._reader().execute(sql, args).fetchall()

    def taken_since(self, channel: str, provider_prefix: str, since: float, limit: int = 500) -> list[tuple]:
        """Complaints of a channel taken in since ``since`` whose provider id starts with
        ``provider_prefix``, newest first: (id, provider id, taken_at, forwarded_at,
        routed agency code or None). For the desk app's list of the day."""
        escaped = provider_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return self._reader().execute(
            "SELECT l.id, l.provider_message_id, l.taken_at, l.forwarded_at, r.agency_code FROM ledger l"
            " LEFT JOIN routed r ON r.id = l.id WHERE l.channel = ? AND l.taken_at >= ?"
            " AND l.provider_message_id LIKE ? ESCAPE '\\' ORDER BY l.taken_at DESC LIMIT ?",
            (channel, since, escaped + "%", limit),
        ).fetchall()

    # -- raw archive and quarantine -------------------------------------------

    def raw(self, ref: str) -> tuple[bytes, dict[str, Any]] | None:
        """The archived payload and metadata behind a ``raw_ref``."""
        row = self._reader().execute("SELECT payload, metadata FROM raw_archive WHERE ref = ?", (ref,)).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def quarantined(self, channel: str | None = None, include_resolved: bool = False) -> list[QuarantineEntry]:
        """Quarantine entries, oldest first."""
        sql = "SELECT * FROM quarantine WHERE 1=1"
        args: list[Any] = []
        if channel:
            sql += " AND channel = ?"
            args.append(channel)
        if not include_resolved:
            sql += " AND resolved_at IS NULL"
        sql += " ORDER BY qid"
        rows = self._reader().execute(sql, args).fetchall()
        return [_quarantine_entry(r) for r in rows]

    def quarantine_entry(self, qid: int) -> QuarantineEntry | None:
        """One quarantine entry by id."""
        row = self._reader().execute("SELECT * FROM quarantine WHERE qid = ?", (qid,)).fetchone()
        return _quarantine_entry(row) if row else None

    def resolve_quarantine(self, qid: int, resolution: str) -> None:
        """Mark an entry handled (``accepted``, ``duplicate``, ``dropped:<reason>``)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE quarantine SET resolved_at = ?, resolution = ? WHERE qid = ?", (time.time(), resolution, qid)
            )

    def held_ready(self, channel: str, timeout: float, now: float | None = None) -> list[held_parts.ReadyGroup]:
        """Held parts of ``channel`` to take now (see :mod:`kanal.held_parts`)."""
        return held_parts.ready(self._reader(), channel, timeout, now or time.time())

    def save_state(self, channel: str, key: str, value: Any) -> None:
        """Store a channel's state value at once (see :mod:`kanal.channel_state`)."""
        with self._write() as conn:
            channel_state.save(conn, channel, key, value, time.time())

    def load_state(self, channel: str, key: str) -> Any:
        """A channel's state value, or None."""
        return channel_state.load(self._reader(), channel, key)

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


def _json(value: Any) -> str:
    if not value:
        return "{}"
    text = json.dumps(dict(value), default=str, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a sender: keep it as a \u escape
        text = json.dumps(dict(value), default=str)
    return text


def _quarantine_entry(row: Sequence[Any]) -> QuarantineEntry:
    (qid, channel, channel_type, source_id, _digest, payload, metadata, received_at, error, attempts,
     first_seen, last_seen, resolved_at, resolution) = row
    return QuarantineEntry(
        qid, channel, channel_type, source_id, payload, json.loads(metadata), received_at, error, attempts,
        first_seen, last_seen, resolved_at, resolution,
    )
