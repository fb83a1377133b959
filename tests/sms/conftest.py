"""Fixtures for the SMS channel tests: a spool and a real webhook server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config.models import AttachmentStoreConfig
from connectors.attachments import LocalAttachmentStore
from connectors.runner import ChannelRunner
from connectors.sms.connector import SmsConnector
from connectors.webhooks import WebhookApp, WebhookServer
from kanal.ack_sender import AckSender
from kanal.fetcher import Fetcher
from kanal.spool import Spool
from tests.core.fake_media import FakeMedia, self_signed_cert
from tests.sms.kit import SECRET, FakeSendsms, make_connector, make_runner
from tests.sms.mms_kit import ACCOUNT


@pytest.fixture(autouse=True)
def _secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KANAL_TEST_SMS_SECRET", SECRET)


@pytest.fixture(name="spool")
def _spool(tmp_path: Path) -> Iterator[Spool]:
    spool = Spool(tmp_path / "spool.db")
    yield spool
    spool.close()


@pytest.fixture(name="serve")
def _serve(spool: Spool, tmp_path: Path) -> Iterator[Any]:
    """serve(connector, **app_options) -> base URL of a real webhook server hosting its routes."""
    servers: list[WebhookServer] = []

    def serve(connector: SmsConnector, **app_options: Any) -> str:
        app = WebhookApp(**app_options)
        app.add_channel(make_runner(connector, spool, tmp_path), connector.webhook_routes())
        server = WebhookServer(app, port=0, threads=4)
        server.start()
        servers.append(server)
        return f"{server.url}/webhooks/{connector.name}"

    yield serve
    for server in servers:
        server.stop(timeout=5)




@pytest.fixture(name="sendsms")
def _sendsms() -> Iterator[FakeSendsms]:
    """A fake Kannel sendsms endpoint over real HTTP."""
    fake = FakeSendsms()
    yield fake
    fake.close()


@pytest.fixture(name="sending")
def _sending(spool: Spool) -> Iterator[Any]:
    """sending(*connectors, **policy) -> an ack sender running in its own thread on the test's spool."""
    started: list[tuple[threading.Event, threading.Thread, AckSender]] = []

    def start(*connectors: SmsConnector, **policy: Any) -> AckSender:
        policy.setdefault("poll_interval", 0.02)
        sender = AckSender(spool, {c.name: c for c in connectors}, **policy)
        stop = threading.Event()
        thread = threading.Thread(target=sender.run, args=(stop,), name="test-acks", daemon=True)
        thread.start()
        started.append((stop, thread, sender))
        return sender

    yield start
    for stop, thread, _sender in started:
        stop.set()
        thread.join(timeout=15)


@pytest.fixture(name="media", scope="module")
def _media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeMedia]:
    """The HTTPS media server (Twilio's media endpoint behind the account's basic auth)."""
    cert, key = self_signed_cert(tmp_path_factory.mktemp("tls"))
    fake = FakeMedia(cert, key, basic=(ACCOUNT, SECRET))
    fake.cert = cert  # type: ignore[attr-defined]
    yield fake
    fake.close()


@pytest.fixture(name="mms")
def _mms(tmp_path: Path, media: FakeMedia) -> Iterator[dict]:
    """A Twilio MMS channel on a real webhook server, its spool (hold 60 s), store and fetcher."""
    spool = Spool(tmp_path / "spool.db", fetch_hold_seconds=60)
    store = LocalAttachmentStore(tmp_path / "attachments")
    connector = make_connector("sms-1708", account="1708", backend="twilio",
                               twilio={"auth_token": "${KANAL_TEST_SMS_SECRET}", "media_base_url": media.base})
    runner = ChannelRunner(connector, spool, store, fetch_attachments=True)
    app = WebhookApp()
    app.add_channel(runner, connector.webhook_routes())
    server = WebhookServer(app, port=0, threads=2)
    server.start()
    config = AttachmentStoreConfig(path=tmp_path / "attachments", max_file_bytes=50_000,
                                   fetch_ca_bundle=media.cert, fetch_attempts=2)  # type: ignore[attr-defined]
    fetcher = Fetcher(spool, store, {connector.name: connector}, config)
    yield {"spool": spool, "store": store, "url": f"{server.url}/webhooks/{connector.name}/twilio",
           "fetcher": fetcher}
    server.stop(timeout=5)
    fetcher.queue.close()
    fetcher.downloader.close()
    spool.close()
