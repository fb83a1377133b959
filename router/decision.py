"""The routed message: the complaint plus a ``routing`` object, and where it goes.

Body = the complaint JSON (schema v1, unchanged fields) with one more top-level key,
``routing`` (documented in docs/router.md). For every queue except the confidential
one, an anonymous or confidential reporter's identity is removed from the body:
reporter fields, the source URL and the conversation key (which can be a phone
number), and phone numbers and e-mail addresses inside the text are masked.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

import pydantic_core

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<!\d)(?:\+?62|0)8[\d\s.-]{7,14}\d")
_IDENTITY_FIELDS = ("name", "handle", "provider_user_id", "phone", "email")
#: json.dumps with these options builds an encoder on every call; one is enough.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
#: The exponent of a float as pydantic-core writes one below 1e-4 (``1.5e-6``, see
#: :func:`encode_json`) where a value ends; a complaint id's ``...9e-4b...`` is no such thing.
#: Starting with a literal, it is searched about as fast as a substring.
_TINY_EXPONENT = re.compile(rb"e-\d+(?:[,\]}]|$)")


@dataclass(frozen=True, slots=True)
class Copy:
    """One more message published with a routed one (the integrity copy to the Inspektorat)."""

    queue: str
    routing_key: str
    body: bytes
    message_id: str


def integrity_copy_id(complaint_id: str) -> str:
    """The AMQP ``message_id`` of a complaint's integrity copy: its own, deterministic (a
    redelivered complaint's copy has the same id), never the complaint's (no message id
    appears twice across the routed queues)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"kanal:{complaint_id}:integrity"))


@dataclass(frozen=True, slots=True)
class Routed:
    """A routing decision ready to publish (or to store, in the embedded default)."""

    complaint_id: str
    agency_code: str
    agency_name: str
    service_code: str | None
    queue: str
    routing_key: str
    priority: int
    body: bytes
    duplicate_of: str | None
    confidential: bool
    triage: bool
    routing: dict[str, Any]
    copies: tuple[Copy, ...] = ()

    def reaches(self, agency: str) -> bool:
        """True when ``agency`` gets this complaint: it is routed there, or ``agency`` is the
        Inspektorat and gets the integrity copy (how a pungli report is routed, so history
        that labels it ``inspektorat`` is matched)."""
        return self.agency_code == agency or (agency == "inspektorat" and bool(self.copies))

    def log_fields(self) -> dict[str, Any]:
        """What may be logged about this decision: no reporter, no text."""
        return {
            "complaint_id": self.complaint_id, "agency": self.agency_code, "queue": self.queue,
            "service_code": self.service_code, "priority": self.priority,
            "duplicate_of": self.duplicate_of, "confidence": self.routing.get("confidence"),
        }


def build_body(complaint_json: dict[str, Any], routing: dict[str, Any], redact: bool) -> bytes:
    """Serialise the routed message; ``redact`` strips the reporter's identity."""
    doc = dict(complaint_json)
    if redact:
        doc = redact_identity(doc)
    doc["routing"] = routing
    return encode_json(doc)


def routed_body(complaint: Any, routing: dict[str, Any]) -> bytes:
    """:func:`build_body` of a complaint that is not redacted, byte for byte, without the
    dict round trip: pydantic writes the complaint's JSON and only ``routing`` goes through
    :mod:`json` (``complaint`` is a :class:`normalizer.complaint.Complaint`)."""
    loc = complaint.location
    if _has_routing_field(type(complaint)) or not (_plain_float(loc.lat) and _plain_float(loc.long)):
        return build_body(complaint.model_dump(mode="json"), routing, redact=False)
    head = complaint.model_dump_json().encode()
    return head[:-1] + b',"routing":' + encode_json(routing) + b"}"


def encode_json(obj: Any) -> bytes:
    """``obj`` (made of str, bool, None, int, float, dict and list) as compact UTF-8 JSON, byte for
    byte as :mod:`json` writes it with ``ensure_ascii=False``.

    pydantic-core writes the same bytes three times faster, except for floats below 1e-4 in
    magnitude (``0.00001``, ``1.5e-6`` where :mod:`json` writes ``1e-05``, ``1.5e-06``): when
    its output could hold one, :mod:`json` writes the object instead.
    """
    out = pydantic_core.to_json(obj)
    # Text that looks like such a number only takes the slower path.
    if b"0.0000" in out or _TINY_EXPONENT.search(out):
        return _ENCODER.encode(obj).encode()
    return out


@cache
def _has_routing_field(model: type) -> bool:
    # Reading model_fields through the class costs a microsecond per call in pydantic 2.11+.
    return "routing" in model.model_fields


def _plain_float(value: float | None) -> bool:
    # pydantic writes 1e-5 where json writes 1e-05: below 1e-3 the two spellings may differ.
    return value is None or value == 0 or abs(value) >= 1e-3


def redact_identity(doc: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a complaint JSON dict without the reporter's identity."""
    out = dict(doc)
    reporter = dict(out.get("reporter") or {})
    for key in _IDENTITY_FIELDS:
        reporter[key] = None
    out["reporter"] = reporter
    out["url"] = None
    out["conversation_key"] = None
    for key in ("title", "description", "context"):
        if out.get(key):
            out[key] = mask_contacts(out[key])
    return out


def mask_contacts(text: str) -> str:
    """Replace phone numbers and e-mail addresses in ``text`` with a marker."""
    return _PHONE.sub("[nomor disembunyikan]", _EMAIL.sub("[email disembunyikan]", text))
