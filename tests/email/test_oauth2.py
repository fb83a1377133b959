"""XOAUTH2 against a real Dovecot whose oauth2 passdb checks each bearer token with a
local token-introspection endpoint (RFC 7662), as an identity provider would; the same
local provider runs the token endpoint (RFC 6749) Kanal refreshes its tokens from."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from connectors.errors import AuthFailed, TransientError
from tests.email.conftest import ADDRESS, Harness, make_harness
from tests.email.dovecot import Dovecot
from tests.email.mail import complaint_mail
from tests.email.test_delivery import wait_for

GOOD_TOKEN = "ya29.made-up-access-token"
CLIENT_ID, CLIENT_SECRET = "kanal-app", "made-up-client-secret"


@dataclass
class Provider:
    """A made-up identity provider: token endpoint and token introspection."""

    lifetime: float = 3600
    refuse: str | None = None  # an OAuth2 error code the token endpoint answers with
    status: int = 200  # anything else: the endpoint is failing
    refresh_tokens: set[str] = field(default_factory=lambda: {"rt-0"})
    issued: dict[str, float] = field(default_factory=lambda: {GOOD_TOKEN: float("inf")})  # token -> expiry
    grants: list[dict[str, str]] = field(default_factory=list)
    introspected: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    numbers: Any = field(default_factory=lambda: itertools.count(1))

    def revoke_all(self) -> None:
        """Every access token issued so far stops working (as after a password reset)."""
        self.issued.clear()

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.grants.append(form)
        if self.status != 200:
            return self.status, {}
        if self.refuse:
            return 400, {"error": self.refuse, "error_description": "made-up refusal"}
        if form.get("client_id") != CLIENT_ID:
            return 401, {"error": "invalid_client"}
        answer: dict[str, Any] = {"token_type": "Bearer", "expires_in": self.lifetime}
        if form.get("grant_type") == "client_credentials":
            if form.get("client_secret") != CLIENT_SECRET:
                return 401, {"error": "invalid_client"}
        elif form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in self.refresh_tokens:
                return 400, {"error": "invalid_grant"}
            self.refresh_tokens = {f"rt-{next(self.numbers)}"}  # rotated, as Microsoft does
            answer["refresh_token"] = next(iter(self.refresh_tokens))
        else:
            return 400, {"error": "unsupported_grant_type"}
        value = f"at-{next(self.numbers)}"
        self.issued[value] = time.monotonic() + self.lifetime
        return 200, {**answer, "access_token": value}

    def introspect(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        token = form.get("token", "")
        self.introspected.append(token)
        active = self.issued.get(token, 0) > time.monotonic()
        if not active:
            self.refused.append(token)
        return 200, ({"active": True, "username": ADDRESS} if active else {"active": False})


def _serve(provider: Provider) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
            flat = {k: v[0] for k, v in form.items()}
            status, answer = (provider.token if self.path == "/token" else provider.introspect)(flat)
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            """Keep test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class OAuthSetup:
    dovecot: Dovecot
    provider: Provider
    token_url: str


@pytest.fixture
def oauth(dovecot_program: str) -> Iterator[OAuthSetup]:
    """A Dovecot accepting XOAUTH2 tokens that the local provider vouches for."""
    provider = Provider()
    server = _serve(provider)
    base = f"http://127.0.0.1:{server.server_port}"
    dovecot = Dovecot(dovecot_program, oauth2_introspection_url=f"{base}/introspect")
    dovecot.start()
    yield OAuthSetup(dovecot, provider, f"{base}/token")
    dovecot.cleanup()
    server.shutdown()
    server.server_close()


@pytest.fixture
def oauth_mailbox(oauth: OAuthSetup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    """The mailbox of the token's user (ADDRESS) on the OAuth2 Dovecot."""
    monkeypatch.setenv("KANAL_TEST_OAUTH_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("KANAL_TEST_OAUTH_REFRESH", "rt-0")
    yield from make_harness(oauth.dovecot, tmp_path, monkeypatch, login=ADDRESS)


def _refreshing(setup: OAuthSetup, grant: str = "client_credentials", **extra: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"token_url": setup.token_url, "client_id": CLIENT_ID, **extra}
    if grant == "client_credentials":
        settings["client_secret"] = "${KANAL_TEST_OAUTH_SECRET}"
        settings["scope"] = "https://outlook.office365.com/.default"
    else:
        settings["refresh_token"] = "${KANAL_TEST_OAUTH_REFRESH}"
    return {"password": None, "oauth2": settings}


class TestOAuth2:
    def test_a_valid_bearer_token_logs_in_and_mail_flows(
        self,
        oauth: OAuthSetup,
        oauth_mailbox: Harness,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv("KANAL_TEST_IMAP_TOKEN", GOOD_TOKEN)
        oauth_mailbox.append(complaint_mail(1))
        connector = oauth_mailbox.make(password=None, oauth2_token="${KANAL_TEST_IMAP_TOKEN}")
        connector.open()
        assert oauth_mailbox.runner(connector).poll_once() == 1
        connector.close()
        assert oauth.provider.introspected == [GOOD_TOKEN]

    def test_a_revoked_token_is_auth_failed(
        self,
        oauth: OAuthSetup,
        oauth_mailbox: Harness,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv("KANAL_TEST_IMAP_TOKEN", "revoked-token")
        connector = oauth_mailbox.make(password=None, oauth2_token="${KANAL_TEST_IMAP_TOKEN}")
        with pytest.raises(AuthFailed):
            connector.open()
        assert oauth.provider.introspected == ["revoked-token"]


class TestRefreshedTokens:
    def test_client_credentials_get_a_token_and_mail_flows(self, oauth: OAuthSetup, oauth_mailbox: Harness) -> None:
        oauth_mailbox.append(complaint_mail(1))
        connector = oauth_mailbox.make(**_refreshing(oauth))
        connector.open()
        assert oauth_mailbox.runner(connector).poll_once() == 1
        connector.close()
        [grant] = oauth.provider.grants
        assert grant["grant_type"] == "client_credentials" and grant["client_secret"] == CLIENT_SECRET
        assert grant["scope"] == "https://outlook.office365.com/.default"
        assert oauth.provider.introspected == ["at-1"]

    def test_a_token_refused_after_a_reconnect_is_refreshed_without_a_restart(
        self, oauth: OAuthSetup, oauth_mailbox: Harness
    ) -> None:
        connector = oauth_mailbox.make(**_refreshing(oauth, grant="refresh_token"))
        connector.open()
        runner = oauth_mailbox.runner(connector)
        runner.poll_once()
        oauth.dovecot.stop()  # the connection goes; meanwhile the provider revokes the token early
        oauth.provider.revoke_all()
        oauth.dovecot.start()
        oauth_mailbox.append(complaint_mail(2))
        with pytest.raises(TransientError):
            runner.poll_once()  # the dead connection is noticed
        assert runner.poll_once() == 1  # logs in again: refused, refreshed, accepted
        connector.close()
        assert oauth.provider.refused == ["at-2"]
        assert oauth.provider.introspected == ["at-2", "at-2", "at-4"]
        assert [g["refresh_token"] for g in oauth.provider.grants] == ["rt-0", "rt-1"], "the rotated one is used"

    def test_a_token_is_replaced_before_it_expires_while_the_channel_idles(
        self, oauth: OAuthSetup, oauth_mailbox: Harness
    ) -> None:
        oauth.provider.lifetime = 3  # a made-up short hour: renewed at half its life
        folders = ["INBOX", "Pengaduan"]
        with oauth_mailbox.imap() as client:  # the test's own login, with the password
            client.create_folder("Pengaduan")
        stop = threading.Event()
        connector = oauth_mailbox.make(folders=folders, **_refreshing(oauth))
        thread = threading.Thread(target=oauth_mailbox.runner(connector, stop=stop).run, daemon=True)
        thread.start()
        try:
            assert wait_for(lambda: len(oauth.provider.grants) >= 3, 6), "no token renewed ahead of its expiry"
            for n, folder in enumerate(folders):
                oauth_mailbox.append(complaint_mail(n), folder=folder)
                assert wait_for(lambda n=n: oauth_mailbox.spool.depth() == n + 1, 3), f"mail in {folder} not taken"
            assert oauth.provider.refused == [], "a connection logged in with an expired token"
            assert (oauth_mailbox.spool.channel_status("email-dki") or {}).get("state") == "running"
        finally:
            stop.set()
            thread.join(5)

    def test_a_refused_refresh_is_auth_failed(self, oauth: OAuthSetup, oauth_mailbox: Harness) -> None:
        oauth.provider.refuse = "invalid_grant"
        connector = oauth_mailbox.make(**_refreshing(oauth, grant="refresh_token"))
        with pytest.raises(AuthFailed, match="invalid_grant: made-up refusal"):
            connector.open()
        assert oauth.provider.introspected == [], "no login was tried without a token"

    def test_a_failing_token_endpoint_is_transient_not_auth_failed(
        self, oauth: OAuthSetup, oauth_mailbox: Harness
    ) -> None:
        oauth.provider.status = 503
        connector = oauth_mailbox.make(**_refreshing(oauth))
        with pytest.raises(TransientError, match="503"):
            connector.open()
