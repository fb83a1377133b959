"""Thread supervision: a process whose essential thread dies does not go on half-alive.

``kanal run`` is a handful of threads: the forwarder (or the embedded router) and its
confirmed-rows remover (``kanal-forwarder-marks``), one runner per channel, the
webhook server, the acknowledgement sender, the attachment fetcher, the heartbeat,
the systemd watchdog feeder, the metrics listener.
If one of them dies from an exception nobody expected - a bug, a library raising
something new - the others would keep taking complaints in while, say, nothing
reaches RabbitMQ any more. So every thread runs under a :class:`Supervisor`: an
exception that escapes a thread's loop, or a loop that returns before it was told
to stop, is logged with its traceback and *fails the process*: the supervisor sets
the process's stop event, the process shuts down in order and exits non-zero, and
systemd (``Restart=on-failure``) starts it again. The spool keeps everything that
was taken in, so a restart loses nothing.

One kind of thread is deliberately not supervised: an e-mail channel's folder
watchers (``imap-watch-<folder>``). They are part of a connector, and a bug in a
connector backs its channel off instead of stopping the process (see
:mod:`connectors.email.watch`): the watcher logs it with its traceback and the
channel's runner shows it in ``kanal status``.
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
        self._ended_as_asked: set[threading.Thread] = set()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.failure: str | None = None

    @property
    def threads(self) -> list[threading.Thread]:
        """The threads started so far."""
        return list(self._threads)

    def spawn(
        self, name: str, target: Callable[..., Any], *args: Any, ends_when: Callable[[], bool] | None = None
    ) -> threading.Thread:
        """Start ``target(*args)`` in a daemon thread called ``name``, supervised.

        Args:
            name: the thread's name (in the log line and the failure reason).
            target: the thread's loop.
            *args: its arguments.
            ends_when: for a helper thread whose owner may end it before the process
                stops (the forwarder's ``kanal-forwarder-marks`` ends with the
                forwarder): once this returns True, the thread returning is expected.
                An exception fails the process either way.
        """
        thread = threading.Thread(target=self._guard, args=(name, target, args, ends_when), name=name, daemon=True)
        # Listed once started: a listed thread that is not alive counts as dead, and
        # `/healthz` asked while a thread was listed but not yet started answered 503.
        thread.start()
        self._threads.append(thread)
        return thread

    def dead(self) -> list[str]:
        """Names of the threads that have ended, apart from those whose owner ended them
        (all of them count once stopping is over)."""
        return [t.name for t in self._threads if not t.is_alive() and t not in self._ended_as_asked]

    @property
    def is_stopping(self) -> bool:
        """True once :meth:`stopping` was called."""
        return self._stopping.is_set()

    def stopping(self) -> None:
        """Say that the process is shutting down: threads that end from now on end as asked."""
        self._stopping.set()

    def _guard(
        self, name: str, target: Callable[..., Any], args: tuple[Any, ...], ends_when: Callable[[], bool] | None
    ) -> None:
        try:
            target(*args)
        except BaseException as exc:
            log.critical("thread died; the process stops so that it can be restarted", thread=name, exc_info=True)
            self.fail(f"thread {name} died: {type(exc).__name__}: {exc}")
            return
        if ends_when is not None and ends_when():
            self._ended_as_asked.add(threading.current_thread())
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
