"""The acknowledgement outbox: replies to reporters, kept in the spool.

A reply (e.g. the acknowledgement SMS) is granted in the SAME transaction that
stores its complaint (:func:`grant`, called from the spool's commit), so a crash
after the commit cannot lose it and a crash before cannot send one for a complaint
that is not durable. The rows are also the per-recipient window: a recipient who
has a ``pending``, ``sent`` or ``answered`` row of the same channel created within
the reply's window gets no new one, across restarts. A ``failed`` row does not
count, so a reporter whose acknowledgement could not be delivered gets one for
their next complaint.

States:
    pending   waiting for the ack sender (``next_try`` = when it may try again)
    sent      delivered through the connector's ``send_reply``
    answered  carried in the webhook answer itself (Kannel reply body, TwiML, JSON)
    failed    given up after the sender's bounded number of tries (``last_error``)

One process sends from one spool (the spool is local to its host), so rows are not
claimed: the single :class:`kanal.ack_sender.AckSender` reads the due rows and
records each try's result in its own short transaction.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from connectors.base import Reply
    from kanal.spool import Spool

SCHEMA = """
CREATE TABLE IF NOT EXISTS ack_outbox (
    aid INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    text TEXT NOT NULL,
    complaint_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL,
    done_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS ack_outbox_due ON ack_outbox (state, next_try);
CREATE INDEX IF NOT EXISTS ack_outbox_window ON ack_outbox (channel, recipient, created_at);
"""

#: States that hold a recipient's window closed.
_COUNTING = ("pending", "sent", "answered")


@dataclass(frozen=True, slots=True)
class AckRow:
    """One reply waiting in the outbox."""

    aid: int
    channel: str
    recipient: str
    text: str
    complaint_id: str
    attempts: int


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the table and its indexes (idempotent)."""
    conn.executescript(SCHEMA)


def grant(conn: sqlite3.Connection, channel: str, reply: Reply, complaint_id: str, now: float) -> Reply | None:
    """Inside the commit transaction: queue ``reply`` unless its recipient's window is closed.

    Returns the reply when granted (an ``answered`` row when it travels in the
    webhook answer, a ``pending`` row for the ack sender), else None.
    """
    if reply.window_seconds > 0:
        marks = ",".join("?" * len(_COUNTING))
        taken = conn.execute(
            f"SELECT 1 FROM ack_outbox WHERE channel = ? AND recipient = ? AND created_at > ? "
            f"AND state IN ({marks}) LIMIT 1",
            (channel, reply.recipient, now - reply.window_seconds, *_COUNTING),
        ).fetchone()
        if taken:
            return None
    state, done_at = ("answered", now) if reply.in_answer else ("pending", None)
    conn.execute(
        "INSERT INTO ack_outbox (channel, recipient, text, complaint_id, created_at, state, next_try, done_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (channel, reply.recipient, reply.text, complaint_id, now, state, now, done_at),
    )
    return reply


class AckOutbox:
    """The sender's side of the outbox, on a spool's file.

    Parameters:
        spool: the spool whose transactions the updates go through.
    """

    def __init__(self, spool: Spool) -> None:
        self.spool = spool
        self._read = sqlite3.connect(
            spool.path, timeout=spool.busy_timeout, isolation_level=None, check_same_thread=False
        )

    def close(self) -> None:
        """Close the read connection."""
        self._read.close()

    def due(self, channels: Sequence[str], now: float, limit: int = 100) -> list[AckRow]:
        """Pending replies of ``channels`` whose next try is due, oldest first."""
        if not channels:
            return []
        marks = ",".join("?" * len(channels))
        rows = self._read.execute(
            f"SELECT aid, channel, recipient, text, complaint_id, attempts FROM ack_outbox "
            f"WHERE state = 'pending' AND next_try <= ? AND channel IN ({marks}) ORDER BY aid LIMIT ?",
            (now, *channels, limit),
        ).fetchall()
        return [AckRow(*r) for r in rows]

    def mark_sent(self, aid: int, channel: str, now: float | None = None) -> None:
        """Record a delivery and count it (``ack.sent``) in the same transaction."""
        with self.spool.transaction() as conn:
            conn.execute(
                "UPDATE ack_outbox SET state = 'sent', attempts = attempts + 1, done_at = ?, last_error = NULL "
                "WHERE aid = ?",
                (now or time.time(), aid),
            )
            self.spool.bump(conn, channel, "ack.sent")

    def mark_retry(self, aid: int, error: str, next_try: float) -> None:
        """Record a failed try; the reply stays pending until ``next_try``."""
        with self.spool.transaction() as conn:
            conn.execute(
                "UPDATE ack_outbox SET attempts = attempts + 1, next_try = ?, last_error = ? WHERE aid = ?",
                (next_try, error, aid),
            )

    def mark_failed(self, aid: int, channel: str, error: str, now: float | None = None) -> None:
        """Give up on a reply (counted as ``ack.failed`` in the same transaction); it no
        longer holds its recipient's window closed."""
        with self.spool.transaction() as conn:
            conn.execute(
                "UPDATE ack_outbox SET state = 'failed', attempts = attempts + 1, done_at = ?, last_error = ? "
                "WHERE aid = ?",
                (now or time.time(), error, aid),
            )
            self.spool.bump(conn, channel, "ack.failed")

    def prune(self, older_than: float) -> int:
        """Forget finished (sent, answered, failed) replies created before ``older_than``."""
        with self.spool.transaction() as conn:
            return conn.execute(
                "DELETE FROM ack_outbox WHERE state != 'pending' AND created_at < ?", (older_than,)
            ).rowcount
