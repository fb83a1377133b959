"""``kanal run``'s operations listener in the embedded mode: metrics that move as
complaints pass and fail, and the health and readiness probes.

A real ``KanalProcess`` (the object ``kanal run`` runs) with a walk-in channel taking
JSON over HTTP and a drop folder; the metrics are scraped over HTTP and parsed with
prometheus_client's parser, as Prometheus would read them.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import requests

from config.loader import load_config
from connectors.registry import options_model
from kanal.app import KanalProcess
from tests.core.broker_kit import desk_payload, wait_for
from tests.ops.kit import scrape

TOKEN = "made-up-desk-token-for-the-ops-tests"
CHANNEL = "walkin-ops"
PHONE = "081200001234"  # the made-up phone number desk_payload writes


def write_config(tmp_path: Path, **metrics: object) -> Path:
    """An embedded-mode config with one walk-in channel (HTTP and a drop folder); ports 0."""
    config = {
        "spool": {"path": str(tmp_path / "spool.db")},
        "attachments": {"path": str(tmp_path / "attachments")},
        "webhooks": {"host": "127.0.0.1", "port": 0, "threads": 2},
        "metrics": {"port": 0, **metrics},
        "channels": [{
            "name": CHANNEL, "type": "walkin", "poll_interval": 0.1,
            "options": {"desk": "Balai Kota", "inbox": str(tmp_path / "inbox"), "done": str(tmp_path / "done"),
                        "token": "${KANAL_TEST_OPS_TOKEN}"},
        }],
    }
    path = tmp_path / "kanal.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


@pytest.fixture(name="kanal")
def _kanal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KanalProcess]:
    """A started ``kanal run`` process (embedded default), stopped afterwards."""
    monkeypatch.setenv("KANAL_TEST_OPS_TOKEN", TOKEN)
    (tmp_path / "inbox").mkdir()
    process = KanalProcess(load_config(write_config(tmp_path), options_model))
    process.start()
    try:
        yield process
    finally:
        process.stop(drain_seconds=1)


def ops_url(process: KanalProcess) -> str:
    """Base URL of the process's operations listener."""
    assert process.ops_server is not None
    return process.ops_server.url


def post(process: KanalProcess, body: bytes, token: str = TOKEN) -> requests.Response:
    """POST a desk payload to the walk-in channel's webhook."""
    return requests.post(f"{process.webhook_server.url}/webhooks/{CHANNEL}", data=body, timeout=10,
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})


class TestRunMetrics:
    def test_counters_move_as_complaints_pass_and_fail(self, kanal: KanalProcess) -> None:
        base = ops_url(kanal)
        wait_for(lambda: scrape(base).value("kanal_channel_state", channel=CHANNEL, state="running") == 1,
                 timeout=10, what="the channel to be running")
        before = scrape(base)
        assert before.value("kanal_channel_messages_taken_total", channel=CHANNEL) == 0
        assert before.value("kanal_channel_state", channel=CHANNEL, state="starting") == 0
        assert before.value("kanal_channel_state", channel=CHANNEL, state="auth_failed") == 0

        for ref in ("OPS-1", "OPS-2", "OPS-3"):
            assert post(kanal, desk_payload(ref)).status_code == 202
        assert post(kanal, desk_payload("OPS-1")).ok  # the same complaint again
        poison = post(kanal, b'{"id": "OPS-BAD", not json')  # quarantined, never a 5xx
        assert poison.status_code < 500
        assert post(kanal, desk_payload("OPS-4"), token="wrong").status_code in (401, 403)
        (Path(kanal.loaded.kanal.spool.path).parent / "inbox" / "OPS-5.json").write_bytes(desk_payload("OPS-5"))
        wait_for(lambda: scrape(base).value("kanal_channel_messages_taken_total", channel=CHANNEL) == 4,
                 timeout=20, what="four complaints counted as taken")

        after = scrape(base)
        assert after.value("kanal_channel_duplicates_total", channel=CHANNEL) == 1
        assert after.value("kanal_channel_quarantined_total", channel=CHANNEL) == 1
        assert after.value("kanal_spool_quarantine_open", channel=CHANNEL) == 1
        assert after.value("kanal_webhook_forbidden_total", channel=CHANNEL) == 1
        assert after.total("kanal_webhook_requests_total", channel=CHANNEL, status="202") == 4  # duplicate too
        assert after.total("kanal_webhook_requests_total", channel=CHANNEL, status=str(poison.status_code)) >= 1
        assert after.total("kanal_webhook_requests_total", channel=CHANNEL) == 6
        assert after.total("kanal_webhook_request_duration_seconds_count", channel=CHANNEL) == 6
        assert after.total("kanal_channel_poll_duration_seconds_count", channel=CHANNEL) >= 1
        assert after.value("kanal_channel_last_success_timestamp_seconds", channel=CHANNEL) > time.time() - 60
        newest = after.value("kanal_channel_newest_item_timestamp_seconds", channel=CHANNEL)
        assert newest is not None and newest < time.time()
        assert after.value("kanal_spool_file_size_bytes") > 0
        assert after.value("kanal_spool_waiting_complaints") is not None
        assert after.value("kanal_spool_oldest_waiting_age_seconds") >= 0
        assert after.content_type.startswith("text/plain")

    def test_the_attachment_store_size_is_exported(self, kanal: KanalProcess, tmp_path: Path) -> None:
        photo = b"\xff\xd8\xff\xe0" + b"x" * 5000
        digest = hashlib.sha256(photo).hexdigest()
        stored = tmp_path / "attachments" / digest[:2] / digest[2:4] / digest
        stored.parent.mkdir(parents=True)
        stored.write_bytes(photo)
        (stored.parent / "not-a-stored-file.tmp").write_bytes(b"partial download")

        figures = scrape(ops_url(kanal))
        assert figures.value("kanal_attachment_store_files") == 1
        assert figures.value("kanal_attachment_store_size_bytes") == len(photo)
        assert figures.families["kanal_attachment_store_size_bytes"].type == "gauge"

    def test_source_lag_and_ack_counters_are_exported(self, kanal: KanalProcess) -> None:
        base = ops_url(kanal)
        before = scrape(base)
        assert before.value("kanal_channel_acks_sent_total", channel=CHANNEL) == 0
        assert before.value("kanal_channel_acks_failed_total", channel=CHANNEL) == 0
        assert before.value("kanal_channel_source_lag_seconds", channel=CHANNEL) is None  # nothing seen yet

        assert post(kanal, desk_payload("OPS-LAG")).status_code == 202
        # What the ack sender's outbox counts, in its own transactions (kanal/ack_outbox.py).
        kanal.spool.count(CHANNEL, "ack.sent", 2)
        kanal.spool.count(CHANNEL, "ack.failed")

        after = scrape(base)
        assert after.value("kanal_channel_acks_sent_total", channel=CHANNEL) == 2
        assert after.value("kanal_channel_acks_failed_total", channel=CHANNEL) == 1
        # desk_payload's submitted_at, the source time of the item.
        submitted = datetime.fromisoformat("2026-11-27T09:15:00+07:00").timestamp()
        assert after.value("kanal_channel_newest_item_timestamp_seconds", channel=CHANNEL) == submitted
        lag = after.value("kanal_channel_source_lag_seconds", channel=CHANNEL)
        assert lag is not None and abs((time.time() - submitted) - lag) < 30
        assert after.families["kanal_channel_source_lag_seconds"].type == "gauge"
        assert after.families["kanal_spool_file_size_bytes"].type == "gauge"

    def test_names_follow_the_conventions_and_labels_carry_no_personal_data(self, kanal: KanalProcess) -> None:
        assert post(kanal, desk_payload("OPS-PII", "Pak Budi di 081200001234 melapor jalan rusak")).ok
        found = scrape(ops_url(kanal))
        ours = [f for f in found.families.values() if not f.name.startswith(("process_", "python_"))]
        assert ours and all(f.name.startswith("kanal_") for f in ours)
        for family in ours:
            if family.type == "counter":
                assert all(s.name.endswith(("_total", "_created")) for s in family.samples), family.name
        values = found.label_values()
        assert not any(PHONE in v or "Budi" in v or "OPS-PII" in v for v in values), values


class TestProbes:
    def test_healthz_and_readyz_answer_on_both_listeners(self, kanal: KanalProcess) -> None:
        for base in (ops_url(kanal), kanal.webhook_server.url):
            health = requests.get(f"{base}/healthz", timeout=5)
            ready = requests.get(f"{base}/readyz", timeout=5)
            assert health.status_code == 200 and health.json()["status"] == "ok"
            assert ready.status_code == 200 and ready.json()["status"] == "ok"

    def test_a_dead_thread_fails_healthz_and_readyz(self, kanal: KanalProcess) -> None:
        def broken() -> None:
            raise RuntimeError("injected: a bug in a thread")

        kanal.supervisor.spawn("kanal-injected", broken)
        wait_for(lambda: requests.get(f"{ops_url(kanal)}/healthz", timeout=5).status_code == 503, timeout=10,
                 what="/healthz to fail")
        report = requests.get(f"{ops_url(kanal)}/readyz", timeout=5)
        assert report.status_code == 503 and "process failed" in report.json()["reasons"]
        assert kanal.stop_requested.is_set()

    def test_metrics_can_be_turned_off(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("KANAL_TEST_OPS_TOKEN", TOKEN)
        process = KanalProcess(load_config(write_config(tmp_path, enabled=False), options_model))
        process.start()
        try:
            assert process.ops_server is None and process.metrics is None
            assert requests.get(f"{process.webhook_server.url}/readyz", timeout=5).ok
        finally:
            process.stop(drain_seconds=1)


class TestSystemdNotify:
    def test_ready_watchdog_and_stopping_reach_the_notify_socket(self, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
        address = str(tmp_path / "notify.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(address)
        listener.settimeout(10)
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        monkeypatch.setenv("WATCHDOG_USEC", "200000")  # WatchdogSec=0.2: a ping every 0.1 s
        monkeypatch.setenv("KANAL_TEST_OPS_TOKEN", TOKEN)
        process = KanalProcess(load_config(write_config(tmp_path), options_model))
        process.start()
        try:
            received = [listener.recv(4096).decode() for _ in range(3)]
        finally:
            process.stop(drain_seconds=1)
        messages = received + _drain(listener)
        listener.close()
        assert "READY=1" in "\n".join(messages).split("\n")
        assert sum(m == "WATCHDOG=1" for m in messages) >= 2
        assert "STOPPING=1" in messages


def _drain(sock: socket.socket) -> list[str]:
    """Every datagram already waiting on ``sock``."""
    sock.setblocking(False)
    found = []
    while True:
        try:
            found.append(sock.recv(4096).decode())
        except BlockingIOError:
            return found
