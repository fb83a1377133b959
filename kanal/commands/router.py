"""``kanal router``: run the router against RabbitMQ, or train / evaluate its model."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path

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
        FILE: CSV (UTF-8, header) or JSONL with text, agency, optional category, kelurahan."""))
    p.add_argument("verb", nargs="?", choices=["run", "train", "eval"], default="run", help="default: run")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="override log.level")
    p.add_argument("--data", action="append", metavar="FILE", help="train/eval: history rows")
    p.add_argument("--out", metavar="MODEL", help="train: the model file to write")
    p.add_argument("--model", metavar="MODEL", help="eval: score this model instead of cross-validating")
    p.add_argument("--folds", type=int, default=5, help="eval: cross-validation folds (default 5)")
    p.add_argument("--from-feedback", action="store_true", help="train: add the corrections stored by the router")
