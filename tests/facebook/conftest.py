"""Fixtures for the Facebook channel: the fake Graph API, a spool, connectors and runners
wired the way the daemon wires them."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import structlog

from connectors.attachments import LocalAttachmentStore
from connectors.base import ChannelContext
from connectors.facebook.config import FacebookOptions
from connectors.facebook.connector import FacebookConnector
from connectors.facebook.webhook import sign
from connectors.runner import ChannelRunner
from connectors.webhooks import WebhookApp, WebhookServer
from kanal.spool import Spool
from normalizer.complaint import Complaint
from normalizer.wire import decode_complaint
from tests.facebook.fake_graph_api import FakeGraphAPI

APP_SECRET = "test-app-secret-not-real"
VERIFY_TOKEN = "test-verify-token"


@pytest.fixture
def graph() -> Iterator[FakeGraphAPI]:
    """The fake Graph API for the Pemprov test Page."""
    fake = FakeGraphAPI().start()
    yield fake
    fake.stop()


@pytest.fixture
def spool(tmp_path) -> Iterator[Spool]:
    """A fresh spool file."""
    store = Spool(tmp_path / "spool.db")
    yield store
    store.close()


@pytest.fixture
def attachments(tmp_path) -> LocalAttachmentStore:
    """A fresh attachment store."""
    return LocalAttachmentStore(tmp_path / "attachments")


@pytest.fixture
def secrets_env(monkeypatch, graph) -> None:
    """Secret references resolve from these variables, as in production."""
    monkeypatch.setenv("KANAL_TEST_FB_TOKEN", graph.token)
    monkeypatch.setenv("KANAL_TEST_FB_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("KANAL_TEST_FB_VERIFY_TOKEN", VERIFY_TOKEN)


def make_options(graph: FakeGraphAPI, **overrides: Any) -> FacebookOptions:
    """Options for a channel reading ``graph``."""
    values: dict[str, Any] = {
        "page_id": graph.page_id,
        "page_access_token": "${KANAL_TEST_FB_TOKEN}",
        "app_secret": "${KANAL_TEST_FB_APP_SECRET}",
        "verify_token": "${KANAL_TEST_FB_VERIFY_TOKEN}",
        "graph_api_base_url": graph.url,
        "page_size": 2,
    }
    values.update(overrides)
    return FacebookOptions.model_validate(values)


def make_connector(options: FacebookOptions, name: str = "facebook-pemprov-dki",
                   poll_interval: float = 60) -> FacebookConnector:
    """A connector with the context the daemon gives it."""
    context = ChannelContext(
        name=name, type="facebook", poll_interval=poll_interval, max_file_bytes=10 * 1024 * 1024,
        max_message_bytes=25 * 1024 * 1024, log=structlog.get_logger("kanal.test").bind(channel=name),
    )
    return FacebookConnector(context, options)


@pytest.fixture
def connector(graph, secrets_env) -> Iterator[FacebookConnector]:
    """The Pemprov Page's connector against the fake."""
    conn = make_connector(make_options(graph))
    yield conn
    conn.close()


@pytest.fixture
def runner(connector, spool, attachments) -> ChannelRunner:
    """The runner of the Pemprov Page's channel, small batches."""
    return ChannelRunner(connector, spool, attachments, batch_size=3)


class Hook:
    """Posts to a channel's webhook URL like Meta does."""

    def __init__(self, url: str) -> None:
        self.url = url

    def post(self, body: bytes | dict, secret: str | None = APP_SECRET,
             signature: str | None = None) -> requests.Response:
        """POST ``body`` signed with ``secret`` (None: unsigned) or with ``signature`` as given."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        elif secret is not None:
            headers["X-Hub-Signature-256"] = sign(data, secret)
        return requests.post(self.url, data=data, headers=headers, timeout=10)

    def handshake(self, token: str, challenge: str = "1158201444", mode: str = "subscribe") -> requests.Response:
        """Meta's GET verification."""
        params = {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge}
        return requests.get(self.url, params=params, timeout=10)


@pytest.fixture
def hook(runner) -> Iterator[Hook]:
    """The channel mounted on a real webhook server (waitress, free port)."""
    app = WebhookApp()
    app.add_channel(runner, runner.connector.webhook_routes())
    server = WebhookServer(app, port=0, threads=4)
    server.start()
    yield Hook(f"{server.url}/webhooks/{runner.name}")
    server.stop()


# -- reading the spool back ------------------------------------------------------


def complaints(spool: Spool) -> list[Complaint]:
    """Every complaint in the outbox, in commit order."""
    return [decode_complaint(row.body) for row in spool.pending(10_000)]


def by_message_id(spool: Spool) -> dict[str, Complaint]:
    """Complaints keyed by provider message id (fails on a repeat)."""
    out: dict[str, Complaint] = {}
    for complaint in complaints(spool):
        assert complaint.provider_message_id not in out, f"{complaint.provider_message_id} taken twice"
        out[complaint.provider_message_id] = complaint
    return out


def status(spool: Spool, channel: str) -> dict[str, Any]:
    """The channel's row as ``kanal status`` reads it."""
    with sqlite3.connect(spool.path) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM channel_status WHERE channel = ?", (channel,)).fetchone()
    return dict(row) if row else {}


def counters(spool: Spool, channel: str) -> dict[str, int]:
    """The channel's named counters."""
    with sqlite3.connect(spool.path) as conn:
        return dict(conn.execute("SELECT name, count FROM counters WHERE channel = ?", (channel,)).fetchall())


def wait_for(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll ``condition`` until truthy; fail after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout}s")
