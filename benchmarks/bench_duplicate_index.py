"""The shared duplicate index alone (router/shared_duplicates.py, PostgreSQL): complaints/s
through ``check_and_add_many`` in batches of 100 as ``Router.route_many`` calls it, the
client's CPU time per complaint, and a digest of the links (equal digests before and after a
change = the same duplicates linked).

Run: ``.venv/bin/python benchmarks/bench_duplicate_index.py [--n 3000] [--dsn DSN]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import psycopg
from eval_router import complaint_for, load_set

from config.models import TopologyConfig
from router.engine import Router
from router.rules import load_rules
from router.shared_duplicates import PostgresDuplicateIndex, drop_shared_index


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--dsn", default=os.environ.get("KANAL_TEST_POSTGRES_DSN",
                                                        "postgresql://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    rows = load_set("all")
    complaints = [complaint_for(f"{rows[i % len(rows)][2]} #{i}", i + 20_000_000) for i in range(args.n)]
    router = Router(load_rules(), TopologyConfig())
    items = []
    for c in complaints:
        (routed,) = router.route_many([c])  # the words, category and place the router hands the index
        loc = routed.routing["location"]
        items.append((c, frozenset(router.rules.normaliser.tokens("\n".join(t for t in (c.title, c.description) if t))),
                      routed.routing["service_code"], loc["kelurahan_code"] or loc["kecamatan_code"]))
    table = f"bench_dupindex_{uuid.uuid4().hex[:8]}"
    index = PostgresDuplicateIndex(args.dsn, table)
    try:
        links: list[str | None] = []
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(0, args.n, 100):
            links += index.check_and_add_many(items[i:i + 100])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        index.close()
        with psycopg.connect(args.dsn, autocommit=True) as pg:
            drop_shared_index(pg, table)
    digest = hashlib.sha256(repr(links).encode()).hexdigest()[:12]
    print(f"shared duplicate index, {args.n:,} complaints in batches of 100: {args.n / wall:,.0f}/s, client CPU "
          f"{cpu / args.n * 1e6:.0f} us per complaint, {sum(1 for x in links if x)} linked (digest {digest})")


if __name__ == "__main__":
    main()
