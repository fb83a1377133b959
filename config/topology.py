"""Kanal's whole RabbitMQ topology, described once, as data.

Every exchange, queue (with its ``x-`` arguments) and binding of both sides is built
here from :class:`config.models.TopologyConfig` and the agency codes of the routing
rules (passed in: this layer does not read the rules). Nothing here talks to a
broker; the declarers walk the same model:

* the forwarder declares :func:`intake_topology` with pika (kanal/topology.py);
* the router declares :func:`routed_topology` with kombu (router/topology.py);
* :func:`definitions` renders :func:`full_topology` as the RabbitMQ definitions
  document that ``kanal topology`` prints and config/rabbitmq-definitions.json holds.

The intake side:
    ``intake_exchange``      durable topic exchange the forwarder publishes to
    ``intake_queue``         quorum queue bound with ``intake_routing_key``; explicit
                             ``x-delivery-limit``, dead-lettered at least once to the DLX
    ``dead_letter_exchange`` durable topic exchange for messages given up on
    ``dead_letter_queue``    quorum queue bound to the DLX with ``#``

The routed side:
    ``routed_exchange``      durable topic exchange the router publishes to
    one quorum queue per agency, ``<prefix>.<agency>`` (the prefix is the triage queue's
    name without its last part, ``kanal.agency`` by default), bound with ``agency.<agency>.#``;
    ``triage_queue`` bound with ``agency.triage.#``; ``confidential_queue`` bound with
    ``confidential.#`` and nothing else;
    ``feedback_exchange``    durable topic exchange the CRM publishes corrections
                             ``{complaint_id, agency}`` to (docs/router.md, corrections)
    ``feedback_queue``       the router's quorum queue of corrections, bound with ``#``

Changing an argument here makes RabbitMQ refuse the redeclare on an existing
deployment (406 PRECONDITION_FAILED): see docs/message-contract.md before you do.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from config.models import TopologyConfig

#: Routing key that binds the dead-letter queue to the DLX: every dead letter.
DEAD_LETTER_BINDING = "#"

#: Agency code of the triage queue (complaints no rule is trusted enough to route).
TRIAGE = "triage"


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
    """Exchanges, queues and bindings in declaration order (exchanges first, bindings last)."""

    exchanges: tuple[Exchange, ...]
    queues: tuple[Queue, ...]
    bindings: tuple[Binding, ...]

    def __add__(self, other: Topology) -> Topology:
        """Both topologies, this one's parts first."""
        return Topology(self.exchanges + other.exchanges, self.queues + other.queues,
                        self.bindings + other.bindings)

    def queue(self, name: str) -> Queue:
        """The queue called ``name`` (KeyError when there is none)."""
        for queue in self.queues:
            if queue.name == name:
                return queue
        raise KeyError(name)


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


def dead_letter_queue_arguments() -> dict[str, Any]:
    """Arguments of the dead-letter queue: quorum, nothing else (it dead-letters nowhere)."""
    return {"x-queue-type": "quorum"}


def routed_queue_arguments(config: TopologyConfig) -> dict[str, Any]:
    """Arguments of every routed-side queue (agencies, triage, confidential)."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": config.delivery_limit,
        "x-dead-letter-exchange": config.dead_letter_exchange,
    }


def agency_queue_name(config: TopologyConfig, agency: str) -> str:
    """Queue name of an agency (the triage queue for :data:`TRIAGE`)."""
    if agency == TRIAGE:
        return config.triage_queue
    return f"{config.triage_queue.rsplit('.', 1)[0]}.{agency}"


def agency_queue_names(config: TopologyConfig, agencies: Iterable[str]) -> dict[str, str]:
    """Agency code -> queue name for ``agencies`` in their order, plus triage (last
    unless listed): every queue the router may route a non-confidential complaint to."""
    codes = [*dict.fromkeys(agencies)]
    if TRIAGE not in codes:
        codes.append(TRIAGE)
    return {code: agency_queue_name(config, code) for code in codes}


def intake_topology(config: TopologyConfig) -> Topology:
    """The intake side for ``config`` (declared by the forwarder)."""
    return Topology(
        exchanges=(Exchange(config.intake_exchange), Exchange(config.dead_letter_exchange)),
        queues=(
            Queue(config.intake_queue, intake_queue_arguments(config)),
            Queue(config.dead_letter_queue, dead_letter_queue_arguments()),
        ),
        bindings=(
            Binding(config.intake_exchange, config.intake_queue, config.intake_routing_key),
            Binding(config.dead_letter_exchange, config.dead_letter_queue, DEAD_LETTER_BINDING),
        ),
    )


#: Routing key that binds the feedback queue to the feedback exchange: every correction.
FEEDBACK_BINDING = "#"


def routed_topology(config: TopologyConfig, agencies: Iterable[str]) -> Topology:
    """The routed side for ``config`` and the rules' agency codes, with the corrections'
    exchange and queue (:func:`feedback_topology`): everything the router declares."""
    fed = [(queue, f"agency.{code}.#") for code, queue in agency_queue_names(config, agencies).items()]
    fed.append((config.confidential_queue, "confidential.#"))
    arguments = routed_queue_arguments(config)
    return Topology(
        exchanges=(Exchange(config.routed_exchange),),
        queues=tuple(Queue(queue, dict(arguments)) for queue, _ in fed),
        bindings=tuple(Binding(config.routed_exchange, queue, key) for queue, key in fed),
    ) + feedback_topology(config)


def feedback_topology(config: TopologyConfig) -> Topology:
    """The corrections' exchange and the router's queue of them (consumed by
    router/feedback_consumer.py); the queue has the routed queues' arguments."""
    return Topology(
        exchanges=(Exchange(config.feedback_exchange),),
        queues=(Queue(config.feedback_queue, routed_queue_arguments(config)),),
        bindings=(Binding(config.feedback_exchange, config.feedback_queue, FEEDBACK_BINDING),),
    )


def full_topology(config: TopologyConfig, agencies: Iterable[str]) -> Topology:
    """Both sides: the intake side, then the routed side."""
    return intake_topology(config) + routed_topology(config, agencies)


def definitions(topology: Topology, vhost: str = "/") -> dict[str, Any]:
    """Render ``topology`` as a RabbitMQ definitions document.

    Import it with ``rabbitmqctl import_definitions FILE`` or the management UI's
    "Import definitions"; it holds no users or permissions, only the topology.
    """
    return {
        "vhosts": [{"name": vhost}],
        "exchanges": [
            {"name": e.name, "vhost": vhost, "type": e.type, "durable": True, "auto_delete": False,
             "internal": False, "arguments": dict(e.arguments)}
            for e in topology.exchanges
        ],
        "queues": [
            {"name": q.name, "vhost": vhost, "durable": True, "auto_delete": False, "arguments": dict(q.arguments)}
            for q in topology.queues
        ],
        "bindings": [
            {"source": b.exchange, "vhost": vhost, "destination": b.queue, "destination_type": "queue",
             "routing_key": b.routing_key, "arguments": {}}
            for b in topology.bindings
        ],
    }


def render(topology: Topology, vhost: str = "/") -> str:
    """The definitions document of ``topology`` as JSON text, in the committed file's layout."""
    return json.dumps(definitions(topology, vhost), indent=2) + "\n"
