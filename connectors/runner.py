"""The runner: the one place that owns the order of operations for every channel.

For each batch of raw messages it normalises (pure), quarantines what fails,
writes attachment bytes, and commits complaints plus the checkpoint in ONE spool
transaction; only then does it let the connector acknowledge the source (move
the file, mark the row, answer the webhook). A crash anywhere before the commit
means a re-fetch; a crash after it means a duplicate the spool ignores.

Channel states written for ``kanal status``: ``starting``, ``running``,
``backing_off``, ``auth_failed``, ``misconfigured``, ``needs_reauthorisation``, ``stopped``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from typing import Any

import tenacity

from connectors.attachments import LocalAttachmentStore
from connectors.base import (
    UNCHANGED,
    Accept,
    CheckpointAdvance,
    Connector,
    Drop,
    IngestResult,
    Outcome,
    RawMessage,
    SpoolWriter,
)
from connectors.errors import (
    AuthFailed,
    ChannelError,
    Misconfigured,
    NeedsReauthorisation,
    NormaliseError,
    RateLimited,
)
from normalizer.fields import InvalidField
from normalizer.wire import encode_complaint

#: Longest wait between retries of a failing channel, seconds.
MAX_BACKOFF = 300.0
#: How often a channel whose credentials were refused is tried again, seconds.
AUTH_RETRY = 300.0
#: How often a channel that needs re-authorisation checks its token again, seconds.
REAUTH_RETRY = 900.0
#: Upper bound on one rate-limit wait (a reset time far in the future is suspicious).
MAX_RATE_LIMIT_WAIT = 3600.0

_backoff = tenacity.wait_random_exponential(multiplier=1, max=MAX_BACKOFF)


def _printable(reason: str) -> str:
    """``reason`` as text SQLite and UTF-8 logs can store (lone surrogates escaped)."""
    return reason.encode("utf-8", "backslashreplace").decode("utf-8")


def backoff_delay(failures: int) -> float:
    """Exponential backoff with full jitter for the n-th consecutive failure."""
    state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})
    state.attempt_number = max(1, failures)
    return _backoff(state)


class ChannelRunner:
    """Runs one channel instance: polls (pull) and ingests (pull and push).

    Parameters:
        connector: the channel's connector.
        spool: where complaints become durable.
        attachments: the attachment store blobs are written to before a commit.
        batch_size: messages per spool transaction.
        stop: set to stop the channel; every wait watches it.
    """

    def __init__(
        self,
        connector: Connector,
        spool: SpoolWriter,
        attachments: LocalAttachmentStore,
        batch_size: int = 200,
        stop: threading.Event | None = None,
    ) -> None:
        self.connector = connector
        self.spool = spool
        self.attachments = attachments
        self.batch_size = batch_size
        self.stop = stop or threading.Event()
        self.log = connector.log
        self.name = connector.name
        self.type = connector.context.type

    # -- one batch ------------------------------------------------------------

    def decide(self, raw: RawMessage) -> tuple[Outcome, dict[str, bytes]]:
        """Normalise one raw message into an outcome (never raises).

        Everything that depends on the message's content happens here, encoding
        included, so one bad message of a batch is quarantined on its own and the
        others are still committed.
        """
        try:
            result = self.connector.normalise(raw)
            if result is None:
                result = Drop("unspecified")
            if isinstance(result, Drop):
                return Outcome(raw, "dropped", reason=result.reason), {}
            blobs: dict[str, bytes] = {}
            if isinstance(result, Accept):
                complaint, blobs = result.complaint, dict(result.blobs)
            else:
                complaint = result
            if complaint.raw_ref != raw.raw_ref:
                complaint = complaint.model_copy(update={"raw_ref": raw.raw_ref})
            body = encode_complaint(complaint)  # fails here, for this message alone, not in the batch commit
        except (NormaliseError, InvalidField) as exc:
            reason = _printable(str(exc))
            self.log.warning("message quarantined", source_id=raw.source_id, error=reason)
            return Outcome(raw, "quarantined", reason=reason), {}
        except Exception as exc:  # a bug in a normaliser must not stop the channel
            self.log.exception("normaliser failed; message quarantined", source_id=raw.source_id)
            return Outcome(raw, "quarantined", reason=_printable(f"{type(exc).__name__}: {exc}")), {}
        return Outcome(raw, "accepted", complaint=complaint, body=body), blobs

    def _link_replies(self, outcomes: list[Outcome]) -> list[Outcome]:
        """Keep ``in_reply_to`` only when it names a complaint Kanal took in."""
        wanted = {str(o.complaint.in_reply_to) for o in outcomes if o.complaint and o.complaint.in_reply_to}
        if not wanted:
            return outcomes
        known = self.spool.known_ids(wanted) | {str(o.complaint.id) for o in outcomes if o.complaint}
        linked = []
        for outcome in outcomes:
            complaint = outcome.complaint
            if complaint and complaint.in_reply_to and str(complaint.in_reply_to) not in known:
                complaint = complaint.model_copy(update={"in_reply_to": None})
                outcome = Outcome(outcome.raw, outcome.kind, complaint=complaint)
            linked.append(outcome)
        return linked

    def ingest(
        self, raws: Sequence[RawMessage], checkpoint: Any = UNCHANGED, wait: float | None = None
    ) -> list[IngestResult]:
        """Normalise ``raws`` and commit them with ``checkpoint`` in one transaction,
        then let the connector acknowledge the source. ``wait`` bounds the wait for
        the spool's lock (webhooks; None: the spool's own timeout).

        Raises:
            Exception: when the commit fails; nothing was acknowledged.
        """
        outcomes: list[Outcome] = []
        for raw in raws:
            outcome, blobs = self.decide(raw)
            for digest, data in blobs.items():
                self.attachments.put(digest, data)
            outcomes.append(outcome)
        outcomes = [
            Outcome(o.raw, o.kind, o.complaint, encode_complaint(o.complaint), o.reason)
            if o.complaint and o.body is None else o
            for o in self._link_replies(outcomes)
        ]
        results = self.spool.commit(self.name, self.type, outcomes, checkpoint, wait=wait)
        accepted = sum(1 for r in results if r.status == "accepted")
        if results:
            self.log.debug("batch committed", messages=len(results), accepted=accepted)
        try:
            self.connector.acknowledge(results)
        except Exception:  # safe: the next fetch re-offers and acknowledges again
            self.log.exception("acknowledging the source failed; it will be retried on the next poll")
        return results

    # -- pull loop --------------------------------------------------------------

    def poll_once(self) -> int:
        """Fetch everything new since the checkpoint and commit it in batches.

        Returns the number of messages handled. Stops early (after committing what
        it has) when ``stop`` is set.
        """
        since = self.spool.load_checkpoint(self.name)
        batch: list[RawMessage] = []
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
                        if item.checkpoint is not UNCHANGED:
                            checkpoint = item.checkpoint
                    if len(batch) >= self.batch_size:
                        committing = True
                        self.ingest(batch, checkpoint)
                        committing = False
                        handled += len(batch)
                        batch, checkpoint = [], UNCHANGED
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

    def _keep_before_failure(self, batch: list[RawMessage], checkpoint: Any) -> None:
        try:
            self.ingest(batch, checkpoint)
        except Exception:
            self.log.exception("could not keep the messages fetched before the failure; they will be re-fetched")

    def _set_state(self, state: str, detail: str | None = None, error: str | None = None) -> None:
        try:
            self.spool.set_state(self.name, self.type, state, detail, error)
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
                    self.stop.wait()
                    break
                handled = self.poll_once()
                if failures or held or not handled or not shown_running:
                    self.spool.mark_success(self.name, self.type)
                    shown_running = True
                if failures:
                    self.log.info("channel recovered", after_failures=failures)
                failures = 0
                held = False
                connector.wait(self.stop, connector.next_poll_delay() or connector.context.poll_interval)
            except RateLimited as exc:
                delay = min(exc.delay, MAX_RATE_LIMIT_WAIT)
                self.log.warning("rate limited; waiting", seconds=round(delay, 1), reason=str(exc))
                self._set_state("backing_off", f"rate limited for {delay:.0f}s", str(exc))
                held = True
                self.stop.wait(delay)
            except AuthFailed as exc:
                self.log.error("credentials refused; retrying slowly", error=str(exc), retry_in=AUTH_RETRY)
                self._set_state("auth_failed", f"retrying every {AUTH_RETRY:.0f}s", str(exc))
                held = True
                self.stop.wait(AUTH_RETRY)
            except Misconfigured as exc:
                self.log.error("channel misconfigured; fix the config or the source", error=str(exc),
                               retry_in=AUTH_RETRY)
                self._set_state("misconfigured", f"checked again every {AUTH_RETRY:.0f}s", str(exc))
                held = True
                opened = False
                with contextlib.suppress(Exception):
                    connector.close()
                self.stop.wait(AUTH_RETRY)
            except NeedsReauthorisation as exc:
                self.log.error("token revoked or expired; a person must re-authorise", error=str(exc))
                self._set_state("needs_reauthorisation", "re-authorise the token in the config", str(exc))
                held = True
                self.stop.wait(REAUTH_RETRY)
            except Exception as exc:
                failures += 1
                delay = backoff_delay(failures)
                if isinstance(exc, ChannelError):
                    self.log.warning("channel failing; backing off", error=str(exc), seconds=round(delay, 1))
                else:
                    self.log.exception("channel failed; backing off", seconds=round(delay, 1))
                    opened = False
                    with contextlib.suppress(Exception):
                        connector.close()
                self._set_state("backing_off", f"attempt {failures}, next in {delay:.0f}s",
                                f"{type(exc).__name__}: {exc}")
                self.stop.wait(delay)
        with contextlib.suppress(Exception):
            connector.close()
        self._set_state("stopped")
        self.log.info("channel stopped")

