"""kill -9 of ``kanal run`` at random moments under load, then a restart.

A walk-in desk channel takes complaints two ways at once: JSON files dropped into
its inbox (acknowledged by moving the file to ``done``) and HTTP POSTs (acknowledged
by a 2xx answer; a sender retries until it gets one, as a real one would). The
process is killed with SIGKILL several times while both are busy and started again
each time. Afterwards every acknowledged complaint must be in the intake queue, no
complaint may be in the spool twice, and a repeat on the queue is allowed only as
the same message_id. The seed is printed; set KANAL_KILL9_SEED to replay a run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from config.models import TopologyConfig
from normalizer.identity import complaint_id
from tests.core.broker_kit import (
    check_delivery,
    delete_topology,
    desk_payload,
    documented_broker,
    listen_port,
    read_queue,
    unique_topology,
    wait_for,
)
from tests.services import require_rabbitmq

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

DESK = "Kantor Kecamatan Gambir"
CHANNEL = "walkin-kill"
TOKEN = "made-up-desk-token-for-tests"
KILLS = 4


def _write_config(tmp_path: Path, url: str, topology: TopologyConfig, port: int) -> Path:
    config = {
        "spool": {"path": str(tmp_path / "spool.db")},
        "attachments": {"path": str(tmp_path / "attachments")},
        "broker": {
            **documented_broker(url),
            "heartbeat": 5,
            "confirm_window": 200,
            "topology": topology.model_dump(),
        },
        "webhooks": {"host": "127.0.0.1", "port": port, "threads": 4},
        "metrics": {"port": 0},  # the default 8091 may be taken by another kanal run on the machine
        "log": {"level": "warning", "format": "json"},
        "channels": [
            {
                "name": CHANNEL,
                "type": "walkin",
                "poll_interval": 0.1,
                "batch_size": 50,
                "options": {
                    "desk": DESK,
                    "inbox": str(tmp_path / "inbox"),
                    "done": str(tmp_path / "done"),
                    "token": "${KANAL_TEST_WALKIN_TOKEN}",
                },
            }
        ],
    }
    path = tmp_path / "kanal.yaml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


class KanalRun:
    """``kanal run --config PATH`` as a child process."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config = config
        self.port = port
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "KANAL_TEST_WALKIN_TOKEN": TOKEN}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "kanal", "run", "--config", str(self.config)],
                cwd=self.config.parent, env=env, stdout=log, stderr=log,
            )
        wait_for(self.healthy, timeout=30, what="kanal run to answer /healthz")

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise AssertionError(f"kanal run exited with {self.process.returncode}:\n{tail}")
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


class FileDesk(threading.Thread):
    """Drops desk JSON files into the inbox (atomically: written aside, then renamed)."""

    def __init__(self, tmp_path: Path, rng: random.Random) -> None:
        super().__init__(name="file-desk", daemon=True)
        self.inbox = tmp_path / "inbox"
        self.staging = tmp_path / "staging"
        self.rng = rng
        self.stop = threading.Event()
        self.refs: list[str] = []

    def run(self) -> None:
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.staging.mkdir(parents=True, exist_ok=True)
        n = 0
        while not self.stop.is_set():
            for _ in range(self.rng.randint(1, 15)):
                ref = f"BK-FILE-{n:06d}"
                staged = self.staging / f"{ref}.json"
                staged.write_bytes(desk_payload(ref))
                os.replace(staged, self.inbox / f"{ref}.json")
                self.refs.append(ref)
                n += 1
            time.sleep(0.02)


class HttpDesk(threading.Thread):
    """POSTs desk JSON; retries each complaint until it is answered 2xx."""

    def __init__(self, name: str, port: int) -> None:
        super().__init__(name=name, daemon=True)
        self.url = f"http://127.0.0.1:{port}/webhooks/{CHANNEL}"
        self.prefix = name
        self.stop = threading.Event()
        self.acknowledged: dict[str, str] = {}  # ref -> complaint id from the 2xx answer
        self.attempts = 0

    def run(self) -> None:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        n = 0
        while not self.stop.is_set():
            ref = f"BK-{self.prefix}-{n:06d}"
            while True:
                self.attempts += 1
                try:
                    answer = session.post(self.url, data=desk_payload(ref), headers=headers, timeout=5)
                except requests.RequestException:
                    answer = None
                if answer is not None and 200 <= answer.status_code < 300:
                    self.acknowledged[ref] = answer.json()["complaint_id"]
                    break
                if self.stop.is_set():
                    return  # given up before an answer: not acknowledged, nothing promised
                time.sleep(0.05)
            n += 1


def _spool_counts(path: Path) -> tuple[int, list[tuple[str, int]]]:
    conn = sqlite3.connect(path)
    try:
        depth = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        twice = conn.execute(
            "SELECT provider_message_id, count(*) FROM ledger GROUP BY channel, provider_message_id HAVING count(*) > 1"
        ).fetchall()
        return depth, twice
    finally:
        conn.close()


def test_kill_9_under_load_loses_nothing_acknowledged_and_repeats_only_the_same_message_id(tmp_path: Path) -> None:
    url = require_rabbitmq()
    seed = int(os.environ.get("KANAL_KILL9_SEED", random.randrange(1 << 30)))
    print(f"KANAL_KILL9_SEED={seed}")
    rng = random.Random(seed)
    topology = unique_topology("kanaltest.kill9")
    port = listen_port()
    kanal = KanalRun(_write_config(tmp_path, url, topology, port), port, tmp_path / "kanal.log")
    files = FileDesk(tmp_path, rng)
    posters = [HttpDesk(f"HTTP{i}", port) for i in range(2)]
    try:
        kanal.start()
        files.start()
        for poster in posters:
            poster.start()
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.5))
            kanal.kill9()
            kanal.start()
        time.sleep(rng.uniform(0.3, 1.0))
        files.stop.set()
        for poster in posters:
            poster.stop.set()
        files.join(10)
        for poster in posters:
            poster.join(10)

        done = tmp_path / "done"
        inbox = tmp_path / "inbox"
        wait_for(lambda: not any(inbox.glob("*.json")), timeout=60, what="the inbox to empty")
        wait_for(lambda: _spool_counts(tmp_path / "spool.db")[0] == 0, timeout=60, what="the spool to drain")
        assert kanal.terminate() == 0, "SIGTERM must stop kanal run cleanly"

        acknowledged_files = sorted(p.stem for p in done.glob("*.json"))
        assert acknowledged_files == sorted(files.refs), "every dropped file is handled in the end"
        expected = {str(complaint_id("walkin", DESK, ref)) for ref in acknowledged_files}
        for poster in posters:
            expected |= set(poster.acknowledged.values())
        http_total = sum(len(p.acknowledged) for p in posters)
        assert len(files.refs) > 50 and http_total > 20, "the load must be real"

        messages = read_queue(url, topology.intake_queue, settle=1.0, timeout=120)
        report = check_delivery(expected, messages)
        assert not report.lost, f"{len(report.lost)} acknowledged complaints never reached the queue (seed {seed})"
        assert not report.conflicting, f"a source message reached the queue under two ids (seed {seed})"
        assert not report.inconsistent, f"copies of one message_id differ (seed {seed})"
        # A POST that never got its 2xx may or may not have been taken; anything else is foreign.
        sent = set(files.refs)
        http_prefixes = tuple(f"BK-{p.prefix}-" for p in posters)
        unexpected = [ref for ref in report.refs if ref not in sent and not ref.startswith(http_prefixes)]
        assert not unexpected, f"the queue holds complaints nobody sent: {unexpected[:5]}"
        depth, twice = _spool_counts(tmp_path / "spool.db")
        assert depth == 0
        assert twice == [], "no complaint may be in the spool twice"
        print(
            f"files={len(files.refs)} http={http_total} http_attempts={sum(p.attempts for p in posters)} "
            f"queue={len(messages)} distinct={len(report.seen)} duplicates={report.duplicated}"
        )
    finally:
        for thread in (files, *posters):
            thread.stop.set()
        if kanal.process is not None and kanal.process.poll() is None:
            kanal.process.kill()
            kanal.process.wait(10)
        delete_topology(url, topology)
