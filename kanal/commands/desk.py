"""``kanal desk passwd``: hash a desk password for the config."""

from __future__ import annotations

import argparse
import sys
import textwrap

from kanal.commands.common import (
    EXIT_CONFIG,
    EXIT_OK,
    AddCommand,
)


def cmd_desk(args: argparse.Namespace) -> int:
    """``kanal desk passwd``: read a desk password (twice, not echoed) and print its hash."""
    import getpass

    from kanal.web.security import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("Kata sandi loket: ")
        if getpass.getpass("Ulangi: ") != password:
            print("kanal: the two passwords differ", file=sys.stderr)
            return EXIT_CONFIG
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 10:
        print("kanal: use at least 10 characters", file=sys.stderr)
        return EXIT_CONFIG
    print(hash_password(password))
    return EXIT_OK


def register(add: AddCommand) -> None:
    """Add the command's parser (see :func:`kanal.cli.build_parser`)."""
    p = add("desk", cmd_desk, "desk app helpers (kanal desk passwd)", textwrap.dedent("""\
        passwd: read a desk's password (from the terminal, or one line of standard
        input) and print its argon2id hash for the desk's password_hash in the config."""),
            config=False)
    p.add_argument("action", choices=["passwd"])
