"""X/Twitter intake throughput: mentions per second from the API through normalise and
the spool commit, with the real tweepy against the local fake X API answering at once.

Measured in the same run:
  * fetch only (baseline): tweepy requests, JSON decoding and cutting pages into
    per-mention payloads, nothing normalised or stored;
  * normalise only: the pure normaliser over the fetched payloads;
  * full poll: ``ChannelRunner.poll_once`` = fetch + normalise + spool commit
    (SQLite WAL, synchronous=FULL) with the checkpoint.
The ratio full / fetch-only shows what normalising and storing add to the HTTP path.

Run: ``.venv/bin/python benchmarks/bench_twitter.py [--mentions 800] [--accounts 2] [--runs 3]``
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
from connectors.base import RawMessage
from connectors.runner import ChannelRunner
from kanal.spool import Spool
from tests.twitter.conftest import BEARER, BEARER_ENV, make_connector
from tests.twitter.fake_x_api import FakeXApi


def seed(fake: FakeXApi, accounts: list[str], per_account: int) -> None:
    """Made-up mentions with an author, a link and sometimes a photo and a place."""
    fake.places["p-1"] = {"id": "p-1", "full_name": "Menteng, Jakarta Pusat", "name": "Menteng",
                          "country_code": "ID", "place_type": "neighborhood",
                          "geo": {"type": "Feature", "bbox": [106.82, -6.21, 106.85, -6.18], "properties": {}}}
    for account in accounts:
        for i in range(per_account):
            author = fake.add_user(f"warga_{account[:4]}_{i}", name=f"Warga Contoh {i}")
            fields: dict = {"entities": {"urls": [{"url": f"https://t.co/b{i:07d}",
                                                   "expanded_url": f"https://example.org/laporan/{i}"}]}}
            if i % 3 == 0:
                key = f"3_{account}_{i}"
                fake.media[key] = {"media_key": key, "type": "photo",
                                   "url": f"https://pbs.twimg.example.com/media/{i}.jpg"}
                fields["attachments"] = {"media_keys": [key]}
            if i % 5 == 0:
                fields["geo"] = {"place_id": "p-1"}
            fake.mention(account, author, f"@{account} Laporan {i}: jalan berlubang &amp; genangan di "
                                          f"Jl. Contoh Raya RT 0{i % 9 + 1} https://t.co/b{i:07d}", **fields)


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mentions", type=int, default=800, help="mentions per account (X reaches back 800)")
    parser.add_argument("--accounts", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    os.environ[BEARER_ENV] = BEARER
    accounts = ["dkijakarta", "gubernur_contoh", "akun_tiga", "akun_empat"][: args.accounts]
    total = args.mentions * len(accounts)
    fetch_rates, normalise_rates, full_rates = [], [], []
    with FakeXApi(bearer_token=BEARER, reach_back=max(800, args.mentions)) as fake, \
            tempfile.TemporaryDirectory() as tmp:
        for account in accounts:
            fake.add_account(account)
        seed(fake, accounts, args.mentions)
        options = {"accounts": accounts, "max_results": 100, "reach_back_limit": args.mentions + 1}
        for run in range(args.runs):
            connector = make_connector(fake.url, **options)
            started = time.perf_counter()
            raws = [m for m in connector.fetch(None) if isinstance(m, RawMessage)]
            fetch_rates.append(len(raws) / (time.perf_counter() - started))
            assert len(raws) == total, len(raws)

            started = time.perf_counter()
            for raw in raws:
                connector.normalise(raw)
            normalise_rates.append(len(raws) / (time.perf_counter() - started))
            connector.close()

            spool = Spool(Path(tmp) / f"spool-{run}.db")
            runner = ChannelRunner(make_connector(fake.url, **options), spool, LocalAttachmentStore(Path(tmp) / "a"))
            started = time.perf_counter()
            handled = runner.poll_once()
            full_rates.append(handled / (time.perf_counter() - started))
            assert handled == total and spool.depth() == total, (handled, spool.depth())
            runner.connector.close()
            spool.close()

    fetch, norm, full = median(fetch_rates), median(normalise_rates), median(full_rates)
    print(f"machine: {machine()}")
    print(f"mentions per run: {total} ({len(accounts)} accounts x {args.mentions}, pages of 100), runs: {args.runs}")
    print(f"fetch only (baseline: tweepy + HTTP + page split): {fetch:10.0f} mentions/s")
    print(f"normalise only (pure):                            {norm:10.0f} mentions/s")
    print(f"full poll (fetch + normalise + spool commit):     {full:10.0f} mentions/s")
    print(f"ratio full / fetch only: {full / fetch:.2f}")


if __name__ == "__main__":
    main()
