"""The push side: one signed route per channel, one record or a batch per request.

The signature is checked over the exact body bytes before anything is parsed; a
missing, malformed, stale (outside the replay window) or wrong signature gets 403
and stores nothing. A signed body that is not JSON, or holds no record, is not the
sender's to retry: it is handed to the runner as one raw message that normalise
refuses, so it lands in quarantine with its bytes and the reason, and the answer is
200. A replay inside the window is harmless: the report's id makes it a duplicate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from connectors.base import IngestResult, RawMessage
from connectors.http_json.config import Signature
from connectors.http_json.mapper import as_text, evaluate, select_records
from connectors.push import WebhookOutcome, WebhookRequest, WebhookRoute, constant_time_equals, forbidden
from normalizer.timeutil import utc_now

if TYPE_CHECKING:
    from connectors.http_json.connector import HttpJsonConnector

#: ``RawMessage.metadata["kind"]`` of a signed body that cannot be split into records.
UNREADABLE = "unreadable_body"


def sign(signature: Signature, secret: str, body: bytes, timestamp: str | None = None) -> str:
    """The header value a sender computes under ``signature`` (used by tests and partners' docs)."""
    if signature.scheme == "shared_key":
        return secret
    message = body if signature.signed == "body" else f"{timestamp}{signature.separator}".encode() + body
    algorithm = hashlib.sha256 if signature.scheme == "hmac_sha256" else hashlib.sha1
    digest = hmac.new(secret.encode(), message, algorithm).digest()
    text = digest.hex() if signature.encoding == "hex" else base64.b64encode(digest).decode()
    return signature.prefix + text


def verify(signature: Signature, secret: str, request: WebhookRequest, now: float) -> bool:
    """True when ``request`` carries a valid, fresh signature."""
    supplied = request.headers.get(signature.header, "").strip()
    if not supplied:
        return False
    timestamp = None
    if signature.timestamp_header:
        timestamp = request.headers.get(signature.timestamp_header, "").strip()
        try:
            sent_at = float(timestamp)
        except ValueError:
            return False
        if sent_at > 1e11:  # milliseconds
            sent_at /= 1000
        if signature.replay_window_seconds is not None and abs(now - sent_at) > signature.replay_window_seconds:
            return False
    expected = sign(signature, secret, request.body, timestamp)
    if signature.encoding == "hex" and signature.scheme != "shared_key":
        supplied, expected = supplied.lower(), expected.lower()
    return constant_time_equals(supplied, expected)


def reply(results: Sequence[IngestResult]) -> Response:
    """200 with what became of each record, once they are durable."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    body = {
        "received": len(results),
        **counts,
        "complaint_ids": [str(r.complaint_id) for r in results if r.complaint_id is not None],
    }
    return Response(json.dumps(body).encode(), 200, content_type="application/json")


def record_message(record: Any, provider_id_expr: str, received: Any, via: str) -> RawMessage:
    """One record as a raw message (its canonical JSON is the archived payload)."""
    payload = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
    try:
        source_id = as_text(evaluate(provider_id_expr, record), "provider_id") or "?"
    except Exception:  # noqa: BLE001 - only a label for logs; normalise reports the real problem
        source_id = "?"
    return RawMessage(source_id, payload, received, {"via": via})


class PushRoute:
    """The POST route of one ``http_json`` channel."""

    def __init__(self, connector: HttpJsonConnector) -> None:
        self.connector = connector
        self.push = connector.options.push
        self.secret = self.push.signature.secret.get()

    def routes(self) -> list[WebhookRoute]:
        """``POST <prefix>/<channel><push.path>``."""
        return [WebhookRoute("POST", self.push.path, self.receive)]

    def receive(self, request: WebhookRequest) -> Response | WebhookOutcome:
        """Verify, split into records, and hand them to the runner."""
        if not verify(self.push.signature, self.secret, request, time.time()):
            return forbidden()
        received = utc_now()
        try:
            records = select_records(json.loads(request.body), self.push.record_selector)
        except ValueError as exc:
            reason = f"push body is not JSON: {exc}"
            return WebhookOutcome([RawMessage("push", request.body, received, {"kind": UNREADABLE, "reason": reason})],
                                  reply)
        if not records:
            reason = f"push body holds no record at {self.push.record_selector!r}"
            return WebhookOutcome([RawMessage("push", request.body, received, {"kind": UNREADABLE, "reason": reason})],
                                  reply)
        expr = self.connector.options.mapping.provider_id
        return WebhookOutcome([record_message(r, expr, received, "push") for r in records], reply)
