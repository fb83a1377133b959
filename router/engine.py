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

Who decides the agency: a complaint from an Inspektorat channel, or whose reporter asked
for confidentiality, goes only to the confidential queue (rules, always). Otherwise the
learned model (router/learn/) when one is configured, with triage below
``model_threshold``; else the rules. An integrity matter (pungli mentioned, by the rules
or the model) goes to its agency as usual, flagged ``integrity``, and a copy without the
reporter's identity goes to the confidential queue. Life-safety words of the rules raise
the priority whoever decided.

Over 300 lines on purpose: one decision, whose steps (draft, the duplicate pass,
finish) share the router's compiled rules, locator, model and options.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ConfigDict, Field

from config.models import RouterConfig, TopologyConfig
from config.secrets import SecretValue, resolve_secret
from config.topology import TRIAGE, agency_queue_name
from normalizer.complaint import Complaint
from router.classify import Classification, Classifier
from router.decision import Copy, Routed, build_body, integrity_copy_id, redact_identity, routed_body
from router.dedup import DEFAULT_TABLE, DedupStore, open_dedup_store
from router.duplicates import DuplicateIndex
from router.learn.landmarks import find_landmark
from router.location import LocationResolver, ResolvedLocation
from router.priority import SlaPolicy, decide_priority
from router.rules import Rules, load_rules
from router.shared_duplicates import PostgresDuplicateIndex
from router.textnorm import raw_tokens

if TYPE_CHECKING:
    from router.learn.model import Prediction, RouterModel

#: Most deliveries the router handles in one transaction (``router.options.batch_max``).
DEFAULT_BATCH_MAX = 100


@dataclass(slots=True)
class _Draft:
    """A decision before the duplicate index was asked."""

    complaint: Complaint
    cls: Classification
    loc: ResolvedLocation
    confidential: bool
    agency: str
    integrity: bool
    decided: dict[str, Any]
    words: frozenset[str]
    place: str | None
    duplicate_of: str | None = None


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
    batch_max: int = Field(DEFAULT_BATCH_MAX, ge=1, le=1000, description="Most deliveries routed in one transaction.")


class Router:
    """Routes complaints with compiled rules (see the module docstring)."""

    def __init__(self, rules: Rules, topology: TopologyConfig, options: RouterOptions | None = None,
                 dedup_factory: Any = None, duplicates_factory: Any = None, model: RouterModel | None = None,
                 labels: dict[str, str] | None = None, model_threshold: float = 0.5,
                 model_path: Path | None = None) -> None:
        from router.learn.rows import LabelMap

        self.rules = rules
        self.model = model
        self.model_path = model_path
        self.model_threshold = model_threshold
        self.labels = LabelMap(rules.agencies, labels)
        self.topology = topology
        self.options = options or RouterOptions()
        self._confidential_channels = frozenset(self.options.confidential_channels)
        self.classifier = Classifier(rules)
        self.locator = LocationResolver()
        self._window = timedelta(hours=self.options.duplicate_window_hours)
        self._duplicates_factory = duplicates_factory or (
            lambda: DuplicateIndex(self._window, self.options.duplicate_similarity)
        )
        self._duplicates: Any = None
        self._dedup_factory = dedup_factory
        self._dedup: DedupStore | None = None
        self._landmark_places: dict[str, ResolvedLocation] = {}
        self._raw_tokens: dict[str, list[str]] = {}

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

        path = model_path(router_cfg.model)
        model = load_router_model(path) if path else None
        return cls(load_rules(router_cfg.rules), topology, options, factory, shared_duplicates if dsn else None,
                   model=model, labels=router_cfg.labels, model_threshold=router_cfg.model_threshold, model_path=path)

    def reload_model(self) -> str | None:
        """Load the configured model file again (after SIGHUP); returns the new version.

        Raises:
            router.learn.model.ModelError: the file cannot be loaded; the old model stays.
        """
        if self.model_path is None:
            return None
        self.model = load_router_model(self.model_path)
        return self.model.version

    def unmapped_labels(self) -> list[str]:
        """Labels of the model that map to no agency (they route to triage)."""
        return self.labels.unmapped(self.model.labels) if self.model else []

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

    @property
    def model_version(self) -> str | None:
        """The loaded model's version (None when the rules decide alone); metrics label it."""
        return self.model.version if self.model is not None else None

    def agency_queue(self, agency: str) -> str:
        """Queue name of an agency (the triage queue for ``triage``)."""
        return agency_queue_name(self.topology, agency)

    def route(self, complaint: Complaint, prediction: Prediction | None = None) -> Routed:
        """Decide where ``complaint`` goes. Pure apart from the duplicate index.

        ``prediction``: the model's answer when the caller predicted a batch at once.
        """
        (result,) = self.route_many([complaint], [prediction])
        if isinstance(result, Exception):
            raise result
        return result

    def route_many(self, complaints: list[Complaint],
                   predictions: list[Prediction | None] | None = None) -> list[Routed | Exception]:
        """Decide where each complaint goes, in order, with one pass over the duplicate index
        (one round trip to the shared index instead of three per complaint).

        ``predictions``: the model's answers for the batch (:meth:`predict`, one call per
        batch), aligned with ``complaints``; a missing one is predicted for that complaint.
        A complaint whose decision raised comes back as that exception, the others are
        routed; a failure of the shared index (:class:`SharedIndexUnavailable`) propagates.
        """
        if predictions is None:
            predictions = [None] * len(complaints)
        drafts: list[_Draft | Exception] = []
        for complaint, prediction in zip(complaints, predictions, strict=True):
            try:
                drafts.append(self._draft(complaint, prediction))
            except Exception as exc:  # noqa: BLE001 - handed back to the caller for this complaint only
                drafts.append(exc)
        checked = [d for d in drafts if isinstance(d, _Draft) and not d.confidential]
        originals = self.duplicates.check_and_add_many(
            [(d.complaint, d.words, d.cls.category, d.place) for d in checked]
        ) if checked else []
        for draft, original in zip(checked, originals, strict=True):
            draft.duplicate_of = original
        out: list[Routed | Exception] = []
        for draft in drafts:
            if isinstance(draft, Exception):
                out.append(draft)
                continue
            try:
                out.append(self._finish(draft))
            except Exception as exc:  # noqa: BLE001 - as above
                out.append(exc)
        return out

    def _draft(self, complaint: Complaint, prediction: Prediction | None) -> _Draft:
        text = "\n".join(t for t in (complaint.title, complaint.description) if t)
        raw = self._raw_tokens.pop(text, None)
        tokens = self.rules.normaliser.normalise(raw_tokens(text) if raw is None else raw)
        cls = self.classifier.classify(text, complaint.service_code, tokens)
        loc = self.locator.resolve(complaint)
        channel_says = self._from_inspektorat_channel(complaint)
        confidential = channel_says or complaint.reporter.confidential
        decision = self._decide(complaint, text, cls, channel_says, prediction)
        if self.model and loc.level != "kelurahan" and loc.method in ("text", "none"):
            loc = self._landmark(text, loc)
        loc = self.locator.desk_area(complaint, loc)
        words = frozenset() if confidential else frozenset(tokens)
        return _Draft(complaint, cls, loc, confidential, decision["agency"], decision["integrity"],
                      decision["routing"], words, loc.kelurahan_code or loc.kecamatan_code)

    def _finish(self, d: _Draft) -> Routed:
        complaint, cls, loc, agency, confidential = d.complaint, d.cls, d.loc, d.agency, d.confidential
        integrity, duplicate_of = d.integrity, d.duplicate_of
        prio = decide_priority(self.options, cls.urgent, duplicate_of is not None, complaint.received_at)
        if confidential:
            queue, key = self.topology.confidential_queue, f"confidential.{agency}.{prio.name}"
        else:
            kota = (loc.kota_code or "x").replace(".", "")
            queue, key = self.agency_queue(agency), f"agency.{agency}.{prio.name}.{kota}"
        routing = self._routing(cls, loc, agency, prio, duplicate_of, confidential, queue, key, complaint)
        routing.update(d.decided)
        routing["integrity"] = integrity
        redact = not confidential and (complaint.reporter.anonymous or complaint.reporter.confidential)
        copy_needed = integrity and not confidential
        doc = complaint.model_dump(mode="json") if redact or copy_needed else None
        body = build_body(doc, routing, redact) if doc is not None else routed_body(complaint, routing)
        copies: tuple[Copy, ...] = ()
        if doc is not None and copy_needed:
            copy_key = f"confidential.inspektorat.{prio.name}"
            copy_routing = routing | {"confidential": True, "queue": self.topology.confidential_queue,
                                      "routing_key": copy_key, "copy_of": str(complaint.id)}
            copy_body = build_body(redact_identity(doc), copy_routing, redact=False)
            copy_id = integrity_copy_id(str(complaint.id))
            copies = (Copy(self.topology.confidential_queue, copy_key, copy_body, copy_id),)
        agency_name = self.rules.agencies[agency].name if agency in self.rules.agencies else "Triage"
        return Routed(str(complaint.id), agency, agency_name, routing["service_code"], queue, key, prio.amqp, body,
                      duplicate_of, confidential, agency == TRIAGE, routing, copies)

    def predict(self, complaints: list[Complaint]) -> list[Prediction | None]:
        """The model's answers for a batch (one call is much cheaper than one per complaint)."""
        if self.model is None or not complaints:
            return [None] * len(complaints)
        texts = ["\n".join(t for t in (c.title, c.description) if t) for c in complaints]
        # Split once for the model and the rules: route_many takes these up for the same texts.
        raws = [raw_tokens(t) for t in texts]
        self._raw_tokens = dict(zip(texts, raws, strict=True))
        return list(self.model.predict(texts, [c.service_code for c in complaints], raw=raws))

    def _decide(self, complaint: Complaint, text: str, cls: Classification, channel_says: bool,
                prediction: Prediction | None) -> dict[str, Any]:
        """Agency, integrity flag and the routing fields that say who decided and why."""
        integrity = cls.integrity or cls.agency == "inspektorat"
        rules_agency = cls.agency or TRIAGE
        if channel_says:
            return {"agency": "inspektorat", "integrity": False, "routing": {
                "decided_by": "rules", "reasons": ["channel:inspektorat"], "model": self._model_info(None)}}
        if self.model is None:
            if rules_agency == "inspektorat" and not complaint.reporter.confidential:
                integrity, rules_agency = True, TRIAGE  # nobody else named: a person picks the unit concerned
            return {"agency": rules_agency, "integrity": integrity, "routing": {
                "decided_by": "rules", "reasons": list(cls.matched), "model": None}}
        pred = prediction or self.model.predict([text], [complaint.service_code])[0]
        ranked = [(self.labels.agency(lb), p) for lb, p in pred.ranked]
        if ranked and ranked[0][0] == "inspektorat":
            integrity = True
            ranked = ranked[1:]
        agency, prob = ranked[0] if ranked else (None, 0.0)
        if cls.agency == "inspektorat" and (agency is None or prob < self.model_threshold):
            agency = TRIAGE  # pungli alone: the copy informs the Inspektorat, a person picks the unit
        if complaint.reporter.confidential and integrity:
            agency = "inspektorat"
        elif agency is None or prob < self.model_threshold:
            agency = TRIAGE
        service_code = cls.category if cls.agency == agency else None
        return {"agency": agency, "integrity": integrity, "routing": {
            "decided_by": "model", "reasons": list(pred.reasons), "confidence": round(prob, 3),
            "service_code": service_code,
            "service_name": self.rules.categories[service_code].name if service_code else None,
            "model": self._model_info(pred)}}

    def _model_info(self, pred: Prediction | None) -> dict[str, Any] | None:
        if self.model is None:
            return None
        return {"version": self.model.version, "trained_at": self.model.trained_at,
                "label": pred.label if pred else None,
                "probability": round(pred.probability, 3) if pred else None}

    def _landmark(self, text: str, loc: ResolvedLocation) -> ResolvedLocation:
        """A street or landmark learned from history, when the text names no kelurahan."""
        assert self.model is not None
        hit = find_landmark(text, self.model.landmarks)
        if hit is None:
            return loc
        found = self._landmark_places.get(hit[1])
        if found is None:  # a learned kelurahan name resolves the same way every time
            found = self._landmark_places[hit[1]] = self.locator.from_text(f"Kelurahan {hit[1]}")
        if found.level != "kelurahan" or (loc.kecamatan_code and found.kecamatan_code != loc.kecamatan_code):
            return loc
        return replace(found, method="landmark", note=f"landmark {hit[0]}", address=loc.address)

    def _from_inspektorat_channel(self, complaint: Complaint) -> bool:
        ch = complaint.channel
        listed = self._confidential_channels
        return ch.name in listed or ch.type in listed or "inspektorat" in f"{ch.name} {ch.type}".lower()

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


def model_path(configured: str | None) -> Path | None:
    """The model file of ``router.model``: the shipped one for ``default``, None for ``none``."""
    if configured is None or configured.strip().lower() in ("", "none", "off", "rules"):
        return None
    if configured.strip().lower() == "default":
        from router.learn.default import DEFAULT_MODEL_PATH

        return DEFAULT_MODEL_PATH
    return Path(configured)


def load_router_model(path: Path) -> RouterModel:
    """Load a model file (see router/learn/model.py)."""
    from router.learn.model import load_model

    return load_model(path)


def dedup_dsn(configured: str | SecretValue | None) -> str | None:
    """The DSN itself: a ``${ENV_VAR}`` or ``file:`` reference (it holds a password) is resolved."""
    if isinstance(configured, SecretValue):
        return configured.get()
    if configured and (configured.strip().startswith("${") or configured.startswith("file:")):
        return resolve_secret(configured).get()
    return configured


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
