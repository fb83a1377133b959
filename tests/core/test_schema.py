"""The complaint schema: immutable, deterministic ids, published JSON Schema."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pydantic
import pytest

from normalizer.complaint import ChannelRef, Complaint, json_schema
from normalizer.identity import complaint_id
from normalizer.wire import decode_complaint, encode_complaint, to_wire

ROOT = Path(__file__).resolve().parents[2]


def _complaint(**changes) -> Complaint:
    fields = {
        "id": complaint_id("sms", "+628111272206", "msg-1"),
        "channel": ChannelRef(type="sms", name="sms-08111272206", account="+628111272206"),
        "provider_message_id": "msg-1",
        "received_at": datetime(2026, 11, 27, 2, 0, tzinfo=UTC),
        "requested_datetime": datetime(2026, 11, 27, 9, 0, tzinfo=timezone(timedelta(hours=7))),
        "description": "Lampu PJU mati di Jl. Kramat Raya",
        "raw_ref": "raw:sha256:" + "0" * 64,
    }
    fields.update(changes)
    return Complaint(**fields)


def test_same_source_message_gets_the_same_id_and_others_differ():
    first = complaint_id("twitter", "@dkijakarta", "1790000000000000001")
    assert first == complaint_id("twitter", "@DKIJakarta ", "1790000000000000001")
    assert first != complaint_id("twitter", "@dkijakarta", "1790000000000000002")
    assert first != complaint_id("facebook", "@dkijakarta", "1790000000000000001")
    assert first.version == 5


def test_complaint_is_immutable():
    complaint = _complaint()
    with pytest.raises(pydantic.ValidationError):
        complaint.description = "changed"  # type: ignore[misc]


def test_source_offset_is_kept_and_received_at_is_stored_in_utc():
    complaint = _complaint(received_at=datetime(2026, 11, 27, 9, 0, tzinfo=timezone(timedelta(hours=7))))
    assert complaint.received_at.utcoffset() == timedelta(0)
    assert complaint.received_at.hour == 2
    assert complaint.requested_datetime.utcoffset() == timedelta(hours=7)
    body = json.loads(encode_complaint(complaint))
    assert body["requested_datetime"].endswith("+07:00")
    assert body["received_at"].endswith("Z")


def test_naive_times_are_refused():
    with pytest.raises(pydantic.ValidationError, match="timezone"):
        _complaint(requested_datetime=datetime(2026, 11, 27, 9, 0))


def test_unknown_fields_are_refused():
    with pytest.raises(pydantic.ValidationError):
        Complaint.model_validate({**json.loads(encode_complaint(_complaint())), "surprise": 1})


def test_wire_round_trip_and_contract_properties():
    complaint = _complaint()
    wire = to_wire(complaint)
    assert decode_complaint(wire.body) == complaint
    assert wire.message_id == str(complaint.id)
    assert wire.content_type == "application/json"
    assert wire.delivery_mode == 2
    assert wire.type == "id.go.jakarta.kanal.complaint.v1"
    assert wire.headers["cloudEvents_id"] == str(complaint.id)
    assert wire.headers["cloudEvents_source"] == "/kanal/connectors/sms/sms-08111272206"
    assert wire.headers["cloudEvents_specversion"] == "1.0"
    assert uuid.UUID(wire.headers["cloudEvents_id"]) == complaint.id


def test_committed_schema_copy_matches_the_code():
    committed = json.loads((ROOT / "docs" / "complaint.schema.json").read_text(encoding="utf-8"))
    assert committed == json_schema(), "run `kanal schema -o docs/complaint.schema.json` and commit it"


def test_kanal_schema_prints_the_json_schema():
    out = subprocess.run([sys.executable, "-m", "kanal", "schema"], capture_output=True, text=True, check=True)
    schema = json.loads(out.stdout)
    assert schema["title"] == "Complaint"
    assert {"id", "channel", "description", "raw_ref", "requested_datetime"} <= set(schema["required"])


def test_complaint_ids_are_standard_uuid5_in_the_kanal_namespace():
    from normalizer.identity import KANAL_NAMESPACE

    expected = uuid.uuid5(KANAL_NAMESPACE, "sms\x1f+628111272206\x1fKNL-é-1")
    assert complaint_id("SMS", "+628111272206", "KNL-é-1") == expected
