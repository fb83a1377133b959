"""``kanal quarantine``: list, show or retry messages that failed normalisation."""

from __future__ import annotations

import argparse
import textwrap

from kanal.commands.common import (
    AddCommand,
    load,
    setup_logging,
)


def cmd_quarantine(args: argparse.Namespace) -> int:
    """List, show or retry quarantined messages."""
    from kanal import quarantine

    if args.action in ("list", "show"):
        loaded = load(args, secrets=False)
        if args.action == "list":
            return quarantine.list_entries(loaded, args.channel, args.all)
        return quarantine.show_entry(loaded, args.ids)
    loaded = load(args)
    setup_logging(loaded, "warning")
    return quarantine.retry_entries(loaded, args.ids, args.channel)


def register(add: AddCommand) -> None:
    """Add the command's parser (see :func:`kanal.cli.build_parser`)."""
    p = add("quarantine", cmd_quarantine, "list, show or retry messages that failed", textwrap.dedent("""\
        Messages that could not be turned into a complaint are kept with their raw
        bytes and the error.
          kanal quarantine list [--channel NAME] [--all]
          kanal quarantine show ID
          kanal quarantine retry ID [ID ...] | --channel NAME   (after a fix: re-run normalisation)"""))
    p.add_argument("action", nargs="?", default="list", choices=["list", "show", "retry"],
                   help="what to do (default: list)")
    p.add_argument("ids", nargs="*", type=int, metavar="ID", help="entry numbers, as `list` shows them (#1 is 1)")
    p.add_argument("--channel", metavar="NAME", help="list or retry: only this channel's entries")
    p.add_argument("--all", action="store_true", help="list: include resolved entries")
