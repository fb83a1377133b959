"""The dedup store: which complaint ids have been routed, shared by every router replica.

Two backends with one interface: PostgreSQL (psycopg 3) for production, where all
replicas share one table, and SQLite for the embedded default and single-host setups.

How it keeps "never routed twice" when a router dies part-way through a batch:
:meth:`DedupStore.claim_many` opens a database transaction and inserts the ids. The rows
are invisible and locked until the transaction ends, so a second replica holding another
copy of the same complaint waits on them. The consumer publishes the routed messages in
one AMQP transaction; after the broker confirmed that commit the claims commit, and only
then are the intake messages acked, in a second AMQP transaction. A router that dies
before the claims commit leaves its intake messages unacked and its claims rolled back
(the connection dies with the process): the redelivered complaints are routed normally.
A router that dies after the claims commit leaves claimed complaints; their redelivered
copies are acked as duplicates.

The one window left: a crash after the broker applied the publish commit and before the
claims' commit arrives routes that batch a second time when its intake messages come
back. The routed message's ``message_id`` is the complaint id, so the CRM drops the
repeat (docs/message-contract.md); nothing is lost (docs/router.md).
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DEFAULT_TABLE = "kanal_router_dedup"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,50}$")  # room for suffixes of derived names


class Claim:
    """An open claim on one complaint id; see :meth:`DedupStore.claim`."""

    def __init__(self, fresh: bool) -> None:
        #: False when the id was routed before: the caller must not route it again.
        self.fresh = fresh


class DedupStore(ABC):
    """Complaint ids already routed, kept for ``retention_days``."""

    def __init__(self, retention_days: float, table: str) -> None:
        if not _IDENTIFIER.match(table):
            msg = f"invalid dedup table name {table!r}"
            raise ValueError(msg)
        self.retention_seconds = retention_days * 86400
        self.table = table

    @contextmanager
    def claim(self, complaint_id: str, queue: str | None = None) -> Iterator[Claim]:
        """Claim ``complaint_id`` (routed to ``queue``) for the duration of the ``with`` block.

        ``claim.fresh`` is False when the id was routed before (the caller acks the
        duplicate and counts it). Leaving the block normally commits the claim (the id
        is then routed for good); an exception rolls it back and propagates. Blocks
        while another replica holds a claim on the same id.
        """
        with self.claim_many([(complaint_id, queue)]) as fresh:
            yield Claim(complaint_id in fresh)

    @abstractmethod
    @contextmanager
    def claim_many(self, claims: list[tuple[str, str | None]]) -> Iterator[set[str]]:
        """Claim several ``(complaint id, queue)`` at once, in one database transaction.

        Yields the set of ids that were not routed before; otherwise as :meth:`claim`.
        Ids are inserted in sorted order, so two replicas claiming overlapping batches
        take row locks in the same order.
        """

    @abstractmethod
    def withdraw(self, complaint_ids: list[str]) -> None:
        """Inside an open :meth:`claim_many` block (same thread): drop ``complaint_ids`` from
        the claim, so leaving the block does not record them as routed (their routed
        message was returned by the broker)."""

    @abstractmethod
    def was_routed(self, complaint_id: str) -> bool:
        """True if ``complaint_id`` is recorded as routed."""

    @abstractmethod
    def routed_among(self, complaint_ids: list[str]) -> set[str]:
        """Which of ``complaint_ids`` are recorded as routed (one query per 500 ids)."""

    @abstractmethod
    def prune(self, now: float | None = None) -> int:
        """Forget ids older than the retention window; returns how many."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection."""


class SqliteDedupStore(DedupStore):
    """SQLite backend (WAL); safe for several processes on one host and several threads.

    One connection serves every thread of the process, so a lock (held for the whole
    ``with`` block of a claim) keeps each transaction to one thread at a time.
    """

    def __init__(self, path: Path, retention_days: float = 30, table: str = DEFAULT_TABLE) -> None:
        super().__init__(retention_days, table)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, routed_at REAL NOT NULL, queue TEXT)"
        )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock; rolled back on an exception or a failed
        COMMIT, so the shared connection is never left inside a transaction."""
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
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def claim_many(self, claims: list[tuple[str, str | None]]) -> Iterator[set[str]]:
        if not claims:
            yield set()
            return
        with self._transaction() as conn:
            fresh = set()
            now = time.time()
            for cid, queue in sorted(claims, key=lambda c: c[0]):
                cur = conn.execute(
                    f"INSERT OR IGNORE INTO {self.table} (id, routed_at, queue) VALUES (?, ?, ?)",
                    (cid, now, queue),
                )
                if cur.rowcount == 1:
                    fresh.add(cid)
            yield fresh

    def withdraw(self, complaint_ids: list[str]) -> None:
        with self._lock:
            if not self._conn.in_transaction:
                msg = "withdraw() outside a claim"
                raise RuntimeError(msg)
            self._conn.executemany(f"DELETE FROM {self.table} WHERE id = ?", [(c,) for c in complaint_ids])

    def was_routed(self, complaint_id: str) -> bool:
        with self._lock:
            row = self._conn.execute(f"SELECT 1 FROM {self.table} WHERE id = ?", (complaint_id,)).fetchone()
        return row is not None

    def routed_among(self, complaint_ids: list[str]) -> set[str]:
        """Which of ``complaint_ids`` are recorded as routed, 500 at a time (SQLite's variable limit)."""
        found: set[str] = set()
        with self._lock:
            for start in range(0, len(complaint_ids), 500):
                chunk = complaint_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(r[0] for r in self._conn.execute(f"SELECT id FROM {self.table} WHERE id IN ({marks})",
                                                             chunk))
        return found

    def prune(self, now: float | None = None) -> int:
        horizon = (now or time.time()) - self.retention_seconds
        with self._lock:
            return self._conn.execute(f"DELETE FROM {self.table} WHERE routed_at < ?", (horizon,)).rowcount

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresDedupStore(DedupStore):
    """PostgreSQL backend shared by every replica (psycopg 3)."""

    def __init__(self, dsn: str, retention_days: float = 30, table: str = DEFAULT_TABLE,
                 lock_timeout_s: float = 30) -> None:
        import psycopg
        from psycopg import errors

        super().__init__(retention_days, table)
        self._conn = psycopg.connect(dsn, autocommit=False, connect_timeout=10)
        try:
            with self._conn.transaction():
                self._conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, "
                    "routed_at TIMESTAMPTZ NOT NULL DEFAULT now(), queue TEXT)"
                )
                self._conn.execute(f"CREATE INDEX IF NOT EXISTS {table}_at ON {table} (routed_at)")
        except (errors.UniqueViolation, errors.DuplicateTable):
            pass  # another replica created it at the same moment
        self._conn.execute(f"SET lock_timeout = '{int(lock_timeout_s * 1000)}ms'")
        self._conn.commit()

    @contextmanager
    def claim_many(self, claims: list[tuple[str, str | None]]) -> Iterator[set[str]]:
        if not claims:
            yield set()
            return
        ordered = sorted(dict(claims).items())
        # Pipeline mode: BEGIN and the INSERT go in one round trip (fetchall waits for both).
        with self._conn.pipeline(), self._conn.transaction():
            cur = self._conn.execute(
                f"INSERT INTO {self.table} (id, queue) SELECT * FROM unnest(%s::text[], %s::text[]) "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                ([c for c, _ in ordered], [q for _, q in ordered]),
            )
            yield {row[0] for row in cur.fetchall()}

    def withdraw(self, complaint_ids: list[str]) -> None:
        from psycopg.pq import TransactionStatus

        if self._conn.info.transaction_status != TransactionStatus.INTRANS:
            msg = "withdraw() outside a claim"
            raise RuntimeError(msg)
        self._conn.execute(f"DELETE FROM {self.table} WHERE id = ANY(%s)", (complaint_ids,))

    def was_routed(self, complaint_id: str) -> bool:
        with self._conn.transaction():
            row = self._conn.execute(f"SELECT 1 FROM {self.table} WHERE id = %s", (complaint_id,)).fetchone()
        return row is not None

    def routed_among(self, complaint_ids: list[str]) -> set[str]:
        """Which of ``complaint_ids`` are recorded as routed, 500 ids per query."""
        found: set[str] = set()
        with self._conn.transaction():
            for start in range(0, len(complaint_ids), 500):
                rows = self._conn.execute(f"SELECT id FROM {self.table} WHERE id = ANY(%s)",
                                          (complaint_ids[start : start + 500],)).fetchall()
                found.update(r[0] for r in rows)
        return found

    def prune(self, now: float | None = None) -> int:
        horizon = (now or time.time()) - self.retention_seconds
        with self._conn.transaction():
            cur = self._conn.execute(
                f"DELETE FROM {self.table} WHERE routed_at < to_timestamp(%s)", (horizon,)
            )
        return cur.rowcount

    def close(self) -> None:
        self._conn.close()


def open_dedup_store(dsn: str | None, sqlite_path: Path, retention_days: float = 30,
                     table: str = DEFAULT_TABLE) -> DedupStore:
    """PostgreSQL when ``dsn`` is set, else SQLite at ``sqlite_path``."""
    if dsn:
        return PostgresDedupStore(dsn, retention_days, table)
    return SqliteDedupStore(sqlite_path, retention_days, table)
