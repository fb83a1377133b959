"""Polling LAPOR! and Qlue through the shipped example configs against local fakes:
pagination, the incremental cursor in the spool checkpoint, 429 + Retry-After, 5xx,
token expiry and refresh, auth failures, and records that do not map."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from connectors.errors import RateLimited
from connectors.runner import ChannelRunner
from kanal.spool import Spool
from tests.core.broker_kit import wait_for
from tests.http_json.conftest import lapor_block, qlue_block, spooled
from tests.http_json.fakes import FakeLapor, FakeQlue


def test_lapor_reports_arrive_once_across_429_5xx_and_restarts(spool: Spool, make_runner: Callable) -> None:
    with FakeLapor(page_size=7) as fake:
        for n in range(40):
            fake.add_report(n)
        fake.fail_next(503, path=FakeLapor.PATH)  # retried within the request
        runner = make_runner(lapor_block(fake), batch_size=5)
        runner.poll_once()
        assert len(spooled(spool)) == 40
        first = spool.load_checkpoint("lapor")
        assert first["cursor"].startswith("2026-03-02T08:00:39")

        for n in range(40, 75):
            fake.add_report(n)
        # Page 3 of the next poll is refused with 429: what came before stays, with its cursor.
        fake.fail_next(429, {"Retry-After": "1"}, path=FakeLapor.PATH, times=1)
        runner = make_runner(lapor_block(fake), batch_size=5)  # a restart: a new connector
        with pytest.raises(RateLimited) as limited:
            runner.poll_once()
        assert 0 <= limited.value.delay <= 1.5
        runner.poll_once()
        runner = make_runner(lapor_block(fake), batch_size=5)
        runner.poll_once()  # nothing new: the cursor is in the spool

    ids = [c["provider_message_id"] for c in spooled(spool)]
    assert sorted(ids) == [str(500000 + n) for n in range(75)]
    sent = [q.get("updated_since") for q in fake.page_requests(FakeLapor.PATH) if q.get("page", "1") == "1"]
    assert sent[0] is None and sent[-1] == "2026-03-02 07:51:14"  # 08:01:14 minus the 10 min look-back


def test_lapor_record_maps_every_field(spool: Spool, make_runner: Callable) -> None:
    with FakeLapor() as fake:
        fake.add_report(7)
        make_runner(lapor_block(fake)).poll_once()
    [complaint] = spooled(spool)
    assert complaint["channel"] == {"type": "http_json", "name": "lapor", "account": "lapor.go.id"}
    assert complaint["requested_datetime"] == "2026-03-02T07:00:07+07:00"
    assert complaint["title"] == "Jalan berlubang nomor 7"
    assert complaint["reporter"]["phone"] == "+6281200001234"
    assert complaint["service_code"] == "Jalan Rusak"
    assert complaint["location"]["kelurahan"] == "Gambir" and complaint["location"]["method"] == "text"
    assert complaint["attachments"][0]["url"] == "https://lapor.example/berkas/7.jpg"
    assert complaint["url"] == "https://www.lapor.go.id/laporan/detil/500007"
    assert complaint["flags"] == ["rahasia"]


def test_lapor_statuses_not_for_us_are_dropped_and_bad_records_quarantined(spool: Spool,
                                                                           make_runner: Callable) -> None:
    with FakeLapor() as fake:
        fake.add_report(0)
        fake.add_report(1, status_name="Selesai")
        fake.add_report(2, created_at="kemarin sore")
        fake.add_report(3, id=None)
        fake.add_report(4, content="", title=None)
        make_runner(lapor_block(fake)).poll_once()
    assert [c["provider_message_id"] for c in spooled(spool)] == ["500000"]
    assert spool.counters("lapor")["dropped.status:Selesai"] == 1
    reasons = sorted(e.error for e in spool.quarantined("lapor"))
    assert len(reasons) == 3
    assert "mapping.created" in reasons[0] and "kemarin sore" in reasons[0]
    assert "mapping.description" in reasons[1]
    assert "mapping.provider_id" in reasons[2]
    assert all(e.payload.startswith(b"{") for e in spool.quarantined("lapor"))


def test_wrong_lapor_token_puts_the_channel_in_auth_failed(spool: Spool, make_runner: Callable,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KANAL_LAPOR_TOKEN", "a-wrong-token")
    stop = threading.Event()
    with FakeLapor() as fake:
        fake.add_report(0)
        runner = make_runner(lapor_block(fake), stop=stop)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        try:
            wait_for(lambda: (spool.channel_status("lapor") or {}).get("state") == "auth_failed", timeout=10,
                     what="state auth_failed")
        finally:
            stop.set()
            thread.join(10)
    assert "HTTP 401" in spool.channel_status("lapor")["last_error"]
    assert spooled(spool) == []


def test_qlue_token_expiry_and_revocation_are_refreshed_and_5xx_retried(spool: Spool,
                                                                       make_runner: Callable) -> None:
    with FakeQlue(token_seconds=0.6, page_size=4) as fake:
        for n in range(30):
            fake.add_report(n)
        fake.page_delay = 0.05
        block = qlue_block(fake)
        block["options"]["pull"]["pagination"]["page_size"] = 4
        block["options"]["pull"]["auth"]["refresh_margin_seconds"] = 0
        runner = make_runner(block, batch_size=3)
        fake.fail_next(502, path="/v1/reports", times=2)
        runner.poll_once()
        assert fake.tokens_issued >= 2, "the short-lived token was renewed while paging"
        fake.revoke_tokens()
        for n in range(30, 36):
            fake.add_report(n)
        issued = fake.tokens_issued
        runner.poll_once()
        assert fake.tokens_issued == issued + 1, "a revoked token gets one fresh token, then the poll goes on"
    ids = [c["provider_message_id"] for c in spooled(spool)]
    assert sorted(ids, key=int) == [str(9000 + n) for n in range(36)]
    assert spool.load_checkpoint("qlue")["cursor"] == 9035
    since = {q.get("since_id") for q in fake.page_requests("/v1/reports")}
    assert "9029" in since, "the second poll asked only for what is new"


def test_qlue_location_zero_zero_means_none_and_http_photos_are_not_kept(spool: Spool,
                                                                         make_runner: Callable) -> None:
    with FakeQlue() as fake:
        fake.add_report(0, loc_lat=0, loc_lng=0, post_images=["http://qlue.example/foto/0.jpg"])
        fake.add_report(1)
        make_runner(qlue_block(fake)).poll_once()
    first, second = spooled(spool)
    assert first["location"]["lat"] is None and first["location"]["method"] == "none"
    assert first["attachments"] == [{"filename": "0.jpg", "content_type": "image/jpeg", "size": None,
                                     "sha256": None, "stored_ref": None, "url": None,
                                     "omitted_reason": "not_https"}]
    assert second["location"]["method"] == "gps" and second["attachments"][0]["omitted_reason"] == "reference_only"
    assert second["requested_datetime"] == "2026-03-02T08:01:00+07:00"


def test_budget_stops_a_poll_before_the_partner_has_to(spool: Spool, make_runner: Callable) -> None:
    with FakeLapor(page_size=2) as fake:
        for n in range(10):
            fake.add_report(n)
        block = lapor_block(fake)
        block["options"]["pull"]["budget"] = {"requests": 3, "window_seconds": 3600}
        runner: ChannelRunner = make_runner(block)
        with pytest.raises(RateLimited) as limited:
            runner.poll_once()
    assert len(fake.requests) == 3
    assert limited.value.delay > 3000
    assert len(spooled(spool)) == 6, "the three pages read are kept, with their cursor"
