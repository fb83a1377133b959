"""A router process for the kill -9 tests: ``python -m tests.router.router_proc``.

Runs the real :class:`router.consumer.RouterConsumer` with a PostgreSQL dedup table.
``--pause`` makes this test subclass stop at a named point of the per-message
sequence, print ``PAUSED <point> <complaint id>`` and sleep, so the test can SIGKILL
the process exactly there. Production code has no such hook.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from typing import Any

import structlog

from config.models import TopologyConfig
from router.consumer import RouterConsumer
from router.dedup import PostgresDedupStore
from router.engine import Router
from router.rules import load_rules

#: Where ``--pause`` can stop the router, in the order a batch passes them.
POINTS = ("before-commit", "after-publish-commit", "before-ack-commit")


class PausingConsumer(RouterConsumer):
    """Sleeps at a named point of routing a complaint when asked to.

    ``before-commit``: the routed message is published in the open AMQP transaction, not
    committed. ``after-publish-commit``: the broker confirmed the commit that carried the
    routed message (the dedup claim is still open). ``before-ack-commit``: the claim is
    committed and the intake ack is about to be committed.
    """

    pause_at: str | None = None
    current: str = ""

    def _publish(self, routed: Any) -> None:
        self.current = routed.complaint_id
        super()._publish(routed)

    def _commit(self) -> Any:
        published = bool(self.current)
        self._pause("before-commit")
        returned = super()._commit()
        if published:
            self._pause("after-publish-commit")
        return returned

    def _ack_all(self, messages: Any) -> None:
        self._pause("before-ack-commit")
        super()._ack_all(messages)

    def _pause(self, point: str) -> None:
        if self.pause_at == point and self.current:
            print(f"PAUSED {point} {self.current}", flush=True)
            time.sleep(3600)


def main() -> None:
    """Run until killed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--topology", required=True, help="TopologyConfig as JSON")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--pause", choices=POINTS)
    args = parser.parse_args()
    # Logs to stderr: the test reads stdout only for READY/PAUSED and would otherwise
    # let the pipe fill up and block this process.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    topology = TopologyConfig.model_validate_json(args.topology)
    router = Router(load_rules(), topology, dedup_factory=lambda: PostgresDedupStore(args.dsn, table=args.table))
    consumer = PausingConsumer(args.url, topology, router, prefetch=100)
    consumer.pause_at = args.pause
    threading.Thread(target=lambda: (consumer.ready.wait(), print("READY", flush=True)), daemon=True).start()
    consumer.run(threading.Event())


if __name__ == "__main__":
    sys.exit(main())
