"""Meta webhooks for one Page: the GET handshake, the POST signature, and splitting a
body into one raw message per event.

* Handshake: Meta calls ``GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=N``
  when the callback is saved; the answer is ``N`` when the token is ours, else 403.
* Signature: every POST carries ``X-Hub-Signature-256: sha256=<hex>``, the
  HMAC-SHA256 of the exact body bytes keyed with the app secret. It is checked over
  the raw bytes (Meta signs its own escaped-unicode serialisation; re-encoding the
  parsed JSON would not match) and compared in constant time. Missing or wrong:
  403 and nothing is stored.
* Events: ``object: page`` bodies carry ``entry[].messaging[]`` (Messenger, also in
  ``standby[]`` when another app holds the thread) and ``entry[].changes[]`` with
  ``field: feed``; ``object: instagram`` bodies carry ``changes[]`` with ``field:
  comments``/``mentions`` (and ``messaging[]`` for Instagram Direct).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from werkzeug.wrappers import Response

from connectors.base import IngestResult, RawMessage
from connectors.facebook.payloads import envelope
from connectors.push import WebhookOutcome, WebhookRequest, constant_time_equals, forbidden, load_json, text_response

SIGNATURE_HEADER = "X-Hub-Signature-256"


def sign(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends for ``body``."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(body: bytes, header: str | None, app_secret: str) -> bool:
    """True when ``header`` is the HMAC-SHA256 of exactly ``body`` under ``app_secret``."""
    if not header or not header.startswith("sha256="):
        return False
    return constant_time_equals(sign(body, app_secret), header.strip().lower())


def answer_handshake(request: WebhookRequest, verify_token: str) -> Response:
    """Answer Meta's subscription check: echo ``hub.challenge`` for our verify token."""
    mode = request.param("hub.mode")
    token = request.param("hub.verify_token") or ""
    challenge = request.param("hub.challenge")
    if mode != "subscribe" or challenge is None or not constant_time_equals(token, verify_token):
        return forbidden()
    return text_response(200, challenge)


def _event_id(kind: str, data: dict[str, Any]) -> str:
    if kind == "messaging":
        message = data.get("message") if isinstance(data.get("message"), dict) else {}
        return str(message.get("mid") or data.get("timestamp") or "?")
    value = data.get("value") if isinstance(data.get("value"), dict) else {}
    for key in ("comment_id", "id", "post_id", "media_id"):
        if value.get(key):
            return str(value[key])
    return "?"


#: Reads the comment or caption an Instagram ``mentions`` event names (None: unread).
MentionLookup = Callable[[dict[str, Any]], "dict[str, Any] | None"]


def split_events(body: bytes, page_id: str, received_at: datetime,
                 read_mention: MentionLookup | None = None) -> list[RawMessage]:
    """One raw message per event of a (verified) webhook body.

    With ``read_mention``, an Instagram mention is stored with the comment or caption
    it names (``mentioned`` in the envelope), read before the answer.

    A body that is not the JSON Meta documents (or is nested deeper than any Meta
    delivery) becomes one raw message of kind ``body`` holding the bytes, which
    ``normalise`` rejects: it lands in quarantine with a reason instead of vanishing.
    """
    try:
        doc = load_json(body)
        entries = doc["entry"]
        if not isinstance(entries, list):
            msg = "entry is not a list"
            raise TypeError(msg)
        obj = str(doc.get("object", ""))
    except (ValueError, KeyError, TypeError) as exc:
        return [_unreadable(body.decode("utf-8", "replace"), exc, page_id, received_at)]
    # Events are archived one by one; the digest ties each to the signed delivery.
    metadata = {"source": "webhook", "body_sha256": hashlib.sha256(body).hexdigest()}
    raws: list[RawMessage] = []
    for entry in entries:
        events = _events(entry)
        if not events:
            problem = ValueError("entry without messaging, standby or changes")
            raws.append(_unreadable(json.dumps(entry, ensure_ascii=False), problem, page_id, received_at))
            continue
        context = {"object": obj, "entry_id": str(entry.get("id", "")), "entry_time": entry.get("time")}
        for kind, event in events:
            mentioned = None
            if read_mention is not None and obj == "instagram" and _is_mention(kind, event):
                mentioned = read_mention(event["value"])
            payload = envelope("webhook", kind, page_id, event, mentioned=mentioned, **context)
            event_id = _event_id(kind, event) if isinstance(event, dict) else "?"
            source_id = f"webhook:{obj}:{kind}:{event_id}"
            raws.append(RawMessage(source_id, payload, received_at, metadata))
    return raws


def _is_mention(kind: str, event: Any) -> bool:
    return (kind == "change" and isinstance(event, dict) and event.get("field") == "mentions"
            and isinstance(event.get("value"), dict))


def _events(entry: Any) -> list[tuple[str, Any]]:
    if not isinstance(entry, dict):
        return []
    events = [("messaging", e) for e in _as_list(entry.get("messaging"))]
    events += [("messaging", e) for e in _as_list(entry.get("standby"))]
    events += [("change", e) for e in _as_list(entry.get("changes"))]
    return events


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _unreadable(text: str, problem: Exception, page_id: str, received_at: datetime) -> RawMessage:
    """A raw message ``normalise`` will quarantine, keeping what could not be read."""
    payload = envelope("webhook", "body", page_id, text, error=f"{type(problem).__name__}: {problem}")
    return RawMessage("webhook:body", payload, received_at, {"source": "webhook"})


def received_reply(results: Sequence[IngestResult]) -> Response:
    """Meta only needs a 200 once the events are durable."""
    return text_response(200, "EVENT_RECEIVED")


def make_receiver(
    page_id: str, app_secret: Callable[[], str], clock: Callable[[], datetime],
    read_mention: MentionLookup | None = None,
) -> Callable[[WebhookRequest], Response | WebhookOutcome]:
    """The POST handler: verify the signature, then hand the events to the server."""

    def receive(request: WebhookRequest) -> Response | WebhookOutcome:
        if not signature_valid(request.body, request.headers.get(SIGNATURE_HEADER), app_secret()):
            return forbidden()
        return WebhookOutcome(split_events(request.body, page_id, clock(), read_mention), received_reply)

    return receive
