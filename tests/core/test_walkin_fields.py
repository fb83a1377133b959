"""Walk-in fields that are not what they should be are quarantined with a reason, never
stored as garbage (found by tests/fuzz: an object as ``id`` became the text of its repr,
a lone surrogate made the complaint id raise a bare UnicodeEncodeError)."""

from __future__ import annotations

import json

import pytest

from connectors.base import RawMessage
from connectors.runner import ChannelRunner
from kanal.spool import Spool
from normalizer.timeutil import utc_now

GOOD = {"id": "BK-2026-000900", "description": "Trotoar rusak di depan sekolah",
        "reporter": {"name": "Siti", "phone": "081200003333"}}


@pytest.mark.parametrize(("change", "reason"), [
    ({"id": {"nested": 1}}, "id must be a string"),
    ({"id": ["BK-1"]}, "id must be a string"),
    ({"id": "BK-\ud83d"}, "id holds a lone UTF-16 surrogate"),
    ({"id": "BK-" + "9" * 1000}, "id is 1,003 characters long"),
    ({"id": "BK\n1"}, "id holds control characters"),
    ({"description": "banjir \ud83d"}, "description holds a lone UTF-16 surrogate"),
    ({"description": ["banjir"]}, "description must be a string"),
    ({"title": {"a": 1}}, "title must be a string"),
    ({"address": 12}, "address must be a string"),
    ({"reporter": {"name": ["Siti"]}}, "reporter.name must be a string"),
    ({"reporter": {"phone": {"n": 1}}}, "reporter.phone must be a string"),
    ({"reporter": {"email": "siti\ud83d@example.org"}}, "reporter.email holds a lone UTF-16 surrogate"),
])
def test_a_field_of_the_wrong_kind_is_quarantined_with_its_name(
    runner: ChannelRunner, spool: Spool, change: dict, reason: str
) -> None:
    payload = json.dumps({**GOOD, **change}).encode()
    [result] = runner.ingest([RawMessage("http:1", payload, utc_now(), {"via": "http"})])
    assert result.status == "quarantined"
    assert result.reason.startswith(reason), result.reason
    [entry] = spool.quarantined()
    assert entry.payload == payload


def test_numbers_as_ids_and_phones_are_still_read(runner: ChannelRunner) -> None:
    payload = json.dumps({**GOOD, "id": 900, "reporter": {"phone": "+62 812-0000-3333"}}).encode()
    [result] = runner.ingest([RawMessage("http:2", payload, utc_now(), {"via": "http"})])
    assert result.status == "accepted"
    assert result.complaint.provider_message_id == "900"


def test_json_nested_deeper_than_any_desk_writes_is_quarantined_with_a_reason(runner: ChannelRunner) -> None:
    payload = b'{"a":' * 5000 + b"1" + b"}" * 5000
    [result] = runner.ingest([RawMessage("http:3", payload, utc_now(), {"via": "http"})])
    assert result.status == "quarantined"
    assert "nested too deep" in result.reason, result.reason
