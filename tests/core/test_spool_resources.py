"""The spool's resources stay bounded: connections are closed, a failed COMMIT does not
wedge the write connection, old rows are pruned, and the file is owner-only."""

from __future__ import annotations

import gc
import json
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest

from connectors.base import RawMessage
from kanal.spool import Spool
from normalizer.timeutil import utc_now


def open_files(path: Path) -> list[str]:
    """Names of this process's open files that belong to the spool (db, -wal, -shm)."""
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(path)):
            names.append(os.path.basename(target))
    return names


def test_close_closes_every_threads_reader_connection(tmp_path):
    spool = Spool(tmp_path / "spool.db")
    spool.depth()  # this thread's reader
    alive = threading.Event()
    done = threading.Event()

    def long_lived() -> None:
        spool.depth()  # a webhook worker's reader
        alive.set()
        done.wait(10)

    worker = threading.Thread(target=long_lived)
    worker.start()
    alive.wait(10)
    spool.close()
    try:
        assert open_files(spool.path) == [], "close() leaves no connection to the spool open"
    finally:
        done.set()
        worker.join()


def test_a_reader_connection_goes_with_its_thread(tmp_path):
    spool = Spool(tmp_path / "spool.db")
    spool.count("c", "warm-up")
    baseline = len(open_files(spool.path))
    for _ in range(30):
        thread = threading.Thread(target=spool.depth)
        thread.start()
        thread.join()
    del thread
    gc.collect()
    # SQLite may keep one closed connection's descriptor until the file is released.
    assert len(open_files(spool.path)) <= baseline + 2
    spool.close()


class _CommitFails:
    """The write connection as SQLite behaves when COMMIT gets SQLITE_BUSY: it raises
    and the transaction stays open."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.armed = True

    def execute(self, sql: str, *args):
        if sql == "COMMIT" and self.armed:
            self.armed = False
            raise sqlite3.OperationalError("database is locked")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


def test_a_failed_commit_rolls_back_and_the_next_write_works(tmp_path):
    spool = Spool(tmp_path / "spool.db")
    real = spool._conn
    spool._conn = _CommitFails(real)  # the database edge: SQLite answers BUSY to COMMIT
    with pytest.raises(sqlite3.OperationalError):
        spool.count("c", "lost")
    spool._conn = real
    assert not real.in_transaction, "a failed COMMIT must not leave the connection in a transaction"
    spool.count("c", "kept")
    assert spool.counters("c") == {"kept": 1}
    spool.close()


@pytest.mark.parametrize("umask", [0o022, 0o000])
def test_the_spool_files_are_owner_only_whatever_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        spool = Spool(tmp_path / "var" / "spool.db")
        spool.count("c", "n")
        spool.depth()
    finally:
        os.umask(old)
    for name in ("spool.db", "spool.db-wal", "spool.db-shm"):
        mode = stat.S_IMODE((tmp_path / "var" / name).stat().st_mode)
        assert mode == 0o600, f"{name} is {oct(mode)}"
    spool.close()


def test_an_existing_spool_readable_by_others_is_tightened(tmp_path):
    path = tmp_path / "spool.db"
    Spool(path).close()
    os.chmod(path, 0o644)
    Spool(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def _raw(ref: str) -> RawMessage:
    return RawMessage(ref, json.dumps({"id": ref, "description": f"keluhan {ref}"}).encode(), utc_now())


def test_prune_forgets_old_routed_rows_and_resolved_quarantine_but_keeps_open_entries(spool, runner):
    routed, _ = runner.ingest([_raw("R-1"), RawMessage("BAD-1", b"not json", utc_now())])
    runner.ingest([RawMessage("BAD-2", b"{also not json", utc_now())])
    [row] = spool.pending(1)
    spool.route_locally([(row.seq, row.id, "BINAMARGA", "kanal.agency.binamarga", b"{}")])
    first, second = spool.quarantined()
    spool.resolve_quarantine(first.qid, "dropped:operator")
    later = time.time() + spool.retention_seconds + 60

    spool.prune(now=later)

    assert spool.routed() == []
    assert spool.raw(routed.complaint.raw_ref) is None
    assert [e.qid for e in spool.quarantined(include_resolved=True)] == [second.qid], (
        "a resolved entry is pruned, an open one is kept however old"
    )
