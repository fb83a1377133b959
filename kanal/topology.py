"""The intake side of Kanal's RabbitMQ topology, described once and used three ways.

The forwarder declares it on every (re)connect, ops import it as a RabbitMQ
definitions file (``config/rabbitmq-definitions.json``, rendered by
``python -m kanal.topology``), and the CRM contract (docs/message-contract.md)
documents it. Names come from :class:`config.models.TopologyConfig`.

What is declared:
    ``intake_exchange``      durable topic exchange the forwarder publishes to
    ``intake_queue``         durable quorum queue bound with ``intake_routing_key``;
                             explicit ``x-delivery-limit``, dead-lettered at least
                             once to ``dead_letter_exchange``
    ``dead_letter_exchange`` durable topic exchange for messages the router gave up on
    ``dead_letter_queue``    durable quorum queue bound to the DLX with ``#``

The routed side (agency queues) belongs to the router and is declared there.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from config.models import TopologyConfig

if TYPE_CHECKING:
    from pika.adapters.blocking_connection import BlockingChannel

#: Routing key that binds the dead-letter queue to the DLX: every dead letter.
DEAD_LETTER_BINDING = "#"


@dataclass(frozen=True, slots=True)
class Exchange:
    """A durable exchange."""

    name: str
    type: str = "topic"
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Queue:
    """A durable queue and its ``x-`` arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Binding:
    """A queue bound to an exchange with a routing key."""

    exchange: str
    queue: str
    routing_key: str


@dataclass(frozen=True, slots=True)
class Topology:
    """Every exchange, queue and binding of the intake side, in declaration order."""

    exchanges: tuple[Exchange, ...]
    queues: tuple[Queue, ...]
    bindings: tuple[Binding, ...]


def intake_queue_arguments(config: TopologyConfig) -> dict[str, Any]:
    """Arguments of the intake quorum queue.

    ``x-dead-letter-strategy: at-least-once`` makes RabbitMQ dead-letter with its own
    publisher confirms (the default strategy may lose a dead letter); it requires
    ``x-overflow: reject-publish``, which also means a full queue refuses (nacks) a
    publish rather than dropping the oldest complaint.
    """
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": config.delivery_limit,
        "x-dead-letter-exchange": config.dead_letter_exchange,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def intake_topology(config: TopologyConfig) -> Topology:
    """Describe the intake side for ``config``."""
    return Topology(
        exchanges=(Exchange(config.intake_exchange), Exchange(config.dead_letter_exchange)),
        queues=(
            Queue(config.intake_queue, intake_queue_arguments(config)),
            Queue(config.dead_letter_queue, {"x-queue-type": "quorum"}),
        ),
        bindings=(
            Binding(config.intake_exchange, config.intake_queue, config.intake_routing_key),
            Binding(config.dead_letter_exchange, config.dead_letter_queue, DEAD_LETTER_BINDING),
        ),
    )


def declare(channel: BlockingChannel, topology: Topology) -> None:
    """Declare ``topology`` on a pika blocking channel; idempotent.

    Raises:
        pika.exceptions.ChannelClosedByBroker: a queue or exchange already exists
            with other arguments (406 PRECONDITION_FAILED); the message names it.
    """
    for exchange in topology.exchanges:
        channel.exchange_declare(
            exchange.name, exchange_type=exchange.type, durable=True, arguments=exchange.arguments or None
        )
    for queue in topology.queues:
        channel.queue_declare(queue.name, durable=True, arguments=queue.arguments)
    for binding in topology.bindings:
        channel.queue_bind(binding.queue, binding.exchange, routing_key=binding.routing_key)


def declare_async(channel: Any, topology: Topology, on_done: Callable[[], None]) -> None:
    """Declare ``topology`` on a pika asynchronous channel (SelectConnection), one
    step after the other, then call ``on_done``. A refusal (406 PRECONDITION_FAILED)
    closes the channel, which the channel's close callback reports."""
    steps: list[Callable[[Callable[[Any], None]], None]] = []
    for e in topology.exchanges:
        steps.append(
            lambda cb, e=e: channel.exchange_declare(
                e.name, exchange_type=e.type, durable=True, arguments=e.arguments or None, callback=cb
            )
        )
    for q in topology.queues:
        steps.append(lambda cb, q=q: channel.queue_declare(q.name, durable=True, arguments=q.arguments, callback=cb))
    for b in topology.bindings:
        steps.append(lambda cb, b=b: channel.queue_bind(b.queue, b.exchange, routing_key=b.routing_key, callback=cb))

    def run(index: int) -> None:
        if index == len(steps):
            on_done()
        else:
            steps[index](lambda _frame: run(index + 1))

    run(0)


def delete(channel: BlockingChannel, topology: Topology) -> None:
    """Delete every queue and exchange of ``topology`` (tests, teardown). Messages are lost."""
    for queue in topology.queues:
        channel.queue_delete(queue.name)
    for exchange in topology.exchanges:
        channel.exchange_delete(exchange.name)


def definitions(topology: Topology | TopologyConfig, vhost: str = "/") -> dict[str, Any]:
    """Render ``topology`` (or the intake topology of a config) as a RabbitMQ
    definitions document.

    Import it with ``rabbitmqctl import_definitions FILE`` or the management UI's
    "Import definitions"; it holds no users or permissions, only the topology.
    """
    if isinstance(topology, TopologyConfig):
        topology = intake_topology(topology)
    return {
        "vhosts": [{"name": vhost}],
        "exchanges": [
            {
                "name": e.name,
                "vhost": vhost,
                "type": e.type,
                "durable": True,
                "auto_delete": False,
                "internal": False,
                "arguments": dict(e.arguments),
            }
            for e in topology.exchanges
        ],
        "queues": [
            {"name": q.name, "vhost": vhost, "durable": True, "auto_delete": False, "arguments": dict(q.arguments)}
            for q in topology.queues
        ],
        "bindings": [
            {
                "source": b.exchange,
                "vhost": vhost,
                "destination": b.queue,
                "destination_type": "queue",
                "routing_key": b.routing_key,
                "arguments": {},
            }
            for b in topology.bindings
        ],
    }


def full_definitions(config: TopologyConfig, rules_path: Any = None, vhost: str = "/") -> dict[str, Any]:
    """Both sides as one definitions document: the intake side declared by the
    forwarder and the routed side (routed exchange, one queue per agency of the
    rules, triage, confidential) declared by the router."""
    from router.topology import agency_queue_names
    from router.topology import definitions as routed_definitions

    document = definitions(intake_topology(config), vhost)
    routed = routed_definitions(config, agency_queue_names(config, rules_path), vhost)
    for key in ("exchanges", "queues", "bindings"):
        document[key].extend(routed[key])
    return document


def render_definitions(config: TopologyConfig | None = None, vhost: str = "/") -> str:
    """The definitions JSON text exactly as committed in config/rabbitmq-definitions.json
    (both sides, default names, shipped rules)."""
    document = full_definitions(config or TopologyConfig(), None, vhost)
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Print the definitions of the default topology (``python -m kanal.topology``)."""
    parser = argparse.ArgumentParser(prog="python -m kanal.topology", description=main.__doc__)
    parser.add_argument("--vhost", default="/", help="virtual host the definitions target")
    args = parser.parse_args(argv)
    sys.stdout.write(render_definitions(vhost=args.vhost))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
