"""``kanal routed``: the complaints the embedded default routed."""

from __future__ import annotations

import argparse
import json
import textwrap

from kanal.commands.common import (
    EXIT_OK,
    AddCommand,
    fmt_time,
    load,
)


def cmd_routed(args: argparse.Namespace) -> int:
    """Show complaints routed by the embedded default."""
    from kanal.app import open_spool

    loaded = load(args, secrets=False)
    spool = open_spool(loaded)
    rows = spool.routed(args.limit, args.agency)
    if args.json:
        for _cid, _agency, _queue, body, _at in rows:
            print(body.decode() if isinstance(body, bytes) else body)
        return EXIT_OK
    if not rows:
        print("nothing routed yet (complaints appear here once `kanal run` has taken them in)")
    for cid, agency, queue, body, at in rows:
        complaint = json.loads(body)
        routing = complaint.get("routing", {})
        text = " ".join(str(complaint.get("description", "")).split())[:90]
        where = (routing.get("location") or {}).get("kelurahan") or "-"
        print(f"{fmt_time(at)}  {cid}  {agency:<14} {queue:<26} kel. {where}\n    {text}")
    return EXIT_OK


def register(add: AddCommand) -> None:
    """Add the command's parser (see :func:`kanal.cli.build_parser`)."""
    p = add("routed", cmd_routed, "show complaints routed by the embedded default", textwrap.dedent("""\
        With no broker configured, `kanal run` routes complaints itself and keeps the
        result in the spool; this lists the newest first."""))
    p.add_argument("-n", "--limit", type=int, default=20)
    p.add_argument("--agency", metavar="CODE", help="only this agency code")
    p.add_argument("--json", action="store_true", help="print the routed messages as JSON lines")
