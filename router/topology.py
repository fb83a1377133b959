"""The router's declarer (kombu) of the routed side of the topology model.

The model (config/topology.py) names the routed exchange, one quorum queue per
agency of the rules, triage and confidential, the corrections' exchange and queue,
their arguments and bindings; this module walks it on a kombu channel. The router
declares it (idempotently) on every connect; the intake side is the forwarder's
(kanal/topology.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kombu import Exchange, Queue

from config import topology as model
from config.models import TopologyConfig


def declare(channel: Any, topology: model.Topology) -> None:
    """Declare ``topology`` on a kombu channel: exchanges, queues, then bindings; idempotent."""
    for e in topology.exchanges:
        Exchange(e.name, type=e.type, durable=True, arguments=e.arguments or None)(channel).declare()
    for q in topology.queues:
        Queue(q.name, durable=True, queue_arguments=q.arguments)(channel).queue_declare()
    for b in topology.bindings:
        Queue(b.queue)(channel).bind_to(b.exchange, b.routing_key)


def delete(channel: Any, topology: model.Topology) -> None:
    """Delete every queue and exchange of ``topology`` (tests, teardown). Messages are lost."""
    for q in topology.queues:
        Queue(q.name)(channel).delete()
    for e in topology.exchanges:
        Exchange(e.name)(channel).delete()


def declare_routed_side(channel: Any, topology: TopologyConfig, agencies: Iterable[str]) -> None:
    """Declare the routed side for ``topology`` and the rules' agency codes on a kombu channel."""
    declare(channel, model.routed_topology(topology, agencies))


def delete_routed_side(channel: Any, topology: TopologyConfig, agencies: Iterable[str]) -> None:
    """Delete what :func:`declare_routed_side` declared (tests and teardown)."""
    delete(channel, model.routed_topology(topology, agencies))


def declare_feedback_side(channel: Any, topology: TopologyConfig) -> None:
    """Declare the corrections' exchange and queue on a kombu channel (idempotent)."""
    declare(channel, model.feedback_topology(topology))


def delete_feedback_side(channel: Any, topology: TopologyConfig) -> None:
    """Delete what :func:`declare_feedback_side` declared (tests and teardown)."""
    delete(channel, model.feedback_topology(topology))


def feedback_queue(topology: TopologyConfig) -> Queue:
    """The router's queue of corrections, to consume (declared by :func:`declare_feedback_side`)."""
    return Queue(topology.feedback_queue, no_declare=True)


def agency_queue_names(topology: TopologyConfig, rules_path: Any = None) -> dict[str, str]:
    """Agency code -> queue name for every agency of the rules (shipped rules by
    default), plus triage: what the router declares and publishes to."""
    from router.rules import load_rules

    return model.agency_queue_names(topology, load_rules(rules_path).agencies)
