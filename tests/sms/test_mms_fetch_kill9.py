"""kill -9 of a real ``kanal run`` while it downloads an MMS photo, then a restart: the
photo is downloaded again and completely once, and the complaint is published once,
complete, on the intake queue of the real RabbitMQ (all data made up)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from config.models import TopologyConfig
from tests.core.broker_kit import documented_broker, listen_port, queue_depth, read_queue, wait_for
from tests.core.fake_media import Answer, FakeMedia, jpeg
from tests.pipeline.kit import KanalProcess
from tests.sms.mms_kit import MEDIA, send_mms

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

SID = "SM0000000000000000000000000000kill"


def _config(tmp_path: Path, url: str, topology: TopologyConfig, port: int, media: FakeMedia) -> Path:
    config = {
        "spool": {"path": str(tmp_path / "spool.db")},
        "attachments": {"path": str(tmp_path / "attachments"), "fetch_ca_bundle": str(media.cert),  # type: ignore[attr-defined]
                        "fetch_hold_seconds": 120, "fetch_timeout_seconds": 30},
        "broker": {**documented_broker(url), "heartbeat": 5, "topology": topology.model_dump()},
        "webhooks": {"host": "127.0.0.1", "port": port, "threads": 2},
        "metrics": {"port": 0},  # the default 8091 may be taken by another kanal run on the machine
        "log": {"level": "info", "format": "json"},
        "channels": [{"name": "sms-1708", "type": "sms", "options": {
            "account": "1708", "backend": "twilio",
            "twilio": {"auth_token": "${KANAL_TEST_SMS_SECRET}", "media_base_url": media.base}}}],
    }
    path = tmp_path / "kanal.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def test_kill9_during_a_download_fetches_the_file_once_and_publishes_the_complaint_once(
    tmp_path: Path, media: FakeMedia, amqp_url: str, topology: TopologyConfig
) -> None:
    path = f"{MEDIA}/slow-kill9"
    # A photo of ~400 KB sent in 50 pieces over about 5 s: the kill lands mid-download.
    photo = jpeg(color="yellow") + b"\0" * 400_000
    media.answers[path] = Answer(photo, headers={"Content-Type": "image/jpeg"}, delay_per_chunk=0.1, chunks=50)
    port = listen_port()
    kanal = KanalProcess(["run", "--config", str(_config(tmp_path, amqp_url, topology, port, media))], {},
                         tmp_path / "kanal.log", health_url=f"http://127.0.0.1:{port}/healthz")
    kanal.start()
    try:
        send_mms(f"http://127.0.0.1:{port}/webhooks/sms-1708/twilio", SID, [(media.url(path), "image/jpeg")])
        wait_for(lambda: any(p == path for p, _ in media.requests), what="the download to start")
        kanal.kill9()
        assert path not in media.completed, "killed before the download completed"

        kanal.start()
        wait_for(lambda: queue_depth(amqp_url, topology.intake_queue) >= 1, timeout=60,
                 what="the complaint on the intake queue")
        assert kanal.terminate() == 0
    finally:
        kanal.kill9()
    messages = [m for m in read_queue(amqp_url, topology.intake_queue) if m.json["provider_message_id"].endswith(SID)]
    assert len(messages) == 1, "published once"
    [attachment] = messages[0].json["attachments"]
    digest = hashlib.sha256(photo).hexdigest()
    assert (attachment["sha256"], attachment["stored_ref"], attachment["size"]) == (
        digest, f"attachment:sha256:{digest}", len(photo))
    assert media.completed.count(path) == 1, "the file was downloaded completely once"
    assert sum(1 for p, _ in media.requests if p == path) == 2, "started twice: before the kill and after"
    assert (tmp_path / "attachments" / digest[:2] / digest[2:4] / digest).read_bytes() == photo
