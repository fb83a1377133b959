"""The fake answers the real tweepy like X API v2 does (shapes, paging, headers, errors)."""

from __future__ import annotations

import time

import pytest
import requests
import tweepy

from connectors.twitter.client import BaseUrlAdapter
from tests.twitter.fake_x_api import Failure, FakeXApi


def tweepy_client(fake: FakeXApi, token: str | None = None) -> tweepy.Client:
    client = tweepy.Client(bearer_token=token or fake.bearer_token, return_type=dict)
    client.session.mount("https://api.twitter.com", BaseUrlAdapter(fake.url, timeout=5))
    return client


def test_paginator_walks_every_page_newest_first_with_documented_meta(fake_x: FakeXApi) -> None:
    citizen = fake_x.add_user("warga_satu")
    made = [fake_x.mention("dkijakarta", citizen) for _ in range(12)]
    account_id = fake_x.accounts["dkijakarta"]["id"]
    pages = list(tweepy.Paginator(tweepy_client(fake_x).get_users_mentions, account_id, max_results=5,
                                  expansions=["author_id"], tweet_fields=["created_at"]))
    assert [p["meta"]["result_count"] for p in pages] == [5, 5, 2]
    assert "next_token" in pages[0]["meta"] and "next_token" not in pages[-1]["meta"]
    ids = [t["id"] for p in pages for t in p["data"]]
    assert ids == [t["id"] for t in reversed(made)]
    assert pages[0]["meta"]["newest_id"] == made[-1]["id"] and pages[-1]["meta"]["oldest_id"] == made[0]["id"]
    assert set(pages[0]["data"][0]) == {"id", "text", "edit_history_tweet_ids", "created_at"}
    assert pages[0]["includes"]["users"] == [{"id": citizen, "username": "warga_satu", "name": "Warga_Satu"}]
    tokens = [r.query.get("pagination_token") for r in fake_x.mention_requests()]
    assert tokens[0] is None and tokens[1] and tokens[2]


def test_empty_result_has_meta_but_no_data_and_rate_limit_headers(fake_x: FakeXApi) -> None:
    client = tweepy_client(fake_x)
    client.return_type = requests.Response
    response = client.get_users_mentions(fake_x.accounts["dkijakarta"]["id"], max_results=5)
    assert response.json() == {"meta": {"result_count": 0}}
    assert int(response.headers["x-rate-limit-limit"]) == 450
    assert int(response.headers["x-rate-limit-remaining"]) == 449
    assert int(response.headers["x-rate-limit-reset"]) > time.time()


def test_since_id_bounds_the_timeline(fake_x: FakeXApi) -> None:
    citizen = fake_x.add_user("warga_dua")
    old = fake_x.mention("dkijakarta", citizen)
    new = fake_x.mention("dkijakarta", citizen)
    body = tweepy_client(fake_x).get_users_mentions(fake_x.accounts["dkijakarta"]["id"], since_id=old["id"])
    assert [t["id"] for t in body["data"]] == [new["id"]]


def test_errors_map_to_tweepy_exceptions(fake_x: FakeXApi) -> None:
    account_id = fake_x.accounts["dkijakarta"]["id"]
    reset = int(time.time()) + 5
    fake_x.fail_next(Failure(429, headers={"x-rate-limit-reset": str(reset), "x-rate-limit-remaining": "0"}))
    with pytest.raises(tweepy.TooManyRequests) as too_many:
        tweepy_client(fake_x).get_users_mentions(account_id)
    assert too_many.value.reset_time == reset
    fake_x.fail_next(Failure(503))
    with pytest.raises(tweepy.TwitterServerError):
        tweepy_client(fake_x).get_users_mentions(account_id)
    with pytest.raises(tweepy.Unauthorized):
        tweepy_client(fake_x, token="wrong").get_users_mentions(account_id)


def test_budget_runs_out_with_429_until_the_window_resets() -> None:
    with FakeXApi(limit=2, window=60) as fake:
        account_id = fake.add_account("dkijakarta")
        client = tweepy_client(fake)
        client.get_users_mentions(account_id)
        client.get_users_mentions(account_id)
        with pytest.raises(tweepy.TooManyRequests):
            client.get_users_mentions(account_id)


def test_unknown_username_answers_200_with_errors(fake_x: FakeXApi) -> None:
    body = tweepy_client(fake_x).get_user(username="tidak_ada")
    assert "data" not in body and body["errors"][0]["title"] == "Not Found Error"
