"""The forwarder's pure parts: the wire message built from a spool row and the broker
settings (no broker needed). The topology and the definitions file: test_topology.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from config.models import BrokerConfig
from kanal.forwarder import broker_label, connection_parameters, wire_message
from kanal.spool import OutboxRow
from normalizer.complaint import SCHEMA_TYPE, ChannelRef, Complaint
from normalizer.wire import encode_complaint, to_wire


def _complaint(received_at: datetime) -> Complaint:
    return Complaint(
        id=uuid.uuid4(),
        channel=ChannelRef(type="sms", name="sms-1708", account="1708"),
        provider_message_id="SMSC-0001",
        received_at=received_at,
        requested_datetime=received_at.astimezone(timezone(timedelta(hours=7))),
        description="Banjir setinggi lutut di Jl. Contoh, Kelurahan Gambir.",
        raw_ref="raw:sha256:" + "1" * 64,
    )


@pytest.mark.parametrize(
    "received_at",
    [
        datetime(2026, 11, 27, 2, 15, 0, tzinfo=UTC),
        datetime(2026, 11, 27, 2, 15, 0, 120000, tzinfo=UTC),
        datetime(2026, 11, 27, 9, 15, 0, 5, tzinfo=timezone(timedelta(hours=7))),
    ],
)
def test_a_spool_row_becomes_exactly_the_message_to_wire_builds_for_its_complaint(received_at: datetime) -> None:
    complaint = _complaint(received_at)
    body = encode_complaint(complaint)
    row = OutboxRow(seq=1, id=str(complaint.id), channel="sms-1708", body=body)
    assert wire_message(row) == to_wire(complaint, body)


def test_a_damaged_spool_row_is_still_published_with_its_id_and_flagged() -> None:
    row = OutboxRow(seq=7, id="0b7e8f0e-0000-4000-8000-000000000007", channel="sms-1708", body=b"{not json")
    message = wire_message(row)
    assert message.message_id == row.id
    assert message.body == row.body
    assert message.type == SCHEMA_TYPE
    assert message.delivery_mode == 2
    assert message.headers["cloudEvents_id"] == row.id
    assert message.headers["kanal_body_invalid"] == "true"


def test_broker_settings_reach_pika_and_the_logged_label_has_no_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KANAL_TEST_PW", "hunter2")
    broker = BrokerConfig(url="amqp://kanal@mq.example.org:5679/intake", password="${KANAL_TEST_PW}",
                          heartbeat=12, blocked_connection_timeout=45)
    params = connection_parameters(broker)
    assert (params.host, params.port, params.virtual_host) == ("mq.example.org", 5679, "intake")
    assert params.heartbeat == 12
    assert params.blocked_connection_timeout == 45
    assert (params.credentials.username, params.credentials.password) == ("kanal", "hunter2")
    assert broker_label(broker) == "mq.example.org:5679/intake"
    assert broker_label(BrokerConfig(url="amqp://127.0.0.1/%2F")) == "127.0.0.1:5672//"
    with pytest.raises(ValueError, match="embedded default"):
        connection_parameters(BrokerConfig())


@pytest.mark.parametrize(
    ("url", "password", "expected"),
    [
        # the shape config/kanal.example.yaml documents
        ("amqp://kanal@rabbitmq.internal:5672/kanal", "s3cret", ("rabbitmq.internal", 5672, "kanal", "s3cret", False)),
        # a password with every character that needs URL-encoding
        ("amqp://kanal@mq/kanal", "p@ss:w/rd%?#&=", ("mq", 5672, "kanal", "p@ss:w/rd%?#&=", False)),
        # TLS: port 5671 by default and a TLS context
        ("amqps://kanal@mq.internal/kanal", "x", ("mq.internal", 5671, "kanal", "x", True)),
        # an encoded vhost ('/' itself, and one with a slash in its name)
        ("amqp://kanal@mq:5673/%2F", "x", ("mq", 5673, "/", "x", False)),
        ("amqp://kanal@mq/jakarta%2Fcrm", "x", ("mq", 5672, "jakarta/crm", "x", False)),
        # an encoded user name
        ("amqp://kanal%40dki@mq/kanal", "x", ("mq", 5672, "kanal", "x", False)),
    ],
)
def test_documented_broker_shapes_reach_pika(
    url: str, password: str, expected: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KANAL_TEST_PW", password)
    params = connection_parameters(BrokerConfig(url=url, password="${KANAL_TEST_PW}"))
    host, port, vhost, secret, tls = expected
    assert (params.host, params.port, params.virtual_host) == (host, port, vhost)
    assert params.credentials.password == secret
    assert (params.ssl_options is not None) is tls


def test_the_whole_url_may_be_a_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KANAL_TEST_AMQP", "amqps://kanal:hunter2@mq.internal:5671/kanal")
    broker = BrokerConfig(url="${KANAL_TEST_AMQP}")
    params = connection_parameters(broker)
    assert (params.credentials.username, params.credentials.password) == ("kanal", "hunter2")
    assert broker.label() == "mq.internal:5671/kanal"
    assert "hunter2" not in repr(broker)
    assert "hunter2" not in broker.model_dump_json()


@pytest.mark.parametrize(
    ("broker", "says"),
    [
        ({"url": "amqp://kanal:hunter2@mq/kanal"}, "holds a password"),
        ({"url": "amqp://kanal@mq/kanal"}, "no password is set"),
        ({"url": "amqp://mq/kanal", "password": "${KANAL_TEST_PW}"}, "names no user"),
        ({"url": "amqp://mq:notaport/kanal"}, "port"),
        ({"url": "http://mq/kanal"}, "amqp://"),
    ],
)
def test_a_broker_block_that_cannot_work_is_refused_with_what_to_do(
    broker: dict, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KANAL_TEST_PW", "x")
    with pytest.raises(ValueError, match=says) as raised:
        BrokerConfig(**broker)
    assert "hunter2" not in "\n".join(e["msg"] for e in raised.value.errors())
