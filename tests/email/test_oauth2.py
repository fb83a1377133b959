"""XOAUTH2 login against a real Dovecot whose oauth2 passdb checks each bearer token
with a local token-introspection endpoint (RFC 7662), as an identity provider would."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from connectors.errors import AuthFailed
from tests.email.conftest import ADDRESS, Harness, make_harness
from tests.email.dovecot import Dovecot
from tests.email.mail import complaint_mail

GOOD_TOKEN = "ya29.made-up-access-token"


class _Introspection(BaseHTTPRequestHandler):
    """Answers Dovecot's POST token=... like an identity provider's introspection."""

    seen: list[str] = []  # noqa: RUF012 - shared by the handler instances of one server

    def do_POST(self) -> None:
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        token = form.get("token", [""])[0]
        self.seen.append(token)
        answer = {"active": True, "username": ADDRESS} if token == GOOD_TOKEN else {"active": False}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Keep test output quiet."""


@pytest.fixture
def oauth_dovecot(dovecot_program: str) -> Iterator[tuple[Dovecot, list[str]]]:
    """A Dovecot accepting XOAUTH2 tokens that the local introspection endpoint vouches for."""
    _Introspection.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Introspection)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    dovecot = Dovecot(
        dovecot_program,
        oauth2_introspection_url=f"http://127.0.0.1:{server.server_port}/introspect",
    )
    dovecot.start()
    yield dovecot, _Introspection.seen
    dovecot.cleanup()
    server.shutdown()
    server.server_close()


@pytest.fixture
def oauth_mailbox(
    oauth_dovecot: tuple[Dovecot, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Harness]:
    """The mailbox of the token's user (ADDRESS) on the OAuth2 Dovecot."""
    yield from make_harness(oauth_dovecot[0], tmp_path, monkeypatch, login=ADDRESS)


class TestOAuth2:
    def test_a_valid_bearer_token_logs_in_and_mail_flows(
        self,
        oauth_dovecot: tuple[Dovecot, list[str]],
        oauth_mailbox: Harness,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv("KANAL_TEST_IMAP_TOKEN", GOOD_TOKEN)
        oauth_mailbox.append(complaint_mail(1))
        connector = oauth_mailbox.make(password=None, oauth2_token="${KANAL_TEST_IMAP_TOKEN}")
        connector.open()
        assert oauth_mailbox.runner(connector).poll_once() == 1
        connector.close()
        assert oauth_dovecot[1] == [GOOD_TOKEN]

    def test_a_revoked_token_is_auth_failed(
        self,
        oauth_dovecot: tuple[Dovecot, list[str]],
        oauth_mailbox: Harness,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv("KANAL_TEST_IMAP_TOKEN", "revoked-token")
        connector = oauth_mailbox.make(password=None, oauth2_token="${KANAL_TEST_IMAP_TOKEN}")
        with pytest.raises(AuthFailed):
            connector.open()
        assert oauth_dovecot[1] == ["revoked-token"]
