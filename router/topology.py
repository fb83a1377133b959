"""The routed side of Kanal's RabbitMQ topology, declared by the router.

* ``routed_exchange``: durable topic exchange the router publishes to.
* one durable quorum queue per agency, ``<prefix>.<agency>`` (the prefix is the
  triage queue's name without its last part, ``kanal.agency`` by default), bound
  with ``agency.<agency>.#``;
* ``triage_queue`` bound with ``agency.triage.#``;
* ``confidential_queue`` bound with ``confidential.#`` and nothing else;
* ``feedback_exchange`` (durable topic) and ``feedback_queue`` bound with ``#``: the
  CRM's corrections ``{complaint_id, agency}`` (docs/router.md, corrections).

Every queue has the same arguments style as the intake side: quorum, an explicit
``x-delivery-limit`` and the dead-letter exchange. Declaring is idempotent; the
intake side (exchange, intake queue, DLX, DLQ) belongs to kanal/topology.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kombu import Exchange, Queue

from config.models import TopologyConfig


@dataclass(frozen=True, slots=True)
class RoutedQueue:
    """A queue of the routed side and the binding key that feeds it."""

    name: str
    binding_key: str


def queue_arguments(topology: TopologyConfig) -> dict[str, Any]:
    """Arguments of every routed-side queue."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": topology.delivery_limit,
        "x-dead-letter-exchange": topology.dead_letter_exchange,
    }


def routed_queues(topology: TopologyConfig, agency_queues: dict[str, str]) -> list[RoutedQueue]:
    """The routed-side queues for ``agency_queues`` (agency code -> queue name)."""
    out = [RoutedQueue(queue, f"agency.{code}.#") for code, queue in agency_queues.items()]
    out.append(RoutedQueue(topology.confidential_queue, "confidential.#"))
    return out


def routed_exchange(topology: TopologyConfig) -> Exchange:
    """The routed topic exchange."""
    return Exchange(topology.routed_exchange, type="topic", durable=True)


def declare_routed_side(channel: Any, topology: TopologyConfig, agency_queues: dict[str, str]) -> None:
    """Declare the routed exchange, queues and bindings on a kombu channel (idempotent)."""
    exchange = routed_exchange(topology)
    exchange(channel).declare()
    args = queue_arguments(topology)
    for spec in routed_queues(topology, agency_queues):
        Queue(spec.name, exchange, routing_key=spec.binding_key, durable=True, queue_arguments=args)(
            channel
        ).declare()


def feedback_exchange(topology: TopologyConfig) -> Exchange:
    """The exchange the CRM publishes corrections to."""
    return Exchange(topology.feedback_exchange, type="topic", durable=True)


def feedback_queue(topology: TopologyConfig) -> Queue:
    """The router's queue of corrections, bound to the feedback exchange with ``#``."""
    return Queue(topology.feedback_queue, feedback_exchange(topology), routing_key="#", durable=True,
                 queue_arguments=queue_arguments(topology))


def declare_feedback_side(channel: Any, topology: TopologyConfig) -> None:
    """Declare the feedback exchange and queue on a kombu channel (idempotent)."""
    feedback_exchange(topology)(channel).declare()
    feedback_queue(topology)(channel).declare()


def delete_feedback_side(channel: Any, topology: TopologyConfig) -> None:
    """Delete what :func:`declare_feedback_side` declared (tests and teardown)."""
    Queue(topology.feedback_queue)(channel).delete()
    feedback_exchange(topology)(channel).delete()


def delete_routed_side(channel: Any, topology: TopologyConfig, agency_queues: dict[str, str]) -> None:
    """Delete what :func:`declare_routed_side` declared (tests and teardown)."""
    for spec in routed_queues(topology, agency_queues):
        Queue(spec.name)(channel).delete()
    routed_exchange(topology)(channel).delete()


def definitions(topology: TopologyConfig, agency_queues: dict[str, str], vhost: str = "/") -> dict[str, Any]:
    """The routed side as a RabbitMQ definitions document (for ``rabbitmqctl import_definitions``)."""
    args = queue_arguments(topology)
    specs = [(topology.routed_exchange, s) for s in routed_queues(topology, agency_queues)]
    specs.append((topology.feedback_exchange, RoutedQueue(topology.feedback_queue, "#")))
    return {
        "exchanges": [{"name": name, "vhost": vhost, "type": "topic", "durable": True,
                       "auto_delete": False, "internal": False, "arguments": {}}
                      for name in (topology.routed_exchange, topology.feedback_exchange)],
        "queues": [{"name": s.name, "vhost": vhost, "durable": True, "auto_delete": False, "arguments": args}
                   for _, s in specs],
        "bindings": [{"source": source, "vhost": vhost, "destination": s.name, "destination_type": "queue",
                      "routing_key": s.binding_key, "arguments": {}} for source, s in specs],
    }


def agency_queue_names(topology: TopologyConfig, rules_path: Any = None) -> dict[str, str]:
    """Agency code -> queue name for every agency of the rules (shipped rules by
    default), plus triage: what the router declares and publishes to."""
    from router.rules import load_rules

    prefix = topology.triage_queue.rsplit(".", 1)[0]
    queues = {code: f"{prefix}.{code}" for code in load_rules(rules_path).agencies}
    queues["triage"] = topology.triage_queue
    return queues


def main(argv: list[str] | None = None) -> int:
    """Print the routed side for the default names and the shipped (or given) rules as a
    RabbitMQ definitions document: ``python -m router.topology [--rules FILE]``."""
    import argparse
    import json
    import sys
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m router.topology", description=main.__doc__)
    parser.add_argument("--rules", type=Path, default=None)
    parser.add_argument("--vhost", default="/")
    args = parser.parse_args(argv)
    topology = TopologyConfig()
    queues = agency_queue_names(topology, args.rules)
    sys.stdout.write(json.dumps(definitions(topology, queues, args.vhost), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
