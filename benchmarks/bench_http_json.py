"""http_json pull throughput: records per second from a local fake that answers at once,
through the shipped LAPOR! example config (header auth, ``results.data`` envelope,
``next_page_url`` paging, a datetime cursor).

Measured in the same run:
  * fetch only (baseline): requests, JSON decoding, the record selector, the cursor per
    record and one canonical JSON payload per record; nothing mapped or stored;
  * full poll: ``ChannelRunner.poll_once`` = fetch + JMESPath mapping + spool commit
    (SQLite WAL, synchronous=FULL) with the cursor in the same transaction.
The ratio full / fetch-only shows what mapping and storing add to the HTTP path.

Run: ``.venv/bin/python benchmarks/bench_http_json.py [--records 5000] [--page-size 500] [--runs 3]``
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import machine, median
from connectors.attachments import LocalAttachmentStore
from connectors.runner import ChannelRunner
from kanal.spool import Spool
from tests.http_json.conftest import connector_for, lapor_block
from tests.http_json.fakes import LAPOR_BEARER, LAPOR_TOKEN, FakeLapor


def _block(fake: FakeLapor, records: int, page_size: int) -> dict:
    block = lapor_block(fake)
    pull = block["options"]["pull"]
    pull["pagination"]["max_pages"] = records // page_size + 2
    pull["budget"] = {"requests": 100_000, "window_seconds": 60}
    return block


def fetch_only(fake: FakeLapor, records: int, page_size: int) -> float:
    """Seconds to fetch every record (no mapping, no spool)."""
    connector = connector_for(_block(fake, records, page_size))
    started = time.perf_counter()
    count = sum(1 for _ in connector.fetch(None))
    elapsed = time.perf_counter() - started
    connector.close()
    assert count == records, count
    return elapsed


def full_poll(fake: FakeLapor, records: int, page_size: int, batch_size: int) -> float:
    """Seconds for one poll that takes every record into a fresh spool."""
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp) / "spool.db")
        runner = ChannelRunner(connector_for(_block(fake, records, page_size)), spool,
                               LocalAttachmentStore(Path(tmp) / "att"), batch_size)
        started = time.perf_counter()
        handled = runner.poll_once()
        elapsed = time.perf_counter() - started
        assert handled == records and spool.depth() == records, (handled, spool.depth())
        runner.connector.close()
        spool.close()
    return elapsed


def main() -> None:
    """Print records/s for fetch only and for fetch + map + spool, and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    os.environ["KANAL_LAPOR_BEARER"] = LAPOR_BEARER
    os.environ["KANAL_LAPOR_TOKEN"] = LAPOR_TOKEN
    with FakeLapor(page_size=args.page_size) as fake:
        for n in range(args.records):
            fake.add_report(n)
        fetch_only(fake, args.records, args.page_size)  # warm-up
        fetch = median([fetch_only(fake, args.records, args.page_size) for _ in range(args.runs)])
        full = median([full_poll(fake, args.records, args.page_size, args.batch_size) for _ in range(args.runs)])
    fetch_rate, full_rate = args.records / fetch, args.records / full
    print(f"http_json pull (LAPOR! example config), {args.records} records, pages of {args.page_size}, "
          f"spool batches of {args.batch_size}, median of {args.runs}")
    print(f"  {machine()}")
    print(f"  fetch only                : {fetch_rate:9.0f} records/s")
    print(f"  fetch + map + spool commit: {full_rate:9.0f} records/s")
    print(f"  ratio full / fetch-only   : {full_rate / fetch_rate:9.2f}")


if __name__ == "__main__":
    main()
