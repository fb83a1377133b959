"""``kanal status``: each channel's state and the process's liveness, read from the spool."""

from __future__ import annotations

import argparse
import json
import textwrap

from kanal.commands.common import (
    EXIT_DOWN,
    EXIT_OK,
    AddCommand,
    fmt_time,
    load,
)


def cmd_status(args: argparse.Namespace) -> int:
    """Show each channel's state from the spool (works while `kanal run` runs)."""
    from kanal.status import read_status

    loaded = load(args, secrets=False)
    report = read_status(loaded)
    process = report["process"]
    code = EXIT_DOWN if process["state"] in ("dead", "unresponsive", "failed") else EXIT_OK
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return code
    print(f"kanal run: {process['state'].upper()} - {process['detail']}")
    print(f"spool {report['spool']}: {report['spool_depth']} complaint(s) waiting, "
          f"{report['quarantine_open']} in quarantine, {report['routed']} routed locally")
    store = report["attachments"]
    print(f"attachment store {store['path']}: {store['files']} file(s), {store['bytes'] / 1e6:.1f} MB, "
          f"{store['fetch_pending']} link(s) waiting for the fetcher")
    for ch in report["channels"]:
        print(f"\n{ch['name']} ({ch['type']}{', disabled' if not ch['enabled'] else ''}): {ch['state'].upper()}"
              + (f" - {ch['detail']}" if ch.get("detail") else ""))
        print(f"  last success   {fmt_time(ch.get('last_success'))}")
        if ch.get("last_error"):
            past = "  (recovered)" if ch.get("last_error_past") else ""
            print(f"  last error     {fmt_time(ch.get('last_error_at'))}{past}  {ch['last_error']}")
        print(f"  taken in {ch['accepted']}, duplicates {ch['duplicates']}, dropped {ch['dropped']}, "
              f"quarantined {ch['quarantined']} (open {ch['quarantine_open']})")
        print(f"  checkpoint     {json.dumps(ch.get('checkpoint'))}")
        for name, count in sorted(ch.get("counters", {}).items()):
            print(f"  {name:<40} {count}")
    return code


def register(add: AddCommand) -> None:
    """Add the command's parser (see :func:`kanal.cli.build_parser`)."""
    p = add("status", cmd_status, "show each channel's state", textwrap.dedent("""\
        Whether `kanal run` is alive (its pid and heartbeat), each channel's state
        (running, backing_off, auth_failed, needs_reauthorisation, stopped, or dead
        when its process is gone), last success and error, checkpoint, counts, spool
        depth and quarantine. Read from the spool, so it works while `kanal run` is
        running, and needs none of the service's secrets in your shell.

        exit status: 0 running or cleanly stopped, 3 the process is dead, hung
        (no heartbeat for 30 s) or ended on a failure, 2 the config is not valid."""))
    p.add_argument("--json", action="store_true", help="machine-readable output")
