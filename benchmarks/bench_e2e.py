"""End to end: a citizen's SMS from the gateway's HTTP request to the agency's queue.

Real processes: SMS over HTTP (Kannel get-url) -> ``kanal run`` (webhook, spool,
forwarder) -> RabbitMQ -> ``kanal router`` (PostgreSQL dedup) -> agency queues, read
by a consumer in this process. A load generator (its own process, keep-alive
connections) offers a steady load; each SMS carries a reference, and the latency of
one complaint is from the moment its HTTP request was sent to the moment its routed
message arrived at the consumer (one clock: everything runs on this machine).

Baseline in the same run, same HTTP client and load: a minimal HTTP server that
publishes each request with confirms and answers after the confirm -> a consumer that
republishes with confirms and acks -> the same reading consumer. No spool, no routing,
no dedup. Both are printed with the ratio.

Each run also prints the CPU each part spent per complaint (``kanal run``, ``kanal
router``, the broker, PostgreSQL, the load generator and this process; for the baseline
its server and relay are this process), summed into the cores the run would need at
1,000 complaints/s: on a machine with fewer, the offered load cannot be met whatever
the latency.

To tell the stages apart, each run also prints the HTTP answer time (the webhook
side alone: for Kanal, the spool commit) and the peak backlog of the queue in front of
the second stage (Kanal: the intake queue the router reads), sampled every half second.

Every run checks that nothing was lost (every 2xx-answered SMS arrived) and nothing
arrived twice. ``--step`` raises the offered load until p99 passes 1 s and prints the
load where it did.

Run: ``.venv/bin/python benchmarks/bench_e2e.py [--rate 1000] [--seconds 60] [--step]``
Needs RabbitMQ (``--amqp``, default the local guest broker; the password is passed as
the config's ``password`` secret, never inside the URL) and PostgreSQL (``--pg``).
Queues, exchanges and the dedup database are unique per run and removed afterwards.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pika
from kombu import Connection, Consumer, Producer, Queue

from config.models import TopologyConfig
from kanal import topology as topo

TOKEN = "bench-e2e-token"
CHANNEL = "sms-e2e"
REF = re.compile(rb"#e2e-(\d+)")
TEXTS = [
    "jalan berlubang besar di Jl. Kebon Sirih Kel. Kebon Sirih, motor jatuh",
    "parkir liar di trotoar depan pasar Tanah Abang, macet tiap sore",
    "sampah menumpuk di pinggir kali Kel. Cideng sudah seminggu",
    "banjir setinggi lutut di Kel. Kampung Melayu, pompa tidak jalan",
    "lampu jalan mati di Jl. Cikini Raya Kel. Cikini sejak tiga hari",
]


# -- load generator (its own process) ---------------------------------------------------


def generate(port: int, path: str, rate: float, seconds: float, clients: int, offset: int, out: str) -> None:
    """Offer ``rate`` requests/s for ``seconds``; write {ref: [send time, status, seconds to the answer]}
    to ``out``."""
    total = int(rate * seconds)
    sent: dict[int, list[float]] = {}
    t0 = time.time() + 0.5
    lock = threading.Lock()

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for n in range(index, total, clients):
            ref = offset + n
            due = t0 + n / rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            query = urlencode({"token": TOKEN, "from": f"0812{ref % 100_000_000:08d}", "to": "08111272206",
                               "text": f"{TEXTS[ref % len(TEXTS)]} #e2e-{ref}", "id": f"e2e-{ref}"})
            began = time.time()
            status = 0
            for _ in range(5):
                try:
                    conn.request("GET", f"{path}?{query}")
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                    if status < 500:
                        break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            with lock:
                sent[ref] = [began, status, time.time() - began]

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    Path(out).write_text(json.dumps(sent))


# -- the reading consumer -----------------------------------------------------------------


class Collector:
    """Reads the output queues; records the arrival time of each reference (and repeats)."""

    def __init__(self, url: str, queues: list[str]) -> None:
        self.url, self.queues = url, queues
        self.arrived: dict[int, float] = {}
        self.repeats = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        conn = pika.BlockingConnection(pika.URLParameters(self.url))
        channel = conn.channel()
        channel.basic_qos(prefetch_count=1000)

        def on_message(ch, method, _props, body) -> None:
            now = time.time()
            match = REF.search(body)
            if match:
                ref = int(match.group(1))
                if ref in self.arrived:
                    self.repeats += 1
                else:
                    self.arrived[ref] = now
            ch.basic_ack(method.delivery_tag, multiple=True)

        for q in self.queues:
            channel.basic_consume(q, on_message)
        while not self.stop.is_set():
            conn.process_data_events(time_limit=0.2)
        conn.close()


# -- the baseline pipeline ------------------------------------------------------------------


class PublishConfirms:
    """The baseline's confirm tracking on one py-amqp channel (public ``confirm_select`` and
    channel ``events``): publishes are numbered 1, 2, ... by the broker; ``wait`` reads
    answers until all are in and returns the tokens of those nacked or returned."""

    def __init__(self, connection: Connection, channel: object) -> None:
        self.connection, self._tag = connection, 0
        self._pending: dict[int, object] = {}
        self._failed: set[object] = set()
        self._returned: set[str] = set()
        channel.confirm_select()
        channel.events["basic_ack"].add(lambda tag, multiple: self._settle(tag, multiple, False))
        channel.events["basic_nack"].add(lambda tag, multiple: self._settle(tag, multiple, True))
        channel.events["basic_return"].add(lambda _e, _x, _k, m: self._returned.add(m.properties["message_id"]))

    def published(self, token: object, message_id: str) -> None:
        self._tag += 1
        self._pending[self._tag] = (token, message_id)

    def wait(self) -> set[object]:
        deadline = time.monotonic() + 30
        while self._pending and time.monotonic() < deadline:
            try:
                self.connection.drain_events(timeout=1.0)
            except TimeoutError:
                continue
        if self._pending:
            raise RuntimeError("baseline: publishes unconfirmed after 30 s")
        failed, self._failed, self._returned = self._failed, set(), set()
        return failed

    def _settle(self, tag: int, multiple: bool, nacked: bool) -> None:
        for t in [t for t in self._pending if t <= tag] if multiple else [tag]:
            entry = self._pending.pop(t, None)
            if entry and (nacked or entry[1] in self._returned):
                self._failed.add(entry[0])


class GroupPublisher:
    """Publishes on one py-amqp channel with confirms; callers wait for their own confirm.
    Everything waiting is published together, then confirmed together (group commit)."""

    def __init__(self, url: str, exchange: str, routing_key: str) -> None:
        self.url, self.exchange, self.routing_key = url, exchange, routing_key
        self.pending: queue.Queue = queue.Queue()
        threading.Thread(target=self._run, daemon=True).start()

    def publish(self, body: bytes) -> bool:
        done = threading.Event()
        box: list[bool] = []
        self.pending.put((body, done, box))
        done.wait(30)
        return bool(box and box[0])

    def _run(self) -> None:
        with Connection(self.url) as conn:
            channel = conn.channel()
            producer = Producer(channel, auto_declare=False)
            confirms = PublishConfirms(conn, channel)
            while True:
                batch = [self.pending.get()]
                while not self.pending.empty() and len(batch) < 500:
                    batch.append(self.pending.get_nowait())
                for i, (body, _d, _b) in enumerate(batch):
                    producer.publish(body, exchange=self.exchange, routing_key=self.routing_key, mandatory=True,
                                     delivery_mode=2, message_id=str(i), retry=False, declare=[])
                    confirms.published(i, str(i))
                failed = confirms.wait()
                for i, (_body, done, box) in enumerate(batch):
                    box.append(i not in failed)
                    done.set()


def baseline_server(url: str, exchange: str, routing_key: str) -> http.server.ThreadingHTTPServer:
    """A minimal HTTP server: publish the text with confirms, answer 200 after the confirm."""
    publisher = GroupPublisher(url, exchange, routing_key)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            ok = publisher.publish(query.get("text", [""])[0].encode())
            self.send_response(200 if ok else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def baseline_relay(url: str, source: str, exchange: str, routing_key: str, stop: threading.Event) -> None:
    """Consume ``source``, republish each message with confirms, ack after the confirms."""
    with Connection(url) as conn:
        channel = conn.channel()
        channel.basic_qos(0, 200, False)
        producer = Producer(channel, auto_declare=False)
        confirms = PublishConfirms(conn, channel)
        inbox: list = []
        with Consumer(channel, queues=[Queue(source, no_declare=True)], on_message=inbox.append,
                      auto_declare=False):
            while not stop.is_set():
                if not inbox:
                    try:
                        conn.drain_events(timeout=0.2)
                    except TimeoutError:
                        continue
                batch, inbox[:] = list(inbox), []
                for i, message in enumerate(batch):
                    producer.publish(message.body, exchange=exchange, routing_key=routing_key, mandatory=True,
                                     delivery_mode=2, message_id=str(i), retry=False, declare=[])
                    confirms.published(i, str(i))
                if confirms.wait():
                    raise RuntimeError("baseline relay: the broker refused a republish")
                channel.basic_ack(batch[-1].delivery_tag, multiple=True)


# -- running one pipeline under load --------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pids_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


class CpuMeter:
    """CPU seconds spent by each part of a run, read from /proc before and after it: the
    pipeline's own processes, the broker, PostgreSQL (every backend), the load generator
    (a waited-for child) and this process (the reading consumer)."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes

    def snapshot(self) -> dict[str, float]:
        import resource

        out = {name: _cpu_of(pid) for name, pid in self.processes.items()}
        out["broker"] = sum(_cpu_of(pid) for pid in _pids_named("beam.smp"))
        out["PostgreSQL"] = sum(_cpu_of(pid) for pid in _pids_named("postgres"))
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        out["load generator"] = children.ru_utime + children.ru_stime
        mine = os.times()
        out["bench process"] = mine.user + mine.system
        return out


def cpu_report(before: dict[str, float], after: dict[str, float], complaints: int, rate: float) -> str:
    """Microseconds of CPU per complaint for each part, their sum, the cores that used at
    the achieved ``rate``, and what the same cost per complaint would take at 1,000/s (the
    cost per complaint falls as the rate rises: idle polling and per-batch round trips are
    shared by more complaints, so that figure is an upper bound from a slower run)."""
    if not complaints:
        return "no complaint arrived"
    per = {k: (after[k] - before.get(k, 0.0)) / complaints * 1e6 for k in after}
    total = sum(per.values())
    parts = ", ".join(f"{k} {v:,.0f}" for k, v in per.items())
    return (f"CPU per complaint (us): {parts}; total {total:,.0f} us: {total * rate / 1e6:.2f} cores at "
            f"{rate:,.0f}/s, {total / 1000:.2f} at 1,000/s (this machine: {os.cpu_count()})")


class DepthWatch:
    """Samples a queue's depth every half second while a run is offered (the backlog in front of
    the consumer of that queue: the router's intake, or the baseline relay's input)."""

    def __init__(self, amqp: str, queue_name: str) -> None:
        self.amqp, self.queue_name = amqp, queue_name
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with pika.BlockingConnection(pika.URLParameters(self.amqp)) as conn:
            channel = conn.channel()
            while not self.stop.wait(0.5):
                depth = channel.queue_declare(self.queue_name, passive=True).method.message_count
                self.peak = max(self.peak, depth)

    def finish(self) -> int:
        self.stop.set()
        self.thread.join(5)
        return self.peak


def offer(port: int, path: str, rate: float, seconds: float, clients: int, offset: int,
          collector: Collector, tmp: Path, amqp: str, watched: str, meter: CpuMeter) -> dict[str, Any]:
    """Run the load generator against one pipeline and measure."""
    out = tmp / f"sent-{offset}.json"
    cpu_before = meter.snapshot()
    watch = DepthWatch(amqp, watched)
    subprocess.run([sys.executable, __file__, "--generate", str(port), path, str(rate), str(seconds),
                    str(clients), str(offset), str(out)], check=True)
    peak = watch.finish()
    sent = {int(k): v for k, v in json.loads(out.read_text()).items()}
    accepted = {ref for ref, (_t, status, _answered) in sent.items() if 200 <= status < 300}
    # A backlog drains at the pipeline's own pace: wait while messages keep arriving.
    seen, quiet_since = -1, time.time()
    while not accepted <= set(collector.arrived) and time.time() - quiet_since < 15:
        if len(collector.arrived) != seen:
            seen, quiet_since = len(collector.arrived), time.time()
        time.sleep(0.2)
    time.sleep(0.5)  # a repeat would arrive now
    cpu_after = meter.snapshot()
    latencies = [collector.arrived[r] - sent[r][0] for r in accepted if r in collector.arrived]
    first = min(v[0] for v in sent.values())
    answers = [v[2] for r, v in sent.items() if r in accepted]
    last = max((collector.arrived[r] for r in accepted if r in collector.arrived), default=first)
    return {
        "offered": rate, "sent": len(sent), "accepted": len(accepted),
        "lost": len(accepted - set(collector.arrived)), "repeats": collector.repeats,
        "p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99),
        "max": max(latencies, default=float("nan")), "throughput": len(latencies) / max(last - first, 1e-9),
        "answer_p50": percentile(answers, 50), "answer_p99": percentile(answers, 99), "peak_depth": peak,
        "cpu": cpu_report(cpu_before, cpu_after, len(latencies), len(latencies) / max(last - first, 1e-9)),
    }


def show(name: str, r: dict[str, Any]) -> None:
    print(f"  {name:<9} offered {r['offered']:>6,.0f}/s  achieved {r['throughput']:>7,.0f}/s  "
          f"p50 {r['p50'] * 1000:>7.1f} ms  p95 {r['p95'] * 1000:>7.1f}  p99 {r['p99'] * 1000:>8.1f}  "
          f"max {r['max'] * 1000:>8.1f}  accepted {r['accepted']:,}  lost {r['lost']}  twice {r['repeats']}")
    print(f"  {'':<9} HTTP answer p50 {r['answer_p50'] * 1000:.1f} ms  p99 {r['answer_p99'] * 1000:.1f} ms;  "
          f"peak backlog in front of the second stage {r['peak_depth']:,}  load average {os.getloadavg()[0]:.1f}")
    print(f"  {'':<9} {r['cpu']}")


class Kanal:
    """``kanal run`` and ``kanal router`` on a unique topology and dedup database."""

    def __init__(self, amqp: str, pg: str, tmp: Path, topology: TopologyConfig, port: int, threads: int) -> None:
        parts = urllib.parse.urlsplit(amqp)
        bare = parts._replace(netloc=f"{parts.username}@{parts.hostname}:{parts.port or 5672}").geturl()
        os.environ["KANAL_BENCH_AMQP_PASSWORD"] = urllib.parse.unquote(parts.password or "")
        os.environ["KANAL_BENCH_SMS_TOKEN"] = TOKEN
        os.environ["KANAL_BENCH_DSN"] = pg
        config = {
            "spool": {"path": str(tmp / "spool.db")},
            "attachments": {"path": str(tmp / "attachments")},
            "broker": {"url": bare, "password": "${KANAL_BENCH_AMQP_PASSWORD}", "topology": topology.model_dump()},
            "webhooks": {"host": "127.0.0.1", "port": port, "threads": threads},
            # Ports of their own: another kanal on this machine may hold the defaults.
            "metrics": {"port": free_port(), "router_port": free_port()},
            "router": {"dedup_dsn": "${KANAL_BENCH_DSN}"},
            "log": {"level": "warning", "format": "json"},
            "channels": [{"name": CHANNEL, "type": "sms", "options": {
                "account": "+628111272206", "backend": "kannel", "kannel": {"token": "${KANAL_BENCH_SMS_TOKEN}"}}}],
        }
        self.config = tmp / "kanal.yaml"
        self.config.write_text(json.dumps(config))
        self.tmp = tmp
        self.procs: list[subprocess.Popen] = []

    def start(self, port: int, amqp: str, intake_queue: str) -> None:
        for verb in ("run", "router"):
            log = (self.tmp / f"{verb}.log").open("ab")
            self.procs.append(subprocess.Popen([sys.executable, "-m", "kanal", verb, "--config", str(self.config)],
                                               cwd=ROOT, stdout=log, stderr=log))
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200 and consumers(amqp, intake_queue) > 0:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()  # a half-started pipeline must not outlive the run
        tails = "\n".join(f"--- kanal {verb} (last lines)\n" + "\n".join(
            (self.tmp / f"{verb}.log").read_text(errors="replace").splitlines()[-15:]) for verb in ("run", "router"))
        raise SystemExit(f"kanal run or kanal router did not come up within 60 s:\n{tails}")

    def cpu_meter(self) -> CpuMeter:
        """A meter over ``kanal run`` and ``kanal router`` (and the shared services)."""
        return CpuMeter({"kanal run": self.procs[0].pid, "kanal router": self.procs[1].pid})

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(30)


def consumers(amqp: str, queue_name: str) -> int:
    """Consumers on ``queue_name`` (the router counts as ready once it consumes)."""
    with pika.BlockingConnection(pika.URLParameters(amqp)) as conn:
        return conn.channel().queue_declare(queue_name, passive=True).method.consumer_count


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000.0, help="offered load, SMS/s")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=32, help="gateway connections")
    parser.add_argument("--threads", type=int, default=16,
                        help="kanal run's webhook threads (webhooks.threads); a webhook holds one while it waits "
                             "for its group commit, so fewer threads than connections means smaller groups")
    parser.add_argument("--step", action="store_true", help="raise the load until p99 passes 1 s")
    parser.add_argument("--step-seconds", type=float, default=15.0)
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-baseline", action="store_true", help="measure kanal only (A/B runs)")
    parser.add_argument("--generate", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate:
        port, path, rate, seconds, clients, offset, out = args.generate
        generate(int(port), path, float(rate), float(seconds), int(clients), int(offset), out)
        return

    import psycopg

    from router.topology import agency_queue_names, declare_routed_side, delete_feedback_side, delete_routed_side

    tag = uuid.uuid4().hex[:8]
    topology = TopologyConfig(
        intake_exchange=f"e2e{tag}.intake", intake_queue=f"e2e{tag}.intake.q", dead_letter_exchange=f"e2e{tag}.dlx",
        dead_letter_queue=f"e2e{tag}.dead", routed_exchange=f"e2e{tag}.routed",
        triage_queue=f"e2e{tag}.agency.triage", confidential_queue=f"e2e{tag}.confidential",
        feedback_exchange=f"e2e{tag}.feedback", feedback_queue=f"e2e{tag}.router.feedback",
    )
    agency = agency_queue_names(topology)
    outputs = [*agency.values(), topology.confidential_queue]
    base_in, base_out = f"e2e{tag}.base.in", f"e2e{tag}.base.out"
    db = f"kanal_bench_{tag}"
    with psycopg.connect(args.pg, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {db}")
    pg = args.pg.rsplit("/", 1)[0] + f"/{db}"
    with Connection(args.amqp) as conn:
        channel = conn.channel()
        declare_routed_side(channel, topology, agency)
        for q in (base_in, base_out):
            channel.queue_declare(q, durable=True, auto_delete=False, arguments={"x-queue-type": "quorum"})
    with pika.BlockingConnection(pika.URLParameters(args.amqp)) as conn:
        topo.declare(conn.channel(), topo.intake_topology(topology))
    stop = threading.Event()
    print(f"end to end, {os.cpu_count()} cores; load generator, broker, PostgreSQL and both Kanal processes "
          "share them")
    try:
        with tempfile.TemporaryDirectory() as tmpdir:
            tmp = Path(tmpdir)
            server = baseline_server(args.amqp, "", base_in)
            threading.Thread(target=baseline_relay, args=(args.amqp, base_in, "", base_out, stop),
                             daemon=True).start()
            base_collector = Collector(args.amqp, [base_out])
            base_collector.start()
            port = free_port()
            kanal = Kanal(args.amqp, pg, tmp, topology, port, args.threads)
            kanal.start(port, args.amqp, topology.intake_queue)
            collector = Collector(args.amqp, outputs)
            collector.start()
            path = f"/webhooks/{CHANNEL}/kannel"
            try:
                rates = [args.rate]
                if args.step:
                    rates = [250, 500, 750, 1000, 1250, 1500, 2000, 2500, 3000, 4000]
                seconds = args.step_seconds if args.step else args.seconds
                offset = 0
                for rate in rates:
                    print(f"\noffered {rate:,.0f} SMS/s for {seconds:.0f} s")
                    if not args.no_baseline:
                        base = offer(server.server_address[1], "/sms", rate, seconds, args.clients, offset,
                                     base_collector, tmp, args.amqp, base_in, CpuMeter({}))
                        show("baseline", base)
                    offset += 10_000_000
                    kan = offer(port, path, rate, seconds, args.clients, offset, collector, tmp, args.amqp,
                                topology.intake_queue, kanal.cpu_meter())
                    offset += 10_000_000
                    show("kanal", kan)
                    if not args.no_baseline:
                        print(f"  ratio kanal / baseline: throughput {kan['throughput'] / base['throughput']:.2f}x  "
                              f"p99 {kan['p99'] / base['p99']:.1f}x")
                    ok = kan["lost"] == 0 and kan["repeats"] == 0
                    print(f"  nothing lost or twice: {'yes' if ok else 'NO'}")
                    if args.step and kan["p99"] > 1.0:
                        print(f"\np99 passed 1 s at an offered load of {rate:,.0f} SMS/s")
                        break
            finally:
                collector.stop.set()
                base_collector.stop.set()
                kanal.stop()
                stop.set()
                server.shutdown()
    finally:
        with Connection(args.amqp) as conn:
            channel = conn.channel()
            delete_routed_side(channel, topology, agency)
            delete_feedback_side(channel, topology)
            for q in (base_in, base_out):
                channel.queue_delete(q)
        with pika.BlockingConnection(pika.URLParameters(args.amqp)) as conn:
            topo.delete(conn.channel(), topo.intake_topology(topology))
        with psycopg.connect(args.pg, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


if __name__ == "__main__":
    main()
