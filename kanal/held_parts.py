"""Held parts: pieces of one message that reach Kanal in separate requests (a
concatenated SMS whose parts Kannel posts one by one), kept in the spool until the
message is whole.

A part is held (:func:`hold`) in the SAME transaction a complaint would have been
stored in, so the gateway gets its 2xx only once the part is durable and a restart
loses nothing. When every part of a message is there, or when the first part has
waited ``timeout`` seconds, the runner builds one raw message per group (or one per
part, flagged incomplete) and commits it with :func:`release` of the parts it used,
again in one transaction: a crash in between leaves the parts waiting, and the next
sweep joins them.

Taken parts stay as tombstones for ``TOMBSTONE_SECONDS``: a gateway that delivers a
part again (its answer was lost) finds the identical part already taken and it is
not held a second time. Identity is the part's exact bytes (``digest``).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from connectors.base import RawMessage

if TYPE_CHECKING:
    from collections.abc import Sequence

    from connectors.base import Hold

SCHEMA = """
CREATE TABLE IF NOT EXISTS held_parts (
    pid INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    group_key TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    total INTEGER NOT NULL,
    digest TEXT NOT NULL,
    source_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    metadata TEXT NOT NULL,
    received_at REAL NOT NULL,
    held_at REAL NOT NULL,
    taken_at REAL
);
CREATE UNIQUE INDEX IF NOT EXISTS held_parts_identity ON held_parts (channel, group_key, sequence, digest);
CREATE INDEX IF NOT EXISTS held_parts_waiting ON held_parts (channel, taken_at, held_at);
"""

#: How long a taken part is remembered, so its redelivery is not held again.
TOMBSTONE_SECONDS = 2 * 86400


@dataclass(frozen=True, slots=True)
class HeldPart:
    """One waiting part: its row id, position and the raw message as received."""

    pid: int
    sequence: int
    raw: RawMessage


@dataclass(frozen=True, slots=True)
class ReadyGroup:
    """Parts to take now: the whole message (``complete``), or parts waited for too long."""

    key: str
    parts: tuple[HeldPart, ...]
    complete: bool


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the table and its indexes (idempotent)."""
    conn.executescript(SCHEMA)


def hold(conn: sqlite3.Connection, channel: str, part: Hold, raw: RawMessage, now: float) -> bool:
    """Inside the commit transaction: keep ``raw`` as part ``part.sequence`` of its
    group. False when this exact part is already held or was taken."""
    digest = hashlib.sha256(raw.payload).hexdigest()
    metadata = json.dumps(dict(raw.metadata), default=str, ensure_ascii=False)
    return conn.execute(
        "INSERT OR IGNORE INTO held_parts (channel, group_key, sequence, total, digest, source_id, payload, "
        "metadata, received_at, held_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (channel, part.key, part.sequence, part.total, digest, raw.source_id, raw.payload, metadata,
         raw.received_at.timestamp(), now),
    ).rowcount == 1


def release(conn: sqlite3.Connection, channel: str, pids: Sequence[int], now: float) -> None:
    """Inside the commit transaction: mark parts taken (they were joined or taken alone)."""
    conn.executemany(
        "UPDATE held_parts SET taken_at = ? WHERE pid = ? AND channel = ? AND taken_at IS NULL",
        [(now, pid, channel) for pid in pids],
    )


def prune(conn: sqlite3.Connection, now: float) -> int:
    """Forget taken parts older than the tombstone time."""
    return conn.execute(
        "DELETE FROM held_parts WHERE taken_at IS NOT NULL AND taken_at < ?", (now - TOMBSTONE_SECONDS,)
    ).rowcount


def ready(conn: sqlite3.Connection, channel: str, timeout: float, now: float) -> list[ReadyGroup]:
    """The channel's groups to take now, oldest first: complete ones, and every part
    of a group whose first part has waited ``timeout`` seconds."""
    rows = conn.execute(
        "SELECT pid, group_key, sequence, total, source_id, payload, metadata, received_at, held_at "
        "FROM held_parts WHERE channel = ? AND taken_at IS NULL ORDER BY pid",
        (channel,),
    ).fetchall()
    groups: dict[str, list[tuple]] = {}
    for row in rows:
        groups.setdefault(row[1], []).append(row)
    out: list[ReadyGroup] = []
    for key, members in groups.items():
        first_held = min(m[8] for m in members)
        by_sequence: dict[int, tuple] = {}
        for member in members:  # a second part at a position belongs to a later message
            by_sequence.setdefault(member[2], member)
        chosen = [by_sequence[s] for s in sorted(by_sequence)]
        totals = {m[3] for m in chosen}
        complete = len(totals) == 1 and [m[2] for m in chosen] == list(range(1, totals.pop() + 1))
        if complete:
            out.append(ReadyGroup(key, tuple(_part(m) for m in chosen), True))
        elif now - first_held >= timeout:
            out.append(ReadyGroup(key, tuple(_part(m) for m in members), False))
    return out


def _part(row: tuple) -> HeldPart:
    pid, _key, sequence, _total, source_id, payload, metadata, received_at, _held = row
    raw = RawMessage(source_id, bytes(payload), datetime.fromtimestamp(received_at, UTC), json.loads(metadata))
    return HeldPart(pid, sequence, raw)
