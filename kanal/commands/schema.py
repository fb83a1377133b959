"""``kanal schema``: print the complaint JSON Schema."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kanal.commands.common import (
    EXIT_OK,
    AddCommand,
)


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the complaint JSON Schema."""
    from normalizer.complaint import json_schema

    text = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def register(add: AddCommand) -> None:
    """Add the command's parser (see :func:`kanal.cli.build_parser`)."""
    p = add("schema", cmd_schema, "print the complaint JSON Schema", "Print the JSON Schema of the complaint "
            "(schema v1) that every message body follows.", config=False)
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
