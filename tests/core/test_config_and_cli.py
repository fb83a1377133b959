"""Config validation and the CLI, run as ops would run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from config.loader import load_config
from connectors.registry import options_model
from kanal.app import KanalProcess

ROOT = Path(__file__).resolve().parents[2]


def kanal(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kanal", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, **(env or {})},
    )


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_config_with_five_mistakes_gets_five_precise_messages_and_nothing_starts(tmp_path):
    cfg = write(tmp_path / "bad.yaml", """\
        spool:
          path: var/spool.db
        broker:
          url: http://rabbit.example.org:5672/
        channels:
          - name: desk-a
            type: walkin
            options:
              inbox: var/in
          - name: desk-b
            type: walkin
            options:
              desk: Kec. Gambir
              token: plain-text-token
          - name: desk-b
            type: walkin
            options:
              desk: Kec. Menteng
          - name: sms-x
            type: smss
        """)
    result = kanal("run", "--config", str(cfg), cwd=tmp_path)
    assert result.returncode == 2
    err = result.stderr
    problems = [line for line in err.splitlines() if line.startswith("  - ")]
    assert len(problems) == 5, err
    assert any("broker.url" in p and "amqp://" in p for p in problems)
    assert any("channel 'desk-a'" in p and "options.desk" in p and "required" in p.lower() for p in problems)
    assert any("channel 'desk-b'" in p and "options.token" in p and "${ENV_VAR}" in p for p in problems)
    assert any("desk-b" in p and "duplicate name" in p for p in problems)
    assert any("channel 'sms-x'" in p and "Did you mean 'sms'" in p for p in problems)
    assert "plain-text-token" not in err, "a secret must never be printed"
    assert not (tmp_path / "var").exists(), "nothing may start with an invalid config"


def test_check_config_accepts_the_shipped_local_config_and_names_an_unset_secret(tmp_path):
    ok = kanal("check-config", str(ROOT / "config" / "kanal.local.yaml"), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "valid" in ok.stdout and "walkin-balaikota" in ok.stdout
    cfg = write(tmp_path / "secret.yaml", """\
        channels:
          - name: desk
            type: walkin
            options: {desk: Balai Kota, token: "${KANAL_TEST_NOT_SET}"}
        """)
    bad = kanal("check-config", str(cfg), cwd=tmp_path, env={"KANAL_TEST_NOT_SET": ""})
    assert bad.returncode == 2
    assert "environment variable KANAL_TEST_NOT_SET is not set" in bad.stderr


def test_check_config_warns_when_a_twilio_channel_has_no_public_url(tmp_path):
    cfg = write(tmp_path / "twilio.yaml", """\
        webhooks: {trusted_proxies: ["10.0.0.0/8", "127.0.0.1"]}
        channels:
          - name: sms-open
            type: sms
            options: {account: "1708", backend: twilio, twilio: {auth_token: "${KANAL_TEST_TWILIO}"}}
          - name: sms-pinned
            type: sms
            options:
              account: "1708"
              backend: twilio
              twilio: {auth_token: "${KANAL_TEST_TWILIO}", public_url: "https://kanal.example.org/webhooks/sms-pinned/twilio"}
        """)
    checked = kanal("check-config", str(cfg), cwd=tmp_path, env={"KANAL_TEST_TWILIO": "not-a-real-token"})
    assert checked.returncode == 0, checked.stderr
    warnings = [line for line in checked.stdout.splitlines() if "warning" in line]
    assert len(warnings) == 1, checked.stdout
    assert "sms-open" in warnings[0] and "public_url" in warnings[0]
    bad = write(tmp_path / "bad.yaml", "webhooks: {trusted_proxies: [\"proxy.example.org\"]}\n")
    refused = kanal("check-config", str(bad), cwd=tmp_path)
    assert refused.returncode == 2 and "trusted_proxies" in refused.stderr


def test_channels_lists_types_and_prints_a_types_options(tmp_path):
    listing = kanal("channels", cwd=tmp_path)
    assert listing.returncode == 0 and "walkin" in listing.stdout
    options = kanal("channels", "walkin", cwd=tmp_path)
    assert "desk  (string; required)" in options.stdout
    assert "time_format" in options.stdout
    unknown = kanal("channels", "wlakin", cwd=tmp_path)
    assert unknown.returncode == 2 and "Did you mean 'walkin'" in unknown.stderr


def test_quarantine_retry_reruns_a_message_after_the_config_is_fixed(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "BK-1.json").write_text(json.dumps(
        {"id": "BK-1", "description": "Lampu jalan mati", "submitted_at": "27/11/2026 08:05"}), encoding="utf-8")
    base = """\
        spool: {{path: {spool}}}
        channels:
          - name: desk
            type: walkin
            options: {{desk: Balai Kota, inbox: {inbox}, done: {done}{extra}}}
        """
    fmt = {"spool": tmp_path / "spool.db", "inbox": inbox, "done": tmp_path / "done"}
    cfg = write(tmp_path / "k.yaml", base.format(extra="", **fmt))

    process = KanalProcess(load_config(cfg, options_model))
    assert process.runners[0].poll_once() == 1
    process.spool.close()

    listed = kanal("quarantine", "list", "--config", str(cfg), cwd=tmp_path)
    assert "#1" in listed.stdout and "does not match ISO-8601" in listed.stdout
    bare = kanal("quarantine", "--config", str(cfg), cwd=tmp_path)
    assert bare.returncode == 0 and bare.stdout == listed.stdout, "with no action it lists"
    unnamed = kanal("quarantine", "show", "--config", str(cfg), cwd=tmp_path)
    assert unnamed.returncode == 2 and "name the entry ids" in unnamed.stderr
    still = kanal("quarantine", "retry", "1", "--config", str(cfg), cwd=tmp_path)
    assert still.returncode == 1 and "still failing" in still.stdout

    write(cfg, base.format(extra=", time_format: '%d/%m/%Y %H:%M'", **fmt))
    fixed = kanal("quarantine", "retry", "--channel", "desk", "--config", str(cfg), cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "#1: accepted as complaint" in fixed.stdout
    status = json.loads(kanal("status", "--json", "--config", str(cfg), cwd=tmp_path).stdout)
    assert status["spool_depth"] == 1 and status["quarantine_open"] == 0
    [desk] = status["channels"]
    assert desk["accepted"] == 1
    assert desk["quarantined"] == 2, "the first failure and the failed retry are both counted"


@pytest.mark.parametrize("command", [["--help"], ["run", "--help"], ["quarantine", "--help"], ["status", "--help"]])
def test_help_teaches(command, tmp_path):
    out = kanal(*command, cwd=tmp_path)
    assert out.returncode == 0
    assert "example" in out.stdout.lower() or "kanal" in out.stdout


def test_the_shipped_example_config_is_valid_once_its_secrets_exist(tmp_path, monkeypatch):
    import re

    text = (ROOT / "config" / "kanal.example.yaml").read_text(encoding="utf-8")
    for name in set(re.findall(r"\$\{([A-Z0-9_]+)\}", text)):
        monkeypatch.setenv(name, f"example-{name.lower()}")
    for path in set(re.findall(r"file:(/\S+)", text)):
        local = tmp_path / Path(path).name
        local.write_text("example-secret\n", encoding="utf-8")
        text = text.replace(f"file:{path}", f"file:{local}")
    config = tmp_path / "kanal.yaml"
    config.write_text(text, encoding="utf-8")
    loaded = load_config(config, options_model)
    types = {c.type for c in loaded.kanal.channels}
    assert {"sms", "email", "twitter", "facebook", "walkin"} <= types
    assert not loaded.kanal.embedded
    assert "example-" not in repr(loaded.options), "secret values must not show in reprs"
