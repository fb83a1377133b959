"""Mentions whose fields have the wrong type or hold a lone surrogate are quarantined
alone with a reason naming the field (found by tests/fuzz through the Account Activity
webhook: a user name that is an object failed deep in the normaliser with an
AttributeError; a lone surrogate in the text failed the complaint's encoding; one bad
tweet of an event made the whole delivery answer 400)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from connectors.attachments import LocalAttachmentStore
from connectors.base import RawMessage
from connectors.runner import ChannelRunner
from kanal.spool import Spool
from normalizer.timeutil import utc_now
from tests.twitter.conftest import make_connector, spooled_tweet_ids
from tests.twitter.fake_x_api import FakeXApi
from tests.twitter.test_webhook import _hook, sign, v1_event  # noqa: F401 - the hook fixture


@pytest.fixture(name="runner")
def _runner(fake_x: FakeXApi, spool: Spool, tmp_path: Path) -> ChannelRunner:
    return ChannelRunner(make_connector(fake_x.url), spool, LocalAttachmentStore(tmp_path / "att"))


def mention(tweet: dict, **includes) -> RawMessage:
    body = {"data": tweet, "includes": includes}
    return RawMessage(str(tweet.get("id")), json.dumps(body).encode(), utc_now(), {"account": "dkijakarta"})


@pytest.mark.parametrize(("raw", "field"), [
    (mention({"id": "1862000000000000101", "text": "Banjir", "author_id": "5"},
             users=[{"id": "5", "username": "w", "name": {"first": "Budi"}}]), "users.0.name"),
    (mention({"id": "1862000000000000102", "text": ["Banjir"]}), "text"),
    (mention({"id": "1862000000000000103", "text": "Banjir", "entities": {"urls": [{"url": 7}]}}),
     "entities.urls.0.url"),
    (mention({"id": "1862000000000000104", "text": "Banjir", "geo": {"coordinates": {"coordinates": "x"}}}),
     "geo.coordinates.coordinates"),
])
def test_a_field_of_the_wrong_type_is_quarantined_naming_the_field(
    runner: ChannelRunner, raw: RawMessage, field: str
) -> None:
    [result] = runner.ingest([raw])
    assert result.status == "quarantined"
    assert field in result.reason and not result.reason.startswith(("AttributeError", "TypeError")), result.reason


def test_a_lone_surrogate_in_the_text_is_quarantined_with_a_reason(runner: ChannelRunner) -> None:
    [result] = runner.ingest([mention({"id": "1862000000000000105", "text": "banjir \ud83d"})])
    assert result.status == "quarantined"
    assert "surrogate" in result.reason and not result.reason.startswith("PydanticSerializationError"), \
        result.reason


def test_one_bad_tweet_of_an_event_is_quarantined_and_the_others_are_taken(hook: tuple, spool: Spool) -> None:
    url, _runner = hook
    event = v1_event("1862000000000000201", "@dkijakarta Lampu mati")
    good = event["tweet_create_events"][0]
    event["tweet_create_events"] = [
        good,
        {**good, "id_str": "1862000000000000202", "entities": ["not", "an", "object"]},
        "not a tweet",
        {**good, "id_str": "1862000000000000203", "text": "@dkijakarta Got mampet"},
    ]
    body = json.dumps(event).encode()
    answer = requests.post(url, data=body, headers={"x-twitter-webhooks-signature": sign(body)}, timeout=5)
    assert answer.status_code == 200
    assert sorted(spooled_tweet_ids(spool)) == ["1862000000000000201", "1862000000000000203"]
    reasons = [e.error for e in spool.quarantined("twitter-dkijakarta")]
    assert len(reasons) == 2 and all("v1.1 shape" in r for r in reasons), reasons


def test_an_event_without_tweets_is_counted(hook: tuple, spool: Spool) -> None:
    url, _runner = hook
    body = json.dumps({"for_user_id": "1000", "favorite_events": [{"id": "x"}]}).encode()
    answer = requests.post(url, data=body, headers={"x-twitter-webhooks-signature": sign(body)}, timeout=5)
    assert answer.status_code == 200
    assert spool.counters("twitter-dkijakarta").get("webhook.no_messages") == 1
