"""The duplicate index in PostgreSQL, shared by every router replica.

Same rules as :class:`router.duplicates.DuplicateIndex` (same person and category, or
nearly the same text about the same place, within the window), but the recent
complaints live in a table next to the dedup table, so a pair handled by two
replicas is linked too. A database failure raises :class:`SharedIndexUnavailable`;
the consumer treats it like a lost connection (nothing is acked, it retries).
"""

from __future__ import annotations

import json
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
                "identities TEXT[] NOT NULL, category TEXT, place TEXT, words TEXT[] NOT NULL, seq BIGSERIAL)"
            )
            # Gateways give times to the second, so originals tie; of those the first added is named.
            self._conn.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS seq BIGSERIAL")  # tables made before
            # In the order the text lookup reads candidates, so it reads 500 rows, not every row
            # of the place in the window to sort them (measured: PostgreSQL's CPU per complaint
            # rose sevenfold with 20,000 recent complaints in few places when seq was not in it).
            self._conn.execute(f"CREATE INDEX IF NOT EXISTS {table}_place_order ON {table} (place, received_at, seq)")
            self._conn.execute(f"DROP INDEX IF EXISTS {table}_place")  # made by earlier versions
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
        try:
            self._create_function()
        except psycopg.Error as exc:
            raise SharedIndexUnavailable(str(exc)) from exc

    def check_and_add(self, complaint: Complaint, words: frozenset[str], category: str | None,
                      place: str | None) -> str | None:
        """Return the id of the earlier complaint this one duplicates (or None), and remember it."""
        return self.check_and_add_many([(complaint, words, category, place)])[0]

    def check_and_add_many(self, items: list[tuple[Complaint, frozenset[str], str | None, str | None]]
                           ) -> list[str | None]:
        """:meth:`check_and_add` for ``(complaint, words, category, place)`` items, in order.

        The whole batch is one statement: the server-side function ``<table>_check_many``
        (created with the table) takes the batch as one JSON array and, for each complaint
        in order, runs both lookups and then the insert, so each complaint sees the ones
        before it, in the same batch too. One statement instead of one per complaint: the
        client's per-statement work (adapting eight parameters, psycopg's query machinery)
        was a quarter of the router's CPU. Other replicas see the batch when it commits.
        """
        if not items:
            return []
        batch = [self._item(*item) for item in items]
        try:
            rows = self._conn.execute(
                f"SELECT n, original FROM {self.table}_check_many(%s::jsonb, %s, %s) ORDER BY n",
                (json.dumps(batch, separators=(",", ":")), self.min_similarity, self.window),
            ).fetchall()
        except self._psycopg.Error as exc:
            raise SharedIndexUnavailable(str(exc)) from exc
        return [original for _n, original in rows]

    @staticmethod
    def _item(complaint: Complaint, words: frozenset[str], category: str | None, place: str | None
              ) -> dict[str, Any]:
        """One complaint as the function reads it; which lookups apply is decided here, with
        the in-memory index's truth rules (an empty category or place looks nothing up)."""
        ids = list(identities(complaint))
        return {"id": str(complaint.id), "at": complaint.received_at.isoformat(), "ids": ids,
                "category": category, "place": place, "words": sorted(words),
                "by_identity": bool(ids and category), "by_place": bool(place and words)}

    def _create_function(self) -> None:
        """(Re)create ``<table>_check_many`` under an advisory lock (replicas start together)."""
        t = self.table
        body = f"""
CREATE OR REPLACE FUNCTION {t}_check_many(batch jsonb, similarity float8, win interval)
RETURNS TABLE (n int, original text) LANGUAGE plpgsql AS $fn$
DECLARE
    item jsonb;
    cid text;
    at timestamptz;
    ids text[];
    cat text;
    plc text;
    w text[];
    found text;
BEGIN
    n := 0;
    FOR item IN SELECT value FROM jsonb_array_elements(batch) LOOP
        n := n + 1;
        cid := item->>'id';
        at := (item->>'at')::timestamptz;
        cat := item->>'category';
        plc := item->>'place';
        ids := ARRAY(SELECT jsonb_array_elements_text(item->'ids'));
        w := ARRAY(SELECT jsonb_array_elements_text(item->'words'));
        found := NULL;
        IF (item->>'by_identity')::boolean THEN
            SELECT r.id INTO found FROM {t} r
             WHERE r.identities && ids AND r.category = cat AND r.id <> cid
               AND r.received_at BETWEEN at - win AND at
             ORDER BY r.received_at, r.seq LIMIT 1;
        END IF;
        -- The text test runs over the 500 oldest candidates in order and stops at the first
        -- match. Equal times go in the order they were added (seq), as in the in-memory
        -- index, so the answer does not depend on the query plan.
        IF found IS NULL AND (item->>'by_place')::boolean THEN
            SELECT c.id INTO found
              FROM (SELECT r.id, r.words, r.received_at, r.seq FROM {t} r
                     WHERE r.place = plc AND r.id <> cid AND r.received_at BETWEEN at - win AND at
                     ORDER BY r.received_at, r.seq LIMIT 500) c
             WHERE cardinality(ARRAY(SELECT unnest(c.words) INTERSECT SELECT unnest(w)))::float8
                   / cardinality(ARRAY(SELECT unnest(c.words) UNION SELECT unnest(w))) >= similarity
             ORDER BY c.received_at, c.seq LIMIT 1;
        END IF;
        INSERT INTO {t} (id, received_at, identities, category, place, words)
        VALUES (cid, at, ids, cat, plc, w) ON CONFLICT (id) DO NOTHING;
        original := found;
        RETURN NEXT;
    END LOOP;
END
$fn$"""
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{t}_check_many",))
            self._conn.execute(body)

    def prune(self, older_than: timedelta) -> int:
        """Forget complaints received more than ``older_than`` before now."""
        cur = self._conn.execute(f"DELETE FROM {self.table} WHERE received_at < now() - %s", (older_than,))
        return cur.rowcount

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


def drop_shared_index(conn: Any, table: str) -> None:
    """Drop the index's table and its function (tests, benchmarks, decommissioning);
    ``conn`` is an autocommit psycopg connection."""
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"DROP FUNCTION IF EXISTS {table}_check_many(jsonb, float8, interval)")
