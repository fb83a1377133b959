"""The duplicate index in PostgreSQL, shared by every router replica.

Same rules as :class:`router.duplicates.DuplicateIndex` (same person and category, or
nearly the same text about the same place, within the window), but the recent
complaints live in a table next to the dedup table, so a pair handled by two
replicas is linked too. A database failure raises :class:`SharedIndexUnavailable`;
the consumer treats it like a lost connection (nothing is acked, it retries).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from normalizer.complaint import Complaint
from router.duplicates import identities


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
        self._statements: dict[tuple[bool, bool, bool], str] = {}
        self._psycopg = psycopg
        try:
            self._conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
            # The index only links duplicates (advisory): losing its last inserts to a PostgreSQL
            # crash unlinks a pair at worst. Waiting for a WAL flush per complaint capped the router
            # at one fsync per complaint (about 50/s on a loaded machine); the dedup store, which
            # the exactly-once guarantee rests on, keeps synchronous commits.
            self._conn.execute("SET synchronous_commit TO off")
            self._conn.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, received_at TIMESTAMPTZ NOT NULL, "
                "identities TEXT[] NOT NULL, category TEXT, place TEXT, words TEXT[] NOT NULL)"
            )
            self._conn.execute(f"CREATE INDEX IF NOT EXISTS {table}_place ON {table} (place, received_at)")
            # Without a pending list: with one, every lookup scans the list of inserts not yet merged,
            # which grows by one per complaint until a vacuum (measured: router throughput halved).
            self._conn.execute(
                f"CREATE INDEX IF NOT EXISTS {table}_ids ON {table} USING GIN (identities) WITH (fastupdate = off)"
            )
            self._conn.execute(f"ALTER INDEX {table}_ids SET (fastupdate = off)")  # tables made before
        except psycopg.errors.UniqueViolation:
            pass  # another replica created it at the same moment
        except psycopg.Error as exc:
            raise SharedIndexUnavailable(str(exc)) from exc

    def check_and_add(self, complaint: Complaint, words: frozenset[str], category: str | None,
                      place: str | None) -> str | None:
        """Return the id of the earlier complaint this one duplicates (or None), and remember it."""
        return self.check_and_add_many([(complaint, words, category, place)])[0]

    def check_and_add_many(self, items: list[tuple[Complaint, frozenset[str], str | None, str | None]]
                           ) -> list[str | None]:
        """:meth:`check_and_add` for ``(complaint, words, category, place)`` items, in order.

        Each complaint is one statement (both lookups and the insert); the batch's statements go
        in one pipeline (psycopg's pipeline mode) inside one transaction, and the server runs
        them in order, so each complaint still sees the ones
        before it, but the batch costs one round trip and one commit instead of three round
        trips and a commit per complaint: under CPU contention each round trip waits for the
        PostgreSQL backend to be scheduled. Other replicas see the batch when it commits.
        """
        try:
            with self._conn.transaction(), self._conn.pipeline():
                pending = [self._queue(*item) for item in items]
            return [self._original(cur) for cur in pending]
        except self._psycopg.Error as exc:
            raise SharedIndexUnavailable(str(exc)) from exc

    def _queue(self, complaint: Complaint, words: frozenset[str], category: str | None, place: str | None) -> Any:
        """Send the lookups and the insert of one complaint as one statement; returns its cursor.

        One statement instead of three: the insert is a data-modifying CTE, which the
        lookups of the same statement do not see (they exclude this id anyway) and the next
        complaint's statement does.
        """
        ids = list(identities(complaint))
        by_identity = bool(ids and category)
        by_place = bool(place and words)
        mine = sorted(words)
        # The words go as one space-separated text the server splits: psycopg adapting a list of
        # dozens of strings, three times per complaint, was over half of this index's client time.
        # Tokens never hold a space (router/textnorm.py); a word that did would go as a list.
        joined = " ".join(mine)
        as_text = bool(mine) and joined.count(" ") == len(mine) - 1 and "" not in words
        at = complaint.received_at
        params = {"id": str(complaint.id), "at": at, "since": at - self.window, "ids": ids,
                  "category": category, "place": place, "words": joined if as_text else mine,
                  "similarity": self.min_similarity}
        return self._conn.execute(self._statement(by_identity, by_place, as_text), params)

    def _statement(self, by_identity: bool, by_place: bool, words_as_text: bool) -> str:
        """The statement of one complaint (eight shapes, each prepared by psycopg after a few uses)."""
        key = (by_identity, by_place, words_as_text)
        sql = self._statements.get(key)
        if sql is not None:
            return sql
        t = self.table
        words = "string_to_array(%(words)s::text, ' ')" if words_as_text else "%(words)s::text[]"
        window = "received_at BETWEEN %(since)s AND %(at)s"
        identity_sql = (f"(SELECT id FROM {t} WHERE identities && %(ids)s::text[] AND category = %(category)s "
                        f"AND id <> %(id)s AND {window} ORDER BY received_at LIMIT 1)") if by_identity else "NULL"
        # The Jaccard test runs in the server, over the same 500 oldest candidates in order,
        # and stops at the first match: one row comes back instead of up to 500 word lists.
        place_sql = (f"(SELECT id FROM (SELECT id, words, received_at FROM {t} WHERE place = %(place)s "
                     f"AND id <> %(id)s AND {window} ORDER BY received_at LIMIT 500) c "
                     f"WHERE cardinality(ARRAY(SELECT unnest(c.words) INTERSECT SELECT unnest({words})))::float8 "
                     f"/ cardinality(ARRAY(SELECT unnest(c.words) UNION SELECT unnest({words}))) >= %(similarity)s "
                     "ORDER BY received_at LIMIT 1)") if by_place else "NULL"
        sql = (f"WITH added AS (INSERT INTO {t} (id, received_at, identities, category, place, words) "
               f"VALUES (%(id)s, %(at)s, %(ids)s::text[], %(category)s, %(place)s, {words}) "
               f"ON CONFLICT (id) DO NOTHING) SELECT {identity_sql}, {place_sql}")
        self._statements[key] = sql
        return sql

    @staticmethod
    def _original(cur: Any) -> str | None:
        by_identity, by_place = cur.fetchone()
        return by_identity or by_place

    def prune(self, older_than: timedelta) -> int:
        """Forget complaints received more than ``older_than`` before now."""
        cur = self._conn.execute(f"DELETE FROM {self.table} WHERE received_at < now() - %s", (older_than,))
        return cur.rowcount

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()
