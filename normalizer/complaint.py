"""The complaint: one immutable record per citizen message, schema v1.

Field names follow Open311 GeoReport v2 where one exists (``service_code``,
``description``, ``requested_datetime``, ``address_string``, ``lat``/``long``),
plus provenance so every complaint can be traced to its source message
(``channel``, ``provider_message_id``, ``raw_ref``). ``kanal schema`` prints the
JSON Schema; docs/complaint.schema.json is the committed copy.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = 1
#: The AMQP ``type`` and CloudEvents ``type`` of a complaint message.
SCHEMA_TYPE = "id.go.jakarta.kanal.complaint.v1"
_ZERO = timedelta(0)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChannelRef(_Frozen):
    """Where the complaint came in."""

    type: str = Field(description="Connector type: twitter, email, facebook, sms, ...")
    name: str = Field(description="Channel instance name from the config, e.g. sms-08111272206.")
    account: str = Field(
        description="Receiving account: @dkijakarta, dki@jakarta.go.id, +628111272206, 1708, a Page id."
    )


class Reporter(_Frozen):
    """Who sent it, as far as the channel tells."""

    name: str | None = None
    handle: str | None = Field(None, description="Username or screen name on the channel.")
    provider_user_id: str | None = Field(
        None, description="The channel's user id (X user id, page-scoped id, ...)."
    )
    phone: str | None = Field(None, description="E.164, e.g. +628123456789.")
    email: str | None = None
    anonymous: bool = False
    confidential: bool = Field(
        False, description="Identity must not leave the confidential path (Inspektorat)."
    )


class Attachment(_Frozen):
    """A file that came with the message: kept in the attachment store, or listed as omitted."""

    filename: str | None = None
    content_type: str | None = None
    size: int | None = Field(None, ge=0, description="Bytes.")
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    stored_ref: str | None = Field(None, description="Reference in the attachment store, when kept.")
    url: str | None = Field(None, description="Source URL, for media kept by reference only.")
    omitted_reason: str | None = Field(
        None, description="Why the file is not in the store (too_large, empty, message_cap, ...)."
    )


class Location(_Frozen):
    """Where the problem is. The channel fills what it knows; the router resolves the rest."""

    lat: float | None = Field(None, ge=-90, le=90)
    long: float | None = Field(None, ge=-180, le=180)
    address_string: str | None = None
    kelurahan: str | None = None
    kelurahan_code: str | None = None
    kecamatan: str | None = None
    kecamatan_code: str | None = None
    kota: str | None = None
    kota_code: str | None = None
    postal_code: str | None = None
    method: Literal["gps", "exif", "place", "text", "none"] = Field(
        "none", description="How it was found: device coordinates, a photo's EXIF GPS, a channel place, the text, "
        "or not at all."
    )


class Complaint(_Frozen):
    """One citizen complaint as every channel delivers it (schema v1)."""

    id: uuid.UUID = Field(description="Deterministic: the same source message always gets the same id.")
    schema_version: Literal[1] = SCHEMA_VERSION
    channel: ChannelRef
    provider_message_id: str = Field(min_length=1)
    conversation_key: str | None = Field(
        None, description="Thread: e-mail References root, tweet conversation_id, FB post or thread, SMS sender."
    )
    in_reply_to: uuid.UUID | None = Field(
        None, description="Id of an earlier complaint this message answers, when Kanal took that one in."
    )
    received_at: AwareDatetime = Field(description="When Kanal received it, UTC.")
    requested_datetime: AwareDatetime = Field(
        description="When the citizen sent it, with the source's offset (WIB is +07:00)."
    )
    reporter: Reporter = Reporter()
    title: str | None = None
    description: str = Field(description="Clean text; capped, the full text is in the raw archive.")
    description_truncated: bool = False
    context: str | None = Field(None, description="Text the message refers to, e.g. a quoted tweet.")
    language: str | None = Field(None, description="BCP 47 tag when the channel tells, e.g. in, en.")
    url: str | None = Field(None, description="Link to the message at the source, when it has one.")
    attachments: tuple[Attachment, ...] = ()
    location: Location = Location()
    service_code: str | None = Field(None, description="Category hint from the channel; the router decides.")
    flags: tuple[str, ...] = Field((), description="Markers such as 'incomplete' (a multipart SMS part missing).")
    raw_ref: str = Field(description="Where the raw payload is archived, e.g. raw:sha256:<hex>.")

    @field_validator("received_at")
    @classmethod
    def _received_at_utc(cls, value: datetime) -> datetime:
        return value if value.utcoffset() == _ZERO else value.astimezone(UTC)


def json_schema() -> dict:
    """Return the JSON Schema of :class:`Complaint` as the CRM should validate it."""
    schema = Complaint.model_json_schema(mode="serialization")
    schema["$id"] = f"https://kanal.jakarta.go.id/schema/{SCHEMA_TYPE}.json"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
