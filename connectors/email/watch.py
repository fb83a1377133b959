"""Watching the folders other than the first: one IDLE connection per folder.

The channel's own connection fetches, moves and IDLEs on the first folder; each
further folder gets a :class:`FolderWatcher` thread with a connection of its own
that only SELECTs and IDLEs, and wakes the channel when mail arrives there.

Why IDLE per folder and not NOTIFY (RFC 5465, one connection for all folders):
Gmail and Microsoft 365, the servers most mailboxes here live on, do not offer
NOTIFY, so per-folder IDLE is needed anyway; on Dovecot, which offers both, the
measured append-to-spool latency is the same (benchmarks/bench_email_folders.py,
docs/email.md). One code path that works everywhere costs one connection per folder.

Failures: a :class:`~connectors.errors.ChannelError` (a dropped connection, a
refused login, a server error: the client turns every socket and IMAP failure into
one) is retried on a fresh connection, with a growing pause; the channel's poll
covers the folder meanwhile. Anything else is a bug, and it ends the watcher: the
watcher logs it at ``error`` with its traceback (its thread, ``imap-watch-<folder>``,
in the line), keeps it in :attr:`FolderWatcher.error` and wakes the channel, whose
:meth:`~connectors.email.connector.EmailConnector.wait` raises it as
:class:`WatcherDied`. The runner then treats it as it treats any bug in a connector:
logs it with its traceback, shows the channel as ``backing_off`` with the error in
``kanal status`` (``last_error``), and after the backoff opens the channel again.
New watchers start after a pause that doubles with every such death (30 s up to
15 min, :data:`WATCHERS_AFTER_BUG`); the poll reads those folders meanwhile.
:class:`FolderWatchers` keeps the channel's set of watchers and that pause.

Why a watcher is not started by the process's supervisor, whose threads fail the
whole process when they die: it belongs to one channel, and what it does is
optional (the poll reads the folder anyway). A bug that a server's answer triggers
would strike again after every restart, and stopping ``kanal run`` for it would stop
every other channel and the webhooks with it, over and over. Backing off this one
channel keeps the failure visible without taking the rest down, the same rule as
for a bug in any connector's fetch (docs/operations.md, "No silent death").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from connectors.email.client import MailboxClient
from connectors.errors import ChannelError

#: Longest pause between two reconnect attempts of a watcher, seconds.
MAX_RETRY_SECONDS = 60.0
#: After a folder watcher died of a bug, the watchers start again only after this many
#: seconds, doubled with every further death (at most WATCHERS_AFTER_BUG_MAX): the
#: poll reads those folders meanwhile, and a bug that strikes at once does not make
#: the channel log in again every second.
WATCHERS_AFTER_BUG = 30.0
WATCHERS_AFTER_BUG_MAX = 900.0


class WatcherDied(RuntimeError):
    """A folder watcher ended on an unexpected exception (a bug); raised in the channel's
    thread, so that its runner backs off and shows it."""


class FolderWatcher:
    """IDLEs on one folder on its own connection and calls ``on_new`` for new mail.

    Parameters:
        client: a not yet connected client, used by this watcher only.
        folder: the folder to watch.
        seen_uidnext: the UIDNEXT the channel last saw in ``folder`` (0 if never):
            mail at or above it is new.
        on_new: called (from the watcher's thread) when there is new mail.
        renew: IDLE renewal period, seconds.
        log: the channel's logger.
    """

    def __init__(
        self,
        client: MailboxClient,
        folder: str,
        seen_uidnext: Callable[[], int],
        on_new: Callable[[], None],
        renew: float,
        log: structlog.typing.FilteringBoundLogger,
    ) -> None:
        self.client = client
        self.folder = folder
        self._seen_uidnext = seen_uidnext
        self._on_new = on_new
        self._renew = renew
        self.name = f"imap-watch-{folder}"
        self._log = log.bind(folder=folder, thread=self.name)
        self._stop = threading.Event()
        #: The unexpected exception that ended the watcher, if one did.
        self.error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the watcher to end (it leaves its IDLE within half a second)."""
        self._stop.set()

    def join(self, timeout: float) -> None:
        """Wait for the watcher's thread to end, at most ``timeout`` seconds."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """True while the watcher's thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._watch()
        except Exception as exc:  # noqa: BLE001 - a bug: kept and reported to the channel (module docstring)
            self.error = exc
            self._log.error("folder watcher died on an unexpected error; the channel backs off", exc_info=True)
            self.client.drop()
            self._on_new()  # wake the channel's wait, which raises it
            return
        self.client.close()

    def _watch(self) -> None:
        failures = 0
        signalled = 0
        while not self._stop.is_set():
            try:
                if self.client.connected and self.client.relogin_in() <= 0:
                    self.client.close()  # log in again with a fresh OAuth2 token before this one expires
                if not self.client.connected:
                    self.client.connect()
                state = self.client.select(self.folder)
                if state.uidnext > max(self._seen_uidnext(), signalled):
                    signalled = state.uidnext
                    self._on_new()
                failures = 0
                # Back to SELECT after each renewal period or new mail: a fresh UIDNEXT.
                self.client.idle_until(self._stop.is_set, min(self._renew, self.client.relogin_in()), renew=self._renew)
            except ChannelError as exc:  # the server or the link: the poll covers the folder meanwhile
                failures += 1
                delay = min(MAX_RETRY_SECONDS, 2.0**failures)
                self._log.warning("folder watch failed; retrying", error=str(exc), retry_in=delay)
                self.client.drop()
                self._stop.wait(delay)


class FolderWatchers:
    """One channel's watchers of every folder after the first.

    Parameters:
        options: the channel's options (its folders, server and IDLE renewal).
        tokens: the channel's OAuth2 token source, shared with the watchers' clients.
        seen_uidnext: folder -> the UIDNEXT the channel has read up to.
        log: the channel's logger.
    """

    def __init__(self, options: Any, tokens: Any, seen_uidnext: Callable[[str], int], log: Any) -> None:
        self.options = options
        self.tokens = tokens
        self.seen_uidnext = seen_uidnext
        self.log = log
        #: Set by a watcher that saw new mail (the channel clears it before it fetches).
        self.arrived = threading.Event()
        self._watchers: list[FolderWatcher] = []
        self._bugs = 0  # watchers that died of a bug, in this process
        self._not_before = 0.0  # monotonic time before which no watcher starts

    def check(self) -> None:
        """Raise the bug that ended a watcher, if one did, and pause the watchers.

        Raises:
            WatcherDied: a watcher ended on an unexpected exception; the runner logs
                it, shows the channel as backing off and, after the backoff, opens
                the channel again (the channel's close stops the watchers; a later
                :meth:`start_missing` starts new ones once the pause has passed).
        """
        for watcher in self._watchers:
            if watcher.error is not None:
                self._bugs += 1
                pause = min(WATCHERS_AFTER_BUG_MAX, WATCHERS_AFTER_BUG * 2.0 ** (self._bugs - 1))
                self._not_before = time.monotonic() + pause
                msg = (f"thread {watcher.name} died: {type(watcher.error).__name__}: {watcher.error} "
                       f"(folder watchers start again in {pause:.0f}s; the poll reads those folders meanwhile)")
                raise WatcherDied(msg) from watcher.error

    def paused_for(self) -> float:
        """Seconds until the watchers may start again after a bug (0 or less: not paused)."""
        return self._not_before - time.monotonic()

    def start_missing(self) -> None:
        """Start one watcher per folder after the first (once; again after a watcher ended),
        unless they are paused after a bug."""
        if self._watchers and all(w.alive for w in self._watchers):
            return
        if self.paused_for() > 0:
            return
        for watcher in self._watchers:
            watcher.stop()
        self._watchers = [
            FolderWatcher(
                MailboxClient(self.options, self.tokens),
                folder,
                lambda folder=folder: self.seen_uidnext(folder),
                self.arrived.set,
                self.options.idle_renew_seconds,
                self.log,
            )
            for folder in self.options.folders[1:]
        ]
        for watcher in self._watchers:
            watcher.start()

    def stop(self) -> None:
        """Stop every watcher and wait for each (up to 5 s)."""
        watchers, self._watchers = self._watchers, []
        for watcher in watchers:
            watcher.stop()
        for watcher in watchers:
            watcher.join(5)
