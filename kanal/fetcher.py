"""The attachment fetcher: downloads the links queued in the spool into the store.

Intake never waits for a provider: the runner commits a complaint with its fetch
rows (:mod:`kanal.fetch_queue`) and answers; this thread then downloads each link
with the credentials the channel's connector gives
(:meth:`connectors.base.Connector.fetch_auth`), within the store's caps
(:mod:`kanal.media_download`), stores the bytes (content-addressed), reads the
photo's EXIF position (:mod:`kanal.photo_place`) and rewrites the complaint in the
outbox, all of one complaint in one transaction. Until then the outbox read holds
the complaint back, for at most ``fetch_hold_seconds``: a link that is not done by
then (less one download's deadline, so the rewrite still lands while it is held)
is listed as ``fetch_timeout``. A crash during a download leaves the row pending;
the next start downloads it again (a file that crashes the process three times is
given up: ``fetch_failed``). The fetcher also prunes the store of files no retained
complaint refers to.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from connectors.attachments import LocalAttachmentStore, stored_ref
from kanal.fetch_queue import FetchQueue, FetchResult, FetchRow, referenced
from kanal.media_download import MediaDownloader
from kanal.photo_place import PhotoPosition, read_position

if TYPE_CHECKING:
    from config.models import AttachmentStoreConfig
    from connectors.base import Connector
    from kanal.spool import Spool

log = structlog.get_logger("kanal.fetcher")

#: Seconds between looks at the queue when it is empty.
POLL_INTERVAL = 0.2
#: Seconds between prunes of the store.
PRUNE_EVERY = 3600.0
#: Downloads of one link (counted across restarts) before it is given up.
MAX_STARTS = 3


class Fetcher:
    """Downloads queued attachment links (see the module docstring).

    Parameters:
        spool: the spool holding the queue and the outbox.
        store: where the files go.
        connectors: channel name -> connector, for the channels this process runs;
            links of other channels wait for the process that runs them.
        config: the ``attachments`` block (caps, hold, deadline, tries, CA bundle).
    """

    def __init__(self, spool: Spool, store: LocalAttachmentStore, connectors: Mapping[str, Connector],
                 config: AttachmentStoreConfig, poll_interval: float = POLL_INTERVAL) -> None:
        self.spool = spool
        self.store = store
        self.connectors = dict(connectors)
        self.config = config
        self.poll_interval = poll_interval
        self.queue = FetchQueue(spool, spool.fetch_hold_seconds)
        verify: bool | str = str(config.fetch_ca_bundle) if config.fetch_ca_bundle else True
        self.downloader = MediaDownloader(config.max_file_bytes, config.fetch_attempts, verify)

    def fetch_due(self, stop: threading.Event | None = None) -> int:
        """One pass over the queue; returns how many complaints were completed.

        Stops early, between two complaints, once ``stop`` is set: each complaint's links
        are recorded in one transaction, so one left for later is fetched from its start
        after a restart (a pass over many slow links used to hold a shutdown for minutes).
        """
        done = 0
        for rows in self.queue.due():
            if stop is not None and stop.is_set():
                break
            if rows[0].channel not in self.connectors:
                continue
            if self.fetch_complaint(rows):
                done += 1
        return done

    def fetch_complaint(self, rows: list[FetchRow]) -> bool:
        """Download a complaint's pending links and record them in one transaction."""
        # Give up early enough that the rewrite lands while the complaint is held.
        give_up_at = rows[0].created_at + self.spool.fetch_hold_seconds - self.config.fetch_timeout_seconds - 1
        connector = self.connectors[rows[0].channel]
        results: list[FetchResult] = []
        positions: list[PhotoPosition] = []
        for row in rows:
            update = self._fetch_one(row, connector, give_up_at)
            results.append(FetchResult(row.fid, row.idx, update))
            if update.get("stored_ref") and str(update.get("content_type", "")).startswith("image/"):
                position = read_position(self.store.get(update["sha256"]))
                if position is not None:
                    positions.append(position)
        complete = self.queue.finish(rows[0].complaint_id, results, positions)
        log.info("attachments fetched", complaint_id=rows[0].complaint_id, channel=rows[0].channel,
                 stored=sum(1 for r in results if r.state == "done"),
                 omitted=[r.update["omitted_reason"] for r in results if r.state == "failed"],
                 place_from_photo=bool(positions))
        return complete

    def _fetch_one(self, row: FetchRow, connector: Connector, give_up_at: float) -> dict:
        left = give_up_at - time.time()
        if left <= 0:
            return {"omitted_reason": "fetch_timeout"}
        if row.attempts >= MAX_STARTS:
            return {"omitted_reason": "fetch_failed"}
        try:
            auth = connector.fetch_auth(row.url)
        except Exception:  # a bug in a connector: the link stays a link, intake goes on
            log.exception("fetch_auth failed", channel=row.channel)
            auth = None
        if auth is None:
            return {"omitted_reason": "fetch_refused"}
        self.queue.started(row.fid)
        deadline = time.monotonic() + min(left, self.config.fetch_timeout_seconds)
        download = self.downloader.get(row.url, auth, deadline)
        if download.data is None:
            return {"omitted_reason": download.omitted_reason}
        digest = hashlib.sha256(download.data).hexdigest()
        self.store.put(digest, download.data)
        return {"stored_ref": stored_ref(digest), "sha256": digest, "size": len(download.data),
                "content_type": download.content_type, "omitted_reason": None}

    def prune_store(self, now: float | None = None) -> int:
        """Remove stored files no retained complaint refers to, older than the spool's
        retention (a younger file may belong to a commit under way). Returns how many."""
        cutoff = (now or time.time()) - self.spool.retention_seconds
        with self.spool.transaction() as conn:
            keep = referenced(conn)
        return prune_unreferenced(self.store.root, keep, cutoff)

    def run(self, stop: threading.Event) -> None:
        """Fetch until ``stop`` is set.

        Raises:
            Exception: anything but a database error of the spool (a bug); the
                supervisor then stops the process.
        """
        next_prune = time.monotonic() + 60
        try:
            while not stop.is_set():
                try:
                    if time.monotonic() >= next_prune:
                        gone = self.prune_store()
                        if gone:
                            log.info("attachment store pruned", removed=gone)
                        next_prune = time.monotonic() + PRUNE_EVERY
                    if not self.fetch_due(stop):
                        stop.wait(self.poll_interval)
                except sqlite3.Error:  # the spool is busy for a moment: look again later
                    log.exception("fetcher pass failed; retrying")
                    stop.wait(self.poll_interval * 4)
        finally:
            self.queue.close()
            self.downloader.close()


def prune_unreferenced(root: Path, keep: set[str], cutoff: float) -> int:
    """Delete files under ``root`` whose digest is not in ``keep`` and that were
    written before ``cutoff``. Returns how many were removed."""
    removed = 0
    for path in Path(root).glob("??/??/*"):
        name = path.name
        if len(name) != 64 or name in keep or name.startswith(".tmp-"):
            continue
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def store_usage(root: Path) -> tuple[int, int]:
    """(files, bytes) in the attachment store."""
    files = size = 0
    for path in Path(root).glob("??/??/*"):
        if len(path.name) == 64:
            files += 1
            size += path.stat().st_size
    return files, size
