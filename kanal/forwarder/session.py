"""One broker session of the forwarder: connect, declare the intake topology, enter
confirm mode, publish while the confirm window has room, collect confirms, and end
(stop requested, or any failure) with every unconfirmed row left in the outbox.

Everything here runs on the session's pika IO loop thread, except
:meth:`Session.wake`.

Over 300 lines on purpose: it is one state machine, and its pika callbacks share
its state (the window, the idle timer, closing and stopping) and read best side by side.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pika
import pika.exceptions
from pika.adapters.select_connection import SelectConnection
from pika.spec import Basic

from kanal import topology as topo
from kanal.forwarder.connection import CLOSE_GRACE, broker_label, connection_parameters, describe, finish_closing
from kanal.forwarder.outbox import OutboxReader, basic_properties, wire_message
from kanal.forwarder.window import ConfirmWindow

if TYPE_CHECKING:
    from kanal.forwarder.service import Forwarder

#: Default seconds between looks at an empty outbox (``wake()`` cuts the wait short).
IDLE_POLL = 0.05
#: How often progress figures are logged while there is traffic, seconds.
STATS_EVERY = 30.0
#: How often the session checks for a stop request and a silent stall, seconds.
TICK = 0.1


def _guarded(callback: Callable[..., None]) -> Callable[..., None]:
    """Wrap a pika callback of :class:`Session`: pika catches what a callback raises and
    reports only a lost stream, which would turn a bug into an endless reconnect loop.
    Here the exception is kept as the session's ``crash`` (counted by the forwarder,
    which gives up after a few) and the session ends."""

    @functools.wraps(callback)
    def guarded(self: Session, *args: Any) -> None:
        try:
            callback(self, *args)
        except Exception as exc:  # noqa: BLE001 - kept as the session's crash, see above
            self._crashed(exc)

    return guarded


class Session:
    """One connection's life: connect, confirm mode, publish a window, collect confirms.

    Parameters:
        forwarder: the forwarder whose spool, broker settings, stats and confirmed-row
            remover the session uses.
        stop: set when the forwarder is to stop.
    """

    def __init__(self, forwarder: Forwarder, stop: threading.Event) -> None:
        self.forwarder = forwarder
        self.stop = stop
        self.log = forwarder.log
        self.stats = forwarder.stats
        broker = forwarder.broker
        self.exchange = broker.topology.intake_exchange
        self.routing_key = broker.topology.intake_routing_key
        self.params = connection_parameters(broker)
        self.window = ConfirmWindow(broker.confirm_window)
        self.outbox = OutboxReader(forwarder.spool, max(broker.batch_size, broker.confirm_window))

        self.connection: SelectConnection | None = None
        self.channel: Any = None
        self.failure: str | None = None
        #: An unexpected exception that ended the session (not a broker or network error).
        self.crash: BaseException | None = None
        self.confirmed = 0
        self._closing = False
        self._stopping_since: float | None = None
        self._ready = False
        self._marker = forwarder.marker
        self._idle_timer: Any = None
        self._wake_pending = False
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
        self.connection.ioloop.call_later(TICK, self._tick)
        try:
            self.connection.ioloop.start()
        except (pika.exceptions.AMQPError, OSError) as exc:
            self.log.warning("broker session failed", reason=describe(exc))
            self.failure = self.failure or f"session failed: {describe(exc)}"
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
            if not self.connection.is_closed:
                # The broker did not answer our close in time: do not wait for it here.
                finish_closing(self.connection, self.log)

    def _abandon(self) -> None:
        """Close the connection after an error escaped the IO loop, waiting at most
        :data:`CLOSE_GRACE` for the broker's answer."""
        connection = self.connection
        with contextlib.suppress(Exception):
            if connection is not None and connection.is_open:
                self._closing = False
                self._close()
                connection.ioloop.start()  # let the close complete

    def wake(self) -> None:
        """Thread-safe nudge: look at the outbox now rather than at the next poll.

        At most one nudge is queued on the IO loop at a time, so a burst of commits
        costs one loop wake-up; the flag is cleared before the outbox is read, so a
        commit that finds it set is still seen by that read.
        """
        connection = self.connection
        if connection is None or self._closing or self._wake_pending:
            return
        self._wake_pending = True
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
            self.log.warning("broker session failed", reason=reason, in_flight=len(self.window))
        self._close()

    def _close(self) -> None:
        if self._closing:
            return
        self._closing = True
        connection = self.connection
        if connection is not None and not (connection.is_closing or connection.is_closed):
            # While still opening, pika aborts the handshake and reports an open error.
            connection.close()
            connection.ioloop.call_later(CLOSE_GRACE, self._close_unanswered)

    @_guarded
    def _close_unanswered(self) -> None:
        """The broker did not answer our close (a stalled link): end the session now; the
        connection finishes closing on a thread of its own (see :func:`finish_closing`)."""
        connection = self.connection
        if connection is not None and not connection.is_closed:
            self.log.warning("no reply to the connection close; not waiting for it", grace=CLOSE_GRACE)
            connection.ioloop.stop()

    # -- connection and channel callbacks -------------------------------------

    @_guarded
    def _on_connection_open(self, connection: SelectConnection) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    @_guarded
    def _on_open_error(self, connection: SelectConnection, error: BaseException | str) -> None:
        self.failure = self.failure or f"cannot connect: {describe(error)}"
        connection.ioloop.stop()

    @_guarded
    def _on_connection_closed(self, connection: SelectConnection, reason: BaseException) -> None:
        if not self._closing and self.failure is None:
            self.failure = f"connection lost: {describe(reason)}"
            self.log.warning("broker connection lost", reason=describe(reason), in_flight=len(self.window))
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
            self._fail(f"channel closed: {describe(reason)}")

    @_guarded
    def _on_confirm_mode(self, _frame: Any) -> None:
        self._ready = True
        self.stats.connected = True
        self.log.info("broker session open", broker=broker_label(self.forwarder.broker), exchange=self.exchange)
        self._last_progress = time.monotonic()
        self._pump()

    # -- publishing ---------------------------------------------------------------

    def _pump(self) -> None:
        """Publish until the window is full or the outbox is empty."""
        if not self._ready or self._closing or self._stopping_since is not None:
            return
        if self._idle_timer is not None:
            self.connection.ioloop.remove_timeout(self._idle_timer)
            self._idle_timer = None
        channel = self.channel
        window = self.window
        try:
            while window.has_room():
                row = self.outbox.next_row()
                if row is None:
                    self._idle_timer = self.connection.ioloop.call_later(self.forwarder.idle_poll, self._on_idle_timer)
                    break
                message = wire_message(row)
                channel.basic_publish(
                    self.exchange, self.routing_key, message.body, basic_properties(message), mandatory=True
                )
                window.published(row)
                self.stats.published += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, len(window))
        except pika.exceptions.AMQPError as exc:
            self._fail(f"publish failed: {describe(exc)}")
        except sqlite3.Error as exc:  # the spool could not be read: retry the session later
            self.log.exception("reading the spool failed")
            self._fail(f"spool read failed: {type(exc).__name__}: {exc}")

    @_guarded
    def _on_idle_timer(self) -> None:
        self._idle_timer = None
        self._pump()

    @_guarded
    def _on_wake(self) -> None:
        self._wake_pending = False
        if self._idle_timer is not None:
            self._pump()

    # -- confirms -------------------------------------------------------------------

    @_guarded
    def _on_return(self, _channel: Any, method: Any, properties: pika.BasicProperties, _body: bytes) -> None:
        # With mandatory=True the broker returns a message no queue took, then acks
        # it; that ack must not count as delivery.
        self.stats.returned += 1
        self.window.returned(properties.message_id)
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
        rows = self.window.confirm(method.delivery_tag, method.multiple)
        if isinstance(method, Basic.Nack):
            self.stats.nacked += len(rows)
            self._fail(f"broker nacked {len(rows)} message(s)")
            return
        delivered = self.window.delivered(rows)
        if len(delivered) != len(rows):
            self._fail(f"{len(rows) - len(delivered)} message(s) returned as unroutable")
        self.confirmed += len(delivered)
        self.stats.confirmed += len(delivered)
        self.stats.last_confirm_at = time.time()
        self._last_progress = time.monotonic()
        self._marker.add([r.seq for r in delivered])
        if self._stopping_since is not None and not len(self.window):
            self._close()
            return
        self._pump()

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
        in_flight = len(self.window)
        if self.stop.is_set():
            if self._stopping_since is None:
                self._stopping_since = now
                if self._idle_timer is not None:
                    self.connection.ioloop.remove_timeout(self._idle_timer)
                    self._idle_timer = None
            if not in_flight:
                self._close()
                return
            if now - self._stopping_since >= self.forwarder.drain_timeout:
                self.log.warning("stopping with unconfirmed messages; they stay in the spool", rows=in_flight)
                self._close()
                return
        elif self._ready and in_flight and now - self._last_progress > self.forwarder.confirm_timeout:
            self._fail(f"no publisher confirm for {self.forwarder.confirm_timeout:.0f}s")
            return
        if now - self._last_stats[0] >= STATS_EVERY:
            if self.stats.published != self._last_stats[1]:
                self.log.info("forwarding", **self.forwarder.figures(), in_flight=in_flight)
            self._last_stats = (now, self.stats.published)
        self.connection.ioloop.call_later(TICK, self._tick)
