"""The runner: the one place that owns the order of operations for every channel.

For each batch of raw messages it normalises (pure), quarantines what fails,
writes attachment bytes, and commits complaints plus the checkpoint in ONE spool
transaction; only then does it let the connector acknowledge the source (move
the file, mark the row, answer the webhook). A crash anywhere before the commit
means a re-fetch; a crash after it means a duplicate the spool ignores. A reply to
the reporter (the connector's ``reply_for``) is granted in that same transaction and
sent later by :mod:`kanal.ack_sender`, never before the source is acknowledged.

Channel states written for ``kanal status``: ``starting``, ``running``,
``backing_off``, ``auth_failed``, ``needs_reauthorisation``, ``misconfigured``, ``stopped``.

The steps about one message live beside it: :mod:`connectors.decision` (normalise,
attachment links, the reply) and :mod:`connectors.reply_links` (threading replies).
Over 300 lines on purpose: the batch commit, the held-part sweep, the pull loop and
the channel states all drive one connector and one spool in one order, and read best
in one place.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading
import time
from collections.abc import Sequence
from typing import Any

from connectors.attachments import LocalAttachmentStore
from connectors.backoff import Backoff
from connectors.base import (
    UNCHANGED,
    ChannelState,
    CheckpointAdvance,
    Connector,
    IngestResult,
    Outcome,
    RawMessage,
)
from connectors.decision import decide, fetch_links, reply_for
from connectors.errors import AuthFailed, ChannelError, Misconfigured, NeedsReauthorisation, RateLimited, error_text
from connectors.observe import NO_OBSERVER, Observer
from connectors.reply_links import link_replies, resolve_replies
from connectors.spool_protocol import SpoolWriter
from normalizer.wire import encode_complaint

#: Default cap on the raw bytes of one batch (``batch_max_bytes`` of a channel).
DEFAULT_BATCH_MAX_BYTES = 32 * 1024 * 1024


class ChannelRunner:
    """Runs one channel instance: polls (pull) and ingests (pull and push).

    Parameters:
        connector: the channel's connector.
        spool: where complaints become durable.
        attachments: the attachment store blobs are written to before a commit.
        batch_size: messages per spool transaction.
        batch_max_bytes: raw bytes per spool transaction: a batch is committed as soon
            as its payloads reach this, so memory and one transaction stay bounded
            when messages are large (mail with attachments); one message larger than
            this is committed alone.
        stop: set to stop the channel; every wait watches it.
        backoff: how long to wait after a failure (see :mod:`connectors.backoff`).
        fetch_attachments: queue the links the connector allows (:meth:`Connector.fetch_auth`)
            for the fetcher, in the commit (:mod:`kanal.fetch_queue`).
    """

    #: Where poll times and the newest item's source time are reported (``kanal run`` sets it).
    observer: Observer = NO_OBSERVER

    def __init__(
        self,
        connector: Connector,
        spool: SpoolWriter,
        attachments: LocalAttachmentStore,
        batch_size: int = 200,
        stop: threading.Event | None = None,
        backoff: Backoff | None = None,
        batch_max_bytes: int = DEFAULT_BATCH_MAX_BYTES,
        fetch_attachments: bool = False,
    ) -> None:
        self.connector = connector
        self.spool = spool
        self.attachments = attachments
        self.batch_size = batch_size
        self.batch_max_bytes = batch_max_bytes
        self.fetch_attachments = fetch_attachments
        self.stop = stop or threading.Event()
        self.backoff = backoff or Backoff()
        self.log = connector.log
        self.name = connector.name
        self.type = connector.context.type
        connector.counter = functools.partial(spool.count, self.name)
        connector.state = ChannelState(functools.partial(spool.load_state, self.name),
                                       functools.partial(spool.save_state, self.name))

    # -- one batch ------------------------------------------------------------

    def decide(self, raw: RawMessage) -> tuple[Outcome, dict[str, bytes]]:
        """Normalise one raw message into an outcome (never raises); see :func:`connectors.decision.decide`."""
        return decide(self.connector, raw)

    def ingest(
        self, raws: Sequence[RawMessage], checkpoint: Any = UNCHANGED, wait: float | None = None,
        releases: Sequence[tuple[int, ...]] | None = None, answerable: bool = True,
    ) -> list[IngestResult]:
        """Normalise ``raws`` and commit them with ``checkpoint`` in one transaction,
        then let the connector acknowledge the source.

        ``releases`` (one tuple per raw) names the held parts each raw was built
        from; the spool marks them taken in the same transaction. ``answerable`` False:
        no webhook answer will carry these results, so no reply may travel in one.
        When parts were held, the messages they completed are joined and committed
        right after, and their results are added to the ones returned (so the
        webhook answer can carry their acknowledgement).

        Raises:
            Exception: when the commit fails; nothing was acknowledged.
        """
        outcomes: list[Outcome] = []
        for index, raw in enumerate(raws):
            outcome, blobs = self.decide(raw)
            for digest, data in blobs.items():
                self.attachments.put(digest, data)
            if releases:
                outcome = dataclasses.replace(outcome, releases=releases[index])
            outcomes.append(outcome)
        outcomes = [
            dataclasses.replace(o, body=o.body or encode_complaint(o.complaint),
                                reply=reply_for(self.connector, o.complaint, answerable),
                                fetch=fetch_links(self.connector, o.complaint) if self.fetch_attachments else ())
            if o.complaint else o
            for o in link_replies(self.spool, resolve_replies(self.spool, self.name, outcomes))
        ]
        results = self.spool.commit(self.name, self.type, outcomes, checkpoint, wait=wait)
        accepted = sum(1 for r in results if r.status == "accepted")
        if accepted and self.observer is not NO_OBSERVER:
            self._observe_newest(results)
        if results:
            self.log.debug("batch committed", messages=len(results), accepted=accepted)
        try:
            self.connector.acknowledge(results)
        except Exception:  # safe: the next fetch re-offers and acknowledges again
            self.log.exception("acknowledging the source failed; it will be retried on the next poll")
        if releases is None and any(r.status == "held" for r in results):
            results = results + self._join_held_safely(answerable)
        return results

    def _observe_newest(self, results: Sequence[IngestResult]) -> None:
        times = [r.complaint.requested_datetime.timestamp() for r in results
                 if r.status == "accepted" and r.complaint is not None]
        if times:
            self.observer.newest_item(self.name, max(times))

    # -- held parts ---------------------------------------------------------------

    def join_held(self, answerable: bool = False) -> list[IngestResult]:
        """Take the held parts that are ready: each whole message joined by the
        connector, and after ``hold_timeout`` each part of an unfinished one alone.
        Every raw is committed with the release of its parts."""
        timeout = self.connector.hold_timeout
        if timeout is None:
            return []
        raws: list[RawMessage] = []
        releases: list[tuple[int, ...]] = []
        for group in self.spool.held_ready(self.name, timeout):
            if group.complete:
                raws.append(self.connector.assemble([p.raw for p in group.parts], True))
                releases.append(tuple(p.pid for p in group.parts))
            else:
                for part in group.parts:
                    raws.append(self.connector.assemble([part.raw], False))
                    releases.append((part.pid,))
        return self.ingest(raws, releases=releases, answerable=answerable) if raws else []

    def _join_held_safely(self, answerable: bool = False) -> list[IngestResult]:
        try:
            return self.join_held(answerable)
        except Exception:  # the parts stay held; the channel's sweep joins them later
            self.log.exception("could not join held parts; they stay held and are tried again")
            return []

    def _wait_push_only(self) -> None:
        """Wait for stop; meanwhile sweep held parts when the connector holds any."""
        timeout = self.connector.hold_timeout
        if timeout is None:
            self.stop.wait()
            return
        interval = min(max(timeout / 4, 0.05), 5.0)
        while True:
            self._join_held_safely()
            if self.stop.wait(interval):
                return

    # -- pull loop --------------------------------------------------------------

    def poll_once(self) -> int:
        """Fetch everything new since the checkpoint and commit it in batches.

        Returns the number of messages handled. Stops early (after committing what
        it has) when ``stop`` is set.
        """
        since = self.spool.load_checkpoint(self.name)
        batch: list[RawMessage] = []
        batch_bytes = 0
        checkpoint: Any = UNCHANGED
        handled = 0
        fetched = self.connector.fetch(since)
        committing = False
        try:
            with contextlib.closing(fetched) if hasattr(fetched, "close") else contextlib.nullcontext():
                for item in fetched:
                    if isinstance(item, CheckpointAdvance):
                        checkpoint = item.value
                    else:
                        batch.append(item)
                        batch_bytes += len(item.payload)
                        if item.checkpoint is not UNCHANGED:
                            checkpoint = item.checkpoint
                    if len(batch) >= self.batch_size or batch_bytes >= self.batch_max_bytes:
                        committing = True
                        self.ingest(batch, checkpoint)
                        committing = False
                        handled += len(batch)
                        batch, batch_bytes, checkpoint = [], 0, UNCHANGED
                    if self.stop.is_set():
                        break
        except Exception:
            # The fetch failed part-way (a 429, a dropped connection): keep what it
            # yielded before the failure, with the checkpoint it made safe, so the
            # next poll resumes there instead of fetching it all again.
            if not committing and (batch or checkpoint is not UNCHANGED):
                self._keep_before_failure(batch, checkpoint)
            raise
        if batch or checkpoint is not UNCHANGED:
            self.ingest(batch, checkpoint)
            handled += len(batch)
        return handled

    def _timed_poll(self) -> int:
        started, ok = time.perf_counter(), False
        try:
            handled = self.poll_once()
            ok = True
            return handled
        finally:
            self.observer.poll_finished(self.name, time.perf_counter() - started, ok)

    def _keep_before_failure(self, batch: list[RawMessage], checkpoint: Any) -> None:
        try:
            self.ingest(batch, checkpoint)
        except Exception:
            self.log.exception("could not keep the messages fetched before the failure; they will be re-fetched")

    def _set_state(self, state: str, detail: str | None = None, error: str | None = None) -> None:
        try:
            self.spool.set_state(self.name, self.type, state, detail, error_text(error) if error else None)
        except Exception:  # status is best effort; intake is what matters
            self.log.exception("could not record channel state", state=state)

    def run(self) -> None:
        """Run until ``stop`` is set. Never raises: failures become channel states."""
        connector = self.connector
        self._set_state("starting")
        opened = False
        failures = 0
        held = False  # the last attempt ended in a rate-limit or credentials wait
        shown_running = False  # "running" recorded since the last state change
        while not self.stop.is_set():
            try:
                if not opened:
                    connector.open()
                    opened = True
                if not connector.pulls:
                    self._set_state("running", "push only")
                    self._wait_push_only()
                    break
                handled = self._timed_poll()
                if failures or held or not handled or not shown_running:
                    self.spool.mark_success(self.name, self.type)
                    shown_running = True
                if failures:
                    self.log.info("channel recovered", after_failures=failures)
                failures = 0
                held = False
                connector.wait(self.stop, connector.next_poll_delay() or connector.context.poll_interval)
            except RateLimited as exc:
                delay = self.backoff.delay(exc)
                self.log.warning("rate limited; waiting", seconds=round(delay, 1), reason=str(exc))
                self._set_state("backing_off", f"rate limited for {delay:.0f}s", str(exc))
                held = True
                self.stop.wait(delay)
            except AuthFailed as exc:
                delay = self.backoff.delay(exc)
                self.log.error("credentials refused; retrying slowly", error=str(exc), retry_in=delay)
                self._set_state("auth_failed", f"retrying every {delay:.0f}s", str(exc))
                held = True
                self.stop.wait(delay)
            except NeedsReauthorisation as exc:
                self.log.error("token revoked or expired; a person must re-authorise", error=str(exc))
                self._set_state("needs_reauthorisation", "re-authorise the token in the config", str(exc))
                held = True
                self.stop.wait(self.backoff.delay(exc))
            except Misconfigured as exc:
                delay = self.backoff.delay(exc)
                self.log.error("channel misconfigured; fix the config or the source", error=str(exc), retry_in=delay)
                self._set_state("misconfigured", f"checked again every {delay:.0f}s", str(exc))
                held = True
                opened = False
                with contextlib.suppress(Exception):
                    connector.close()
                self.stop.wait(delay)
            except Exception as exc:
                failures += 1
                delay = self.backoff.delay(exc, failures)
                if isinstance(exc, ChannelError):
                    self.log.warning("channel failing; backing off", error=str(exc), seconds=round(delay, 1))
                else:
                    self.log.exception("channel failed; backing off", seconds=round(delay, 1))
                    opened = False
                    with contextlib.suppress(Exception):
                        connector.close()
                detail = f"attempt {failures}, next in {delay:.0f}s"
                self._set_state("backing_off", detail, f"{type(exc).__name__}: {exc}")
                self.stop.wait(delay)
        with contextlib.suppress(Exception):
            connector.close()
        self._set_state("stopped")
        self.log.info("channel stopped")

