"""The ack sender: delivers the replies queued in the spool's ack outbox.

Intake never waits for a gateway: the runner commits a complaint together with its
reply row (:mod:`kanal.ack_outbox`) and answers the webhook; this thread then asks
the channel's connector to deliver (:meth:`connectors.base.Connector.send_reply`).
A failed try is retried with exponential backoff (tenacity's
``wait_exponential``); after ``max_attempts`` tries the reply is marked ``failed``
and logged, and its recipient's window opens again. The sender also prunes
finished rows older than the spool's retention.

Replies are tried one at a time, oldest first. After a failure the whole channel
is held until that reply's next try, so a hanging gateway costs one timeout per
backoff step, not one per queued reply, and the others' tries are not used up.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import structlog
import tenacity

from connectors.errors import ReplyFailed
from kanal.ack_outbox import AckOutbox, AckRow

if TYPE_CHECKING:
    from connectors.base import Connector
    from kanal.spool import Spool

log = structlog.get_logger("kanal.acks")

#: Tries per reply before it is marked failed.
MAX_ATTEMPTS = 8
#: First retry delay, seconds; doubled per failed try (10 s, 20 s, ... capped).
BASE_DELAY = 10.0
#: Longest wait between two tries of one reply, seconds.
MAX_DELAY = 600.0
#: Seconds between looks at the outbox when nothing is due.
POLL_INTERVAL = 0.5
#: Seconds between prunes of finished rows.
PRUNE_EVERY = 3600.0


def retry_delay(attempts: int, base: float = BASE_DELAY, cap: float = MAX_DELAY) -> float:
    """Seconds to wait after the ``attempts``-th failed try (exponential, capped)."""
    wait = tenacity.wait_exponential(multiplier=base, max=cap)
    state = tenacity.RetryCallState(retry_object=None, fn=None, args=(), kwargs={})
    state.attempt_number = max(1, attempts)
    return wait(state)


class AckSender:
    """Delivers queued replies through their channel's connector.

    Parameters:
        spool: the spool holding the ack outbox.
        connectors: channel name -> connector, for the channels this process runs;
            replies of other channels stay pending for the process that runs them.
        max_attempts, base_delay, max_delay: the retry policy (see module constants).
        poll_interval: seconds between looks at the outbox when idle.
        clock: Unix time (the rows outlive the process, so not monotonic).
    """

    def __init__(
        self,
        spool: Spool,
        connectors: Mapping[str, Connector],
        max_attempts: int = MAX_ATTEMPTS,
        base_delay: float = BASE_DELAY,
        max_delay: float = MAX_DELAY,
        poll_interval: float = POLL_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spool = spool
        self.connectors = dict(connectors)
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.poll_interval = poll_interval
        self.clock = clock
        self.outbox = AckOutbox(spool)
        self._held: dict[str, float] = {}  # channel -> Unix time its gateway may be tried again

    def send_due(self) -> int:
        """One pass: try every reply that is due. Returns how many were delivered."""
        now = self.clock()
        ready = [name for name in self.connectors if self._held.get(name, 0.0) <= now]
        sent = 0
        for row in self.outbox.due(ready, now):
            if row.channel in self._held and self._held[row.channel] > now:
                continue
            retry_at = self._send(row)
            if retry_at is None:
                sent += 1
                self._held.pop(row.channel, None)
            else:
                self._held[row.channel] = retry_at
        return sent

    def _send(self, row: AckRow) -> float | None:
        """Try one reply; None when delivered, else when its channel may be tried again."""
        connector = self.connectors[row.channel]
        clog = connector.log.bind(complaint_id=row.complaint_id, ack=row.aid)
        try:
            connector.send_reply(row.recipient, row.text)
        except ReplyFailed as exc:
            error = str(exc)
        except Exception as exc:  # a bug or an unexpected library error: retried like a refusal
            connector.log.exception("sending the acknowledgement raised", complaint_id=row.complaint_id)
            error = f"{type(exc).__name__}"
        else:
            self.outbox.mark_sent(row.aid, row.channel, self.clock())
            clog.info("acknowledgement sent", attempts=row.attempts + 1)
            return None
        attempts = row.attempts + 1
        delay = retry_delay(attempts, self.base_delay, self.max_delay)
        if attempts >= self.max_attempts:
            self.outbox.mark_failed(row.aid, row.channel, error, self.clock())
            clog.error("acknowledgement given up", attempts=attempts, error=error)
        else:
            self.outbox.mark_retry(row.aid, error, self.clock() + delay)
            clog.warning("acknowledgement not delivered; will retry", attempts=attempts, error=error,
                         retry_in=round(delay, 1))
        return self.clock() + delay

    def prune(self) -> int:
        """Forget finished replies older than the spool's retention."""
        return self.outbox.prune(self.clock() - self.spool.retention_seconds)

    def run(self, stop: threading.Event) -> None:
        """Deliver replies until ``stop`` is set.

        Raises:
            Exception: anything but a database error of the spool (a bug); the
                supervisor then stops the process.
        """
        next_prune = time.monotonic()
        while not stop.is_set():
            try:
                if time.monotonic() >= next_prune:
                    gone = self.prune()
                    if gone:
                        log.info("ack outbox pruned", forgotten=gone)
                    next_prune = time.monotonic() + PRUNE_EVERY
                if not self.send_due():
                    stop.wait(self.poll_interval)
            except sqlite3.Error:  # the spool is busy or gone for a moment: look again later
                log.exception("ack sender pass failed; retrying")
                stop.wait(self.poll_interval * 4)
        self.outbox.close()
