"""Prometheus metrics: the one module of Kanal that imports ``prometheus_client``.

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
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from connectors.observe import Observer

#: Every state a channel can be in (``connectors/runner.py``); one gauge series each.
CHANNEL_STATES = ("starting", "running", "backing_off", "auth_failed", "needs_reauthorisation", "misconfigured",
                  "stopped")
#: Distinct drop reasons exported per channel; the rest are summed under ``other``.
MAX_REASONS = 40
_REASON = re.compile(r"^[a-z0-9_]{1,48}$")

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
        self.registry.register(_SpoolCollector(spool, channels, self._newest))
        if attachments is not None:
            self.registry.register(_AttachmentStoreCollector(attachments))
        if forwarder is not None:
            self.watch_forwarder(forwarder)

    def newest_items(self) -> dict[str, float]:
        """The newest source time seen per channel since start (for the status page's lag)."""
        return dict(self._newest)

    def watch_forwarder(self, stats: Any) -> None:
        """Export a forwarder's running totals (``kanal.forwarder.ForwarderStats``)."""
        self.registry.register(_ForwarderCollector(stats))

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
        self.registry.register(_RouterCollector(consumer, model))

    def render(self) -> bytes:
        """The exposition text."""
        return render(self.registry)


# -- scrape-time collectors ---------------------------------------------------------


class _SpoolCollector:
    """Reads the spool's counts and figures for the channels of this process."""

    def __init__(self, spool: Any, channels: Sequence[tuple[str, str, float]], newest: dict[str, float]) -> None:
        self.spool = spool
        self.channels = list(channels)
        self.newest = newest

    def collect(self) -> Iterable[Metric]:
        ch = ["channel"]
        info = GaugeMetricFamily("kanal_channel_info", "A channel this process runs, with its type.",
                                 labels=["channel", "type"])
        state = GaugeMetricFamily("kanal_channel_state", "1 for the state the channel is in, 0 for the others.",
                                  labels=["channel", "state"])
        taken = CounterMetricFamily("kanal_channel_messages_taken", "Complaints taken into the spool.", labels=ch)
        dups = CounterMetricFamily("kanal_channel_duplicates", "Messages already taken before (ignored).", labels=ch)
        dropped = CounterMetricFamily("kanal_channel_dropped", "Messages dropped on purpose, by reason.",
                                      labels=["channel", "reason"])
        quarantined = CounterMetricFamily("kanal_channel_quarantined", "Messages put in quarantine.", labels=ch)
        forbidden = CounterMetricFamily("kanal_webhook_forbidden", "Webhook requests refused (401/403).", labels=ch)
        success = GaugeMetricFamily("kanal_channel_last_success_timestamp_seconds",
                                    "When the channel last polled or committed successfully.", labels=ch)
        newest = GaugeMetricFamily("kanal_channel_newest_item_timestamp_seconds",
                                   "Source time of the newest item taken since start (lag = time() - this).",
                                   labels=ch)
        lag = GaugeMetricFamily("kanal_channel_source_lag_seconds",
                                "Age of the newest item taken since start, at scrape time (channels that know "
                                "the source time of their items).", labels=ch)
        acks_sent = CounterMetricFamily("kanal_channel_acks_sent", "Replies to reporters delivered.", labels=ch)
        acks_failed = CounterMetricFamily("kanal_channel_acks_failed", "Replies to reporters given up on.",
                                          labels=ch)
        quiet = GaugeMetricFamily("kanal_channel_expected_quiet_seconds",
                                  "How long the channel may go without success before an alert (config).",
                                  labels=ch)
        for name, channel_type, quiet_seconds in self.channels:
            info.add_metric([name, channel_type], 1)
            quiet.add_metric([name], quiet_seconds)
            row = self.spool.channel_status(name) or {}
            current = row.get("state")
            for s in CHANNEL_STATES:
                state.add_metric([name, s], 1 if s == current else 0)
            taken.add_metric([name], row.get("accepted") or 0)
            dups.add_metric([name], row.get("duplicates") or 0)
            quarantined.add_metric([name], row.get("quarantined") or 0)
            if row.get("last_success"):
                success.add_metric([name], row["last_success"])
            if name in self.newest:
                newest.add_metric([name], self.newest[name])
                lag.add_metric([name], max(0.0, time.time() - self.newest[name]))
            counters = self.spool.counters(name)
            forbidden.add_metric([name], counters.get("webhook.forbidden", 0))
            acks_sent.add_metric([name], counters.get("ack.sent", 0))
            acks_failed.add_metric([name], counters.get("ack.failed", 0))
            for reason, count in drop_reasons(counters).items():
                dropped.add_metric([name, reason], count)
        yield from (info, quiet, state, taken, dups, dropped, quarantined, forbidden, success, newest, lag, acks_sent,
                    acks_failed)
        yield from self._spool_figures()

    def _spool_figures(self) -> Iterable[Metric]:
        now = time.time()
        yield GaugeMetricFamily("kanal_spool_waiting_complaints", "Complaints in the spool waiting to be passed on.",
                                value=self.spool.depth())
        oldest = self.spool.oldest_waiting()
        yield GaugeMetricFamily("kanal_spool_oldest_waiting_age_seconds",
                                "Age of the oldest complaint waiting in the spool (0 when none waits).",
                                value=max(0.0, now - oldest) if oldest else 0.0)
        open_q = GaugeMetricFamily("kanal_spool_quarantine_open", "Unresolved quarantine entries.", labels=["channel"])
        for channel, count in sorted(self.spool.open_quarantine().items()):
            open_q.add_metric([channel], count)
        yield open_q
        yield GaugeMetricFamily("kanal_spool_file_size_bytes", "Size of the spool's SQLite files (WAL included).",
                                value=spool_file_size(self.spool.path))


class _AttachmentStoreCollector:
    """Files and bytes in the attachment store. Counting walks the store's folders, so
    the figure is taken at most once a minute however often Prometheus scrapes."""

    every_seconds = 60.0

    def __init__(self, root: Path) -> None:
        self.root = root
        self._taken_at = -math.inf
        self._usage = (0, 0)
        self._lock = threading.Lock()

    def collect(self) -> Iterable[Metric]:
        from kanal.fetcher import store_usage

        with self._lock:
            if time.monotonic() - self._taken_at >= self.every_seconds:
                self._usage = store_usage(self.root) if self.root.exists() else (0, 0)
                self._taken_at = time.monotonic()
            files, size = self._usage
        yield GaugeMetricFamily("kanal_attachment_store_files", "Files in the attachment store (photos, documents).",
                                value=files)
        yield GaugeMetricFamily("kanal_attachment_store_size_bytes", "Bytes in the attachment store, taken at most "
                                "once a minute.", value=size)


def spool_file_size(path: Any) -> int:
    """Bytes of the spool's SQLite files, the WAL and shared-memory files included."""
    size = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            size += os.stat(f"{path}{suffix}").st_size
        except OSError:
            continue
    return size


def drop_reasons(counters: dict[str, int]) -> dict[str, int]:
    """``dropped.<reason>`` counters as bounded label values (see the module docstring)."""
    found: dict[str, int] = {}
    for name in sorted(counters):
        if not name.startswith("dropped."):
            continue
        reason = name[len("dropped."):]
        if not _REASON.match(reason) or (reason not in found and len(found) >= MAX_REASONS - 1):
            reason = "other"
        found[reason] = found.get(reason, 0) + counters[name]
    return found


class _ForwarderCollector:
    """Reads a forwarder's running totals."""

    def __init__(self, stats: Any) -> None:
        self.stats = stats

    def collect(self) -> Iterable[Metric]:
        s = self.stats
        for name, value, text in (
            ("published", s.published, "Messages published to the broker (a message in doubt is published again)."),
            ("confirmed", s.confirmed, "Messages the broker confirmed; they left the spool."),
            ("nacked", s.nacked, "Messages the broker refused (nack); they are sent again."),
            ("returned", s.returned, "Messages returned as unroutable (the intake binding is missing)."),
        ):
            yield CounterMetricFamily(f"kanal_forwarder_{name}", text, value=value)
        yield GaugeMetricFamily("kanal_forwarder_broker_connected", "1 while a confirm-mode session is open.",
                                value=1 if s.connected else 0)
        if not s.connected:
            yield GaugeMetricFamily("kanal_forwarder_broker_disconnected_since_timestamp_seconds",
                                    "Since when no broker session has been open (absent while connected).",
                                    value=s.disconnected_since)
        if s.last_confirm_at is not None:
            yield GaugeMetricFamily("kanal_forwarder_last_confirm_timestamp_seconds",
                                    "When the broker last confirmed a message.", value=s.last_confirm_at)


class _RouterCollector:
    """Reads a router consumer's running totals."""

    def __init__(self, consumer: Any, model: dict[str, str] | Callable[[], dict[str, str]]) -> None:
        self.consumer = consumer
        self.model = model if callable(model) else lambda: model

    def collect(self) -> Iterable[Metric]:
        c = self.consumer
        routed = CounterMetricFamily("kanal_router_routed", "Complaints routed, by agency and priority.",
                                     labels=["agency", "priority"])
        for (agency, priority), count in sorted(dict(c.routed_by).items()):
            routed.add_metric([agency, priority], count)
        yield routed
        s = c.stats
        for name, value, text in (
            ("triage", s.triage, "Complaints sent to triage (no agency could be picked with confidence)."),
            ("confidential", s.confidential, "Complaints sent to the confidential queue."),
            ("duplicates_dropped", s.duplicates, "Deliveries dropped because the complaint was routed before."),
            ("requeued", s.requeued, "Poison messages put back for another attempt."),
            ("dead_lettered", s.dead_lettered, "Poison messages dead-lettered."),
        ):
            yield CounterMetricFamily(f"kanal_router_{name}", text, value=value)
        yield GaugeMetricFamily("kanal_router_broker_connected", "1 while the router consumes the intake queue.",
                                value=1 if c.ready.is_set() else 0)
        model = InfoMetricFamily("kanal_router_model", "The rules (and model) the router decides with.")
        model.add_metric([], self.model())
        yield model


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
    "drop_reasons",
    "new_registry",
    "render",
    "router_model_info",
    "router_model_labels",
    "spool_file_size",
]
