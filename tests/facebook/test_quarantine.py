"""A malformed item goes to quarantine with a reason that names the field, never the citizen's data."""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Iterator

import pytest
import structlog

from connectors.runner import ChannelRunner
from kanal.logs import configure_logging
from tests.facebook.conftest import by_message_id, make_connector, make_options

CITIZEN = ("5550001", "Siti Warga")
TEXT = "Pohon tumbang menimpa rumah di Gg. Melati 7"
PLACE = "Rumah Bu Siti, Gg. Melati 7"
LATITUDE, LONGITUDE = 96.123457, 106.876543  # a latitude out of range: the Location model refuses it


@pytest.fixture
def json_logs(monkeypatch) -> Iterator[io.StringIO]:
    """The process's real log pipeline (JSON lines on stderr, here a buffer), restored afterwards."""
    buffer = io.StringIO()
    with monkeypatch.context() as patch:
        patch.setattr(sys, "stderr", buffer)
        configure_logging(level="debug", fmt="json")
    yield buffer
    structlog.reset_defaults()


def test_a_validation_error_is_quarantined_without_the_values_in_the_reason_or_the_log(
    graph, spool, attachments, secrets_env, json_logs
):
    bad = graph.add_post(TEXT, time.time() - 120, CITIZEN,
                         place={"name": PLACE, "location": {"latitude": LATITUDE, "longitude": LONGITUDE}})
    good = graph.add_post("Lampu jalan mati", time.time() - 60, CITIZEN)
    connector = make_connector(make_options(graph))  # after configure_logging: it binds the real pipeline
    runner = ChannelRunner(connector, spool, attachments)

    runner.poll_once()
    connector.close()

    assert set(by_message_id(spool)) == {good}, "the rest of the poll is taken in"
    [entry] = spool.quarantined(runner.name)
    assert bad.encode() in entry.payload and str(LATITUDE).encode() in entry.payload  # raw bytes kept as they came
    assert entry.error == "invalid Location: lat (less_than_equal)"
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line.startswith("{")]
    quarantined = [e for e in lines if "quarantined" in e["event"]]
    assert quarantined and quarantined[0]["level"] == "warning"
    for text in (entry.error, *map(json.dumps, lines)):
        for value in (str(LATITUDE), str(LONGITUDE), TEXT, PLACE, "input_value", "Siti"):
            assert value not in text, (value, text)
