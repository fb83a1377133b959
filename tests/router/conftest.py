"""Fixtures for router tests: a uniquely named topology on the shared RabbitMQ
(deleted afterwards), a PostgreSQL dedup table per test, and a router."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika
import psycopg
import pytest

from config.models import RouterConfig, TopologyConfig
from kanal import topology as intake
from router.consumer import RouterConsumer
from router.dedup import PostgresDedupStore
from router.engine import Router
from router.rules import load_rules
from router.topology import delete_feedback_side, delete_routed_side
from tests.services import require_postgres, require_rabbitmq


@pytest.fixture(scope="session")
def rules():
    """The shipped rules, compiled once."""
    return load_rules()


@pytest.fixture
def topology() -> TopologyConfig:
    """Unique names for every exchange and queue of one test; delivery limit 3."""
    n = uuid.uuid4().hex[:10]
    return TopologyConfig(
        intake_exchange=f"t.{n}.intake", intake_queue=f"t.{n}.intake.q", intake_routing_key="complaint.received",
        dead_letter_exchange=f"t.{n}.dlx", dead_letter_queue=f"t.{n}.dead", delivery_limit=3,
        routed_exchange=f"t.{n}.routed", triage_queue=f"t.{n}.agency.triage",
        confidential_queue=f"t.{n}.confidential", feedback_exchange=f"t.{n}.feedback",
        feedback_queue=f"t.{n}.router.feedback",
    )


@pytest.fixture
def amqp_url() -> str:
    """The shared broker (fails in CI when absent)."""
    return require_rabbitmq()


@pytest.fixture
def postgres_dsn() -> str:
    """The shared PostgreSQL (fails in CI when absent)."""
    return require_postgres()


@pytest.fixture
def dedup_table(postgres_dsn: str) -> Iterator[str]:
    """A dedup table name of its own, dropped afterwards."""
    table = f"t_router_dedup_{uuid.uuid4().hex[:10]}"
    yield table
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")


@dataclass
class Broker:
    """A pika channel on the test topology, for publishing and inspecting queues."""

    channel: Any
    topology: TopologyConfig

    def publish(self, complaint: Any) -> None:
        from tests.router.helpers import publish_intake

        publish_intake(self.channel, self.topology.intake_exchange, self.topology.intake_routing_key, complaint)

    def drain(self, queue: str) -> list[tuple[Any, bytes]]:
        """Every message now in ``queue`` (acked), as (properties, body)."""
        out = []
        while True:
            method, props, body = self.channel.basic_get(queue, auto_ack=True)
            if method is None:
                return out
            out.append((props, body))

    def depth(self, queue: str) -> int:
        return self.channel.queue_declare(queue, passive=True).method.message_count


@pytest.fixture
def broker(amqp_url: str, topology: TopologyConfig, rules: Any) -> Iterator[Broker]:
    """Intake side declared (kanal/topology.py), routed side deleted after the test."""
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = conn.channel()
    intake.declare(channel, intake.intake_topology(topology))
    yield Broker(channel, topology)
    queues = agency_queue_names(topology, rules)
    with _kombu_channel(amqp_url) as kch:
        delete_routed_side(kch, topology, queues)
    with _kombu_channel(amqp_url) as kch:
        delete_feedback_side(kch, topology)  # when a test declared it
    intake.delete(channel, intake.intake_topology(topology))
    conn.close()


def agency_queue_names(topology: TopologyConfig, rules: Any) -> dict[str, str]:
    """Agency code -> queue name as the router names them."""
    router = Router(rules, topology)
    return {code: router.agency_queue(code) for code in router.agency_codes()}


class _kombu_channel:
    def __init__(self, url: str) -> None:
        from kombu import Connection

        self.conn = Connection(url)

    def __enter__(self) -> Any:
        return self.conn.channel()

    def __exit__(self, *exc: object) -> None:
        self.conn.release()


@pytest.fixture
def start_router(amqp_url: str, topology: TopologyConfig, rules: Any, postgres_dsn: str, dedup_table: str
                 ) -> Iterator[Callable[..., RouterConsumer]]:
    """Start in-process router replicas (threads) sharing one PostgreSQL dedup table."""
    started: list[tuple[threading.Thread, threading.Event]] = []

    def start(**options: Any) -> RouterConsumer:
        def factory() -> PostgresDedupStore:
            return PostgresDedupStore(postgres_dsn, table=dedup_table)

        from router.engine import RouterOptions

        router = Router(rules, topology, RouterOptions(**options), factory)
        consumer = RouterConsumer(amqp_url, topology, router, prefetch=50)
        stop = threading.Event()
        thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
        thread.start()
        started.append((thread, stop))
        assert consumer.ready.wait(20), "router did not start consuming"
        return consumer

    yield start
    for thread, stop in started:
        stop.set()
    for thread, _ in started:
        thread.join(10)


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout``; returns the last result."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


__all__ = ["Broker", "Path", "RouterConfig", "agency_queue_names", "wait_for"]
