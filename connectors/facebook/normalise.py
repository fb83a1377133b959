"""Facebook and Instagram items to complaints: pure functions over the envelopes of
:mod:`connectors.facebook.payloads`.

Ids are Meta's own and the same whichever way an item arrives, so the webhook event
and the poll that finds the same item later give one complaint id:

* a wall post: the post id (``PAGEID_POSTID``), ``value.post_id`` in a feed change;
* a comment: the comment id (``POSTID_COMMENTID``), ``value.comment_id`` in a feed change;
* a Messenger message: the message id (``m_...``), which the webhook calls ``mid``;
* an Instagram comment: its id (webhook ``value.id``, poll ``id``); a mention: the
  comment (or media) id it names, its text read when the webhook came.

What is dropped on purpose (counted per reason): the Page's own posts, comments and
messages, Messenger echoes, read/delivery receipts and other non-message events,
reactions and likes, removals, and items with neither text nor attachments.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.base import Drop, RawMessage
from connectors.errors import NormaliseError
from connectors.facebook.payloads import open_envelope
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


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


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


def _reference(
    url: Any, content_type: str | None = None, filename: Any = None, size: Any = None
) -> Attachment | None:
    if url is None or url == "":
        return None
    return Attachment(
        url=attachment_url(url),  # Meta's CDN is https; javascript:, file:, data: are refused
        content_type=content_type,
        filename=clean_line(filename, 150) if isinstance(filename, str) and filename else None,
        size=size if isinstance(size, int) and size >= 0 else None,
        omitted_reason=BY_REFERENCE,
    )


def _graph_attachments(value: Any) -> list[Attachment]:
    """Attachments of a post (``attachments.data[]``, with ``subattachments``) or a comment."""
    out: list[Attachment] = []
    items = _dict(value).get("data") if "data" in _dict(value) else [value]
    for item in items or []:
        item = _dict(item)
        if not item:
            continue
        media = _dict(_dict(item.get("media")).get("image"))
        url = media.get("src") or _dict(item.get("media")).get("source") or item.get("url")
        kind = str(item.get("media_type") or item.get("type") or "")
        ref = _reference(url, _content_type_hint(kind))
        if ref is not None:
            out.append(ref)
        out.extend(_graph_attachments(item.get("subattachments")) if item.get("subattachments") else [])
    return out


def _message_attachments(value: Any) -> list[Attachment]:
    """Attachments of a message read from a conversation (``attachments.data[]``)."""
    out = []
    for item in _dict(value).get("data") or []:
        item = _dict(item)
        url = (
            _dict(item.get("image_data")).get("url")
            or _dict(item.get("video_data")).get("url")
            or item.get("file_url")
        )
        ref = _reference(url, item.get("mime_type") if isinstance(item.get("mime_type"), str) else None,
                         item.get("name"), item.get("size"))
        if ref is not None:
            out.append(ref)
    return out


def _content_type_hint(kind: str) -> str | None:
    kind = kind.lower()
    if kind in _IMAGE_KINDS:
        return "image/*"
    if kind in {"video", "video_inline", "video_autoplay", "animated_image_video", "reel"}:
        return "video/*"
    if kind == "audio":
        return "audio/*"
    return None


def _person(author: Any, *, handle_key: str | None = None) -> Reporter:
    author = _dict(author)
    name = author.get("name")
    handle = author.get(handle_key) if handle_key else None
    return Reporter(
        name=clean_line(name) if isinstance(name, str) and name.strip() else None,
        handle=identifier(handle, "username", MAX_SENDER_CHARS) if handle else None,
        provider_user_id=identifier(author["id"], "from.id", MAX_SENDER_CHARS) if author.get("id") else None,
    )


def _reply_id(page: PageIdentity, parent: Any) -> uuid.UUID | None:
    return complaint_id(page.channel.type, page.channel.account, str(parent)) if parent else None


def _build(
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


def _permalink(object_id: Any) -> str | None:
    return f"https://www.facebook.com/{object_id}" if object_id else None


def _place(value: Any) -> Location | None:
    place = _dict(value)
    where = _dict(place.get("location"))
    lat, long = where.get("latitude"), where.get("longitude")
    if isinstance(lat, (int, float)) and isinstance(long, (int, float)):
        name = place.get("name")
        address = name if isinstance(name, str) else None
        return Location(lat=lat, long=long, address_string=address, method="place")
    return None


# -- items read by polling --------------------------------------------------------


def _poll_post(page: PageIdentity, raw: RawMessage, post: dict[str, Any]) -> Complaint | Drop:
    if page.own(_dict(post.get("from")).get("id")):
        return Drop("own_post")
    return _build(
        page, raw, post.get("id"),
        when=parse_time(post.get("created_time")),
        text=post.get("message"),
        reporter=_person(post.get("from")),
        attachments=_graph_attachments(post.get("attachments")) if post.get("attachments") else [],
        conversation_key=str(post.get("id")),
        url=post.get("permalink_url") or _permalink(post.get("id")),
        location=_place(post.get("place")),
    )


def _poll_comment(
    page: PageIdentity, raw: RawMessage, comment: dict[str, Any], post_id: Any
) -> Complaint | Drop:
    if page.own(_dict(comment.get("from")).get("id")):
        return Drop("own_reply")
    parent = _dict(comment.get("parent")).get("id") or post_id
    return _build(
        page, raw, comment.get("id"),
        when=parse_time(comment.get("created_time")),
        text=comment.get("message"),
        reporter=_person(comment.get("from")),
        attachments=_graph_attachments(comment.get("attachment")) if comment.get("attachment") else [],
        conversation_key=str(post_id) if post_id else None,
        in_reply_to=_reply_id(page, parent),
        url=comment.get("permalink_url") or _permalink(comment.get("id")),
    )


def _poll_message(page: PageIdentity, raw: RawMessage, message: dict[str, Any]) -> Complaint | Drop:
    author = _dict(message.get("from"))
    if page.own(author.get("id")):
        return Drop("own_message")
    return _build(
        page, raw, message.get("id"),
        when=parse_time(message.get("created_time")),
        text=message.get("message"),
        reporter=_person(author),
        attachments=_message_attachments(message.get("attachments")),
        conversation_key=f"messenger:{author.get('id')}" if author.get("id") else None,
    )


# -- webhook events ---------------------------------------------------------------


def _messaging_event(
    page: PageIdentity, raw: RawMessage, doc: dict[str, Any], event: dict[str, Any]
) -> Complaint | Drop:
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
    sender = _dict(event.get("sender")).get("id")
    if sender is not None:
        sender = identifier(sender, "sender.id", MAX_SENDER_CHARS)
    if page.own(sender):
        return Drop("own_message")
    if message.get("sticker_id") and not message.get("text"):
        return Drop("sticker")  # the thumbs-up button and stickers carry no complaint
    attachments: list[Attachment] = []
    location = None
    for item in message.get("attachments") or []:
        item = _dict(item)
        payload = _dict(item.get("payload"))
        coordinates = _dict(payload.get("coordinates"))
        lat, long = coordinates.get("lat"), coordinates.get("long")
        if isinstance(lat, (int, float)) and isinstance(long, (int, float)):
            location = Location(lat=lat, long=long, method="gps")
        ref = _reference(payload.get("url"), _content_type_hint(str(item.get("type", ""))))
        if ref is not None:
            attachments.append(ref)
    platform = "instagram" if doc.get("object") == "instagram" else "messenger"
    return _build(
        page, raw, message.get("mid"), id_field="mid",
        when=parse_time(event.get("timestamp"), raw.received_at),
        text=message.get("text"),
        reporter=Reporter(provider_user_id=str(sender) if sender else None),
        attachments=attachments,
        conversation_key=f"{platform}:{sender}" if sender else None,
        in_reply_to=_reply_id(page, _dict(message.get("reply_to")).get("mid")),
        location=location,
    )


def _feed_change(
    page: PageIdentity, raw: RawMessage, doc: dict[str, Any], value: dict[str, Any]
) -> Complaint | Drop:
    item, verb = text_field(value.get("item"), "value.item"), text_field(value.get("verb"), "value.verb")
    if item in {"reaction", "like"}:
        return Drop("reaction")
    if verb in {"remove", "hide", "unhide", "block", "unblock"}:
        return Drop(f"feed_{verb}")
    if verb not in {"add", "edited", "edit"}:
        return Drop("feed_unsupported_verb")
    when = parse_time(value.get("created_time"), parse_time(doc.get("entry_time"), raw.received_at))
    reporter = _person(value.get("from"))
    if item == "comment":
        if page.own(reporter.provider_user_id):
            return Drop("own_reply")
        post_id = value.get("post_id")
        found = [_reference(value.get("photo"), "image/*"), _reference(value.get("video"), "video/*")]
        attachments = [a for a in found if a]
        return _build(
            page, raw, value.get("comment_id"),
            when=when, text=value.get("message"), reporter=reporter, attachments=attachments,
            conversation_key=str(post_id) if post_id else None,
            in_reply_to=_reply_id(page, value.get("parent_id") or post_id),
            url=value.get("permalink_url") or _permalink(value.get("comment_id")),
        )
    if item in POST_ITEMS:
        if page.own(reporter.provider_user_id):
            return Drop("own_post")
        photos = value.get("photos") if isinstance(value.get("photos"), list) else [value.get("photo")]
        attachments = [a for a in (_reference(p, "image/*") for p in photos) if a]
        video = _reference(value.get("video"), "video/*")
        attachments += [video] if video else []
        return _build(
            page, raw, value.get("post_id"),
            when=when, text=value.get("message"), reporter=reporter, attachments=attachments,
            conversation_key=str(value.get("post_id")) if value.get("post_id") else None,
            url=value.get("permalink_url") or _permalink(value.get("post_id")),
        )
    return Drop("feed_unsupported_item")


def _ig_comment(
    page: PageIdentity, raw: RawMessage, item: dict[str, Any], media_id: Any, when: datetime
) -> Complaint | Drop:
    """An Instagram comment, from the ``comments`` webhook or the poll: same id, same complaint."""
    author = _dict(item.get("from"))
    if page.own(author.get("id")):
        return Drop("own_reply")
    if not author and item.get("username"):
        author = {"username": item.get("username")}
    return _build(
        page, raw, item.get("id"),
        when=when, text=item.get("text"),
        reporter=_person(author, handle_key="username"),
        attachments=[],
        conversation_key=f"instagram-media:{media_id}" if media_id else None,
        in_reply_to=_reply_id(page, item.get("parent_id")),
    )


def _ig_mention(
    page: PageIdentity, raw: RawMessage, value: dict[str, Any], mentioned: dict[str, Any], when: datetime
) -> Complaint | Drop:
    """A ``mentions`` event: the id is the comment (or, for a caption, the post) it names,
    so a mention in a comment on our own post is the same complaint as that comment."""
    target = value.get("comment_id") or value.get("media_id")
    media_id = value.get("media_id")
    if not mentioned:
        # The text could not be read when the event came: kept so nothing is lost, flagged.
        return _build(
            page, raw, target,
            when=when, text="", reporter=Reporter(), attachments=[],
            conversation_key=f"instagram-media:{media_id}" if media_id else None,
            flags=("instagram_mention", "incomplete"),
        )
    media = _dict(mentioned.get("media")) if mentioned.get("kind") == "comment" else mentioned
    handle = media.get("username") if mentioned.get("kind") == "media" else None
    text = mentioned.get("text") if mentioned.get("kind") == "comment" else mentioned.get("caption")
    picture = _reference(mentioned.get("media_url"), _content_type_hint(str(mentioned.get("media_type") or "")))
    return _build(
        page, raw, target,
        when=parse_time(mentioned.get("timestamp"), when),
        text=text,
        reporter=_person({"username": handle}, handle_key="username") if handle else Reporter(),
        attachments=[picture] if picture else [],
        conversation_key=f"instagram-media:{media_id}" if media_id else None,
        url=media.get("permalink") if isinstance(media.get("permalink"), str) else None,
        flags=("instagram_mention",),
    )


def _instagram_change(
    page: PageIdentity, raw: RawMessage, doc: dict[str, Any], field: str, value: dict[str, Any]
) -> Complaint | Drop:
    when = parse_time(value.get("timestamp") or doc.get("entry_time"), raw.received_at)
    if field in {"comments", "live_comments"}:
        return _ig_comment(page, raw, value, _dict(value.get("media")).get("id"), when)
    if field == "mentions":
        return _ig_mention(page, raw, value, _dict(doc.get("mentioned")), when)
    return Drop("instagram_unsupported_field")


def _check_owner(page: PageIdentity, doc: dict[str, Any]) -> None:
    obj, entry_id = doc.get("object"), str(doc.get("entry_id") or "")
    if obj == "page":
        if entry_id != page.page_id:
            msg = (f"webhook event for Page {entry_id}, but this channel is Page {page.page_id}; "
                   "subscribe each Page's webhook to its own channel's URL")
            raise NormaliseError(msg)
    elif obj == "instagram":
        if page.instagram_account_id is None:
            msg = f"Instagram event for account {entry_id}, but this channel has no instagram_account_id"
            raise NormaliseError(msg)
        if entry_id != page.instagram_account_id:
            msg = (f"Instagram event for account {entry_id}, "
                   f"but this channel is account {page.instagram_account_id}")
            raise NormaliseError(msg)
    else:
        msg = f"unsupported webhook object {obj!r} (expected page or instagram)"
        raise NormaliseError(msg)


def normalise_item(raw: RawMessage, page: PageIdentity) -> Complaint | Drop:
    """Turn one envelope into a complaint or a deliberate drop.

    Raises:
        NormaliseError: not an envelope, an event for another Page, a malformed item.
    """
    try:
        doc = open_envelope(raw.payload)
    except ValueError as exc:
        msg = f"unreadable Facebook payload: {exc}"
        raise NormaliseError(msg) from None
    kind, data = doc["kind"], doc.get("data")
    if kind == "body":
        msg = f"webhook body is not a Meta event batch ({doc.get('error', 'unknown')})"
        raise NormaliseError(msg)
    if not isinstance(data, dict):
        msg = f"{kind} item is not a JSON object"
        raise NormaliseError(msg)
    if kind == "post":
        return _poll_post(page, raw, data)
    if kind == "comment":
        return _poll_comment(page, raw, data, doc.get("post_id"))
    if kind == "message":
        return _poll_message(page, raw, data)
    if kind == "ig_comment":
        if page.instagram_account_id is None:
            msg = "polled Instagram comment, but this channel has no instagram_account_id"
            raise NormaliseError(msg)
        return _ig_comment(page, raw, data, doc.get("media_id"), parse_time(data.get("timestamp")))
    _check_owner(page, doc)
    if kind == "messaging":
        return _messaging_event(page, raw, doc, data)
    field, value = data.get("field"), data.get("value")
    if not isinstance(value, dict):
        msg = f"webhook change {field!r} has no value object"
        raise NormaliseError(msg)
    if doc.get("object") == "instagram":
        return _instagram_change(page, raw, doc, str(field), value)
    if field == "feed":
        return _feed_change(page, raw, doc, value)
    return Drop("unsupported_field")
