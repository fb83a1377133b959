"""Fixtures for the core tests: a spool, a walk-in channel and its runner."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog

from connectors.attachments import LocalAttachmentStore
from connectors.base import ChannelContext
from connectors.runner import ChannelRunner
from connectors.walkin.config import WalkInOptions
from connectors.walkin.connector import WalkInConnector
from kanal.spool import Spool


@pytest.fixture(name="spool")
def _spool(tmp_path: Path) -> Spool:
    """A fresh spool in a temp folder."""
    spool = Spool(tmp_path / "spool.db")
    yield spool
    spool.close()


def make_walkin(tmp_path: Path, name: str = "walkin-test", **options) -> WalkInConnector:
    """A walk-in connector with a drop folder under tmp_path."""
    context = ChannelContext(name, "walkin", 1.0, 1_000_000, 5_000_000, structlog.get_logger().bind(channel=name))
    opts = WalkInOptions(desk="Balai Kota", inbox=tmp_path / "inbox", done=tmp_path / "done", **options)
    connector = WalkInConnector(context, opts)
    connector.open()
    return connector


@pytest.fixture(name="walkin")
def _walkin(tmp_path: Path) -> WalkInConnector:
    return make_walkin(tmp_path)


@pytest.fixture(name="runner")
def _runner(walkin: WalkInConnector, spool: Spool, tmp_path: Path) -> ChannelRunner:
    return ChannelRunner(walkin, spool, LocalAttachmentStore(tmp_path / "attachments"), batch_size=50)
