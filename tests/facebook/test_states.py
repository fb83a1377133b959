"""Dead tokens and throttling: channel states, paced polls, and the other channels unaffected."""

from __future__ import annotations

import json
import threading
import time

import pytest
from structlog.testing import capture_logs

from connectors.errors import RateLimited
from connectors.runner import ChannelRunner
from tests.facebook.conftest import by_message_id, make_connector, make_options, status, wait_for
from tests.facebook.fake_graph_api import FakeGraphAPI

CITIZEN = ("5550001", "Siti Warga")


def run_in_thread(runner: ChannelRunner) -> threading.Thread:
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    return thread


def _in_state(spool, channel: str, state: str) -> dict | None:
    row = status(spool, channel)
    return row if row.get("state") == state else None


@pytest.fixture
def governor_graph():
    """A second Page (the governor's), served by its own fake."""
    fake = FakeGraphAPI(page_id="100000000000002", token="EAAgovernortoken", page_name="Gubernur (test)").start()
    yield fake
    fake.stop()


def test_error_190_needs_reauthorisation_without_a_crash_loop_while_other_channels_run(
    graph, governor_graph, spool, attachments, secrets_env, monkeypatch
):
    monkeypatch.setenv("KANAL_TEST_FB_GOV_TOKEN", governor_graph.token)
    graph.add_post("Jalan rusak", time.time() - 60, CITIZEN)
    graph.token = "EAArotatedbymeta"  # the configured token is no longer valid: 190/463
    governor_graph.add_post("Banjir di Kel. Kapuk", time.time() - 60, CITIZEN)
    stop = threading.Event()
    dead = ChannelRunner(make_connector(make_options(graph), poll_interval=0.05), spool, attachments, stop=stop)
    alive = ChannelRunner(
        make_connector(make_options(governor_graph, page_access_token="${KANAL_TEST_FB_GOV_TOKEN}"),
                       name="facebook-gubernur", poll_interval=0.05),
        spool, attachments, stop=stop)

    with capture_logs() as logs:
        threads = [run_in_thread(dead), run_in_thread(alive)]
        try:
            dead_status = wait_for(lambda: _in_state(spool, dead.name, "needs_reauthorisation"))
            wait_for(lambda: len(by_message_id(spool)) == 1)
            later = governor_graph.add_post("Sampah di Kali Ciliwung", time.time(), CITIZEN)
            wait_for(lambda: later in by_message_id(spool))  # the governor's channel keeps polling
            time.sleep(0.3)  # many poll intervals of the dead channel
        finally:
            stop.set()
            for thread in threads:
                thread.join(5)

    assert "190" in dead_status["last_error"] and "463" in dead_status["last_error"]
    assert "re-authorise" in dead_status["detail"]
    assert len(graph.requests) == 1  # one refused call, then it waits for a person, no crash loop
    assert len(governor_graph.requests) > 3
    assert all(not t.is_alive() for t in threads)
    assert any(e["event"].startswith("token revoked or expired") and e.get("channel") == dead.name for e in logs)
    assert all(graph.token not in json.dumps(e, default=str) for e in logs)


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80001])
def test_throttling_error_pauses_the_channel(graph, connector, spool, attachments, code):
    graph.add_post("Jalan rusak", time.time() - 60, CITIZEN)
    graph.fail(code, message=f"(#{code}) Application request limit reached", path_contains="/feed")
    runner = ChannelRunner(connector, spool, attachments)

    with pytest.raises(RateLimited) as caught:
        runner.poll_once()
    calls = len(graph.requests)
    with pytest.raises(RateLimited):
        runner.poll_once()  # still paused: the API is not asked again

    assert len(graph.requests) == calls
    assert 55 < caught.value.delay <= 60  # throttle_wait_seconds, as Meta gave no time
    assert connector.next_poll_delay() > 55
    assert spool.load_checkpoint(runner.name) is None


class Clock:
    """The usage tracker's clock, moved by the test instead of by sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("header", ["X-Business-Use-Case-Usage", "X-Page-Usage", "X-App-Usage"])
def test_a_burst_of_throttles_waits_what_meta_says_and_no_longer(graph, connector, spool, attachments, header):
    clock = connector.usage.clock = Clock()
    graph.add_post("Jalan rusak", time.time() - 60, CITIZEN)
    usage = {"call_count": 100, "total_cputime": 10, "total_time": 12}
    if header != "X-App-Usage":  # X-App-Usage names no time: the short default applies
        usage["estimated_time_to_regain_access"] = 2
    graph.usage_headers = {header: json.dumps({graph.page_id: [usage]} if header.startswith("X-B") else usage)}
    runner = ChannelRunner(connector, spool, attachments)

    waits = []
    for _ in range(5):
        graph.fail(80001, message="There have been too many calls to this Page account.")
        with pytest.raises(RateLimited) as caught:
            runner.poll_once()
        waits.append(caught.value.retry_at - clock.now)
        clock.now = caught.value.retry_at  # the runner waits exactly that long

    expected = 60 if header == "X-App-Usage" else 120
    assert waits == [pytest.approx(expected, abs=1)] * 5
    assert len(graph.requests) == 5, "one refused call per wait, none while blocked"


def test_a_regain_time_counts_from_when_meta_gave_it(graph, connector, spool, attachments):
    clock = connector.usage.clock = Clock()
    graph.usage_headers = {"X-Business-Use-Case-Usage": json.dumps({graph.page_id: [
        {"type": "pages", "call_count": 99, "total_cputime": 10, "total_time": 12,
         "estimated_time_to_regain_access": 5}]})}
    runner = ChannelRunner(connector, spool, attachments)
    with pytest.raises(RateLimited):
        runner.poll_once()  # Meta says five minutes: the poll stops at once
    clock.now += 4 * 60
    graph.usage_headers = {}
    graph.fail(4, message="(#4) Application request limit reached")
    clock.now += 60  # the block is over; the next answer is a throttle without headers
    with pytest.raises(RateLimited) as caught:
        runner.poll_once()
    assert caught.value.retry_at - clock.now == pytest.approx(60, abs=1)  # not another five minutes


def test_an_unreadable_usage_header_is_logged_once_by_name_and_the_poll_goes_on(graph, connector, spool, attachments):
    graph.add_post("Jalan rusak", time.time() - 60, CITIZEN)
    graph.usage_headers = {"X-Business-Use-Case-Usage": '{"' + graph.page_id + '": [{"call_count": 9'}
    runner = ChannelRunner(connector, spool, attachments)
    with capture_logs() as logs:
        runner.poll_once()
        runner.poll_once()
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [(e["event"], e["header"]) for e in warnings] == [
        ("unreadable Graph API usage header ignored", "X-Business-Use-Case-Usage")]
    assert graph.page_id not in json.dumps(warnings)
    assert len(by_message_id(spool)) == 1


def test_throttling_error_uses_metas_estimated_time_to_regain_access(graph, connector, spool, attachments):
    graph.usage_headers = {"X-Business-Use-Case-Usage": json.dumps({graph.page_id: [
        {"type": "pages", "call_count": 96, "total_cputime": 10, "total_time": 12,
         "estimated_time_to_regain_access": 0}]})}
    graph.add_post("Jalan rusak", time.time() - 60, CITIZEN)
    runner = ChannelRunner(connector, spool, attachments)
    runner.poll_once()

    graph.usage_headers = {"X-Business-Use-Case-Usage": json.dumps({graph.page_id: [
        {"type": "pages", "call_count": 100, "total_cputime": 10, "total_time": 12,
         "estimated_time_to_regain_access": 3}]})}
    graph.fail(80001, message="There have been too many calls to this Page account.")
    with pytest.raises(RateLimited) as caught:
        runner.poll_once()
    assert 170 < caught.value.delay <= 180


def test_usage_header_at_100_percent_stops_the_poll_until_access_is_regained(graph, connector, spool, attachments):
    graph.add_post("Jalan rusak", time.time() - 60, CITIZEN)
    graph.add_message("7770001", "Siti", "Lapor", time.time() - 30)
    graph.usage_headers = {"X-App-Usage": json.dumps({"call_count": 100, "total_cputime": 40, "total_time": 55})}
    runner = ChannelRunner(connector, spool, attachments)

    with pytest.raises(RateLimited):
        runner.poll_once()  # the first answer says 100 %: no further call this poll
    calls = len(graph.requests)

    assert calls == 1
    assert 590 < connector.next_poll_delay() <= 600
    with pytest.raises(RateLimited):
        runner.poll_once()
    assert len(graph.requests) == calls


def test_high_usage_spaces_the_polls_out(graph, connector, spool, attachments):
    graph.usage_headers = {"X-App-Usage": json.dumps({"call_count": 90, "total_cputime": 5, "total_time": 8})}
    runner = ChannelRunner(connector, spool, attachments)
    assert connector.next_poll_delay() == 60

    runner.poll_once()

    # 75 % starts the slow-down, 100 % would be 10x: 90 % gives 1 + 0.6 * 9 = 6.4x
    assert connector.next_poll_delay() == pytest.approx(60 * 6.4)


def test_runner_reports_backing_off_and_stops_calling_while_throttled(graph, spool, attachments, secrets_env):
    graph.fail(32, message="(#32) Page request limit reached")
    runner = ChannelRunner(make_connector(make_options(graph), poll_interval=0.02), spool, attachments)
    thread = run_in_thread(runner)
    try:
        wait_for(lambda: status(spool, runner.name).get("state") == "backing_off")
        time.sleep(0.3)
    finally:
        runner.stop.set()
        thread.join(5)
    assert len(graph.requests) == 1
    assert "32" in status(spool, runner.name)["last_error"]


def test_webhooks_keep_taking_complaints_while_the_token_needs_reauthorisation(graph, runner, hook, spool):
    graph.token = "EAArotatedbymeta"
    thread = run_in_thread(runner)
    try:
        wait_for(lambda: _in_state(spool, runner.name, "needs_reauthorisation"))
        body = {"object": "page", "entry": [{"id": graph.page_id, "time": 1795773600000, "messaging": [
            {"sender": {"id": "7770001"}, "recipient": {"id": graph.page_id}, "timestamp": 1795773600000,
             "message": {"mid": "m_DURING_190", "text": "Lampu PJU mati di Jl. Contoh"}}]}]}
        assert hook.post(body).status_code == 200
    finally:
        runner.stop.set()
        thread.join(5)
    assert "m_DURING_190" in by_message_id(spool)
