"""What the spool hands out: outbox rows, quarantine entries, and the error of a
write that could not get the lock in time."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


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


def entry_from_row(row: Sequence[Any]) -> QuarantineEntry:
    """A quarantine entry from a ``SELECT *`` row of the ``quarantine`` table."""
    (qid, channel, channel_type, source_id, _digest, payload, metadata, received_at, error, attempts,
     first_seen, last_seen, resolved_at, resolution) = row
    return QuarantineEntry(
        qid, channel, channel_type, source_id, payload, json.loads(metadata), received_at, error, attempts,
        first_seen, last_seen, resolved_at, resolution,
    )
