"""Turning one mention payload into a complaint, or a deliberate drop. Pure: no I/O.

What is not a complaint: the city's own tweets and replies (``own_tweet``), plain
retweets (``retweet``: the original is, or was, a mention of its own), and
mentions the API reported as deleted or withheld (their ``reason``). A quote
tweet is a complaint whose ``context`` is the quoted text.

Complaint ids are derived from the tweet id alone (scope ``x.com``), not from the
account it mentions: tweet ids are global, and one tweet mentioning both
@dkijakarta and the governor is one complaint, taken in once.
"""

from __future__ import annotations

import mimetypes
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from connectors.base import Drop, RawMessage
from connectors.errors import NormaliseError
from connectors.push import UnreadableBody, load_json
from connectors.twitter.cursor import snowflake_time
from connectors.twitter.shape import check_shape
from normalizer.complaint import Attachment, ChannelRef, Complaint, Location, Reporter
from normalizer.identity import complaint_id
from normalizer.text import MAX_DESCRIPTION_CHARS, clean_line, clean_text
from normalizer.timeutil import WIB

TYPE_NAME = "twitter"
#: The account part of every tweet's complaint id (see the module docstring).
ID_SCOPE = "x.com"
#: X's language codes that name no language (undetermined, media only, hashtags only...).
NO_LANGUAGE = frozenset({"und", "zxx", "qme", "qam", "qct", "qht", "qst"})
#: A place whose bounding box is smaller than this (degrees) is precise enough for a point.
SMALL_PLACE_DEGREES = 0.05
#: A link placeholder cut by truncation.
_PLACEHOLDER_LEFT = re.compile("\ue000\\d*\ue001?|\ue001")
_SPACES = re.compile(r"[ \t]{2,}")


def tweet_complaint_id(tweet_id: str) -> uuid.UUID:
    """The complaint id of a tweet, whichever account it mentions."""
    return complaint_id(TYPE_NAME, ID_SCOPE, tweet_id)


def _load(raw: RawMessage) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        body = load_json(raw.payload)  # with the push routes' depth limit: a deep payload is quarantined
    except UnreadableBody as exc:
        msg = f"mention payload is not JSON: {exc}"
        raise NormaliseError(msg) from None
    tweet = body.get("data") if isinstance(body, dict) else None
    if not isinstance(tweet, dict) or not tweet.get("id") or not isinstance(tweet.get("text"), str):
        msg = "mention payload has no tweet with an id and a text under 'data'"
        raise NormaliseError(msg)
    includes = body.get("includes") if isinstance(body.get("includes"), dict) else {}
    check_shape(tweet, includes)
    return tweet, includes


def _by(items: Any, key: str) -> dict[str, dict[str, Any]]:
    return {str(i[key]): i for i in items or [] if isinstance(i, dict) and key in i}


def link_targets(tweet: Mapping[str, Any], media_keys: Sequence[str] = ()) -> dict[str, str]:
    """Each t.co link of the tweet and what replaces it: its target, or nothing for
    links to the tweet's own media (the media are attachments)."""
    targets = {}
    for link in (tweet.get("entities") or {}).get("urls") or []:
        short = link.get("url") if isinstance(link, dict) else None
        if not short:
            continue
        expanded = str(link.get("expanded_url") or "")
        if link.get("media_key") or (media_keys and ("/photo/" in expanded or "/video/" in expanded)):
            targets[short] = ""
        else:
            targets[short] = link.get("unwound_url") or expanded or short
    return targets


def describe(tweet: Mapping[str, Any], media_keys: Sequence[str] = ()) -> tuple[str, bool]:
    """The tweet's clean text with t.co links expanded; and whether it was truncated.

    The text is cleaned (and its ``&amp;`` entities decoded) with the links stood in
    for by placeholders, so a target URL such as ``?a=1&para=2`` is never read as
    an entity.
    """
    text = str(tweet.get("text") or "")
    targets = {}
    for number, (short, target) in enumerate(link_targets(tweet, media_keys).items()):
        placeholder = f"\ue000{number}\ue001"
        text = text.replace(short, placeholder)
        targets[placeholder] = target
    cleaned, truncated = clean_text(text)
    for placeholder, target in targets.items():
        cleaned = cleaned.replace(placeholder, target)
    if targets:
        cleaned = _PLACEHOLDER_LEFT.sub("", cleaned)
        cleaned = "\n".join(_SPACES.sub(" ", line).strip() for line in cleaned.split("\n")).strip()
        if len(cleaned) > MAX_DESCRIPTION_CHARS:
            cleaned, truncated = cleaned[: MAX_DESCRIPTION_CHARS - 1].rstrip() + "…", True
    return cleaned, truncated


def _created(tweet: Mapping[str, Any]) -> datetime:
    value = tweet.get("created_at")
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            msg = f"created_at {value!r} is not an ISO 8601 time"
            raise NormaliseError(msg) from None
        if moment.tzinfo is not None:
            return moment.astimezone(WIB)
    try:
        return snowflake_time(tweet["id"]).astimezone(WIB)
    except (TypeError, ValueError):
        msg = f"tweet id {tweet.get('id')!r} is not numeric and the tweet has no created_at"
        raise NormaliseError(msg) from None


def _attachment(medium: Mapping[str, Any]) -> Attachment:
    kind = medium.get("type")
    url = medium.get("url") or medium.get("preview_image_url")
    content_type = None
    if kind in ("video", "animated_gif"):
        variants = [v for v in medium.get("variants") or [] if isinstance(v, dict) and v.get("url")]
        variants.sort(key=lambda v: v.get("bit_rate") or 0, reverse=True)
        mp4 = [v for v in variants if v.get("content_type") == "video/mp4"] or variants
        if mp4:
            url, content_type = mp4[0]["url"], mp4[0].get("content_type")
    if url and content_type is None:
        content_type = mimetypes.guess_type(urlsplit(url).path)[0]
    name = urlsplit(url).path.rsplit("/", 1)[-1] if url else None
    return Attachment(filename=name or None, content_type=content_type, url=url, omitted_reason="reference_only")


def _location(tweet: Mapping[str, Any], places: Mapping[str, Mapping[str, Any]]) -> Location:
    geo = tweet.get("geo") or {}
    point = (geo.get("coordinates") or {}).get("coordinates")
    place = places.get(str(geo.get("place_id"))) if geo.get("place_id") else None
    address = clean_line(place.get("full_name") or place.get("name") or "") if place else None
    if isinstance(point, list) and len(point) == 2:
        long, lat = point
        if -90 <= lat <= 90 and -180 <= long <= 180:
            return Location(lat=lat, long=long, address_string=address or None, method="gps")
    if place is None:
        return Location()
    bbox = (place.get("geo") or {}).get("bbox")
    if isinstance(bbox, list) and len(bbox) == 4:
        west, south, east, north = bbox
        if east - west <= SMALL_PLACE_DEGREES and north - south <= SMALL_PLACE_DEGREES:
            return Location(lat=(south + north) / 2, long=(west + east) / 2, address_string=address, method="place")
    return Location(address_string=address or None, method="place" if address else "none")


def _quoted_context(quoted: Mapping[str, Any] | None, users: Mapping[str, Mapping[str, Any]]) -> str | None:
    if not quoted:
        return None
    text, _ = describe(quoted)
    author = users.get(str(quoted.get("author_id")))
    if author and author.get("username"):
        return f"@{author['username']}: {text}"
    return text


def normalise_mention(raw: RawMessage, channel_name: str) -> Complaint | Drop:
    """Turn one mention (see :mod:`connectors.twitter.payload`) into a complaint.

    ``raw.metadata`` carries ``account`` (the mentioned username), ``own_ids``
    (user ids of the city's accounts) and, for unavailable mentions, ``kind`` =
    ``unavailable`` with the ``reason``.

    Raises:
        NormaliseError: the payload is not a tweet.
    """
    meta = raw.metadata
    if meta.get("kind") == "unavailable":
        return Drop(str(meta.get("reason") or "unavailable_tweet"))
    if meta.get("kind") == "unreadable":
        raise NormaliseError(str(meta.get("reason") or "tweet could not be read"))
    tweet, includes = _load(raw)
    tweet_id = str(tweet["id"])
    author_id = str(tweet.get("author_id") or "")
    if author_id and author_id in set(meta.get("own_ids") or ()):
        return Drop("own_tweet")
    refs = {r.get("type"): str(r.get("id")) for r in tweet.get("referenced_tweets") or [] if isinstance(r, dict)}
    if "retweeted" in refs:
        return Drop("retweet")

    users = _by(includes.get("users"), "id")
    media = _by(includes.get("media"), "media_key")
    referenced = _by(includes.get("tweets"), "id")
    keys = [str(k) for k in (tweet.get("attachments") or {}).get("media_keys") or []]
    description, truncated = describe(tweet, keys)
    author = users.get(author_id, {})
    username = author.get("username")
    lang = tweet.get("lang")
    replied_to = refs.get("replied_to")
    account = str(meta.get("account") or "").removeprefix("@")
    return Complaint(
        id=tweet_complaint_id(tweet_id),
        channel=ChannelRef(type=TYPE_NAME, name=channel_name, account=f"@{account}" if account else ID_SCOPE),
        provider_message_id=tweet_id,
        conversation_key=str(tweet["conversation_id"]) if tweet.get("conversation_id") else None,
        in_reply_to=tweet_complaint_id(replied_to) if replied_to else None,
        received_at=raw.received_at,
        requested_datetime=_created(tweet),
        reporter=Reporter(
            name=clean_line(author["name"]) if author.get("name") else None,
            handle=f"@{username}" if username else None,
            provider_user_id=author_id or None,
        ),
        description=description,
        description_truncated=truncated,
        context=_quoted_context(referenced.get(refs.get("quoted", "")), users),
        language=lang if isinstance(lang, str) and lang and lang not in NO_LANGUAGE else None,
        url=f"https://x.com/{username or 'i/web'}/status/{tweet_id}",
        attachments=tuple(_attachment(media[k]) for k in keys if k in media),
        location=_location(tweet, _by(includes.get("places"), "id")),
        raw_ref=raw.raw_ref,
    )
