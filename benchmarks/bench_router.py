"""Router benchmarks: classification rate in process, and throughput on RabbitMQ.

Run: ``.venv/bin/python benchmarks/bench_router.py [--n 20000] [--amqp-n 2000] [--no-amqp]``.

1. In process, one core: classification (text -> category -> agency) and the whole
   routing decision (classification + location + priority + routed JSON), next to
   the baseline of just decoding the complaint JSON (pydantic), which every consumer
   pays. Target: >= 5,000 classifications/s.
2. On the shared RabbitMQ (unique queue names, deleted afterwards): the router
   (AMQP transaction per batch, PostgreSQL dedup claim and shared duplicate index as
   ``kanal router`` runs them, or SQLite and the in-memory index) next to a bare
   kombu consumer that only acks, on the same number of messages in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config.models import TopologyConfig
from normalizer.wire import decode_complaint, encode_complaint
from router.classify import Classifier
from router.engine import Router
from router.rules import load_rules

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from eval_router import complaint_for, load_set


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f}/s"


def bench_in_process(n: int) -> None:
    """Classification and routing rate on one core."""
    rows = load_set("all")
    texts = [f"{text} ({i})" for i, (_a, _k, text) in zip(range(n), (rows * (n // len(rows) + 1)))]
    rules = load_rules()
    classifier = Classifier(rules)
    for t in texts[: len(rows)]:
        classifier.classify(t)  # warm the stem cache like a running router
    bodies = [encode_complaint(complaint_for(t, i)) for i, t in enumerate(texts)]

    t0 = time.perf_counter()
    complaints = [decode_complaint(b) for b in bodies]
    decode_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for t in texts:
        classifier.classify(t)
    classify_s = time.perf_counter() - t0

    router = Router(rules, TopologyConfig())
    t0 = time.perf_counter()
    for c in complaints:
        router.route(c)
    route_s = time.perf_counter() - t0
    print(f"in process, {n:,} complaints, one core")
    print(f"  baseline: decode complaint JSON   {_rate(n, decode_s)}")
    print(f"  classify (text -> agency)         {_rate(n, classify_s)}   target >= 5,000/s")
    print(f"  route (classify+locate+SLA+JSON)  {_rate(n, route_s)}")
    print(f"  ratio classify / decode baseline  {decode_s / classify_s:>10.2f}x")


def bench_amqp(n: int, dsn: str | None) -> None:
    """Router throughput against a bare consumer on the same broker and messages."""
    import pika
    from kombu import Connection, Consumer, Queue

    from kanal import topology as intake
    from router.consumer import RouterConsumer
    from router.dedup import open_dedup_store
    from router.shared_duplicates import PostgresDuplicateIndex, drop_shared_index
    from router.topology import delete_routed_side
    from tests.router.helpers import publish_intake

    url = os.environ.get("KANAL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    tag = uuid.uuid4().hex[:8]
    topo = TopologyConfig(
        intake_exchange=f"bench.{tag}.intake", intake_queue=f"bench.{tag}.intake.q",
        dead_letter_exchange=f"bench.{tag}.dlx", dead_letter_queue=f"bench.{tag}.dead",
        routed_exchange=f"bench.{tag}.routed", triage_queue=f"bench.{tag}.agency.triage",
        confidential_queue=f"bench.{tag}.confidential", feedback_exchange=f"bench.{tag}.feedback",
        feedback_queue=f"bench.{tag}.router.feedback",
    )
    rows = load_set("all")
    complaints = [complaint_for(f"{rows[i % len(rows)][2]} #{i}", i + 10_000_000) for i in range(n)]
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    intake.declare(ch, intake.intake_topology(topo))
    ch.confirm_delivery()

    def fill() -> None:
        for c in complaints:
            publish_intake(ch, topo.intake_exchange, topo.intake_routing_key, c)

    def depth() -> int:
        return ch.queue_declare(topo.intake_queue, passive=True).method.message_count

    # Baseline: a bare kombu consumer, prefetch 200, ack each message.
    fill()
    done = 0
    t0, cpu0 = time.perf_counter(), time.thread_time()
    with Connection(url) as kc:
        kch = kc.channel()
        kch.basic_qos(0, 200, False)

        def on_message(message) -> None:
            nonlocal done
            message.ack()
            done += 1

        with Consumer(kch, queues=[Queue(topo.intake_queue, no_declare=True)], on_message=on_message):
            while done < n:
                kc.drain_events(timeout=5)
    bare_s, bare_cpu = time.perf_counter() - t0, time.thread_time() - cpu0

    fill()
    with tempfile.TemporaryDirectory() as tmp:
        table = f"bench_dedup_{tag}"
        # As ``kanal router`` runs with a dedup DSN: the duplicate index shared in PostgreSQL too.
        shared = (lambda: PostgresDuplicateIndex(dsn, f"{table}_recent")) if dsn else None
        router = Router(load_rules(), topo,
                        dedup_factory=lambda: open_dedup_store(dsn, Path(tmp) / "d.db", table=table),
                        duplicates_factory=shared)
        consumer = RouterConsumer(url, topo, router, prefetch=200)
        stop = threading.Event()
        router_cpu: list[float] = []

        def run_router() -> None:
            cpu = time.thread_time()
            consumer.run(stop)
            router_cpu.append(time.thread_time() - cpu)

        thread = threading.Thread(target=run_router, daemon=True)
        import structlog

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings only
        t0 = time.perf_counter()
        thread.start()
        while consumer.stats.routed + consumer.stats.duplicates < n:
            time.sleep(0.01)
        router_s = time.perf_counter() - t0
        stop.set()
        thread.join(10)
        if dsn:
            import psycopg

            with psycopg.connect(dsn, autocommit=True) as pg:
                pg.execute(f"DROP TABLE IF EXISTS {table}")
                drop_shared_index(pg, f"{table}_recent")
    with Connection(url) as kc:
        delete_routed_side(kc.channel(), topo, {c: router.agency_queue(c) for c in router.agency_codes()})
    intake.delete(ch, intake.intake_topology(topo))
    conn.close()
    print(f"\nRabbitMQ, {n:,} complaints (dedup: {'PostgreSQL' if dsn else 'SQLite'})")
    print(f"  baseline: bare consumer, ack only {_rate(n, bare_s)}")
    print(f"  router (route + tx publish/ack)   {_rate(n, router_s)}   (includes start-up and declaring)")
    print(f"  ratio router / bare               {bare_s / router_s:>10.2f}x")
    # Both are one Python thread: when CPU-bound, the ratio cannot pass the CPU ratio.
    if router_cpu:
        print(f"  CPU per message: bare consumer {bare_cpu / n * 1e6:,.0f} us, router thread "
              f"{router_cpu[0] / n * 1e6:,.0f} us (start-up and the stop included); "
              f"CPU ratio {bare_cpu / router_cpu[0]:.2f}x")


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--amqp-n", type=int, default=2_000)
    parser.add_argument("--no-amqp", action="store_true")
    parser.add_argument("--dsn", default=os.environ.get("KANAL_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"),
                        help="PostgreSQL for the dedup store; '' for SQLite")
    args = parser.parse_args()
    bench_in_process(args.n)
    if not args.no_amqp:
        bench_amqp(args.amqp_n, args.dsn or None)


if __name__ == "__main__":
    main()
