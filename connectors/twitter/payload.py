"""Cutting one API page into one self-contained payload per mention.

A page holds up to 100 tweets and one shared ``includes`` block. Each mention is
archived (and, if it fails, quarantined) on its own, so its payload carries the
tweet plus exactly the includes it refers to: its author, its media, its place
and the tweets it quotes or replies to, with their authors. The payload is the
API's own JSON, re-serialised with sorted keys, so a re-fetch of the same mention
gives the same bytes and the same ``raw_ref``.

Partial errors (``errors``) about a mention itself (deleted, withheld) become
entries of their own, so they are skipped and counted; errors about something a
mention refers to (a deleted quoted tweet) only leave that context out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.push import json_bytes

#: ``errors[].parameter`` values that concern an expansion, not a mention itself.
EXPANSION_PARAMETERS = frozenset({
    "author_id", "attachments.media_keys", "referenced_tweets.id", "referenced_tweets.id.author_id",
    "geo.place_id", "in_reply_to_user_id", "entities.mentions.username", "attachments.poll_ids",
})


def dumps(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no spaces, UTF-8 (``\\u`` escapes throughout
    when the value holds a lone UTF-16 surrogate, which UTF-8 cannot: the mention is
    then quarantined by ``normalise`` instead of failing the whole page)."""
    return json_bytes(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class MentionPayload:
    """One mention ready to become a raw message."""

    tweet_id: str
    payload: bytes


@dataclass(frozen=True)
class UnavailableMention:
    """A mention the API reported in ``errors`` instead of ``data``."""

    tweet_id: str
    reason: str
    payload: bytes


def _index(items: Any, key: str) -> dict[str, dict[str, Any]]:
    if not isinstance(items, list):
        return {}
    return {str(item[key]): item for item in items if isinstance(item, dict) and key in item}


def mention_payloads(page: dict[str, Any]) -> list[MentionPayload]:
    """One payload per tweet in ``page["data"]``, in the page's order."""
    tweets = page.get("data") or []
    includes = page.get("includes") or {}
    users = _index(includes.get("users"), "id")
    media = _index(includes.get("media"), "media_key")
    places = _index(includes.get("places"), "id")
    referenced = _index(includes.get("tweets"), "id")
    out = []
    for tweet in tweets:
        if not isinstance(tweet, dict) or "id" not in tweet:
            out.append(MentionPayload(str(tweet.get("id", "?")) if isinstance(tweet, dict) else "?", dumps(tweet)))
            continue
        refs = [referenced[r["id"]] for r in tweet.get("referenced_tweets") or [] if r.get("id") in referenced]
        author_ids = [tweet.get("author_id")] + [r.get("author_id") for r in refs]
        keys = (tweet.get("attachments") or {}).get("media_keys") or []
        place_id = (tweet.get("geo") or {}).get("place_id")
        own = {
            "users": [users[a] for a in dict.fromkeys(author_ids) if a in users],
            "media": [media[k] for k in keys if k in media],
            "places": [places[place_id]] if place_id in places else [],
            "tweets": refs,
        }
        body = {"data": tweet, "includes": {k: v for k, v in own.items() if v}}
        out.append(MentionPayload(str(tweet["id"]), dumps(body)))
    return out


def _reason(error: dict[str, Any]) -> str:
    text = " ".join(str(error.get(k, "")) for k in ("type", "title", "detail")).lower()
    if "withheld" in text or "not-authorized" in text or "authorization" in text:
        return "withheld_tweet"
    if "not-found" in text or "not found" in text or "deleted" in text:
        return "deleted_tweet"
    return "unavailable_tweet"


def unavailable_mentions(page: dict[str, Any]) -> list[UnavailableMention]:
    """Mentions reported in ``page["errors"]`` (deleted, withheld), not their context."""
    out = []
    for error in page.get("errors") or []:
        if not isinstance(error, dict) or error.get("resource_type", "tweet") != "tweet":
            continue
        if error.get("parameter") in EXPANSION_PARAMETERS:
            continue
        tweet_id = error.get("resource_id") or error.get("value")
        if tweet_id:
            out.append(UnavailableMention(str(tweet_id), _reason(error), dumps({"error": error})))
    return out


def page_tweet_ids(page: dict[str, Any]) -> list[str]:
    """Ids of every mention on the page, taken in or reported unavailable."""
    ids = [str(t["id"]) for t in page.get("data") or [] if isinstance(t, dict) and "id" in t]
    return ids + [gone.tweet_id for gone in unavailable_mentions(page)]


def context_errors(page: dict[str, Any]) -> int:
    """How many ``errors`` concern context a mention refers to (logged, not dropped)."""
    return sum(
        1 for e in page.get("errors") or [] if isinstance(e, dict) and e.get("parameter") in EXPANSION_PARAMETERS
    )
