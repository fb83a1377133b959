"""E-mail: one 50 MB mail, downloaded whole against taken in parts (``max_download_bytes``).

Runs against a real Dovecot started in a temp folder. The mail has a short text, a
200 kB photo and a 36 MiB video; the attachment caps are the example config's
(10 MiB per file, 25 MiB per message). For each mode one poll of the channel takes
the mail into a fresh spool, and the script reports the bytes the server sent (through
a counting TCP proxy), the peak of Python allocations during the poll (tracemalloc),
the growth of the process's peak RSS, and the time.

Usage: ``.venv/bin/python benchmarks/bench_email_large.py``
"""

from __future__ import annotations

import gc
import os
import resource
import sys
import tempfile
import time
import tracemalloc
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
from tests.email.corpus.build import fake_jpeg, message, multipart, part
from tests.email.dovecot import PASSWORD, Dovecot
from tests.email.proxy import CuttingProxy

MIB = 1024 * 1024


def big_mail(n: int) -> bytes:
    """A made-up complaint with a text, a 200 kB photo and a 36 MiB video."""
    items = [("From", "Warga <warga@example.org>"), ("To", "dki@jakarta.go.id"), ("Subject", f"Banjir {n}"),
             ("Message-ID", f"<banjir-{n}@example.org>"), ("MIME-Version", "1.0"),
             ("Content-Type", f'multipart/mixed; boundary="b{n}"')]
    files = [("foto.jpg", 200_000, "image/jpeg"), ("video.mp4", 36 * MIB, "video/mp4")]
    parts = [part("text/plain; charset=utf-8", b"Banjir setinggi lutut di Kampung Melayu.\n")]
    parts += [part(f'{ctype}; name="{name}"', fake_jpeg(i, size),
                   [("Content-Disposition", f'attachment; filename="{name}"')], encoding="base64")
              for i, (name, size, ctype) in enumerate(files)]
    return message(items, multipart(f"b{n}", parts))


def _peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def one_poll(server: Dovecot, user: str, work: Path, limit: int) -> dict[str, float]:
    """Take the one mail of ``user`` with ``max_download_bytes = limit``."""
    proxy = CuttingProxy(server.port)
    options = EmailOptions.model_validate({
        "address": "dki@jakarta.go.id", "host": "127.0.0.1", "port": proxy.port, "tls": False,
        "username": user, "password": "${KANAL_BENCH_IMAP_PASSWORD}", "max_download_bytes": limit,
    })
    context = ChannelContext("email-dki", "email", 60, 10 * MIB, 25 * MIB, structlog.get_logger())
    connector = EmailConnector(context, options)
    spool = Spool(work / "spool.db")
    runner = ChannelRunner(connector, spool, LocalAttachmentStore(work / "att"))
    gc.collect()
    rss_before = _peak_rss_kib()
    tracemalloc.start()
    started = time.perf_counter()
    connector.open()
    assert runner.poll_once() == 1
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    connector.close()
    proxy.close()
    spool.close()
    return {"server_bytes": proxy.server_bytes, "py_peak": peak, "rss_growth": (_peak_rss_kib() - rss_before) * 1024,
            "seconds": elapsed}


def main() -> None:
    """Run the benchmark and print the figures."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    os.environ["KANAL_BENCH_IMAP_PASSWORD"] = PASSWORD
    server = Dovecot("/usr/sbin/dovecot")
    server.start()
    try:
        print(machine())
        # Parts first: the process's peak RSS only grows, so the smaller run must come first.
        runs = [("in parts (max_download_bytes 40 MiB, the default)", "parts", 40 * MIB),
                ("whole (max_download_bytes above the mail's size)", "whole", 1 << 40)]
        for label, user, limit in runs:
            mail = big_mail(len(user))
            with server.client(user) as client:
                client.append("INBOX", mail)
            with tempfile.TemporaryDirectory(prefix="kanal-bench-large-") as tmp:
                got = one_poll(server, user, Path(tmp), limit)
            print(f"{label}: mail {len(mail) / 1e6:.1f} MB; from the server {got['server_bytes'] / 1e6:.2f} MB; "
                  f"Python peak {got['py_peak'] / MIB:.1f} MiB; peak RSS +{got['rss_growth'] / MIB:.0f} MiB; "
                  f"{got['seconds']:.2f} s")
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
