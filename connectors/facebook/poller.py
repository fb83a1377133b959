"""Polling a Page: the safety net under the webhooks.

Three edges, each with its own high-water mark in the channel's checkpoint:

* ``feed``: posts on the Page's feed (visitor posts; the Page's own are dropped later);
* ``comments``: comments under the Page's posts younger than ``comment_lookback_days``
  whose ``updated_time`` moved (a new comment updates its post), so new comments on
  old posts are found too;
* ``messages``: Messenger conversations updated since the mark, and their messages.

The Graph API lists newest first, so a mark can only move once its edge was read to
the end: items carry no checkpoint, and one :class:`CheckpointAdvance` per edge comes
after its last item. The runner commits that together with the items. A crash
before it means the next poll reads the edge again and the spool absorbs the
repeats as duplicates; no mark ever runs ahead of the data.

A mark is the newest creation time taken plus the ids seen at exactly that second,
so items sharing a second are neither lost nor taken twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from connectors.base import CheckpointAdvance, RawMessage
from connectors.errors import NormaliseError
from connectors.facebook.client import GraphClient
from connectors.facebook.config import FacebookOptions
from connectors.facebook.normalise import parse_time
from connectors.facebook.payloads import envelope

FEED_FIELDS = (
    "id,message,created_time,updated_time,from{id,name},permalink_url,place,"
    "attachments{type,media_type,url,media,target,subattachments}"
)
COMMENT_FIELDS = "id,message,created_time,from{id,name},parent{id},permalink_url,attachment"
CONVERSATION_FIELDS = "id,updated_time,link"
MESSAGE_FIELDS = "id,message,created_time,from,attachments"
#: Ids kept per mark: only items sharing the newest second are remembered.
_MAX_IDS = 500


@dataclass(frozen=True)
class Watermark:
    """Newest creation time taken (Unix seconds) and the ids seen at that second."""

    time: float
    ids: tuple[str, ...] = ()

    def is_new(self, at: float, item_id: str) -> bool:
        """True when an item created at ``at`` was not taken yet."""
        return at > self.time or (at == self.time and item_id not in self.ids)

    def advanced(self, at: float, item_id: str) -> Watermark:
        """The mark after taking the item (never moves back)."""
        if at > self.time:
            return Watermark(at, (item_id,))
        if at == self.time and item_id not in self.ids:
            return Watermark(at, (*self.ids, item_id)[-_MAX_IDS:])
        return self

    def to_json(self) -> dict[str, Any]:
        """JSON form stored in the checkpoint."""
        return {"t": self.time, "ids": list(self.ids)}

    @classmethod
    def from_json(cls, value: Any, default: float) -> Watermark:
        """Read a stored mark; ``default`` when absent or unreadable."""
        if isinstance(value, dict) and isinstance(value.get("t"), (int, float)):
            return cls(float(value["t"]), tuple(str(i) for i in value.get("ids") or ()))
        return cls(default)


@dataclass(frozen=True)
class PollState:
    """The checkpoint of a Facebook channel: one mark per edge."""

    feed: Watermark
    comments: Watermark
    messages: Watermark

    @classmethod
    def load(cls, value: Any, start: float) -> PollState:
        """From the stored checkpoint (None on the first run: every mark at ``start``)."""
        value = value if isinstance(value, dict) else {}
        return cls(
            Watermark.from_json(value.get("feed"), start),
            Watermark.from_json(value.get("comments"), start),
            Watermark.from_json(value.get("messages"), start),
        )

    def to_json(self) -> dict[str, Any]:
        """JSON form stored in the spool."""
        return {"v": 1, "feed": self.feed.to_json(), "comments": self.comments.to_json(),
                "messages": self.messages.to_json()}


def _seconds(value: Any) -> float | None:
    try:
        return parse_time(value).timestamp()
    except NormaliseError:
        return None


class PagePoller:
    """Reads a Page's feed, comments and conversations since a checkpoint.

    Parameters:
        client: the Page's Graph client.
        options: the channel options.
        clock: Unix time source.
    """

    def __init__(self, client: GraphClient, options: FacebookOptions, clock: Any = time.time) -> None:
        self.client = client
        self.options = options
        self.page_id = options.page_id
        self.clock = clock

    def _raw(self, kind: str, item: dict[str, Any], **context: Any) -> RawMessage:
        payload = envelope("poll", kind, self.page_id, item, **context)
        received = datetime.fromtimestamp(self.clock(), UTC)
        return RawMessage(f"poll:{kind}:{item.get('id', '?')}", payload, received, {"source": "poll"})

    def fetch(self, since: Any) -> Iterator[RawMessage | CheckpointAdvance]:
        """Yield new items after checkpoint ``since`` and a checkpoint after each edge."""
        now = self.clock()
        state = PollState.load(since, now - self.options.initial_lookback_hours * 3600)
        if self.options.poll_feed or self.options.poll_comments:
            feed, comments = state.feed, state.comments
            for item in self._feed(state, now):
                if isinstance(item, tuple):
                    feed, comments = item
                else:
                    yield item
            state = replace(state, feed=feed, comments=comments)
            yield CheckpointAdvance(state.to_json())
        if self.options.poll_conversations:
            messages = state.messages
            for item in self._conversations(state):
                if isinstance(item, Watermark):
                    messages = item
                else:
                    yield item
            state = replace(state, messages=messages)
            yield CheckpointAdvance(state.to_json())

    def _feed(self, state: PollState, now: float) -> Iterator[RawMessage | tuple[Watermark, Watermark]]:
        options = self.options
        horizon = now - options.comment_lookback_days * 86400
        oldest = state.feed.time
        if options.poll_comments:
            oldest = min(oldest, horizon)
        feed, comments = state.feed, state.comments
        posts = self.client.edge(self.page_id, "feed", fields=FEED_FIELDS, limit=options.page_size,
                                 since=int(oldest))
        for post in posts:
            post_id = str(post.get("id", ""))
            created = _seconds(post.get("created_time"))
            if options.poll_feed and (created is None or state.feed.is_new(created, post_id)):
                yield self._raw("post", post)
                if created is not None:
                    feed = feed.advanced(created, post_id)
            updated = _seconds(post.get("updated_time")) or created
            if (options.poll_comments and post_id and updated is not None
                    and updated >= state.comments.time and (created or 0) >= horizon):
                # oldest first, so a reply comes after the comment it answers and can link to it
                for comment, at in reversed(list(self._new_comments(post_id, state.comments))):
                    yield self._raw("comment", comment, post_id=post_id)
                    if at is not None:
                        comments = comments.advanced(at, str(comment.get("id", "")))
        yield feed, comments

    def _new_comments(
        self, post_id: str, mark: Watermark
    ) -> Iterator[tuple[dict[str, Any], float | None]]:
        edge = self.client.edge(post_id, "comments", fields=COMMENT_FIELDS, filter="stream",
                                order="reverse_chronological", limit=self.options.page_size)
        for comment in edge:
            at = _seconds(comment.get("created_time"))
            if at is not None and at < mark.time:
                return  # newest first: the rest were taken before
            if at is None or mark.is_new(at, str(comment.get("id", ""))):
                yield comment, at

    def _conversations(self, state: PollState) -> Iterator[RawMessage | Watermark]:
        mark = state.messages
        newest = mark
        conversations = self.client.edge(self.page_id, "conversations", platform="messenger",
                                         fields=CONVERSATION_FIELDS, limit=self.options.page_size)
        for conversation in conversations:
            updated = _seconds(conversation.get("updated_time"))
            if updated is not None and updated < mark.time:
                break  # listed by last activity, newest first
            conversation_id = str(conversation.get("id", ""))
            messages = self.client.edge(conversation_id, "messages", fields=MESSAGE_FIELDS,
                                        limit=self.options.page_size)
            for message in messages:
                at = _seconds(message.get("created_time"))
                if at is not None and at < mark.time:
                    break
                if at is None or mark.is_new(at, str(message.get("id", ""))):
                    yield self._raw("message", message, conversation_id=conversation_id)
                    if at is not None:
                        newest = newest.advanced(at, str(message.get("id", "")))
        yield newest
