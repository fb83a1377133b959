"""How the whole router routes labelled history: ``kanal router eval --routed``.

``kanal router eval`` scores the model's labels. What a site wants to know before it
keeps the model on, turns it off (``router.model: none``) or moves its threshold is
what the *router* does with its complaints: the rules, the model above its threshold
and the integrity rule together, as ``kanal router`` routes them. Each row becomes a
complaint of its own and is routed **right** (its agency gets it; for a label meaning
the Inspektorat, also its integrity copy: :meth:`router.decision.Routed.reaches`), to
**triage**, or to a **wrong** agency. A row whose label maps to no agency cannot be
scored and is counted apart. Nothing is written anywhere: the router gets no dedup
store and an in-memory duplicate index.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from normalizer.complaint import ChannelRef, Complaint
from router.engine import Router
from router.learn.rows import LabelMap, Row

#: Rows routed per call, as the router batches its deliveries.
BATCH = 100
_WHEN = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


@dataclass
class RoutedOutcomes:
    """Where the rows went, counted by the agency each row names."""

    right: Counter[str] = field(default_factory=Counter)
    triage: Counter[str] = field(default_factory=Counter)
    wrong: Counter[str] = field(default_factory=Counter)
    #: Rows whose label maps to no agency (not scored), by label.
    unmapped: Counter[str] = field(default_factory=Counter)

    @property
    def scored(self) -> int:
        """Rows that were routed and scored."""
        return sum(self.right.values()) + sum(self.triage.values()) + sum(self.wrong.values())

    def shares(self) -> tuple[float, float, float]:
        """Shares of the scored rows routed right, to triage and wrong."""
        n = max(1, self.scored)
        return sum(self.right.values()) / n, sum(self.triage.values()) / n, sum(self.wrong.values()) / n

    def line(self) -> str:
        """``right 89.4 %, triage 8.5 %, wrong 2.1 %``."""
        right, triage, wrong = self.shares()
        return f"right {right:.1%}, triage {triage:.1%}, wrong {wrong:.1%}"


def row_complaint(row: Row, number: int) -> Complaint:
    """The complaint a history row stands for: its text, its category as the hint, and an
    id and reporter of its own (so that no row is linked to another as its duplicate)."""
    return Complaint(
        id=uuid.uuid5(uuid.NAMESPACE_URL, f"kanal:eval:{number}"),
        channel=ChannelRef(type="eval", name="eval", account="history"),
        provider_message_id=str(number), received_at=_WHEN, requested_datetime=_WHEN,
        description=row.text, service_code=row.category or None, raw_ref="raw:eval",
    )


def route_rows(router: Router, rows: Sequence[Row], labels: LabelMap,
               progress: Callable[[int], None] | None = None) -> RoutedOutcomes:
    """Route every row with ``router`` and count the outcomes (see the module docstring)."""
    outcomes = RoutedOutcomes()
    wanted: list[tuple[int, Row, str]] = []
    for number, row in enumerate(rows):
        agency = labels.agency(row.agency)
        if agency is None:
            outcomes.unmapped[row.agency] += 1
        else:
            wanted.append((number, row, agency))
    for start in range(0, len(wanted), BATCH):
        batch = wanted[start:start + BATCH]
        results = router.route_many([row_complaint(row, number) for number, row, _ in batch])
        for (_, _, agency), routed in zip(batch, results, strict=True):
            if isinstance(routed, Exception):
                raise routed
            if routed.reaches(agency):
                outcomes.right[agency] += 1
            elif routed.triage:
                outcomes.triage[agency] += 1
            else:
                outcomes.wrong[agency] += 1
        if progress is not None:
            progress(min(start + BATCH, len(wanted)))
    return outcomes


def report_routed(title: str, outcomes: RoutedOutcomes, rules_alone: RoutedOutcomes | None,
                  out: Callable[[str], None] = print) -> None:
    """Print the outcome shares, next to the rules alone when given, and per agency."""
    out(f"{title}: {outcomes.scored:,} rows routed")
    out(f"  as configured: {outcomes.line()}")
    if rules_alone is not None:
        out(f"  rules alone:   {rules_alone.line()}")
    if outcomes.unmapped:
        listed = ", ".join(f"{label} ({n})" for label, n in sorted(outcomes.unmapped.items()))
        out(f"  not scored, label maps to no agency (map it in router.labels): {listed}")
    out("")
    out(f"  {'agency':<14} {'rows':>6} {'right':>7} {'triage':>7} {'wrong':>7}")
    for agency in sorted(set(outcomes.right) | set(outcomes.triage) | set(outcomes.wrong)):
        counts = outcomes.right[agency], outcomes.triage[agency], outcomes.wrong[agency]
        n = sum(counts)
        out(f"  {agency:<14} {n:>6} " + " ".join(f"{c / n:>7.1%}" for c in counts))
