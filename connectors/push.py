"""Types for push channels: what a webhook handler receives and answers.

A handler either answers at once (a verification challenge, a 403 for a bad
signature) with a werkzeug ``Response``, or returns a :class:`WebhookOutcome`
listing the raw messages in the request. The server commits those to the spool
and only then calls ``reply`` for the 2xx, so the sender never gets a success for
something that is not durable; if the commit fails it answers 503 and the sender
retries.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from werkzeug.datastructures import Headers, MultiDict
from werkzeug.wrappers import Response

from connectors.base import IngestResult, RawMessage

#: Deepest JSON nesting a push body may have (a Meta delivery is about 8 levels deep).
MAX_JSON_DEPTH = 64


class UnreadableBody(ValueError):
    """A request body that cannot be read at all (not JSON, nested too deep).

    A handler may let it propagate: the server answers 400 with the reason, so the
    sender does not retry a body that will never be readable.
    """


def load_json(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse a push body as JSON, refusing nesting deeper than ``max_depth``.

    Every push route reads JSON through this, so a body nested 100,000 deep is a
    clear 4xx (or a quarantined raw body) instead of a ``RecursionError`` and a
    5xx the sender would retry for hours.

    Raises:
        UnreadableBody: not JSON (or not UTF-8), or nested too deep.
    """
    too_deep = f"JSON nested too deep (more than {max_depth} levels)"
    try:
        document = json.loads(data)
    except RecursionError:
        raise UnreadableBody(too_deep) from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise UnreadableBody(f"body is not JSON ({type(exc).__name__}: {exc})") from None
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > max_depth:
                raise UnreadableBody(too_deep)
            stack.extend((child, depth + 1) for child in (value.values() if isinstance(value, dict) else value))
    return document


def json_bytes(value: Any, **dumps_options: Any) -> bytes:
    """``value`` as UTF-8 JSON (non-ASCII kept as is).

    JSON may carry a lone UTF-16 surrogate (``"\\ud83d"``) that no UTF-8 text can
    hold; then the whole value is written with ``\\u`` escapes instead, so the bytes
    still say exactly what was received and the item can be quarantined on its own.
    """
    try:
        return json.dumps(value, ensure_ascii=False, **dumps_options).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, **dumps_options).encode("ascii")


@dataclass(frozen=True)
class WebhookRequest:
    """One HTTP request to a channel's route.

    Attributes:
        method: ``GET``, ``POST``...
        path: the part after ``<prefix>/<channel name>``, e.g. ``""`` or ``/kannel``.
        query: the parsed query string (werkzeug's ``MultiDict``: ``get`` gives the
            first value, ``getlist`` every one).
        headers: the request's headers (werkzeug's case-insensitive ``Headers``).
        body: the raw request body; verify signatures over these exact bytes.
        url: the full URL as the sender addressed it (scheme, host, path, query),
            rebuilt from Host / X-Forwarded-* headers, for signature schemes that
            sign the URL (Twilio).
        remote_addr: the peer address.
    """

    method: str
    path: str
    query: MultiDict[str, str]
    headers: Headers
    body: bytes
    url: str
    remote_addr: str = ""

    def param(self, name: str, default: str | None = None) -> str | None:
        """First value of ``name`` from the query string."""
        return self.query.get(name, default)

    def param_bytes(self, name: str) -> bytes | None:
        """First value of ``name`` as the exact bytes the sender percent-encoded (which need
        not be UTF-8; :meth:`param` would have replaced what is not)."""
        return query_param_bytes(urlsplit(self.url).query, name)


def query_param_bytes(query: str, name: str) -> bytes | None:
    """First value of ``name`` in a raw (still percent-encoded) query string, as bytes."""
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if unquote_to_bytes(key.replace("+", " ")) == name.encode():
            return unquote_to_bytes(value.replace("+", " "))
    return None


def text_response(status: int, text: str) -> Response:
    """A plain-text (UTF-8) response."""
    return Response(text, status, content_type="text/plain; charset=utf-8")


def forbidden() -> Response:
    """403 with no detail: a forged request learns nothing."""
    return text_response(403, "forbidden\n")


Reply = Callable[[Sequence[IngestResult]], Response]


def ok_reply(results: Sequence[IngestResult]) -> Response:
    """Default reply once messages are committed: 200 ``ok``."""
    return text_response(200, "ok\n")


@dataclass(frozen=True)
class WebhookOutcome:
    """Messages to commit, and how to answer once they are committed."""

    messages: Sequence[RawMessage]
    reply: Reply = ok_reply


Handler = Callable[[WebhookRequest], "Response | WebhookOutcome"]


@dataclass(frozen=True)
class WebhookRoute:
    """One route on the shared server: ``<prefix>/<channel name><path>``.

    Attributes:
        method: HTTP method it answers.
        path: sub-path, ``""`` for the channel root or e.g. ``"/twilio"``.
        handler: called with the request. A 403 it returns is counted and logged
            (without the request's content) by the server. It does no I/O, so an
            exception it raises is caused by the request itself: the server answers
            400 (never 5xx, which the sender would retry for hours), counts it as
            ``webhook.unreadable`` and logs it.
        max_body_bytes: a smaller body limit for this route (an SMS gateway posts a
            few hundred bytes); None = the server's ``webhooks.max_body_bytes``. A
            route cannot raise the server's limit, only lower it.
    """

    method: str
    path: str
    handler: Handler
    max_body_bytes: int | None = None


def constant_time_equals(a: str | bytes, b: str | bytes) -> bool:
    """Compare two secrets or signatures without leaking timing."""
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    return hmac.compare_digest(a, b)
