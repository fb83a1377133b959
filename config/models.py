"""Pydantic models of the Kanal config file (everything but each channel's options,
which the channel type's own model validates)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from config.secrets import Secret, SecretValue, resolve_secret


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SpoolConfig(_Strict):
    """The local durable spool (SQLite in WAL mode)."""

    path: Path = Field(Path("var/kanal-spool.db"), description="SQLite file; its folder is created.")
    retention_days: float = Field(
        30, gt=0, description="How long forwarded ids, raw payloads and forwarded bodies (for "
        "`kanal router unrouted --replay`) are kept for dedup, audit and replay."
    )


class AttachmentStoreConfig(_Strict):
    """Content-addressed store for files that come with messages."""

    path: Path = Path("var/attachments")
    max_file_bytes: int = Field(10 * 1024 * 1024, gt=0, description="Larger files are listed as omitted.")
    max_message_bytes: int = Field(25 * 1024 * 1024, gt=0, description="Cap on all files of one message.")
    fetch: bool = Field(True, description="Download the links channels allow (photos of Facebook, X, Twilio MMS) "
                        "into the store after the commit; off: they stay links.")
    fetch_hold_seconds: float = Field(
        120, gt=0, description="Longest a complaint waits for its files before it is forwarded without them."
    )
    fetch_timeout_seconds: float = Field(30, gt=0, description="Deadline of one download, retries included.")
    fetch_attempts: int = Field(3, ge=1, le=10, description="Tries per download (backoff between them).")
    fetch_ca_bundle: Path | None = Field(
        None, description="CA bundle for the downloads (an egress proxy's CA); unset: the system's."
    )


class TopologyConfig(_Strict):
    """Names and arguments of the RabbitMQ exchanges and queues Kanal declares."""

    intake_exchange: str = "kanal.intake"
    intake_queue: str = "kanal.intake.q"
    intake_routing_key: str = "complaint.received"
    dead_letter_exchange: str = "kanal.dlx"
    dead_letter_queue: str = "kanal.dead"
    delivery_limit: int = Field(10, ge=1, description="x-delivery-limit of the quorum queues.")
    routed_exchange: str = "kanal.routed"
    triage_queue: str = "kanal.agency.triage"
    confidential_queue: str = "kanal.confidential"
    feedback_exchange: str = Field("kanal.feedback", description="Topic exchange the CRM publishes corrections to.")
    feedback_queue: str = Field("kanal.router.feedback", description="The router's queue of corrections (bound '#').")


class BrokerConfig(_Strict):
    """RabbitMQ. Without ``url`` Kanal runs on the embedded default (no broker).

    The password is never written in ``url``: either ``url`` names the user and
    ``password`` holds a reference (``amqp://kanal@mq.internal:5672/kanal`` plus
    ``password: ${KANAL_AMQP_PASSWORD}``), or the whole ``url`` is a reference.
    """

    url: str | Secret | None = Field(
        None,
        description="amqp://user@host:5672/vhost or amqps://... (no password in it; put that in `password`), "
        "or a ${ENV_VAR} / file: reference holding the whole URL; unset = embedded default.",
    )
    password: Secret | None = Field(None, description="Broker password as a reference; used with the URL's user.")
    heartbeat: int = Field(15, ge=0)
    blocked_connection_timeout: float = Field(60, gt=0)
    confirm_window: int = Field(500, ge=1, le=10_000, description="Messages in flight awaiting confirms.")
    batch_size: int = Field(1000, ge=1)
    topology: TopologyConfig = TopologyConfig()

    @field_validator("url", mode="before")
    @classmethod
    def _url_shape(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().startswith(("${", "file:")):
            value = resolve_secret(value)
            if value.resolved:
                check_amqp_url(value.get(), allow_password=True)
            return value
        if isinstance(value, str):
            check_amqp_url(value, allow_password=False)
        return value

    @model_validator(mode="after")
    def _credentials_complete(self) -> BrokerConfig:
        if isinstance(self.url, str):
            parts = urlsplit(self.url)
            if parts.username and self.password is None:
                msg = (f"broker.url names the user {unquote(parts.username)!r} but no password is set: "
                       "add broker.password: ${KANAL_AMQP_PASSWORD} (or file:/path)")
                raise ValueError(msg)
            if self.password is not None and not parts.username:
                msg = "broker.password is set but broker.url names no user: write amqp://USER@host:port/vhost"
                raise ValueError(msg)
        return self

    def connection_url(self) -> str:
        """The full AMQP URL, password included: hand it to the AMQP client, never to a log."""
        if self.url is None:
            msg = "no broker url configured: Kanal runs on the embedded default"
            raise ValueError(msg)
        if isinstance(self.url, SecretValue):
            return self.url.get()
        if self.password is None:
            return self.url
        parts = urlsplit(self.url)
        userinfo = f"{parts.username}:{quote(self.password.get(), safe='')}"
        netloc = f"{userinfo}@{parts.netloc.rpartition('@')[2]}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def _plain_url(self) -> str:
        """The URL as written (no password added), or the resolved reference."""
        return self.url.get() if isinstance(self.url, SecretValue) else str(self.url)

    @property
    def vhost(self) -> str:
        """The virtual host the URL names (``/`` when it names none)."""
        path = urlsplit(self._plain_url()).path if self.url is not None else ""
        return unquote(path[1:]) if len(path) > 1 else "/"

    def label(self) -> str:
        """``host:port/vhost`` of the broker, safe to log (no user, no password)."""
        if self.url is None:
            return "embedded"
        parts = urlsplit(self._plain_url())
        default_port = 5671 if parts.scheme == "amqps" else 5672
        host = parts.hostname or "localhost"
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{parts.port or default_port}/{self.vhost}"


def check_amqp_url(url: str, allow_password: bool) -> None:
    """Check the shape of an AMQP URL.

    Raises:
        ValueError: not amqp:// or amqps://, no host, a bad port, or (unless
            ``allow_password``) a password written into the URL.
    """
    if not url.startswith(("amqp://", "amqps://")):
        msg = "broker url must start with amqp:// or amqps://"
        raise ValueError(msg)
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - urlsplit checks the port lazily
    except ValueError:
        msg = "broker url has a port that is not a number between 0 and 65535"
        raise ValueError(msg) from None
    if not parts.hostname:
        msg = "broker url names no host: amqp://user@host:5672/vhost"
        raise ValueError(msg)
    if parts.password is not None and not allow_password:
        msg = ("broker url holds a password; secrets are never written inline: write "
               f"{parts.scheme}://{parts.username or 'USER'}@{parts.hostname}... and set "
               "broker.password: ${KANAL_AMQP_PASSWORD} (or make the whole url a ${VAR} / file: reference)")
        raise ValueError(msg)


class WebhookServerConfig(_Strict):
    """The one HTTP server that hosts every push channel."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535, description="0 picks a free port (tests).")
    threads: int = Field(8, ge=1, le=256)
    path_prefix: str = Field("/webhooks", description="Routes are <prefix>/<channel name>/...")
    max_body_bytes: int = Field(5 * 1024 * 1024, gt=0)
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (10.0.0.5, 10.0.0.0/8) of the reverse proxies in front; only their "
        "X-Forwarded-Proto / X-Forwarded-Host name the URL a request was sent to (Twilio signs that URL), and "
        "their X-Forwarded-For the client the Inspektorat form's rate limit counts.",
    )
    commit_wait_seconds: float = Field(
        3, gt=0, le=10,
        description="How long a webhook's spool commit waits for a lock before answering 503 with Retry-After "
        "(well inside the senders' timeouts; Twilio gives up after 15 s).",
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                msg = f"{item!r} is not an IP address or network (host names are not accepted)"
                raise ValueError(msg) from None
        return value


class MetricsConfig(_Strict):
    """The operations listener of every process: ``/metrics``, ``/healthz``, ``/readyz`` (and ``/ops/``).

    On by default, on the loopback address: Prometheus scrapes it from the same host or
    through a reverse proxy ops choose. The defaults sit next to the webhook port 8080
    and outside 9100-9999, the range Prometheus hands out to exporters (all taken).
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(8091, ge=0, le=65535, description="`kanal run`'s listener; 0 picks a free port (tests). "
                      "Give each config run on one host its own port.")
    router_port: int = Field(8092, ge=0, le=65535, description="`kanal router`'s listener.")
    broker_outage_budget_seconds: float = Field(
        300, ge=0,
        description="/readyz answers 503 once the broker has been unreachable this long (the spool keeps "
        "taking complaints meanwhile; this says the backlog no longer drains).",
    )
    ops_token: Secret | None = Field(
        None, description="Token for the status page /ops/ (Authorization: Bearer, the sign-in form, or a "
        "?token= link once); without it the page is off. Desk logins do not open it.",
    )


class RouterConfig(_Strict):
    """The router: rules file and the shared dedup store."""

    rules: Path | None = Field(None, description="Classification rules YAML; default: the shipped rules.")
    dedup_dsn: str | Secret | None = Field(
        None,
        description="postgresql://... shared by replicas, or a ${ENV_VAR} / file: reference when it "
        "holds a password; unset = SQLite next to the spool.",
    )
    dedup_retention_days: float = Field(30, gt=0)
    prefetch: int = Field(200, ge=1, le=2000)
    options: dict[str, Any] = Field(default_factory=dict, description="Router tuning (SLA hours, thresholds).")
    model: str | None = Field(
        "default",
        description="The learned model: 'default' (the shipped one), a model file written by `kanal router train`, "
        "or 'none' to route by the rules alone.",
    )
    model_threshold: float = Field(0.5, ge=0, le=1, description="Below this model confidence: triage.")
    labels: dict[str, str] = Field(
        default_factory=dict, description="CRM agency label -> Kanal agency code, for labels the router does not know."
    )
    feedback_retention_days: float = Field(
        400, gt=0, description="How long routed texts are kept for corrections (needs a PostgreSQL dedup_dsn)."
    )


    @field_validator("dedup_dsn", mode="before")
    @classmethod
    def _dsn_reference(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().startswith(("${", "file:")):
            return resolve_secret(value)
        if isinstance(value, str) and dsn_has_password(value):
            msg = ("router.dedup_dsn holds a password; secrets are never written inline: make the whole DSN a "
                   "reference, dedup_dsn: ${KANAL_ROUTER_DEDUP_DSN} (or file:/path), or use a .pgpass file")
            raise ValueError(msg)
        return value


def dsn_has_password(dsn: str) -> bool:
    """True when a PostgreSQL DSN (URL or ``key=value`` form) carries a password."""
    if "://" in dsn:
        return urlsplit(dsn).password is not None or "password=" in urlsplit(dsn).query.lower()
    return any(part.split("=", 1)[0].strip().lower() == "password" for part in dsn.split() if "=" in part)


class LogConfig(_Strict):
    """Logging."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: readable on a terminal, JSON lines otherwise."
    )


class ChannelConfig(_Strict):
    """One channel instance. ``options`` is validated by the channel type's model."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$", description="Unique; used in routes and state.")
    type: str
    enabled: bool = True
    poll_interval: float = Field(60, gt=0, description="Seconds between polls for pull channels.")
    batch_size: int = Field(200, ge=1, le=10_000, description="Messages per spool transaction.")
    batch_max_bytes: int = Field(
        32 * 1024 * 1024, ge=1024,
        description="Raw bytes per spool transaction: a batch is committed once its payloads reach this "
        "(a single larger message goes alone).",
    )
    quiet_alert_seconds: float = Field(
        3600, gt=0,
        description="How long this channel may go without a successful poll or commit before the alert "
        "KanalChannelQuiet fires (exported as kanal_channel_expected_quiet_seconds): minutes for a busy "
        "account, hours for an SMS number that is silent at night.",
    )
    options: dict[str, Any] = Field(default_factory=dict)


class KanalConfig(_Strict):
    """The whole config file."""

    spool: SpoolConfig = SpoolConfig()
    attachments: AttachmentStoreConfig = AttachmentStoreConfig()
    broker: BrokerConfig = BrokerConfig()
    webhooks: WebhookServerConfig = WebhookServerConfig()
    metrics: MetricsConfig = MetricsConfig()
    router: RouterConfig = RouterConfig()
    log: LogConfig = LogConfig()
    channels: list[ChannelConfig] = Field(default_factory=list)

    @property
    def embedded(self) -> bool:
        """True when no broker URL is set: channels and router run on the spool alone."""
        return self.broker.url is None

    def channel(self, name: str) -> ChannelConfig:
        """Return the channel instance called ``name`` (KeyError if none)."""
        for channel in self.channels:
            if channel.name == name:
                return channel
        raise KeyError(name)
