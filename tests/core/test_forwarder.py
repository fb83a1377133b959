"""The forwarder against the real RabbitMQ on 127.0.0.1:5672 (unique names per test)."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path

import pytest
import structlog

from config.models import TopologyConfig
from connectors.attachments import LocalAttachmentStore
from connectors.runner import ChannelRunner
from connectors.walkin.connector import WalkInConnector
from kanal.forwarder import Forwarder, broker_label, connection_parameters
from kanal.spool import Spool
from normalizer.complaint import SCHEMA_TYPE
from normalizer.identity import complaint_id
from normalizer.wire import decode_complaint
from tests.core.broker_kit import (
    blocking_channel,
    broker_config,
    check_delivery,
    desk_payload,
    desk_raw,
    queue_depth,
    read_queue,
    running,
    wait_for,
)
from tests.core.conftest import make_walkin

pytestmark = pytest.mark.rabbitmq




def _runner(connector: WalkInConnector, spool: Spool, tmp_path: Path) -> ChannelRunner:
    return ChannelRunner(connector, spool, LocalAttachmentStore(tmp_path / "attachments"), batch_size=500)


def test_a_complaint_from_a_channel_lands_in_the_intake_queue_once_with_the_contract_properties(
    amqp_url: str, topology: TopologyConfig, spool: Spool, tmp_path: Path
) -> None:
    walkin = make_walkin(tmp_path)
    runner = _runner(walkin, spool, tmp_path)
    (tmp_path / "inbox" / "BK-2026-000777.json").write_bytes(desk_payload("BK-2026-000777"))
    assert runner.poll_once() == 1
    assert (tmp_path / "done" / "BK-2026-000777.json").exists(), "the file is acknowledged after the commit"
    # The same desk file handed in again is the same complaint: the spool ignores it.
    (tmp_path / "inbox" / "BK-2026-000777.json").write_bytes(desk_payload("BK-2026-000777"))
    runner.poll_once()
    assert spool.depth() == 1

    forwarder = Forwarder(spool, broker_config(amqp_url, topology))
    with running(forwarder):
        wait_for(lambda: spool.depth() == 0, what="the outbox to drain")
        wait_for(lambda: queue_depth(amqp_url, topology.intake_queue) >= 1, what="the message in the queue")
    messages = read_queue(amqp_url, topology.intake_queue)

    expected_id = str(complaint_id("walkin", "Balai Kota", "BK-2026-000777"))
    assert [m.message_id for m in messages] == [expected_id]
    props = messages[0].properties
    assert props.delivery_mode == 2
    assert props.content_type == "application/json"
    assert props.content_encoding == "utf-8"
    assert props.type == SCHEMA_TYPE
    assert abs(props.timestamp - datetime.now().timestamp()) < 120
    headers = props.headers
    assert headers["cloudEvents_id"] == expected_id
    assert headers["cloudEvents_specversion"] == "1.0"
    assert headers["cloudEvents_type"] == SCHEMA_TYPE
    assert headers["cloudEvents_source"] == "/kanal/connectors/walkin/walkin-test"
    assert headers["cloudEvents_subject"] == "Balai Kota"
    assert headers["cloudEvents_datacontenttype"] == "application/json"
    assert headers["cloudEvents_time"].endswith("Z")
    complaint = decode_complaint(messages[0].body)
    assert str(complaint.id) == expected_id
    assert complaint.reporter.phone == "+6281200001234"
    assert forwarder.stats.confirmed == 1


def test_the_intake_queue_is_a_quorum_queue_with_a_delivery_limit_and_at_least_once_dead_lettering(
    amqp_url: str, topology: TopologyConfig, spool: Spool
) -> None:
    Forwarder(spool, broker_config(amqp_url, topology)).declare_topology()
    expected = {
        "x-queue-type": "quorum",
        "x-delivery-limit": 5,
        "x-dead-letter-exchange": topology.dead_letter_exchange,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }
    with blocking_channel(amqp_url) as channel:
        # Re-declaring with the same arguments succeeds; any other argument set is refused.
        channel.queue_declare(topology.intake_queue, durable=True, arguments=expected)
        channel.queue_declare(topology.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"})
        channel.exchange_declare(topology.intake_exchange, exchange_type="topic", durable=True, passive=True)
    with blocking_channel(amqp_url) as channel, pytest.raises(Exception, match="PRECONDITION_FAILED"):
        channel.queue_declare(topology.intake_queue, durable=True, arguments={**expected, "x-delivery-limit": 99})


def test_rejected_messages_are_dead_lettered_to_the_dead_letter_queue(
    amqp_url: str, topology: TopologyConfig, spool: Spool, tmp_path: Path
) -> None:
    runner = _runner(make_walkin(tmp_path), spool, tmp_path)
    runner.ingest([desk_raw("BK-DLQ-1")])
    with running(Forwarder(spool, broker_config(amqp_url, topology))):
        wait_for(lambda: spool.depth() == 0, what="the outbox to drain")
    with blocking_channel(amqp_url) as channel:
        method, _props, _body = channel.basic_get(topology.intake_queue)
        assert method is not None
        channel.basic_reject(method.delivery_tag, requeue=False)
    dead = []
    wait_for(lambda: dead.extend(read_queue(amqp_url, topology.dead_letter_queue, settle=0.2)) or dead,
             what="the dead letter")
    assert [json.loads(d.body)["provider_message_id"] for d in dead] == ["BK-DLQ-1"]
    assert dead[0].properties.headers["x-death"][0]["reason"] == "rejected"


def test_many_messages_are_in_flight_at_once_and_each_arrives_exactly_once_in_spool_order(
    amqp_url: str, topology: TopologyConfig, spool: Spool, tmp_path: Path
) -> None:
    runner = _runner(make_walkin(tmp_path), spool, tmp_path)
    refs = [f"BK-W-{i:05d}" for i in range(3000)]
    for start in range(0, len(refs), 500):
        runner.ingest([desk_raw(r) for r in refs[start : start + 500]])
    forwarder = Forwarder(spool, broker_config(amqp_url, topology, confirm_window=250, batch_size=400))
    with running(forwarder):
        wait_for(lambda: spool.depth() == 0, what="the outbox to drain")
    messages = read_queue(amqp_url, topology.intake_queue)
    assert [m.json["provider_message_id"] for m in messages] == refs
    assert 1 < forwarder.stats.max_in_flight <= 250, "confirms are streamed, not awaited one by one"
    assert forwarder.stats.confirmed == 3000
    assert spool.pending(10) == []


def test_an_unroutable_message_is_not_taken_as_delivered_and_goes_out_once_the_binding_is_back(
    amqp_url: str, topology: TopologyConfig, spool: Spool, tmp_path: Path
) -> None:
    runner = _runner(make_walkin(tmp_path), spool, tmp_path)
    forwarder = Forwarder(spool, broker_config(amqp_url, topology))
    runner.ingest([desk_raw("BK-ROUTED")])
    with running(forwarder):
        wait_for(lambda: spool.depth() == 0, what="the first complaint to go out")
        # Someone deletes the intake binding while the forwarder is connected: the broker
        # returns the next message (mandatory) and then acks it. That ack must not count;
        # the forwarder reconnects, declares the topology again and republishes.
        with blocking_channel(amqp_url) as channel:
            channel.queue_unbind(topology.intake_queue, topology.intake_exchange, topology.intake_routing_key)
        runner.ingest([desk_raw("BK-UNROUTABLE")])
        wait_for(lambda: forwarder.stats.returned >= 1, what="the broker to return the message")
        wait_for(lambda: spool.depth() == 0, what="the outbox to drain after the binding came back")
    messages = read_queue(amqp_url, topology.intake_queue)
    assert [m.json["provider_message_id"] for m in messages] == ["BK-ROUTED", "BK-UNROUTABLE"]
    assert forwarder.stats.failures >= 1
    assert forwarder.stats.sessions >= 2


def test_a_nacked_publish_stays_in_the_spool_and_is_retried_until_the_broker_takes_it(
    amqp_url: str, topology: TopologyConfig, spool: Spool, tmp_path: Path
) -> None:
    # A second queue on the intake binding that refuses new messages once it holds one:
    # with x-overflow=reject-publish the broker nacks every publish routed to it.
    blocker = f"{topology.intake_queue}.blocker"
    forwarder = Forwarder(spool, broker_config(amqp_url, topology, confirm_window=10))
    forwarder.declare_topology()
    with blocking_channel(amqp_url) as channel:
        channel.queue_declare(blocker, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
        channel.queue_bind(blocker, topology.intake_exchange, topology.intake_routing_key)
    runner = _runner(make_walkin(tmp_path), spool, tmp_path)
    refs = [f"BK-NACK-{i}" for i in range(5)]
    runner.ingest([desk_raw(r) for r in refs])
    try:
        with running(forwarder):
            wait_for(lambda: forwarder.stats.nacked >= 1, what="a nack")
            assert spool.depth() >= 1, "a nacked row must stay in the outbox"
            with blocking_channel(amqp_url) as channel:
                channel.queue_delete(blocker)
            wait_for(lambda: spool.depth() == 0, timeout=60, what="the outbox to drain once the broker accepts")
    finally:
        with blocking_channel(amqp_url) as channel:
            channel.queue_delete(blocker)
    messages = read_queue(amqp_url, topology.intake_queue)
    ids = {str(complaint_id("walkin", "Balai Kota", r)) for r in refs}
    report = check_delivery(ids, messages)
    assert not report.lost
    assert not report.conflicting
    assert not report.inconsistent


def test_the_password_secret_is_used_and_never_appears_in_logs(
    amqp_url: str, topology: TopologyConfig, spool: Spool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KANAL_TEST_BROKER_PASSWORD", "guest")
    broker = broker_config(amqp_url, topology, password="${KANAL_TEST_BROKER_PASSWORD}")
    assert ":" not in broker.url.split("@")[0].removeprefix("amqp://"), "the URL names the user only"
    assert connection_parameters(broker).credentials.password == "guest"
    Forwarder(spool, broker).declare_topology()

    monkeypatch.setenv("KANAL_TEST_BROKER_PASSWORD", "s3cret-never-logged")
    bad = broker_config(amqp_url, topology, password="${KANAL_TEST_BROKER_PASSWORD}")
    assert "s3cret" not in broker_label(bad)
    forwarder = Forwarder(spool, bad)
    with structlog.testing.capture_logs() as logs, running(forwarder):
        forwarder.log = structlog.get_logger("kanal").bind(component="forwarder")
        wait_for(lambda: forwarder.stats.failures >= 1, what="the refused login")
    assert any(e["event"] == "broker unavailable; retrying" for e in logs)
    assert "s3cret-never-logged" not in repr(logs)


def test_stop_leaves_unsent_rows_in_the_spool_when_the_broker_is_unreachable(
    topology: TopologyConfig, spool: Spool, tmp_path: Path
) -> None:
    runner = _runner(make_walkin(tmp_path), spool, tmp_path)
    runner.ingest([desk_raw("BK-OFFLINE")])
    # A port nothing listens on: connection refused at once.
    forwarder = Forwarder(spool, broker_config("amqp://guest:guest@127.0.0.1:9/%2F", topology))
    with running(forwarder):
        wait_for(lambda: forwarder.stats.failures >= 2, what="two failed attempts")
    assert spool.depth() == 1
    assert os.path.exists(spool.path)


def test_a_complaint_is_published_right_after_its_commit_not_at_the_next_look_at_the_outbox(
    amqp_url: str, topology: TopologyConfig, spool: Spool, tmp_path: Path
) -> None:
    runner = _runner(make_walkin(tmp_path), spool, tmp_path)
    # The outbox is looked at only once a minute: only the commit's wake-up can explain
    # a publish within seconds.
    forwarder = Forwarder(spool, broker_config(amqp_url, topology), idle_poll=60.0)
    with running(forwarder):
        wait_for(lambda: forwarder.stats.connected, what="the session to open")
        for i in range(3):
            committed = time.monotonic()
            runner.ingest([desk_raw(f"BK-WAKE-{i}")])
            wait_for(lambda n=i + 1: forwarder.stats.confirmed == n, timeout=10, what=f"complaint {i} confirmed")
            assert time.monotonic() - committed < 5.0
    refs = [m.json["provider_message_id"] for m in read_queue(amqp_url, topology.intake_queue)]
    assert refs == [f"BK-WAKE-{i}" for i in range(3)]
