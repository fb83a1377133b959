"""A third source defined only in this test's YAML (no Python for it): a made-up kelurahan
form feed, polled newest-first with Link-header paging and pushed with an HMAC over
timestamp + body, runs in the real ``kanal run`` process wiring and reaches the intake
queue of the real RabbitMQ once per report. The broker password is a reference."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from config.loader import load_config
from connectors.http_json.webhook import sign
from connectors.registry import options_model
from kanal.app import KanalProcess
from normalizer.identity import complaint_id
from tests.core.broker_kit import check_delivery, documented_broker, listen_port, read_queue, wait_for
from tests.http_json.fakes import FakeForm

pytestmark = pytest.mark.rabbitmq

SECRET = "made-up-kelurahan-form-secret"

CHANNEL_YAML = """\
  - name: form-kel-gambir
    type: http_json
    poll_interval: 0.2
    batch_size: 4
    options:
      account: aduan.kel-gambir.example
      pull:
        base_url: {base_url}
        path: /api/aduan
        record_selector: aduan
        pagination: {{type: link_header, max_pages: 20}}
        incremental: {{field: urut, kind: integer, order: descending}}
      push:
        path: /aduan
        record_selector: "aduan || @"
        signature:
          scheme: hmac_sha256
          secret: "${{KANAL_TEST_FORM_SECRET}}"
          header: X-Aduan-Signature
          prefix: "v1="
          signed: timestamp_body
          timestamp_header: X-Aduan-Timestamp
          replay_window_seconds: 300
      mapping:
        provider_id: nomor
        created: {{path: waktu, format: epoch}}
        description: isi
        reporter_name: warga.nama
        reporter_phone: warga.hp
        address: join(', ', [rt_rw, 'Kel. Gambir'])
        kelurahan: "'Gambir'"
        url_template: "https://aduan.kel-gambir.example/{{provider_id}}"
"""


def _write(tmp_path: Path, amqp_url: str, topology, fake: FakeForm, port: int) -> Path:
    head = {
        "spool": {"path": str(tmp_path / "spool.db")},
        "broker": {**documented_broker(amqp_url), "heartbeat": 5, "topology": topology.model_dump()},
        "webhooks": {"host": "127.0.0.1", "port": port, "threads": 2},
        "metrics": {"port": 0},  # the default 8091 may be taken by another kanal run on the machine
        "log": {"level": "warning", "format": "json"},
    }
    path = tmp_path / "kanal.yaml"
    lines = [f"{key}: {json.dumps(value)}" for key, value in head.items()]  # JSON values are YAML
    path.write_text("\n".join(lines) + "\nchannels:\n" + CHANNEL_YAML.format(base_url=fake.url))
    return path


def test_a_source_made_of_yaml_alone_reaches_the_intake_queue(tmp_path: Path, amqp_url: str, topology,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KANAL_TEST_FORM_SECRET", SECRET)
    port = listen_port()
    with FakeForm(page_size=5) as fake:
        for n in range(23):
            fake.add_report(n)
        config = _write(tmp_path, amqp_url, topology, fake, port)
        assert "${KANAL_TEST_AMQP_PASSWORD}" in config.read_text() or "@" not in amqp_url
        loaded = load_config(config, options_model)
        process = KanalProcess(loaded)
        process.start()
        try:
            spool = process.spool
            wait_for(lambda: spool.channel_status("form-kel-gambir") and
                     spool.channel_status("form-kel-gambir")["accepted"] >= 23, timeout=30, what="the first poll")
            # New reports: one pushed and later polled, one only polled.
            pushed = fake.add_report(23)
            fake.add_report(24)
            body = json.dumps(pushed).encode()
            stamp = str(int(time.time()))
            signature = loaded.options["form-kel-gambir"].push.signature
            answer = requests.post(f"http://127.0.0.1:{port}/webhooks/form-kel-gambir/aduan", data=body,
                                   headers={"X-Aduan-Timestamp": stamp,
                                            "X-Aduan-Signature": sign(signature, SECRET, body, stamp)}, timeout=5)
            assert answer.status_code == 200
            wait_for(lambda: spool.channel_status("form-kel-gambir")["accepted"] >= 25, timeout=30,
                     what="the second poll")
            wait_for(lambda: spool.depth() == 0, timeout=30, what="the forwarder to drain the spool")
        finally:
            process.stop()

    expected = {str(complaint_id("http_json", "aduan.kel-gambir.example", f"KEL-{n:05d}")) for n in range(25)}
    messages = read_queue(amqp_url, topology.intake_queue)
    report = check_delivery(expected, messages)
    assert report.lost == set() and report.duplicated == 0 and not report.conflicting
    sample = next(m.json for m in messages if m.json["provider_message_id"] == "KEL-00007")
    assert sample["location"]["address_string"] == "RT 8/RW 02, Kel. Gambir"
    assert sample["reporter"]["phone"] == "+6281300001111"
    assert sample["url"] == "https://aduan.kel-gambir.example/KEL-00007"
