"""Fixtures: the fake X API, a real spool, and a twitter channel wired to both."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from connectors.attachments import LocalAttachmentStore
from connectors.base import ChannelContext
from connectors.runner import ChannelRunner
from connectors.twitter.connector import TwitterConnector
from kanal.spool import Spool
from tests.twitter.fake_x_api import FakeXApi

BEARER_ENV = "KANAL_TEST_X_BEARER"
BEARER = "test-bearer-0001"


@pytest.fixture(name="fake_x")
def _fake_x(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeXApi]:
    """A running fake X API with the accounts dkijakarta and the governor's (made-up) account."""
    monkeypatch.setenv(BEARER_ENV, BEARER)
    with FakeXApi(bearer_token=BEARER) as fake:
        fake.add_account("dkijakarta")
        fake.add_account("gubernur_contoh")
        yield fake


@pytest.fixture(name="spool")
def _spool(tmp_path: Path) -> Iterator[Spool]:
    spool = Spool(tmp_path / "spool.db")
    yield spool
    spool.close()


def make_connector(url: str, name: str = "twitter-dkijakarta", poll_interval: float = 0.01,
                   max_file_bytes: int = 10_000_000, **options: Any) -> TwitterConnector:
    """A connector for the fake at ``url`` (options override the defaults)."""
    raw = {"accounts": ["dkijakarta", "gubernur_contoh"], "bearer_token": f"${{{BEARER_ENV}}}",
           "api_base_url": url, "max_results": 10, "request_timeout": 5, **options}
    context = ChannelContext(name=name, type="twitter", poll_interval=poll_interval, max_file_bytes=max_file_bytes,
                             max_message_bytes=25_000_000, log=structlog.get_logger("test").bind(channel=name))
    return TwitterConnector(context, TwitterConnector.config_model.model_validate(raw))


@pytest.fixture(name="make_runner")
def _make_runner(fake_x: FakeXApi, spool: Spool, tmp_path: Path) -> Callable[..., ChannelRunner]:
    """Build a runner for a fresh connector against the fake (batch_size and options as keywords)."""

    def make(batch_size: int = 200, stop: threading.Event | None = None, **options: Any) -> ChannelRunner:
        connector = make_connector(fake_x.url, **options)
        return ChannelRunner(connector, spool, LocalAttachmentStore(tmp_path / "att"), batch_size, stop=stop)

    return make


def spooled(spool: Spool) -> list[dict[str, Any]]:
    """Every complaint in the spool's outbox, decoded, in commit order."""
    return [json.loads(row.body) for row in spool.pending(100_000)]


def spooled_tweet_ids(spool: Spool) -> list[str]:
    """Provider message ids (tweet ids) of the spooled complaints, in commit order."""
    return [c["provider_message_id"] for c in spooled(spool)]


def counters(spool: Spool, channel: str) -> dict[str, int]:
    """Named counters of a channel (drops by reason...)."""
    return spool.counters(channel)


def channel_state(spool: Spool, channel: str) -> dict[str, Any]:
    """The channel_status row of a channel as a dict ({} if none)."""
    return spool.channel_status(channel) or {}
