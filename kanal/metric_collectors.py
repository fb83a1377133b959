"""The scrape-time collectors of :mod:`kanal.metrics`: figures read when Prometheus
scrapes, not counted as they happen, so they survive restarts and cost intake nothing.

The spool's counts per channel and its own figures, the attachment store's size
(taken at most once a minute), a forwarder's and a router consumer's running totals.
Label values stay bounded: channel names come from the config, and drop reasons are
cleaned and capped (:func:`drop_reasons`).
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

#: Every state a channel can be in (``connectors/runner.py``); one gauge series each.
CHANNEL_STATES = ("starting", "running", "backing_off", "auth_failed", "needs_reauthorisation", "misconfigured",
                  "stopped")
#: Distinct drop reasons exported per channel; the rest are summed under ``other``.
MAX_REASONS = 40
_REASON = re.compile(r"^[a-z0-9_]{1,48}$")


class SpoolCollector:
    """Reads the spool's counts and figures for the channels of this process."""

    def __init__(self, spool: Any, channels: Sequence[tuple[str, str, float]], newest: dict[str, float]) -> None:
        self.spool = spool
        self.channels = list(channels)
        self.newest = newest

    def collect(self) -> Iterable[Metric]:
        """Per channel: info, state, counts, last success, newest item and lag; then the spool's figures."""
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


class AttachmentStoreCollector:
    """Files and bytes in the attachment store. Counting walks the store's folders, so
    the figure is taken at most once a minute however often Prometheus scrapes."""

    every_seconds = 60.0

    def __init__(self, root: Path) -> None:
        self.root = root
        self._taken_at = -math.inf
        self._usage = (0, 0)
        self._lock = threading.Lock()

    def collect(self) -> Iterable[Metric]:
        """Files and bytes in the store (counted again once the last count is a minute old)."""
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


class ForwarderCollector:
    """Reads a forwarder's running totals."""

    def __init__(self, stats: Any) -> None:
        self.stats = stats

    def collect(self) -> Iterable[Metric]:
        """Published, confirmed, nacked and returned totals, and the broker session's state."""
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


class RouterCollector:
    """Reads a router consumer's running totals."""

    def __init__(self, consumer: Any, model: dict[str, str] | Callable[[], dict[str, str]]) -> None:
        self.consumer = consumer
        self.model = model if callable(model) else lambda: model

    def collect(self) -> Iterable[Metric]:
        """Routed per agency and priority, the other totals, the broker link and the model info."""
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
            ("redelivered_routed", s.redelivered,
             ("Complaints routed from an intake message another router had held and not acked (published with "
              "kanal_redelivered: possibly a repeat).")),
        ):
            yield CounterMetricFamily(f"kanal_router_{name}", text, value=value)
        yield GaugeMetricFamily("kanal_router_broker_connected", "1 while the router consumes the intake queue.",
                                value=1 if c.ready.is_set() else 0)
        model = InfoMetricFamily("kanal_router_model", "The rules (and model) the router decides with.")
        model.add_metric([], self.model())
        yield model


__all__ = [
    "CHANNEL_STATES",
    "AttachmentStoreCollector",
    "ForwarderCollector",
    "RouterCollector",
    "SpoolCollector",
    "drop_reasons",
    "spool_file_size",
]
