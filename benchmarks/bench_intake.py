"""Normalise + spool commit rate for SMS-sized messages, on one core.

Kanal's path: RawMessage -> connector.normalise -> Complaint JSON -> one spool
transaction per batch (ledger dedup row, outbox row, raw archive row, checkpoint,
channel status), SQLite WAL with synchronous=FULL.
Baseline, measured in the same run: the same number of rows of the same bytes
inserted into one plain SQLite table in the same batches with the same durability
settings, with no normalising and no dedup. The ratio says what Kanal's work costs
on top of merely writing the bytes durably.

Target: >= 10,000 complaints/s.

    .venv/bin/python benchmarks/bench_intake.py [--messages 50000] [--batch 500]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path

import structlog
from _common import machine, median, pin_to_one_core

from connectors.attachments import LocalAttachmentStore
from connectors.base import ChannelContext, RawMessage
from connectors.runner import ChannelRunner
from connectors.walkin.config import WalkInOptions
from connectors.walkin.connector import WalkInConnector
from kanal.logs import configure_logging
from kanal.spool import Spool
from normalizer.timeutil import utc_now

SMS_TEXT = (
    "Lapor, lampu PJU di Jl. Kramat Raya dpn gg. 7 mati sdh 3 hari, gelap bgt kalo malam. "
    "Mohon dicek. RT 02/RW 05 Kel. Kramat, Senen"
)


def make_raws(count: int) -> list[RawMessage]:
    now = utc_now()
    return [
        RawMessage(
            f"m{i}",
            json.dumps({"id": f"SMS-{i:08d}", "description": SMS_TEXT,
                        "reporter": {"phone": f"0812{i:08d}"[:12]}}).encode(),
            now,
        )
        for i in range(count)
    ]


def bench_kanal(raws: list[RawMessage], batch: int, folder: Path) -> float:
    context = ChannelContext("bench", "walkin", 1, 10**7, 10**8, structlog.get_logger())
    connector = WalkInConnector(context, WalkInOptions(desk="bench"))
    spool = Spool(folder / "spool.db")
    runner = ChannelRunner(connector, spool, LocalAttachmentStore(folder / "att"), batch_size=batch)
    started = time.perf_counter()
    for start in range(0, len(raws), batch):
        chunk = raws[start : start + batch]
        runner.ingest(chunk, checkpoint={"offset": start + len(chunk)})
    elapsed = time.perf_counter() - started
    assert spool.depth() == len(raws)
    spool.close()
    return len(raws) / elapsed


def bench_baseline(raws: list[RawMessage], batch: int, folder: Path) -> float:
    conn = sqlite3.connect(folder / "plain.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, id TEXT, body BLOB)")
    started = time.perf_counter()
    for start in range(0, len(raws), batch):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t (id, body) VALUES (?, ?)",
                         [(r.source_id, r.payload) for r in raws[start : start + batch]])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
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
    kanal_rates, base_rates = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            kanal_rates.append(bench_kanal(raws, args.batch, Path(tmp)))
        with tempfile.TemporaryDirectory() as tmp:
            base_rates.append(bench_baseline(raws, args.batch, Path(tmp)))
    kanal, base = median(kanal_rates), median(base_rates)
    print(f"machine: {machine()} (pinned to one core)")
    print(f"messages: {args.messages} x {len(raws[0].payload)} B, batch {args.batch}, median of {args.runs} runs")
    print(f"kanal normalise + spool commit : {kanal:10,.0f} complaints/s")
    print(f"baseline plain SQLite insert   : {base:10,.0f} rows/s")
    print(f"ratio kanal / baseline         : {kanal / base:10.2f}")
    print(f"target >= 10,000/s             : {'MET' if kanal >= 10_000 else 'NOT MET'}")


if __name__ == "__main__":
    main()
