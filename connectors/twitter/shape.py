"""The types of the tweet fields ``normalise`` reads, checked before it reads them.

A mention's payload comes from the X API (typed) or from an Account Activity event
converted from v1.1 (whatever the sender put there). A field of the wrong type (a
user name that is an object, coordinates that are text) must quarantine the tweet
with the field's name, not fail deep in the normaliser with an ``AttributeError``.
Only the fields read are declared; everything else passes through unchecked.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

_Id = str | int


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow", strict=False)


class _Url(_Shape):
    url: str | None = None
    expanded_url: str | None = None
    unwound_url: str | None = None
    display_url: str | None = None
    media_key: _Id | None = None


class _Entities(_Shape):
    urls: list[_Url] | None = None


class _Reference(_Shape):
    type: str | None = None
    id: _Id | None = None


class _Attachments(_Shape):
    media_keys: list[_Id] | None = None


class _Point(_Shape):
    coordinates: list[float] | None = None


class _Geo(_Shape):
    coordinates: _Point | None = None
    place_id: _Id | None = None


class Tweet(_Shape):
    """A v2 tweet as far as ``normalise`` reads it."""

    id: _Id
    text: str
    author_id: _Id | None = None
    conversation_id: _Id | None = None
    lang: str | None = None
    created_at: str | None = None
    entities: _Entities | None = None
    attachments: _Attachments | None = None
    referenced_tweets: list[_Reference] | None = None
    geo: _Geo | None = None


class _User(_Shape):
    id: _Id | None = None
    username: str | None = None
    name: str | None = None


class _Variant(_Shape):
    url: str | None = None
    content_type: str | None = None
    bit_rate: float | None = None


class _Medium(_Shape):
    media_key: _Id | None = None
    type: str | None = None
    url: str | None = None
    preview_image_url: str | None = None
    variants: list[_Variant] | None = None


class _PlaceGeo(_Shape):
    bbox: list[float] | None = None


class _Place(_Shape):
    id: _Id | None = None
    full_name: str | None = None
    name: str | None = None
    geo: _PlaceGeo | None = None


class Includes(_Shape):
    """The includes of one mention as far as ``normalise`` reads them."""

    users: list[_User] | None = None
    media: list[_Medium] | None = None
    places: list[_Place] | None = None
    tweets: list[Tweet] | None = None


def check_shape(tweet: dict[str, Any], includes: dict[str, Any]) -> None:
    """Check the types of the fields ``normalise`` reads.

    Raises:
        pydantic.ValidationError: a field has the wrong type (the runner quarantines
            the tweet naming the field, never its value).
    """
    Tweet.model_validate(tweet)
    Includes.model_validate(includes)
