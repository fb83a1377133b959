"""The SMS channel inside a whole ``kanal run`` process (embedded default, no broker):
a config with a polled Gammu number and a pushed Kannel short code, both routed."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

import requests

from config.loader import load_config
from connectors.registry import options_model
from kanal.app import KanalProcess
from tests.sms.kit import SECRET, FakeSmsdFiles

CONFIG = """\
spool: {{path: {tmp}/spool.db}}
attachments: {{path: {tmp}/attachments}}
webhooks: {{host: 127.0.0.1, port: 0, threads: 2}}
metrics: {{port: 0}}  # the default 8091 may be taken by another kanal run on the machine
channels:
  - name: sms-08111272206
    type: sms
    poll_interval: 0.1
    options:
      account: "0811 1272 206"
      backend: gammu_files
      gammu_files: {{inbox_path: {tmp}/inbox, done_path: {tmp}/done, settle_seconds: 0}}
  - name: sms-1708
    type: sms
    options:
      account: "1708"
      backend: kannel
      kannel: {{token: "${{KANAL_TEST_SMS_SECRET}}"}}
"""


def test_kanal_run_takes_sms_from_gammu_and_kannel_and_routes_them(tmp_path: Path) -> None:
    FakeSmsdFiles(tmp_path / "inbox").write(
        "081200003131", "Jalan berlubang di Jl. Contoh, Gambir", datetime(2026, 11, 27, 8)
    )
    config = tmp_path / "kanal.yaml"
    config.write_text(CONFIG.format(tmp=tmp_path), encoding="utf-8")
    process = KanalProcess(load_config(config, options_model))
    process.start()
    try:
        url = f"{process.webhook_server.url}/webhooks/sms-1708/kannel"
        query = urlencode({"token": SECRET, "from": "081200003232", "to": "1708",
                           "text": "Sampah menumpuk di pinggir kali Ciliwung", "time": str(int(time.time()))})
        assert requests.get(f"{url}?{query}", timeout=10).status_code == 200
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(process.spool.routed()) < 2:
            time.sleep(0.1)
        routed = process.spool.routed()
    finally:
        process.stop(drain_seconds=1)
    assert len(routed) == 2
    assert (tmp_path / "done").exists() and len(list((tmp_path / "done").iterdir())) == 1
