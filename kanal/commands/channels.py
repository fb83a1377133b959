"""``kanal channels``: the channel types and their options, and ``kanal channels test``:
what a sample payload maps to."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from kanal.commands.common import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_OK,
    AddCommand,
    load,
)


def cmd_channels(args: argparse.Namespace) -> int:
    """List channel types, or print one type's options."""
    from connectors.registry import connector_class, known_types

    if args.type == "test":
        return cmd_channels_test(args)
    types = known_types()
    if not args.type:
        print("Channel types (use `kanal channels TYPE` for its options):")
        for name, target in sorted(types.items()):
            try:
                doc = (connector_class(name).__doc__ or "").strip().splitlines()[0]
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not hide the others
                doc = f"(cannot be loaded: {exc})"
            print(f"  {name:<10} {doc}  [{target}]")
        return EXIT_OK
    try:
        model = connector_class(args.type).config_model
    except LookupError as exc:
        print(f"kanal channels: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    schema = model.model_json_schema()
    if args.json:
        print(json.dumps(schema, indent=2))
        return EXIT_OK
    print(f"Options of channel type {args.type!r} (write them under `options:` of a channel block):\n")
    _print_properties(schema, schema.get("properties", {}), set(schema.get("required", [])))
    return EXIT_OK


def cmd_channels_test(args: argparse.Namespace) -> int:
    """``kanal channels test NAME --sample FILE``: what a sample payload maps to; starts nothing."""
    from kanal.app import build_connector

    if not args.name or not args.sample:
        print("kanal channels test: usage: kanal channels test NAME --sample FILE [--config PATH] [--push]",
              file=sys.stderr)
        return EXIT_CONFIG
    loaded = load(args, secrets=False)
    try:
        connector = build_connector(loaded, args.name)
    except KeyError:
        print(f"kanal channels test: no channel named {args.name!r} in {loaded.path}", file=sys.stderr)
        return EXIT_CONFIG
    if not hasattr(connector, "preview"):
        print(f"kanal channels test: channel type {connector.context.type!r} has no mapping to test", file=sys.stderr)
        return EXIT_CONFIG
    try:
        results = connector.preview(Path(args.sample).read_bytes(), push=args.push)
    except (OSError, ValueError) as exc:
        print(f"kanal channels test: cannot read {args.sample} as JSON: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    if not results:
        print(f"no records in {args.sample} under the channel's record_selector", file=sys.stderr)
        return EXIT_FAILURE
    from normalizer.complaint import Complaint

    failed = 0
    for item in results:
        if isinstance(item.result, Complaint):
            print(f"# record {item.index}: complaint")
            print(item.result.model_dump_json(indent=2, exclude={"raw_ref", "received_at"}))
        elif item.result is not None:
            print(f"# record {item.index}: dropped ({item.result.reason})")
        else:
            failed += 1
            print(f"# record {item.index}: DOES NOT MAP - {item.error}")
    print(f"{len(results)} record(s): {len(results) - failed} mapped, {failed} would be quarantined")
    return EXIT_FAILURE if failed else EXIT_OK


def _print_properties(root: dict, props: dict, required: set[str], indent: str = "  ") -> None:
    for name, prop in props.items():
        kind = _type_of(root, prop)
        default = "required" if name in required else f"default: {json.dumps(prop.get('default'))}"
        print(f"{indent}{name}  ({kind}; {default})")
        desc = prop.get("description") or _resolve(root, prop).get("description")
        if desc:
            print(textwrap.fill(desc, 90, initial_indent=indent + "    ", subsequent_indent=indent + "    "))
        sub = _resolve(root, prop)
        if sub.get("properties"):
            _print_properties(root, sub["properties"], set(sub.get("required", [])), indent + "    ")


def _resolve(root: dict, prop: dict) -> dict:
    ref = prop.get("$ref")
    if not ref:
        for option in prop.get("anyOf", []):
            if "$ref" in option:
                ref = option["$ref"]
    if ref:
        return root.get("$defs", {}).get(ref.rsplit("/", 1)[-1], {})
    return {}


def _type_of(root: dict, prop: dict) -> str:
    if "enum" in prop:
        return " | ".join(map(str, prop["enum"]))
    if "anyOf" in prop:
        return " or ".join(_type_of(root, p) for p in prop["anyOf"])
    if "$ref" in prop:
        sub = _resolve(root, prop)
        return " | ".join(map(str, sub["enum"])) if "enum" in sub else "object"
    if prop.get("type") == "array":
        return f"list of {_type_of(root, prop.get('items', {}))}"
    return str(prop.get("type", "any"))


def register(add: AddCommand) -> None:
    """Add the command's parser (see :func:`kanal.cli.build_parser`)."""
    p = add("channels", cmd_channels, "list channel types and their options", textwrap.dedent("""\
        Without TYPE: every channel type Kanal knows (built in or installed as a
        plugin). With TYPE: the options a channel block of that type takes.

        kanal channels test NAME --sample FILE [--config PATH] [--push]
          print the complaint(s) a sample payload yields under channel NAME's mapping,
          or every mapping error; nothing is fetched, stored or started (http_json)."""), config=False)
    p.add_argument("type", nargs="?", metavar="TYPE")
    p.add_argument("--json", action="store_true", help="print the options' JSON Schema")
    p.add_argument("name", nargs="?", metavar="NAME", help="test: the channel whose mapping is tried")
    p.add_argument("--sample", metavar="FILE", help="test: a JSON payload as the source sends it")
    p.add_argument("--push", action="store_true", help="test: the sample is a push body, not a polled page")
    p.add_argument("-c", "--config", metavar="PATH", help="test: config file (default: $KANAL_CONFIG or ./kanal.yaml)")
