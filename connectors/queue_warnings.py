"""Throttling waitress's "Task queue depth is N" warnings to one every few seconds.

waitress logs that line for every request that finds all its threads busy; under a
burst of webhooks that is nearly one line per request, written on the thread that
does all the server's socket I/O. :class:`connectors.webhooks.WebhookServer` installs
the throttle when it is created.
"""

from __future__ import annotations

import logging
import threading
import time

#: Seconds between two of waitress's "Task queue depth" warnings that are let through.
QUEUE_WARNING_EVERY = 10.0


class QueueWarningThrottle(logging.Filter):
    """Lets one of waitress's "Task queue depth is N" warnings through per ``every``
    seconds, saying how many were held back since the last one.

    waitress logs that line for every request that finds all its threads busy, under
    its dispatcher lock, on the thread that does all the server's socket I/O: under a
    burst of webhooks (each waiting for its group commit) that is nearly one log line
    per request, and every connection waits while it is written. One line every few
    seconds tells an operator the same.
    """

    def __init__(self, every: float = QUEUE_WARNING_EVERY) -> None:
        super().__init__("waitress.queue")
        self.every = every
        self._next = 0.0
        self._held = 0
        self._lock = threading.Lock()

    @property
    def held(self) -> int:
        """Warnings held back since the last one let through."""
        with self._lock:
            return self._held

    def filter(self, record: logging.LogRecord) -> bool:
        """True for the first record of each period (with the count held back added)."""
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                self._held += 1
                return False
            held, self._held, self._next = self._held, 0, now + self.every
        if held:
            record.msg = f"{record.msg} ({held} more in the last {self.every:g} s not logged)"
        return True


def throttle_queue_warnings(every: float = QUEUE_WARNING_EVERY) -> None:
    """Install the throttle of waitress's queue warnings (see :class:`QueueWarningThrottle`),
    once per process."""
    queue_log = logging.getLogger("waitress.queue")
    if not any(isinstance(f, QueueWarningThrottle) for f in queue_log.filters):
        queue_log.addFilter(QueueWarningThrottle(every))
