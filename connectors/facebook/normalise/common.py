"""What every kind of Facebook and Instagram item shares on its way to a complaint: the
Page's identity, Graph times, attachments kept by reference, people, and building the
complaint itself (pure functions)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.base import Drop, RawMessage
from connectors.errors import NormaliseError
from normalizer.complaint import Attachment, ChannelRef, Complaint, Location, Reporter
from normalizer.fields import MAX_SENDER_CHARS, attachment_url, identifier, text_field
from normalizer.identity import complaint_id
from normalizer.text import clean_line, clean_text
from normalizer.timeutil import WIB

#: Feed change items that are a post on the wall.
POST_ITEMS = frozenset({"status", "post", "photo", "video", "share", "link", "note", "album"})
#: Messenger events that are not messages, dropped under these names.
NON_MESSAGE_EVENTS = ("read", "delivery", "postback", "reaction", "optin", "referral", "account_linking")
_IMAGE_KINDS = frozenset(
    {"photo", "image", "sticker", "animated_image_share", "album", "cover_photo", "profile_media"}
)
#: Why an attachment is listed without its bytes: Meta's CDN links are kept, not downloaded.
BY_REFERENCE = "reference_only"


@dataclass(frozen=True)
class PageIdentity:
    """What ``normalise`` needs to know about the instance."""

    channel: ChannelRef
    page_id: str
    instagram_account_id: str | None = None

    def own(self, author_id: Any) -> bool:
        """True when ``author_id`` is the Page or its Instagram account."""
        return author_id is not None and str(author_id) in {self.page_id, self.instagram_account_id}


def as_object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty one (``"attachments": true`` is not a list)."""
    return value if isinstance(value, list) else []


def parse_time(value: Any, fallback: datetime | None = None) -> datetime:
    """A Graph time (ISO ``2026-11-27T03:00:00+0000``, Unix seconds or milliseconds) in WIB."""
    try:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = value / 1000 if value > 100_000_000_000 else value
            return datetime.fromtimestamp(seconds, UTC).astimezone(WIB)
        if isinstance(value, str) and value:
            try:
                parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z")
            except ValueError:
                parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(WIB)
    except (ValueError, OverflowError, OSError) as exc:
        msg = f"unreadable time {value!r}: {exc}"
        raise NormaliseError(msg) from None
    if fallback is not None:
        return fallback.astimezone(WIB)
    msg = f"missing or unreadable time {value!r}"
    raise NormaliseError(msg)


def reference(
    url: Any, content_type: str | None = None, filename: Any = None, size: Any = None
) -> Attachment | None:
    """An attachment kept by its (https) link, or None when there is no link."""
    if url is None or url == "":
        return None
    return Attachment(
        url=attachment_url(url),  # Meta's CDN is https; javascript:, file:, data: are refused
        content_type=content_type,
        filename=clean_line(filename, 150) if isinstance(filename, str) and filename else None,
        size=size if isinstance(size, int) and size >= 0 else None,
        omitted_reason=BY_REFERENCE,
    )


def graph_attachments(value: Any) -> list[Attachment]:
    """Attachments of a post (``attachments.data[]``, with ``subattachments``) or a comment."""
    out: list[Attachment] = []
    items = as_list(as_object(value).get("data")) if "data" in as_object(value) else [value]
    for item in items:
        item = as_object(item)
        if not item:
            continue
        media = as_object(as_object(item.get("media")).get("image"))
        url = media.get("src") or as_object(item.get("media")).get("source") or item.get("url")
        kind = str(item.get("media_type") or item.get("type") or "")
        ref = reference(url, content_type_hint(kind))
        if ref is not None:
            out.append(ref)
        out.extend(graph_attachments(item.get("subattachments")) if item.get("subattachments") else [])
    return out


def message_attachments(value: Any) -> list[Attachment]:
    """Attachments of a message read from a conversation (``attachments.data[]``)."""
    out = []
    for item in as_list(as_object(value).get("data")):
        item = as_object(item)
        url = (
            as_object(item.get("image_data")).get("url")
            or as_object(item.get("video_data")).get("url")
            or item.get("file_url")
        )
        ref = reference(url, item.get("mime_type") if isinstance(item.get("mime_type"), str) else None,
                         item.get("name"), item.get("size"))
        if ref is not None:
            out.append(ref)
    return out


def content_type_hint(kind: str) -> str | None:
    """A content type family (``image/*``...) for a Graph media kind, or None."""
    kind = kind.lower()
    if kind in _IMAGE_KINDS:
        return "image/*"
    if kind in {"video", "video_inline", "video_autoplay", "animated_image_video", "reel"}:
        return "video/*"
    if kind == "audio":
        return "audio/*"
    return None


def person(author: Any, *, handle_key: str | None = None) -> Reporter:
    """The reporter of a Graph ``from`` object (name, handle, user id)."""
    author = as_object(author)
    name = author.get("name")
    handle = author.get(handle_key) if handle_key else None
    return Reporter(
        name=clean_line(name) if isinstance(name, str) and name.strip() else None,
        handle=identifier(handle, "username", MAX_SENDER_CHARS) if handle else None,
        provider_user_id=identifier(author["id"], "from.id", MAX_SENDER_CHARS) if author.get("id") else None,
    )


def reply_id(page: PageIdentity, parent: Any) -> uuid.UUID | None:
    """The complaint id of the item ``parent`` names, or None."""
    return complaint_id(page.channel.type, page.channel.account, str(parent)) if parent else None


def build(
    page: PageIdentity,
    raw: RawMessage,
    provider_id: Any,
    *,
    when: datetime,
    text: Any,
    reporter: Reporter,
    attachments: list[Attachment],
    conversation_key: str | None,
    in_reply_to: uuid.UUID | None = None,
    url: str | None = None,
    location: Location | None = None,
    flags: tuple[str, ...] = (),
    id_field: str = "id",
) -> Complaint | Drop:
    """The complaint for one item, or a ``no_content`` drop when it has neither text nor
    attachments.

    Raises:
        NormaliseError: the item has no id, or a field is malformed.
    """
    if provider_id is None or provider_id == "":
        msg = "the item has no id"
        raise NormaliseError(msg)
    pmid = identifier(provider_id, id_field)
    description, truncated = clean_text(text_field(text, "text"))
    if not description and not attachments and "incomplete" not in flags:
        return Drop("no_content")
    return Complaint(
        id=complaint_id(page.channel.type, page.channel.account, pmid),
        channel=page.channel,
        provider_message_id=pmid,
        conversation_key=conversation_key,
        in_reply_to=in_reply_to,
        received_at=raw.received_at,
        requested_datetime=when,
        reporter=reporter,
        description=description,
        description_truncated=truncated,
        url=url,
        attachments=tuple(attachments),
        location=location or Location(),
        flags=flags,
        raw_ref=raw.raw_ref,
    )


def permalink(object_id: Any) -> str | None:
    """The facebook.com link of a Graph object id, or None."""
    return f"https://www.facebook.com/{object_id}" if object_id else None


def place(value: Any) -> Location | None:
    """The location of a Graph ``place`` with coordinates, or None."""
    place = as_object(value)
    where = as_object(place.get("location"))
    lat, long = where.get("latitude"), where.get("longitude")
    if isinstance(lat, (int, float)) and isinstance(long, (int, float)):
        name = place.get("name")
        address = name if isinstance(name, str) else None
        return Location(lat=lat, long=long, address_string=address, method="place")
    return None
