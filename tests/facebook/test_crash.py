"""kill -9 of a process in the middle of a poll, then a new process polls again."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from connectors.runner import ChannelRunner
from tests.facebook.conftest import by_message_id, make_connector, make_options, status, wait_for

CHILD = """
import sys
from connectors.attachments import LocalAttachmentStore
from connectors.facebook.config import FacebookOptions
from connectors.runner import ChannelRunner
from kanal.spool import Spool
from tests.facebook.conftest import make_connector

spool_path, base_url, page_id, attachments = sys.argv[1:5]
options = FacebookOptions.model_validate({
    "page_id": page_id, "page_access_token": "${KANAL_TEST_FB_TOKEN}", "graph_api_base_url": base_url,
    "page_size": 2})
runner = ChannelRunner(make_connector(options), Spool(spool_path), LocalAttachmentStore(attachments), batch_size=1)
runner.poll_once()
"""


def _outbox(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM outbox").fetchone()[0]


def test_poll_killed_midway_is_read_again_by_the_next_process_without_doubles(
    graph, spool, attachments, secrets_env, tmp_path
):
    now = time.time()
    expected = set()
    for n in range(12):
        post = graph.add_post(f"Laporan warga nomor {n}", now - 3000 + n * 60, (f"55501{n:02d}", f"Warga {n}"))
        expected.add(post)
        expected.add(graph.add_comment(post, f"Tambahan {n}", now - 1000 + n, ("5559999", "Tetangga")))
    graph.delay = 0.05  # every Graph answer is slow: the poll is still running when it is killed
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(spool.path), graph.url, graph.page_id, str(tmp_path / "att")],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: _outbox(spool.path) >= 3 or child.poll() is not None, timeout=20)
        assert child.poll() is None, child.stderr.read().decode()[-2000:]
        os.kill(child.pid, signal.SIGKILL)
        child.wait(5)
    finally:
        if child.poll() is None:
            child.kill()
    committed = _outbox(spool.path)
    assert 3 <= committed < len(expected)
    assert spool.load_checkpoint("facebook-pemprov-dki") is None  # the feed edge was never finished

    graph.delay = 0
    runner = ChannelRunner(make_connector(make_options(graph)), spool, attachments)
    runner.poll_once()

    assert set(by_message_id(spool)) == expected  # fails on any complaint stored twice
    assert status(spool, runner.name)["duplicates"] >= committed  # what the dead process took was re-read
    runner.connector.close()
