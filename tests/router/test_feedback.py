"""Corrections from the CRM on the real RabbitMQ and PostgreSQL (issue 12, item 4): the router
keeps routed texts, consumes ``{complaint_id, agency}`` from the feedback exchange, and
``train`` learns from them."""

from __future__ import annotations

import json
import threading
import uuid

import pika
import psycopg
import pytest

from router.consumer import RouterConsumer
from router.dedup import PostgresDedupStore
from router.engine import Router
from router.feedback_consumer import FeedbackConsumer, remembering
from router.learn import commands
from router.learn.feedback import FeedbackStore
from router.learn.synth import generate
from tests.router.conftest import agency_queue_names, wait_for
from tests.router.helpers import make_complaint
from tests.router.test_learn import write_rows

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]


@pytest.fixture
def feedback_store(postgres_dsn):
    store = FeedbackStore(postgres_dsn, prefix=f"t_fb_{uuid.uuid4().hex[:10]}")
    yield store
    store.close()
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {store.texts}, {store.feedback}")


def test_corrections_are_consumed_stored_with_the_text_and_trained_on(broker, amqp_url, postgres_dsn, dedup_table,
                                                                     rules, feedback_store, tmp_path, capsys):
    topology = broker.topology
    router = Router(rules, topology, dedup_factory=lambda: PostgresDedupStore(postgres_dsn, table=dedup_table))
    hook_store = FeedbackStore(postgres_dsn, prefix=feedback_store.texts.removesuffix("_texts"))
    routing = RouterConsumer(amqp_url, topology, router, prefetch=50, after_routed=remembering(hook_store))
    feedback = FeedbackConsumer(amqp_url, topology, feedback_store)
    stop = threading.Event()
    threads = [threading.Thread(target=c.run, args=(stop,), daemon=True) for c in (routing, feedback)]
    for t in threads:
        t.start()
    try:
        assert routing.ready.wait(20) and feedback.ready.wait(20)
        complaint = make_complaint("lampu jalan ketutupan pohon, gelap bgt. hub 081234567890")
        broker.publish(complaint)
        queues = [*agency_queue_names(topology, rules).values(), topology.confidential_queue]
        assert wait_for(lambda: sum(broker.depth(q) for q in queues) == 1)
        # The CRM's re-disposition: Pertamanan handled it. Then a message that is no correction.
        props = pika.BasicProperties(content_type="application/json", delivery_mode=2)
        body = json.dumps({"complaint_id": str(complaint.id), "agency": "Dinas Pertamanan dan Hutan Kota"})
        broker.channel.basic_publish(topology.feedback_exchange, "redisposition", body.encode(), props)
        broker.channel.basic_publish(topology.feedback_exchange, "redisposition", b"{not json", props)
        assert wait_for(lambda: feedback.stored == 1 and feedback.rejected == 1)
        assert broker.depth(topology.feedback_queue) == 0
        (dead_props, dead_body), = broker.drain(topology.dead_letter_queue)
        assert dead_body == b"{not json" and dead_props.headers["kanal_dead_reason"] == "bad feedback"
        (row,) = feedback_store.training_rows()
        assert row.agency == "Dinas Pertamanan dan Hutan Kota" and "ketutupan pohon" in row.text
        assert "081234567890" not in row.text  # contacts masked
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        hook_store.close()
    data = write_rows(tmp_path / "history.csv", list(generate(200, seed=5)))
    out: list[str] = []
    assert commands.train([data], tmp_path / "m.skops", None, feedback_store.training_rows(), out=out.append) == 0
    assert "(1 from corrections)" in out[0]
