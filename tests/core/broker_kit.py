"""Helpers for tests that talk to a real RabbitMQ: unique topology names, a running
forwarder, reading a queue back, and the delivery checker (lost / duplicated /
conflicting ids), in the spirit of the Jepsen RabbitMQ checker."""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import threading
import time
import urllib.parse
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pika

from config.models import BrokerConfig, TopologyConfig
from connectors.base import RawMessage
from kanal import topology as topo
from kanal.forwarder import Forwarder


def listen_port() -> int:
    """A free TCP port for a server a test restarts on the same port.

    It lies below the kernel's ephemeral range, so no outgoing connection can take it
    while the server is down; in particular a client retrying against a port nobody
    listens on can otherwise connect to itself (TCP simultaneous open) and keep the
    port busy.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, max(20001, low))
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    msg = "no free port below the ephemeral range"
    raise RuntimeError(msg)


def unique_topology(prefix: str = "kanaltest") -> TopologyConfig:
    """A topology whose every name is unique to one test."""
    tag = f"{prefix}.{uuid.uuid4().hex[:10]}"
    return TopologyConfig(
        intake_exchange=f"{tag}.intake",
        intake_queue=f"{tag}.intake.q",
        intake_routing_key="complaint.received",
        dead_letter_exchange=f"{tag}.dlx",
        dead_letter_queue=f"{tag}.dead",
        delivery_limit=5,
    )


#: The environment variable the tests' broker password travels in, as in production.
PASSWORD_VAR = "KANAL_TEST_AMQP_PASSWORD"


def documented_broker(url: str) -> dict[str, str]:
    """``url`` in the shape config/kanal.example.yaml documents: the URL names the user
    only and ``password`` is a ``${VAR}`` reference (the variable is set here).

    Every test builds its broker settings this way, so the tests run the shape ops
    configure, not a URL with the password inside it.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return {"url": url}
    os.environ[PASSWORD_VAR] = urllib.parse.unquote(parts.password)
    netloc = f"{parts.username}@{parts.netloc.rpartition('@')[2]}"
    bare = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return {"url": bare, "password": "${" + PASSWORD_VAR + "}"}


def broker_config(url: str, topology: TopologyConfig, **overrides: object) -> BrokerConfig:
    """Broker settings for a test (documented shape), short heartbeats so outages are noticed fast."""
    settings: dict[str, object] = {**documented_broker(url), "topology": topology, "heartbeat": 5,
                                   "confirm_window": 200}
    settings.update(overrides)
    return BrokerConfig(**settings)


@contextlib.contextmanager
def blocking_channel(url: str) -> Iterator[pika.adapters.blocking_connection.BlockingChannel]:
    """A pika blocking channel on ``url``, closed afterwards."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        yield connection.channel()
    finally:
        if connection.is_open:
            connection.close()


def delete_topology(url: str, topology: TopologyConfig) -> None:
    """Remove a test's exchanges and queues from the broker."""
    with blocking_channel(url) as channel:
        topo.delete(channel, topo.intake_topology(topology))


@dataclass(frozen=True)
class Delivered:
    """One message read back from a queue."""

    properties: pika.BasicProperties
    body: bytes

    @property
    def message_id(self) -> str:
        """The AMQP message_id."""
        return self.properties.message_id

    @property
    def json(self) -> dict:
        """The body as JSON."""
        return json.loads(self.body)


def read_queue(url: str, queue: str, settle: float = 0.5, timeout: float = 30.0) -> list[Delivered]:
    """Consume everything in ``queue`` (acking it) until nothing came for ``settle`` seconds.

    A quorum queue answers ``declare-ok`` before its Raft member runs, and a consume in
    that window closes the connection with 541 INTERNAL_ERROR (rabbitmq-server 3.10;
    rabbitmq/rabbitmq-server#13775, wagslane/go-rabbitmq#200). A test that reads a queue
    another process has just declared meets it, so that one answer is retried.
    """
    deadline = time.monotonic() + timeout
    while True:
        messages: list[Delivered] = []
        try:
            with blocking_channel(url) as channel:
                channel.basic_qos(prefetch_count=500)
                for method, properties, body in channel.consume(queue, inactivity_timeout=settle):
                    if method is None or time.monotonic() > deadline:
                        break
                    messages.append(Delivered(properties, body))
                    channel.basic_ack(method.delivery_tag)
                channel.cancel()
            return messages
        except pika.exceptions.ConnectionClosedByBroker as exc:
            if exc.reply_code != 541 or messages or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def queue_depth(url: str, queue: str) -> int:
    """Messages ready in ``queue`` (passive declare)."""
    with blocking_channel(url) as channel:
        return channel.queue_declare(queue, passive=True).method.message_count


@contextlib.contextmanager
def running(forwarder: Forwarder) -> Iterator[threading.Event]:
    """Run ``forwarder`` in a thread; stop it (and wait) on exit."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            forwarder.run(stop)
        except BaseException as exc:  # noqa: BLE001 - surfaced in the test below
            errors.append(exc)

    thread = threading.Thread(target=target, name="test-forwarder", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive(), "the forwarder did not stop within 20 s"
    assert not errors, f"the forwarder raised {errors[0]!r}"


def wait_for(condition, timeout: float = 30.0, interval: float = 0.05, what: str = "condition") -> None:
    """Poll ``condition()`` until it is true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def desk_payload(ref: str, text: str | None = None) -> bytes:
    """A walk-in desk JSON payload (made-up data)."""
    return json.dumps(
        {
            "id": ref,
            "description": text or f"Lampu PJU mati di gang {ref}, mohon diperbaiki.",
            "reporter": {"name": "Warga Uji", "phone": "081200001234"},
            "address": "Jl. Contoh No. 1, Gambir",
            "submitted_at": "2026-11-27T09:15:00+07:00",
        }
    ).encode()


def desk_raw(ref: str) -> RawMessage:
    """A raw walk-in message as the HTTP endpoint would build it."""
    return RawMessage(f"http:{ref}", desk_payload(ref), datetime.now(UTC), {"via": "http"})


@dataclass
class DeliveryReport:
    """How a set of acknowledged complaint ids fared on the broker."""

    expected: set[str]
    seen: Counter = field(default_factory=Counter)
    bodies: dict[str, set[bytes]] = field(default_factory=lambda: defaultdict(set))
    refs: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    @property
    def lost(self) -> set[str]:
        """Acknowledged ids that never reached the queue."""
        return self.expected - set(self.seen)

    @property
    def duplicated(self) -> int:
        """Extra copies (same message_id) on the queue."""
        return sum(n - 1 for n in self.seen.values())

    @property
    def conflicting(self) -> dict[str, set[str]]:
        """Source references that reached the queue under more than one message_id."""
        return {ref: ids for ref, ids in self.refs.items() if len(ids) > 1}

    @property
    def inconsistent(self) -> set[str]:
        """message_ids whose copies differ in body."""
        return {mid for mid, bodies in self.bodies.items() if len(bodies) > 1}


def check_delivery(expected: Iterable[str], messages: Iterable[Delivered]) -> DeliveryReport:
    """Classify queue contents against the ids acknowledged to their sources."""
    report = DeliveryReport(set(expected))
    for message in messages:
        body = message.json
        assert message.message_id == body["id"], "message_id must be the complaint id"
        report.seen[message.message_id] += 1
        report.bodies[message.message_id].add(message.body)
        report.refs[body["provider_message_id"]].add(message.message_id)
    return report
