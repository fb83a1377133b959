"""``kanal check-config``: validate a config file and list every mistake."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from kanal.commands.common import (
    EXIT_CONFIG,
    EXIT_OK,
    AddCommand,
    config_path,
    load,
)


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a config file."""
    path = Path(args.path) if args.path else config_path(args)
    loaded = load(args, path)
    mode = "embedded (no broker)" if loaded.kanal.embedded else "broker"
    enabled = loaded.enabled_channels()
    print(f"{path}: valid. Mode: {mode}. {len(enabled)} of {len(loaded.kanal.channels)} channel(s) enabled:")
    for channel in loaded.kanal.channels:
        state = "enabled" if channel.enabled else "disabled"
        print(f"  - {channel.name} ({channel.type}, {state})")
    # A channel's options model may point out valid but risky settings.
    for channel in loaded.kanal.channels:
        hook = getattr(loaded.options.get(channel.name), "config_warnings", None)
        for warning in hook() if callable(hook) else ():
            print(f"warning: channel {channel.name!r}: {warning}")
    from router.learn.commands import config_problems

    errors, warnings = config_problems(loaded.kanal.router)
    for line in warnings:
        print(f"warning: {line}")
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    return EXIT_CONFIG if errors else EXIT_OK


def register(add: AddCommand) -> None:
    """Add the command's parser (see :func:`kanal.cli.build_parser`)."""
    p = add("check-config", cmd_check_config, "validate a config file", textwrap.dedent("""\
        Validate the whole file and every channel's options. Every mistake is listed
        with the channel name and field; exit code 0 when valid, 2 when not.
        Environment variables named by ${VAR} secrets must be set."""))
    p.add_argument("path", nargs="?", metavar="PATH", help="the file (default: --config, $KANAL_CONFIG, ./kanal.yaml)")
