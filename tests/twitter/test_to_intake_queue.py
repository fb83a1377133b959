"""X mentions end to end into the real RabbitMQ intake queue: poll (with a crash-style
re-read) and webhook -> spool -> forwarder (publisher confirms) -> queue, once each."""

from __future__ import annotations

import json
import sqlite3

import pytest
import requests

from connectors.twitter.normalise import tweet_complaint_id
from connectors.webhooks import WebhookApp, WebhookServer
from kanal.forwarder import Forwarder
from kanal.spool import Spool
from tests.core.broker_kit import (
    broker_config,
    check_delivery,
    queue_depth,
    read_queue,
    running,
    wait_for,
)
from tests.twitter.fake_x_api import FakeXApi
from tests.twitter.test_polling import seed
from tests.twitter.test_webhook import SECRET, sign, v1_event

pytestmark = pytest.mark.rabbitmq




def test_mentions_reach_the_intake_queue_once_each(fake_x: FakeXApi, spool: Spool, make_runner, amqp_url: str,
                                                    topology, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KANAL_TEST_X_CONSUMER_SECRET", SECRET)
    polled = seed(fake_x, "dkijakarta", 12) + seed(fake_x, "gubernur_contoh", 7)
    runner = make_runner(max_results=5, batch_size=4,
                         webhook={"enabled": True, "consumer_secret": "${KANAL_TEST_X_CONSUMER_SECRET}"})
    app = WebhookApp("/webhooks")
    app.add_channel(runner, runner.connector.webhook_routes())
    server = WebhookServer(app, port=0, threads=2)
    server.start()
    try:
        runner.poll_once()
        # The push delivers one mention the poll already took and one it has not seen yet.
        pushed = fake_x.mention("dkijakarta", fake_x.add_user("warga_push"))
        for tweet_id, text in ((polled[3], "@dkijakarta ulang"), (pushed["id"], pushed["text"])):
            body = json.dumps(v1_event(tweet_id, text)).encode()
            answer = requests.post(f"{server.url}/webhooks/twitter-dkijakarta", data=body, timeout=5,
                                   headers={"x-twitter-webhooks-signature": sign(body)})
            assert answer.status_code == 200
        # A restart that lost its checkpoint re-reads everything: the spool keeps one of each.
        with sqlite3.connect(spool.path) as other_process:
            other_process.execute("DELETE FROM checkpoints")
        runner.poll_once()
    finally:
        server.stop(timeout=2)

    expected = {str(tweet_complaint_id(t)) for t in [*polled, pushed["id"]]}
    forwarder = Forwarder(spool, broker_config(amqp_url, topology))
    with running(forwarder):
        wait_for(lambda: spool.depth() == 0, what="the outbox to drain")
        wait_for(lambda: queue_depth(amqp_url, topology.intake_queue) >= len(expected), what="every mention")
    messages = read_queue(amqp_url, topology.intake_queue)
    report = check_delivery(expected, messages)
    assert report.lost == set() and report.duplicated == 0
    assert {m.json["channel"]["type"] for m in messages} == {"twitter"}
    assert all(m.json["url"].startswith("https://x.com/") for m in messages)
