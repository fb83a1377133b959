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

The package: :mod:`.common` (the Page's identity, times, attachments, building the
complaint), :mod:`.messenger`, :mod:`.feed` and :mod:`.instagram` (one module per
kind of item); this module opens the envelope and picks the kind.
"""

from __future__ import annotations

from typing import Any

from connectors.base import Drop, RawMessage
from connectors.errors import NormaliseError
from connectors.facebook.normalise.common import PageIdentity, parse_time
from connectors.facebook.normalise.feed import feed_change, poll_comment, poll_post
from connectors.facebook.normalise.instagram import ig_comment, instagram_change
from connectors.facebook.normalise.messenger import messaging_event, poll_message
from connectors.facebook.payloads import open_envelope
from normalizer.complaint import Complaint


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
        return poll_post(page, raw, data)
    if kind == "comment":
        return poll_comment(page, raw, data, doc.get("post_id"))
    if kind == "message":
        return poll_message(page, raw, data)
    if kind == "ig_comment":
        if page.instagram_account_id is None:
            msg = "polled Instagram comment, but this channel has no instagram_account_id"
            raise NormaliseError(msg)
        return ig_comment(page, raw, data, doc.get("media_id"), parse_time(data.get("timestamp")))
    _check_owner(page, doc)
    if kind == "messaging":
        return messaging_event(page, raw, doc, data)
    field, value = data.get("field"), data.get("value")
    if not isinstance(value, dict):
        msg = f"webhook change {field!r} has no value object"
        raise NormaliseError(msg)
    if doc.get("object") == "instagram":
        return instagram_change(page, raw, doc, str(field), value)
    if field == "feed":
        return feed_change(page, raw, doc, value)
    return Drop("unsupported_field")


__all__ = ["PageIdentity", "normalise_item", "parse_time"]
