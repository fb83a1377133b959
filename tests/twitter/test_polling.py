"""Polling mentions with the real tweepy against the fake: paging, the cursor, crashes, gaps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import structlog

from connectors.errors import TransientError
from connectors.twitter.client import AccountUnavailable
from connectors.twitter.cursor import snowflake_time
from kanal.spool import Spool
from tests.twitter.conftest import BEARER, BEARER_ENV, make_connector, spooled, spooled_tweet_ids
from tests.twitter.fake_x_api import Failure, FakeXApi

REPO = Path(__file__).resolve().parents[2]


def seed(fake: FakeXApi, account: str, count: int) -> list[str]:
    """``count`` mentions of ``account`` by made-up citizens; their ids, oldest first."""
    return [fake.mention(account, fake.add_user(f"warga_{account[:3]}_{i}"))["id"] for i in range(count)]


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not met in time")
        time.sleep(0.02)


def test_two_accounts_three_pages_each_crash_in_page_two_then_restart_takes_each_mention_once(
    fake_x: FakeXApi, spool: Spool, make_runner
) -> None:
    expected = seed(fake_x, "dkijakarta", 15) + seed(fake_x, "gubernur_contoh", 15)
    governor_id = fake_x.accounts["gubernur_contoh"]["id"]
    stall = threading.Event()
    fake_x.fail_next(Failure(cut=True, stall=stall, match=lambda path, query: (
        governor_id in path and "pagination_token" in query)))
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.twitter.poll_child", str(spool.path), fake_x.url, "3"],
        cwd=REPO, env={**os.environ, BEARER_ENV: BEARER}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        # The child is in the middle of the governor's second page: half the body is on the wire.
        wait_for(lambda: any(governor_id in r.path and "pagination_token" in r.query
                             for r in fake_x.mention_requests()), timeout=20)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        stall.set()
        if child.poll() is None:
            child.kill()
    taken_before_crash = spooled_tweet_ids(spool)
    assert 15 < len(taken_before_crash) < 30, "the crash must come after some commits and before the end"
    checkpoint = spool.load_checkpoint("twitter-dkijakarta")
    assert checkpoint["accounts"]["dkijakarta"]["since_id"] == expected[14]
    assert checkpoint["accounts"]["gubernur_contoh"]["since_id"] != expected[-1]

    arrived_meanwhile = seed(fake_x, "dkijakarta", 2) + seed(fake_x, "gubernur_contoh", 2)
    runner = make_runner(batch_size=3, max_results=5)
    runner.poll_once()

    ids = spooled_tweet_ids(spool)
    assert sorted(ids) == sorted(expected + arrived_meanwhile)
    assert len(ids) == len(set(ids))
    final = spool.load_checkpoint("twitter-dkijakarta")["accounts"]
    assert final["dkijakarta"]["since_id"] == arrived_meanwhile[1]
    assert final["gubernur_contoh"]["since_id"] == arrived_meanwhile[3]
    assert final["gubernur_contoh"]["pending_newest"] is None


def test_a_cut_connection_keeps_earlier_pages_and_the_next_poll_resumes_below_them(
    fake_x: FakeXApi, spool: Spool, make_runner
) -> None:
    expected = seed(fake_x, "dkijakarta", 14)
    account_id = fake_x.accounts["dkijakarta"]["id"]
    third_page = lambda path, query: account_id in path and query.get("pagination_token") == "MTA="
    fake_x.fail_next(Failure(cut=True, match=third_page))
    runner = make_runner(max_results=5, accounts=["dkijakarta"])
    with pytest.raises(TransientError):
        runner.poll_once()

    cursor = spool.load_checkpoint("twitter-dkijakarta")["accounts"]["dkijakarta"]
    assert cursor["pending_newest"] == expected[-1]
    assert cursor["pending_until"] == expected[4], "resume below the oldest mention already durable"
    assert cursor["since_id"] not in expected, "since_id moves only with the last page"
    assert sorted(spooled_tweet_ids(spool)) == sorted(expected[4:])

    runner.poll_once()
    resumed = fake_x.mention_requests()[3]
    assert resumed.query["until_id"] == expected[4] and "pagination_token" not in resumed.query
    assert sorted(spooled_tweet_ids(spool)) == sorted(expected)
    cursor = spool.load_checkpoint("twitter-dkijakarta")["accounts"]["dkijakarta"]
    assert cursor == {"user_id": account_id, "since_id": expected[-1], "pending_newest": None,
                      "pending_until": None, "pending_count": 0}


def test_the_next_poll_asks_since_the_newest_id_and_takes_only_new_mentions(
    fake_x: FakeXApi, spool: Spool, make_runner
) -> None:
    first = seed(fake_x, "dkijakarta", 3)
    runner = make_runner()
    assert runner.poll_once() == 3
    later = seed(fake_x, "dkijakarta", 2)
    requests_before = len(fake_x.mention_requests())
    assert runner.poll_once() == 2
    polled = fake_x.mention_requests()[requests_before:]
    assert next(r.query["since_id"] for r in polled) == first[-1]
    assert len(polled) == 2, "one request per account when everything fits a page"
    assert sorted(spooled_tweet_ids(spool)) == sorted(first + later)
    assert runner.poll_once() == 0
    lookups = [r for r in fake_x.requests if "/by/username/" in r.path]
    assert len(lookups) == 2, "each account's user id is looked up once"


def test_a_tweet_mentioning_both_accounts_is_one_complaint(fake_x: FakeXApi, spool: Spool, make_runner) -> None:
    citizen = fake_x.add_user("warga_ganda")
    tweet = fake_x.mention("dkijakarta", citizen, "@dkijakarta @gubernur_contoh banjir di Kampung Contoh")
    fake_x.mention_in(["gubernur_contoh"], tweet)
    make_runner().poll_once()
    assert spooled_tweet_ids(spool) == [tweet["id"]]
    assert spooled(spool)[0]["channel"]["account"] == "@dkijakarta"


def test_first_poll_takes_only_the_backfill_window(fake_x: FakeXApi, spool: Spool, make_runner) -> None:
    citizen = fake_x.add_user("warga_lama")
    fake_x._clock = time.time() - 3 * 86400
    old = fake_x.mention("dkijakarta", citizen)
    fake_x._clock = time.time() - 600
    recent = fake_x.mention("dkijakarta", citizen)
    make_runner(backfill_hours=24, accounts=["dkijakarta"]).poll_once()
    assert spooled_tweet_ids(spool) == [recent["id"]]
    assert old["id"] not in spooled_tweet_ids(spool)


def test_reaching_the_800_mention_limit_logs_the_possible_gap_once(fake_x: FakeXApi, spool: Spool) -> None:
    from connectors.attachments import LocalAttachmentStore
    from connectors.runner import ChannelRunner

    fake_x.reach_back = 12
    seed(fake_x, "dkijakarta", 1)
    with structlog.testing.capture_logs() as logs:
        connector = make_connector(fake_x.url, accounts=["dkijakarta"], reach_back_limit=12, max_results=5)
        runner = ChannelRunner(connector, spool, LocalAttachmentStore(spool.path.parent / "att"))
        runner.poll_once()
        since = spool.load_checkpoint("twitter-dkijakarta")["accounts"]["dkijakarta"]["since_id"]
        outage = seed(fake_x, "dkijakarta", 20)
        runner.poll_once()
        runner.poll_once()
    gaps = [e for e in logs if e["event"].startswith("possible gap")]
    assert len(gaps) == 1
    assert gaps[0]["account"] == "@dkijakarta" and gaps[0]["mentions_read"] == 12
    assert gaps[0]["gap_from"] == snowflake_time(since).isoformat()
    assert gaps[0]["gap_to"] == snowflake_time(outage[8]).isoformat()
    assert sorted(spooled_tweet_ids(spool))[-12:] == sorted(outage[8:])


def test_a_page_of_only_unavailable_mentions_does_not_end_the_poll(
    fake_x: FakeXApi, spool: Spool, make_runner
) -> None:
    older = seed(fake_x, "dkijakarta", 3)
    gone = [fake_x.unavailable("dkijakarta", "deleted") for _ in range(5)]
    make_runner(max_results=5, accounts=["dkijakarta"]).poll_once()
    assert sorted(spooled_tweet_ids(spool)) == sorted(older)
    cursor = spool.load_checkpoint("twitter-dkijakarta")["accounts"]["dkijakarta"]
    assert cursor["since_id"] == gone[-1]


def test_an_unreadable_account_is_reported_without_holding_up_the_others(
    fake_x: FakeXApi, spool: Spool, make_runner
) -> None:
    taken = seed(fake_x, "dkijakarta", 3)
    runner = make_runner(accounts=["akun_hilang", "dkijakarta"])
    with pytest.raises(AccountUnavailable, match="@akun_hilang"):
        runner.poll_once()
    assert sorted(spooled_tweet_ids(spool)) == sorted(taken)
    checkpoint = spool.load_checkpoint("twitter-dkijakarta")["accounts"]
    assert checkpoint["dkijakarta"]["since_id"] == taken[-1] and "akun_hilang" not in checkpoint
