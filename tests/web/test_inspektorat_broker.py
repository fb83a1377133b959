"""An Inspektorat report on the real RabbitMQ: ``kanal run`` (broker mode) and ``kanal
router`` as real processes, the report sent through the form in headless Chromium. It
reaches the confidential queue and no other, and neither process logs the reporter's
details (both run at log level debug)."""

from __future__ import annotations

import uuid

import pika.exceptions
import pytest

from config.models import TopologyConfig
from tests.core.broker_kit import documented_broker, listen_port, read_queue, wait_for
from tests.pipeline.kit import KanalProcess, delete_queues, drain_queues, fresh_database, routed_side_queues
from tests.services import require_postgres, require_rabbitmq
from tests.web.conftest import REPORT_TEXT, REPORTER, logged_secrets, send_inspektorat_report, write_config

pytestmark = [pytest.mark.browser, pytest.mark.rabbitmq, pytest.mark.postgres, pytest.mark.slow]


#: How a debug line looks in the JSON log lines both processes write (no terminal).
DEBUG_LINE = '"level": "debug"'


def _topology() -> TopologyConfig:
    tag = f"insp{uuid.uuid4().hex[:8]}"
    return TopologyConfig(
        intake_exchange=f"{tag}.intake", intake_queue=f"{tag}.intake.q", dead_letter_exchange=f"{tag}.dlx",
        dead_letter_queue=f"{tag}.dead", routed_exchange=f"{tag}.routed", triage_queue=f"{tag}.agency.triage",
        confidential_queue=f"{tag}.confidential", feedback_exchange=f"{tag}.feedback",
        feedback_queue=f"{tag}.router.feedback", delivery_limit=5,
    )


def test_an_inspektorat_report_reaches_only_the_confidential_queue_and_no_log(browser, tmp_path):
    amqp_url = require_rabbitmq()
    topology = _topology()
    port = listen_port()
    with fresh_database(require_postgres()) as dedup_dsn:
        broker = {**documented_broker(amqp_url), "heartbeat": 5, "topology": topology.model_dump()}
        config = write_config(tmp_path, port, broker=broker, router={"dedup_dsn": "${KANAL_TEST_DEDUP_DSN}"})
        env = {"KANAL_TEST_DEDUP_DSN": dedup_dsn}
        run = KanalProcess(["run", "--config", str(config)], env, tmp_path / "run.log",
                           health_url=f"http://127.0.0.1:{port}/healthz")
        router = KanalProcess(["router", "--config", str(config)], env, tmp_path / "router.log")
        try:
            run.start()
            router.start()
            code = send_inspektorat_report(browser, f"http://localhost:{port}", tmp_path)
            assert len(code) == 19

            confidential: list = []

            def arrived() -> bool:
                assert not run.exited(), run.tail()
                assert not router.exited(), router.tail()
                try:
                    confidential.extend(read_queue(amqp_url, topology.confidential_queue, settle=0.2, timeout=5))
                except pika.exceptions.ChannelClosedByBroker:  # the router has not declared it yet
                    return False
                return bool(confidential)

            wait_for(arrived, timeout=60, interval=0.5, what="the report on the confidential queue")
            assert run.terminate() == 0, run.tail()
            assert router.terminate() == 0, router.tail()

            [report] = confidential
            assert report.json["channel"]["name"] == "inspektorat"
            assert report.json["reporter"]["confidential"] is True
            # The details did travel (to the one queue that may hold them), so the log grep below means something.
            assert report.json["reporter"]["name"] == REPORTER["name"]
            assert REPORT_TEXT in report.json["description"]
            # Every agency's queue, triage, the confidential queue again (no second copy) and the intake DLQ.
            left = drain_queues(amqp_url, routed_side_queues(topology))
            assert {topology.triage_queue, topology.dead_letter_queue} <= set(left)
            assert {queue: len(messages) for queue, messages in left.items() if messages} == {}

            # Both logs did speak of the report (at debug where there is a debug line), yet name none of its details.
            assert DEBUG_LINE in run.log.read_text()
            assert report.json["id"] in router.log.read_text()
            assert logged_secrets(run.log, router.log) == []
        finally:
            run.kill9()
            router.kill9()
            delete_queues(amqp_url, [*routed_side_queues(topology), topology.intake_queue, topology.feedback_queue],
                          [topology.intake_exchange, topology.dead_letter_exchange, topology.routed_exchange,
                           topology.feedback_exchange])
