"""The spool's SQLite file: its tables, owner-only file permissions, and how a
connection to it is opened.

Tables:
    ledger         every complaint id taken in (dedup), with when it was forwarded
    outbox         complaints waiting for the broker (or the embedded router)
    raw_archive    raw payloads, content-addressed (``raw_ref``)
    checkpoints    one JSON checkpoint per channel instance
    quarantine     messages that failed normalisation: raw bytes, error, attempts
    channel_status state, last success / error, counts per channel instance
    counters       named counts per channel (drops by reason, refused webhooks)
    routed         the embedded default's routed complaints
    forwarded_bodies  what the broker confirmed, kept for ``spool.retention_days`` so a
                   complaint lost past the intake queue can be put back in the outbox
    processes      liveness of the processes writing to the spool (``kanal status``)
    ack_outbox     replies to reporters, granted with their complaint (kanal/ack_outbox.py)
    held_parts     parts of a message that arrive separately, until it is whole (kanal/held_parts.py)
    channel_state  values a connector keeps at once, e.g. rotating tokens (kanal/channel_state.py)
    attachment_fetch, attachment_refs, fetch_hold  links to download after the commit,
                   which complaint refers to which stored file, and the complaints
                   held back meanwhile (kanal/fetch_queue.py)

Every table is created with ``IF NOT EXISTS`` when a spool is opened, so a spool made
by an older release gains the tables it lacks.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

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
CREATE TABLE IF NOT EXISTS forwarded_bodies (
    id TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    body BLOB NOT NULL,
    forwarded_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS forwarded_bodies_at ON forwarded_bodies (forwarded_at);
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


def create_schema(conn: sqlite3.Connection) -> None:
    """Create every table of the spool that does not exist yet (idempotent)."""
    conn.executescript(SCHEMA)
    ack_outbox.create_schema(conn)
    held_parts.create_schema(conn)
    channel_state.create_schema(conn)
    fetch_queue.create_schema(conn)


#: The spool holds personal data: its file and SQLite's -wal / -shm files are owner-only.
FILE_MODE = 0o600


def private_files(path: Path) -> None:
    """Create the spool file owner-only (whatever the umask), and tighten existing ones.

    SQLite gives the -wal and -shm files the permissions of the database file.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    os.close(fd)
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            if file.stat().st_mode & 0o777 != FILE_MODE:
                os.chmod(file, FILE_MODE)


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """The write connection: WAL, and a commit on disk before it returns."""
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before we acknowledge the source, even on power loss.
    conn.execute("PRAGMA synchronous=FULL")
    return conn
