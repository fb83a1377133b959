"""Complaint <-> AMQP message: the body and properties of the CRM message contract.

Body: the complaint as JSON (UTF-8). Properties: ``message_id`` = complaint id,
``content_type``, ``type``, ``timestamp``, persistent delivery, and the CloudEvents
attributes as headers with the ``cloudEvents_`` prefix of the CloudEvents AMQP
binding, so a consumer on any stack can read them without parsing the body.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from normalizer.complaint import SCHEMA_TYPE, Complaint

CONTENT_TYPE = "application/json"
CLOUDEVENTS_SPEC_VERSION = "1.0"


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


def complaint_source(complaint: Complaint) -> str:
    """CloudEvents ``source`` of a complaint: the connector type and instance."""
    return f"/kanal/connectors/{complaint.channel.type}/{complaint.channel.name}"


def encode_complaint(complaint: Complaint) -> bytes:
    """Return the JSON body of a complaint."""
    return complaint.model_dump_json().encode()


def decode_complaint(body: bytes | str) -> Complaint:
    """Parse and validate a complaint JSON body (raises pydantic.ValidationError)."""
    return Complaint.model_validate_json(body)


def to_wire(complaint: Complaint, body: bytes | None = None) -> WireMessage:
    """Build the AMQP message for ``complaint`` (``body`` if already encoded)."""
    cid = str(complaint.id)
    headers = {
        "cloudEvents_specversion": CLOUDEVENTS_SPEC_VERSION,
        "cloudEvents_id": cid,
        "cloudEvents_source": complaint_source(complaint),
        "cloudEvents_type": SCHEMA_TYPE,
        "cloudEvents_time": complaint.received_at.isoformat().replace("+00:00", "Z"),
        "cloudEvents_subject": complaint.channel.account,
        "cloudEvents_datacontenttype": CONTENT_TYPE,
        "kanal_channel_type": complaint.channel.type,
        "kanal_channel_name": complaint.channel.name,
        "kanal_schema_version": str(complaint.schema_version),
    }
    return WireMessage(
        body=body if body is not None else encode_complaint(complaint),
        message_id=cid,
        type=SCHEMA_TYPE,
        timestamp=int(complaint.received_at.timestamp()),
        headers=headers,
    )
