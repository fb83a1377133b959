"""A log line never fails on citizen data (found by tests/fuzz: a JSON SMS whose id held a
lone surrogate made the console renderer's write raise UnicodeEncodeError inside the
runner, so the webhook answered 503 and the gateway would retry it for ever)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
import structlog

from connectors.attachments import LocalAttachmentStore
from connectors.base import RawMessage
from connectors.runner import ChannelRunner
from kanal.logs import configure_logging
from kanal.spool import Spool
from normalizer.timeutil import utc_now
from tests.sms.kit import SECRET, make_connector


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_a_lone_surrogate_in_a_logged_value_is_escaped_not_raised(
    fmt: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KANAL_TEST_SMS_SECRET", SECRET)
    strict = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", write_through=True)
    monkeypatch.setattr(sys, "stderr", strict)
    configure_logging("info", fmt)
    try:
        connector = make_connector("sms-json", backend="json", json={"secret": "${KANAL_TEST_SMS_SECRET}"})
        spool = Spool(tmp_path / "spool.db")
        runner = ChannelRunner(connector, spool, LocalAttachmentStore(tmp_path / "att"))
        payload = json.dumps({"id": "\ud83d", "from": "081200001111", "text": "Banjir"}).encode()
        [result] = runner.ingest([RawMessage("json:\ud83d", payload, utc_now(), {"backend": "json"})])
        spool.close()
    finally:
        structlog.reset_defaults()
    assert result.status == "quarantined"
    written = strict.buffer.getvalue().decode("utf-8")
    assert "message quarantined" in written and "\\ud83d" in written


def test_a_quarantine_entry_whose_source_id_and_metadata_hold_a_lone_surrogate_is_stored(tmp_path: Path) -> None:
    from connectors.base import Outcome

    spool = Spool(tmp_path / "spool.db")
    raw = RawMessage("json:\ud83d", b"{}", utc_now(), {"reason": "id \udc00"})
    [result] = spool.commit("sms-json", "sms", [Outcome(raw, "quarantined", reason="bad id")])
    [entry] = spool.quarantined("sms-json")
    spool.close()
    assert result.status == "quarantined"
    assert entry.source_id == "json:\\ud83d" and entry.metadata == {"reason": "id \udc00"}
