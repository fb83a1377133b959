"""``kanal router``: run the router against RabbitMQ, or train / evaluate its model."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

from config.redact import redact_credentials
from kanal.commands.common import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_OK,
    AddCommand,
    install_signal_handlers,
    load,
    setup_logging,
)


def cmd_router(args: argparse.Namespace) -> int:
    """Run the router against RabbitMQ, or train / evaluate its model."""
    if args.verb in ("train", "eval"):
        return _router_learn(args)
    loaded = load(args)
    if args.verb == "unrouted":
        return _unrouted(loaded, args)
    setup_logging(loaded, args.log_level)
    if loaded.kanal.embedded:
        print(
            "kanal router: no broker.url in the config. With no broker, `kanal run` routes "
            "complaints itself (embedded default); set broker.url to run the router separately.",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    from kanal.router_process import RouterProcess

    process = RouterProcess(loaded)
    install_signal_handlers(process.stop_requested)
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


def _hours(text: str) -> float:
    """``--since`` / ``--settle``: a number of hours, or with a unit: 90m, 2h, 7d."""
    units = {"s": 1 / 3600, "m": 1 / 60, "h": 1.0, "d": 24.0}
    try:
        if text and text[-1] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        msg = f"{text!r} is not a duration: write 90m, 2h or 7d"
        raise argparse.ArgumentTypeError(msg) from None


def _unrouted(loaded: Any, args: argparse.Namespace) -> int:
    """``kanal router unrouted``: forwarded complaints no router has claimed (router/unrouted.py)."""
    import time
    from datetime import UTC, datetime

    from kanal.app import open_spool
    from router.dedup import open_dedup_store
    from router.engine import dedup_dsn
    from router.unrouted import find_unrouted

    cfg = loaded.kanal
    if cfg.embedded:
        print("kanal router unrouted: no broker.url in the config; the embedded default routes in the "
              "spool's own transaction, so nothing can be forwarded and not routed.", file=sys.stderr)
        return EXIT_CONFIG
    if args.since > cfg.router.dedup_retention_days * 24:
        print(f"kanal router unrouted: --since is longer than router.dedup_retention_days "
              f"({cfg.router.dedup_retention_days:g} days): older claims are pruned, so every older complaint "
              "would look unrouted", file=sys.stderr)
        return EXIT_CONFIG
    now = time.time()
    spool = open_spool(loaded)
    forwarded = spool.forwarded_between(now - args.since * 3600, now - args.settle * 3600)
    dedup = open_dedup_store(dedup_dsn(cfg.router.dedup_dsn), Path(cfg.spool.path).with_name("router-dedup.db"),
                             retention_days=cfg.router.dedup_retention_days)
    try:
        missing = find_unrouted(forwarded, dedup)
    finally:
        dedup.close()
    for item in missing:
        when = datetime.fromtimestamp(item.forwarded_at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        print(f"{item.complaint_id}  {item.channel:<24} forwarded {when}  provider id {item.provider_message_id}")
    print(f"{len(forwarded)} complaints forwarded between {args.since:g} h and {args.settle * 60:g} min ago, "
          f"{len(forwarded) - len(missing)} routed, {len(missing)} not routed")
    if args.replay:
        return _replay(spool, missing, args.replay)
    if missing:
        print(UNROUTED_HELP, file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


UNROUTED_HELP = """\
Each is on the intake queue (are the routers running and keeping up?) or on the dead-letter
queue kanal.dead (see its kanal_dead_reason), or something other than a router took it off
the intake queue. A router acks a complaint only after its claim is committed, so no router
crash leaves one like this. Once the cause is fixed, put them back in the outbox:
kanal router unrouted --replay ID [--replay ID ...], or --replay all for every one listed
(one a router routes meanwhile is acked as a duplicate). The spool keeps what it forwarded
for spool.retention_days."""


def _replay(spool: Any, missing: list[Any], wanted: list[str]) -> int:
    """``unrouted --replay``: put listed complaints back in the spool's outbox."""
    listed = [m.complaint_id for m in missing]
    if "all" in wanted:
        ids = listed
    else:
        ids = list(dict.fromkeys(wanted))
    unknown = sorted(set(ids) - set(listed))
    if unknown:
        print(f"replay: not in the list above, so not put back (routed, or outside --since/--settle): "
              f"{', '.join(unknown)}", file=sys.stderr)
        return EXIT_CONFIG
    requeued, gone = spool.requeue_forwarded(ids)
    print(f"replay: {len(requeued)} put back in the outbox; the forwarder of `kanal run` publishes them again "
          "and a router routes each (one whose claim a router has committed by then is acked as a duplicate)")
    if gone:
        print(f"replay: {len(gone)} no longer kept in this spool (older than spool.retention_days): "
              + ", ".join(gone), file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _router_learn(args: argparse.Namespace) -> int:
    """``kanal router train|eval``: arguments to router/learn/commands.py."""
    from router.learn import commands
    from router.learn.rows import LabelMap
    from router.rules import load_rules

    router_cfg = None
    if args.config or os.environ.get("KANAL_CONFIG") or Path("kanal.yaml").exists():
        router_cfg = load(args).kanal.router
    labels = LabelMap(load_rules(router_cfg.rules if router_cfg else None).agencies,
                      router_cfg.labels if router_cfg else None)
    if args.verb == "eval":
        if not args.data:
            print("kanal router eval: --data FILE is required", file=sys.stderr)
            return EXIT_CONFIG
        if args.routed:
            return commands.evaluate_routed(Path(args.data[0]), router_cfg, args.model, labels)
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


def register(add: AddCommand) -> None:
    """Add the command's parser (see :func:`kanal.cli.build_parser`)."""
    p = add("router", cmd_router, "run the router against RabbitMQ", textwrap.dedent("""\
        Consume the intake queue, classify each complaint, resolve its location and
        publish it to the responsible agency's queue (see docs/router.md). Several
        routers can run at once; they share the dedup store (router.dedup_dsn).
        SIGHUP loads the model file again without dropping a message.

          kanal router [run]                                  run the router
          kanal router train --data FILE [--data FILE] --out MODEL [--from-feedback]
          kanal router eval --data FILE [--folds 5]           cross-validated report
          kanal router eval --model MODEL --data FILE         score a model on held-out rows
          kanal router eval --routed --data FILE [--model MODEL|none]
                                                              route the rows as the router would:
                                                              right / triage / wrong, and rules alone
          kanal router unrouted [--since 24h] [--settle 10m]  forwarded complaints no router routed
                                                              (exit 1 when there are any)
          kanal router unrouted --replay ID|all               ...and put them back in the outbox
        FILE: CSV (UTF-8, header) or JSONL with text, agency, optional category, kelurahan."""))
    p.add_argument("verb", nargs="?", choices=["run", "train", "eval", "unrouted"], default="run", help="default: run")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="override log.level")
    p.add_argument("--data", action="append", metavar="FILE", help="train/eval: history rows")
    p.add_argument("--out", metavar="MODEL", help="train: the model file to write")
    p.add_argument("--model", metavar="MODEL", help="eval: score this model instead of cross-validating")
    p.add_argument("--folds", type=int, default=5, help="eval: cross-validation folds (default 5)")
    p.add_argument("--routed", action="store_true",
                   help="eval: route every row with the config's rules, model and threshold (--model overrides "
                   "router.model; 'none' = rules alone) and count right / triage / wrong")
    p.add_argument("--from-feedback", action="store_true", help="train: add the corrections stored by the router")
    p.add_argument("--since", type=_hours, default=24.0, metavar="DURATION",
                   help="unrouted: look at complaints forwarded this long ago or later (default 24h)")
    p.add_argument("--settle", type=_hours, default=1 / 6, metavar="DURATION",
                   help="unrouted: skip complaints forwarded less than this long ago; a router may still be "
                   "on them (default 10m)")
    p.add_argument("--replay", action="append", metavar="ID|all",
                   help="unrouted: put this listed complaint (or all listed) back in this spool's outbox to be "
                   "forwarded and routed again; repeatable")
