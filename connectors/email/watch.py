"""Watching the folders other than the first: one IDLE connection per folder.

The channel's own connection fetches, moves and IDLEs on the first folder; each
further folder gets a :class:`FolderWatcher` thread with a connection of its own
that only SELECTs and IDLEs, and wakes the channel when mail arrives there.

Why IDLE per folder and not NOTIFY (RFC 5465, one connection for all folders):
Gmail and Microsoft 365, the servers most mailboxes here live on, do not offer
NOTIFY, so per-folder IDLE is needed anyway; on Dovecot, which offers both, the
measured append-to-spool latency is the same (benchmarks/bench_email_folders.py,
docs/email.md). One code path that works everywhere costs one connection per folder.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from connectors.email.client import MailboxClient
from connectors.errors import ChannelError

#: Longest pause between two reconnect attempts of a watcher, seconds.
MAX_RETRY_SECONDS = 60.0


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
        self._log = log.bind(folder=folder)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"imap-watch-{folder}", daemon=True)

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
            except Exception as exc:  # noqa: BLE001 - a watcher must outlive any failure; the poll stays
                failures += 1
                delay = min(MAX_RETRY_SECONDS, 2.0**failures)
                if isinstance(exc, ChannelError):
                    self._log.warning("folder watch failed; retrying", error=str(exc), retry_in=delay)
                else:
                    self._log.exception("folder watch failed; retrying", retry_in=delay)
                self.client.drop()
                self._stop.wait(delay)
        self.client.close()
