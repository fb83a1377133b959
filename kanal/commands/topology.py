"""``kanal topology``: the RabbitMQ definitions of the configured topology."""

from __future__ import annotations

import argparse
import json
import textwrap

from kanal.commands.common import (
    EXIT_OK,
    AddCommand,
    load,
)


def cmd_topology(args: argparse.Namespace) -> int:
    """Print the RabbitMQ definitions for the configured topology."""
    from config.secrets import SecretValue
    from kanal.topology import full_definitions

    loaded = load(args, secrets=False)
    if isinstance(loaded.kanal.broker.url, SecretValue):  # the vhost is inside the secret URL
        loaded = load(args)
    vhost = loaded.kanal.broker.vhost if loaded.kanal.broker.url is not None else "/"
    document = full_definitions(loaded.kanal.broker.topology, loaded.kanal.router.rules, vhost)
    print(json.dumps(document, indent=2))
    return EXIT_OK


def register(add: AddCommand) -> None:
    """Add the command's parser (see :func:`kanal.cli.build_parser`)."""
    add("topology", cmd_topology, "print RabbitMQ definitions for ops to import", textwrap.dedent("""\
        Print the exchanges, queues and bindings Kanal declares, as a RabbitMQ
        definitions document (rabbitmqctl import_definitions FILE)."""))
