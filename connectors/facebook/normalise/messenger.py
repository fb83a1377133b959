"""Messenger messages to complaints: a message read from a conversation by the poll, and
the ``messaging`` webhook event (Messenger, or Instagram Direct)."""

from __future__ import annotations

from typing import Any

from connectors.base import Drop, RawMessage
from connectors.errors import NormaliseError
from connectors.facebook.normalise.common import (
    NON_MESSAGE_EVENTS,
    PageIdentity,
    as_list,
    as_object,
    build,
    content_type_hint,
    message_attachments,
    parse_time,
    person,
    reference,
    reply_id,
)
from normalizer.complaint import Attachment, Complaint, Location, Reporter
from normalizer.fields import MAX_SENDER_CHARS, identifier


def poll_message(page: PageIdentity, raw: RawMessage, message: dict[str, Any]) -> Complaint | Drop:
    """A Messenger message read by the poll."""
    author = as_object(message.get("from"))
    if page.own(author.get("id")):
        return Drop("own_message")
    return build(
        page, raw, message.get("id"),
        when=parse_time(message.get("created_time")),
        text=message.get("message"),
        reporter=person(author),
        attachments=message_attachments(message.get("attachments")),
        conversation_key=f"messenger:{author.get('id')}" if author.get("id") else None,
    )


def messaging_event(
    page: PageIdentity, raw: RawMessage, doc: dict[str, Any], event: dict[str, Any]
) -> Complaint | Drop:
    """A ``messaging`` webhook event: a message, or a deliberate drop for receipts,
    echoes, stickers and other events."""
    message = event.get("message")
    if message is not None and not isinstance(message, dict):
        msg = f"message must be an object, not {type(message).__name__}"
        raise NormaliseError(msg)
    if message is None:
        for name in NON_MESSAGE_EVENTS:
            if name in event:
                return Drop(f"messenger_{name}")
        return Drop("messenger_other")
    if message.get("is_echo"):
        return Drop("echo")
    sender = as_object(event.get("sender")).get("id")
    if sender is not None:
        sender = identifier(sender, "sender.id", MAX_SENDER_CHARS)
    if page.own(sender):
        return Drop("own_message")
    if message.get("sticker_id") and not message.get("text"):
        return Drop("sticker")  # the thumbs-up button and stickers carry no complaint
    attachments: list[Attachment] = []
    location = None
    for item in as_list(message.get("attachments")):
        item = as_object(item)
        payload = as_object(item.get("payload"))
        coordinates = as_object(payload.get("coordinates"))
        lat, long = coordinates.get("lat"), coordinates.get("long")
        if isinstance(lat, (int, float)) and isinstance(long, (int, float)):
            location = Location(lat=lat, long=long, method="gps")
        ref = reference(payload.get("url"), content_type_hint(str(item.get("type", ""))))
        if ref is not None:
            attachments.append(ref)
    platform = "instagram" if doc.get("object") == "instagram" else "messenger"
    return build(
        page, raw, message.get("mid"), id_field="mid",
        when=parse_time(event.get("timestamp"), raw.received_at),
        text=message.get("text"),
        reporter=Reporter(provider_user_id=str(sender) if sender else None),
        attachments=attachments,
        conversation_key=f"{platform}:{sender}" if sender else None,
        in_reply_to=reply_id(page, as_object(message.get("reply_to")).get("mid")),
        location=location,
    )
