"""The AMQP message contract, built and parsed here only (docs/message-contract.md).

Two messages: the intake message (the forwarder's, body = the complaint as JSON) and
the routed message (the router's, body = the complaint plus ``routing``). Properties:
``message_id`` = complaint id, ``content_type``, ``type``, ``timestamp``, persistent
delivery, and the CloudEvents attributes as headers with the ``cloudEvents_`` prefix
of the CloudEvents AMQP binding, so a consumer on any stack can read them without
parsing the body. The AMQP client of each process maps a :class:`WireMessage` to its
own property object; nothing else builds headers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pydantic_core

from normalizer.complaint import SCHEMA_TYPE, Complaint

CONTENT_TYPE = "application/json"
CLOUDEVENTS_SPEC_VERSION = "1.0"
#: AMQP ``type`` of a routed message.
ROUTED_TYPE = "id.go.jakarta.kanal.routed.v1"
#: CloudEvents ``source`` of a routed message.
ROUTER_SOURCE = "/kanal/router"


@dataclass(frozen=True)
class WireMessage:
    """An AMQP message ready to publish: body bytes plus basic properties."""

    body: bytes
    message_id: str
    type: str
    timestamp: int
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = CONTENT_TYPE
    content_encoding: str = "utf-8"
    delivery_mode: int = 2
    priority: int | None = None


def complaint_source(complaint: Complaint) -> str:
    """CloudEvents ``source`` of a complaint: the connector type and instance."""
    return _source(complaint.channel.type, complaint.channel.name)


def _source(channel_type: str, channel_name: str) -> str:
    return f"/kanal/connectors/{channel_type}/{channel_name}"


def encode_complaint(complaint: Complaint) -> bytes:
    """Return the JSON body of a complaint."""
    return complaint.model_dump_json().encode()


def decode_complaint(body: bytes | str) -> Complaint:
    """Parse and validate a complaint JSON body (raises pydantic.ValidationError)."""
    return Complaint.model_validate_json(body)


def to_wire(complaint: Complaint, body: bytes | None = None) -> WireMessage:
    """Build the AMQP message for ``complaint`` (``body`` if already encoded)."""
    channel = complaint.channel
    return _wire(
        body if body is not None else encode_complaint(complaint),
        str(complaint.id), channel.type, channel.name, channel.account, complaint.received_at,
        complaint.schema_version,
    )


def wire_from_body(body: bytes) -> WireMessage:
    """Build the AMQP message from a complaint body this module encoded, without a
    full validation (the forwarder's hot path); same result as :func:`to_wire`.

    Raises:
        ValueError: the body is not a complaint's JSON (KeyError and TypeError are
            turned into ValueError).
    """
    try:
        data = pydantic_core.from_json(body)  # about twice as fast as json.loads here
        channel = data["channel"]
        received_at = datetime.fromisoformat(data["received_at"]).astimezone(UTC)
        return _wire(
            body, str(data["id"]), channel["type"], channel["name"], channel["account"],
            received_at, data["schema_version"],
        )
    except (KeyError, TypeError) as exc:
        msg = f"not a complaint body: {type(exc).__name__}: {exc}"
        raise ValueError(msg) from None


def _wire(
    body: bytes, cid: str, channel_type: str, channel_name: str, account: str, received_at: datetime,
    schema_version: int,
) -> WireMessage:
    headers = {
        "cloudEvents_specversion": CLOUDEVENTS_SPEC_VERSION,
        "cloudEvents_id": cid,
        "cloudEvents_source": _source(channel_type, channel_name),
        "cloudEvents_type": SCHEMA_TYPE,
        "cloudEvents_time": received_at.isoformat().replace("+00:00", "Z"),
        "cloudEvents_subject": account,
        "cloudEvents_datacontenttype": CONTENT_TYPE,
        "kanal_channel_type": channel_type,
        "kanal_channel_name": channel_name,
        "kanal_schema_version": str(schema_version),
    }
    return WireMessage(
        body=body,
        message_id=cid,
        type=SCHEMA_TYPE,
        timestamp=int(received_at.timestamp()),
        headers=headers,
    )


def damaged_wire(body: bytes, message_id: str, channel_name: str) -> WireMessage:
    """The intake message for a spool row whose body no longer parses as a complaint:
    published anyway, with the contract's properties filled from the row and
    ``kanal_body_invalid``, so it ends visible in the router's dead-letter queue."""
    return WireMessage(
        body=body,
        message_id=message_id,
        type=SCHEMA_TYPE,
        timestamp=int(datetime.now(UTC).timestamp()),
        headers={
            "cloudEvents_specversion": CLOUDEVENTS_SPEC_VERSION,
            "cloudEvents_id": message_id,
            "cloudEvents_source": f"/kanal/spool/{channel_name}",
            "cloudEvents_type": SCHEMA_TYPE,
            "cloudEvents_datacontenttype": CONTENT_TYPE,
            "kanal_channel_name": channel_name,
            "kanal_body_invalid": "true",
        },
    )


def routed_message(routed: Any) -> WireMessage:
    """The routed message for a :class:`router.decision.Routed` decision."""
    headers = {
        "cloudEvents_specversion": CLOUDEVENTS_SPEC_VERSION,
        "cloudEvents_id": routed.complaint_id,
        "cloudEvents_source": ROUTER_SOURCE,
        "cloudEvents_type": ROUTED_TYPE,
        "cloudEvents_datacontenttype": CONTENT_TYPE,
        "kanal_agency": routed.agency_code,
        "kanal_service_code": routed.service_code or "",
        "kanal_priority": routed.routing["priority"],
    }
    if routed.duplicate_of:
        headers["kanal_duplicate_of"] = routed.duplicate_of
    return WireMessage(
        body=routed.body, message_id=routed.complaint_id, type=ROUTED_TYPE,
        timestamp=int(datetime.now(UTC).timestamp()), headers=headers, priority=routed.priority,
    )


def parse_routed(body: bytes | str) -> dict[str, Any]:
    """Parse a routed message body (the complaint plus ``routing``)."""
    return pydantic_core.from_json(body)
