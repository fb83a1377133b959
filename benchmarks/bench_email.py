"""E-mail channel benchmark: messages/s from IMAP to the spool, and IDLE latency.

Runs against a real Dovecot (Debian ``dovecot-imapd``) started in a temp folder:

1. Seeds a 1,000-message mailbox of mixed mail (the test corpus repeated with
   unique ids: Gmail/Outlook/iPhone mail, photos, forwards, auto-replies,
   bounces, one unparseable message in every 51).
2. Baseline: downloads every message with plain imapclient (no parsing, no spool).
3. Kanal: one poll of the e-mail channel (fetch, MIME, spool commit, move).
4. IDLE: the channel runs; 20 messages are appended one by one and the time
   until each is in the spool is measured.

Usage: ``.venv/bin/python benchmarks/bench_email.py [--messages N]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import structlog
from _common import machine

from connectors.attachments import LocalAttachmentStore
from connectors.base import ChannelContext
from connectors.email.config import EmailOptions
from connectors.email.connector import EmailConnector
from connectors.runner import ChannelRunner
from kanal.spool import Spool
from tests.email.corpus import CORPUS
from tests.email.dovecot import PASSWORD, Dovecot
from tests.email.mail import complaint_mail

USER = "bench-dki"


def mixed_mail(count: int) -> list[bytes]:
    """``count`` messages cycling through the corpus, each made unique."""
    out = []
    for i in range(count):
        mail = CORPUS[i % len(CORPUS)]
        if mail.expect.kind == "quarantine":  # stays unparseable, but unique
            out.append(mail.raw + str(i).encode())
            continue
        raw = mail.raw.replace(b"Message-ID: <", f"Message-ID: <b{i}-".encode(), 1)
        out.append(f"X-Bench-Copy: {i}\r\n".encode() + raw)
    return out


def make_connector(server: Dovecot, poll_interval: float = 60) -> EmailConnector:
    """The channel as production would configure it, but plain-text to the test server."""
    os.environ["KANAL_BENCH_IMAP_PASSWORD"] = PASSWORD
    options = EmailOptions.model_validate(
        {
            "address": "dki@jakarta.go.id",
            "host": "127.0.0.1",
            "port": server.port,
            "tls": False,
            "username": USER,
            "password": "${KANAL_BENCH_IMAP_PASSWORD}",
        }
    )
    context = ChannelContext(
        "email-dki",
        "email",
        poll_interval,
        10 * 1024 * 1024,
        25 * 1024 * 1024,
        structlog.get_logger().bind(channel="email-dki"),
    )
    return EmailConnector(context, options)


def seed(server: Dovecot, messages: list[bytes]) -> float:
    """APPEND ``messages``; returns the total size in MB."""
    with server.client(USER) as client:
        for raw in messages:
            client.append("INBOX", raw)
    return sum(len(m) for m in messages) / 1e6


def baseline_fetch(server: Dovecot, chunk: int = 50) -> tuple[int, float]:
    """Download every message with imapclient alone; (count, seconds)."""
    started = time.perf_counter()
    got = 0
    with server.client(USER) as client:
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search(["ALL"]))
        for i in range(0, len(uids), chunk):
            got += len(client.fetch(uids[i : i + chunk], [b"BODY.PEEK[]", b"INTERNALDATE"]))
    return got, time.perf_counter() - started


def kanal_poll(server: Dovecot, work: Path) -> tuple[int, float, Spool]:
    """One poll of the channel into a fresh spool; (handled, seconds, spool)."""
    spool = Spool(work / "spool.db")
    connector = make_connector(server)
    runner = ChannelRunner(
        connector, spool, LocalAttachmentStore(work / "attachments"), batch_size=200
    )
    started = time.perf_counter()
    connector.open()
    handled = runner.poll_once()
    elapsed = time.perf_counter() - started
    connector.close()
    return handled, elapsed, spool


def idle_latency(server: Dovecot, spool: Spool, work: Path, samples: int = 20) -> list[float]:
    """Seconds from APPEND to the complaint being in the spool, with the channel in IDLE."""
    stop = threading.Event()
    runner = ChannelRunner(
        make_connector(server), spool, LocalAttachmentStore(work / "attachments"), stop=stop
    )
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    time.sleep(1.0)
    latencies = []
    try:
        with server.client(USER) as client:
            for n in range(samples):
                before = spool.depth()
                started = time.perf_counter()
                client.append("INBOX", complaint_mail(n, tag="idle"))
                while spool.depth() == before and time.perf_counter() - started < 30:
                    time.sleep(0.005)
                latencies.append(time.perf_counter() - started)
                time.sleep(0.1)
    finally:
        stop.set()
        thread.join(10)
    return latencies


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    server = Dovecot("/usr/sbin/dovecot")
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="kanal-bench-email-") as tmp:
            print(machine())
            size = seed(server, mixed_mail(args.messages))
            print(f"mailbox: {args.messages} mixed messages, {size:.1f} MB")
            got, base_s = baseline_fetch(server)
            print(
                f"baseline (imapclient fetch only): {got} msgs in {base_s:.2f} s = {got / base_s:,.0f} msgs/s"
            )
            handled, kanal_s, spool = kanal_poll(server, Path(tmp))
            print(
                f"kanal (fetch+MIME+spool+move):    {handled} msgs in {kanal_s:.2f} s = {handled / kanal_s:,.0f} msgs/s"
            )
            print(f"ratio kanal/baseline throughput:  {(handled / kanal_s) / (got / base_s):.2f}")
            print(
                f"spool outbox: {spool.depth()} complaints, quarantine: {len(spool.quarantined())}"
            )
            lat = idle_latency(server, spool, Path(tmp))
            print(
                f"IDLE latency over {len(lat)} appends: median {statistics.median(lat) * 1000:.0f} ms, "
                f"p95 {sorted(lat)[int(len(lat) * 0.95) - 1] * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms"
            )
            spool.close()
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
