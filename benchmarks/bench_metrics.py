"""The cost of metrics: intake and forwarder with metrics on, next to the same run off.

"On" is what ``kanal run`` does with ``metrics.enabled``: the runner reports to
:class:`kanal.metrics.KanalMetrics` (the newest item's time per batch), the forwarder's
totals are exported, and a scraper renders ``/metrics`` every ``--scrape`` seconds
(default 1 s, fifteen times Prometheus's usual rate, so the figure is a bound) on
another thread of the same core: each scrape reads the spool's counts. "Off" is the
same code with no observer and no scraping. The facts the forwarder keeps for metrics
(time of the last confirm, connected) are plain attribute writes in both runs.
Rounds alternate on/off; medians and best rounds are given. Target: < 5 % slower.

    .venv/bin/python benchmarks/bench_metrics.py [--messages 30000] [--rounds 5] [--forwarder-messages 20000]

The forwarder part needs RabbitMQ (as benchmarks/bench_forwarder.py); --no-forwarder skips it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import structlog
from _common import machine, pin_to_one_core
from bench_forwarder import URL, cleanup, fill_spool, make_complaints, unique_topology
from bench_intake import make_raws

from config.models import BrokerConfig
from connectors.attachments import LocalAttachmentStore
from connectors.base import ChannelContext
from connectors.runner import ChannelRunner
from connectors.walkin.config import WalkInOptions
from connectors.walkin.connector import WalkInConnector
from kanal.forwarder import Forwarder
from kanal.logs import configure_logging
from kanal.metrics import KanalMetrics
from kanal.spool import Spool


class Scraper:
    """Renders the metrics every ``interval`` seconds on a thread of its own."""

    def __init__(self, render: Callable[[], bytes], interval: float) -> None:
        self.render = render
        self.interval = interval
        self.stop = threading.Event()
        self.scrapes = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            self.render()
            self.scrapes += 1

    def __enter__(self) -> Scraper:  # noqa: PYI034 - a final class
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()


def intake(raws: list, batch: int, metrics_on: bool, scrape: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        context = ChannelContext("bench", "walkin", 1, 10**7, 10**8, structlog.get_logger())
        connector = WalkInConnector(context, WalkInOptions(desk="bench"))
        spool = Spool(folder / "spool.db")
        runner = ChannelRunner(connector, spool, LocalAttachmentStore(folder / "att"), batch_size=batch)
        metrics = None
        if metrics_on:
            metrics = KanalMetrics(spool, [("bench", "walkin", 3600.0)])
            runner.observer = metrics
        scraper = Scraper(metrics.render, scrape) if metrics else None
        started, cpu = time.perf_counter(), time.process_time()
        if scraper:
            scraper.__enter__()
        try:
            for start in range(0, len(raws), batch):
                chunk = raws[start : start + batch]
                runner.ingest(chunk, checkpoint={"offset": start + len(chunk)})
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        finally:
            if scraper:
                scraper.__exit__()
        spool.close()
    return len(raws) / elapsed, cpu / len(raws) * 1e6


def forwarder(complaints: list, window: int, metrics_on: bool, scrape: float) -> float:
    topology = unique_topology()
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp) / "spool.db")
        fill_spool(spool, complaints)
        os.environ["BENCH_AMQP_URL"] = URL
        fwd = Forwarder(spool, BrokerConfig(url="${BENCH_AMQP_URL}", topology=topology, confirm_window=window))
        fwd.declare_topology()
        scraper = None
        if metrics_on:
            metrics = KanalMetrics(spool, [("sms-1708", "sms", 3600.0)])
            metrics.watch_forwarder(fwd.stats)
            scraper = Scraper(metrics.render, scrape)
        stop = threading.Event()
        thread = threading.Thread(target=fwd.run, args=(stop,))
        started, cpu = time.perf_counter(), time.process_time()
        if scraper:
            scraper.__enter__()
        thread.start()
        try:
            while fwd.stats.confirmed < len(complaints) or spool.depth():
                time.sleep(0.005)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        finally:
            stop.set()
            thread.join()
            if scraper:
                scraper.__exit__()
            spool.close()
            cleanup(topology)
    return len(complaints) / elapsed, cpu / len(complaints) * 1e6


def compare(name: str, run: Callable[[bool], tuple[float, float]], rounds: int) -> None:
    """Alternate on/off runs; report throughput and CPU time per message (this process,
    scraper included), the latter being less disturbed by other load on a shared machine."""
    results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for round_no in range(rounds):
        for metrics_on in ((False, True) if round_no % 2 else (True, False)):
            results[metrics_on].append(run(metrics_on))
        (off_rate, off_cpu), (on_rate, on_cpu) = results[False][-1], results[True][-1]
        print(f"  {name} round {round_no + 1}: off {off_rate:7.0f}/s {off_cpu:6.1f} us CPU/msg   "
              f"on {on_rate:7.0f}/s {on_cpu:6.1f} us CPU/msg")
    rate = {k: statistics.median(r for r, _ in v) for k, v in results.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in results.items()}
    print(f"{name}: median off {rate[False]:7.0f}/s {cpu[False]:6.1f} us CPU/msg | on {rate[True]:7.0f}/s "
          f"{cpu[True]:6.1f} us CPU/msg | throughput {100 * (rate[True] / rate[False] - 1):+.1f} %, "
          f"CPU per message {100 * (cpu[True] / cpu[False] - 1):+.1f} %   (target: < 5 % slower)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scrape", type=float, default=1.0, help="seconds between two scrapes")
    parser.add_argument("--forwarder-messages", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--no-forwarder", action="store_true")
    args = parser.parse_args()
    configure_logging("warning", "console")
    pin_to_one_core()
    print(machine())
    raws = make_raws(args.messages)
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp) / "spool.db")
        metrics = KanalMetrics(spool, [(f"channel-{n}", "walkin", 3600.0) for n in range(20)])
        started = time.perf_counter()
        for _ in range(200):
            metrics.render()
        print(f"one scrape of 20 channels: {(time.perf_counter() - started) / 200 * 1000:.2f} ms")
        spool.close()
    compare("intake", lambda on: intake(raws, args.batch, on, args.scrape), args.rounds)
    if not args.no_forwarder:
        complaints = make_complaints(args.forwarder_messages)
        compare("forwarder", lambda on: forwarder(complaints, args.window, on, args.scrape), args.rounds)


if __name__ == "__main__":
    main()
