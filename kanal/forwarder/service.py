"""The :class:`Forwarder`: broker sessions one after another until stopped, with a
tenacity backoff between failed ones, a bound on sessions that crash on a bug, and
the running totals that metrics and logs read."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pika
import structlog
import tenacity

from config.models import BrokerConfig
from kanal import topology as topo
from kanal.forwarder.connection import broker_label, connection_parameters
from kanal.forwarder.outbox import ConfirmedRows, Spawn, unsupervised
from kanal.forwarder.session import IDLE_POLL, Session
from kanal.spool import Spool

#: Longest backoff between connection attempts, seconds.
MAX_BACKOFF = 30.0
#: After a stop request, how long to wait for outstanding confirms, seconds.
DRAIN_TIMEOUT = 5.0
#: Sessions in a row that may crash on an unexpected exception before the forwarder gives up.
MAX_CRASHES = 3


class ForwarderCrashed(RuntimeError):
    """Sessions kept crashing on something that is not a broker or network error (a bug):
    the forwarder gives up and its process stops, to be restarted."""


class SessionFailed(Exception):
    """A broker session ended in a way that leaves rows unsent (retried with backoff)."""

    def __init__(self, reason: str, progressed: bool = False) -> None:
        super().__init__(reason)
        self.progressed = progressed


@dataclass
class ForwarderStats:
    """Running totals of one forwarder (read them from any thread)."""

    published: int = 0
    confirmed: int = 0
    nacked: int = 0
    returned: int = 0
    sessions: int = 0
    failures: int = 0
    max_in_flight: int = 0
    #: A session is open and in confirm mode (the broker takes complaints now).
    connected: bool = False
    #: Since when (Unix time) no session has been open; meaningless while ``connected``.
    disconnected_since: float = field(default_factory=time.time)
    #: When (Unix time) the broker last confirmed a message, or None.
    last_confirm_at: float | None = None


class Forwarder:
    """Publishes the spool's outbox to RabbitMQ with streaming publisher confirms.

    Parameters:
        spool: the spool to drain.
        broker: broker settings (``url``, ``password``, ``confirm_window``,
            ``batch_size``, ``heartbeat``, ``blocked_connection_timeout``, ``topology``).
        log: a structlog logger; defaults to the ``kanal`` logger bound to ``component=forwarder``.
        confirm_timeout: seconds without any confirm while messages are in flight
            before the session is given up (a silent stall); defaults to twice
            the heartbeat and at least 30 s, so that normally heartbeats notice a dead link first.
        drain_timeout: after a stop request, how long to wait for outstanding confirms.
        idle_poll: seconds between looks at an empty outbox. A commit in this process
            wakes the forwarder at once (the spool's commit listener); the poll finds rows
            that another process (``kanal quarantine retry``) committed.
        spawn: starts the forwarder's helper thread (:class:`ConfirmedRows`); ``kanal
            run`` passes its supervisor's ``spawn``, so that a bug there fails the process.
    """

    def __init__(
        self,
        spool: Spool,
        broker: BrokerConfig,
        log: Any = None,
        confirm_timeout: float | None = None,
        drain_timeout: float = DRAIN_TIMEOUT,
        idle_poll: float = IDLE_POLL,
        spawn: Spawn = unsupervised,
    ) -> None:
        self.spool = spool
        self.broker = broker
        self.log = log or structlog.get_logger("kanal").bind(component="forwarder")
        self.topology = topo.intake_topology(broker.topology)
        self.confirm_timeout = confirm_timeout or max(30.0, 2.0 * broker.heartbeat)
        self.drain_timeout = drain_timeout
        self.idle_poll = idle_poll
        self.spawn = spawn
        self.stats = ForwarderStats()
        self._session: Session | None = None
        self._session_lock = threading.Lock()
        self.marker: ConfirmedRows | None = None
        self._crashes = 0

    def declare_topology(self) -> None:
        """Declare the intake exchange, quorum queue, DLX and DLQ (idempotent).

        Raises:
            pika.exceptions.AMQPError: the broker is unreachable or refuses.
        """
        connection = pika.BlockingConnection(connection_parameters(self.broker))
        try:
            topo.declare(connection.channel(), self.topology)
        finally:
            if connection.is_open:
                connection.close()

    def run(self, stop: threading.Event) -> None:
        """Forward until ``stop`` is set; reconnects with backoff on any failure.

        On stop it publishes nothing new, waits up to a few seconds for outstanding
        confirms, removes the confirmed rows and closes the connection.
        """
        self.log.info("forwarder starting", broker=broker_label(self.broker), window=self.broker.confirm_window)
        self.marker = ConfirmedRows(self.spool, self.log, self.spawn)
        self.spool.add_commit_listener(self.wake)
        try:
            self._forward(stop)
        finally:
            self.spool.remove_commit_listener(self.wake)
            self.marker.close()
        self.log.info("forwarder stopped", **self.figures())

    def _forward(self, stop: threading.Event) -> None:
        while not stop.is_set():
            retrying = tenacity.Retrying(
                wait=tenacity.wait_random_exponential(multiplier=0.25, max=MAX_BACKOFF),
                retry=tenacity.retry_if_exception(lambda e: isinstance(e, SessionFailed) and not e.progressed),
                stop=tenacity.stop_when_event_set(stop),
                sleep=stop.wait,
                before_sleep=self._log_retry,
                reraise=True,
            )
            try:
                retrying(self._run_session, stop)
            except SessionFailed as exc:
                if not stop.is_set():
                    # The session had made progress: reconnect at once, backoff starts afresh.
                    self.log.warning("broker session ended; reconnecting", reason=str(exc))

    def wake(self) -> None:
        """Tell the forwarder new rows are in the outbox (thread-safe, cheap, never blocks);
        :meth:`run` has the spool call it after every commit that stored complaints."""
        with self._session_lock:
            session = self._session
        if session is not None:
            session.wake()

    def _run_session(self, stop: threading.Event) -> None:
        self.stats.sessions += 1
        session = Session(self, stop)
        with self._session_lock:
            self._session = session
        try:
            session.run()
        finally:
            with self._session_lock:
                self._session = None
            if self.stats.connected:
                self.stats.connected, self.stats.disconnected_since = False, time.time()
        if session.crash is not None:
            self._crashes = 0 if session.confirmed else self._crashes + 1
            if self.marker.error is not None:
                # Let the helper thread end first: its death, the cause, is then the
                # first one the supervisor reports.
                self.marker.join(timeout=5)
            if self._crashes >= MAX_CRASHES or self.marker.error is not None:
                msg = f"the forwarder crashed {self._crashes} time(s) in a row; giving up so the process restarts"
                raise ForwarderCrashed(msg) from session.crash
        else:
            self._crashes = 0
        if session.failure is not None:
            self.stats.failures += 1
            raise SessionFailed(session.failure, progressed=session.confirmed > 0)

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        self.log.warning(
            "broker unavailable; retrying",
            reason=str(exc),
            attempt=state.attempt_number,
            retry_in=round(delay, 2),
            spool_depth=self._depth(),
        )

    def _depth(self) -> int | None:
        try:
            return self.spool.depth()
        except sqlite3.Error:  # a figure for a log line is not worth failing over
            return None

    def figures(self) -> dict[str, Any]:
        """Progress figures for a log line: published, confirmed, nacked, returned, spool depth."""
        s = self.stats
        return {
            "published": s.published,
            "confirmed": s.confirmed,
            "nacked": s.nacked,
            "returned": s.returned,
            "spool_depth": self._depth(),
        }
