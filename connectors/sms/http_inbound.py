"""What the HTTP backends share: the raw form of a request, shared-secret checks and
the replay window.

The raw payload of an HTTP message is the request itself in HTTP/1.1 text form
(request line, the headers that carry meaning, blank line, body), with the
shared secret removed from the query string. It is what an operator sees in the
quarantine and what ``decode`` reads back, so decoding stays pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from urllib.parse import parse_qsl, urlsplit

from werkzeug.datastructures import Headers

from connectors.base import RawMessage
from connectors.errors import NormaliseError
from connectors.push import WebhookRequest, constant_time_equals, query_param_bytes
from normalizer.timeutil import utc_now

#: Query parameter that carries a backend's shared secret.
TOKEN_PARAM = "token"
#: Header that may carry the shared secret instead.
TOKEN_HEADER = "X-Kanal-Token"


@dataclass(frozen=True)
class RequestDump:
    """A request read back from its raw form."""

    method: str
    path: str
    query: str
    headers: Headers
    body: bytes

    def params(self, binary: Iterable[str] = ()) -> dict[str, str]:
        """The query parameters, first value of each, as text.

        Parameters:
            binary: parameters the caller reads as bytes (:meth:`param_bytes`); they
                are not checked and their text here is not meaningful.

        Raises:
            NormaliseError: another parameter is not UTF-8 once percent-decoded.
        """
        return _first_values(self.query, "query parameter", binary)

    def param_bytes(self, name: str) -> bytes | None:
        """A query parameter's value as the raw bytes it percent-encodes."""
        return query_param_bytes(self.query, name)

    def form(self) -> dict[str, str]:
        """The body as a form, first value of each field.

        Raises:
            NormaliseError: the body or a field is not UTF-8 (once percent-decoded).
        """
        try:
            body = self.body.decode("utf-8")
        except UnicodeDecodeError:
            msg = "form body is not UTF-8"
            raise NormaliseError(msg) from None
        return _first_values(body, "form field")


def _first_values(encoded: str, where: str, binary: Iterable[str] = ()) -> dict[str, str]:
    """First value of each ``name=value`` pair, strictly UTF-8: a field that is not
    would otherwise be stored with U+FFFD in place of what the citizen wrote."""
    out: dict[str, str] = {}
    skip = set(binary)
    for key, value in parse_qsl(encoded, keep_blank_values=True, encoding="utf-8", errors="surrogateescape"):
        if key not in skip:
            try:
                key.encode("utf-8")
                value.encode("utf-8")
            except UnicodeEncodeError:
                msg = f"{where} {key.encode('utf-8', 'replace')[:40]!r} is not UTF-8 once percent-decoded"
                raise NormaliseError(msg) from None
        out.setdefault(key, value)
    return out


def raw_query(request: WebhookRequest) -> str:
    """The query string exactly as sent (still percent-encoded)."""
    return urlsplit(request.url).query


def without_params(query: str, names: Iterable[str]) -> str:
    """``query`` with the named parameters removed, the rest left byte for byte."""
    drop = set(names)
    kept = [p for p in query.split("&") if p and p.partition("=")[0] not in drop]
    return "&".join(kept)


def dump_request(
    request: WebhookRequest, keep_headers: Iterable[str], secret_params: Iterable[str] = (TOKEN_PARAM,)
) -> bytes:
    """The raw form of ``request``: secrets removed, only meaningful headers kept."""
    query = without_params(raw_query(request), secret_params)
    target = request.path or "/"
    if query:
        target += "?" + query
    lines = [f"{request.method} {target} HTTP/1.1"]
    lines.extend(_kept_headers(request.headers, [h.lower() for h in keep_headers]))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + request.body


def _kept_headers(headers: Headers, wanted: list[str]) -> list[str]:
    """``name: value`` of each header of ``wanted`` (lower-case names) the request has."""
    environ = getattr(headers, "environ", None)  # werkzeug's EnvironHeaders: a view of the WSGI environ
    if environ is None:
        return [f"{name}: {headers[name]}" for name in wanted if name in headers]
    # Looked up in the environ itself: EnvironHeaders answers each absent header by raising
    # and catching a KeyError, which cost more than the rest of this function per SMS.
    found = []
    for name in wanted:
        key = name.upper().replace("-", "_")
        value = environ.get(key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key)
        if value is not None:
            found.append(f"{name}: {value}")
    return found


def parse_dump(payload: bytes) -> RequestDump:
    """Read a raw form written by :func:`dump_request`.

    Raises:
        NormaliseError: the payload is not such a form.
    """
    head, sep, body = payload.partition(b"\r\n\r\n")
    if not sep:
        msg = "raw HTTP request has no header/body separator"
        raise NormaliseError(msg)
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _version = lines[0].split(" ", 2)
    except ValueError:
        msg = f"bad request line {lines[0][:80]!r}"
        raise NormaliseError(msg) from None
    path, _, query = target.partition("?")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return RequestDump(method, path, query, Headers(headers), body)


def http_raw(request: WebhookRequest, backend: str, keep_headers: Iterable[str],
             secret_params: Iterable[str] = (TOKEN_PARAM,)) -> RawMessage:
    """A :class:`RawMessage` for one request carrying one SMS."""
    payload = dump_request(request, keep_headers, secret_params)
    return RawMessage(
        source_id=f"{backend}:{request.remote_addr or '-'}",
        payload=payload,
        received_at=utc_now(),
        metadata={"backend": backend},
    )


def token_matches(request: WebhookRequest, expected: str) -> bool:
    """True when the request carries the shared secret (query ``token`` or header)."""
    given = request.param(TOKEN_PARAM)
    if given is None:
        given = request.headers.get(TOKEN_HEADER)
    if given is None:
        return False
    return constant_time_equals(given, expected)


def outside_window(when: datetime | None, max_age: float, max_future: float, now: datetime | None = None) -> str | None:
    """Why ``when`` falls outside the replay window, or None (also when unknown)."""
    if when is None:
        return None
    age = ((now or utc_now()) - when).total_seconds()
    if max_age and age > max_age:
        return f"message is {age:.0f}s old (window {max_age:.0f}s)"
    if age < -max_future:
        return f"message is {-age:.0f}s in the future"
    return None


def parse_gateway_time(value: str, tz: tzinfo) -> datetime | None:
    """A gateway's local ``YYYY-MM-DD HH:MM[:SS]`` time in ``tz``; None when empty or
    in another format (the caller decides what else it accepts)."""
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=tz)
        except ValueError:
            continue
    return None
