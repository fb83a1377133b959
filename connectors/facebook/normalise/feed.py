"""Page feed items to complaints: wall posts and comments read by the poll, and the
``feed`` webhook change."""

from __future__ import annotations

from typing import Any

from connectors.base import Drop, RawMessage
from connectors.facebook.normalise.common import (
    POST_ITEMS,
    PageIdentity,
    as_object,
    build,
    graph_attachments,
    parse_time,
    permalink,
    person,
    place,
    reference,
    reply_id,
)
from normalizer.complaint import Complaint
from normalizer.fields import text_field


def poll_post(page: PageIdentity, raw: RawMessage, post: dict[str, Any]) -> Complaint | Drop:
    """A wall post read by the poll."""
    if page.own(as_object(post.get("from")).get("id")):
        return Drop("own_post")
    return build(
        page, raw, post.get("id"),
        when=parse_time(post.get("created_time")),
        text=post.get("message"),
        reporter=person(post.get("from")),
        attachments=graph_attachments(post.get("attachments")) if post.get("attachments") else [],
        conversation_key=str(post.get("id")),
        url=post.get("permalink_url") or permalink(post.get("id")),
        location=place(post.get("place")),
    )


def poll_comment(
    page: PageIdentity, raw: RawMessage, comment: dict[str, Any], post_id: Any
) -> Complaint | Drop:
    """A comment read by the poll, under the post ``post_id``."""
    if page.own(as_object(comment.get("from")).get("id")):
        return Drop("own_reply")
    parent = as_object(comment.get("parent")).get("id") or post_id
    return build(
        page, raw, comment.get("id"),
        when=parse_time(comment.get("created_time")),
        text=comment.get("message"),
        reporter=person(comment.get("from")),
        attachments=graph_attachments(comment.get("attachment")) if comment.get("attachment") else [],
        conversation_key=str(post_id) if post_id else None,
        in_reply_to=reply_id(page, parent),
        url=comment.get("permalink_url") or permalink(comment.get("id")),
    )


def feed_change(
    page: PageIdentity, raw: RawMessage, doc: dict[str, Any], value: dict[str, Any]
) -> Complaint | Drop:
    """A ``feed`` webhook change: a post or a comment; reactions, removals and other
    verbs are dropped."""
    item, verb = text_field(value.get("item"), "value.item"), text_field(value.get("verb"), "value.verb")
    if item in {"reaction", "like"}:
        return Drop("reaction")
    if verb in {"remove", "hide", "unhide", "block", "unblock"}:
        return Drop(f"feed_{verb}")
    if verb not in {"add", "edited", "edit"}:
        return Drop("feed_unsupported_verb")
    when = parse_time(value.get("created_time"), parse_time(doc.get("entry_time"), raw.received_at))
    reporter = person(value.get("from"))
    if item == "comment":
        if page.own(reporter.provider_user_id):
            return Drop("own_reply")
        post_id = value.get("post_id")
        found = [reference(value.get("photo"), "image/*"), reference(value.get("video"), "video/*")]
        attachments = [a for a in found if a]
        return build(
            page, raw, value.get("comment_id"),
            when=when, text=value.get("message"), reporter=reporter, attachments=attachments,
            conversation_key=str(post_id) if post_id else None,
            in_reply_to=reply_id(page, value.get("parent_id") or post_id),
            url=value.get("permalink_url") or permalink(value.get("comment_id")),
        )
    if item in POST_ITEMS:
        if page.own(reporter.provider_user_id):
            return Drop("own_post")
        photos = value.get("photos") if isinstance(value.get("photos"), list) else [value.get("photo")]
        attachments = [a for a in (reference(p, "image/*") for p in photos) if a]
        video = reference(value.get("video"), "video/*")
        attachments += [video] if video else []
        return build(
            page, raw, value.get("post_id"),
            when=when, text=value.get("message"), reporter=reporter, attachments=attachments,
            conversation_key=str(value.get("post_id")) if value.get("post_id") else None,
            url=value.get("permalink_url") or permalink(value.get("post_id")),
        )
    return Drop("feed_unsupported_item")
