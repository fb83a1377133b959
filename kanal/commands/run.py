"""``kanal run``: the channels, the webhook server, and the forwarder or the embedded router."""

from __future__ import annotations

import argparse
import sys
import textwrap

from config.redact import redact_credentials
from kanal.commands.common import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_OK,
    AddCommand,
    install_signal_handlers,
    load,
    setup_logging,
)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the channels (and the embedded router or the forwarder)."""
    from kanal.app import KanalProcess

    loaded = load(args)
    setup_logging(loaded, args.log_level)
    try:
        process = KanalProcess(loaded, args.channels)
    except KeyError as exc:
        print(f"kanal run: {exc.args[0]}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        hooks = loaded.kanal.webhooks
        print(f"kanal run: cannot listen on {hooks.host}:{hooks.port} for webhooks: {exc.strerror or exc} "
              "(is another kanal run using it? change webhooks.port)", file=sys.stderr)
        return EXIT_FAILURE
    install_signal_handlers(process.stop_requested)
    try:
        process.start()
    except OSError as exc:  # only the operations listener binds in start(), before anything runs
        ops = loaded.kanal.metrics
        print(f"kanal run: cannot listen on {ops.host}:{ops.port} for metrics and health: {exc.strerror or exc} "
              "(give each kanal run its own metrics.port)", file=sys.stderr)
        process.spool.close()
        return EXIT_FAILURE
    process.stop_requested.wait()
    process.stop()
    if process.failure:
        print(f"kanal run: stopped because {redact_credentials(process.failure)}; exit {EXIT_FAILURE} so that "
              "the service manager restarts it (nothing taken in is lost: it stays in the spool)", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def register(add: AddCommand) -> None:
    """Add the command's parser (see :func:`kanal.cli.build_parser`)."""
    p = add("run", cmd_run, "run the channels", textwrap.dedent("""\
        Run every enabled channel (or only those named), the webhook server for push
        channels, and either the forwarder to RabbitMQ (broker.url set) or the embedded
        router (no broker). Stops cleanly on SIGTERM or Ctrl-C: input stops first,
        batches in hand are committed, what is not yet forwarded stays in the spool.

        example: kanal run --config /etc/kanal/kanal.yaml sms-1708 email-dki"""))
    p.add_argument("channels", nargs="*", metavar="CHANNEL", help="channel names to run (default: all enabled)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="override log.level")
