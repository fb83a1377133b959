"""One inbound SMS as every backend decodes it, and how it becomes a complaint.

Each backend only turns its own raw form into an :class:`InboundSms`; the noise
rules and the complaint fields are decided here, once, for all of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from connectors.base import Drop, Hold, RawMessage
from connectors.errors import NormaliseError
from normalizer.complaint import Attachment, ChannelRef, Complaint, Reporter
from normalizer.fields import MAX_ID_CHARS, MAX_SENDER_CHARS, attachment_url, bounded, text_field
from normalizer.identity import complaint_id
from normalizer.phone import is_alphanumeric_sender, is_phone_number_text, is_short_code, to_e164
from normalizer.text import clean_text
from normalizer.timeutil import WIB

#: Flag on a complaint whose multipart SMS was taken with parts missing.
INCOMPLETE = "incomplete"


@dataclass(frozen=True, slots=True)
class InboundSms:
    """A decoded inbound SMS (one part, or all parts reassembled).

    Attributes:
        sender: the sender as the gateway wrote it (``0812...``, ``62812...``, ``TELKOMSEL``).
        text: the full text, parts in order.
        provider_id: the gateway's id (file name, row ids, MessageSid...), stable across re-deliveries.
        sent_at: the gateway's receive time, aware; None when the gateway gives none.
        recipient: the receiving number or short code the gateway reports, if any.
        incomplete: parts are missing.
        delivery_report: a delivery / status report rather than a message.
        media: (url, content type) of MMS media the gateway keeps by reference.
        part: set when this is one part of a concatenated SMS whose other parts
            arrive separately: the connector holds it until the message is whole.
    """

    sender: str
    text: str
    provider_id: str
    sent_at: datetime | None = None
    recipient: str | None = None
    incomplete: bool = False
    delivery_report: bool = False
    media: tuple[tuple[str, str | None], ...] = ()
    part: Hold | None = None


@dataclass(frozen=True)
class NoiseRules:
    """Which senders are dropped on purpose (counted, not quarantined)."""

    drop_alphanumeric: bool = True
    drop_short_codes: bool = True
    pattern: re.Pattern[str] | None = None

    def drop_reason(self, sender: str, e164: str | None) -> str | None:
        """Why a message from ``sender`` is not a complaint, or None."""
        if self.pattern is not None and (
            self.pattern.search(sender) or (e164 is not None and self.pattern.search(e164))
        ):
            return "blocked_sender"
        if self.drop_alphanumeric and is_alphanumeric_sender(sender):
            return "alphanumeric_sender"
        if self.drop_short_codes and is_short_code(sender):
            return "short_code_sender"
        return None


def to_complaint(sms: InboundSms, raw: RawMessage, channel: ChannelRef, rules: NoiseRules) -> Complaint | Drop:
    """Build the complaint for ``sms``, or a :class:`Drop` for noise.

    Raises:
        NormaliseError: no usable sender, or no text (quarantined with the raw bytes).
        normalizer.fields.InvalidField: a field out of bounds (sender, id, media URL, text).
    """
    if sms.delivery_report:
        return Drop("delivery_report")
    sender = sms.sender.strip()
    if not sender:
        msg = "message has no sender"
        raise NormaliseError(msg)
    bounded(sender, "sender", MAX_SENDER_CHARS)
    if is_alphanumeric_sender(sender):
        e164 = None
    elif is_phone_number_text(sender):
        e164 = to_e164(sender)
    else:  # not a number and not a sender name a network can carry: garbage, not noise
        msg = f"sender {sender[:32]!r} is neither a phone number nor an alphanumeric sender name"
        raise NormaliseError(msg)
    reason = rules.drop_reason(sender, e164)
    if reason is not None:
        return Drop(reason)
    if e164 is None:
        msg = f"sender {sender[:32]!r} is not a phone number"
        raise NormaliseError(msg)
    text, truncated = clean_text(text_field(sms.text, "text"))
    if not text and not sms.media:
        msg = "message is empty"
        raise NormaliseError(msg)
    if not sms.provider_id:
        msg = "gateway gave no message id"
        raise NormaliseError(msg)
    bounded(sms.provider_id, "message id", MAX_ID_CHARS)
    media = [(attachment_url(url, "media url"), ctype) for url, ctype in sms.media]
    received_at = raw.received_at
    requested = (sms.sent_at or received_at).astimezone(WIB)
    return Complaint(
        id=complaint_id(channel.type, channel.account, sms.provider_id),
        channel=channel,
        provider_message_id=sms.provider_id,
        conversation_key=e164,
        received_at=received_at,
        requested_datetime=requested,
        reporter=Reporter(phone=e164),
        description=text,
        description_truncated=truncated,
        attachments=tuple(
            Attachment(url=url, content_type=ctype, omitted_reason="kept_by_reference") for url, ctype in media
        ),
        flags=(INCOMPLETE,) if sms.incomplete else (),
        raw_ref=raw.raw_ref,
    )
