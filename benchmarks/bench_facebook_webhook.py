"""Facebook webhook throughput: events per second verified (X-Hub-Signature-256) and
committed to the spool, with p50/p99 latency, over real HTTP on the shared webhook server.

Baseline, measured in the same run: the same verification, parsing and spool commit
called in-process, without HTTP. The ratio shows what the HTTP server adds.

Run: ``.venv/bin/python benchmarks/bench_facebook_webhook.py [--events 1000] [--clients 4]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import requests
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.attachments import LocalAttachmentStore
from connectors.base import ChannelContext
from connectors.facebook.config import FacebookOptions
from connectors.facebook.connector import FacebookConnector
from connectors.facebook.webhook import sign, signature_valid, split_events
from connectors.runner import ChannelRunner
from connectors.webhooks import WebhookApp, WebhookServer
from kanal.spool import Spool

PAGE = "100000000000001"
SECRET = "bench-app-secret-not-real"


def body_for(prefix: str, index: int, events: int = 1) -> bytes:
    """A Messenger webhook body with ``events`` made-up messages."""
    now = int(time.time() * 1000)
    messaging = [
        {"sender": {"id": f"77700{index % 1000:04d}"}, "recipient": {"id": PAGE}, "timestamp": now,
         "message": {"mid": f"m_{prefix}_{index}_{n}",
                     "text": f"Laporan nomor {index}-{n}: jalan berlubang di Jl. Contoh Raya RT 0{n % 9 + 1}"}}
        for n in range(events)
    ]
    return json.dumps({"object": "page", "entry": [{"id": PAGE, "time": now, "messaging": messaging}]}).encode()


def make_channel(root: Path, name: str) -> tuple[ChannelRunner, Spool]:
    """A Facebook channel on its own spool file."""
    os.environ["KANAL_BENCH_FB_TOKEN"] = "EAAbenchtoken"
    os.environ["KANAL_BENCH_FB_SECRET"] = SECRET
    os.environ["KANAL_BENCH_FB_VERIFY"] = "bench-verify"
    options = FacebookOptions.model_validate({
        "page_id": PAGE, "page_access_token": "${KANAL_BENCH_FB_TOKEN}",
        "app_secret": "${KANAL_BENCH_FB_SECRET}", "verify_token": "${KANAL_BENCH_FB_VERIFY}",
    })
    context = ChannelContext(name=name, type="facebook", poll_interval=60, max_file_bytes=10 << 20,
                             max_message_bytes=25 << 20, log=structlog.get_logger("bench"))
    spool = Spool(root / f"{name}.db")
    runner = ChannelRunner(FacebookConnector(context, options), spool, LocalAttachmentStore(root / "att"))
    return runner, spool


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def report(label: str, events: int, seconds: float, latencies: list[float]) -> float:
    rate = events / seconds
    print(f"{label:<44} {rate:9.0f} events/s   p50 {statistics.median(latencies) * 1000:7.2f} ms"
          f"   p99 {percentile(latencies, 99) * 1000:7.2f} ms   ({events} events, {seconds:.2f}s)")
    return rate


def in_process(root: Path, count: int) -> float:
    """Baseline: verify + split + one spool commit per body, no HTTP."""
    runner, spool = make_channel(root, "baseline")
    bodies = [(b, sign(b, SECRET)) for b in (body_for("base", i) for i in range(count))]
    latencies = []
    started = time.perf_counter()
    for body, signature in bodies:
        t0 = time.perf_counter()
        assert signature_valid(body, signature, SECRET)
        runner.ingest(split_events(body, PAGE, datetime.now(UTC)))
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    assert spool.depth() == count
    spool.close()
    return report("baseline: in-process verify + commit", count, elapsed, latencies)


def over_http(root: Path, count: int, clients: int, per_body: int, label: str) -> float:
    """Signed POSTs to the webhook server from ``clients`` keep-alive sessions."""
    runner, spool = make_channel(root, f"http-{clients}-{per_body}")
    app = WebhookApp()
    app.add_channel(runner, runner.connector.webhook_routes())
    server = WebhookServer(app, port=0, threads=max(4, clients * 2))
    server.start()
    url = f"{server.url}/webhooks/{runner.name}"
    bodies = [body_for(f"h{clients}{per_body}", i, per_body) for i in range(count // per_body)]
    local = threading.local()

    def post(body: bytes) -> float:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        t0 = time.perf_counter()
        response = session.post(url, data=body, timeout=30, headers={
            "Content-Type": "application/json", "X-Hub-Signature-256": sign(body, SECRET)})
        elapsed = time.perf_counter() - t0
        if response.status_code != 200:
            msg = f"unexpected {response.status_code}"
            raise RuntimeError(msg)
        return elapsed

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(post, bodies))
    elapsed = time.perf_counter() - started
    server.stop()
    assert spool.depth() == len(bodies) * per_body, spool.depth()
    spool.close()
    return report(label, len(bodies) * per_body, elapsed, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=600, help="events per scenario")
    parser.add_argument("--clients", type=int, default=4, help="concurrent senders in the parallel scenario")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    with tempfile.TemporaryDirectory(prefix="kanal-bench-fb-") as tmp:
        root = Path(tmp)
        base = in_process(root, args.events)
        one = over_http(root, args.events, 1, 1, "HTTP, 1 sender, 1 event per POST")
        many = over_http(root, args.events, args.clients, 1, f"HTTP, {args.clients} senders, 1 event per POST")
        batched = over_http(root, args.events, args.clients, 20, f"HTTP, {args.clients} senders, 20 events per POST")
    print()
    print(f"ratio HTTP 1 sender / baseline:          {one / base:5.2f}")
    print(f"ratio HTTP {args.clients} senders / baseline:         {many / base:5.2f}")
    print(f"ratio HTTP batched (20/POST) / baseline: {batched / base:5.2f}")
    print("Every committed event is fsynced (SQLite synchronous=FULL) before its 200.")


if __name__ == "__main__":
    main()
