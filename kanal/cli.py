"""The ``kanal`` command line."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import textwrap
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from config.loader import ConfigError, ConfigIssue, LoadedConfig, load_config
from config.redact import redact_credentials

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
#: ``kanal status``: the recorded kanal run process is dead, unresponsive or failed.
EXIT_DOWN = 3

DEFAULT_CONFIG = "kanal.yaml"

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


def _config_path(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "config", None) or os.environ.get("KANAL_CONFIG") or DEFAULT_CONFIG)


def _load(args: argparse.Namespace, path: Path | None = None, secrets: bool = True) -> LoadedConfig:
    """Load the config; with ``secrets=False`` references are checked but not read
    (for commands that only read the spool, run from an operator's shell)."""
    from config.secrets import unresolved_secrets
    from connectors.registry import options_model

    path = path or _config_path(args)
    if not path.exists():
        hint = "pass --config PATH, set KANAL_CONFIG, or copy config/kanal.example.yaml to ./kanal.yaml"
        raise ConfigError(path, [ConfigIssue(str(path), f"no such file ({hint})")])
    if secrets:
        return load_config(path, options_model)
    with unresolved_secrets():
        return load_config(path, options_model)


def _setup_logging(loaded: LoadedConfig | None, level: str | None = None) -> None:
    from kanal.logs import configure_logging

    log_cfg = loaded.kanal.log if loaded else None
    configure_logging(level or (log_cfg.level if log_cfg else "info"), log_cfg.format if log_cfg else "auto")


def _install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


# -- commands -----------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    """Run the channels (and the embedded router or the forwarder)."""
    from kanal.app import KanalProcess

    loaded = _load(args)
    _setup_logging(loaded, args.log_level)
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
    _install_signal_handlers(process.stop_requested)
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


def cmd_router(args: argparse.Namespace) -> int:
    """Run the router against RabbitMQ, or train / evaluate its model."""
    if args.verb in ("train", "eval"):
        return _router_learn(args)
    loaded = _load(args)
    _setup_logging(loaded, args.log_level)
    if loaded.kanal.embedded:
        print(
            "kanal router: no broker.url in the config. With no broker, `kanal run` routes "
            "complaints itself (embedded default); set broker.url to run the router separately.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    from kanal.router_process import RouterProcess

    process = RouterProcess(loaded)
    _install_signal_handlers(process.stop_requested)
    try:
        process.start()
    except OSError as exc:
        ops = loaded.kanal.metrics
        print(f"kanal router: cannot listen on {ops.host}:{ops.router_port} for metrics and health: "
              f"{exc.strerror or exc} (change metrics.router_port)", file=sys.stderr)
        return EXIT_FAILURE
    process.stop_requested.wait()
    process.stop()
    if process.failure:
        reason = redact_credentials(process.failure)
        print(f"kanal router: stopped because {reason}; exit {EXIT_FAILURE} so that the "
              "service manager restarts it (unacknowledged complaints stay on the intake queue)", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _router_learn(args: argparse.Namespace) -> int:
    """``kanal router train|eval``: arguments to router/learn/commands.py."""
    from router.learn import commands
    from router.learn.rows import LabelMap
    from router.rules import load_rules

    router_cfg = None
    if args.config or os.environ.get("KANAL_CONFIG") or Path("kanal.yaml").exists():
        router_cfg = _load(args).kanal.router
    labels = LabelMap(load_rules(router_cfg.rules if router_cfg else None).agencies,
                      router_cfg.labels if router_cfg else None)
    if args.verb == "eval":
        if not args.data:
            print("kanal router eval: --data FILE is required", file=sys.stderr)
            return EXIT_CONFIG
        return commands.evaluate(Path(args.data[0]), Path(args.model) if args.model else None, args.folds, labels)
    if not args.out or not (args.data or args.from_feedback):
        print("kanal router train: --out MODEL and --data FILE (or --from-feedback) are required", file=sys.stderr)
        return EXIT_CONFIG
    feedback = None
    if args.from_feedback:
        from router.engine import dedup_dsn
        from router.learn.feedback import FeedbackStore

        dsn = dedup_dsn(router_cfg.dedup_dsn) if router_cfg else None
        if not dsn:
            print("kanal router train: --from-feedback needs router.dedup_dsn (PostgreSQL) in the config",
                  file=sys.stderr)
            return EXIT_CONFIG
        feedback = FeedbackStore(dsn).training_rows()
    return commands.train([Path(d) for d in args.data or []], Path(args.out), labels, feedback)


def cmd_check_config(args: argparse.Namespace) -> int:
    """Validate a config file."""
    path = Path(args.path) if args.path else _config_path(args)
    loaded = _load(args, path)
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


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the complaint JSON Schema."""
    from normalizer.complaint import json_schema

    text = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


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
    loaded = _load(args, secrets=False)
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


def _fmt_time(ts: float | None) -> str:
    if not ts:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def cmd_status(args: argparse.Namespace) -> int:
    """Show each channel's state from the spool (works while `kanal run` runs)."""
    from kanal.status import read_status

    loaded = _load(args, secrets=False)
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
        print(f"  last success   {_fmt_time(ch.get('last_success'))}")
        if ch.get("last_error"):
            past = "  (recovered)" if ch.get("last_error_past") else ""
            print(f"  last error     {_fmt_time(ch.get('last_error_at'))}{past}  {ch['last_error']}")
        print(f"  taken in {ch['accepted']}, duplicates {ch['duplicates']}, dropped {ch['dropped']}, "
              f"quarantined {ch['quarantined']} (open {ch['quarantine_open']})")
        print(f"  checkpoint     {json.dumps(ch.get('checkpoint'))}")
        for name, count in sorted(ch.get("counters", {}).items()):
            print(f"  {name:<40} {count}")
    return code


def cmd_routed(args: argparse.Namespace) -> int:
    """Show complaints routed by the embedded default."""
    from kanal.app import open_spool

    loaded = _load(args, secrets=False)
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
        print(f"{_fmt_time(at)}  {cid}  {agency:<14} {queue:<26} kel. {where}\n    {text}")
    return EXIT_OK


def cmd_quarantine(args: argparse.Namespace) -> int:
    """List, show or retry quarantined messages."""
    from kanal import quarantine

    if args.action in ("list", "show"):
        loaded = _load(args, secrets=False)
        if args.action == "list":
            return quarantine.list_entries(loaded, args.channel, args.all)
        return quarantine.show_entry(loaded, args.ids)
    loaded = _load(args)
    _setup_logging(loaded, "warning")
    return quarantine.retry_entries(loaded, args.ids, args.channel)


def cmd_topology(args: argparse.Namespace) -> int:
    """Print the RabbitMQ definitions for the configured topology."""
    from config.secrets import SecretValue
    from kanal.topology import full_definitions

    loaded = _load(args, secrets=False)
    if isinstance(loaded.kanal.broker.url, SecretValue):  # the vhost is inside the secret URL
        loaded = _load(args)
    vhost = loaded.kanal.broker.vhost if loaded.kanal.broker.url is not None else "/"
    document = full_definitions(loaded.kanal.broker.topology, loaded.kanal.router.rules, vhost)
    print(json.dumps(document, indent=2))
    return EXIT_OK


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


# -- parser -----------------------------------------------------------------------


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

    p = add("run", cmd_run, "run the channels", textwrap.dedent("""\
        Run every enabled channel (or only those named), the webhook server for push
        channels, and either the forwarder to RabbitMQ (broker.url set) or the embedded
        router (no broker). Stops cleanly on SIGTERM or Ctrl-C: input stops first,
        batches in hand are committed, what is not yet forwarded stays in the spool.

        example: kanal run --config /etc/kanal/kanal.yaml sms-1708 email-dki"""))
    p.add_argument("channels", nargs="*", metavar="CHANNEL", help="channel names to run (default: all enabled)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="override log.level")

    p = add("router", cmd_router, "run the router against RabbitMQ", textwrap.dedent("""\
        Consume the intake queue, classify each complaint, resolve its location and
        publish it to the responsible agency's queue (see docs/router.md). Several
        routers can run at once; they share the dedup store (router.dedup_dsn).
        SIGHUP loads the model file again without dropping a message.

          kanal router [run]                                  run the router
          kanal router train --data FILE [--data FILE] --out MODEL [--from-feedback]
          kanal router eval --data FILE [--folds 5]           cross-validated report
          kanal router eval --model MODEL --data FILE         score a model on held-out rows
        FILE: CSV (UTF-8, header) or JSONL with text, agency, optional category, kelurahan."""))
    p.add_argument("verb", nargs="?", choices=["run", "train", "eval"], default="run", help="default: run")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="override log.level")
    p.add_argument("--data", action="append", metavar="FILE", help="train/eval: history rows")
    p.add_argument("--out", metavar="MODEL", help="train: the model file to write")
    p.add_argument("--model", metavar="MODEL", help="eval: score this model instead of cross-validating")
    p.add_argument("--folds", type=int, default=5, help="eval: cross-validation folds (default 5)")
    p.add_argument("--from-feedback", action="store_true", help="train: add the corrections stored by the router")

    p = add("check-config", cmd_check_config, "validate a config file", textwrap.dedent("""\
        Validate the whole file and every channel's options. Every mistake is listed
        with the channel name and field; exit code 0 when valid, 2 when not.
        Environment variables named by ${VAR} secrets must be set."""))
    p.add_argument("path", nargs="?", metavar="PATH", help="the file (default: --config, $KANAL_CONFIG, ./kanal.yaml)")

    p = add("schema", cmd_schema, "print the complaint JSON Schema", "Print the JSON Schema of the complaint "
            "(schema v1) that every message body follows.", config=False)
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")

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

    p = add("status", cmd_status, "show each channel's state", textwrap.dedent("""\
        Whether `kanal run` is alive (its pid and heartbeat), each channel's state
        (running, backing_off, auth_failed, needs_reauthorisation, stopped, or dead
        when its process is gone), last success and error, checkpoint, counts, spool
        depth and quarantine. Read from the spool, so it works while `kanal run` is
        running, and needs none of the service's secrets in your shell.

        exit status: 0 running or cleanly stopped, 3 the process is dead, hung
        (no heartbeat for 30 s) or ended on a failure, 2 the config is not valid."""))
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("routed", cmd_routed, "show complaints routed by the embedded default", textwrap.dedent("""\
        With no broker configured, `kanal run` routes complaints itself and keeps the
        result in the spool; this lists the newest first."""))
    p.add_argument("-n", "--limit", type=int, default=20)
    p.add_argument("--agency", metavar="CODE", help="only this agency code")
    p.add_argument("--json", action="store_true", help="print the routed messages as JSON lines")

    p = add("quarantine", cmd_quarantine, "list, show or retry messages that failed", textwrap.dedent("""\
        Messages that could not be turned into a complaint are kept with their raw
        bytes and the error.
          kanal quarantine list [--channel NAME] [--all]
          kanal quarantine show ID
          kanal quarantine retry ID [ID ...] | --channel NAME   (after a fix: re-run normalisation)"""))
    p.add_argument("action", choices=["list", "show", "retry"])
    p.add_argument("ids", nargs="*", type=int, metavar="ID")
    p.add_argument("--channel", metavar="NAME")
    p.add_argument("--all", action="store_true", help="list: include resolved entries")

    p = add("desk", cmd_desk, "desk app helpers (kanal desk passwd)", textwrap.dedent("""\
        passwd: read a desk's password (from the terminal, or one line of standard
        input) and print its argon2id hash for the desk's password_hash in the config."""),
            config=False)
    p.add_argument("action", choices=["passwd"])

    add("topology", cmd_topology, "print RabbitMQ definitions for ops to import", textwrap.dedent("""\
        Print the exchanges, queues and bindings Kanal declares, as a RabbitMQ
        definitions document (rabbitmqctl import_definitions FILE)."""))
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


if __name__ == "__main__":
    sys.exit(main())
