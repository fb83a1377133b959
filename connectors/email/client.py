"""A thin layer over imapclient: connect, log in, select, search, fetch, move, IDLE.

It adds only what the connector needs on top of the library: certificate checks
on by default, the error mapping to :mod:`connectors.errors` (a refused login is
``AuthFailed``, anything on the wire is ``TransientError``), and MOVE with a
COPY + UID EXPUNGE fallback for servers without it. Mail is never deleted other
than as the second half of such a move.

Over 300 lines on purpose: it is one class over one IMAP connection, whose methods
share that connection, the selected folder and the server's capabilities, and all
go through the same error mapping.
"""

from __future__ import annotations

import contextlib
import functools
import imaplib
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from connectors.email.config import EmailOptions
from connectors.email.oauth2 import AccessToken, TokenSource
from connectors.errors import AuthFailed, TransientError, error_text

P = ParamSpec("P")
R = TypeVar("R")

#: This many instant, empty IDLE checks in a row mean the server closed the link.
_CLOSED_AFTER_INSTANT_EMPTY = 3

#: Exceptions that mean the connection is unusable (the server went away).
WIRE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    ssl.SSLError,
    imaplib.IMAP4.abort,
    socket.timeout,
)


def _wire_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn socket and protocol failures into :class:`TransientError`."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (AuthFailed, TransientError):
            raise
        except LoginError as exc:
            raise AuthFailed(f"IMAP login refused: {error_text(exc)}") from exc
        except (*WIRE_ERRORS, IMAPClientError, imaplib.IMAP4.error) as exc:
            raise TransientError(
                f"IMAP {func.__name__} failed: {type(exc).__name__}: {error_text(exc)}"
            ) from exc

    return wrapper


@dataclass(frozen=True, slots=True)
class FolderState:
    """What SELECT told about a folder."""

    name: str
    uidvalidity: int
    uidnext: int
    exists: int


@dataclass(frozen=True, slots=True)
class FetchedMail:
    """One downloaded message."""

    uid: int
    raw: bytes
    internaldate: datetime | None


class MailboxClient:
    """One authenticated IMAP connection to a mailbox.

    Parameters:
        options: the channel's options.
        tokens: the mailbox's OAuth2 token source, shared by its connections (made
            here from ``options.oauth2`` when not given).
    """

    def __init__(self, options: EmailOptions, tokens: TokenSource | None = None) -> None:
        self.options = options
        if tokens is None and options.oauth2 is not None:
            tokens = TokenSource(options.oauth2, options.timeout)
        self.tokens = tokens
        self._login_token: AccessToken | None = None
        self._imap: IMAPClient | None = None
        self.selected: str | None = None
        self.capabilities: frozenset[bytes] = frozenset()
        self._known_folders: set[str] = set()

    @property
    def connected(self) -> bool:
        """True while a logged-in connection is held."""
        return self._imap is not None

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(
            cafile=str(self.options.ca_file) if self.options.ca_file else None
        )
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        return context

    @_wire_errors
    def connect(self) -> None:
        """Open the connection, check the certificate (TLS) and log in."""
        opts = self.options
        imap = IMAPClient(
            opts.host,
            port=opts.effective_port,
            ssl=opts.tls,
            ssl_context=self._ssl_context() if opts.tls else None,
            timeout=opts.timeout,
        )
        try:
            if not opts.tls and opts.starttls:
                imap.starttls(self._ssl_context())
            if self.tokens is not None:
                self._login_token = self._oauth2_login(imap, self.tokens)
            elif opts.oauth2_token is not None:
                imap.oauth2_login(opts.login, opts.oauth2_token.get())
            else:
                assert opts.password is not None  # guaranteed by EmailOptions
                imap.login(opts.login, opts.password.get())
            imap.normalise_times = False  # keep INTERNALDATE aware, with its offset
            self.capabilities = frozenset(imap.capabilities())
        except BaseException:
            with contextlib.suppress(Exception):
                imap.shutdown()
            raise
        self._imap = imap
        self.selected = None

    def _oauth2_login(self, imap: IMAPClient, tokens: TokenSource) -> AccessToken:
        """XOAUTH2 with the current token; if the server refuses it (expired or revoked
        early), once more with a new one. A refusal of that one is final (AuthFailed)."""
        token = tokens.current()
        try:
            imap.oauth2_login(self.options.login, token.value)
        except LoginError:
            tokens.refused(token)
            token = tokens.current()
            imap.oauth2_login(self.options.login, token.value)
        return token

    def relogin_in(self) -> float:
        """Seconds until this connection should log in again with a fresh OAuth2 token
        (infinite for a password or a fixed token)."""
        if self.tokens is None or self._login_token is None:
            return float("inf")
        return self.tokens.seconds_left(self._login_token)

    def close(self) -> None:
        """Log out (best effort) and forget the connection."""
        imap, self._imap, self.selected = self._imap, None, None
        if imap is None:
            return
        try:
            imap.logout()
        except Exception:  # noqa: BLE001 - the server may be gone already
            with contextlib.suppress(Exception):
                imap.shutdown()

    def drop(self) -> None:
        """Forget a connection that failed, without talking to the server."""
        imap, self._imap, self.selected = self._imap, None, None
        if imap is not None:
            with contextlib.suppress(Exception):
                imap.shutdown()

    @property
    def imap(self) -> IMAPClient:
        """The live imapclient connection."""
        if self._imap is None:
            raise TransientError("IMAP connection is not open")
        return self._imap

    def has(self, capability: str) -> bool:
        """True if the server advertised ``capability`` (e.g. ``IDLE``, ``MOVE``)."""
        return capability.upper().encode() in self.capabilities

    @_wire_errors
    def ensure_folder(self, name: str) -> None:
        """Create ``name`` if it does not exist yet."""
        if name in self._known_folders:
            return
        if not self.imap.folder_exists(name):
            try:
                self.imap.create_folder(name)
            except (IMAPClientError, imaplib.IMAP4.error) as exc:
                if not self.imap.folder_exists(name):  # else a concurrent creator won the race
                    msg = f"cannot create IMAP folder {name!r}: {exc}"
                    raise TransientError(msg) from exc
        self._known_folders.add(name)

    @_wire_errors
    def select(self, folder: str) -> FolderState:
        """Select ``folder`` read-write and return its UIDVALIDITY, UIDNEXT and size."""
        info = self.imap.select_folder(folder)
        self.selected = folder
        return FolderState(
            folder,
            int(info[b"UIDVALIDITY"]),
            int(info.get(b"UIDNEXT", 0)),
            int(info.get(b"EXISTS", 0)),
        )

    @_wire_errors
    def uids(self) -> list[int]:
        """Every UID in the selected folder, ascending."""
        return sorted(int(uid) for uid in self.imap.search(["ALL"]))

    @_wire_errors
    def sizes(self, uids: Sequence[int], window: int = 500) -> dict[int, int]:
        """RFC822.SIZE of ``uids`` in the selected folder (asked ``window`` at a time,
        so the command line stays short)."""
        found: dict[int, int] = {}
        for start in range(0, len(uids), window):
            data = self.imap.fetch(list(uids[start : start + window]), [b"RFC822.SIZE"])
            found.update({int(uid): int(item.get(b"RFC822.SIZE", 0)) for uid, item in data.items()})
        return found

    @_wire_errors
    def fetch(self, uids: Sequence[int]) -> list[FetchedMail]:
        """Download the full messages ``uids`` of the selected folder, in UID order.

        A UID that vanished meanwhile (moved by someone else) is simply absent.
        """
        data = self.imap.fetch(list(uids), [b"BODY.PEEK[]", b"INTERNALDATE"])
        mails = []
        for uid in sorted(data):
            item = data[uid]
            raw = item.get(b"BODY[]")
            if raw is None:
                continue
            mails.append(FetchedMail(int(uid), bytes(raw), item.get(b"INTERNALDATE")))
        return mails

    @_wire_errors
    def structure(self, uid: int) -> tuple[Any, datetime | None] | None:
        """BODYSTRUCTURE and INTERNALDATE of ``uid`` in the selected folder (None if gone)."""
        item = self.imap.fetch([uid], [b"BODYSTRUCTURE", b"INTERNALDATE"]).get(uid)
        if item is None or b"BODYSTRUCTURE" not in item:
            return None
        return item[b"BODYSTRUCTURE"], item.get(b"INTERNALDATE")

    @_wire_errors
    def sections(self, uid: int, names: Sequence[str]) -> dict[str, bytes]:
        """``BODY.PEEK[name]`` of ``uid`` for each of ``names`` (HEADER, 1.MIME, 2, TEXT ...)."""
        item = self.imap.fetch([uid], [f"BODY.PEEK[{name}]".encode() for name in names]).get(uid) or {}
        return {name: bytes(item.get(f"BODY[{name}]".encode()) or b"") for name in names}

    @_wire_errors
    def copies_of(self, raw: bytes, message_id: str | None, size: int | None = None) -> list[int]:
        """UIDs in the selected folder that hold this mail.

        Candidates are found by ``message_id`` (when the mail has one) and by size; with
        ``size`` None the candidates' bytes must equal ``raw``, else ``size`` (the size
        of the original of a reduced copy) and the Message-ID must match.
        """
        exact = size is None
        size = len(raw) if size is None else size
        criteria: list[Any] = ["LARGER", str(size - 1), "SMALLER", str(size + 1)]
        if message_id:
            criteria = ["HEADER", "Message-ID", message_id, *criteria]
        elif not exact:
            return []  # neither an id nor the bytes to tell it from another mail of that size
        uids = sorted(int(uid) for uid in self.imap.search(criteria))
        if not exact or not uids:
            return uids
        found = self.imap.fetch(uids, [b"BODY.PEEK[]"])
        return [int(uid) for uid, item in sorted(found.items()) if bytes(item.get(b"BODY[]", b"")) == raw]

    @_wire_errors
    def move(self, uids: Sequence[int], target: str) -> None:
        """Move ``uids`` of the selected folder to ``target`` (MOVE, else COPY + UID EXPUNGE)."""
        if not uids:
            return
        if self.has("MOVE"):
            self.imap.move(list(uids), target)
            return
        self.imap.copy(list(uids), target)
        self.imap.add_flags(list(uids), [b"\\Deleted"])
        if self.has("UIDPLUS"):
            self.imap.uid_expunge(list(uids))
        else:  # plain EXPUNGE also removes others' \Deleted mail; only when there is no choice
            self.imap.expunge()

    @_wire_errors
    def idle_until(
        self, should_stop: Callable[[], bool], seconds: float, renew: float, step: float = 0.5
    ) -> bool:
        """IDLE on the selected folder for up to ``seconds``.

        Returns True as soon as the server reports new mail (EXISTS), False when the
        time ran out or ``should_stop()`` became true. The IDLE is renewed every
        ``renew`` seconds, and ``should_stop`` is checked every ``step`` seconds.
        """
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not should_stop():
            renew_at = min(deadline, time.monotonic() + renew)
            self.imap.idle()
            arrived = False
            try:
                for responses in self._idle_responses(renew_at, step, should_stop):
                    if any(_is_exists(r) for r in responses):
                        arrived = True
                        break
            finally:
                _text, late = self.imap.idle_done()
            # A notification that came just before DONE is in the DONE response.
            if arrived or any(_is_exists(r) for r in late):
                return True
        return False

    def _idle_responses(
        self, until: float, step: float, should_stop: Callable[[], bool]
    ) -> Iterator[list[Any]]:
        # imapclient's idle_check swallows EOF and returns [] at once; a run of
        # instant empty answers is how a closed connection shows.
        instant_empty = 0
        while not should_stop():
            left = until - time.monotonic()
            if left <= 0:
                return
            wait = min(step, left)
            started = time.monotonic()
            responses = self.imap.idle_check(timeout=wait)
            instant_empty = (
                instant_empty + 1 if not responses and time.monotonic() - started < wait / 2 else 0
            )
            if instant_empty >= _CLOSED_AFTER_INSTANT_EMPTY:
                msg = "the server closed the connection during IDLE"
                raise TransientError(msg)
            yield responses


def plan_chunks(
    uids: Sequence[int], sizes: dict[int, int], max_count: int, max_bytes: int
) -> Iterator[list[int]]:
    """Split ``uids`` into FETCH batches of at most ``max_count`` messages and
    ``max_bytes`` (a single larger message goes alone)."""
    chunk: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if chunk and (len(chunk) >= max_count or total + size > max_bytes):
            yield chunk
            chunk, total = [], 0
        chunk.append(uid)
        total += size
    if chunk:
        yield chunk


def _is_exists(response: Any) -> bool:
    return isinstance(response, tuple) and len(response) >= 2 and response[1] == b"EXISTS"
