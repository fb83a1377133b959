"""What the runner and the webhook server report for metrics, without knowing Prometheus.

Connectors never import a metrics library: the runner and the webhook server call an
:class:`Observer` at the point where a fact happens (a poll ended, a webhook was
answered, a batch was committed). The default does nothing; ``kanal run`` hands them
:class:`kanal.metrics.KanalMetrics` (:mod:`kanal.metrics` and :mod:`kanal.metric_collectors`
are the only modules that speak ``prometheus_client``).
Counts that must survive a restart (taken, duplicates, dropped, quarantined, refused
requests) are kept by the spool itself and read at scrape time, so they cost nothing
here.
"""

from __future__ import annotations


class Observer:
    """Receives the runner's and the webhook server's observations; every method is a no-op."""

    def poll_finished(self, channel: str, seconds: float, ok: bool) -> None:
        """A pull channel's poll ended after ``seconds`` (``ok`` False: it raised)."""

    def webhook_answered(self, channel: str, route: str, method: str, status: int, seconds: float) -> None:
        """The webhook server answered a request on ``route`` of ``channel`` with ``status``.

        ``channel`` and ``route`` are ``""`` and ``"unmatched"`` for a path no route serves.
        """

    def newest_item(self, channel: str, source_time: float) -> None:
        """A committed batch held an item the source dated ``source_time`` (Unix seconds)."""


#: The observer used when nobody asked for metrics.
NO_OBSERVER = Observer()
