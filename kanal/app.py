"""Process wiring for ``kanal run``: spool, channel runners, the webhook server and
either the forwarder (broker configured) or the embedded router (no broker).

Shutdown order keeps the guarantees: first stop taking input (webhook server,
then channel runners, each finishing the batch in hand), then give the forwarder
or embedded router a moment to pass on what it can. Whatever is left stays in the
spool for the next start.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from config.loader import LoadedConfig
from connectors.attachments import LocalAttachmentStore
from connectors.base import ChannelContext, Connector
from connectors.registry import connector_class
from connectors.runner import ChannelRunner
from connectors.webhooks import WebhookApp, WebhookServer
from kanal import sdnotify
from kanal.ack_sender import AckSender
from kanal.health import BrokerLink, Probes
from kanal.logs import channel_logger
from kanal.spool import Spool
from kanal.supervisor import Supervisor
from kanal.web.mount import build_site

log = structlog.get_logger("kanal.app")


def build_connector(loaded: LoadedConfig, name: str) -> Connector:
    """Instantiate the connector of channel ``name`` (no I/O yet)."""
    channel = loaded.kanal.channel(name)
    cls = connector_class(channel.type)
    store = loaded.kanal.attachments
    context = ChannelContext(
        name=channel.name,
        type=channel.type,
        poll_interval=channel.poll_interval,
        max_file_bytes=store.max_file_bytes,
        max_message_bytes=store.max_message_bytes,
        log=channel_logger(channel.name, channel.type),
    )
    return cls(context, loaded.options[channel.name])


def open_spool(loaded: LoadedConfig) -> Spool:
    """Open the spool the config names."""
    return Spool(loaded.kanal.spool.path, loaded.kanal.spool.retention_days,
                 fetch_hold_seconds=loaded.kanal.attachments.fetch_hold_seconds)


#: Seconds between two heartbeats of a running ``kanal run`` in the spool.
HEARTBEAT_EVERY = 5.0


@dataclass
class KanalProcess:
    """Everything ``kanal run`` runs, ready to start.

    Every thread runs under a :class:`~kanal.supervisor.Supervisor` (the forwarder's
    helper too; an e-mail channel's folder watchers are connector code and back their
    channel off instead, see :mod:`connectors.email.watch`): if one dies
    unexpectedly, :attr:`stop_requested` is set and :attr:`failure` says why, so the
    caller shuts down and exits non-zero (systemd restarts it; the spool keeps all).

    Parameters:
        loaded: the validated config.
        only: channel names to run (default: every enabled channel).
    """

    loaded: LoadedConfig
    only: Sequence[str] = ()
    spool: Spool = field(init=False)
    runners: list[ChannelRunner] = field(init=False, default_factory=list)
    webhook_server: WebhookServer | None = field(init=False, default=None)
    #: Set by a signal handler (clean stop) or by the supervisor (a thread died).
    stop_requested: threading.Event = field(init=False, default_factory=threading.Event)
    supervisor: Supervisor = field(init=False)
    _input_stop: threading.Event = field(init=False, default_factory=threading.Event)
    _output_stop: threading.Event = field(init=False, default_factory=threading.Event)
    _heartbeat_stop: threading.Event = field(init=False, default_factory=threading.Event)
    _started_at: float = field(init=False, default=0.0)
    #: Health and readiness (``/healthz``, ``/readyz``, the systemd watchdog).
    probes: Probes = field(init=False)
    #: The process's metrics (None with ``metrics.enabled: false``).
    metrics: Any = field(init=False, default=None)
    #: The operations listener (``/metrics``...); bound in :meth:`start`.
    ops_server: WebhookServer | None = field(init=False, default=None)
    _spool_written: float | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        cfg = self.loaded.kanal
        names = [c.name for c in self.loaded.enabled_channels()]
        unknown = [n for n in self.only if n not in {c.name for c in cfg.channels}]
        if unknown:
            msg = f"no channel named {', '.join(unknown)} in {self.loaded.path}"
            raise KeyError(msg)
        selected = list(self.only) or names
        self.supervisor = Supervisor(lambda _reason: self.stop_requested.set())
        self.spool = open_spool(self.loaded)
        self.probes = Probes("kanal run", self.supervisor, cfg.metrics.broker_outage_budget_seconds,
                             spool_written=lambda: self._spool_written, spool_stale_after=3 * HEARTBEAT_EVERY + 5)
        attachments = LocalAttachmentStore(cfg.attachments.path)
        app = WebhookApp(cfg.webhooks.path_prefix, cfg.webhooks.max_body_bytes, health=self.health,
                         trusted_proxies=cfg.webhooks.trusted_proxies, commit_wait=cfg.webhooks.commit_wait_seconds,
                         ready=self.probes.ready)
        for name in selected:
            connector = build_connector(self.loaded, name)
            channel = cfg.channel(name)
            runner = ChannelRunner(connector, self.spool, attachments, channel.batch_size, stop=self._input_stop,
                                   batch_max_bytes=channel.batch_max_bytes, fetch_attachments=cfg.attachments.fetch)
            self.runners.append(runner)
            routes = connector.webhook_routes()
            if routes:
                app.add_channel(runner, routes)
        if cfg.metrics.enabled:
            from kanal.metrics import KanalMetrics

            self.metrics = KanalMetrics(self.spool, [(r.name, r.type, cfg.channel(r.name).quiet_alert_seconds)
                                                      for r in self.runners], attachments=cfg.attachments.path)
            app.observer = self.metrics
            for runner in self.runners:
                runner.observer = self.metrics
        site = build_site(self.loaded, self.runners, app)  # adds the desk app and Inspektorat form, if configured
        if site.routes:
            hooks = cfg.webhooks
            self.webhook_server = WebhookServer(site, hooks.host, hooks.port, hooks.threads)

    @property
    def failure(self) -> str | None:
        """Why the process failed (a thread died), or None."""
        return self.supervisor.failure

    def health(self) -> dict[str, Any]:
        """Liveness summary for ``GET /healthz`` (``status`` ``failed`` when a thread died)."""
        return {**self.probes.health(), "channels": [r.name for r in self.runners], "spool_depth": self.spool.depth()}

    def _ops_server(self) -> WebhookServer | None:
        """The operations listener (bound here, so a busy port fails before anything starts)."""
        from kanal.web.ops import OpsApp

        ops = self.loaded.kanal.metrics
        if not ops.enabled:
            return None
        from kanal.metrics import CONTENT_TYPE

        app = OpsApp(self.probes, self.metrics.render, CONTENT_TYPE, pages=self._status_page())
        return WebhookServer(app, ops.host, ops.port, threads=4, label="operations listener")

    def _status_page(self) -> dict[str, Any]:
        """``/ops`` (the status page) when ``metrics.ops_token`` is set, else nothing."""
        cfg = self.loaded.kanal
        if cfg.metrics.ops_token is None:
            return {}
        from kanal.web.ops_page import OpsPage
        from kanal.web.ops_views import RunView

        def hidden(channel: str) -> bool:  # confidential channels, and channels this config does not know
            options = self.loaded.options.get(channel)
            return options is None or bool(getattr(options, "confidential", False))

        view = RunView(self.spool, [(r.name, r.type) for r in self.runners], self.metrics.newest_items, hidden,
                       cfg.embedded, self.retry_quarantined)
        return {"/ops": OpsPage(cfg.metrics.ops_token.get(), view)}

    def retry_quarantined(self, qid: int) -> str:
        """Re-run quarantine entry ``qid`` the way ``kanal quarantine retry`` does; says what happened."""
        from kanal.quarantine import retry_one  # it builds connectors with this module's helpers

        entry = self.spool.quarantine_entry(qid)
        if entry is None:
            return "no such quarantine entry"
        return retry_one(self.loaded, self.spool, entry)

    def _output_loop(self) -> Any:
        cfg = self.loaded.kanal
        if cfg.embedded:
            from kanal.local_router import LocalRouterLoop
            from router.engine import Router

            router = Router.from_config(cfg.router, cfg.broker.topology, cfg.spool.path.with_name("router-dedup.db"))
            return LocalRouterLoop(self.spool, router, cfg.broker.topology.triage_queue)
        from kanal.forwarder import Forwarder

        return Forwarder(self.spool, cfg.broker, spawn=self.supervisor.spawn)

    def start(self) -> None:
        """Start the output side, the channels and the webhook server."""
        self.ops_server = self._ops_server()
        self._started_at = time.time()
        self._beat()
        output = self._output_loop()
        stats = getattr(output, "stats", None)
        if not self.loaded.kanal.embedded and stats is not None:
            self.probes.broker = BrokerLink(lambda: stats.connected, lambda: stats.disconnected_since)
            if self.metrics is not None:
                self.metrics.watch_forwarder(stats)
        if self.ops_server is not None:
            self.supervisor.spawn("kanal-ops", self.ops_server.serve)
        self.supervisor.spawn("kanal-output", output.run, self._output_stop)
        acks = AckSender(self.spool, {r.name: r.connector for r in self.runners})
        self.supervisor.spawn("kanal-acks", acks.run, self._output_stop)
        if self.loaded.kanal.attachments.fetch:
            from kanal.fetcher import Fetcher

            fetcher = Fetcher(self.spool, LocalAttachmentStore(self.loaded.kanal.attachments.path),
                              {r.name: r.connector for r in self.runners}, self.loaded.kanal.attachments)
            self.supervisor.spawn("kanal-fetcher", fetcher.run, self._output_stop)
        for runner in self.runners:
            self.supervisor.spawn(f"channel-{runner.name}", runner.run)
        if self.webhook_server is not None:
            self.supervisor.spawn("kanal-webhooks", self.webhook_server.serve)
        self.supervisor.spawn("kanal-heartbeat", self._heartbeat_loop)
        self.supervisor.spawn("kanal-watchdog", sdnotify.feed_watchdog,
                              lambda: self.probes.health()["status"] == "ok", self._heartbeat_stop)
        sdnotify.notify("READY=1", "STATUS=taking complaints")
        log.info(
            "kanal running",
            channels=[r.name for r in self.runners],
            mode="embedded" if self.loaded.kanal.embedded else "broker",
            spool=str(self.loaded.kanal.spool.path),
        )

    def _beat(self, stopped: str | None = None) -> None:
        try:
            self.spool.heartbeat("kanal run", self._started_at, stopped)
            self._spool_written = time.time()
        except sqlite3.Error as exc:  # a missed beat is not worth stopping intake over
            log.warning("could not record the heartbeat", error=str(exc))

    def _heartbeat_loop(self) -> None:
        while not self._heartbeat_stop.wait(HEARTBEAT_EVERY):
            self._beat()

    def stop(self, drain_seconds: float = 5.0) -> None:
        """Stop taking input, finish batches in hand, let the output side drain briefly."""
        self.supervisor.stopping()
        sdnotify.notify("STOPPING=1")
        if self.failure:
            log.error("stopping after a failure", reason=self.failure)
        else:
            log.info("stopping: no new input")
        if self.webhook_server is not None:
            self.webhook_server.stop()
        self._input_stop.set()
        threads = self.supervisor.threads
        for thread in threads:
            if thread.name.startswith("channel-"):
                thread.join(timeout=15)
        deadline = time.monotonic() + drain_seconds
        output_alive = any(t.name == "kanal-output" and t.is_alive() for t in threads)
        while output_alive and self.spool.depth() and time.monotonic() < deadline:
            time.sleep(0.1)
        self._output_stop.set()
        self._heartbeat_stop.set()
        if self.ops_server is not None:
            self.ops_server.stop()
        for thread in threads:
            thread.join(timeout=10)
        left = self.spool.depth()
        self._beat(stopped=self.failure or "stopped")
        log.info("stopped", waiting_in_spool=left)
        self.spool.close()
