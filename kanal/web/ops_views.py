"""What the status page ``/ops/`` shows, gathered when it is asked for.

``kanal run`` shows its channels (state, last success and error, lag, counters), the
spool (waiting complaints, oldest waiting, file size), the open quarantine with an
escaped preview of each raw payload, and, in the embedded default, how many
complaints were routed per agency in the last hour and day (from the spool's
``routed`` store): :class:`RunView`. ``kanal router`` shows what it routed per agency
in the last hour and day (counted in memory since the process started, by
:class:`RoutedWindow`) and its running totals: :class:`RouterView`. The page itself,
its access control and its HTML are :mod:`kanal.web.ops_page`.
"""

from __future__ import annotations

import codecs
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.errors import error_text

#: Bytes of a raw payload shown in a preview.
PREVIEW_BYTES = 2000
#: Quarantine entries listed (oldest first); the total is shown beside them.
QUARANTINE_SHOWN = 100
HOUR, DAY = 3600, 86400


def preview(payload: bytes, limit: int = PREVIEW_BYTES) -> str:
    """The start of a raw payload as text: valid UTF-8 as is, other bytes as ``\\xNN``
    (a character cut at the limit is left out rather than shown as broken bytes)."""
    decoder = codecs.getincrementaldecoder("utf-8")("backslashreplace")
    return decoder.decode(bytes(payload[:limit]), final=len(payload) <= limit)


def format_when(ts: float | None) -> str:
    """A Unix time as ``YYYY-MM-DD HH:MM:SSZ`` (UTC), or ``-`` when unknown."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if ts else "-"


class RoutedWindow:
    """Routed complaints per agency in one-minute buckets over the last day, in memory
    (``kanal router`` feeds it after each committed batch; a restart starts it afresh)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.started = clock()
        self._buckets: deque[tuple[int, Counter[str]]] = deque()
        self._lock = threading.Lock()

    def add(self, agencies: Iterable[str]) -> None:
        """Count one routed complaint per agency code given."""
        minute = int(self.clock() // 60)
        with self._lock:
            if not self._buckets or self._buckets[-1][0] != minute:
                self._buckets.append((minute, Counter()))
            self._buckets[-1][1].update(agencies)
            while self._buckets and self._buckets[0][0] <= minute - DAY // 60:
                self._buckets.popleft()

    def counts(self, seconds: float) -> dict[str, int]:
        """Per agency, what was routed in the last ``seconds`` (to the minute)."""
        since = int((self.clock() - seconds) // 60)
        total: Counter[str] = Counter()
        with self._lock:
            for minute, counter in self._buckets:
                if minute > since:
                    total.update(counter)
        return dict(total)


def routed_table(hour: dict[str, int], day: dict[str, int]) -> list[dict[str, Any]]:
    """Rows (agency, last hour, last day), busiest first."""
    return [{"agency": a, "hour": hour.get(a, 0), "day": day.get(a, 0)}
            for a in sorted(day.keys() | hour.keys(), key=lambda a: (-day.get(a, 0), a))]


class RunView:
    """What ``kanal run`` shows: its channels, the spool, the quarantine, routed counts.

    Parameters:
        spool: the process's :class:`kanal.spool.Spool`.
        channels: ``(name, type)`` of the channels this process runs.
        newest: the newest source time seen per channel (``KanalMetrics.newest_items``).
        hidden: channels whose raw payloads are not previewed (confidential ones).
        embedded: True in the embedded default (routed counts come from the spool).
        retry: re-runs one quarantine entry by id and says what happened
            (``kanal quarantine retry``'s code path).
    """

    role = "kanal run"

    def __init__(self, spool: Any, channels: Sequence[tuple[str, str]], newest: Callable[[], dict[str, float]],
                 hidden: Callable[[str], bool], embedded: bool, retry: Callable[[int], str]) -> None:
        self.spool = spool
        self.channels = list(channels)
        self.newest = newest
        self.hidden = hidden
        self.embedded = embedded
        self.retry = retry

    def context(self) -> dict[str, Any]:
        """The template's data, read now."""
        from kanal.metric_collectors import spool_file_size

        now = time.time()
        newest = self.newest()
        open_q = self.spool.open_quarantine()
        channels = []
        for name, channel_type in self.channels:
            row = self.spool.channel_status(name) or {}
            counters = self.spool.counters(name)
            error_at, success_at = row.get("last_error_at"), row.get("last_success")
            channels.append({
                "name": name, "type": channel_type, "state": row.get("state", "never_run"), "detail": row.get("detail"),
                "last_success": success_at,
                "last_error": error_text(row["last_error"])[:500] if row.get("last_error") else None,
                "last_error_at": error_at, "error_past": bool(error_at and success_at and success_at > error_at),
                "lag": now - newest[name] if name in newest else None,
                "taken": row.get("accepted", 0), "duplicates": row.get("duplicates", 0),
                "dropped": row.get("dropped", 0), "quarantined": row.get("quarantined", 0),
                "quarantine_open": open_q.get(name, 0), "acks_sent": counters.get("ack.sent", 0),
                "acks_failed": counters.get("ack.failed", 0), "forbidden": counters.get("webhook.forbidden", 0),
            })
        oldest = self.spool.oldest_waiting()
        entries = []
        for e in self.spool.quarantined(limit=QUARANTINE_SHOWN):
            hidden = self.hidden(e.channel)
            entries.append({"qid": e.qid, "channel": e.channel, "error": e.error[:1000], "attempts": e.attempts,
                            "first_seen": e.first_seen, "last_seen": e.last_seen, "source_id": e.source_id[:200],
                            "size": len(e.payload), "hidden": hidden,
                            "preview": None if hidden else preview(e.payload),
                            "cut": len(e.payload) > PREVIEW_BYTES})
        if self.embedded:
            routed = {"rows": routed_table(self.spool.routed_counts(now - HOUR), self.spool.routed_counts(now - DAY)),
                      "note": "Routed by the embedded router of this process (the spool's routed store)."}
        else:
            routed = {"rows": None, "note": "Complaints go to RabbitMQ; routed counts per agency are on the "
                                            "status page of kanal router."}
        return {
            "channels": channels,
            "spool": {"waiting": self.spool.depth(), "oldest_age": now - oldest if oldest else None,
                      "file_size": spool_file_size(self.spool.path)},
            "quarantine": {"open": sum(open_q.values()), "entries": entries, "retry": True},
            "routed": routed,
        }


class RouterView:
    """What ``kanal router`` shows: routed per agency in the last hour and day, totals.

    Parameters:
        consumer: its :class:`router.consumer.RouterConsumer`.
        window: the :class:`RoutedWindow` its ``after_routed`` feeds.
    """

    role = "kanal router"
    retry = None

    def __init__(self, consumer: Any, window: RoutedWindow) -> None:
        self.consumer = consumer
        self.window = window

    def context(self) -> dict[str, Any]:
        """The template's data, read now."""
        c = self.consumer
        since_start: Counter[str] = Counter()
        for (agency, _priority), count in dict(c.routed_by).items():
            since_start[agency] += count
        rows = routed_table(self.window.counts(HOUR), self.window.counts(DAY))
        for row in rows:
            row["total"] = since_start.get(row["agency"], 0)
        return {
            "router": {"connected": c.ready.is_set(), "started": self.window.started, **c.stats.as_dict()},
            "routed": {"rows": rows, "since_start": True,
                       "note": "Counted by this router process since it started "
                               f"({format_when(self.window.started)}); each router replica counts its own."},
        }
