"""MIME to text and files, with the stdlib ``email`` package and the modern policy.

What it handles, because citizens' mail clients do all of it:

* ``multipart/alternative``: text/plain is preferred; HTML (scripts and styles
  removed) is used when the plain part is missing or empty. Files hidden in the
  alternatives not chosen (Apple Mail puts inline photos there) are still kept.
* Charsets: each text part is decoded on its own, believing its bytes over a
  wrong or unknown label (see :mod:`connectors.email.charset`), so one bad byte
  never garbles a part and one bad part never loses the others.
* RFC 2047 headers and RFC 2231 / RFC 2047 file names (decoded by the policy).
* Forwarded mail (``message/rfc822``): its text is returned separately, its
  files are kept like the outer message's.
* Every non-text part (photos, inline ``cid:`` images, documents, ``winmail.dat``)
  goes through the :class:`~connectors.attachments.AttachmentBudget`.
"""

from __future__ import annotations

import base64
import email
import email.policy
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.utils import parsedate_to_datetime

from connectors.attachments import AttachmentBudget, safe_filename
from connectors.email.charset import decode_text
from normalizer.complaint import Attachment
from normalizer.text import html_to_text

_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
#: Marks a part whose file Kanal left out (archive) or did not download (large mail).
OMITTED_HEADER = "X-Kanal-Omitted"


class NotAnEmail(ValueError):
    """The bytes are not an RFC 5322 message at all."""


def parse_message(raw: bytes) -> EmailMessage:
    """Parse raw bytes into an :class:`EmailMessage` (modern policy).

    Raises:
        NotAnEmail: empty input, or no header field could be found.
    """
    if not raw.strip():
        msg = "empty message"
        raise NotAnEmail(msg)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    if not message.keys():
        msg = "not an e-mail message: no header fields found"
        raise NotAnEmail(msg)
    return message  # type: ignore[return-value]  # the default policy builds EmailMessage


def header_text(message: Message, name: str) -> str | None:
    """A header's decoded value, surviving headers the modern parser chokes on."""
    try:
        value = message.get(name)
        return None if value is None else str(value)
    except Exception:  # noqa: BLE001 - malformed encoded words or addresses: decode leniently
        for key, raw in message.raw_items():  # type: ignore[attr-defined]
            if key.lower() == name.lower():
                try:
                    return str(make_header(decode_header(str(raw))))
                except Exception:  # noqa: BLE001 - keep the raw text
                    return str(raw)
        return None


def header_date(message: Message) -> datetime | None:
    """The ``Date`` header as an aware datetime (``-0000`` is read as UTC), or None."""
    text = header_text(message, "Date")
    if not text:
        return None
    try:
        value = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


class UnreadablePart(ValueError):
    """A part's transfer encoding cannot be undone; the message says why."""


def payload_bytes(part: Message) -> bytes:
    """The decoded bytes of a leaf part.

    The stdlib decodes base64 leniently: it skips characters outside the
    alphabet and, when even that fails, returns the *encoded* text. Both put
    garbage into a complaint, so base64 is checked here first. Whitespace is
    ignored, missing ``=`` padding is added, and a body cut off inside its last
    4-character group (a truncated message) gives the bytes of the complete
    groups.

    Raises:
        UnreadablePart: the body is declared base64 but is not base64.
    """
    if str(part.get("Content-Transfer-Encoding", "")).strip().lower() != "base64":
        return part.get_payload(decode=True) or b""
    payload = part.get_payload()
    encoded = "".join(payload.split()) if isinstance(payload, str) else ""
    if not _BASE64.fullmatch(encoded):
        msg = "invalid base64"
        raise UnreadablePart(msg)
    data = encoded.rstrip("=")
    data = data[: len(data) - len(data) % 4] if len(data) % 4 == 1 else data
    return base64.b64decode(data + "=" * (-len(data) % 4))


@dataclass
class MailContent:
    """What a message carries, ready to become a complaint.

    Attributes:
        text: the body text (not yet stripped of quotes); HTML already converted.
        forwarded: texts of forwarded messages, each with a short header line.
        attachments: every file, kept or listed with an ``omitted_reason``.
        problems: parts that could not be read, for the complaint's flags.
        omitted: the parts whose file was not kept for its size, with their listing
            (the raw archive replaces them by a marker).
    """

    text: str = ""
    forwarded: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    omitted: list[tuple[Message, Attachment]] = field(default_factory=list)


class _Extractor:
    """Walks one message tree, filling a :class:`MailContent`."""

    def __init__(self, budget: AttachmentBudget, omitted_mark: str | None = None) -> None:
        self.budget = budget
        self.omitted_mark = omitted_mark
        self.content = MailContent()
        self._seen: set[int] = set()

    def run(self, message: Message) -> MailContent:
        self.content.text = "\n\n".join(t for t in self._walk(message, want_text=True) if t.strip())
        return self.content

    def _walk(self, part: Message, want_text: bool) -> list[str]:
        """Collect files under ``part``; return its text parts when ``want_text``."""
        try:
            ctype = part.get_content_type()
            if self.omitted_mark and self._stub(part, ctype):
                return []
            if ctype == "message/rfc822":
                self._forwarded(part)
                return []
            if part.is_multipart():
                if ctype == "multipart/alternative":
                    return self._alternative(part, want_text)
                return [text for child in _children(part) for text in self._walk(child, want_text)]
            return self._leaf(part, ctype, want_text)
        except UnreadablePart as exc:
            self.content.problems.append(f"{part.get_content_type()}: {exc}")
            return []
        except Exception as exc:  # noqa: BLE001 - one broken part must not cost the rest of the message
            self.content.problems.append(
                f"unreadable part {part.get_content_type()}: {type(exc).__name__}"
            )
            return []

    def _alternative(self, part: Message, want_text: bool) -> list[str]:
        children = _children(part)
        order = sorted(children, key=_alternative_rank)
        chosen: list[str] = []
        for child in order:
            texts = self._walk(child, want_text=want_text and not chosen)
            if want_text and not chosen and any(t.strip() for t in texts):
                chosen = texts
        return chosen

    def _leaf(self, part: Message, ctype: str, want_text: bool) -> list[str]:
        disposition = part.get_content_disposition()
        filename = _filename(part)
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not filename:
            if not want_text:
                return []
            text = decode_text(payload_bytes(part), part.get_content_charset())
            return [html_to_text(text) if ctype == "text/html" else text]
        if id(part) in self._seen:
            return []
        self._seen.add(id(part))
        data = payload_bytes(part)
        attachment = self.budget.take(data, filename, ctype)
        self.content.attachments.append(attachment)
        if attachment.omitted_reason in ("too_large", "message_cap"):
            self.content.omitted.append((part, attachment))
        return []

    def _stub(self, part: Message, ctype: str) -> bool:
        """List a part the connector did not download (marked with this mail's nonce)."""
        for value in part.get_all(OMITTED_HEADER) or []:
            fields = dict(
                item.strip().partition("=")[::2] for item in str(value).split(";")[1:] if "=" in item
            )
            if fields.get("mark") != self.omitted_mark:
                continue  # written by the sender, not by Kanal
            size = fields.get("size", "")
            self.content.attachments.append(Attachment(
                filename=safe_filename(_filename(part)),
                content_type=ctype,
                size=int(size) if size.isdigit() else None,
                omitted_reason=str(value).split(";")[0].strip() or "too_large",
            ))
            return True
        return False

    def _forwarded(self, part: Message) -> None:
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if not isinstance(inner, Message):
            self.content.problems.append("forwarded message could not be read")
            return
        nested = _Extractor(self.budget, self.omitted_mark)
        nested._seen = self._seen
        found = nested.run(inner)
        self.content.attachments.extend(found.attachments)
        self.content.omitted.extend(found.omitted)
        self.content.problems.extend(found.problems)
        intro = ", ".join(
            f"{label}: {value}"
            for label, value in (
                ("From", header_text(inner, "From")),
                ("Date", header_text(inner, "Date")),
                ("Subject", header_text(inner, "Subject")),
            )
            if value
        )
        text = "\n".join(x for x in (intro, found.text) if x)
        if text:
            self.content.forwarded.append(text)
        self.content.forwarded.extend(found.forwarded)


def _children(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []


def _alternative_rank(part: Message) -> int:
    ctype = part.get_content_type()
    return {"text/plain": 0, "text/html": 2}.get(ctype, 1)


def _filename(part: Message) -> str | None:
    try:
        return part.get_filename()
    except Exception:  # noqa: BLE001 - a filename parameter the policy cannot decode
        raw = part.get_param("filename", header="content-disposition") or part.get_param("name")
        return str(raw) if raw else None


def without_omitted(message: Message, content: MailContent) -> bytes:
    """The message as bytes with each omitted part's body replaced by a short marker.

    Headers and text parts stay (re-serialised by the ``email`` package), so the
    archive still shows what came in and which files were left out. Changes
    ``message`` in place.

    Raises:
        Exception: whatever the ``email`` generator raises on a message it cannot write.
    """
    for part, attachment in content.omitted:
        del part["Content-Transfer-Encoding"]
        part[OMITTED_HEADER] = f"{attachment.omitted_reason}; size={attachment.size}; sha256={attachment.sha256}"
        part.set_payload(f"[omitted by Kanal: {attachment.omitted_reason}, {attachment.size} bytes]\r\n")
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def extract(message: Message, budget: AttachmentBudget, omitted_mark: str | None = None) -> MailContent:
    """Return the text, forwarded texts and files of ``message``.

    ``omitted_mark``: the nonce with which the connector marked the parts it did not
    download (``X-Kanal-Omitted: <reason>; size=<n>; mark=<nonce>``); such parts are
    listed as omitted files. Without it, or with another mark, the header means nothing.
    """
    return _Extractor(budget, omitted_mark).run(message)
