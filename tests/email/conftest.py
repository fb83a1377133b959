"""Fixtures for the e-mail channel: a real Dovecot, a fresh mailbox per test,
and a connector + runner wired to a real spool and attachment store."""

from __future__ import annotations

import itertools
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import structlog
from imapclient import IMAPClient

from connectors.attachments import LocalAttachmentStore
from connectors.backoff import Backoff
from connectors.base import ChannelContext
from connectors.email.config import EmailOptions
from connectors.email.connector import EmailConnector
from connectors.runner import ChannelRunner
from kanal.spool import Spool
from tests.email.dovecot import PASSWORD, Dovecot
from tests.services import missing, require_program

ADDRESS = "dki@jakarta.go.id"
PASSWORD_ENV = "KANAL_TEST_IMAP_PASSWORD"
_mailbox_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def dovecot_program() -> str:
    """Path of Debian's dovecot binary (fails in CI when it is missing).

    The test config is written for Dovecot 2.3 (Debian 12); 2.4 (Debian 13) needs a
    rewritten one, so another version is reported as missing rather than misread.
    """
    program = require_program("dovecot")
    version = subprocess.run(
        [program, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if not version.startswith("2.3."):
        missing(f"Dovecot 2.3 (found {version or 'no version'}; tests/email/dovecot.py is for 2.3)")
    return program


@pytest.fixture(scope="session")
def dovecot(dovecot_program: str) -> Iterator[Dovecot]:
    """One Dovecot for the whole session; tests that stop it use ``own_dovecot``."""
    server = Dovecot(dovecot_program)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def tls_dovecot(dovecot_program: str) -> Iterator[Dovecot]:
    """A Dovecot with a self-signed certificate for ``localhost`` (IMAPS and STARTTLS)."""
    require_program("openssl")
    server = Dovecot(dovecot_program, tls=True)
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def plain_dovecot(dovecot_program: str) -> Iterator[Dovecot]:
    """A Dovecot that announces neither MOVE nor IDLE (an older or minimal server)."""
    server = Dovecot(dovecot_program, capability="IMAP4rev1 LITERAL+ UIDPLUS NAMESPACE")
    server.start()
    yield server
    server.cleanup()


@pytest.fixture
def own_dovecot(dovecot_program: str) -> Iterator[Dovecot]:
    """A Dovecot of this test's own, which the test may stop and restart."""
    server = Dovecot(dovecot_program)
    server.start()
    yield server
    server.cleanup()


@dataclass
class Harness:
    """A mailbox on a Dovecot plus the Kanal side reading it."""

    server: Dovecot
    login: str
    spool: Spool
    store: LocalAttachmentStore
    make: Callable[..., EmailConnector]

    def imap(self) -> IMAPClient:
        """The test's own connection to the mailbox (to APPEND and look)."""
        return self.server.client(self.login)

    def append(self, *messages: bytes, folder: str = "INBOX") -> None:
        """Deliver ``messages`` into ``folder``."""
        with self.imap() as client:
            for raw in messages:
                client.append(folder, raw)

    def count(self, folder: str) -> int:
        """Messages in ``folder`` (0 if it does not exist)."""
        with self.imap() as client:
            if not client.folder_exists(folder):
                return 0
            return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])

    def runner(
        self,
        connector: EmailConnector | None = None,
        batch_size: int = 200,
        stop: threading.Event | None = None,
        backoff: Backoff | None = None,
    ) -> ChannelRunner:
        """A runner for ``connector`` (a new default one when omitted)."""
        return ChannelRunner(
            connector or self.make(), self.spool, self.store, batch_size=batch_size, stop=stop, backoff=backoff
        )

    def ledger_ids(self) -> list[str]:
        """Provider message ids in the spool's ledger, with repeats if any."""
        rows = sqlite3.connect(self.spool.path).execute("SELECT provider_message_id FROM ledger").fetchall()
        return [r[0] for r in rows]


def make_harness(
    server: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, login: str | None = None
) -> Iterator[Harness]:
    """Yield a :class:`Harness` for a mailbox on ``server`` (a new, empty one unless
    ``login`` is given); use with ``yield from`` in a fixture."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    login = login or f"kotak{next(_mailbox_numbers)}-{tmp_path.name[-12:]}"
    spool = Spool(tmp_path / "spool.db")
    store = LocalAttachmentStore(tmp_path / "attachments")

    def make(
        port: int | None = None,
        max_file_bytes: int = 5_000_000,
        max_message_bytes: int = 12_000_000,
        name: str = "email-dki",
        **options: Any,
    ) -> EmailConnector:
        settings = {
            "address": ADDRESS,
            "host": "127.0.0.1",
            "port": port or server.port,
            "tls": False,
            "username": login,
            "password": "${" + PASSWORD_ENV + "}",
            "timeout": 10,
            **options,
        }
        context = ChannelContext(
            name=name,
            type="email",
            poll_interval=30,
            max_file_bytes=max_file_bytes,
            max_message_bytes=max_message_bytes,
            log=structlog.get_logger().bind(channel=name),
        )
        return EmailConnector(context, EmailOptions.model_validate(settings))

    harness = Harness(server, login, spool, store, make)
    yield harness
    spool.close()


@pytest.fixture
def mailbox(dovecot: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """A fresh, empty mailbox on the shared Dovecot, with a spool and a store."""
    yield from make_harness(dovecot, tmp_path, monkeypatch)


@pytest.fixture
def tls_mailbox(
    tls_dovecot: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Harness]:
    """A fresh mailbox on the TLS-enabled Dovecot."""
    yield from make_harness(tls_dovecot, tmp_path, monkeypatch)


@pytest.fixture
def plain_mailbox(
    plain_dovecot: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Harness]:
    """A fresh mailbox on the Dovecot without MOVE and IDLE."""
    yield from make_harness(plain_dovecot, tmp_path, monkeypatch)


@pytest.fixture
def own_mailbox(
    own_dovecot: Dovecot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Harness]:
    """Like ``mailbox`` but on a Dovecot this test may stop and restart."""
    yield from make_harness(own_dovecot, tmp_path, monkeypatch)
