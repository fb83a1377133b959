"""Polling a Page: the safety net under the webhooks.

Four edges, each with its own high-water mark in the channel's checkpoint:

* ``feed``: posts on the Page's feed (visitor posts; the Page's own are dropped later);
* ``comments``: comments under the Page's posts younger than ``comment_lookback_days``
  whose ``updated_time`` moved (a new comment updates its post), so new comments on
  old posts are found too;
* ``messages``: Messenger conversations updated since the mark, and their messages;
* ``instagram``: comments under the linked Instagram account's recent posts
  (:mod:`connectors.facebook.instagram`), when ``instagram_account_id`` is set.

The Graph API lists newest first, so a mark can only move once its edge was read to
the end: items carry no checkpoint, and one :class:`CheckpointAdvance` per edge comes
after its last item. The runner commits that together with the items. A crash
before it means the next poll reads the edge again and the spool absorbs the
repeats as duplicates; no mark ever runs ahead of the data.

A mark is a time before which every item was read, plus the ids taken at or after
it, so items sharing a second are neither lost nor taken twice. Comments and
messages live in many containers (posts, conversations) read one after the other,
so an item can land in a container already read while a later one is being read;
their marks therefore stay ``RECENT_WINDOW`` behind the poll's start, and the next
poll reads that window again (the ids keep it from taking anything twice).

A conversation whose messages cannot be read (a Graph error for that one thread) is
skipped, counted (``poll.conversation_failed``) and logged; the others go on. It keeps
its own mark in the checkpoint and is read from there on later polls, so the
shared mark moving on never passes its unread messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import structlog

from connectors.base import CheckpointAdvance, RawMessage
from connectors.errors import NormaliseError, TransientError
from connectors.facebook.client import GraphClient
from connectors.facebook.config import FacebookOptions
from connectors.facebook.instagram import recent_comments
from connectors.facebook.normalise import parse_time
from connectors.facebook.payloads import envelope

FEED_FIELDS = (
    "id,message,created_time,updated_time,from{id,name},permalink_url,place,"
    "attachments{type,media_type,url,media,target,subattachments}"
)
COMMENT_FIELDS = "id,message,created_time,from{id,name},parent{id},permalink_url,attachment"
CONVERSATION_FIELDS = "id,updated_time,link"
MESSAGE_FIELDS = "id,message,created_time,from,attachments"
#: Ids kept per mark (the items at or after its time).
_MAX_IDS = 500
#: How far behind the poll's start the comment and message marks stay, seconds.
RECENT_WINDOW = 300.0


@dataclass(frozen=True)
class Watermark:
    """Every item created before ``time`` (Unix seconds) was read; of those at or after
    it, ``ids`` were taken."""

    time: float
    ids: tuple[str, ...] = ()

    def is_new(self, at: float, item_id: str) -> bool:
        """True when an item created at ``at`` was not taken yet."""
        return at >= self.time and item_id not in self.ids

    def to_json(self) -> dict[str, Any]:
        """JSON form stored in the checkpoint."""
        return {"t": self.time, "ids": list(self.ids)}

    @classmethod
    def from_json(cls, value: Any, default: float) -> Watermark:
        """Read a stored mark; ``default`` when absent or unreadable."""
        if isinstance(value, dict) and isinstance(value.get("t"), (int, float)):
            return cls(float(value["t"]), tuple(str(i) for i in value.get("ids") or ()))
        return cls(default)


class Reading:
    """What one poll saw of an edge since ``mark``: builds the edge's next mark."""

    def __init__(self, mark: Watermark) -> None:
        self.mark = mark
        self.seen: dict[str, float] = {}

    def see(self, at: float, item_id: str) -> None:
        """An item read in full this poll (taken now or before)."""
        self.seen[item_id] = at

    def next_mark(self, limit: float = float("inf")) -> Watermark:
        """The newest time seen, but no later than ``limit``, with the ids at or after it."""
        newest = max(self.seen.values(), default=self.mark.time)
        time_ = max(self.mark.time, min(newest, limit))
        kept = [i for i in self.mark.ids if i not in self.seen] if time_ == self.mark.time else []
        ids = kept + [i for i, at in self.seen.items() if at >= time_]
        return Watermark(time_, tuple(ids[-_MAX_IDS:]))


@dataclass(frozen=True)
class PollState:
    """The checkpoint of a Facebook channel: one mark per edge, plus the marks of
    conversations whose messages could not be read."""

    feed: Watermark
    comments: Watermark
    messages: Watermark
    retry: dict[str, Watermark] = field(default_factory=dict)
    instagram: Watermark | None = None

    @classmethod
    def load(cls, value: Any, start: float) -> PollState:
        """From the stored checkpoint (None on the first run: every mark at ``start``)."""
        value = value if isinstance(value, dict) else {}
        retry = value.get("retry") if isinstance(value.get("retry"), dict) else {}
        return cls(
            Watermark.from_json(value.get("feed"), start),
            Watermark.from_json(value.get("comments"), start),
            Watermark.from_json(value.get("messages"), start),
            {str(k): Watermark.from_json(v, start) for k, v in retry.items()},
            Watermark.from_json(value["instagram"], start) if "instagram" in value else None,
        )

    def to_json(self) -> dict[str, Any]:
        """JSON form stored in the spool."""
        doc = {"v": 2, "feed": self.feed.to_json(), "comments": self.comments.to_json(),
               "messages": self.messages.to_json(), "retry": {k: v.to_json() for k, v in self.retry.items()}}
        if self.instagram is not None:
            doc["instagram"] = self.instagram.to_json()
        return doc


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
        log: the channel's logger.
        count: adds to a named counter of the channel.
    """

    def __init__(self, client: GraphClient, options: FacebookOptions, clock: Any = time.time,
                 log: Any = None, count: Callable[[str, int], None] | None = None) -> None:
        self.client = client
        self.options = options
        self.page_id = options.page_id
        self.clock = clock
        self.log = log if log is not None else structlog.get_logger("kanal.facebook")
        self.count = count or (lambda _name, _by: None)

    def _raw(self, kind: str, item: dict[str, Any], **context: Any) -> RawMessage:
        payload = envelope("poll", kind, self.page_id, item, **context)
        received = datetime.fromtimestamp(self.clock(), UTC)
        return RawMessage(f"poll:{kind}:{item.get('id', '?')}", payload, received, {"source": "poll"})

    def fetch(self, since: Any) -> Iterator[RawMessage | CheckpointAdvance]:
        """Yield new items after checkpoint ``since`` and a checkpoint after each edge."""
        now = self.clock()
        state = PollState.load(since, now - self.options.initial_lookback_hours * 3600)
        if self.options.poll_feed or self.options.poll_comments:
            feed, comments = Reading(state.feed), Reading(state.comments)
            yield from self._feed(state, now, feed, comments)
            state = replace(state, feed=feed.next_mark(), comments=comments.next_mark(now - RECENT_WINDOW))
            yield CheckpointAdvance(state.to_json())
        if self.options.poll_conversations:
            messages, retry = Reading(state.messages), dict(state.retry)
            yield from self._conversations(state, messages, retry)
            state = replace(state, messages=messages.next_mark(now - RECENT_WINDOW), retry=retry)
            yield CheckpointAdvance(state.to_json())
        ig_user_id = self.options.instagram_account_id
        if self.options.poll_instagram and ig_user_id:
            mark = state.instagram or Watermark(now - self.options.initial_lookback_hours * 3600)
            instagram = Reading(mark)
            yield from self._instagram(ig_user_id, mark, instagram, now)
            state = replace(state, instagram=instagram.next_mark(now - RECENT_WINDOW))
            yield CheckpointAdvance(state.to_json())

    def _instagram(self, ig_user_id: str, mark: Watermark, reading: Reading, now: float) -> Iterator[RawMessage]:
        horizon = now - self.options.comment_lookback_days * 86400
        found = recent_comments(self.client, ig_user_id, horizon, self.options.page_size, _seconds)
        for comment, media_id in found:
            at, comment_id = _seconds(comment.get("timestamp")), str(comment.get("id", ""))
            if at is None or mark.is_new(at, comment_id):
                yield self._raw("ig_comment", comment, media_id=media_id)
            if at is not None:
                reading.see(at, comment_id)

    def _feed(self, state: PollState, now: float, feed: Reading, comments: Reading) -> Iterator[RawMessage]:
        options = self.options
        horizon = now - options.comment_lookback_days * 86400
        oldest = state.feed.time
        if options.poll_comments:
            oldest = min(oldest, horizon)
        posts = self.client.edge(self.page_id, "feed", fields=FEED_FIELDS, limit=options.page_size,
                                 since=int(oldest))
        for post in posts:
            post_id = str(post.get("id", ""))
            created = _seconds(post.get("created_time"))
            if options.poll_feed and (created is None or state.feed.is_new(created, post_id)):
                yield self._raw("post", post)
            if options.poll_feed and created is not None:
                feed.see(created, post_id)
            updated = _seconds(post.get("updated_time")) or created
            if (options.poll_comments and post_id and updated is not None
                    and updated >= state.comments.time and (created or 0) >= horizon):
                # oldest first, so a reply comes after the comment it answers and can link to it
                for comment in reversed(list(self._comments_since(post_id, state.comments, comments))):
                    yield self._raw("comment", comment, post_id=post_id)

    def _comments_since(self, post_id: str, mark: Watermark, reading: Reading) -> Iterator[dict[str, Any]]:
        edge = self.client.edge(post_id, "comments", fields=COMMENT_FIELDS, filter="stream",
                                order="reverse_chronological", limit=self.options.page_size)
        for comment in edge:
            at, comment_id = _seconds(comment.get("created_time")), str(comment.get("id", ""))
            if at is not None and at < mark.time:
                return  # newest first: the rest were read before
            if at is None or mark.is_new(at, comment_id):
                yield comment
            if at is not None:
                reading.see(at, comment_id)

    def _conversations(self, state: PollState, reading: Reading, retry: dict[str, Watermark]) -> Iterator[RawMessage]:
        # Conversations still owed a read are listed down to their own marks.
        cutoff = min([state.messages.time, *(m.time for m in state.retry.values())])
        listed: set[str] = set()
        conversations = self.client.edge(self.page_id, "conversations", platform="messenger",
                                         fields=CONVERSATION_FIELDS, limit=self.options.page_size)
        for conversation in conversations:
            updated = _seconds(conversation.get("updated_time"))
            if updated is not None and updated < cutoff:
                break  # listed by last activity, newest first
            conversation_id = str(conversation.get("id", ""))
            listed.add(conversation_id)
            mark = state.retry.get(conversation_id, state.messages)
            if updated is not None and updated < mark.time:
                retry.pop(conversation_id, None)
                continue
            try:
                yield from self._messages_since(conversation_id, mark, reading)
            except TransientError as exc:
                retry[conversation_id] = mark
                self.count("poll.conversation_failed", 1)
                self.log.warning("conversation skipped; read again next poll",
                                 conversation_id=conversation_id, error=str(exc))
                continue
            retry.pop(conversation_id, None)
        for gone in set(state.retry) - listed:  # nothing left to read there
            retry.pop(gone, None)

    def _messages_since(self, conversation_id: str, mark: Watermark, reading: Reading) -> Iterator[RawMessage]:
        messages = self.client.edge(conversation_id, "messages", fields=MESSAGE_FIELDS,
                                    limit=self.options.page_size)
        for message in messages:
            at, message_id = _seconds(message.get("created_time")), str(message.get("id", ""))
            if at is not None and at < mark.time:
                return
            if at is None or mark.is_new(at, message_id):
                yield self._raw("message", message, conversation_id=conversation_id)
            if at is not None:
                reading.see(at, message_id)
