"""Helpers for the SMS tests: connectors per backend, spool readers and a fake Gammu
SMSD that writes inbox files the way SMSD does (all data made up)."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from connectors.attachments import LocalAttachmentStore
from connectors.base import ChannelContext
from connectors.runner import ChannelRunner
from connectors.sms.config import SmsOptions
from connectors.sms.connector import SmsConnector
from kanal.spool import Spool

SECRET = "s3cret-for-tests-only"
LONG_NUMBER = "+628111272206"


def make_connector(name: str = "sms-08111272206", open_now: bool = True, **options: Any) -> SmsConnector:
    """An SMS connector with ``options`` (account defaults to the long number), opened
    unless ``open_now`` is False (then the runner opens it, as in ``kanal run``)."""
    options.setdefault("account", LONG_NUMBER)
    context = ChannelContext(name, "sms", 0.05, 1_000_000, 5_000_000, structlog.get_logger().bind(channel=name))
    connector = SmsConnector(context, SmsOptions.model_validate(options))
    if open_now:
        connector.open()
    return connector


def make_runner(connector: SmsConnector, spool: Spool, tmp_path: Path) -> ChannelRunner:
    """The runner of ``connector`` on ``spool``."""
    return ChannelRunner(connector, spool, LocalAttachmentStore(tmp_path / "attachments"), batch_size=50)


def complaints(spool: Spool) -> list[dict]:
    """Every complaint in the spool's outbox, as JSON, oldest first."""
    return [json.loads(row.body) for row in spool.pending(10_000)]


def counters(spool: Spool, channel: str) -> dict[str, int]:
    """A channel's named counters."""
    return spool.counters(channel)


class FakeSmsdFiles:
    """Writes inbox files exactly as Gammu SMSD's files service names and encodes them."""

    def __init__(self, inbox: Path) -> None:
        self.inbox = inbox
        inbox.mkdir(parents=True, exist_ok=True)

    def write(
        self, sender: str, text: str | bytes, when: datetime, part: int = 0, serial: int = 0,
        fmt: str = "unicode", ext: str = "txt", age: float = 5.0,
    ) -> str:
        """Write one part; ``age`` seconds old (so it is settled). Returns the file name."""
        name = f"IN{when:%Y%m%d}_{when:%H%M%S}_{serial:02d}_{sender}_{part:02d}.{ext}"
        if isinstance(text, bytes):
            data = text
        elif fmt == "unicode":
            data = b"\xfe\xff" + text.encode("utf-16-be")
        else:
            data = text.encode("utf-8")
        path = self.inbox / name
        path.write_bytes(data)
        stamp = time.time() - age
        os.utime(path, (stamp, stamp))
        return name
