"""The forwarder's declarer (pika) of the topology model, and the definitions
document for a config and its rules.

The model itself (every exchange, queue, argument and binding of both sides) is
config/topology.py; this module only walks it. The forwarder declares the intake
side on every (re)connect with :func:`declare_async` (or :func:`declare`) on
``intake_topology(config)`` (the model's, re-exported for its callers), and
:func:`full_definitions` renders both sides for ``kanal topology``.

``python -m kanal.topology`` prints the definitions of the default names and the
shipped rules, which config/rabbitmq-definitions.json holds; ``--write`` rewrites that
file and ``--check`` fails when it is stale (tests/core/test_topology.py checks it too).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import config as config_package
from config.models import TopologyConfig
from config.topology import Topology, definitions, full_topology, intake_topology, render

if TYPE_CHECKING:
    from pika.adapters.blocking_connection import BlockingChannel

__all__ = ["COMMITTED_DEFINITIONS", "declare", "declare_async", "delete", "full_definitions", "intake_topology",
           "render_definitions", "rules_agencies"]

#: The committed definitions file (default names, shipped rules).
COMMITTED_DEFINITIONS = Path(config_package.__file__).with_name("rabbitmq-definitions.json")


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


def rules_agencies(rules_path: Any = None) -> list[str]:
    """Agency codes of the rules at ``rules_path`` (the shipped rules by default)."""
    from router.rules import load_rules

    return list(load_rules(rules_path).agencies)


def full_definitions(config: TopologyConfig, rules_path: Any = None, vhost: str = "/") -> dict[str, Any]:
    """Both sides as one definitions document: the intake side the forwarder declares
    and the routed side (one queue per agency of the rules) the router declares."""
    return definitions(full_topology(config, rules_agencies(rules_path)), vhost)


def render_definitions(config: TopologyConfig | None = None, vhost: str = "/") -> str:
    """The definitions JSON text exactly as committed in config/rabbitmq-definitions.json
    (both sides, default names, shipped rules)."""
    return render(full_topology(config or TopologyConfig(), rules_agencies()), vhost)


def main(argv: list[str] | None = None) -> int:
    """Print (or ``--write``, or ``--check``) the definitions of the default topology
    and the shipped rules: ``python -m kanal.topology``."""
    parser = argparse.ArgumentParser(prog="python -m kanal.topology", description=main.__doc__)
    parser.add_argument("--vhost", default="/", help="virtual host the definitions target")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"rewrite {COMMITTED_DEFINITIONS.name}")
    mode.add_argument("--check", action="store_true", help=f"exit 1 when {COMMITTED_DEFINITIONS.name} is stale")
    args = parser.parse_args(argv)
    text = render_definitions(vhost=args.vhost)
    if args.write:
        COMMITTED_DEFINITIONS.write_text(text)
    elif args.check:
        if COMMITTED_DEFINITIONS.read_text() != text:
            print(f"{COMMITTED_DEFINITIONS.name} is stale: run `python -m kanal.topology --write`", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
