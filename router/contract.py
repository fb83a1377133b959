"""The routed message as a schema: the complaint (schema v1) plus ``routing``.

The complaint's own JSON Schema forbids unknown keys, so a consumer of the agency
queues validates against this one instead: ``python -m router.contract`` prints it.
Every routed body the router publishes validates against :class:`RoutedComplaint`
(tested).
"""

from __future__ import annotations

import json
import sys
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from normalizer.complaint import Complaint
from normalizer.wire import ROUTED_TYPE


class RoutedLocation(BaseModel):
    """``routing.location``: where the router placed the complaint, and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["gps", "place", "text", "landmark", "none"]
    level: Literal["kelurahan", "kecamatan", "kota", "none"]
    kelurahan: str | None
    kelurahan_code: str | None
    kecamatan: str | None
    kecamatan_code: str | None
    kota: str | None
    kota_code: str | None
    postal_code: str | None
    address: str | None = Field(description="Street and RT/RW as the citizen wrote them.")
    note: str | None = Field(description="inside/overlap/nearest (gps); names/ambiguous/postal code (text).")
    candidates: list[str] = Field(description="Names that were ambiguous.")


class ModelInfo(BaseModel):
    """``routing.model``: the learned model that decided (null when the rules did)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(description="First 12 hex digits of the model file's SHA-256.")
    trained_at: str
    label: str | None = Field(description="The label the model predicted, as in the training data.")
    probability: float | None


class Routing(BaseModel):
    """``routing``: the decision (see docs/router.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_: Literal["id.go.jakarta.kanal.routing.v1"] = Field(alias="schema")
    agency_code: str
    agency_name: str
    service_code: str | None
    service_name: str | None
    triage: bool
    confidence: float = Field(ge=0, le=1)
    score: float
    matched_rules: list[str]
    also_mentions: list[str]
    channel_hint: str | None
    channel_hint_used: bool
    location: RoutedLocation
    priority: Literal["high", "normal", "low"]
    amqp_priority: int
    urgent: bool
    coordinate_by: str
    complete_by: str
    duplicate_of: str | None
    confidential: bool
    queue: str
    routing_key: str
    routed_at: str
    decided_by: Literal["model", "rules"]
    reasons: list[str] = Field(description="Top model features (w: word, c: characters, category:) or the rules.")
    model: ModelInfo | None
    integrity: bool = Field(description="Pungli or another integrity matter is mentioned; a copy went to the "
                            "Inspektorat without the reporter's identity.")
    copy_of: str | None = Field(None, description="On the integrity copy only: the id of the complaint it copies "
                                "(the copy's AMQP message_id is its own, see router.decision.integrity_copy_id).")


class RoutedComplaint(Complaint):
    """A message on an agency, triage or confidential queue."""

    routing: Routing


def routed_json_schema() -> dict:
    """JSON Schema of a routed message body."""
    schema = RoutedComplaint.model_json_schema(mode="serialization", by_alias=True)
    schema["$id"] = f"https://kanal.jakarta.go.id/schema/{ROUTED_TYPE}.json"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


if __name__ == "__main__":
    sys.stdout.write(json.dumps(routed_json_schema(), indent=2) + "\n")
