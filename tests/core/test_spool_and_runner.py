"""The spool and the runner: one transaction, dedup, quarantine, acknowledgement order."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from connectors.attachments import LocalAttachmentStore
from connectors.base import Outcome, RawMessage
from connectors.runner import ChannelRunner
from kanal.spool import Spool
from normalizer.timeutil import utc_now
from normalizer.wire import encode_complaint


def drop_json(folder: Path, name: str, **data) -> Path:
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"id": name, **data}), encoding="utf-8")
    return path


def test_a_poll_commits_complaints_and_moves_files_only_after_the_commit(runner, spool, walkin):
    inbox = walkin.options.inbox
    for i in range(3):
        drop_json(inbox, f"BK-{i}", description=f"Keluhan nomor {i}")
    assert runner.poll_once() == 3
    assert spool.depth() == 3
    assert sorted(p.name for p in walkin.done_dir.iterdir()) == ["BK-0.json", "BK-1.json", "BK-2.json"]
    assert not list(inbox.iterdir())


def test_a_crash_between_commit_and_file_move_gives_no_second_complaint(walkin, spool, tmp_path):
    drop_json(walkin.options.inbox, "BK-7", description="Pohon tumbang di Jl. Kemang Raya")
    runner = ChannelRunner(walkin, spool, walkin_store(tmp_path))
    decided = [runner.decide(raw)[0] for raw in walkin.fetch(None)]
    outcomes = [Outcome(o.raw, o.kind, o.complaint, encode_complaint(o.complaint)) for o in decided]
    spool.commit(walkin.name, "walkin", outcomes)  # committed, then "crash": acknowledge never ran
    assert (walkin.options.inbox / "BK-7.json").exists()
    results = runner.ingest(list(walkin.fetch(None)))  # the restart re-reads the file
    assert [r.status for r in results] == ["duplicate"]
    assert spool.depth() == 1
    assert not (walkin.options.inbox / "BK-7.json").exists()


def walkin_store(tmp_path: Path) -> LocalAttachmentStore:
    return LocalAttachmentStore(tmp_path / "att")


def test_bad_input_is_quarantined_with_raw_bytes_and_the_channel_goes_on(runner, spool, walkin):
    inbox = walkin.options.inbox
    (inbox / "broken.json").write_bytes(b"{not json\xff")
    drop_json(inbox, "BK-ok", description="Saluran air mampet di Jl. Tebet Barat")
    assert runner.poll_once() == 2
    assert spool.depth() == 1
    [entry] = spool.quarantined()
    assert entry.payload == b"{not json\xff"
    assert "not valid JSON" in entry.error
    assert entry.channel == walkin.name and entry.attempts == 1
    # the same bad file again counts an attempt, it does not add an entry
    runner.ingest([RawMessage("broken.json", b"{not json\xff", utc_now(), {"file": "broken.json"})])
    [entry] = spool.quarantined()
    assert entry.attempts == 2


def test_checkpoint_and_complaints_share_one_transaction(spool, runner, walkin):
    raw = RawMessage("a", json.dumps({"id": "A-1", "description": "Banjir"}).encode(), utc_now())
    runner.ingest([raw], checkpoint={"cursor": 1})
    assert spool.load_checkpoint(walkin.name) == {"cursor": 1}
    # a failing transaction leaves neither the complaint nor the checkpoint behind
    bad = Outcome(raw, "nonsense")
    with pytest.raises(ValueError, match="unknown outcome"):
        spool.commit(walkin.name, "walkin", [bad], checkpoint={"cursor": 2})
    assert spool.load_checkpoint(walkin.name) == {"cursor": 1}
    assert spool.depth() == 1


def test_inserting_an_id_that_is_already_there_changes_nothing(spool, runner):
    raw = RawMessage("a", json.dumps({"id": "A-2", "description": "Jalan berlubang"}).encode(), utc_now())
    first = runner.ingest([raw])
    again = runner.ingest([raw, raw])
    assert [r.status for r in first] == ["accepted"]
    assert [r.status for r in again] == ["duplicate", "duplicate"]
    assert spool.depth() == 1
    rows = spool.pending(10)
    spool.mark_forwarded([r.seq for r in rows])
    assert spool.depth() == 0
    # forwarded long ago or not: the ledger still knows the id
    assert [r.status for r in runner.ingest([raw])] == ["duplicate"]


def test_commit_listeners_hear_of_each_commit_that_stored_a_complaint_and_only_those(spool, runner):
    heard: list[int] = []

    def listener() -> None:
        heard.append(spool.depth())

    spool.add_commit_listener(listener)
    raw = RawMessage("a", json.dumps({"id": "A-9", "description": "Got mampet"}).encode(), utc_now())
    runner.ingest([raw])
    assert heard == [1], "called once, after the complaint is committed"
    runner.ingest([raw])
    runner.ingest([RawMessage("b", b"{broken", utc_now())])
    assert heard == [1], "a duplicate or a quarantined message stores nothing to publish"
    spool.remove_commit_listener(listener)
    runner.ingest([RawMessage("c", json.dumps({"id": "A-10", "description": "Banjir"}).encode(), utc_now())])
    assert heard == [1]


def test_raw_payload_is_archived_and_referenced(spool, runner):
    payload = json.dumps({"id": "A-3", "description": "Sampah menumpuk"}).encode()
    [result] = runner.ingest([RawMessage("a", payload, utc_now(), {"file": "a.json"})])
    stored, metadata = spool.raw(result.complaint.raw_ref)
    assert stored == payload and metadata == {"file": "a.json"}


def test_deliberate_drops_are_counted_not_quarantined(spool, runner, walkin):
    runner.ingest([RawMessage("t", json.dumps({"id": "T", "test": True}).encode(), utc_now())])
    assert spool.quarantined() == []
    count = sqlite3.connect(spool.path).execute(
        "SELECT count FROM counters WHERE channel = ? AND name = 'dropped.desk_test_message'", (walkin.name,)
    ).fetchone()[0]
    assert count == 1


def test_a_commit_that_cannot_get_the_database_raises_and_acknowledges_nothing(tmp_path, walkin):
    spool = Spool(tmp_path / "locked.db", busy_timeout=0.2)
    runner = ChannelRunner(walkin, spool, walkin_store(tmp_path))
    path = drop_json(walkin.options.inbox, "BK-9", description="Kabel menjuntai")
    blocker = sqlite3.connect(spool.path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sqlite3.OperationalError):
            runner.poll_once()
        assert path.exists(), "the file must stay until its complaint is durable"
    finally:
        blocker.execute("ROLLBACK")
    assert runner.poll_once() == 1
    assert not path.exists()


def test_concurrent_commits_share_transactions_and_a_bad_batch_fails_alone(spool, runner):
    import threading

    def raw(i: int) -> RawMessage:
        return RawMessage(f"g{i}", json.dumps({"id": f"G-{i}", "description": f"keluhan {i}"}).encode(), utc_now())

    errors: list[Exception] = []
    statuses: list[str] = []

    def commit(i: int) -> None:
        outcome = runner.decide(raw(i))[0]
        outcome = Outcome(outcome.raw, "bogus" if i == 7 else outcome.kind, outcome.complaint,
                          encode_complaint(outcome.complaint))
        try:
            statuses.extend(r.status for r in spool.commit("walkin-test", "walkin", [outcome], {"n": i}))
        except ValueError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=commit, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 1 and "unknown outcome" in str(errors[0])
    assert statuses == ["accepted"] * 39
    assert spool.depth() == 39
    assert "G-7" not in {json.loads(r.body)["provider_message_id"] for r in spool.pending(100)}


def test_prune_forgets_old_forwarded_ids_but_keeps_what_still_waits(spool, runner):
    import time

    def raw(ref: str) -> RawMessage:
        return RawMessage(ref, json.dumps({"id": ref, "description": f"keluhan {ref}"}).encode(), utc_now())

    forwarded, waiting = runner.ingest([raw("OLD-1"), raw("OLD-2")])
    spool.mark_forwarded([spool.pending(1)[0].seq])  # OLD-1 went to the broker, OLD-2 did not
    assert spool.prune(now=time.time() + spool.retention_seconds + 60) == 1
    assert spool.raw(forwarded.complaint.raw_ref) is None
    assert spool.raw(waiting.complaint.raw_ref) is not None, "a waiting complaint keeps its raw payload"
    assert [r.status for r in runner.ingest([raw("OLD-1"), raw("OLD-2")])] == ["accepted", "duplicate"]


def test_a_batch_is_cut_by_bytes_as_well_as_by_count(spool, tmp_path):
    from connectors.walkin.connector import WalkInConnector
    from tests.core.conftest import make_walkin

    batches: list[int] = []

    class CountingWalkIn(WalkInConnector):
        """Records how many messages each acknowledged (= committed) batch held."""

        def acknowledge(self, results):
            batches.append(len(results))
            super().acknowledge(results)

    plain = make_walkin(tmp_path)
    walkin = CountingWalkIn(plain.context, plain.options)
    for i in range(6):  # about 100 KB each
        drop_json(walkin.options.inbox, f"BIG-{i}", description=f"Keluhan {i}", photo="x" * 100_000)
    runner = ChannelRunner(walkin, spool, LocalAttachmentStore(tmp_path / "att"), batch_size=50,
                           batch_max_bytes=250_000)
    assert runner.poll_once() == 6
    assert batches == [3, 3], "a batch is committed once its raw payloads reach batch_max_bytes"
    assert spool.depth() == 6


def test_a_channel_declares_batch_max_bytes_with_a_bounded_default():
    from config.models import ChannelConfig

    default = ChannelConfig(name="x", type="walkin").batch_max_bytes
    assert 1024 * 1024 <= default <= 64 * 1024 * 1024
    assert ChannelConfig(name="x", type="walkin", batch_max_bytes=4096).batch_max_bytes == 4096


def test_removing_forwarded_rows_does_not_wait_for_the_disk_but_every_intake_commit_does(spool, runner):
    """A lost removal only republishes rows (the router drops the repeats); a webhook's
    commit must be on disk before its answer, so it keeps synchronous=FULL."""
    level = ["FULL"]  # the spool opens its write connection with synchronous=FULL
    commits: list[str] = []

    def trace(statement: str) -> None:
        if statement.startswith("PRAGMA synchronous="):
            level[0] = statement.split("=", 1)[1]
        elif statement == "COMMIT":
            commits.append(level[0])

    spool._conn.set_trace_callback(trace)
    raw = RawMessage("a", json.dumps({"id": "A-9", "description": "Jalan berlubang"}).encode(), utc_now())
    runner.ingest([raw])
    assert commits == ["FULL"]
    spool.mark_forwarded([r.seq for r in spool.pending(10)])
    assert commits == ["FULL", "NORMAL"]
    raw2 = RawMessage("b", json.dumps({"id": "A-10", "description": "Lampu mati"}).encode(), utc_now())
    runner.ingest([raw2])
    assert commits == ["FULL", "NORMAL", "FULL"]
    spool._conn.set_trace_callback(None)
    assert spool._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert spool.depth() == 1


def test_a_forwarded_complaint_can_be_put_back_in_the_outbox_once_with_the_body_the_broker_had(spool, runner):
    import time

    def raw(ref: str) -> RawMessage:
        return RawMessage(ref, json.dumps({"id": ref, "description": f"banjir di {ref}"}).encode(), utc_now())

    sent_id, waiting_id = (str(r.complaint_id) for r in runner.ingest([raw("R-1"), raw("R-2")]))
    [first, second] = spool.pending(10)
    spool.mark_forwarded([first.seq])  # R-1 confirmed by the broker; R-2 still waits
    assert spool.depth() == 1

    back, gone = spool.requeue_forwarded([sent_id, sent_id, waiting_id, "unknown"])
    assert back == [sent_id, waiting_id] and gone == ["unknown"]
    rows = spool.pending(10)
    assert [r.id for r in rows] == [waiting_id, sent_id], "put back once, at the tail"
    assert rows[1].body == first.body and rows[1].seq > second.seq
    assert spool.forwarded_between(0, time.time() + 1) == [], "the ledger waits for the broker again"
    assert spool.requeue_forwarded([sent_id]) == ([sent_id], []), "already waiting: not twice"
    assert spool.depth() == 2

    spool.mark_forwarded([r.seq for r in spool.pending(10)])
    assert spool.prune(now=time.time() + spool.retention_seconds + 60) == 2
    assert spool.requeue_forwarded([sent_id]) == ([], [sent_id]), "kept for the retention only"
