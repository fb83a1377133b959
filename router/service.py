"""The ``kanal router`` process: its consumer built from the config file, the feedback
consumer beside it, and SIGHUP for a model reload (the loop itself is router/consumer.py)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import structlog

from router.consumer import RouterConsumer
from router.engine import Router
from router.intake import broker_url

log = structlog.get_logger("kanal.router")


def build_consumer(loaded: Any) -> RouterConsumer:
    """The router process's consumer for a :class:`config.loader.LoadedConfig` (no I/O yet)."""
    cfg = loaded.kanal
    dedup_path = Path(cfg.spool.path).with_name("router-dedup.db")
    router = Router.from_config(cfg.router, cfg.broker.topology, dedup_path)
    log.info("router decides with", model=router.model.version if router.model else None,
             unmapped_labels=router.unmapped_labels())
    return RouterConsumer(broker_url(cfg.broker), cfg.broker.topology, router,
                          prefetch=cfg.router.prefetch, heartbeat=cfg.broker.heartbeat,
                          batch_max=router.options.batch_max)


def run_router(loaded: Any, stop: threading.Event) -> None:
    """Run the router process against RabbitMQ until ``stop`` is set.

    Args:
        loaded: a :class:`config.loader.LoadedConfig`; ``broker.url`` must be set.
        stop: set it (SIGTERM, Ctrl-C) to finish the message in hand and return.
    """
    from router.engine import dedup_dsn
    from router.feedback_consumer import start_feedback

    consumer = build_consumer(loaded)
    cfg = loaded.kanal
    _, consumer.after_routed = start_feedback(cfg, broker_url(cfg.broker), stop, dedup_dsn(cfg.router.dedup_dsn))
    reload_on_sighup(consumer)
    consumer.run(stop)


def reload_on_sighup(consumer: RouterConsumer) -> None:
    """SIGHUP asks ``consumer`` to load its model file again (between batches); main thread only."""
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: consumer.reload_requested.set())
