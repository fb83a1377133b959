"""Kanal's own JSON format for any other SMS gateway (docs/sms.md has the contract).

``POST <prefix>/<channel>/json`` with ``Content-Type: application/json`` and::

    X-Kanal-Timestamp: <Unix seconds>
    X-Kanal-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>

The body is one message or ``{"messages": [...]}``; a message is
``{"id": str, "from": str, "text": str, "to"?: str, "received_at"?: ISO 8601,
"type"?: "sms" | "delivery_report", "incomplete"?: bool}``.

A request whose timestamp is more than ``max_skew_seconds`` off is refused, so a
captured request cannot be replayed later; within the window the message ``id``
makes a repeat a duplicate the spool ignores.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import structlog
from werkzeug.wrappers import Response

from connectors.base import IngestResult, RawMessage
from connectors.errors import NormaliseError
from connectors.push import (
    WebhookOutcome,
    WebhookRequest,
    WebhookRoute,
    constant_time_equals,
    forbidden,
    json_bytes,
    load_json,
    text_response,
)
from connectors.sms.backend import SmsBackend
from connectors.sms.config import JsonOptions
from connectors.sms.message import InboundSms
from connectors.sms.outbound import AckPolicy
from normalizer.fields import identifier, text_field
from normalizer.identity import reference_number
from normalizer.timeutil import utc_now

_BACKEND = "json"
TIMESTAMP_HEADER = "X-Kanal-Timestamp"
SIGNATURE_HEADER = "X-Kanal-Signature"
MAX_MESSAGES = 500
#: Body limit of ``/json``: up to MAX_MESSAGES messages of a few hundred bytes each.
JSON_MAX_BODY_BYTES = 1024 * 1024


def json_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Kanal-Signature`` value for a request."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class JsonBackend(SmsBackend):
    """Receives signed JSON posts on ``/json``."""

    def __init__(self, account: str, ack: AckPolicy, log: structlog.typing.FilteringBoundLogger,
                 options: JsonOptions, clock: Any = time.time) -> None:
        super().__init__(account, ack, log)
        self.options = options
        self.clock = clock

    def routes(self) -> Sequence[WebhookRoute]:
        """POST on ``/json``."""
        return (WebhookRoute("POST", "/json", self.handle, JSON_MAX_BODY_BYTES),)

    def handle(self, request: WebhookRequest) -> Response | WebhookOutcome:
        """Verify signature and timestamp, split the body into messages."""
        stamp = request.headers.get(TIMESTAMP_HEADER, "").strip()
        given = request.headers.get(SIGNATURE_HEADER, "").strip()
        expected = json_signature(self.options.secret.get(), stamp, request.body)
        if not stamp or not given or not constant_time_equals(given, expected):
            self.log.warning("json request refused: signature missing or wrong")
            return forbidden()
        try:
            skew = abs(self.clock() - float(stamp))
        except ValueError:
            skew = math.inf
        if not math.isfinite(skew) or skew > self.options.max_skew_seconds:  # "nan" compares False to anything
            self.log.warning("json request refused: timestamp missing or outside the window", stamp=stamp[:20])
            return forbidden()
        document = load_json(request.body)  # unreadable: 400 with the reason, from the server
        items = document.get("messages") if isinstance(document, dict) and "messages" in document else [document]
        if not isinstance(items, list) or not items or len(items) > MAX_MESSAGES:
            return text_response(400, f"expected one message or 1..{MAX_MESSAGES} in \"messages\"\n")
        now = utc_now()
        raws = [
            RawMessage(
                source_id=f"json:{str(item.get('id', '?'))[:64] if isinstance(item, dict) else '?'}",
                payload=json_bytes(item, sort_keys=True),
                received_at=now,
                metadata={"backend": _BACKEND},
            )
            for item in items
        ]
        return WebhookOutcome(raws, self.reply)

    def reply_route(self) -> Literal["answer", "outbox"] | None:
        """Acknowledgements travel in the JSON answer's ``reply`` field."""
        return "answer"

    def reply(self, results: Sequence[IngestResult]) -> Response:
        """JSON: one result per message, and an acknowledgement text to send, if any
        (on the first accepted message of a sender only)."""
        body = {
            "results": [
                {
                    "status": r.status,
                    "complaint_id": str(r.complaint_id) if r.complaint_id else None,
                    "reference": reference_number(r.complaint_id) if r.complaint_id else None,
                    "reason": r.reason,
                    "reply": r.reply.text if r.reply is not None and r.reply.in_answer else None,
                }
                for r in results
            ],
        }
        return Response(json_bytes(body), 200, content_type="application/json")

    def decode(self, raw: RawMessage) -> InboundSms:
        """Read one JSON message (pure)."""
        try:
            item = json.loads(raw.payload)
        except ValueError:
            msg = "message is not JSON"
            raise NormaliseError(msg) from None
        if not isinstance(item, dict):
            msg = "message must be a JSON object"
            raise NormaliseError(msg)
        if item.get("id") in (None, ""):
            msg = "message has no id"
            raise NormaliseError(msg)
        message_id = identifier(item["id"], "id")
        text = text_field(item.get("text"), "text")
        sender = text_field(item.get("from"), "from")
        recipient = text_field(item.get("to"), "to") or None
        sent_at = None
        if item.get("received_at"):
            try:
                sent_at = datetime.fromisoformat(str(item["received_at"]))
            except ValueError:
                msg = f"received_at {str(item['received_at'])[:40]!r} is not ISO 8601"
                raise NormaliseError(msg) from None
            if sent_at.tzinfo is None:
                msg = "received_at must carry its UTC offset (e.g. +07:00)"
                raise NormaliseError(msg)
        return InboundSms(
            sender=sender,
            text=text,
            provider_id=f"json:{message_id}",
            sent_at=sent_at,
            recipient=recipient,
            incomplete=bool(item.get("incomplete", False)),
            delivery_report=item.get("type") == "delivery_report",
        )
