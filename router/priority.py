"""Priority and due times (SLA) of a routed complaint.

Jakarta's rules (SE Sekda 40/2019, see docs/router.md): the agency must coordinate a
report within 6 hours and solve it within 7 days. Urgent categories (flood, fallen
tree, fire, live cables) get the high AMQP priority and, by Kanal's default, tighter
targets (1 hour / 24 hours). Every figure is configurable under ``router.options``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

#: AMQP priority per priority name.
AMQP_PRIORITY = {"high": 8, "normal": 4, "low": 1}


class SlaPolicy(BaseModel):
    """Due-time rules; the ``router.options`` keys of the same names override them."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    coordination_hours: float = Field(6, gt=0, description="Coordinate within this (Jakarta rule).")
    completion_days: float = Field(7, gt=0, description="Solve within this (Jakarta rule).")
    urgent_coordination_hours: float = Field(1, gt=0, description="Coordinate an urgent complaint within this.")
    urgent_completion_hours: float = Field(24, gt=0, description="Solve an urgent complaint within this.")

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> SlaPolicy:
        """Build from ``router.options`` (unknown keys are for other parts of the router)."""
        return cls.model_validate(options)


@dataclass(frozen=True, slots=True)
class Priority:
    """The priority decision."""

    name: str
    amqp: int
    coordinate_by: datetime
    complete_by: datetime


def decide_priority(policy: SlaPolicy, urgent: bool, linked: bool, received_at: datetime) -> Priority:
    """Priority and due times for a complaint received at ``received_at``.

    A complaint linked to an earlier one (``duplicate_of``) gets the low priority: the
    agency already has the job; the due times are those of the category.
    """
    if urgent:
        coordinate = timedelta(hours=policy.urgent_coordination_hours)
        complete = timedelta(hours=policy.urgent_completion_hours)
    else:
        coordinate = timedelta(hours=policy.coordination_hours)
        complete = timedelta(days=policy.completion_days)
    name = "low" if linked else ("high" if urgent else "normal")
    return Priority(name, AMQP_PRIORITY[name], received_at + coordinate, received_at + complete)
