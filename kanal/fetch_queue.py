"""The attachment fetch queue: links to download after a complaint is committed.

A channel that lists a photo as a link (Graph CDN, X media, Twilio MMS) gets a
``pending`` row per link here, written in the SAME transaction that stores the
complaint (:func:`enqueue`, called from the spool's commit), so a crash can neither
lose a fetch nor queue one for a complaint that is not durable. The fetcher
(:mod:`kanal.fetcher`) downloads, then :meth:`FetchQueue.finish` records the result
and rewrites the complaint's outbox body in one transaction.

Holding: a complaint with links gets a ``fetch_hold`` row in the same commit, and
:meth:`kanal.spool.Spool.pending` skips its outbox row while that hold exists. A
hold ends in one of two ways, each giving the row a NEW ``seq`` (the outbox's seq is
AUTOINCREMENT, so it is above any position a reader has reached, and a forwarder in
the middle of its session sees it at its next read): the fetcher's :meth:`FetchQueue.finish`
once no link is pending, or :func:`release_expired`, run by the outbox read itself
once the hold time is over (the fetcher is dead, or the provider slow). A row is
never visible before its release, so a rewrite after the release (a late fetch) is
made in place and a row is never published twice. A held complaint is therefore
published after complaints committed later than it: the outbox order is commit
order except for held complaints.

``attachment_refs`` records which complaint refers to which stored file, so the
store is pruned only of files no retained complaint refers to.

States: ``pending`` (to download), ``done`` (in the store), ``failed`` (for good,
with ``reason``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kanal.photo_place import PhotoPosition, place
from normalizer.complaint import Complaint
from normalizer.wire import decode_complaint, encode_complaint

if TYPE_CHECKING:
    from kanal.spool import Spool

SCHEMA = """
CREATE TABLE IF NOT EXISTS attachment_fetch (
    fid INTEGER PRIMARY KEY AUTOINCREMENT,
    complaint_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    idx INTEGER NOT NULL,
    url TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    done_at REAL,
    sha256 TEXT,
    reason TEXT,
    UNIQUE (complaint_id, idx)
);
CREATE INDEX IF NOT EXISTS attachment_fetch_pending ON attachment_fetch (state, complaint_id);
CREATE TABLE IF NOT EXISTS attachment_refs (
    sha256 TEXT NOT NULL,
    complaint_id TEXT NOT NULL,
    PRIMARY KEY (sha256, complaint_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS attachment_refs_complaint ON attachment_refs (complaint_id);
CREATE TABLE IF NOT EXISTS fetch_hold (
    complaint_id TEXT PRIMARY KEY,
    held_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS fetch_hold_age ON fetch_hold (held_at);
"""

#: The outbox read's filter: a row is left out while its complaint is held.
HELD_FILTER = "NOT EXISTS (SELECT 1 FROM fetch_hold h WHERE h.complaint_id = o.id)"


@dataclass(frozen=True, slots=True)
class FetchRow:
    """One link to download."""

    fid: int
    complaint_id: str
    channel: str
    idx: int
    url: str
    attempts: int
    created_at: float


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What became of one link: the attachment fields to change (``stored_ref``,
    ``sha256``, ``size``, ``content_type``; or ``omitted_reason``)."""

    fid: int
    idx: int
    update: dict[str, Any]

    @property
    def state(self) -> str:
        """``done`` when the file is in the store, else ``failed``."""
        return "done" if self.update.get("stored_ref") else "failed"


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables and indexes (idempotent)."""
    conn.executescript(SCHEMA)


def enqueue(conn: sqlite3.Connection, complaint_id: str, channel: str,
            links: Iterable[tuple[int, str]], now: float) -> None:
    """Inside the commit transaction: queue the links of a new complaint."""
    conn.executemany(
        "INSERT OR IGNORE INTO attachment_fetch (complaint_id, channel, idx, url, state, created_at) "
        "VALUES (?, ?, ?, ?, 'pending', ?)",
        [(complaint_id, channel, idx, url, now) for idx, url in links],
    )
    conn.execute("INSERT OR IGNORE INTO fetch_hold (complaint_id, held_at) VALUES (?, ?)", (complaint_id, now))


def has_expired(conn: sqlite3.Connection, cutoff: float) -> bool:
    """True when a hold began at or before ``cutoff`` (a cheap read, by index)."""
    return conn.execute("SELECT 1 FROM fetch_hold WHERE held_at <= ? LIMIT 1", (cutoff,)).fetchone() is not None


def release_expired(conn: sqlite3.Connection, cutoff: float) -> int:
    """Inside a write transaction: end the holds that began at or before ``cutoff``,
    giving their outbox rows a new seq. Returns how many were released."""
    ids = [r[0] for r in conn.execute("SELECT complaint_id FROM fetch_hold WHERE held_at <= ?", (cutoff,))]
    for complaint_id in ids:
        _release(conn, complaint_id)
    return len(ids)


def _release(conn: sqlite3.Connection, complaint_id: str, body: bytes | None = None) -> None:
    """End a complaint's hold: its outbox row (with ``body`` when given) under a new seq."""
    conn.execute("DELETE FROM fetch_hold WHERE complaint_id = ?", (complaint_id,))
    row = conn.execute("SELECT seq FROM outbox WHERE id = ? ORDER BY seq DESC LIMIT 1", (complaint_id,)).fetchone()
    if row is None:
        return
    conn.execute(
        "INSERT INTO outbox (id, channel, body, created_at) SELECT id, channel, coalesce(?, body), created_at "
        "FROM outbox WHERE seq = ?",
        (body, row[0]),
    )
    conn.execute("DELETE FROM outbox WHERE seq = ?", (row[0],))


def refer(conn: sqlite3.Connection, complaint_id: str, digests: Iterable[str]) -> None:
    """Inside a transaction: record that ``complaint_id`` refers to stored files."""
    conn.executemany(
        "INSERT OR IGNORE INTO attachment_refs (sha256, complaint_id) VALUES (?, ?)",
        [(d, complaint_id) for d in digests],
    )


def prune(conn: sqlite3.Connection) -> None:
    """Inside the spool's prune: forget fetches and references of complaints the
    ledger no longer holds."""
    conn.execute("DELETE FROM attachment_fetch WHERE complaint_id NOT IN (SELECT id FROM ledger)")
    conn.execute("DELETE FROM attachment_refs WHERE complaint_id NOT IN (SELECT id FROM ledger)")
    conn.execute("DELETE FROM fetch_hold WHERE complaint_id NOT IN (SELECT id FROM ledger)")


def referenced(conn: sqlite3.Connection) -> set[str]:
    """Digests of stored files some retained complaint refers to."""
    return {r[0] for r in conn.execute("SELECT DISTINCT sha256 FROM attachment_refs")}


class FetchQueue:
    """The fetcher's side of the queue, on a spool's file.

    Parameters:
        spool: the spool whose transactions the updates go through.
        hold_seconds: how long a complaint waits for its fetches.
    """

    def __init__(self, spool: Spool, hold_seconds: float) -> None:
        self.spool = spool
        self.hold_seconds = hold_seconds
        self._read = sqlite3.connect(
            spool.path, timeout=spool.busy_timeout, isolation_level=None, check_same_thread=False
        )

    def close(self) -> None:
        """Close the read connection."""
        self._read.close()

    def due(self, limit: int = 20) -> list[list[FetchRow]]:
        """The pending links, grouped by complaint, oldest complaint first."""
        rows = self._read.execute(
            "SELECT fid, complaint_id, channel, idx, url, attempts, created_at FROM attachment_fetch "
            "WHERE state = 'pending' AND complaint_id IN (SELECT complaint_id FROM attachment_fetch "
            "WHERE state = 'pending' ORDER BY fid LIMIT ?) ORDER BY fid",
            (limit,),
        ).fetchall()
        groups: dict[str, list[FetchRow]] = {}
        for r in rows:
            groups.setdefault(r[1], []).append(FetchRow(*r))
        return list(groups.values())

    def started(self, fid: int) -> None:
        """Count a download attempt before it starts (a file that kills the process
        is given up after a bounded number of restarts)."""
        with self.spool.transaction() as conn:
            conn.execute("UPDATE attachment_fetch SET attempts = attempts + 1 WHERE fid = ?", (fid,))

    def pending_count(self) -> int:
        """Links waiting to be downloaded."""
        return self._read.execute("SELECT count(*) FROM attachment_fetch WHERE state = 'pending'").fetchone()[0]

    def finish(self, complaint_id: str, results: Sequence[FetchResult],
               positions: Sequence[PhotoPosition] = (), now: float | None = None) -> bool:
        """Record the results of a complaint's fetches and rewrite its outbox body in
        one transaction: the attachments, and the location from the first photo
        ``positions`` that gives one when the complaint has no coordinates.

        Returns True when the complaint is complete (no fetch left pending).
        """
        now = now or time.time()
        with self.spool.transaction() as conn:
            for result in results:
                conn.execute(
                    "UPDATE attachment_fetch SET state = ?, done_at = ?, sha256 = ?, reason = ? "
                    "WHERE fid = ? AND state = 'pending'",
                    (result.state, now, result.update.get("sha256"), result.update.get("omitted_reason"), result.fid),
                )
            refer(conn, complaint_id, [r.update["sha256"] for r in results if r.state == "done"])
            left = conn.execute(
                "SELECT count(*) FROM attachment_fetch WHERE complaint_id = ? AND state = 'pending'", (complaint_id,)
            ).fetchone()[0]
            row = conn.execute(
                "SELECT seq, body FROM outbox WHERE id = ? ORDER BY seq DESC LIMIT 1", (complaint_id,)
            ).fetchone()
            if row is None:  # forwarded already (its hold was over): the store still keeps the files
                return left == 0
            seq, body = row
            body = _rewrite(body, results, positions)
            held = conn.execute("SELECT 1 FROM fetch_hold WHERE complaint_id = ?", (complaint_id,)).fetchone()
            if held and left == 0:
                _release(conn, complaint_id, body)
            else:
                # Still held (no reader has it) or released already (a reader may have it:
                # a new seq could publish it twice); the rewrite is made in place.
                conn.execute("UPDATE outbox SET body = ? WHERE seq = ?", (body, seq))
        return left == 0


def _rewrite(body: bytes, results: Sequence[FetchResult], positions: Sequence[PhotoPosition]) -> bytes:
    complaint = decode_complaint(body)
    attachments = list(complaint.attachments)
    for result in results:
        if 0 <= result.idx < len(attachments):
            attachments[result.idx] = attachments[result.idx].model_copy(update=result.update)
    update: dict[str, object] = {"attachments": tuple(attachments)}
    own = complaint.location
    if own.lat is None and own.long is None:
        for position in positions:
            found = place(position, complaint.requested_datetime)
            if found is not None:
                # The photo gives the point; what the channel said in words is kept.
                update["location"] = found.model_copy(update={
                    "address_string": own.address_string, "postal_code": own.postal_code})
                break
    return encode_complaint(Complaint.model_validate(complaint.model_copy(update=update).model_dump()))
