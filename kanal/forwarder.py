"""The forwarder: spool outbox -> RabbitMQ, with streaming publisher confirms.

It drains the outbox in ``seq`` order and publishes each complaint as a
persistent, mandatory message (the contract of :mod:`normalizer.wire`) on a pika
``SelectConnection`` in confirm mode, with up to ``confirm_window`` messages in
flight. A row leaves the outbox (``Spool.mark_forwarded``) only once the broker
acked it. Anything else - a nack, a ``basic.return`` (unroutable), a closed
channel or connection, a blocked connection past ``blocked_connection_timeout``,
confirms that stop coming - ends the session: every unconfirmed row counts as
unsent and is published again on the next session, after a tenacity backoff
(exponential, full jitter, capped). A message in doubt may therefore reach the
queue twice, always with the same ``message_id``; consumers drop repeats.

While the broker is away the channels go on committing into the spool; the
forwarder catches up when it returns.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
import structlog
import tenacity
from pika.adapters.select_connection import SelectConnection
from pika.spec import Basic

from config.models import BrokerConfig
from kanal import topology as topo
from kanal.spool import OutboxRow, Spool
from normalizer.wire import WireMessage, damaged_wire, wire_from_body

#: Seconds between looks at an empty outbox (``wake()`` cuts the wait short).
IDLE_POLL = 0.05
#: Longest backoff between connection attempts, seconds.
MAX_BACKOFF = 30.0
#: After a stop request, how long to wait for outstanding confirms, seconds.
DRAIN_TIMEOUT = 5.0
#: Confirmed rows are removed from the outbox in one transaction once this many are
#: waiting, or after MARK_GATHER seconds, whichever comes first.
MARK_BATCH = 2000
MARK_GATHER = 0.05
#: After a failed attempt to remove confirmed rows from the outbox, wait this long, seconds.
MARK_RETRY = 1.0
#: How long the broker gets to answer a connection close before the socket is dropped.
CLOSE_GRACE = 2.0
#: How often the spool's retention pruning runs, seconds.
PRUNE_EVERY = 3600.0
#: Sessions in a row that may crash on an unexpected exception before the forwarder gives up.
MAX_CRASHES = 3
#: How often progress figures are logged while there is traffic, seconds.
STATS_EVERY = 30.0


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


def connection_parameters(broker: BrokerConfig) -> pika.URLParameters:
    """pika parameters for ``broker``: its URL with the ``password`` secret, and the
    configured heartbeat and blocked-connection timeout.

    Raises:
        ValueError: no broker URL is configured (the embedded default has no broker).
    """
    params = pika.URLParameters(broker.connection_url())
    params.heartbeat = broker.heartbeat
    params.blocked_connection_timeout = broker.blocked_connection_timeout
    params.connection_attempts = 1
    params.socket_timeout = 10
    params.client_properties = {"connection_name": "kanal-forwarder"}
    return params


def broker_label(broker: BrokerConfig) -> str:
    """``host:port/vhost`` of the broker, safe to log (no user, no password)."""
    return broker.label()


def wire_message(row: OutboxRow) -> WireMessage:
    """The AMQP message for an outbox row.

    A body that no longer parses as a complaint (it was written by Kanal, so this
    means a damaged spool) is still published, with the contract's properties
    filled from the row, so that it ends up visible in the router's dead-letter
    queue instead of blocking the outbox or vanishing.
    """
    try:
        return wire_from_body(row.body)
    except ValueError:
        return damaged_wire(row.body, row.id, row.channel)


def basic_properties(message: WireMessage) -> pika.BasicProperties:
    """pika properties of a wire message (persistent)."""
    return pika.BasicProperties(
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        headers=message.headers,
        delivery_mode=message.delivery_mode,
        message_id=message.message_id,
        timestamp=message.timestamp,
        type=message.type,
    )


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
    """

    def __init__(
        self,
        spool: Spool,
        broker: BrokerConfig,
        log: Any = None,
        confirm_timeout: float | None = None,
        drain_timeout: float = DRAIN_TIMEOUT,
    ) -> None:
        self.spool = spool
        self.broker = broker
        self.log = log or structlog.get_logger("kanal").bind(component="forwarder")
        self.topology = topo.intake_topology(broker.topology)
        self.confirm_timeout = confirm_timeout or max(30.0, 2.0 * broker.heartbeat)
        self.drain_timeout = drain_timeout
        self.stats = ForwarderStats()
        self._session: _Session | None = None
        self._session_lock = threading.Lock()
        self._marker: _ConfirmedRows | None = None
        self._crashes = 0

    # -- public API -------------------------------------------------------------

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
        self._marker = _ConfirmedRows(self.spool, self.log)
        try:
            self._forward(stop)
        finally:
            self._marker.close()
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
        """Tell the forwarder new rows are in the outbox (thread-safe; optional)."""
        with self._session_lock:
            session = self._session
        if session is not None:
            session.wake()

    # -- sessions -----------------------------------------------------------------

    def _run_session(self, stop: threading.Event) -> None:
        self.stats.sessions += 1
        session = _Session(self, stop)
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
            if self._crashes >= MAX_CRASHES or self._marker.error is not None:
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


class _ConfirmedRows:
    """Removes confirmed rows from the outbox on its own thread, so the IO loop never
    waits for a disk sync; rows confirmed meanwhile are removed together in the next
    transaction. It also runs the spool's retention pruning now and then."""

    def __init__(self, spool: Spool, log: Any) -> None:
        self.spool = spool
        self.log = log
        self._seqs: list[int] = []
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        #: What ended the thread, if anything did: the forwarder gives up on seeing it.
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._guarded, name="kanal-forwarder-marks", daemon=True)
        self._thread.start()

    def add(self, seqs: list[int]) -> None:
        """Queue confirmed rows for removal."""
        if seqs:
            with self._cond:
                self._seqs.extend(seqs)
                self._cond.notify_all()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every queued row is removed (or ``timeout``); True if done."""
        with self._cond:
            return self._cond.wait_for(lambda: (not self._seqs and not self._busy) or self.error is not None, timeout)

    def close(self) -> None:
        """Remove what is queued, then stop the thread."""
        self.flush()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=10)

    def _guarded(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            self.log.critical("removing confirmed rows failed unexpectedly", exc_info=True)
            with self._cond:
                self.error = exc
                self._busy = False
                self._cond.notify_all()

    def _run(self) -> None:
        next_prune = time.monotonic()
        while True:
            if time.monotonic() >= next_prune:
                self._prune()
                next_prune = time.monotonic() + PRUNE_EVERY
            with self._cond:
                self._cond.wait_for(lambda: self._seqs or self._closed, max(0.0, next_prune - time.monotonic()))
                if self._closed and not self._seqs:
                    return
                if not self._seqs:
                    continue
                # Gather a moment: fewer, larger transactions (each one is a disk sync).
                self._cond.wait_for(lambda: len(self._seqs) >= MARK_BATCH or self._closed, MARK_GATHER)
                seqs, self._seqs, self._busy = self._seqs, [], True
            try:
                self.spool.mark_forwarded(seqs)
            except sqlite3.Error:
                # Confirmed but still in the outbox. Try again shortly; if the process
                # ends first they are published again (same message_id), never lost.
                self.log.exception("could not remove confirmed rows from the spool", rows=len(seqs))
                time.sleep(MARK_RETRY)
                with self._cond:
                    self._seqs[:0] = seqs
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


    def _prune(self) -> None:
        try:
            gone = self.spool.prune()
        except sqlite3.Error:  # housekeeping must never stop forwarding
            self.log.exception("spool pruning failed")
            return
        if gone:
            self.log.info("spool pruned", forgotten_ids=gone)


def _guarded(callback: Callable[..., None]) -> Callable[..., None]:
    """Wrap a pika callback of :class:`_Session`: pika catches what a callback raises and
    reports only a lost stream, which would turn a bug into an endless reconnect loop.
    Here the exception is kept as the session's ``crash`` (counted by the forwarder,
    which gives up after :data:`MAX_CRASHES`) and the session ends."""

    @functools.wraps(callback)
    def guarded(self: _Session, *args: Any) -> None:
        try:
            callback(self, *args)
        except Exception as exc:  # noqa: BLE001 - kept as the session's crash, see above
            self._crashed(exc)

    return guarded


class _Session:
    """One connection's life: connect, confirm mode, publish a window, collect confirms.

    Everything here runs on the pika IO loop thread, except :meth:`wake`.
    """

    def __init__(self, forwarder: Forwarder, stop: threading.Event) -> None:
        self.forwarder = forwarder
        self.spool = forwarder.spool
        self.stop = stop
        self.log = forwarder.log
        self.stats = forwarder.stats
        broker = forwarder.broker
        self.window = broker.confirm_window
        self.read_batch = max(broker.batch_size, self.window)
        self.exchange = broker.topology.intake_exchange
        self.routing_key = broker.topology.intake_routing_key
        self.params = connection_parameters(broker)

        self.connection: SelectConnection | None = None
        self.channel: Any = None
        self.failure: str | None = None
        #: An unexpected exception that ended the session (not a broker or network error).
        self.crash: BaseException | None = None
        self.confirmed = 0
        self._closing = False
        self._stopping_since: float | None = None
        self._ready = False
        self._next_tag = 0
        self._in_flight: dict[int, OutboxRow] = {}  # delivery tag -> row, in publish order
        self._returned: set[str] = set()  # message ids the broker returned as unroutable
        self._buffer: list[OutboxRow] = []
        self._buffer_pos = 0
        self._read_seq = 0  # highest seq read from the outbox in this session
        self._marker = forwarder._marker
        self._idle_timer: Any = None
        self._last_progress = time.monotonic()
        self._last_stats = (0, 0)

    # -- lifecycle ----------------------------------------------------------

    def run(self) -> None:
        """Connect and run the IO loop until the session ends (stop or failure)."""
        self.connection = SelectConnection(
            self.params,
            on_open_callback=self._on_connection_open,
            on_open_error_callback=self._on_open_error,
            on_close_callback=self._on_connection_closed,
        )
        # Ticks from the start, so a stop request is honoured even while connecting.
        self.connection.ioloop.call_later(0.1, self._tick)
        try:
            self.connection.ioloop.start()
        except (pika.exceptions.AMQPError, OSError) as exc:
            self.log.warning("broker session failed", reason=_describe(exc))
            self.failure = self.failure or f"session failed: {_describe(exc)}"
            self._abandon()
        except Exception as exc:
            # A bug, or a surprise from pika: retried a bounded number of times, then
            # the forwarder raises it and the process stops (to be restarted).
            self.log.exception("broker session crashed")
            self.crash = exc
            self.failure = self.failure or f"session crashed: {type(exc).__name__}: {exc}"
            self._abandon()
        finally:
            # The next session re-reads the outbox: confirmed rows must be gone by then.
            self._marker.flush()

    def _abandon(self) -> None:
        """Drop the connection without the closing handshake (after a crash)."""
        connection = self.connection
        with contextlib.suppress(Exception):
            if connection is not None and connection.is_open:
                connection.close()
                connection.ioloop.start()  # let the close complete

    def wake(self) -> None:
        """Thread-safe nudge: look at the outbox now rather than at the next poll."""
        connection = self.connection
        if connection is None or self._closing:
            return
        try:
            connection.ioloop.add_callback_threadsafe(self._on_wake)
        except OSError:  # the loop is closing; the next session reads the outbox anyway
            return

    def _crashed(self, exc: Exception) -> None:
        """An unexpected exception in a callback: keep it, log it with its traceback, end the session."""
        if self.crash is None:
            self.crash = exc
            self.log.error("broker session crashed on an unexpected error", exc_info=exc)
        self.failure = self.failure or f"session crashed: {type(exc).__name__}: {exc}"
        connection = self.connection
        if connection is None or connection.is_closed:
            if connection is not None:
                connection.ioloop.stop()
            return
        self._closing = False  # a close may have been under way: make sure one is
        self._close()

    def _fail(self, reason: str) -> None:
        """End the session; every unconfirmed row counts as unsent."""
        if self.failure is None and not self._closing:
            self.failure = reason
            self.log.warning("broker session failed", reason=reason, in_flight=len(self._in_flight))
        self._close()

    def _close(self) -> None:
        if self._closing:
            return
        self._closing = True
        connection = self.connection
        if connection is not None and not (connection.is_closing or connection.is_closed):
            # While still opening, pika aborts the handshake and reports an open error.
            connection.close()
            connection.ioloop.call_later(CLOSE_GRACE, self._force_close)

    @_guarded
    def _force_close(self) -> None:
        """Drop the socket when the broker does not answer our close (a stalled link)."""
        connection = self.connection
        if connection is not None and not connection.is_closed:
            # pika has no public abort; this is the call its own heartbeat checker makes.
            connection._terminate_stream(
                pika.exceptions.AMQPConnectionError(f"no reply to close within {CLOSE_GRACE}s")
            )

    # -- connection and channel callbacks -------------------------------------

    @_guarded
    def _on_connection_open(self, connection: SelectConnection) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    @_guarded
    def _on_open_error(self, connection: SelectConnection, error: BaseException | str) -> None:
        self.failure = self.failure or f"cannot connect: {_describe(error)}"
        connection.ioloop.stop()

    @_guarded
    def _on_connection_closed(self, connection: SelectConnection, reason: BaseException) -> None:
        if not self._closing and self.failure is None:
            self.failure = f"connection lost: {_describe(reason)}"
            self.log.warning("broker connection lost", reason=_describe(reason), in_flight=len(self._in_flight))
        connection.ioloop.stop()

    @_guarded
    def _on_channel_open(self, channel: Any) -> None:
        self.channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        # Declared on every connect: a broker restarted from scratch, or a binding
        # someone deleted, is repaired before anything is published.
        topo.declare_async(channel, self.forwarder.topology, self._on_topology_declared)

    @_guarded
    def _on_topology_declared(self) -> None:
        self.channel.confirm_delivery(ack_nack_callback=self._on_confirm, callback=self._on_confirm_mode)

    @_guarded
    def _on_channel_closed(self, _channel: Any, reason: BaseException) -> None:
        if not self._closing:
            self._fail(f"channel closed: {_describe(reason)}")

    @_guarded
    def _on_confirm_mode(self, _frame: Any) -> None:
        self._ready = True
        self.stats.connected = True
        self.log.info("broker session open", broker=broker_label(self.forwarder.broker), exchange=self.exchange)
        self._last_progress = time.monotonic()
        self._pump()

    # -- publishing ---------------------------------------------------------------

    def _next_row(self) -> OutboxRow | None:
        if self._buffer_pos >= len(self._buffer):
            self._buffer = self.spool.pending(self.read_batch, after_seq=self._read_seq)
            self._buffer_pos = 0
            if not self._buffer:
                return None
        row = self._buffer[self._buffer_pos]
        self._buffer_pos += 1
        self._read_seq = row.seq
        return row

    def _pump(self) -> None:
        """Publish until the window is full or the outbox is empty."""
        if not self._ready or self._closing or self._stopping_since is not None:
            return
        if self._idle_timer is not None:
            self.connection.ioloop.remove_timeout(self._idle_timer)
            self._idle_timer = None
        channel = self.channel
        in_flight = self._in_flight
        try:
            while len(in_flight) < self.window:
                row = self._next_row()
                if row is None:
                    self._idle_timer = self.connection.ioloop.call_later(IDLE_POLL, self._on_idle_timer)
                    break
                message = wire_message(row)
                channel.basic_publish(
                    self.exchange, self.routing_key, message.body, basic_properties(message), mandatory=True
                )
                self._next_tag += 1
                in_flight[self._next_tag] = row
                self.stats.published += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, len(in_flight))
        except pika.exceptions.AMQPError as exc:
            self._fail(f"publish failed: {_describe(exc)}")
        except sqlite3.Error as exc:  # the spool could not be read: retry the session later
            self.log.exception("reading the spool failed")
            self._fail(f"spool read failed: {type(exc).__name__}: {exc}")

    @_guarded
    def _on_idle_timer(self) -> None:
        self._idle_timer = None
        self._pump()

    @_guarded
    def _on_wake(self) -> None:
        if self._idle_timer is not None:
            self._pump()

    # -- confirms -------------------------------------------------------------------

    @_guarded
    def _on_return(self, _channel: Any, method: Any, properties: pika.BasicProperties, _body: bytes) -> None:
        # With mandatory=True the broker returns a message no queue took, then acks
        # it; that ack must not count as delivery.
        self.stats.returned += 1
        self._returned.add(properties.message_id)
        self.log.error(
            "message unroutable; the intake binding is missing",
            message_id=properties.message_id,
            exchange=method.exchange,
            routing_key=method.routing_key,
            reply_text=method.reply_text,
        )

    @_guarded
    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        tag = method.delivery_tag
        rows = self._take_confirmed(tag, method.multiple)
        if isinstance(method, Basic.Nack):
            self.stats.nacked += len(rows)
            self._fail(f"broker nacked {len(rows)} message(s)")
            return
        delivered = [r for r in rows if r.id not in self._returned]
        if len(delivered) != len(rows):
            self._fail(f"{len(rows) - len(delivered)} message(s) returned as unroutable")
        self.confirmed += len(delivered)
        self.stats.confirmed += len(delivered)
        self.stats.last_confirm_at = time.time()
        self._last_progress = time.monotonic()
        self._marker.add([r.seq for r in delivered])
        if self._stopping_since is not None and not self._in_flight:
            self._close()
            return
        self._pump()

    def _take_confirmed(self, tag: int, multiple: bool) -> list[OutboxRow]:
        in_flight = self._in_flight
        if not multiple:
            row = in_flight.pop(tag, None)
            return [row] if row is not None else []
        rows = []
        while in_flight:
            first = next(iter(in_flight))
            if first > tag:
                break
            rows.append(in_flight.pop(first))
        return rows

    # -- periodic checks --------------------------------------------------------------

    @_guarded
    def _tick(self) -> None:
        if self._closing:
            return
        if self._marker.error is not None:
            self.crash = self._marker.error
            self._fail("removing confirmed rows from the spool failed")
            return
        now = time.monotonic()
        if self.stop.is_set():
            if self._stopping_since is None:
                self._stopping_since = now
                if self._idle_timer is not None:
                    self.connection.ioloop.remove_timeout(self._idle_timer)
                    self._idle_timer = None
            if not self._in_flight:
                self._close()
                return
            if now - self._stopping_since >= self.forwarder.drain_timeout:
                self.log.warning(
                    "stopping with unconfirmed messages; they stay in the spool", rows=len(self._in_flight)
                )
                self._close()
                return
        elif self._ready and self._in_flight and now - self._last_progress > self.forwarder.confirm_timeout:
            self._fail(f"no publisher confirm for {self.forwarder.confirm_timeout:.0f}s")
            return
        if now - self._last_stats[0] >= STATS_EVERY:
            if self.stats.published != self._last_stats[1]:
                self.log.info("forwarding", **self.forwarder.figures(), in_flight=len(self._in_flight))
            self._last_stats = (now, self.stats.published)
        self.connection.ioloop.call_later(0.1, self._tick)


def _describe(error: BaseException | str) -> str:
    """A short, password-free description of a pika error."""
    if isinstance(error, str):
        return error
    text = str(error) or repr(error)
    return f"{type(error).__name__}: {text}"


__all__ = [
    "Forwarder",
    "ForwarderStats",
    "SessionFailed",
    "basic_properties",
    "broker_label",
    "connection_parameters",
    "wire_message",
]
