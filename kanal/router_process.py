"""Process wiring for ``kanal router``: the consumer and the corrections consumer under a
supervisor, SIGHUP to reload the model, the operations listener (``/metrics``, ``/healthz``,
``/readyz`` on ``metrics.router_port``) and the systemd notifications, around
:class:`router.consumer.RouterConsumer`."""

from __future__ import annotations

import threading
from typing import Any

import structlog

from config.loader import LoadedConfig
from connectors.webhooks import WebhookServer
from kanal import sdnotify
from kanal.health import BrokerLink, Probes
from kanal.supervisor import Supervisor

log = structlog.get_logger("kanal.router")


class RouterProcess:
    """Everything ``kanal router`` runs, ready to start.

    Parameters:
        loaded: the validated config (``broker.url`` set).
    """

    def __init__(self, loaded: LoadedConfig) -> None:
        from router.engine import dedup_dsn
        from router.feedback_consumer import build_feedback
        from router.intake import broker_url
        from router.service import build_consumer

        self.loaded = loaded
        self.stop_requested = threading.Event()
        self.supervisor = Supervisor(lambda _reason: self.stop_requested.set())
        self.consumer = build_consumer(loaded)
        cfg = loaded.kanal
        #: The corrections consumer (router/feedback_consumer.py); None without a PostgreSQL dedup_dsn.
        self.feedback, self.consumer.after_routed = build_feedback(cfg, broker_url(cfg.broker),
                                                                   dedup_dsn(cfg.router.dedup_dsn))
        ops = loaded.kanal.metrics
        consumer = self.consumer
        self.probes = Probes("kanal router", self.supervisor, ops.broker_outage_budget_seconds,
                             broker=BrokerLink(consumer.ready.is_set, lambda: consumer.disconnected_since))
        self.metrics: Any = None
        self.ops_server: WebhookServer | None = None
        self._consumer_stop = threading.Event()
        self._watchdog_stop = threading.Event()

    @property
    def failure(self) -> str | None:
        """Why the process failed (a thread died), or None."""
        return self.supervisor.failure

    def start(self) -> None:
        """Bind the operations listener (OSError if its port is taken), then consume."""
        ops = self.loaded.kanal.metrics
        if ops.enabled:
            from kanal.metrics import CONTENT_TYPE, RouterMetrics, router_model_info
            from kanal.web.ops import OpsApp

            self.metrics = RouterMetrics(self.consumer, router_model_info(self.consumer.router))
            app = OpsApp(self.probes, self.metrics.render, CONTENT_TYPE, pages=self._status_page())
            self.ops_server = WebhookServer(app, ops.host, ops.router_port, threads=4, label="operations listener")
            self.supervisor.spawn("router-ops", self.ops_server.serve)
        from router.service import reload_on_sighup

        reload_on_sighup(self.consumer)
        self.supervisor.spawn("router-consumer", self.consumer.run, self._consumer_stop)
        if self.feedback is not None:
            self.supervisor.spawn("router-feedback", self.feedback.run, self._consumer_stop)
        self.supervisor.spawn("router-watchdog", sdnotify.feed_watchdog,
                              lambda: self.probes.health()["status"] == "ok", self._watchdog_stop)
        sdnotify.notify("READY=1", "STATUS=routing complaints")

    def _status_page(self) -> dict[str, Any]:
        """``/ops`` (routed per agency over the last hour and day) when ``metrics.ops_token`` is set."""
        token = self.loaded.kanal.metrics.ops_token
        if token is None:
            return {}
        from kanal.web.ops_page import OpsPage
        from kanal.web.ops_views import RoutedWindow, RouterView

        window = RoutedWindow()
        then = self.consumer.after_routed

        def after_routed(batch: list[tuple[Any, Any]]) -> None:
            window.add(routed.agency_code for _, routed in batch)
            if then is not None:
                then(batch)

        self.consumer.after_routed = after_routed
        return {"/ops": OpsPage(token.get(), RouterView(self.consumer, window))}

    def stop(self) -> None:
        """Finish the batch in hand, stop consuming, close the listener."""
        self.supervisor.stopping()
        sdnotify.notify("STOPPING=1")
        self._consumer_stop.set()
        self._watchdog_stop.set()
        for thread in self.supervisor.threads:
            if thread.name != "router-ops":
                thread.join(timeout=30)
        if self.ops_server is not None:
            self.ops_server.stop()
