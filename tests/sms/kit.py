"""Helpers for the SMS tests: connectors per backend, spool readers and a fake Gammu
SMSD that writes inbox files the way SMSD does (all data made up)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog

from connectors.attachments import LocalAttachmentStore
from connectors.base import ChannelContext
from connectors.runner import ChannelRunner
from connectors.sms.config import SmsOptions
from connectors.sms.connector import SmsConnector
from kanal.ack_sender import AckSender
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


def send_acks(spool: Spool, *connectors: SmsConnector) -> int:
    """One pass of the ack sender over ``connectors``; returns how many were delivered."""
    sender = AckSender(spool, {c.name: c for c in connectors})
    try:
        return sender.send_due()
    finally:
        sender.outbox.close()


def ack_rows(spool: Spool) -> list[dict]:
    """Every row of the spool's ack outbox, oldest first."""
    reader = sqlite3.connect(spool.path)
    reader.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in reader.execute("SELECT * FROM ack_outbox ORDER BY aid")]
    finally:
        reader.close()


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


class FakeSendsms:
    """Kannel's ``sendsms`` interface over real HTTP.

    ``mode`` is ``answer`` (202 "0: Accepted for delivery"), ``fail`` (503) or
    ``hang`` (the request waits until :meth:`release`, then answers per ``mode``).
    ``requests`` holds the query of every request as it arrived.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.mode = "answer"
        self._released = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests.append({k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()})
                if fake.mode == "hang":
                    fake._released.wait(30)
                status, body = (503, b"Internal error") if fake.mode == "fail" else (202, b"0: Accepted for delivery")
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """The sendsms URL."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/sendsms"

    def release(self, mode: str = "answer") -> None:
        """Answer the hanging requests (and later ones) per ``mode``."""
        self.mode = mode
        self._released.set()

    def close(self) -> None:
        """Release anything hanging and stop the server."""
        self._released.set()
        self.server.shutdown()
        self.server.server_close()
