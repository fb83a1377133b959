"""`kanal run` on the embedded default, as the README runs it: no broker, routed locally."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_kanal_run_routes_the_example_complaints_and_stops_cleanly_on_sigterm(tmp_path):
    inbox = tmp_path / "var" / "walkin" / "inbox"
    inbox.mkdir(parents=True)
    for example in (ROOT / "examples" / "walkin").glob("*.json"):
        shutil.copy(example, inbox)
    config = tmp_path / "kanal.yaml"
    shipped = yaml.safe_load((ROOT / "config" / "kanal.local.yaml").read_text(encoding="utf-8"))
    # The shipped file as is, but for the metrics port: 0 picks a free one, since another
    # kanal run on this machine may hold the default 8091.
    shipped.setdefault("metrics", {})["port"] = 0
    config.write_text(yaml.safe_dump(shipped, sort_keys=False), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "kanal", "run", "--config", str(config)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        routed: list[dict] = []
        while time.monotonic() < deadline and len(routed) < 3:
            time.sleep(0.5)
            out = subprocess.run(
                [sys.executable, "-m", "kanal", "routed", "--json", "--config", str(config)],
                cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
            )
            routed = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
        status = json.loads(subprocess.run(
            [sys.executable, "-m", "kanal", "status", "--json", "--config", str(config)],
            cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
        ).stdout)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, stderr[-2000:]
    assert len(routed) == 3
    agencies = {r["provider_message_id"]: r["routing"]["agency_code"] for r in routed}
    # Where the README's first lines say each of these goes; the parking example went to
    # triage before the default model learned from hand-written complaints.
    assert agencies == {"BK-2026-000101": "binamarga", "BK-2026-000102": "kelurahan", "BK-2026-000103": "dishub"}
    assert status["quarantine_open"] == 1, "the broken example is kept in quarantine"
    [desk] = status["channels"]
    assert desk["name"] == "walkin-balaikota" and desk["accepted"] == 3
    assert sorted(p.name for p in (tmp_path / "var" / "walkin" / "done").iterdir()) == sorted(
        p.name for p in (ROOT / "examples" / "walkin").glob("*.json"))
    assert '"event": "stopped"' in stderr
