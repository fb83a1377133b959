"""Channel state that is not a checkpoint: values a connector must keep across
restarts the moment they change, independent of intake batches.

The first user is the X channel's OAuth 2.0 user-context token pair: X rotates the
refresh token on every refresh, so the new one must be durable at once (the old one
no longer works). It is kept in this table, not in the checkpoint, because
``kanal status`` prints checkpoints and these values are secrets. The spool file is
mode 0600, like everything else in it.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS channel_state (
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (channel, key)
);
"""


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the table (idempotent)."""
    conn.executescript(SCHEMA)


def save(conn: sqlite3.Connection, channel: str, key: str, value: Any, now: float) -> None:
    """Inside a write transaction: store ``value`` (JSON) under (channel, key)."""
    conn.execute(
        "INSERT INTO channel_state (channel, key, value, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (channel, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        (channel, key, json.dumps(value), now),
    )


def load(conn: sqlite3.Connection, channel: str, key: str) -> Any:
    """The stored value, or None."""
    row = conn.execute("SELECT value FROM channel_state WHERE channel = ? AND key = ?", (channel, key)).fetchone()
    return json.loads(row[0]) if row else None
