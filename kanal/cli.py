"""The ``kanal`` command line: the parser and the entry point. Each command lives in
its own module of :mod:`kanal.commands`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from config.loader import ConfigError
from kanal.commands import (
    channels,
    check_config,
    desk,
    quarantine,
    routed,
    router,
    run,
    schema,
    status,
    topology,
)
from kanal.commands.common import DEFAULT_CONFIG, EXIT_CONFIG, EXIT_DOWN, EXIT_FAILURE, EXIT_OK

DESCRIPTION = """\
Kanal takes in citizen complaints from Pemprov DKI Jakarta's channels (X, Facebook,
e-mail, SMS, walk-in desks), stores each one durably in a local spool, and passes it
on: to RabbitMQ for the router and the CRM, or - with no broker configured - to the
embedded router, whose results `kanal routed` shows.
"""

EPILOG = """\
Start here:
  kanal check-config config/kanal.local.yaml     validate a config, list every mistake
  kanal run --config config/kanal.local.yaml     run all enabled channels
  kanal status --config config/kanal.local.yaml  (from another shell) health per channel

The config file is found from --config, else $KANAL_CONFIG, else ./kanal.yaml.
Documentation: README.md and docs/ in the Kanal repository.
"""


#: The commands in the order ``kanal --help`` lists them.
COMMANDS = (run, router, check_config, schema, channels, status, routed, quarantine, desk, topology)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="kanal", description=DESCRIPTION, epilog=EPILOG, formatter_class=fmt)
    from kanal import __version__

    parser.add_argument("--version", action="version", version=f"kanal {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, func: Any, help_text: str, description: str, config: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=description, formatter_class=fmt)
        if config:
            p.add_argument(
                "-c", "--config", metavar="PATH", help="config file (default: $KANAL_CONFIG or ./kanal.yaml)"
            )
        p.set_defaults(func=func)
        return p

    for command in COMMANDS:
        command.register(add)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``kanal`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_CONFIG
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"kanal: configuration is not valid - {exc}", file=sys.stderr)
        print("Nothing was started. Fix the lines above; `kanal channels TYPE` lists a type's options.",
              file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        return EXIT_OK


__all__ = ["DEFAULT_CONFIG", "EXIT_CONFIG", "EXIT_DOWN", "EXIT_FAILURE", "EXIT_OK", "build_parser", "main"]


if __name__ == "__main__":
    sys.exit(main())
