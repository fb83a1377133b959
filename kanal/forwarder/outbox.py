"""The forwarder's side of the spool's outbox: which row to publish next, as which
AMQP message, and removing rows once the broker confirmed them."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import pika

from kanal.spool import OutboxRow, Spool
from normalizer.wire import WireMessage, damaged_wire, wire_from_body

#: Confirmed rows are removed from the outbox in one transaction once this many are
#: waiting, or after MARK_GATHER seconds, whichever comes first.
MARK_BATCH = 2000
MARK_GATHER = 0.05
#: After a failed attempt to remove confirmed rows from the outbox, wait this long, seconds.
MARK_RETRY = 1.0
#: How often the spool's retention pruning runs, seconds.
PRUNE_EVERY = 3600.0
#: The name of the thread that removes confirmed rows.
MARKS_THREAD = "kanal-forwarder-marks"

#: Starts a thread: ``spawn(name, target, *args, ends_when=...)``, as
#: :meth:`kanal.supervisor.Supervisor.spawn` does.
Spawn = Callable[..., threading.Thread]


def unsupervised(
    name: str, target: Callable[..., Any], *args: Any, ends_when: Callable[[], bool] | None = None
) -> threading.Thread:
    """Start a plain daemon thread (a forwarder used on its own, as tests do); an
    exception that ends it goes to :func:`threading.excepthook`."""
    del ends_when  # nobody to tell
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread


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


class OutboxReader:
    """Reads the outbox in ``seq`` order for one session, ``batch`` rows per query.

    Parameters:
        spool: the spool to read.
        batch: rows fetched per query.
    """

    def __init__(self, spool: Spool, batch: int) -> None:
        self.spool = spool
        self.batch = batch
        self._buffer: list[OutboxRow] = []
        self._pos = 0
        self._read_seq = 0  # highest seq read from the outbox in this session

    def next_row(self) -> OutboxRow | None:
        """The next row to publish, or None when the outbox has nothing more now.

        Raises:
            sqlite3.Error: the spool could not be read.
        """
        if self._pos >= len(self._buffer):
            self._buffer = self.spool.pending(self.batch, after_seq=self._read_seq)
            self._pos = 0
            if not self._buffer:
                return None
        row = self._buffer[self._pos]
        self._pos += 1
        self._read_seq = row.seq
        return row


class ConfirmedRows:
    """Removes confirmed rows from the outbox on its own thread, so the IO loop never
    waits for a disk sync; rows confirmed meanwhile are removed together in the next
    transaction. It also runs the spool's retention pruning now and then.

    A failed transaction (``sqlite3.Error``) is retried. Anything else is a bug: the
    thread records it in :attr:`error` (the forwarder stops publishing on seeing it)
    and ends with it, so that the supervisor in ``kanal run`` logs it with its
    traceback and fails the process (exit 1, systemd restarts it); confirmed rows
    left in the outbox are published again after the restart, with the same
    ``message_id``.

    Parameters:
        spool: the spool whose outbox it empties.
        log: the forwarder's logger.
        spawn: starts the thread (``kanal run`` passes its supervisor's ``spawn``);
            a plain daemon thread by default.
    """

    def __init__(self, spool: Spool, log: Any, spawn: Spawn = unsupervised) -> None:
        self.spool = spool
        self.log = log
        self._seqs: list[int] = []
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        #: What ended the thread, if anything did: the forwarder gives up on seeing it.
        self.error: BaseException | None = None
        self._thread = spawn(MARKS_THREAD, self._guarded, ends_when=lambda: self._closed)

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

    def join(self, timeout: float) -> None:
        """Wait for the thread to end, at most ``timeout`` seconds."""
        self._thread.join(timeout)

    def _guarded(self) -> None:
        try:
            self._run()
        except BaseException as exc:
            with self._cond:
                self.error = exc
                self._busy = False
                self._cond.notify_all()
            raise  # the supervisor logs it with its traceback and fails the process

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
