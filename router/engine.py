"""The routing decision for one complaint: classify, locate, prioritise, pick a queue.

:class:`Router` is pure with respect to the broker: ``route(complaint)`` returns a
:class:`~router.decision.Routed` and touches nothing outside the process, so the
embedded default (no broker) and the RabbitMQ consumer share it. Routing keys:

* ``agency.<agency>.<priority>.<kota>`` to the agency queue (``<kota>`` is the kota
  code without dots, e.g. ``3174``, or ``x`` when unknown), so the CRM can bind one
  queue per Suku Dinas with e.g. ``agency.sda.*.3173``;
* ``agency.triage.<priority>.<kota>`` when no rule is trusted enough;
* ``confidential.<agency>.<priority>`` for the Inspektorat path, which only the
  confidential queue receives.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field

from config.models import RouterConfig, TopologyConfig
from config.secrets import SecretValue, resolve_secret
from config.topology import TRIAGE, agency_queue_name
from normalizer.complaint import Complaint
from router.classify import Classification, Classifier
from router.decision import Routed, build_body
from router.dedup import DEFAULT_TABLE, DedupStore, open_dedup_store
from router.duplicates import DuplicateIndex
from router.location import LocationResolver, ResolvedLocation
from router.priority import SlaPolicy, decide_priority
from router.rules import Rules, load_rules
from router.shared_duplicates import PostgresDuplicateIndex


class RouterOptions(SlaPolicy):
    """``router.options`` of the config file: SLA figures plus these."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    confidential_channels: list[str] = Field(
        default_factory=list,
        description="Channel names or types whose complaints all go to the Inspektorat, confidentially "
        "(any channel whose name or type contains 'inspektorat' always does).",
    )
    duplicate_window_hours: float = Field(72, gt=0, description="How far back a duplicate's original can be.")
    duplicate_similarity: float = Field(0.7, gt=0, le=1, description="Jaccard threshold for near-identical text.")
    batch_max: int = Field(100, ge=1, le=1000, description="Most deliveries routed in one transaction.")


class Router:
    """Routes complaints with compiled rules (see the module docstring)."""

    def __init__(self, rules: Rules, topology: TopologyConfig, options: RouterOptions | None = None,
                 dedup_factory: Any = None, duplicates_factory: Any = None) -> None:
        self.rules = rules
        self.topology = topology
        self.options = options or RouterOptions()
        self.classifier = Classifier(rules)
        self.locator = LocationResolver()
        self._window = timedelta(hours=self.options.duplicate_window_hours)
        self._duplicates_factory = duplicates_factory or (
            lambda: DuplicateIndex(self._window, self.options.duplicate_similarity)
        )
        self._duplicates: Any = None
        self._dedup_factory = dedup_factory
        self._dedup: DedupStore | None = None

    @classmethod
    def from_config(cls, router_cfg: RouterConfig, topology: TopologyConfig,
                    dedup_path: Path | None = None) -> Router:
        """Build a router from the config file's ``router`` and ``broker.topology`` sections.

        The dedup store is opened on first use of :attr:`dedup`: PostgreSQL when
        ``router_cfg.dedup_dsn`` is set, else SQLite at ``dedup_path``.
        """
        options = RouterOptions.model_validate(router_cfg.options)

        dsn = dedup_dsn(router_cfg.dedup_dsn)

        def factory() -> DedupStore:
            return open_dedup_store(dsn, dedup_path or Path("var/router-dedup.db"),
                                    retention_days=router_cfg.dedup_retention_days)

        def shared_duplicates() -> PostgresDuplicateIndex:
            window = timedelta(hours=options.duplicate_window_hours)
            return PostgresDuplicateIndex(dsn, f"{DEFAULT_TABLE}_recent", window, options.duplicate_similarity)

        return cls(load_rules(router_cfg.rules), topology, options, factory, shared_duplicates if dsn else None)

    @property
    def dedup(self) -> DedupStore:
        """The shared dedup store (opened on first use)."""
        if self._dedup is None:
            if self._dedup_factory is None:
                msg = "this router has no dedup store configured"
                raise RuntimeError(msg)
            self._dedup = self._dedup_factory()
        return self._dedup

    @property
    def duplicates(self) -> Any:
        """The duplicate index: in memory, or shared in PostgreSQL (opened on first use)."""
        if self._duplicates is None:
            self._duplicates = self._duplicates_factory()
        return self._duplicates

    def reset_dedup(self) -> None:
        """Drop the database connections (after a failure); the next use reconnects."""
        for store in (self._dedup, self._duplicates if hasattr(self._duplicates, "close") else None):
            if store is not None:
                try:
                    store.close()
                except Exception:  # noqa: BLE001, S110 - the connection is already broken
                    pass
        self._dedup = None
        if hasattr(self._duplicates, "close"):
            self._duplicates = None

    def prune(self) -> None:
        """Forget routed ids and recent complaints past their retention."""
        self.dedup.prune()
        if hasattr(self.duplicates, "prune"):
            self.duplicates.prune(self._window * 2)

    def agency_codes(self) -> list[str]:
        """Every agency code of the rules, plus triage."""
        return [*self.rules.agencies, TRIAGE]

    def agency_queue(self, agency: str) -> str:
        """Queue name of an agency (the triage queue for ``triage``)."""
        return agency_queue_name(self.topology, agency)

    def route(self, complaint: Complaint) -> Routed:
        """Decide where ``complaint`` goes. Pure apart from the duplicate index."""
        text = "\n".join(t for t in (complaint.title, complaint.description) if t)
        cls = self.classifier.classify(text, complaint.service_code)
        loc = self.locator.resolve(complaint)
        confidential = self._confidential(complaint, cls)
        agency = "inspektorat" if self._from_inspektorat_channel(complaint) else (cls.agency or TRIAGE)
        duplicate_of = None
        if not confidential:
            words = frozenset(self.rules.normaliser.tokens(text))
            duplicate_of = self.duplicates.check_and_add(
                complaint, words, cls.category, loc.kelurahan_code or loc.kecamatan_code
            )
        prio = decide_priority(self.options, cls.urgent, duplicate_of is not None, complaint.received_at)
        if confidential:
            queue, key = self.topology.confidential_queue, f"confidential.{agency}.{prio.name}"
        else:
            kota = (loc.kota_code or "x").replace(".", "")
            queue, key = self.agency_queue(agency), f"agency.{agency}.{prio.name}.{kota}"
        routing = self._routing(cls, loc, agency, prio, duplicate_of, confidential, queue, key, complaint)
        redact = not confidential and (complaint.reporter.anonymous or complaint.reporter.confidential)
        body = build_body(complaint.model_dump(mode="json"), routing, redact)
        agency_name = self.rules.agencies[agency].name if agency in self.rules.agencies else "Triage"
        return Routed(str(complaint.id), agency, agency_name, cls.category, queue, key, prio.amqp, body,
                      duplicate_of, confidential, agency == TRIAGE, routing)

    def _from_inspektorat_channel(self, complaint: Complaint) -> bool:
        ch = complaint.channel
        listed = set(self.options.confidential_channels)
        return ch.name in listed or ch.type in listed or "inspektorat" in f"{ch.name} {ch.type}".lower()

    def _confidential(self, complaint: Complaint, cls: Classification) -> bool:
        spec = self.rules.agencies.get(cls.agency or "")
        return bool(
            self._from_inspektorat_channel(complaint) or complaint.reporter.confidential or (spec and spec.confidential)
        )

    def _routing(self, cls: Classification, loc: ResolvedLocation, agency: str, prio: Any,
                 duplicate_of: str | None, confidential: bool, queue: str, key: str,
                 complaint: Complaint) -> dict[str, Any]:
        category = self.rules.categories.get(cls.category or "")
        return {
            "schema": "id.go.jakarta.kanal.routing.v1",
            "agency_code": agency,
            "agency_name": self.rules.agencies[agency].name if agency in self.rules.agencies else "Triage",
            "service_code": cls.category,
            "service_name": category.name if category else None,
            "triage": agency == TRIAGE,
            "confidence": cls.confidence,
            "score": round(cls.score, 3),
            "matched_rules": list(cls.matched),
            "also_mentions": list(cls.also),
            "channel_hint": complaint.service_code,
            "channel_hint_used": cls.hint_used,
            "location": loc.as_dict(),
            "priority": prio.name,
            "amqp_priority": prio.amqp,
            "urgent": cls.urgent,
            "coordinate_by": _iso(prio.coordinate_by),
            "complete_by": _iso(prio.complete_by),
            "duplicate_of": duplicate_of,
            "confidential": confidential,
            "queue": queue,
            "routing_key": key,
            "routed_at": _iso(datetime.now(UTC)),
        }


def dedup_dsn(configured: str | SecretValue | None) -> str | None:
    """The DSN itself: a ``${ENV_VAR}`` or ``file:`` reference (it holds a password) is resolved."""
    if isinstance(configured, SecretValue):
        return configured.get()
    if configured and (configured.strip().startswith("${") or configured.startswith("file:")):
        return resolve_secret(configured).get()
    return configured


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
