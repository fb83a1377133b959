"""Facebook end to end into the real RabbitMQ intake queue: webhook and poll -> spool ->
forwarder (publisher confirms) -> queue, one message per Facebook item."""

from __future__ import annotations

import time

import pytest

from kanal.forwarder import Forwarder
from normalizer.identity import complaint_id
from tests.core.broker_kit import (
    broker_config,
    check_delivery,
    queue_depth,
    read_queue,
    running,
    wait_for,
)

pytestmark = pytest.mark.rabbitmq




def test_webhook_and_poll_reach_the_intake_queue_once_per_item(graph, hook, runner, spool, amqp_url, topology):
    now = time.time()
    page_post = graph.add_post("Info pelayanan publik", now - 900)
    comment = graph.add_comment(page_post, "Jalan di Jl. Contoh No. 5 berlubang", now - 600, ("5550020", "Warga A"))
    visitor_post = graph.add_post("PJU mati di RT 03", now - 300, ("5550021", "Warga B"))
    body = {"object": "page", "entry": [{"id": graph.page_id, "time": int(now), "changes": [{"field": "feed", "value": {
        "item": "comment", "verb": "add", "comment_id": comment, "post_id": page_post, "parent_id": page_post,
        "from": {"id": "5550020", "name": "Warga A"}, "message": "Jalan di Jl. Contoh No. 5 berlubang",
        "created_time": int(now - 600)}}]}]}
    assert hook.post(body).status_code == 200
    runner.poll_once()  # finds the same comment again, and the visitor post

    expected = {str(complaint_id("facebook", graph.page_id, pmid)) for pmid in (comment, visitor_post)}
    forwarder = Forwarder(spool, broker_config(amqp_url, topology))
    with running(forwarder):
        wait_for(lambda: spool.depth() == 0, what="the outbox to drain")
        wait_for(lambda: queue_depth(amqp_url, topology.intake_queue) >= 2, what="two messages in the queue")
    messages = read_queue(amqp_url, topology.intake_queue)

    report = check_delivery(expected, messages)
    assert report.lost == set() and report.duplicated == 0
    assert {m.message_id for m in messages} == expected
    assert {m.json["channel"]["name"] for m in messages} == {"facebook-pemprov-dki"}
