"""Instagram items to complaints: comments (webhook or poll, same id) and mentions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.base import Drop, RawMessage
from connectors.facebook.normalise.common import (
    PageIdentity,
    as_object,
    build,
    content_type_hint,
    parse_time,
    person,
    reference,
    reply_id,
)
from normalizer.complaint import Complaint, Reporter


def ig_comment(
    page: PageIdentity, raw: RawMessage, item: dict[str, Any], media_id: Any, when: datetime
) -> Complaint | Drop:
    """An Instagram comment, from the ``comments`` webhook or the poll: same id, same complaint."""
    author = as_object(item.get("from"))
    if page.own(author.get("id")):
        return Drop("own_reply")
    if not author and item.get("username"):
        author = {"username": item.get("username")}
    return build(
        page, raw, item.get("id"),
        when=when, text=item.get("text"),
        reporter=person(author, handle_key="username"),
        attachments=[],
        conversation_key=f"instagram-media:{media_id}" if media_id else None,
        in_reply_to=reply_id(page, item.get("parent_id")),
    )


def ig_mention(
    page: PageIdentity, raw: RawMessage, value: dict[str, Any], mentioned: dict[str, Any], when: datetime
) -> Complaint | Drop:
    """A ``mentions`` event: the id is the comment (or, for a caption, the post) it names,
    so a mention in a comment on our own post is the same complaint as that comment."""
    target = value.get("comment_id") or value.get("media_id")
    media_id = value.get("media_id")
    if not mentioned:
        # The text could not be read when the event came: kept so nothing is lost, flagged.
        return build(
            page, raw, target,
            when=when, text="", reporter=Reporter(), attachments=[],
            conversation_key=f"instagram-media:{media_id}" if media_id else None,
            flags=("instagram_mention", "incomplete"),
        )
    media = as_object(mentioned.get("media")) if mentioned.get("kind") == "comment" else mentioned
    handle = media.get("username") if mentioned.get("kind") == "media" else None
    text = mentioned.get("text") if mentioned.get("kind") == "comment" else mentioned.get("caption")
    picture = reference(mentioned.get("media_url"), content_type_hint(str(mentioned.get("media_type") or "")))
    return build(
        page, raw, target,
        when=parse_time(mentioned.get("timestamp"), when),
        text=text,
        reporter=person({"username": handle}, handle_key="username") if handle else Reporter(),
        attachments=[picture] if picture else [],
        conversation_key=f"instagram-media:{media_id}" if media_id else None,
        url=media.get("permalink") if isinstance(media.get("permalink"), str) else None,
        flags=("instagram_mention",),
    )


def instagram_change(
    page: PageIdentity, raw: RawMessage, doc: dict[str, Any], field: str, value: dict[str, Any]
) -> Complaint | Drop:
    """An Instagram webhook change: a comment or a mention."""
    when = parse_time(value.get("timestamp") or doc.get("entry_time"), raw.received_at)
    if field in {"comments", "live_comments"}:
        return ig_comment(page, raw, value, as_object(value.get("media")).get("id"), when)
    if field == "mentions":
        return ig_mention(page, raw, value, as_object(doc.get("mentioned")), when)
    return Drop("instagram_unsupported_field")
