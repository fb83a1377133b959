"""Sustained inbound SMS over HTTP with confirmed spool commits.

Clients post Kannel get-url requests (the lightest real gateway form) to the SMS
channel on the shared webhook server; each answer is sent only after the spool
committed the complaint (SQLite WAL, synchronous=FULL). Reported: messages per
second and latency percentiles, next to a baseline measured in the same run: the
same server and clients on a route that answers without touching the spool.

Concurrent requests share spool transactions (the spool's group commit), so the
server's thread count and the number of gateway connections matter: both default
to 16 here, as a busy gateway keeps many connections open.

Target: >= 1,000 messages/s with p99 < 50 ms.

Run: .venv/bin/python benchmarks/bench_sms_http.py [--messages 6000] [--clients 8]
"""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import structlog
from werkzeug.wrappers import Response

from connectors.attachments import LocalAttachmentStore
from connectors.base import ChannelContext
from connectors.push import WebhookRoute
from connectors.runner import ChannelRunner
from connectors.sms.config import SmsOptions
from connectors.sms.connector import SmsConnector
from connectors.webhooks import WebhookApp, WebhookServer
from kanal.spool import Spool

TOKEN = "bench-token"


def build(tmp: Path, threads: int) -> tuple[WebhookServer, Spool]:
    os.environ["KANAL_BENCH_SMS_TOKEN"] = TOKEN
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" is the point here
    options = SmsOptions.model_validate(
        {"account": "+628111272206", "backend": "kannel", "kannel": {"token": "${KANAL_BENCH_SMS_TOKEN}"}}
    )
    log = structlog.get_logger().bind(channel="sms-bench")
    connector = SmsConnector(ChannelContext("sms-bench", "sms", 60, 1 << 20, 1 << 22, log), options)
    spool = Spool(tmp / "spool.db")
    runner = ChannelRunner(connector, spool, LocalAttachmentStore(tmp / "att"))
    app = WebhookApp()
    routes = [*connector.webhook_routes(), WebhookRoute("GET", "/noop", lambda _r: Response(b"", 200))]
    app.add_channel(runner, routes)
    server = WebhookServer(app, port=0, threads=threads)
    server.start()
    return server, spool


def drive_here(port: int, path: str, clients: int, per_client: int, offset: int) -> tuple[float, list[float]]:
    """Send the requests from this process: ``clients`` keep-alive connections."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    start_gate = threading.Barrier(clients + 1)
    now = str(int(time.time()))

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        start_gate.wait()
        mine = latencies[index]
        for n in range(per_client):
            number = offset + index * per_client + n
            query = urlencode({"token": TOKEN, "from": f"0812{number % 100_000_000:08d}", "to": "08111272206",
                               "text": f"Aduan nomor {number}: jalan rusak di RT {number % 20}", "time": now,
                               "id": f"bench-{number}"})
            began = time.perf_counter()
            conn.request("GET", f"{path}?{query}")
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - began)
            if response.status != 200:
                errors.append(f"HTTP {response.status}")
        conn.close()

    workers = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for worker in workers:
        worker.start()
    start_gate.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, first: {errors[0]}")
    return elapsed, [x for chunk in latencies for x in chunk]


def drive(port: int, path: str, clients: int, per_client: int, offset: int) -> tuple[float, list[float]]:
    """Run the clients in a separate process, so they do not share the server's GIL
    (a gateway is another machine or process too)."""
    out = subprocess.run(
        [sys.executable, __file__, "--drive", str(port), path, str(clients), str(per_client), str(offset)],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    return float(out[0]), [float(x) for x in out[1:]]


def measured(port: int, path: str, clients: int, per_client: int, offset: int) -> tuple[float, list[float], float]:
    """drive(), plus the CPU seconds this (the server's) process spent meanwhile."""
    cpu = time.process_time()
    elapsed, latencies = drive(port, path, clients, per_client, offset)
    return elapsed, latencies, time.process_time() - cpu


def report(label: str, count: int, elapsed: float, latencies: list[float], cpu: float) -> float:
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2] * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    rate = count / elapsed
    print(f"{label:<34} {rate:8.0f} msg/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   "
          f"mean {statistics.fmean(ordered) * 1000:6.2f} ms   ({count} in {elapsed:.2f} s, "
          f"server CPU {cpu / count * 1e6:.0f} us/msg)")
    return rate


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--drive":
        port, path, clients, per_client, offset = sys.argv[2:7]
        elapsed, latencies = drive_here(int(port), path, int(clients), int(per_client), int(offset))
        print(elapsed, *(f"{x:.6f}" for x in latencies))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--threads", type=int, default=16, help="webhook server worker threads")
    args = parser.parse_args()
    per_client = args.messages // args.clients
    total = per_client * args.clients
    with tempfile.TemporaryDirectory(prefix="kanal-bench-sms-", dir=os.environ.get("KANAL_BENCH_DIR")) as tmp:
        server, spool = build(Path(tmp), args.threads)
        base = "/webhooks/sms-bench"
        try:
            drive(server.port, f"{base}/kannel", args.clients, 50, offset=10_000_000)  # warm-up
            warm = spool.depth()
            baseline = report("baseline: HTTP only, no spool", total,
                              *measured(server.port, f"{base}/noop", args.clients, per_client, 0))
            rate = report("SMS in, committed to the spool", total,
                          *measured(server.port, f"{base}/kannel", args.clients, per_client, 0))
            stored = spool.depth() - warm
        finally:
            server.stop()
            spool.close()
    print(f"stored {stored} of {total} complaints; committed rate is {rate / baseline:.2f}x the HTTP-only baseline")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(other work skews the figures)")
    if stored != total:
        raise SystemExit("not every answered message is in the spool")


if __name__ == "__main__":
    main()
