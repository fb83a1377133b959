"""Thread supervision: a process whose essential thread dies does not go on half-alive.

``kanal run`` is a handful of threads: the forwarder (or the embedded router), one
runner per channel, the webhook server, the acknowledgement sender, the attachment
fetcher, the heartbeat, the systemd watchdog feeder, the metrics listener.
If one of them dies from an exception nobody expected - a bug, a library raising
something new - the others would keep taking complaints in while, say, nothing
reaches RabbitMQ any more. So every thread runs under a :class:`Supervisor`: an
exception that escapes a thread's loop, or a loop that returns before it was told
to stop, is logged with its traceback and *fails the process*: the supervisor sets
the process's stop event, the process shuts down in order and exits non-zero, and
systemd (``Restart=on-failure``) starts it again. The spool keeps everything that
was taken in, so a restart loses nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger("kanal.supervisor")


class Supervisor:
    """Starts threads and turns an unexpected end of any of them into a process failure.

    Parameters:
        on_failure: called once, with a one-line reason, when a thread fails
            (``kanal run`` passes the setter of its stop event).
    """

    def __init__(self, on_failure: Callable[[str], None]) -> None:
        self._on_failure = on_failure
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.failure: str | None = None

    @property
    def threads(self) -> list[threading.Thread]:
        """The threads started so far."""
        return list(self._threads)

    def spawn(self, name: str, target: Callable[..., Any], *args: Any) -> threading.Thread:
        """Start ``target(*args)`` in a daemon thread called ``name``, supervised."""
        thread = threading.Thread(target=self._guard, args=(name, target, args), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread

    def dead(self) -> list[str]:
        """Names of the threads that have ended (all of them count once stopping is over)."""
        return [t.name for t in self._threads if not t.is_alive()]

    @property
    def is_stopping(self) -> bool:
        """True once :meth:`stopping` was called."""
        return self._stopping.is_set()

    def stopping(self) -> None:
        """Say that the process is shutting down: threads that end from now on end as asked."""
        self._stopping.set()

    def _guard(self, name: str, target: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            target(*args)
        except BaseException as exc:
            log.critical("thread died; the process stops so that it can be restarted", thread=name, exc_info=True)
            self.fail(f"thread {name} died: {type(exc).__name__}: {exc}")
            return
        if not self._stopping.is_set():
            log.critical("thread ended before it was asked to stop; the process stops", thread=name)
            self.fail(f"thread {name} ended unexpectedly")

    def fail(self, reason: str) -> None:
        """Fail the process with ``reason`` (the first reason wins)."""
        with self._lock:
            if self.failure is not None:
                return
            self.failure = reason
        self._on_failure(reason)
