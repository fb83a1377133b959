"""kill -9 of a real ``kanal run`` while it pages through the fake LAPOR!, then restarts:
every report ends up in the spool exactly once, and each restart resumes from the
cursor committed with the records (not from the beginning). The seed is printed; set
KANAL_HTTP_JSON_KILL9_SEED to replay a run: it picks after how many answered requests
each process is killed (where in its work the kill lands still depends on timing)."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime
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


def _committed_cursor(path: Path) -> str | None:
    """The cursor of the checkpoint committed in the spool (None when nothing was committed)."""
    if not path.exists():
        return None
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT value FROM checkpoints WHERE channel = 'lapor'").fetchall()
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    return json.loads(rows[0][0])["cursor"] if rows else None


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
        # metrics port 0: the default 8091 may be taken by another kanal run on the machine, and
        # a start that cannot listen exits at once (the paging wait then times out).
        config.write_text(json.dumps({"spool": {"path": str(spool)}, "metrics": {"port": 0},
                                      "log": {"level": "warning", "format": "json"}, "channels": [block]}))
        env = {**os.environ, "KANAL_LAPOR_BEARER": LAPOR_BEARER, "KANAL_LAPOR_TOKEN": LAPOR_TOKEN}
        log = tmp_path / "kanal.log"
        fake.fail_next(503, path=FakeLapor.PATH, times=1)
        process = None
        starts = []
        committed = []  # the cursor committed when each killed process died
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
                # Drawn once per process, so the seed replays the kill points. The deadline covers
                # the start of kanal run (about 3 s idle, several times that on a loaded machine).
                seen, answered = len(fake.requests), rng.randint(2, 8)
                wait_for(lambda seen=seen, answered=answered: len(fake.requests) >= seen + answered, timeout=120,
                         what="kanal run to page")
                process.send_signal(signal.SIGKILL)
                process.wait(10)
                committed.append(_committed_cursor(spool))
            wait_for(lambda: len(_ledger(spool)) == REPORTS, timeout=180, what="every report in the spool")
            process.send_signal(signal.SIGTERM)
            # A clean stop takes about 15 s here: up to 5 s for the output side to drain, then up to
            # 10 s for the fetcher, which is still trying the photo links (lapor.example) one by one.
            assert process.wait(90) == 0, log.read_text()[-2000:]
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
    # Every start after the first resumed from the cursor committed before the kill, not from the
    # beginning. A kill can land after the fake answered the first page but before the process
    # committed its first batch: then nothing was committed and the restart rightly starts over.
    # With lookback 0 and Asia/Jakarta (+07:00) the cursor is sent as its own wall time.
    for start, cursor_at_kill in zip(starts[1:], committed, strict=True):
        first = next(q for p, q, s in fake.requests[start:]
                     if p == FakeLapor.PATH and s == 200 and q.get("page", "1") == "1")
        expected = None if cursor_at_kill is None else datetime.fromisoformat(cursor_at_kill).strftime(
            "%Y-%m-%d %H:%M:%S")
        assert first.get("updated_since") == expected, f"restart after a kill with cursor {cursor_at_kill}"
    # The last killed process meets no scripted failure, so its answered requests include its second
    # page, which it asks for only after committing its first batch (7 of the page's 10 reports):
    # the last restart always has a cursor to resume from.
    assert committed[-1] is not None, committed
    print(f"requests={len(fake.requests)} starts={starts} committed={committed}")
