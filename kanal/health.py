"""Liveness and readiness of a Kanal process, for ``/healthz``, ``/readyz`` and systemd.

- **healthy** (``/healthz``, and what feeds systemd's watchdog): the process has not
  failed and every thread it started is still running (the
  :class:`~kanal.supervisor.Supervisor` knows). A failed process answers 503 until it
  has stopped, so a load balancer and systemd see the same thing.
- **ready** (``/readyz``): healthy, the spool is writable (the heartbeat, a real write
  every few seconds, succeeded recently), and with a broker configured the broker is
  connected or its outage is younger than ``metrics.broker_outage_budget_seconds``.
  During a short outage the process stays ready on purpose: the spool takes complaints
  and the backlog drains when the broker is back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kanal.supervisor import Supervisor


@dataclass
class BrokerLink:
    """How a process sees its broker: ``connected()`` and ``disconnected_since()`` (Unix time)."""

    connected: Callable[[], bool]
    disconnected_since: Callable[[], float]


@dataclass
class Probes:
    """The answers of ``/healthz`` and ``/readyz`` for one process.

    Parameters:
        role: ``kanal run`` or ``kanal router``.
        supervisor: the process's thread supervisor.
        budget: seconds a broker outage may last before the process is not ready.
        broker: the broker link, or None (embedded mode).
        spool_written: when the spool was last written successfully (Unix time), or
            None for a process without a spool (the router).
        spool_stale_after: seconds after which the spool counts as not writable.
    """

    role: str
    supervisor: Supervisor
    budget: float
    broker: BrokerLink | None = None
    spool_written: Callable[[], float | None] | None = None
    spool_stale_after: float = 20.0

    def health(self) -> dict[str, Any]:
        """``/healthz``: ``status`` is ``ok`` or ``failed``; the dead threads are named."""
        dead = [] if self.supervisor.is_stopping else self.supervisor.dead()
        failed = self.supervisor.failure is not None or bool(dead)
        report: dict[str, Any] = {"status": "failed" if failed else "ok", "role": self.role}
        if dead:
            report["dead_threads"] = dead
        if self.supervisor.failure:
            report["failure"] = self.supervisor.failure
        return report

    def ready(self) -> dict[str, Any]:
        """``/readyz``: ``status`` is ``ok`` or ``not_ready`` with the reasons."""
        now = time.time()
        reasons: list[str] = []
        if self.health()["status"] != "ok":
            reasons.append("process failed")
        if self.supervisor.is_stopping:
            reasons.append("stopping")
        if self.spool_written is not None:
            written = self.spool_written()
            if written is None or now - written > self.spool_stale_after:
                reasons.append("spool not writable")
        report: dict[str, Any] = {"role": self.role}
        if self.broker is not None:
            connected = self.broker.connected()
            report["broker_connected"] = connected
            if not connected:
                outage = max(0.0, now - self.broker.disconnected_since())
                report["broker_outage_seconds"] = round(outage, 1)
                if outage > self.budget:
                    reasons.append(f"broker unreachable for {outage:.0f}s (budget {self.budget:.0f}s)")
        report["status"] = "not_ready" if reasons else "ok"
        if reasons:
            report["reasons"] = reasons
        return report
