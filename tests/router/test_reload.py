"""A running ``kanal router`` picks up a new model file on SIGHUP without dropping a message
(issue 12, item 4): a real child process, the real RabbitMQ and PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections import Counter

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from kanal.metrics import RouterMetrics, router_model_info
from router.consumer import RouterConsumer
from router.engine import Router
from router.learn.model import fit, load_model
from router.learn.rows import rows_from_records
from router.learn.synth import generate
from tests.core.broker_kit import listen_port
from tests.ops.kit import scrape
from tests.pipeline.kit import KanalProcess, fresh_database
from tests.router.conftest import agency_queue_names, wait_for
from tests.router.helpers import AGENCY_SAMPLES, make_complaint


@pytest.fixture(scope="module")
def two_models(tmp_path_factory) -> tuple:
    """Two model files trained on different rows: their versions differ."""
    folder = tmp_path_factory.mktemp("models")
    first, second = folder / "a.skops", folder / "b.skops"
    fit(rows_from_records(generate(300, seed=21))).save(first)
    fit(rows_from_records(generate(300, seed=22))).save(second)
    return first, second


def _model_version(exposition: bytes) -> str:
    families = text_string_to_metric_families(exposition.decode())
    (sample,) = [s for f in families for s in f.samples if s.name == "kanal_router_model_info"]
    return sample.labels["model_version"]


def test_model_info_metric_follows_a_reload(two_models, rules, topology, tmp_path):
    first, second = two_models
    live = tmp_path / "router-model.skops"
    shutil.copy(first, live)
    router = Router(rules, topology, model=load_model(live), model_path=live)
    consumer = RouterConsumer("amqp://guest@127.0.0.1:1//", topology, router)  # never connects here
    metrics = RouterMetrics(consumer, router_model_info(router))
    assert _model_version(metrics.render()) == load_model(first).version
    os.replace(shutil.copy(second, tmp_path / "b.tmp"), live)
    consumer.reload_requested.set()  # what the SIGHUP handler does
    consumer._reload_if_asked()  # what the consumer loop does between two batches
    assert _model_version(metrics.render()) == load_model(second).version != load_model(first).version


@pytest.mark.rabbitmq
@pytest.mark.postgres
@pytest.mark.slow
def test_sighup_loads_the_new_model_and_drops_nothing(broker, postgres_dsn, rules, tmp_path, two_models):
    first, second = two_models
    old, new = load_model(first).version, load_model(second).version
    assert old != new
    live = tmp_path / "router-model.skops"
    shutil.copy(first, live)
    topology = broker.topology
    queues = [*agency_queue_names(topology, rules).values(), topology.confidential_queue]
    texts = list(AGENCY_SAMPLES.values())
    batches = [[make_complaint(f"{texts[i % len(texts)]} ({n}-{i})") for i in range(40)] for n in range(3)]
    ops_port = listen_port()
    ops = f"http://127.0.0.1:{ops_port}"
    with fresh_database(postgres_dsn) as dsn:
        config = tmp_path / "kanal.yaml"
        config.write_text(yaml.safe_dump({
            "spool": {"path": str(tmp_path / "spool.db")},
            "broker": {"url": "amqp://guest@127.0.0.1:5672/%2F", "password": "${KANAL_TEST_AMQP_PASSWORD}",
                       "topology": topology.model_dump()},
            "router": {"dedup_dsn": "${KANAL_TEST_DEDUP_DSN}", "model": str(live), "model_threshold": 0.0},
            "metrics": {"router_port": ops_port},
        }))
        router = KanalProcess(["router", "--config", str(config)],
                              {"KANAL_TEST_AMQP_PASSWORD": "guest", "KANAL_TEST_DEDUP_DSN": dsn},
                              tmp_path / "router.log")
        router.start()
        try:
            assert wait_for(lambda: "router consuming" in router.tail(100_000), timeout=60), router.tail()
            for c in batches[0]:
                broker.publish(c)
            assert wait_for(lambda: sum(broker.depth(q) for q in queues) >= 40, timeout=60), router.tail()
            assert scrape(ops).value("kanal_router_model_info", model_version=old) == 1
            os.replace(shutil.copy(second, tmp_path / "b.tmp"), live)  # as `train --out` writes it: atomically
            router.process.send_signal(signal.SIGHUP)
            for c in batches[1]:  # published while the router reloads
                broker.publish(c)
            assert wait_for(lambda: "model reloaded" in router.tail(100_000), timeout=60), router.tail()
            assert scrape(ops).value("kanal_router_model_info", model_version=new) == 1
            assert scrape(ops).value("kanal_router_model_info", model_version=old) is None
            for c in batches[2]:
                broker.publish(c)
            assert wait_for(lambda: sum(broker.depth(q) for q in queues) >= 120, timeout=60), router.tail()
            assert not router.exited()
        finally:
            assert router.terminate() == 0
    version = {}
    ids = Counter()
    for q in queues:
        for props, body in broker.drain(q):
            ids[props.message_id] += 1
            doc = json.loads(body)
            if not doc["routing"].get("copy_of"):
                version[doc["id"]] = doc["routing"]["model"]["version"]
    everything = {str(c.id) for b in batches for c in b}
    assert set(version) == everything and max(ids.values()) == 1  # nothing dropped, nothing twice
    assert {version[str(c.id)] for c in batches[0]} == {old}
    assert {version[str(c.id)] for c in batches[2]} == {new}
    assert {version[str(c.id)] for c in batches[1]} <= {old, new}
    assert broker.depth(topology.dead_letter_queue) == 0
