"""The API's moods: 429 waits (bounded, no spinning, stoppable), 401/403, 5xx, pacing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from connectors.errors import RateLimited
from connectors.twitter.client import RateLimitStatus
from connectors.twitter.pacing import RequestBudget
from kanal.spool import Spool
from tests.twitter.conftest import BEARER, BEARER_ENV, channel_state, spooled_tweet_ids
from tests.twitter.fake_x_api import Failure, FakeXApi
from tests.twitter.test_polling import REPO, seed, wait_for


def on_mentions(path: str, _query: dict[str, str]) -> bool:
    return path.endswith("/mentions")


def run_in_thread(runner) -> threading.Thread:
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    return thread


def test_a_429_waits_until_the_reset_without_spinning_then_resumes(
    fake_x: FakeXApi, spool: Spool, make_runner
) -> None:
    mentions = seed(fake_x, "dkijakarta", 3)
    reset = int(time.time()) + 6
    fake_x.fail_next(Failure(429, headers={"x-rate-limit-reset": str(reset), "x-rate-limit-remaining": "0"},
                             match=on_mentions))
    runner = make_runner(accounts=["dkijakarta"])
    thread = run_in_thread(runner)
    try:
        wait_for(lambda: len(spooled_tweet_ids(spool)) == 3, timeout=15)
        wait_for(lambda: channel_state(spool, "twitter-dkijakarta")["state"] == "running")
    finally:
        runner.stop.set()
        thread.join(5)
    calls = fake_x.mention_requests()
    assert [c.status for c in calls[:2]] == [429, 200], "the first request after the reset is answered"
    waited = calls[1].at - calls[0].at
    assert reset - calls[0].at - 0.1 <= waited <= reset - calls[0].at + 1.5, waited
    assert 4.0 <= waited <= 7.5
    assert sorted(spooled_tweet_ids(spool)) == sorted(mentions)


def test_stop_during_a_rate_limit_wait_returns_within_a_second(
    fake_x: FakeXApi, spool: Spool, make_runner
) -> None:
    fake_x.fail_next(Failure(429, headers={"x-rate-limit-reset": str(int(time.time()) + 120)}, match=on_mentions))
    runner = make_runner(accounts=["dkijakarta"])
    thread = run_in_thread(runner)
    wait_for(lambda: channel_state(spool, "twitter-dkijakarta").get("state") == "backing_off")
    assert "rate limited" in channel_state(spool, "twitter-dkijakarta")["detail"]
    time.sleep(0.3)
    assert len(fake_x.mention_requests()) == 1, "no request while waiting"
    started = time.monotonic()
    runner.stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1.0


def test_sigterm_to_kanal_run_during_a_rate_limit_wait_exits_within_a_second(
    fake_x: FakeXApi, tmp_path: Path
) -> None:
    fake_x.fail_next(Failure(429, headers={"x-rate-limit-reset": str(int(time.time()) + 120)}, match=on_mentions))
    config = tmp_path / "kanal.yaml"
    config.write_text(f"""
spool: {{path: {tmp_path / "spool.db"}}}
attachments: {{path: {tmp_path / "att"}}}
metrics: {{port: 0}}  # the default 8091 may be taken by another kanal run on the machine
log: {{level: info, format: json}}
channels:
  - name: twitter-dkijakarta
    type: twitter
    poll_interval: 15
    options:
      accounts: [dkijakarta]
      bearer_token: ${{{BEARER_ENV}}}
      api_base_url: {fake_x.url}
""")
    process = subprocess.Popen(
        [sys.executable, "-m", "kanal", "run", "--config", str(config)], cwd=REPO,
        env={**os.environ, BEARER_ENV: BEARER}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: fake_x.mention_requests() or process.poll() is not None, timeout=30)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        time.sleep(0.5)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(10)
        elapsed = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert elapsed < 1.0, elapsed
    assert len(fake_x.mention_requests()) == 1
    assert b"rate limited; waiting" in process.stderr.read() + process.stdout.read()


def test_refused_credentials_put_only_that_channel_in_auth_failed(fake_x: FakeXApi, spool: Spool, make_runner,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    mentions = seed(fake_x, "dkijakarta", 2)
    monkeypatch.setenv("KANAL_TEST_X_REVOKED", "revoked-token")
    refused = make_runner(bearer_token="${KANAL_TEST_X_REVOKED}", accounts=["dkijakarta"], name="twitter-revoked")
    healthy = make_runner(accounts=["dkijakarta"])
    threads = [run_in_thread(refused), run_in_thread(healthy)]
    try:
        wait_for(lambda: channel_state(spool, "twitter-revoked").get("state") == "auth_failed")
        wait_for(lambda: len(spooled_tweet_ids(spool)) == 2)
        state = channel_state(spool, "twitter-revoked")
        assert "401" in state["last_error"] and "retrying every 300s" in state["detail"]
        wait_for(lambda: channel_state(spool, "twitter-dkijakarta")["state"] == "running")
    finally:
        refused.stop.set()
        healthy.stop.set()
        for thread in threads:
            thread.join(5)
    assert sorted(spooled_tweet_ids(spool)) == sorted(mentions)


def test_a_403_is_an_auth_failure_too(fake_x: FakeXApi, spool: Spool, make_runner) -> None:
    fake_x.fail_next(Failure(403, match=on_mentions))
    runner = make_runner(accounts=["dkijakarta"])
    thread = run_in_thread(runner)
    try:
        wait_for(lambda: channel_state(spool, "twitter-dkijakarta").get("state") == "auth_failed")
    finally:
        runner.stop.set()
        thread.join(5)


def test_a_503_backs_off_with_jitter_and_recovers(fake_x: FakeXApi, spool: Spool, make_runner) -> None:
    mentions = seed(fake_x, "dkijakarta", 2)
    fake_x.fail_next(Failure(503, match=on_mentions))
    runner = make_runner(accounts=["dkijakarta"])
    thread = run_in_thread(runner)
    try:
        wait_for(lambda: len(spooled_tweet_ids(spool)) == 2, timeout=10)
    finally:
        runner.stop.set()
        thread.join(5)
    calls = fake_x.mention_requests()
    assert calls[0].status == 503 and calls[1].status == 200
    assert sorted(spooled_tweet_ids(spool)) == sorted(mentions)


def test_with_the_window_spent_no_request_is_sent_until_the_reset(spool: Spool, make_runner,
                                                                    fake_x: FakeXApi) -> None:
    fake_x.limit = 3
    seed(fake_x, "dkijakarta", 8)
    runner = make_runner(max_results=5)
    runner.poll_once()
    assert len(fake_x.mention_requests()) == 3
    with pytest.raises(RateLimited) as limited:
        runner.poll_once()
    assert len(fake_x.mention_requests()) == 3, "the spent budget is respected without asking for a 429"
    assert limited.value.retry_at == pytest.approx(fake_x.window_start + fake_x.window + 1, abs=1.5)


def test_pause_between_polls_spends_the_tier_budget_evenly(fake_x: FakeXApi, make_runner) -> None:
    seed(fake_x, "dkijakarta", 7)
    runner = make_runner(max_results=5, rate_limit={"requests": 15, "window_seconds": 900})
    runner.poll_once()
    # dkijakarta needed two pages, the governor's account one: 3 requests at 60 s each.
    assert runner.connector.next_poll_delay() == pytest.approx(180)


def test_budget_prefers_the_headers_when_they_show_less_left() -> None:
    budget = RequestBudget(requests=450, window_seconds=900, floor=15)
    assert budget.pause_after_poll(2, None, now=0) == 15
    assert budget.pause_after_poll(20, None, now=0) == 40
    tight = RateLimitStatus(limit=450, remaining=10, reset=600, observed_at=0)
    assert budget.pause_after_poll(2, tight, now=0) == pytest.approx(120)
    spent = RateLimitStatus(limit=450, remaining=0, reset=300, observed_at=0)
    assert budget.pause_after_poll(2, spent, now=0) == pytest.approx(301)
    assert budget.blocked_until(spent, now=0) == pytest.approx(301)
    assert budget.blocked_until(tight, now=0) is None
    assert budget.blocked_until(spent, now=400) is None


def test_kanal_status_shows_the_refused_channel_while_the_other_takes_mentions_in(
    fake_x: FakeXApi, tmp_path: Path
) -> None:
    mention = seed(fake_x, "dkijakarta", 1)[0]
    config = tmp_path / "kanal.yaml"
    channel = """
  - name: {name}
    type: twitter
    poll_interval: 15
    options:
      accounts: [dkijakarta]
      bearer_token: ${{{env}}}
      api_base_url: {url}"""
    config.write_text(f"""
spool: {{path: {tmp_path / "spool.db"}}}
attachments: {{path: {tmp_path / "att"}}}
metrics: {{port: 0}}  # the default 8091 may be taken by another kanal run on the machine
log: {{level: info, format: json}}
channels:{channel.format(name="twitter-dkijakarta", env=BEARER_ENV, url=fake_x.url)}
{channel.format(name="twitter-revoked", env="KANAL_TEST_X_REVOKED", url=fake_x.url)}
""")
    env = {**os.environ, BEARER_ENV: BEARER, "KANAL_TEST_X_REVOKED": "revoked-token"}
    process = subprocess.Popen([sys.executable, "-m", "kanal", "run", "--config", str(config)], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        def status() -> dict:
            out = subprocess.run([sys.executable, "-m", "kanal", "status", "--json", "--config", str(config)],
                                 cwd=REPO, env=env, capture_output=True, check=True, timeout=30)
            return {c["name"]: c for c in json.loads(out.stdout)["channels"]}

        wait_for(lambda: (tmp_path / "spool.db").exists() and status()["twitter-revoked"]["state"] == "auth_failed"
                 and status()["twitter-dkijakarta"]["accepted"] == 1, timeout=30)
        channels = status()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    refused = channels["twitter-revoked"]
    assert "401" in refused["last_error"] and refused["detail"] == "retrying every 300s"
    assert channels["twitter-dkijakarta"]["state"] == "running"
    assert channels["twitter-dkijakarta"]["checkpoint"]["accounts"]["dkijakarta"]["since_id"] == mention
    assert b"credentials refused" in process.stderr.read()


def test_a_reset_time_far_away_is_capped_at_one_hour(fake_x: FakeXApi, spool: Spool, make_runner) -> None:
    fake_x.fail_next(Failure(429, headers={"x-rate-limit-reset": str(int(time.time()) + 10 * 86400)},
                             match=on_mentions))
    runner = make_runner(accounts=["dkijakarta"])
    thread = run_in_thread(runner)
    try:
        wait_for(lambda: channel_state(spool, "twitter-dkijakarta").get("state") == "backing_off")
        assert channel_state(spool, "twitter-dkijakarta")["detail"] == "rate limited for 3600s"
    finally:
        runner.stop.set()
        thread.join(5)
    assert not thread.is_alive()
