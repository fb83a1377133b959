"""``kanal check-config`` reports bad mappings with the channel and the option;
``kanal channels test`` shows what a sample payload maps to, or why not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kanal.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, main
from tests.http_json.conftest import example_block


def _config(tmp_path: Path, *blocks: dict[str, Any]) -> Path:
    path = tmp_path / "kanal.yaml"
    path.write_text(json.dumps({"spool": {"path": str(tmp_path / "spool.db")}, "channels": list(blocks)}))
    return path


def test_shipped_examples_pass_check_config(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["check-config", str(_config(tmp_path, example_block("lapor"), example_block("qlue")))]) == EXIT_OK
    assert "lapor (http_json, enabled)" in capsys.readouterr().out


def test_check_config_names_the_channel_and_option_of_each_bad_mapping(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    block = example_block("lapor")
    mapping = block["options"]["mapping"]
    mapping["title"] = "results.["
    mapping["created"]["timezone"] = "Asia/Jakrta"
    mapping["created"]["format"] = "dd-mm-yyyy"
    block["options"]["pull"]["pagination"] = {"type": "cursor", "param": "c"}
    block["options"]["pull"]["auth"]["headers"][0]["value"] = "Bearer inline-secret"
    assert main(["check-config", str(_config(tmp_path, block))]) == EXIT_CONFIG
    err = capsys.readouterr().err
    where = "channel 'lapor' (channels[0]).options"
    assert f"{where}.mapping.title: not a valid JMESPath expression" in err
    assert f"{where}.mapping.created.timezone: unknown time zone 'Asia/Jakrta'" in err
    assert f"{where}.mapping.created.format: time format must be" in err
    assert f"{where}.pull.pagination: pagination type 'cursor' needs `next_path`" in err
    assert f"{where}.pull.auth.header.headers[0].value: write secrets as a reference" in err
    assert "inline-secret" not in err


def test_channels_test_prints_the_complaints_of_a_sample(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    config = _config(tmp_path, example_block("lapor"))
    sample = tmp_path / "page.json"
    sample.write_text(json.dumps({"results": {"data": [
        {"id": 77, "title": "Pohon tumbang", "content": "Pohon tumbang menutup jalan.",
         "created_at": "02-03-2026 09:30:00", "status_name": "Terverifikasi", "is_anonymous": True,
         "attachments": [{"path": "https://lapor.example/a.jpg"}]},
        {"id": 78, "title": "Sudah selesai", "content": "x", "created_at": "02-03-2026 09:30:00",
         "status_name": "Selesai"},
        {"id": 79, "content": "Jam salah", "created_at": "2026/03/02"},
    ], "next_page_url": None}}))
    code = main(["channels", "test", "lapor", "--sample", str(sample), "--config", str(config)])
    out = capsys.readouterr().out
    assert code == EXIT_FAILURE
    assert '"provider_message_id": "77"' in out and '"requested_datetime": "2026-03-02T09:30:00+07:00"' in out
    assert '"anonymous": true' in out
    assert "# record 1: dropped (status:Selesai)" in out
    assert "# record 2: DOES NOT MAP - mapping.created: '2026/03/02' does not match format" in out
    assert "3 record(s): 2 mapped, 1 would be quarantined" in out


def test_channels_test_of_a_push_body_needs_no_secrets(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KANAL_QLUE_PUSH_KEY")
    monkeypatch.delenv("KANAL_QLUE_CLIENT_SECRET")
    config = _config(tmp_path, example_block("qlue"))
    sample = tmp_path / "push.json"
    sample.write_text(json.dumps({"post_id": 4, "created_at": "2026-03-02T10:00:00+07:00", "title": "Banjir",
                                  "text": "Banjir 30 cm", "location": {"lat": -6.2, "lng": 106.8}}))
    code = main(["channels", "test", "qlue", "--sample", str(sample), "--config", str(config), "--push"])
    assert code == EXIT_OK
    out = capsys.readouterr().out
    assert '"lat": -6.2' in out and "1 record(s): 1 mapped, 0 would be quarantined" in out
