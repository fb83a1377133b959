"""The connector contract every channel type must pass (STYLE.md §2), built-ins and any
type registered later in ``connectors/registry.py`` or through the entry points.

Each type provides its samples as a fixture ``contract_<type>`` (see conftest.py); a
registered type without one fails here, loudly. For each sample:

* ``normalise`` is pure and deterministic: the same raw message gives the same
  complaint id and the same encoded body, from the same or a fresh connector;
* a raw message the connector cannot read is quarantined with its raw bytes by the
  runner, never raised out of it, and the good messages of its batch are still taken;
* a redelivered message is a duplicate: the spool ignores it;
* the checkpoint never passes an uncommitted message: a commit that fails (the spool
  file locked by another process) leaves the checkpoint and the outbox as they were.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.attachments import LocalAttachmentStore
from connectors.base import Accept, Connector, RawMessage
from connectors.runner import ChannelRunner
from kanal.spool import Spool
from normalizer.complaint import Complaint
from normalizer.wire import encode_complaint
from tests.contract.kit import ContractCase


@pytest.fixture(name="cases")
def _cases(channel_type: str, request: pytest.FixtureRequest) -> list[ContractCase]:
    fixture = f"contract_{channel_type}"
    try:
        cases = request.getfixturevalue(fixture)
    except pytest.FixtureLookupError:
        pytest.fail(f"channel type {channel_type!r} is registered but gives the contract suite no samples: "
                    f"define a fixture {fixture!r} returning [ContractCase, ...] (see tests/contract/conftest.py)",
                    pytrace=False)
    assert cases, f"{fixture} returned no cases"
    return cases


@pytest.fixture(name="spool")
def _spool(tmp_path: Path) -> Iterator[Spool]:
    spool = Spool(tmp_path / "spool.db", busy_timeout=0.2)
    yield spool
    spool.close()


def runner_for(case: ContractCase, spool: Spool, tmp_path: Path) -> ChannelRunner:
    return ChannelRunner(case.make(), spool, LocalAttachmentStore(tmp_path / "attachments"), batch_size=50)


def complaint_of(connector: Connector, raw: RawMessage) -> Complaint:
    result = connector.normalise(raw)
    complaint = result.complaint if isinstance(result, Accept) else result
    assert isinstance(complaint, Complaint), f"a good sample must give a complaint, got {result!r}"
    return complaint


def test_normalise_is_pure_and_deterministic(cases: list[ContractCase]) -> None:
    for case in cases:
        first, second = case.make(), case.make()
        ids = set()
        for raw in case.good:
            a, b, c = complaint_of(first, raw), complaint_of(first, raw), complaint_of(second, raw)
            assert a.id == b.id == c.id, f"{case.name}: the same raw message gave different complaint ids"
            assert encode_complaint(a) == encode_complaint(b) == encode_complaint(c), \
                f"{case.name}: the same raw message gave different complaints"
            ids.add(a.id)
        assert len(ids) == len(case.good), f"{case.name}: distinct messages must be distinct complaints"


def test_bad_raw_goes_to_quarantine_not_out_of_the_runner(
    cases: list[ContractCase], spool: Spool, tmp_path: Path
) -> None:
    for case in cases:
        runner = runner_for(case, spool, tmp_path)
        results = runner.ingest([case.good[0], case.bad, case.good[1]])
        assert [r.status for r in results] == ["accepted", "quarantined", "accepted"], case.name
        assert results[1].reason, f"{case.name}: a quarantine entry needs a reason"
        [entry] = spool.quarantined(runner.name)
        assert entry.payload == case.bad.payload, f"{case.name}: the raw bytes are kept"


def test_a_redelivered_message_is_a_duplicate(cases: list[ContractCase], spool: Spool, tmp_path: Path) -> None:
    for case in cases:
        runner = runner_for(case, spool, tmp_path)
        before = spool.depth()
        first = runner.ingest(list(case.good))
        again = runner_for(case, spool, tmp_path).ingest(list(case.good))
        assert [r.status for r in first] == ["accepted"] * len(case.good), case.name
        assert [r.status for r in again] == ["duplicate"] * len(case.good), case.name
        assert [r.complaint_id for r in again] == [r.complaint_id for r in first], case.name
        assert spool.depth() == before + len(case.good), f"{case.name}: a redelivery stored something"


def test_the_checkpoint_never_passes_an_uncommitted_message(
    cases: list[ContractCase], spool: Spool, tmp_path: Path
) -> None:
    for case in cases:
        runner = runner_for(case, spool, tmp_path)
        runner.ingest([case.good[0]], checkpoint={"case": case.name, "at": 1})
        depth = spool.depth()
        locker = sqlite3.connect(spool.path, isolation_level=None)  # another process holding the file
        locker.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(sqlite3.OperationalError):
                runner.ingest(list(case.good[1:]), checkpoint={"case": case.name, "at": 3})
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        assert spool.load_checkpoint(runner.name) == {"case": case.name, "at": 1}, case.name
        assert spool.depth() == depth, f"{case.name}: a failed commit stored something"
        results = runner.ingest(list(case.good[1:]), checkpoint={"case": case.name, "at": 3})
        assert {r.status for r in results} == {"accepted"}, case.name
        assert spool.load_checkpoint(runner.name) == {"case": case.name, "at": 3}, case.name
