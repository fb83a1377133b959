"""The fuzz harness: every push channel on one real webhook server, the spool's trace
of a request, and a tally of outcomes per endpoint for the long run's figures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import structlog

from connectors.attachments import LocalAttachmentStore
from connectors.base import ChannelContext, Connector
from connectors.facebook.config import FacebookOptions
from connectors.facebook.connector import FacebookConnector
from connectors.facebook.webhook import sign as meta_sign
from connectors.runner import ChannelRunner
from connectors.sms.json_inbound import json_signature
from connectors.sms.twilio import twilio_signature
from connectors.twitter.connector import TwitterConnector
from connectors.walkin.config import WalkInOptions
from connectors.walkin.connector import WalkInConnector
from connectors.webhooks import WebhookApp, WebhookServer
from kanal.spool import Spool
from tests.sms.kit import make_connector as make_sms

SECRET = "fuzz-secret-not-real"
APP_SECRET = "fuzz-app-secret-not-real"
PAGE_ID = "100000000000001"
SECRET_ENV = {
    "KANAL_FUZZ_SECRET": SECRET,
    "KANAL_FUZZ_APP_SECRET": APP_SECRET,
}
REF = "${KANAL_FUZZ_SECRET}"

#: Exception types that, as a quarantine reason, mean a normaliser hit a bug instead of
#: naming what is wrong with the input.
BUG_TYPES = ("AttributeError", "TypeError", "KeyError", "IndexError", "RecursionError", "UnicodeEncodeError",
             "OverflowError", "PydanticSerializationError", "AssertionError", "ZeroDivisionError", "NameError",
             "UnboundLocalError")


def context(name: str, type_name: str) -> ChannelContext:
    """The context the daemon gives a channel (caps as in the default config)."""
    return ChannelContext(name, type_name, 60, 10_000_000, 25_000_000,
                          structlog.get_logger("kanal.fuzz").bind(channel=name))


def push_connectors() -> list[Connector]:
    """One connector per push endpoint, named after it."""
    return [
        make_sms("sms-kannel", open_now=False, backend="kannel", kannel={"token": REF}),
        make_sms("sms-twilio", open_now=False, backend="twilio", twilio={"auth_token": REF}),
        make_sms("sms-aggregator", open_now=False, backend="aggregator", aggregator={"token": REF}),
        make_sms("sms-json", open_now=False, backend="json", json={"secret": REF}),
        FacebookConnector(context("facebook", "facebook"), FacebookOptions.model_validate({
            "page_id": PAGE_ID, "page_access_token": REF, "app_secret": "${KANAL_FUZZ_APP_SECRET}",
            "verify_token": REF, "graph_api_base_url": "http://127.0.0.1:9/unused"})),
        TwitterConnector(context("twitter", "twitter"), TwitterConnector.config_model.model_validate({
            "accounts": ["dkijakarta"], "bearer_token": REF, "api_base_url": "http://127.0.0.1:9",
            "webhook": {"enabled": True, "consumer_secret": REF}})),
        WalkInConnector(context("walkin", "walkin"), WalkInOptions(desk="Balai Kota", token=REF)),
    ]


@dataclass(frozen=True)
class Trace:
    """What the spool holds about one channel: every way a request can leave a mark."""

    status: tuple[int, int, int, int]  # accepted, duplicates, dropped, quarantined
    counters: int
    quarantine_attempts: int
    ledger: int

    def outcome_since(self, before: Trace) -> str:
        """The kind of mark a request left (``none`` when it left none)."""
        kinds = ("accepted", "duplicate", "dropped", "quarantined")
        moved = [k for k, a, b in zip(kinds, self.status, before.status, strict=True) if a > b]
        if moved:
            return "+".join(moved)
        if self.counters > before.counters:
            return "counted"
        return "none"


@dataclass
class Harness:
    """The server, its spool and the tally of outcomes."""

    base: str
    spool: Spool
    tally: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def url(self, channel: str, sub: str = "") -> str:
        """Full URL of a channel's route."""
        return f"{self.base}/webhooks/{channel}{sub}"

    def trace(self, channel: str) -> Trace:
        """The channel's current trace in the spool."""
        with sqlite3.connect(self.spool.path) as conn:
            row = conn.execute("SELECT accepted, duplicates, dropped, quarantined FROM channel_status "
                               "WHERE channel = ?", (channel,)).fetchone() or (0, 0, 0, 0)
            counters = conn.execute("SELECT coalesce(sum(count), 0) FROM counters WHERE channel = ?",
                                    (channel,)).fetchone()[0]
            attempts = conn.execute("SELECT coalesce(sum(attempts), 0) FROM quarantine WHERE channel = ?",
                                    (channel,)).fetchone()[0]
            ledger = conn.execute("SELECT count(*) FROM ledger WHERE channel = ?", (channel,)).fetchone()[0]
        conn.close()
        return Trace(tuple(row), counters, attempts, ledger)

    def bug_reasons(self, channel: str, since_qid: int) -> list[str]:
        """Quarantine reasons after ``since_qid`` that name a Python bug instead of the input's fault."""
        with sqlite3.connect(self.spool.path) as conn:
            rows = conn.execute("SELECT error FROM quarantine WHERE channel = ? AND qid > ?",
                                (channel, since_qid)).fetchall()
        conn.close()
        return [r[0] for r in rows if r[0].startswith(BUG_TYPES)]

    def last_qid(self) -> int:
        """The newest quarantine entry's id."""
        with sqlite3.connect(self.spool.path) as conn:
            qid = conn.execute("SELECT coalesce(max(qid), 0) FROM quarantine").fetchone()[0]
        conn.close()
        return qid

    def send(self, endpoint: str, channel: str, method: str, url: str, stores: bool = True,
             **kwargs: Any) -> requests.Response:
        """Send one request and check the property; tallies the outcome under ``endpoint``.

        Every request gets a 2xx that left a mark in the spool (stored, duplicate,
        counted drop, quarantined, or a counted ``webhook.*``), or a 4xx with a reason;
        never a 5xx; no quarantine reason that names a Python bug; /healthz still answers.
        ``stores`` False: a route that never takes messages in (a CRC challenge).
        """
        before, qid = self.trace(channel), self.last_qid()
        answer = requests.request(method, url, timeout=30, **kwargs)
        after = self.trace(channel)
        outcome = after.outcome_since(before)
        self.tally[endpoint][f"{answer.status_code} {outcome}"] += 1
        assert answer.status_code < 500, f"{answer.status_code} {answer.text[:300]!r}"
        if 200 <= answer.status_code < 300:
            assert outcome != "none" or not stores, f"a {answer.status_code} that left no trace: {answer.text[:300]!r}"
        else:
            assert 400 <= answer.status_code < 500, answer.status_code
            assert answer.text.strip(), "a 4xx without a reason"
        bugs = self.bug_reasons(channel, qid)
        assert bugs == [], f"quarantined for a bug, not a reason: {bugs}"
        assert requests.get(f"{self.base}/healthz", timeout=10).status_code == 200
        return answer


@contextmanager
def running_harness(tmp: Path) -> Iterator[Harness]:
    """Every push connector on one real webhook server (waitress, free port)."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in SECRET_ENV.items():
            patch.setenv(key, value)
        spool = Spool(tmp / "spool.db")
        app = WebhookApp(health=lambda: {"ok": True})
        for connector in push_connectors():
            runner = ChannelRunner(connector, spool, LocalAttachmentStore(tmp / "attachments"), batch_size=50)
            app.add_channel(runner, connector.webhook_routes())
        server = WebhookServer(app, port=0, threads=2)
        server.start()
        harness = Harness(server.url, spool)
        try:
            yield harness
        finally:
            server.stop(timeout=5)
            spool.close()
            report(harness)


def report(harness: Harness) -> None:
    """Print the tally (``-s`` shows it; the long run's figures)."""
    lines = ["", "fuzz outcomes per endpoint (status + mark left in the spool):"]
    for endpoint, tally in sorted(harness.tally.items()):
        lines.append(f"  {endpoint}: {sum(tally.values())} requests: " + ", ".join(
            f"{k} x{v}" for k, v in tally.most_common()))
    print("\n".join(lines))


# -- signing as each sender does -----------------------------------------------------


def twilio_headers(url: str, body: bytes) -> dict[str, str]:
    """Twilio's signature over the URL plus the POST parameters as Kanal reads them."""
    params = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {"Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": twilio_signature(SECRET, url, params)}


def json_headers(body: bytes, stamp: str | None = None) -> dict[str, str]:
    """Kanal's JSON signature with a current timestamp."""
    stamp = stamp or str(int(time.time()))
    return {"Content-Type": "application/json", "X-Kanal-Timestamp": stamp,
            "X-Kanal-Signature": json_signature(SECRET, stamp, body)}


def meta_headers(body: bytes) -> dict[str, str]:
    """Meta's X-Hub-Signature-256 under the app secret."""
    return {"Content-Type": "application/json", "X-Hub-Signature-256": meta_sign(body, APP_SECRET)}


def x_headers(body: bytes) -> dict[str, str]:
    """X's x-twitter-webhooks-signature under the consumer secret."""
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    return {"Content-Type": "application/json",
            "x-twitter-webhooks-signature": "sha256=" + base64.b64encode(digest).decode()}


def dumps(value: Any) -> bytes:
    """JSON as a sender writes it; a lone surrogate goes out escaped, as JSON allows."""
    return json.dumps(value).encode()
