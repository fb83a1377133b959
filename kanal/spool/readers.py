"""The spool's read side: each thread's own reader connection (WAL readers never block
the writer) and the queries behind ``kanal status``, the metrics, the quarantine
commands, the embedded router's list and the channels' own look-ups."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kanal import channel_state, held_parts
from kanal.spool.records import QuarantineEntry, entry_from_row


class _ReaderSlot:
    """A thread's reader connection; closed when the thread ends (its slot is dropped)."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn


class SpoolReaders:
    """The read half of :class:`kanal.spool.Spool` (a base class of it).

    :meth:`_init_readers` sets up the per-thread reader connections; every query
    runs on the calling thread's own.
    """

    path: Path
    busy_timeout: float

    def _init_readers(self) -> None:
        self._local = threading.local()
        self._readers: set[weakref.finalize] = set()
        self._readers_lock = threading.Lock()

    def _close_readers(self) -> None:
        with self._readers_lock:
            readers, self._readers = self._readers, set()
        for finalizer in readers:
            finalizer()

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

    def routed_counts(self, since: float) -> dict[str, int]:
        """Complaints the embedded default routed since ``since`` (Unix time), per agency code."""
        return dict(self._reader().execute(
            "SELECT agency_code, count(*) FROM routed WHERE routed_at >= ? GROUP BY agency_code", (since,)).fetchall())

    def forwarded_between(self, start: float, end: float) -> list[tuple[str, str, str, float]]:
        """Complaints the broker confirmed on the intake queue between ``start`` and ``end``
        (Unix times), oldest first: (id, channel, provider id, forwarded_at)."""
        return self._reader().execute(
            "SELECT id, channel, provider_message_id, forwarded_at FROM ledger"
            " WHERE forwarded_at >= ? AND forwarded_at < ? ORDER BY forwarded_at", (start, end)).fetchall()

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

    def raw(self, ref: str) -> tuple[bytes, dict[str, Any]] | None:
        """The archived payload and metadata behind a ``raw_ref``."""
        row = self._reader().execute("SELECT payload, metadata FROM raw_archive WHERE ref = ?", (ref,)).fetchone()
        return (row[0], json.loads(row[1])) if row else None

    def quarantined(self, channel: str | None = None, include_resolved: bool = False,
                    limit: int | None = None) -> list[QuarantineEntry]:
        """Quarantine entries, oldest first (at most ``limit``)."""
        sql = "SELECT * FROM quarantine WHERE 1=1"
        args: list[Any] = []
        if channel:
            sql += " AND channel = ?"
            args.append(channel)
        if not include_resolved:
            sql += " AND resolved_at IS NULL"
        sql += " ORDER BY qid"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        rows = self._reader().execute(sql, args).fetchall()
        return [entry_from_row(r) for r in rows]

    def quarantine_entry(self, qid: int) -> QuarantineEntry | None:
        """One quarantine entry by id."""
        row = self._reader().execute("SELECT * FROM quarantine WHERE qid = ?", (qid,)).fetchone()
        return entry_from_row(row) if row else None

    def held_ready(self, channel: str, timeout: float, now: float | None = None) -> list[held_parts.ReadyGroup]:
        """Held parts of ``channel`` to take now (see :mod:`kanal.held_parts`)."""
        return held_parts.ready(self._reader(), channel, timeout, now or time.time())

    def load_state(self, channel: str, key: str) -> Any:
        """A channel's state value, or None."""
        return channel_state.load(self._reader(), channel, key)
