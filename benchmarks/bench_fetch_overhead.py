"""Intake with the attachment fetch stage on vs off (issue 16): must stay within 10 %.

Same workload as bench_intake.py (SMS-sized walk-in complaints, batches of 500),
plus draining the outbox the way the forwarder reads it (``Spool.pending`` in
``seq`` order), once with the runner queueing links (``fetch_attachments``) and
the held-row filter in effect, once without. The fetch queue holds one pending
link per 20 complaints of an earlier complaint set, so the filter has rows to check.

    .venv/bin/python benchmarks/bench_fetch_overhead.py [--messages 50000] [--runs 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import structlog
from _common import machine, median, pin_to_one_core
from bench_intake import make_raws

from connectors.attachments import LocalAttachmentStore
from connectors.base import ChannelContext
from connectors.runner import ChannelRunner
from connectors.walkin.config import WalkInOptions
from connectors.walkin.connector import WalkInConnector
from kanal import fetch_queue
from kanal.logs import configure_logging
from kanal.spool import Spool


def run(raws: list, batch: int, folder: Path, fetch: bool) -> float:
    context = ChannelContext("bench", "walkin", 1, 10**7, 10**8, structlog.get_logger())
    connector = WalkInConnector(context, WalkInOptions(desk="bench"))
    spool = Spool(folder / "spool.db", fetch_hold_seconds=120)
    if fetch:
        with spool.transaction() as conn:
            for i in range(0, len(raws), 20):
                fetch_queue.enqueue(conn, f"other-{i}", "bench", [(0, f"https://cdn.example/{i}.jpg")], time.time())
    runner = ChannelRunner(connector, spool, LocalAttachmentStore(folder / "att"), batch_size=batch,
                           fetch_attachments=fetch)
    started = time.perf_counter()
    for start in range(0, len(raws), batch):
        runner.ingest(raws[start : start + batch], checkpoint={"offset": start + batch})
    after, read = 0, 0
    while rows := spool.pending(batch, after_seq=after):
        after = rows[-1].seq
        read += len(rows)
    elapsed = time.perf_counter() - started
    assert read == len(raws)
    spool.close()
    return len(raws) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    pin_to_one_core()
    configure_logging("warning", "json")
    raws = make_raws(args.messages)
    on, off = [], []
    for _ in range(args.runs):
        for fetch, rates in ((False, off), (True, on)):
            with tempfile.TemporaryDirectory() as tmp:
                rates.append(run(raws, args.batch, Path(tmp), fetch))
    print(f"machine: {machine()} (pinned to one core)")
    print(f"messages: {args.messages}, batch {args.batch}, median of {args.runs} runs (commit + outbox read)")
    print(f"fetching off : {median(off):10,.0f} complaints/s")
    print(f"fetching on  : {median(on):10,.0f} complaints/s")
    print(f"on / off     : {median(on) / median(off):10.3f}  (target >= 0.90)")


if __name__ == "__main__":
    main()
