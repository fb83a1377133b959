"""Forwarder throughput next to a raw pika publisher, same broker, same run.

Both publish the same complaints (same body size, persistent, mandatory) to a
durable topic exchange bound to a quorum queue, with streaming publisher confirms
and the same window. The baseline is the bare minimum: pre-built bodies and
properties, one pika SelectConnection, a dict of delivery tags. The forwarder
additionally reads the spool outbox, decodes each complaint, builds the contract's
properties and removes confirmed rows from the spool. Target: ratio >= 0.6.

    .venv/bin/python benchmarks/bench_forwarder.py [--messages 20000] [--window 500] [--rounds 4]

Needs RabbitMQ on 127.0.0.1:5672 (guest/guest) or KANAL_TEST_AMQP_URL. Queues and
exchanges get unique names and are deleted afterwards. The machine may be shared:
rounds alternate the order, and the best round of each (least disturbed) is the
headline figure, with the medians next to it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pika
from pika.adapters.select_connection import SelectConnection

from config.models import BrokerConfig, TopologyConfig
from connectors.base import Outcome, RawMessage
from kanal import topology as topo
from kanal.forwarder import Forwarder, basic_properties
from kanal.spool import Spool
from normalizer.complaint import ChannelRef, Complaint, Location, Reporter
from normalizer.wire import encode_complaint, to_wire

URL = os.environ.get("KANAL_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def make_complaints(n: int) -> list[Complaint]:
    """``n`` made-up SMS-sized complaints."""
    now = datetime.now(UTC)
    base = Complaint(
        id=uuid.uuid4(),
        channel=ChannelRef(type="sms", name="sms-1708", account="1708"),
        provider_message_id="0",
        received_at=now,
        requested_datetime=now,
        reporter=Reporter(phone="+6281200001234"),
        description="Sampah menumpuk di pinggir kali dekat RT 05 RW 02, sudah tiga hari belum diangkut. Mohon PPSU.",
        location=Location(address_string="Kelurahan Gambir", method="text"),
        raw_ref="raw:sha256:" + "0" * 64,
    )
    return [base.model_copy(update={"id": uuid.uuid4(), "provider_message_id": str(i)}) for i in range(n)]


def unique_topology() -> TopologyConfig:
    tag = f"kanalbench.{uuid.uuid4().hex[:8]}"
    return TopologyConfig(
        intake_exchange=f"{tag}.intake", intake_queue=f"{tag}.intake.q",
        dead_letter_exchange=f"{tag}.dlx", dead_letter_queue=f"{tag}.dead",
    )


def declare(topology: TopologyConfig) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    topo.declare(connection.channel(), topo.intake_topology(topology))
    connection.close()


def cleanup(topology: TopologyConfig) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    topo.delete(connection.channel(), topo.intake_topology(topology))
    connection.close()


class RawPublisher:
    """Baseline: the best bare pika publisher we could write for the same exchange, queue,
    persistence and ``mandatory``: one SelectConnection, streaming confirms, ``window``
    (256+) in flight, pre-built bodies and properties, confirms settled in O(1) (the
    broker confirms in order here), and refills in bursts once half the window is free
    rather than one publish per confirm frame."""

    def __init__(self, messages: list[tuple[bytes, pika.BasicProperties]], topology: TopologyConfig, window: int):
        self.messages = messages
        self.topology = topology
        self.window = window
        self.next = 0
        self.tag = 0
        self.low = 0  # every tag <= low is confirmed
        self.singles: set[int] = set()  # confirmed one by one above low
        self.confirmed = 0
        self.channel = None

    def run(self) -> float:
        self.connection = SelectConnection(pika.URLParameters(URL), on_open_callback=self._on_open)
        self.started = time.perf_counter()
        self.connection.ioloop.start()
        return self.elapsed

    def _on_open(self, connection: SelectConnection) -> None:
        connection.channel(on_open_callback=self._on_channel)

    def _on_channel(self, channel) -> None:
        self.channel = channel
        channel.add_on_return_callback(lambda *_a: sys.exit("baseline: a message was returned"))
        channel.confirm_delivery(ack_nack_callback=self._on_confirm, callback=lambda _f: self._publish())

    def _publish(self) -> None:
        exchange, key = self.topology.intake_exchange, self.topology.intake_routing_key
        publish = self.channel.basic_publish
        room = min(self.window - (self.tag - self.confirmed), len(self.messages) - self.next)
        messages, start = self.messages, self.next
        for body, props in messages[start : start + room]:
            publish(exchange, key, body, props, mandatory=True)
        self.next += room
        self.tag += room

    def _on_confirm(self, frame) -> None:
        method = frame.method
        if not isinstance(method, pika.spec.Basic.Ack):
            sys.exit("baseline: the broker nacked")
        tag = method.delivery_tag
        if method.multiple:
            done = {s for s in self.singles if s <= tag}
            self.confirmed += tag - self.low - len(done)
            self.singles -= done
            self.low = tag
        else:
            self.singles.add(tag)
            self.confirmed += 1
        if self.confirmed == len(self.messages):
            self.elapsed = time.perf_counter() - self.started
            self.connection.close()
            self.connection.ioloop.stop()
            return
        if self.tag - self.confirmed <= self.window // 2:
            self._publish()


def fill_spool(spool: Spool, complaints: list[Complaint]) -> None:
    now = datetime.now(UTC)
    for start in range(0, len(complaints), 1000):
        outcomes = []
        for c in complaints[start : start + 1000]:
            raw = RawMessage(c.provider_message_id, c.provider_message_id.encode(), now)
            kept = c.model_copy(update={"raw_ref": raw.raw_ref})
            outcomes.append(Outcome(raw, "accepted", kept, encode_complaint(c)))
        spool.commit("sms-1708", "sms", outcomes)


def bench_raw(complaints: list[Complaint], window: int) -> float:
    topology = unique_topology()
    declare(topology)
    try:
        messages = []
        for c in complaints:
            wire = to_wire(c)
            messages.append((wire.body, basic_properties(wire)))
        elapsed = RawPublisher(messages, topology, window).run()
    finally:
        cleanup(topology)
    return len(complaints) / elapsed


def bench_forwarder(complaints: list[Complaint], window: int) -> float:
    topology = unique_topology()
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp) / "spool.db")
        fill_spool(spool, complaints)
        os.environ["BENCH_AMQP_URL"] = URL  # the whole URL as a reference: it holds the password
        broker = BrokerConfig(url="${BENCH_AMQP_URL}", topology=topology, confirm_window=window)
        forwarder = Forwarder(spool, broker)
        forwarder.declare_topology()  # as the raw run: declaring is not part of the figure
        stop = threading.Event()
        thread = threading.Thread(target=forwarder.run, args=(stop,))
        started = time.perf_counter()
        thread.start()
        try:
            while forwarder.stats.confirmed < len(complaints):
                time.sleep(0.005)
            while spool.depth():
                time.sleep(0.005)
            elapsed = time.perf_counter() - started
        finally:
            stop.set()
            thread.join()
            spool.close()
            cleanup(topology)
    return len(complaints) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()

    from kanal.logs import configure_logging

    configure_logging("warning", "console")
    complaints = make_complaints(args.messages)
    size = len(encode_complaint(complaints[0]))
    print(f"{args.messages} persistent messages of {size} B per run, window {args.window}, quorum queue, "
          f"{URL.split('@')[-1]}")
    raw_rates, fwd_rates = [], []
    for round_no in range(1, args.rounds + 1):
        # Alternate the order so a burst of load from elsewhere hits both alike.
        if round_no % 2:
            raw_rates.append(bench_raw(complaints, args.window))
            fwd_rates.append(bench_forwarder(complaints, args.window))
        else:
            fwd_rates.append(bench_forwarder(complaints, args.window))
            raw_rates.append(bench_raw(complaints, args.window))
        print(f"  round {round_no}: raw pika {raw_rates[-1]:8.0f} msg/s   forwarder {fwd_rates[-1]:8.0f} msg/s")
    raw_best, fwd_best = max(raw_rates), max(fwd_rates)
    raw_median, fwd_median = statistics.median(raw_rates), statistics.median(fwd_rates)
    print(f"raw pika publisher (streaming confirms): best {raw_best:8.0f} msg/s   median {raw_median:8.0f} msg/s")
    print(f"kanal forwarder (spool -> broker):       best {fwd_best:8.0f} msg/s   median {fwd_median:8.0f} msg/s")
    print(f"ratio forwarder / raw: best {fwd_best / raw_best:.2f}   median {fwd_median / raw_median:.2f}"
          "   (target >= 0.6)")

if __name__ == "__main__":
    main()
