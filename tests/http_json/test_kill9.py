"""kill -9 of a real ``kanal run`` while it pages through the fake LAPOR!, then restarts:
every report ends up in the spool exactly once, and each restart resumes from the
cursor committed with the records (not from the beginning). The seed is printed; set
KANAL_HTTP_JSON_KILL9_SEED to replay a run."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.broker_kit import wait_for
from tests.http_json.conftest import lapor_block
from tests.http_json.fakes import LAPOR_BEARER, LAPOR_TOKEN, FakeLapor

pytestmark = pytest.mark.slow

REPORTS = 300
KILLS = 3


def _ledger(path: Path) -> list[tuple[str, int]]:
    if not path.exists():
        return []
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT provider_message_id, count(*) FROM ledger GROUP BY provider_message_id").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def test_kill_9_while_paging_loses_nothing_and_takes_nothing_twice(tmp_path: Path) -> None:
    seed = int(os.environ.get("KANAL_HTTP_JSON_KILL9_SEED", random.randrange(1 << 30)))
    print(f"KANAL_HTTP_JSON_KILL9_SEED={seed}")
    rng = random.Random(seed)
    spool = tmp_path / "spool.db"
    with FakeLapor(page_size=10, page_delay=0.03) as fake:
        for n in range(REPORTS):
            fake.add_report(n)
        block = lapor_block(fake)
        block["poll_interval"] = 0.2
        block["batch_size"] = 7
        block["options"]["pull"]["incremental"]["lookback_seconds"] = 0
        block["options"]["pull"]["retry_wait_max_seconds"] = 0.1
        config = tmp_path / "kanal.yaml"
        config.write_text(json.dumps({"spool": {"path": str(spool)}, "log": {"level": "warning", "format": "json"},
                                      "channels": [block]}))
        env = {**os.environ, "KANAL_LAPOR_BEARER": LAPOR_BEARER, "KANAL_LAPOR_TOKEN": LAPOR_TOKEN}
        log = tmp_path / "kanal.log"
        fake.fail_next(503, path=FakeLapor.PATH, times=1)
        process = None
        starts = []
        try:
            for attempt in range(KILLS + 1):
                starts.append(len(fake.requests))
                with log.open("ab") as out:
                    process = subprocess.Popen([sys.executable, "-m", "kanal", "run", "--config", str(config)],
                                               cwd=tmp_path, env=env, stdout=out, stderr=out)
                if attempt == 1:
                    fake.fail_next(429, {"Retry-After": "1"}, path=FakeLapor.PATH)
                if attempt == KILLS:
                    break
                seen = len(fake.requests)
                wait_for(lambda seen=seen: len(fake.requests) >= seen + rng.randint(2, 8), timeout=30,
                         what="kanal run to page")
                process.send_signal(signal.SIGKILL)
                process.wait(10)
            wait_for(lambda: len(_ledger(spool)) == REPORTS, timeout=60, what="every report in the spool")
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0, log.read_text()[-2000:]
        finally:
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(10)

    ledger = _ledger(spool)
    assert sorted(pid for pid, _ in ledger) == sorted(str(500000 + n) for n in range(REPORTS))
    assert all(count == 1 for _, count in ledger)
    conn = sqlite3.connect(spool)
    try:
        [(cursor,)] = conn.execute("SELECT value FROM checkpoints WHERE channel = 'lapor'").fetchall()
        quarantined = conn.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    finally:
        conn.close()
    assert json.loads(cursor)["cursor"] == "2026-03-02T08:04:59+07:00"
    assert quarantined == 0
    # Every start after the first resumed from the committed cursor, not from the beginning.
    for start in starts[1:]:
        first = next(q for p, q, s in fake.requests[start:]
                     if p == FakeLapor.PATH and s == 200 and q.get("page", "1") == "1")
        assert first.get("updated_since"), "a restart must send the committed cursor"
    print(f"requests={len(fake.requests)} starts={starts}")
