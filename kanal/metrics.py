"""Prometheus metrics: with :mod:`kanal.metric_collectors`, the only modules of Kanal
that import ``prometheus_client``.

Facts are collected where they happen, at little or no cost on the hot path:

- **counts the spool keeps** (taken, duplicates, dropped by reason, quarantined,
  refused webhook requests, channel states, last success) and the spool's own
  figures (waiting, oldest waiting, open quarantine, file size) are read from the
  spool *when Prometheus scrapes*: they survive restarts and cost intake nothing;
- the **forwarder's** and the **router's** running totals are read from their stats
  objects at scrape time too;
- **latencies** (poll, webhook answer, routing decision), webhook answers by route and
  status, and the newest source time of each channel are observed as they happen,
  through :class:`connectors.observe.Observer` (connectors never see this module).

Names follow the Prometheus conventions: ``kanal_`` prefix, base units (seconds,
bytes), ``_total`` counters, timestamps as ``*_timestamp_seconds``. Label values are
bounded: channel names come from the config, routes from the connectors' code, drop
reasons are cleaned and capped (``other`` past the cap), never a sender, a text or an id.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from connectors.observe import Observer
from kanal.metric_collectors import AttachmentStoreCollector, ForwarderCollector, RouterCollector, SpoolCollector

POLL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
DECISION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def render(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus's text exposition format."""
    return generate_latest(registry)


def new_registry() -> CollectorRegistry:
    """A registry of its own for one process, with the standard ``process_*`` and
    ``python_info`` metrics (not the global one: tests run several processes in one)."""
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


class KanalMetrics(Observer):
    """The metrics of one ``kanal run`` process, and the observer its runners and webhook
    server report to.

    Parameters:
        spool: the process's :class:`kanal.spool.Spool`.
        channels: ``(name, type, expected quiet seconds)`` of the channels this process runs (only these are
            exported: two processes may share a spool with different channels).
        forwarder: the forwarder's stats (``kanal.forwarder.ForwarderStats``), or None
            in the embedded mode.
    """

    def __init__(self, spool: Any, channels: Sequence[tuple[str, str, float]], forwarder: Any = None,
                 attachments: Path | None = None) -> None:
        self.registry = new_registry()
        self._newest: dict[str, float] = {}
        self.poll_seconds = Histogram("kanal_channel_poll_duration_seconds", "Time one poll of a pull channel took.",
                                      ["channel", "outcome"], buckets=POLL_BUCKETS, registry=self.registry)
        self.webhook_seconds = Histogram("kanal_webhook_request_duration_seconds",
                                         "Time from a webhook request to its answer (spool commit included).",
                                         ["channel", "route"], buckets=WEBHOOK_BUCKETS, registry=self.registry)
        self.webhook_requests = Counter("kanal_webhook_requests", "Webhook requests answered, by route and status.",
                                        ["channel", "route", "method", "status"], registry=self.registry)
        self.registry.register(SpoolCollector(spool, channels, self._newest))
        if attachments is not None:
            self.registry.register(AttachmentStoreCollector(attachments))
        if forwarder is not None:
            self.watch_forwarder(forwarder)

    def newest_items(self) -> dict[str, float]:
        """The newest source time seen per channel since start (for the status page's lag)."""
        return dict(self._newest)

    def watch_forwarder(self, stats: Any) -> None:
        """Export a forwarder's running totals (``kanal.forwarder.ForwarderStats``)."""
        self.registry.register(ForwarderCollector(stats))

    # -- Observer -------------------------------------------------------------

    def poll_finished(self, channel: str, seconds: float, ok: bool) -> None:
        """Observe a poll's duration."""
        self.poll_seconds.labels(channel, "ok" if ok else "error").observe(seconds)

    def webhook_answered(self, channel: str, route: str, method: str, status: int, seconds: float) -> None:
        """Count a webhook answer and observe its latency."""
        method = method if method in ("GET", "POST", "PUT", "HEAD", "DELETE", "PATCH", "OPTIONS") else "other"
        self.webhook_requests.labels(channel, route, method, str(status)).inc()
        self.webhook_seconds.labels(channel, route).observe(seconds)

    def newest_item(self, channel: str, source_time: float) -> None:
        """Remember the newest source time seen on ``channel``."""
        if source_time > self._newest.get(channel, 0.0):
            self._newest[channel] = source_time

    def render(self) -> bytes:
        """The exposition text."""
        return render(self.registry)


class RouterMetrics:
    """The metrics of one ``kanal router`` process.

    Parameters:
        consumer: its :class:`router.consumer.RouterConsumer`; the decision latency
            histogram is hooked into it here.
        model: labels of the info metric naming the rules (and model) in use, or a function
            returning them at each scrape (:func:`router_model_info`: a SIGHUP reloads the model).
    """

    def __init__(self, consumer: Any, model: dict[str, str] | Callable[[], dict[str, str]]) -> None:
        self.registry = new_registry()
        self.decision_seconds = Histogram("kanal_router_decision_duration_seconds",
                                          "Time one routing decision took (classify, locate, pick the agency).",
                                          buckets=DECISION_BUCKETS, registry=self.registry)
        consumer.on_decision = self.decision_seconds.observe
        self.registry.register(RouterCollector(consumer, model))

    def render(self) -> bytes:
        """The exposition text."""
        return render(self.registry)


def router_model_labels(router: Any) -> dict[str, str]:
    """Labels of ``kanal_router_model_info``: the rules file's name and content digest, and
    the learned model's version where the router has one (``model_version``)."""
    source = str(getattr(router.rules, "source", "") or "")
    try:
        with open(source, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()[:12]
    except OSError:
        digest = "unknown"
    return {"rules": os.path.basename(source) or "unknown", "rules_sha256": digest,
            "model_version": str(getattr(router, "model_version", None) or "none")}


def router_model_info(router: Any) -> Callable[[], dict[str, str]]:
    """The labels of ``kanal_router_model_info`` as a function for :class:`RouterMetrics`: the
    rules file's digest taken now (the rules are loaded once per process), the model version
    read from ``router`` at every scrape, so the metric follows a reload of the model file."""
    rules = router_model_labels(router)

    def labels() -> dict[str, str]:
        return rules | {"model_version": str(getattr(router, "model_version", None) or "none")}

    return labels


__all__ = [
    "CONTENT_TYPE",
    "KanalMetrics",
    "RouterMetrics",
    "new_registry",
    "render",
    "router_model_info",
    "router_model_labels",
]
