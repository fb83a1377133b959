"""A router process for the kill -9 tests: ``python -m tests.router.router_proc``.

Runs the real :class:`router.consumer.RouterConsumer` with a PostgreSQL dedup table.
``--pause`` makes this test subclass stop at a named point of the per-batch
sequence (before or after its publish or its ack commit), print
``PAUSED <point> <complaint id>`` and sleep, so the test can SIGKILL the process
exactly there. Production code has no such hook.
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


class PausingConsumer(RouterConsumer):
    """Sleeps before or after the publish or the ack commit of a batch when asked to."""

    pause_at: str | None = None
    current: str = ""
    stage: str = "publish"

    def _publish(self, routed: Any, redelivered: bool = False) -> None:
        self.current, self.stage = routed.complaint_id, "publish"
        super()._publish(routed, redelivered)

    def _ack_batch(self, messages: Any) -> None:
        self.stage = "ack"
        super()._ack_batch(messages)

    def _commit(self) -> Any:
        self._pause(f"before-{self.stage}-commit")
        returned = super()._commit()
        self._pause(f"after-{self.stage}-commit")
        return returned

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
    parser.add_argument("--pause", choices=[f"{when}-{stage}-commit" for stage in ("publish", "ack")
                                            for when in ("before", "after")])
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
