"""Corrections from the CRM (re-dispositions), stored in PostgreSQL as training rows.

Two tables next to the dedup store: ``<prefix>_texts`` (the text, citizen category and
kelurahan of each complaint the router routed, contacts masked, kept
``retention_days``) and ``<prefix>_feedback`` (``complaint_id``, the agency label the
CRM handed it to, when). :meth:`FeedbackStore.training_rows` joins them: the latest
correction per complaint with its text; corrections whose text is unknown are counted,
not used.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import psycopg

from router.decision import mask_contacts
from router.learn.rows import Row

DEFAULT_PREFIX = "kanal_router"


class FeedbackError(ValueError):
    """A feedback message that is not ``{"complaint_id": ..., "agency": ...}``."""


def parse_feedback(body: bytes) -> tuple[str, str]:
    """``(complaint_id, agency)`` of a feedback message body.

    Raises:
        FeedbackError: not JSON, or a field missing or empty.
    """
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"feedback is not JSON: {exc}"
        raise FeedbackError(msg) from exc
    if not isinstance(doc, dict) or not str(doc.get("complaint_id") or "").strip() or not str(
            doc.get("agency") or "").strip():
        msg = "feedback needs non-empty 'complaint_id' and 'agency'"
        raise FeedbackError(msg)
    return str(doc["complaint_id"]).strip(), str(doc["agency"]).strip()


class FeedbackStore:
    """The two tables in PostgreSQL (created on first use)."""

    def __init__(self, dsn: str, prefix: str = DEFAULT_PREFIX, retention_days: float = 400) -> None:
        self.dsn = dsn
        self.texts, self.feedback = f"{prefix}_texts", f"{prefix}_feedback"
        self.retention_days = retention_days
        self._conn: Any = None

    def _db(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, autocommit=True)
            self._conn.execute(f"CREATE TABLE IF NOT EXISTS {self.texts} (complaint_id text PRIMARY KEY, "
                               "text text NOT NULL, category text, kelurahan text, "
                               "routed_at timestamptz DEFAULT now())")
            self._conn.execute(f"CREATE TABLE IF NOT EXISTS {self.feedback} (complaint_id text NOT NULL, "
                               "agency text NOT NULL, received_at timestamptz DEFAULT now(), "
                               "PRIMARY KEY (complaint_id, agency))")
        return self._conn

    def remember(self, items: Iterable[tuple[str, str, str | None, str | None]]) -> None:
        """Keep ``(complaint_id, text, category, kelurahan)`` of routed complaints (contacts masked)."""
        rows = [(cid, mask_contacts(text), cat, kel) for cid, text, cat, kel in items]
        if rows:
            with self._db().cursor() as cur:
                cur.executemany(f"INSERT INTO {self.texts} (complaint_id, text, category, kelurahan) "
                                "VALUES (%s, %s, %s, %s) ON CONFLICT (complaint_id) DO NOTHING", rows)

    def store(self, complaint_id: str, agency: str) -> None:
        """Record one correction (idempotent: a redelivered message changes nothing)."""
        self._db().execute(f"INSERT INTO {self.feedback} (complaint_id, agency) VALUES (%s, %s) "
                           "ON CONFLICT DO NOTHING", (complaint_id, agency))

    def training_rows(self) -> list[Row]:
        """The latest correction of each complaint whose text is known, as training rows."""
        cur = self._db().execute(
            f"SELECT DISTINCT ON (f.complaint_id) t.text, f.agency, coalesce(t.category, ''), "
            f"coalesce(t.kelurahan, '') FROM {self.feedback} f JOIN {self.texts} t USING (complaint_id) "
            "ORDER BY f.complaint_id, f.received_at DESC")
        return [Row(*r) for r in cur.fetchall()]

    def prune(self) -> None:
        """Forget texts past the retention (corrections without a text then stop counting)."""
        self._db().execute(f"DELETE FROM {self.texts} WHERE routed_at < now() - make_interval(days => %s)",
                           (int(self.retention_days),))

    def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
