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
            print("kanal: the two passwords differ; run kanal desk passwd again and type the same password twice",
                  file=sys.stderr)
            return EXIT_CONFIG
    else:
        # One line; a CR of a file written on Windows is not part of the password.
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("kanal: no password given; type it at the prompt, or give one line on standard input "
              "(printf '%s\\n' \"$PASSWORD\" | kanal desk passwd)", file=sys.stderr)
        return EXIT_CONFIG
    if len(password) < 10:
        print(f"kanal: the password is too short ({len(password)} characters); use at least 10", file=sys.stderr)
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
