"""The duplicate index in PostgreSQL, shared by every router replica.

Same rules as :class:`router.duplicates.DuplicateIndex` (same person and category, or
nearly the same text about the same place, within the window), but the recent
complaints live in a table next to the dedup table, so a pair handled by two
replicas is linked too. A database failure raises :class:`SharedIndexUnavailable`;
the consumer treats it like a lost connection (nothing is acked, it retries).
"""

from __future__ import annotations

from datetime import timedelta

from normalizer.complaint import Complaint
from router.duplicates import identities, jaccard


class SharedIndexUnavailable(Exception):
    """The shared duplicate index could not be read or written."""


class PostgresDuplicateIndex:
    """Recent complaints in ``<table>`` (created if missing).

    Args:
        dsn: PostgreSQL DSN.
        table: table name (validated by the caller's dedup store rules).
        window: how far back a complaint can be the original.
        min_similarity: Jaccard threshold for "nearly the same text".
    """

    def __init__(self, dsn: str, table: str, window: timedelta = timedelta(hours=72),
                 min_similarity: float = 0.7) -> None:
        import psycopg

        self.window = window
        self.min_similarity = min_similarity
        self.table = table
        self._psycopg = psycopg
        try:
            self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
            self._conn.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, received_at TIMESTAMPTZ NOT NULL, "
                "identities TEXT[] NOT NULL, category TEXT, place TEXT, words TEXT[] NOT NULL)"
            )
            self._conn.execute(f"CREATE INDEX IF NOT EXISTS {table}_place ON {table} (place, received_at)")
            self._conn.execute(f"CREATE INDEX IF NOT EXISTS {table}_ids ON {table} USING GIN (identities)")
        except psycopg.errors.UniqueViolation:
            pass  # another replica created it at the same moment
        except psycopg.Error as exc:
            raise SharedIndexUnavailable(str(exc)) from exc

    def check_and_add(self, complaint: Complaint, words: frozenset[str], category: str | None,
                      place: str | None) -> str | None:
        """Return the id of the earlier complaint this one duplicates (or None), and remember it."""
        try:
            original = self._find(complaint, words, category, place)
            self._conn.execute(
                f"INSERT INTO {self.table} (id, received_at, identities, category, place, words) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
                (str(complaint.id), complaint.received_at, list(identities(complaint)), category, place,
                 sorted(words)),
            )
        except self._psycopg.Error as exc:
            raise SharedIndexUnavailable(str(exc)) from exc
        return original

    def _find(self, complaint: Complaint, words: frozenset[str], category: str | None,
              place: str | None) -> str | None:
        cid, at = str(complaint.id), complaint.received_at
        since, until = at - self.window, at
        ids = list(identities(complaint))
        if ids and category:
            row = self._conn.execute(
                f"SELECT id FROM {self.table} WHERE identities && %s AND category = %s AND id <> %s "
                "AND received_at BETWEEN %s AND %s ORDER BY received_at LIMIT 1",
                (ids, category, cid, since, until),
            ).fetchone()
            if row:
                return row[0]
        if place and words:
            rows = self._conn.execute(
                f"SELECT id, words FROM {self.table} WHERE place = %s AND id <> %s "
                "AND received_at BETWEEN %s AND %s ORDER BY received_at LIMIT 500",
                (place, cid, since, until),
            ).fetchall()
            for other_id, other_words in rows:
                if jaccard(frozenset(other_words), words) >= self.min_similarity:
                    return other_id
        return None

    def prune(self, older_than: timedelta) -> int:
        """Forget complaints received more than ``older_than`` before now."""
        cur = self._conn.execute(f"DELETE FROM {self.table} WHERE received_at < now() - %s", (older_than,))
        return cur.rowcount

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()
