"""Checks on single fields of a source message, shared by every channel: ids, senders,
text and attachment URLs.

Each check returns the value it accepts, or raises :class:`InvalidField` with a
reason an operator can act on; the runner quarantines the message with its raw
bytes. Nothing here repairs garbage: a value that is not what the field should be
is refused, never stored half-cleaned.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

#: Longest provider message id kept (Messenger mids are ~100 characters, Twilio SIDs 34).
MAX_ID_CHARS = 256
#: Longest sender / user id kept (E.164 has at most 15 digits, Meta's ids about 20).
MAX_SENDER_CHARS = 64
#: Longest attachment URL kept (CDN links with signed query strings run to ~1,000).
MAX_URL_CHARS = 4096
#: Schemes an attachment URL may have unless a channel allows more.
HTTPS_ONLY = frozenset({"https"})


class InvalidField(ValueError):
    """A field of a source message is not what it should be (the message is quarantined)."""


def text_field(value: Any, name: str, *, optional: bool = True) -> str:
    """A text field: a string (``None`` is ``""`` when ``optional``) that UTF-8 can hold.

    Raises:
        InvalidField: a number, list or object; or a lone UTF-16 surrogate (JSON allows
            ``"\\ud83d"`` alone; no UTF-8 text can carry it).
    """
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        msg = f"{name} must be a string, not {_kind(value)}"
        raise InvalidField(msg)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        msg = f"{name} holds a lone UTF-16 surrogate at position {exc.start} (not valid Unicode text)"
        raise InvalidField(msg) from None
    return value


def identifier(value: Any, name: str, max_chars: int = MAX_ID_CHARS) -> str:
    """An id field: a non-empty string (or an integer, as JSON ids often are) of printable
    characters, at most ``max_chars`` long; returned as a string.

    Raises:
        InvalidField: missing, an object or list, control characters, too long.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    text = text_field(value, name, optional=False).strip()
    if not text:
        msg = f"{name} is empty"
        raise InvalidField(msg)
    bounded(text, name, max_chars)
    if not text.isprintable():
        msg = f"{name} holds control characters"
        raise InvalidField(msg)
    return text


def bounded(value: str, name: str, max_chars: int) -> str:
    """``value`` when it is at most ``max_chars`` long.

    Raises:
        InvalidField: it is longer.
    """
    if len(value) > max_chars:
        msg = f"{name} is {len(value):,} characters long (at most {max_chars:,})"
        raise InvalidField(msg)
    return value


def attachment_url(value: Any, name: str = "attachment url", schemes: Collection[str] = HTTPS_ONLY) -> str:
    """An absolute URL with one of ``schemes`` (https only by default) and a host.

    ``javascript:``, ``file:``, ``data:`` and every other scheme are refused: the URL
    ends up as a link in the CRM, and a ``javascript:`` link there is an attack.

    Raises:
        InvalidField: not a string, another scheme, no host, too long, or spaces / control characters.
    """
    url = text_field(value, name, optional=False).strip()
    bounded(url, name, MAX_URL_CHARS)
    allowed = " or ".join(f"{s}:" for s in sorted(schemes))
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in schemes:
        scheme = parts.scheme.lower() if parts is not None and parts.scheme else "no scheme"
        msg = f"{name} must be an {allowed} URL, not {scheme!r}"
        raise InvalidField(msg)
    if not parts.hostname or any(c.isspace() or not c.isprintable() for c in url):
        msg = f"{name} is not a well-formed {allowed} URL"
        raise InvalidField(msg)
    return url


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
