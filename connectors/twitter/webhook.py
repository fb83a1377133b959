"""Optional push: the Account Activity webhook on the shared webhook server.

X registers the URL with a CRC challenge (``GET ?crc_token=...``, answered with
``sha256=`` + base64 HMAC-SHA256 of the token under the app's consumer secret) and
repeats it hourly. Every POST carries ``x-twitter-webhooks-signature``, the same
HMAC over the raw body; a missing or wrong signature gets 403 and stores nothing.

Account Activity events carry tweets in the v1.1 shape; each is converted to the
v2 shape the poller archives, so one normaliser serves both paths. The tweet id is
the complaint id either way, so the poll (the safety net) and the push taking in
the same mention store it once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from connectors.base import RawMessage
from connectors.push import (
    WebhookOutcome,
    WebhookRequest,
    WebhookRoute,
    constant_time_equals,
    forbidden,
    load_json,
    text_response,
)
from connectors.twitter.payload import dumps
from normalizer.timeutil import utc_now

if TYPE_CHECKING:
    from connectors.twitter.connector import TwitterConnector

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
_MEDIA_KEY_PREFIX = {"photo": "3_", "video": "7_", "animated_gif": "16_"}


def hmac_sha256_b64(secret: str, message: bytes) -> str:
    """``sha256=`` + base64 of HMAC-SHA256(secret, message), X's webhook primitive."""
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def _v1_time(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _v1_user(user: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": str(user.get("id_str") or user.get("id")), "username": user.get("screen_name"),
            "name": user.get("name")}


def _v1_medium(medium: Mapping[str, Any]) -> dict[str, Any]:
    kind = medium.get("type", "photo")
    out: dict[str, Any] = {"media_key": _MEDIA_KEY_PREFIX.get(kind, "3_") + str(medium.get("id_str")), "type": kind}
    if kind == "photo":
        out["url"] = medium.get("media_url_https") or medium.get("media_url")
    else:
        out["preview_image_url"] = medium.get("media_url_https")
        out["variants"] = [
            {"url": v.get("url"), "content_type": v.get("content_type"), "bit_rate": v.get("bitrate")}
            for v in (medium.get("video_info") or {}).get("variants") or []
        ]
    return out


def _v1_place(place: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: place.get(k) for k in ("id", "full_name", "name", "country_code", "place_type") if place.get(k)}
    ring = ((place.get("bounding_box") or {}).get("coordinates") or [[]])[0]
    if ring:
        longs, lats = [p[0] for p in ring], [p[1] for p in ring]
        out["geo"] = {"type": "Feature", "bbox": [min(longs), min(lats), max(longs), max(lats)], "properties": {}}
    return out


def v1_tweet_to_v2(tweet: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
    """Convert a v1.1 tweet object into a v2 tweet and the includes it refers to."""
    extended = tweet.get("extended_tweet") or {}
    entities = extended.get("entities") or tweet.get("entities") or {}
    media = (extended.get("extended_entities") or tweet.get("extended_entities") or {}).get("media") or []
    includes: dict[str, list[dict[str, Any]]] = {"users": [], "media": [], "places": [], "tweets": []}
    v2: dict[str, Any] = {
        "id": str(tweet.get("id_str") or tweet.get("id")),
        "text": extended.get("full_text") or tweet.get("full_text") or tweet.get("text") or "",
        "lang": tweet.get("lang"),
        "created_at": _v1_time(tweet.get("created_at")),
    }
    user = tweet.get("user") or {}
    if user:
        v2["author_id"] = str(user.get("id_str") or user.get("id"))
        includes["users"].append(_v1_user(user))
    urls = [{"url": u.get("url"), "expanded_url": u.get("expanded_url"), "display_url": u.get("display_url")}
            for u in entities.get("urls") or []]
    media_v2 = [_v1_medium(m) for m in media]
    urls += [{"url": m.get("url"), "expanded_url": m.get("expanded_url"), "media_key": mv["media_key"]}
             for m, mv in zip(media, media_v2, strict=True) if m.get("url")]
    v2["entities"] = {"urls": urls}
    if media_v2:
        v2["attachments"] = {"media_keys": [m["media_key"] for m in media_v2]}
        includes["media"] = media_v2
    refs = []
    if tweet.get("retweeted_status"):
        refs.append({"type": "retweeted", "id": str(tweet["retweeted_status"].get("id_str"))})
    if tweet.get("quoted_status"):
        quoted, quoted_includes = v1_tweet_to_v2(tweet["quoted_status"])
        refs.append({"type": "quoted", "id": quoted["id"]})
        includes["tweets"].append(quoted)
        includes["users"].extend(quoted_includes["users"])
    if tweet.get("in_reply_to_status_id_str"):
        refs.append({"type": "replied_to", "id": str(tweet["in_reply_to_status_id_str"])})
        v2["in_reply_to_user_id"] = tweet.get("in_reply_to_user_id_str")
    if refs:
        v2["referenced_tweets"] = refs
    geo: dict[str, Any] = {}
    if (tweet.get("coordinates") or {}).get("coordinates"):
        geo["coordinates"] = {"type": "Point", "coordinates": tweet["coordinates"]["coordinates"]}
    if tweet.get("place"):
        place = _v1_place(tweet["place"])
        geo["place_id"] = place.get("id")
        includes["places"].append(place)
    if geo:
        v2["geo"] = geo
    return {k: v for k, v in v2.items() if v is not None}, includes


class AccountActivityRoutes:
    """The CRC and event routes of one twitter channel instance.

    Parameters:
        connector: the channel; gives the consumer secret, the accounts and their ids.
    """

    def __init__(self, connector: TwitterConnector) -> None:
        self.connector = connector
        self.secret = connector.options.webhook.consumer_secret.get()

    def routes(self) -> list[WebhookRoute]:
        """GET for the CRC challenge, POST for events, both at the channel's root."""
        return [WebhookRoute("GET", "", self.crc), WebhookRoute("POST", "", self.events)]

    def crc(self, request: WebhookRequest) -> Response:
        """Answer X's challenge-response check."""
        # The exact bytes sent: X's own tokens are ASCII, and a token that is not UTF-8 is
        # still answered over what was sent, never over a decoded stand-in.
        token = request.param_bytes("crc_token")
        if not token:
            return text_response(400, "crc_token is required\n")
        body = json.dumps({"response_token": hmac_sha256_b64(self.secret, token)}).encode()
        return Response(body, 200, content_type="application/json")

    def events(self, request: WebhookRequest) -> Response | WebhookOutcome:
        """Verify the signature and hand the event's tweets to the runner."""
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature or not constant_time_equals(signature, hmac_sha256_b64(self.secret, request.body)):
            return forbidden()
        event = load_json(request.body)  # unreadable: 400 with the reason, from the server
        if not isinstance(event, dict):
            return text_response(400, "body is not a JSON object\n")
        for_user = str(event.get("for_user_id") or "")
        ids = self.connector.user_ids
        single = self.connector.options.accounts[0] if len(self.connector.options.accounts) == 1 else for_user
        account = next((name for name, uid in ids.items() if uid == for_user), single)
        metadata = {"account": account, "own_ids": sorted({*ids.values(), for_user} - {""}), "via": "webhook"}
        received = utc_now()
        tweets = event.get("tweet_create_events")
        if tweets is None:
            return WebhookOutcome([])  # another event type (likes, follows): counted by the server
        if not isinstance(tweets, list):
            tweets = [tweets]
        return WebhookOutcome([self._raw(tweet, received, metadata) for tweet in tweets])

    @staticmethod
    def _raw(tweet: Any, received: datetime, metadata: dict[str, Any]) -> RawMessage:
        """One tweet of an event as a raw message. A tweet that cannot be converted is
        kept as sent, marked ``unreadable``, so ``normalise`` quarantines it alone and
        the event's other tweets are still taken in."""
        try:
            if not isinstance(tweet, dict):
                msg = f"a tweet must be a JSON object, not {type(tweet).__name__}"
                raise TypeError(msg)
            data, includes = v1_tweet_to_v2(tweet)
            payload = dumps({"data": data, "includes": {k: v for k, v in includes.items() if v}})
            return RawMessage(data["id"], payload, received, metadata)
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            reason = f"Account Activity tweet not in the v1.1 shape ({type(exc).__name__}: {exc})"
            source_id = str(tweet.get("id_str") or "?")[:64] if isinstance(tweet, dict) else "?"
            return RawMessage(source_id, dumps({"unreadable": tweet}), received,
                              {**metadata, "kind": "unreadable", "reason": reason[:300]})
