"""The Instagram account linked to a Page: its comments polled, its mentions read.

* Comments: ``GET /{ig-user}/media`` lists the account's posts newest first; the
  posts younger than ``comment_lookback_days`` are read with ``GET /{ig-media}/comments``
  (top-level comments, their replies nested). Instagram gives media no
  ``updated_time``, so each recent post is read on every poll; the mark (a time plus
  the ids at or after it, see :mod:`connectors.facebook.poller`) keeps anything from
  being taken twice. A comment found here and by the ``comments`` webhook has the
  same id, so the spool keeps one complaint.
* Mentions: the ``mentions`` webhook names only the comment (or the post, for a
  caption) in which another account @mentioned ours. Its text is read at once with
  ``GET /{ig-user}?fields=mentioned_comment.comment_id(ID){...}`` (or
  ``mentioned_media.media_id(ID){...}``) and stored with the event. The API has no
  edge that lists mentions, so they cannot be polled; when the read fails the
  mention is kept flagged ``incomplete``, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from connectors.errors import ChannelError
from connectors.facebook.client import GraphClient

MEDIA_FIELDS = "id,timestamp,permalink"
_COMMENT = "id,text,timestamp,username,from{id,username},parent_id"
COMMENT_FIELDS = f"{_COMMENT},replies{{{_COMMENT}}}"
MENTIONED_COMMENT_FIELDS = "id,text,timestamp,like_count,media{id,permalink,username}"
MENTIONED_MEDIA_FIELDS = "id,caption,timestamp,username,permalink,media_type,media_url"


def recent_comments(client: GraphClient, ig_user_id: str, horizon: float, page_size: int,
                    seconds: Callable[[Any], float | None]) -> Iterator[tuple[dict[str, Any], str]]:
    """(comment, media id) for every comment and reply under posts newer than ``horizon``."""
    for media in client.edge(ig_user_id, "media", fields=MEDIA_FIELDS, limit=page_size):
        posted = seconds(media.get("timestamp"))
        if posted is not None and posted < horizon:
            return  # newest first: the rest are older
        media_id = str(media.get("id", ""))
        if not media_id:
            continue
        for comment in client.edge(media_id, "comments", fields=COMMENT_FIELDS, limit=page_size):
            replies = comment.get("replies") if isinstance(comment.get("replies"), dict) else {}
            yield {k: v for k, v in comment.items() if k != "replies"}, media_id
            for reply in replies.get("data") or []:
                if isinstance(reply, dict):
                    yield reply, media_id


def read_mention(client: GraphClient, ig_user_id: str, value: dict[str, Any]) -> dict[str, Any] | None:
    """The comment or caption a ``mentions`` event names, or None when it cannot be read.

    Raises:
        ChannelError: the Graph API refused or failed (the caller keeps the event).
    """
    comment_id, media_id = value.get("comment_id"), value.get("media_id")
    if comment_id:
        fields = f"mentioned_comment.comment_id({int(comment_id)}){{{MENTIONED_COMMENT_FIELDS}}}"
        found = client.node(ig_user_id, fields=fields).get("mentioned_comment")
        kind = "comment"
    elif media_id:
        fields = f"mentioned_media.media_id({int(media_id)}){{{MENTIONED_MEDIA_FIELDS}}}"
        found = client.node(ig_user_id, fields=fields).get("mentioned_media")
        kind = "media"
    else:
        return None
    return {"kind": kind, **found} if isinstance(found, dict) else None


class MentionReader:
    """Reads mentions for the webhook thread, on its own Graph client (the poll's
    session is not shared across threads). Failures are logged, counted and give None."""

    def __init__(self, make_client: Callable[[], GraphClient], ig_user_id: str, log: Any,
                 count: Callable[[str, int], None]) -> None:
        self.make_client = make_client
        self.ig_user_id = ig_user_id
        self.log = log
        self.count = count
        self._client: GraphClient | None = None
        self._lock = threading.Lock()

    def __call__(self, value: dict[str, Any]) -> dict[str, Any] | None:
        """Read one mention; None when it cannot be read (kept flagged incomplete)."""
        with self._lock:
            if self._client is None:
                self._client = self.make_client()
            try:
                return read_mention(self._client, self.ig_user_id, value)
            except (ChannelError, ValueError) as exc:
                self.count("instagram.mention_unread", 1)
                self.log.warning("Instagram mention text could not be read; kept flagged incomplete",
                                 error=str(exc))
                return None

    def close(self) -> None:
        """Close the client."""
        if self._client is not None:
            self._client.close()
            self._client = None
