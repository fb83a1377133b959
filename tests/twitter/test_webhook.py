"""The optional Account Activity route on the shared webhook server, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from connectors.attachments import LocalAttachmentStore
from connectors.runner import ChannelRunner
from connectors.twitter.normalise import tweet_complaint_id
from connectors.webhooks import WebhookApp, WebhookServer
from kanal.spool import Spool
from tests.twitter.conftest import counters, make_connector, spooled, spooled_tweet_ids
from tests.twitter.fake_x_api import FakeXApi

SECRET = "consumer-secret-for-tests"


def sign(body: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


@pytest.fixture(name="hook")
def _hook(fake_x: FakeXApi, spool: Spool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple]:
    monkeypatch.setenv("KANAL_TEST_X_CONSUMER_SECRET", SECRET)
    connector = make_connector(fake_x.url, accounts=["dkijakarta"],
                               webhook={"enabled": True, "consumer_secret": "${KANAL_TEST_X_CONSUMER_SECRET}"})
    runner = ChannelRunner(connector, spool, LocalAttachmentStore(tmp_path / "att"))
    app = WebhookApp("/webhooks")
    app.add_channel(runner, connector.webhook_routes())
    server = WebhookServer(app, port=0, threads=2)
    server.start()
    try:
        yield f"{server.url}/webhooks/twitter-dkijakarta", runner
    finally:
        server.stop(timeout=2)


def v1_event(tweet_id: str, text: str, author: tuple[str, str] = ("5001", "warga_push"), **extra) -> dict:
    tweet = {"id_str": tweet_id, "created_at": "Fri Nov 27 03:15:00 +0000 2026", "text": text, "lang": "in",
             "user": {"id_str": author[0], "screen_name": author[1], "name": "Budi Contoh"},
             "entities": {"urls": [], "user_mentions": [{"id_str": "1000", "screen_name": "dkijakarta"}]}, **extra}
    return {"for_user_id": "1000", "tweet_create_events": [tweet]}


def test_crc_challenge_is_answered_with_the_hmac_of_the_token(hook: tuple) -> None:
    url, _ = hook
    answer = requests.get(url, params={"crc_token": "token-abc"}, timeout=5)
    assert answer.status_code == 200
    expected = base64.b64encode(hmac.new(SECRET.encode(), b"token-abc", hashlib.sha256).digest()).decode()
    assert answer.json() == {"response_token": f"sha256={expected}"}
    assert requests.get(url, timeout=5).status_code == 400


def test_an_unsigned_or_forged_post_gets_403_and_stores_nothing(hook: tuple, spool: Spool) -> None:
    url, _ = hook
    body = json.dumps(v1_event("1860000000000000001", "@dkijakarta palsu")).encode()
    assert requests.post(url, data=body, timeout=5).status_code == 403
    forged = {"x-twitter-webhooks-signature": sign(body + b" ")}
    assert requests.post(url, data=body, headers=forged, timeout=5).status_code == 403
    assert spooled(spool) == []
    assert counters(spool, "twitter-dkijakarta") == {"webhook.forbidden": 2}


def test_a_signed_event_is_committed_before_the_200_and_the_poll_does_not_take_it_again(
    hook: tuple, spool: Spool, fake_x: FakeXApi
) -> None:
    url, runner = hook
    citizen = fake_x.add_user("warga_push", user_id="5001")
    tweet = fake_x.mention("dkijakarta", citizen, "@dkijakarta saluran air &amp; got mampet di RW 05")
    event = v1_event(
        tweet["id"], "@dkijakarta saluran air &amp; got mampet di RW 05",
        coordinates={"type": "Point", "coordinates": [106.8456, -6.2088]},
        extended_entities={"media": [{"id_str": "77", "type": "photo", "url": "https://t.co/m7m7m7m7",
                                      "media_url_https": "https://pbs.twimg.example.com/media/got.jpg"}]},
    )
    event["tweet_create_events"][0]["text"] += " https://t.co/m7m7m7m7"
    body = json.dumps(event).encode()
    answer = requests.post(url, data=body, headers={"x-twitter-webhooks-signature": sign(body)}, timeout=5)
    assert answer.status_code == 200
    [pushed] = spooled(spool)
    assert pushed["id"] == str(tweet_complaint_id(tweet["id"]))
    assert pushed["description"] == "@dkijakarta saluran air & got mampet di RW 05"
    assert pushed["reporter"]["handle"] == "@warga_push"
    assert pushed["location"]["method"] == "gps" and pushed["location"]["lat"] == -6.2088
    assert pushed["attachments"][0]["url"] == "https://pbs.twimg.example.com/media/got.jpg"
    assert pushed["requested_datetime"].startswith("2026-11-27T10:15:00+07:00")

    runner.poll_once()
    assert spooled_tweet_ids(spool) == [tweet["id"]]


def test_the_citys_own_tweets_pushed_by_account_activity_are_dropped(hook: tuple, spool: Spool) -> None:
    url, _ = hook
    body = json.dumps(v1_event("1860000000000000009", "@warga Terima kasih atas laporannya",
                               author=("1000", "dkijakarta"))).encode()
    answer = requests.post(url, data=body, headers={"x-twitter-webhooks-signature": sign(body)}, timeout=5)
    assert answer.status_code == 200
    assert spooled(spool) == []
    assert counters(spool, "twitter-dkijakarta") == {"dropped.own_tweet": 1}


def test_pushed_retweets_are_dropped_and_quotes_keep_their_context(hook: tuple, spool: Spool) -> None:
    url, _ = hook
    original = {"id_str": "1860000000000000100", "text": "Sampah menumpuk di pasar", "created_at":
                "Fri Nov 27 01:00:00 +0000 2026", "user": {"id_str": "5002", "screen_name": "warga_asal"}}
    retweet = v1_event("1860000000000000101", "RT @warga_asal: Sampah menumpuk di pasar",
                       retweeted_status=original)
    quote = v1_event("1860000000000000102", "@dkijakarta tolong diangkut", quoted_status=original)
    for event in (retweet, quote):
        body = json.dumps(event).encode()
        answer = requests.post(url, data=body, headers={"x-twitter-webhooks-signature": sign(body)}, timeout=5)
        assert answer.status_code == 200
    [taken] = spooled(spool)
    assert taken["provider_message_id"] == "1860000000000000102"
    assert taken["context"] == "@warga_asal: Sampah menumpuk di pasar"
    assert counters(spool, "twitter-dkijakarta") == {"dropped.retweet": 1}
