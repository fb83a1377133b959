"""E-mail: append-to-spool latency per folder, and IDLE-per-folder against NOTIFY.

Runs against a real Dovecot 2.3 started in a temp folder (it offers both IDLE and NOTIFY):

1. Kanal: the channel runs with three folders (poll interval 60 s, so only push
   counts); mail is appended round-robin to the folders and the time until each
   complaint is in the spool is measured, per folder.
2. The bare mechanisms, without Kanal: seconds from the APPEND's answer to the
   notification on (a) one IDLE connection per folder, (b) one connection with
   ``NOTIFY SET (mailboxes ...) (MessageNew)`` in IDLE.

Usage: ``.venv/bin/python benchmarks/bench_email_folders.py [--samples N]``
"""

from __future__ import annotations

import argparse
import imaplib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import structlog
from _common import machine, median, percentile
from bench_email import USER

from connectors.attachments import LocalAttachmentStore
from connectors.base import ChannelContext
from connectors.email.config import EmailOptions
from connectors.email.connector import EmailConnector
from connectors.runner import ChannelRunner
from kanal.spool import Spool
from tests.email.dovecot import PASSWORD, Dovecot
from tests.email.mail import complaint_mail

FOLDERS = ["INBOX", "Pengaduan", "Dinas Tata Air"]


def _connector(server: Dovecot) -> EmailConnector:
    options = EmailOptions.model_validate({
        "address": "dki@jakarta.go.id", "host": "127.0.0.1", "port": server.port, "tls": False,
        "username": USER, "password": "${KANAL_BENCH_IMAP_PASSWORD}", "folders": FOLDERS,
    })
    context = ChannelContext("email-dki", "email", 60, 10 << 20, 25 << 20, structlog.get_logger())
    return EmailConnector(context, options)


def kanal_latency(server: Dovecot, work: Path, samples: int) -> dict[str, list[float]]:
    """Seconds from APPEND to the complaint in the spool, per folder."""
    spool = Spool(work / "spool.db")
    stop = threading.Event()
    runner = ChannelRunner(_connector(server), spool, LocalAttachmentStore(work / "att"), stop=stop)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    time.sleep(1.0)
    found: dict[str, list[float]] = {f: [] for f in FOLDERS}
    try:
        with server.client(USER) as client:
            for n in range(samples * len(FOLDERS)):
                folder = FOLDERS[n % len(FOLDERS)]
                before = spool.depth()
                started = time.perf_counter()
                client.append(folder, complaint_mail(n, tag="lat"))
                while spool.depth() == before and time.perf_counter() - started < 90:
                    time.sleep(0.005)
                found[folder].append(time.perf_counter() - started)
                time.sleep(0.1)
    finally:
        stop.set()
        thread.join(10)
        spool.close()
    return found


def _until_notified(client, started: float, is_it) -> float:
    while time.perf_counter() - started < 30:
        if any(is_it(r) for r in client.idle_check(timeout=0.05)):
            return time.perf_counter() - started
    return float("inf")


def idle_per_folder(server: Dovecot, samples: int) -> dict[str, list[float]]:
    """APPEND answered -> EXISTS on that folder's own IDLE connection."""
    found: dict[str, list[float]] = {f: [] for f in FOLDERS}
    watchers = {f: server.client(USER) for f in FOLDERS}
    with server.client(USER) as writer:
        for n in range(samples * len(FOLDERS)):
            folder = FOLDERS[n % len(FOLDERS)]
            watcher = watchers[folder]
            watcher.select_folder(folder)
            watcher.idle()
            writer.append(folder, complaint_mail(n, tag="idle"))
            started = time.perf_counter()
            found[folder].append(_until_notified(watcher, started, lambda r: r[1:2] == (b"EXISTS",)))
            watcher.idle_done()
    for watcher in watchers.values():
        watcher.logout()
    return found


def notify_one_connection(server: Dovecot, samples: int) -> dict[str, list[float]]:
    """APPEND answered -> STATUS for that folder on one NOTIFY connection in IDLE."""
    imaplib.Commands.setdefault("NOTIFY", ("AUTH", "SELECTED"))
    found: dict[str, list[float]] = {f: [] for f in FOLDERS}
    watcher = server.client(USER)
    names = " ".join(f'"{f}"' for f in FOLDERS)
    watcher._imap._simple_command("NOTIFY", f"SET (mailboxes ({names}) (MessageNew))")
    with server.client(USER) as writer:
        for n in range(samples * len(FOLDERS)):
            folder = FOLDERS[n % len(FOLDERS)]
            watcher.idle()
            writer.append(folder, complaint_mail(n, tag="notify"))
            started = time.perf_counter()
            is_status = lambda r, f=folder: r[:2] == (b"STATUS", f.encode())
            found[folder].append(_until_notified(watcher, started, is_status))
            watcher.idle_done()
    watcher.logout()
    return found


def _report(title: str, found: dict[str, list[float]]) -> None:
    print(title)
    for folder, values in found.items():
        print(f"  {folder:<16} n={len(values):<3} median {median(values) * 1000:5.0f} ms   "
              f"p95 {percentile(values, 95) * 1000:5.0f} ms   max {max(values) * 1000:5.0f} ms")


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20, help="appends per folder")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    os.environ["KANAL_BENCH_IMAP_PASSWORD"] = PASSWORD
    server = Dovecot("/usr/sbin/dovecot")
    server.start()
    try:
        with server.client(USER) as client:
            for folder in FOLDERS[1:]:
                client.create_folder(folder)
        print(machine())
        with tempfile.TemporaryDirectory(prefix="kanal-bench-folders-") as tmp:
            _report("Kanal, APPEND -> spool (IDLE on the channel's connection + one watcher per further folder):",
                    kanal_latency(server, Path(tmp), args.samples))
        _report("bare IDLE, one connection per folder, APPEND answered -> EXISTS:",
                idle_per_folder(server, args.samples))
        _report("bare NOTIFY, one connection for all folders, APPEND answered -> STATUS:",
                notify_one_connection(server, args.samples))
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
