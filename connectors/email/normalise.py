"""One raw .eml to one complaint (or a drop), with no I/O.

The provider message id is the ``Message-ID``; mail without one gets a content
hash (``sha256:<hex>`` over the message with line endings normalised). The
complaint id rests on that id *and* on :func:`content_digest` of the mail itself,
so the same mail found again (a rescan after a UIDVALIDITY change, a re-fetch after
a crash before the move, a copy in another folder or relayed once more) gets the
same complaint id and the spool drops it, while two different mails that share a
Message-ID (broken mailers, forwarding scripts, gateways) are two complaints.
Threading stays on the Message-ID.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from datetime import datetime
from email.message import Message
from email.utils import getaddresses

from connectors.attachments import AttachmentBudget
from connectors.base import Accept, Drop, NormaliseResult, RawMessage
from connectors.email.filters import drop_reason
from connectors.email.mime import (
    MailContent,
    NotAnEmail,
    extract,
    header_date,
    header_text,
    parse_message,
    without_omitted,
)
from connectors.email.quoting import strip_quotes
from connectors.errors import NormaliseError
from normalizer.complaint import ChannelRef, Complaint, Reporter
from normalizer.identity import complaint_id
from normalizer.text import clean_line, clean_text

_MSGID = re.compile(r"<([^<>\s]+)>")
_FORWARD_CONTEXT_CHARS = 4000
#: A mail with omitted files that cannot be written back is archived up to here.
ARCHIVE_FALLBACK_BYTES = 1024 * 1024


def message_ids(value: str | None) -> list[str]:
    """The ids in a ``Message-ID``/``In-Reply-To``/``References`` value, without brackets."""
    if not value:
        return []
    found = _MSGID.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [value.strip().strip("<>")]  # some clients forget the brackets
    return [f for f in found if f]  # a lone "<" or "<>" names no message


def provider_message_id(message: Message, raw: bytes) -> str:
    """``Message-ID`` without brackets, or a content hash when there is none."""
    ids = message_ids(header_text(message, "Message-ID"))
    if ids:
        return ids[0]
    normalised = raw.replace(b"\r\n", b"\n").rstrip(b"\n")
    return "sha256:" + hashlib.sha256(normalised).hexdigest()


def _lines(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").split("\n")).strip()


def content_digest(message: Message, content: MailContent) -> str:
    """sha256 hex over what makes the mail itself: the Subject, the decoded text, the
    forwarded texts and each file's sha256 (or name and size).

    Headers a relay or a re-fetch adds or changes (Received, Return-Path, X-...), the
    transfer encoding and the line endings are left out.
    """
    digest = hashlib.sha256()
    files = [a.sha256 or f"{a.filename}:{a.size}" for a in content.attachments]
    for value in (clean_line(header_text(message, "Subject") or ""), _lines(content.text),
                  *map(_lines, content.forwarded), *files):
        digest.update(value.encode("utf-8", "surrogatepass") + b"\x1f")
    return digest.hexdigest()


def thread_of(message: Message, own_id: str) -> tuple[str, str | None]:
    """(conversation key, the message id this one answers or None).

    The key is the root of ``References`` (the first id), else ``In-Reply-To``,
    else the message's own id, so a whole thread shares one key.
    """
    references = message_ids(header_text(message, "References"))
    in_reply_to = message_ids(header_text(message, "In-Reply-To"))
    parent = (in_reply_to or references[-1:] or [None])[0]
    root = (references or in_reply_to or [own_id])[0]
    return root, parent


def reporter_of(message: Message) -> Reporter:
    """The sender as a :class:`Reporter` (``Reply-To`` is not trusted for identity)."""
    value = header_text(message, "From")
    if not value:
        return Reporter()
    for name, address in getaddresses([value]):
        if address or name:
            return Reporter(
                name=clean_line(name) or None,
                email=address.strip().lower() if "@" in address else None,
            )
    return Reporter()


def _omitted_mark(raw: RawMessage) -> str | None:
    """The nonce of the connector's stubs in a mail it did not download whole, else None:
    only those stubs count as omitted files."""
    mark = raw.metadata.get("omitted_mark") if raw.metadata.get("fetched") == "partial" else None
    return mark if isinstance(mark, str) and mark else None


class EmailNormaliser:
    """Turns raw mail into complaints for one mailbox.

    Parameters:
        channel: the channel reference put on every complaint.
        own_addresses: mail from these is dropped (``own_address``).
        max_file_bytes: per-file attachment cap.
        max_message_bytes: per-message attachment cap.
    """

    def __init__(
        self,
        channel: ChannelRef,
        own_addresses: Collection[str],
        max_file_bytes: int,
        max_message_bytes: int,
    ) -> None:
        self.channel = channel
        self.own_addresses = frozenset(a.lower() for a in own_addresses)
        self.max_file_bytes = max_file_bytes
        self.max_message_bytes = max_message_bytes

    def __call__(self, raw: RawMessage) -> NormaliseResult:
        """Normalise one message.

        Raises:
            NormaliseError: the bytes are not an e-mail message.
        """
        try:
            message = parse_message(raw.payload)
        except NotAnEmail as exc:
            raise NormaliseError(str(exc)) from exc
        reason = drop_reason(message, self.own_addresses)
        if reason:
            return Drop(reason)
        budget = AttachmentBudget(self.max_file_bytes, self.max_message_bytes)
        content = extract(message, budget, _omitted_mark(raw))
        complaint, parent = self._complaint(message, raw, content)
        return Accept(complaint, budget.blobs, self._archive(message, raw, content), replies_to=parent)

    @staticmethod
    def _archive(message: Message, raw: RawMessage, content: MailContent) -> bytes | None:
        """What the raw archive keeps: None (the mail as is) unless files were omitted
        for their size; then the mail with those parts replaced by markers."""
        if not content.omitted:
            return None
        try:
            return without_omitted(message, content)
        except Exception:  # noqa: BLE001 - the generator failed on a strange message: keep a bounded prefix
            cut = raw.payload[:ARCHIVE_FALLBACK_BYTES]
            return cut + b"\r\n[archive truncated by Kanal at %d of %d bytes]\r\n" % (len(cut), len(raw.payload))

    def _complaint(self, message: Message, raw: RawMessage, content: MailContent) -> tuple[Complaint, str | None]:
        """The complaint and the Message-ID it answers (resolved by the runner)."""
        mark = _omitted_mark(raw)
        # The nonce differs on each fetch; a hash id of the same mail must not.
        pmid = provider_message_id(message, raw.payload.replace(mark.encode(), b"") if mark else raw.payload)
        conversation, parent = thread_of(message, pmid)
        title = clean_line(header_text(message, "Subject") or "") or None
        forwarded = "\n\n".join(content.forwarded)
        if content.text.strip():
            body, context = (
                strip_quotes(content.text),
                clean_text(forwarded, _FORWARD_CONTEXT_CHARS)[0],
            )
        else:  # only a forwarded message: its text is the complaint
            body, context = forwarded, ""
        description, truncated = clean_text(body)
        reporter = reporter_of(message)
        flags = [f"part_unreadable:{p}" for p in content.problems]
        if reporter.email is None:
            flags.append("no_sender")
        complaint = Complaint(
            id=complaint_id(self.channel.type, self.channel.account, pmid, content_digest(message, content)),
            channel=self.channel,
            provider_message_id=pmid,
            conversation_key=conversation,
            received_at=raw.received_at,
            requested_datetime=self._sent_at(message, raw),
            reporter=reporter,
            title=title,
            description=description or (title or ""),
            description_truncated=truncated,
            context=context or None,
            attachments=tuple(content.attachments),
            flags=tuple(flags),
            raw_ref=raw.raw_ref,
        )
        return complaint, parent

    @staticmethod
    def _sent_at(message: Message, raw: RawMessage) -> datetime:
        sent = header_date(message)
        if sent is not None:
            return sent
        internal = raw.metadata.get("internaldate")
        if internal:
            try:
                return datetime.fromisoformat(internal)
            except (TypeError, ValueError):
                pass
        return raw.received_at
