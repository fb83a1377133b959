"""Fixtures: the shipped LAPOR! and Qlue example blocks pointed at local fakes, a real spool."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml

from connectors.attachments import LocalAttachmentStore
from connectors.base import ChannelContext
from connectors.http_json.connector import HttpJsonConnector
from connectors.runner import ChannelRunner
from kanal.spool import Spool
from tests.http_json.fakes import LAPOR_BEARER, LAPOR_TOKEN, QLUE_SECRET, FakeLapor, FakeQlue

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
QLUE_PUSH_KEY = "made-up-qlue-push-key"


def example_block(name: str) -> dict[str, Any]:
    """The channel block shipped in config/examples/<name>.yaml."""
    return copy.deepcopy(yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())[0])


def lapor_block(fake: FakeLapor) -> dict[str, Any]:
    """The shipped LAPOR! block, polling ``fake``."""
    block = example_block("lapor")
    block["options"]["pull"]["base_url"] = fake.base_url
    return block


def qlue_block(fake: FakeQlue) -> dict[str, Any]:
    """The shipped Qlue block, polling ``fake``."""
    block = example_block("qlue")
    pull = block["options"]["pull"]
    pull["base_url"] = fake.url
    pull["auth"]["token_url"] = fake.url + "/oauth/token"
    pull["retry_wait_max_seconds"] = 0.2
    return block


@pytest.fixture(autouse=True)
def _partner_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KANAL_LAPOR_BEARER", LAPOR_BEARER)
    monkeypatch.setenv("KANAL_LAPOR_TOKEN", LAPOR_TOKEN)
    monkeypatch.setenv("KANAL_QLUE_CLIENT_SECRET", QLUE_SECRET)
    monkeypatch.setenv("KANAL_QLUE_PUSH_KEY", QLUE_PUSH_KEY)


@pytest.fixture(name="spool")
def _spool(tmp_path: Path) -> Iterator[Spool]:
    spool = Spool(tmp_path / "spool.db")
    yield spool
    spool.close()


def connector_for(block: dict[str, Any]) -> HttpJsonConnector:
    """The connector of a channel block (options validated as `kanal run` does)."""
    name = block["name"]
    context = ChannelContext(name=name, type="http_json", poll_interval=0.05, max_file_bytes=10_000_000,
                             max_message_bytes=25_000_000, log=structlog.get_logger("test").bind(channel=name))
    return HttpJsonConnector(context, HttpJsonConnector.config_model.model_validate(block["options"]))


@pytest.fixture(name="make_runner")
def _make_runner(spool: Spool, tmp_path: Path) -> Callable[..., ChannelRunner]:
    """A runner for a block on the test's spool (a fresh connector each call: a restart)."""

    def make(block: dict[str, Any], batch_size: int = 200, **kwargs: Any) -> ChannelRunner:
        return ChannelRunner(connector_for(block), spool, LocalAttachmentStore(tmp_path / "att"), batch_size,
                             **kwargs)

    return make


def spooled(spool: Spool) -> list[dict[str, Any]]:
    """Every complaint in the spool's outbox, decoded, in commit order."""
    return [json.loads(row.body) for row in spool.pending(100_000)]
