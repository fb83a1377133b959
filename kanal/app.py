"""Process wiring for ``kanal run``: spool, channel runners, the webhook server and
either the forwarder (broker configured) or the embedded router (no broker).

Shutdown order keeps the guarantees: first stop taking input (webhook server,
then channel runners, each finishing the batch in hand), then give the forwarder
or embedded router a moment to pass on what it can. Whatever is left stays in the
spool for the next start.
"""

from __future__ import annotations

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
from kanal.logs import channel_logger
from kanal.spool import Spool

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
    return Spool(loaded.kanal.spool.path, loaded.kanal.spool.retention_days)


@dataclass
class KanalProcess:
    """Everything ``kanal run`` runs, ready to start.

    Parameters:
        loaded: the validated config.
        only: channel names to run (default: every enabled channel).
    """

    loaded: LoadedConfig
    only: Sequence[str] = ()
    spool: Spool = field(init=False)
    runners: list[ChannelRunner] = field(init=False, default_factory=list)
    webhook_server: WebhookServer | None = field(init=False, default=None)
    _threads: list[threading.Thread] = field(init=False, default_factory=list)
    _input_stop: threading.Event = field(init=False, default_factory=threading.Event)
    _output_stop: threading.Event = field(init=False, default_factory=threading.Event)

    def __post_init__(self) -> None:
        cfg = self.loaded.kanal
        names = [c.name for c in self.loaded.enabled_channels()]
        unknown = [n for n in self.only if n not in {c.name for c in cfg.channels}]
        if unknown:
            msg = f"no channel named {', '.join(unknown)} in {self.loaded.path}"
            raise KeyError(msg)
        selected = list(self.only) or names
        self.spool = open_spool(self.loaded)
        attachments = LocalAttachmentStore(cfg.attachments.path)
        app = WebhookApp(cfg.webhooks.path_prefix, cfg.webhooks.max_body_bytes, health=self.health,
                         trusted_proxies=cfg.webhooks.trusted_proxies, commit_wait=cfg.webhooks.commit_wait_seconds)
        for name in selected:
            connector = build_connector(self.loaded, name)
            runner = ChannelRunner(
                connector, self.spool, attachments, cfg.channel(name).batch_size, stop=self._input_stop
            )
            self.runners.append(runner)
            routes = connector.webhook_routes()
            if routes:
                app.add_channel(runner, routes)
        if app.routes:
            hooks = cfg.webhooks
            self.webhook_server = WebhookServer(app, hooks.host, hooks.port, hooks.threads)

    def health(self) -> dict[str, Any]:
        """Liveness summary for ``GET /healthz``."""
        return {"status": "ok", "channels": [r.name for r in self.runners], "spool_depth": self.spool.depth()}

    def _output_loop(self) -> Any:
        cfg = self.loaded.kanal
        if cfg.embedded:
            from kanal.local_router import LocalRouterLoop
            from router.engine import Router

            router = Router.from_config(cfg.router, cfg.broker.topology, cfg.spool.path.with_name("router-dedup.db"))
            return LocalRouterLoop(self.spool, router, cfg.broker.topology.triage_queue)
        from kanal.forwarder import Forwarder

        return Forwarder(self.spool, cfg.broker)

    def start(self) -> None:
        """Start the output side, the channels and the webhook server."""
        output = self._output_loop()
        self._spawn("kanal-output", output.run, self._output_stop)
        for runner in self.runners:
            self._spawn(f"channel-{runner.name}", runner.run)
        if self.webhook_server is not None:
            self.webhook_server.start()
        log.info(
            "kanal running",
            channels=[r.name for r in self.runners],
            mode="embedded" if self.loaded.kanal.embedded else "broker",
            spool=str(self.loaded.kanal.spool.path),
        )

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self, drain_seconds: float = 5.0) -> None:
        """Stop taking input, finish batches in hand, let the output side drain briefly."""
        log.info("stopping: no new input")
        if self.webhook_server is not None:
            self.webhook_server.stop()
        self._input_stop.set()
        channel_threads = [t for t in self._threads if t.name.startswith("channel-")]
        for thread in channel_threads:
            thread.join(timeout=15)
        deadline = time.monotonic() + drain_seconds
        while self.spool.depth() and time.monotonic() < deadline:
            time.sleep(0.1)
        self._output_stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        left = self.spool.depth()
        log.info("stopped", waiting_in_spool=left)
        self.spool.close()
