"""The topology model (config/topology.py) is the one description of the broker's
exchanges, queues, arguments and bindings: the committed definitions file and
``kanal topology`` are its rendering, and what the forwarder (pika) and the router
(kombu) really declare on a broker is what it says."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from config.models import BrokerConfig, TopologyConfig
from config.topology import (
    definitions,
    full_topology,
    intake_queue_arguments,
    intake_topology,
    render,
    routed_topology,
)
from kanal.cli import EXIT_OK, main
from kanal.forwarder import Forwarder
from kanal.spool import Spool
from kanal.topology import COMMITTED_DEFINITIONS, rules_agencies
from router.consumer import RouterConsumer
from router.dedup import open_dedup_store
from router.engine import Router
from router.rules import load_rules
from tests.core.broker_kit import documented_broker
from tests.core.rabbit_node import RabbitNode

REPO = Path(__file__).resolve().parents[2]
RENAMED = TopologyConfig(intake_exchange="x.in", intake_queue="q.in", dead_letter_exchange="x.dlx",
                         dead_letter_queue="q.dead", intake_routing_key="complaint.received", delivery_limit=4,
                         routed_exchange="x.out", triage_queue="dinas.triage", confidential_queue="q.rahasia")


def test_the_intake_queue_arguments_are_explicit() -> None:
    args = intake_queue_arguments(TopologyConfig(delivery_limit=7))
    assert args == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 7,
        "x-dead-letter-exchange": "kanal.dlx",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def test_the_committed_definitions_file_is_the_rendering_of_the_model_for_the_default_config() -> None:
    committed = (REPO / "config" / "rabbitmq-definitions.json").read_text()
    assert COMMITTED_DEFINITIONS == REPO / "config" / "rabbitmq-definitions.json"
    assert committed == render(full_topology(TopologyConfig(), load_rules().agencies)), (
        "config/rabbitmq-definitions.json is stale: run `python -m kanal.topology --write`"
    )


def test_the_definitions_hold_the_intake_topology_for_the_configured_names() -> None:
    document = json.loads(json.dumps(definitions(intake_topology(RENAMED), vhost="kanal")))
    assert {e["name"]: e["type"] for e in document["exchanges"]} == {"x.in": "topic", "x.dlx": "topic"}
    queues = {q["name"]: q for q in document["queues"]}
    assert queues["q.in"]["arguments"]["x-dead-letter-exchange"] == "x.dlx"
    assert queues["q.dead"]["arguments"] == {"x-queue-type": "quorum"}
    assert all(q["durable"] and q["vhost"] == "kanal" for q in document["queues"])
    assert {(b["source"], b["destination"], b["routing_key"]) for b in document["bindings"]} == {
        ("x.in", "q.in", "complaint.received"),
        ("x.dlx", "q.dead", "#"),
    }


def test_every_queue_the_router_publishes_to_is_in_the_model_bound_for_its_routing_keys() -> None:
    rules = load_rules()
    router = Router(rules, RENAMED)
    routed = routed_topology(RENAMED, rules.agencies)
    bound = {(b.queue, b.routing_key) for b in routed.bindings if b.exchange == "x.out"}
    for code in router.agency_codes():
        assert (router.agency_queue(code), f"agency.{code}.#") in bound
        assert routed.queue(router.agency_queue(code)).arguments == {
            "x-queue-type": "quorum", "x-delivery-limit": 4, "x-dead-letter-exchange": "x.dlx"}
    assert router.agency_queue("triage") == "dinas.triage"
    assert ("q.rahasia", "confidential.#") in bound
    assert len(bound) == len(router.agency_codes()) + 1, "confidential is bound with nothing else"


def test_kanal_topology_prints_the_model_for_the_configured_names_and_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "kanal.yaml"
    path.write_text(json.dumps({"spool": {"path": str(tmp_path / "spool.db")},
                                "broker": {"topology": RENAMED.model_dump()}, "channels": []}))
    assert main(["topology", "--config", str(path)]) == EXIT_OK
    printed = json.loads(capsys.readouterr().out)
    assert printed == definitions(full_topology(RENAMED, rules_agencies()))


# -- what the declarers really declare, as the broker reports it ----------------------


@pytest.fixture(name="node", scope="module")
def _node() -> RabbitNode:
    node = RabbitNode()
    node.start()
    yield node
    node.destroy()


#: What the comparison covers: the export has no ``internal`` field (ours are all False).
FIELDS = {
    "exchanges": ("name", "vhost", "type", "durable", "auto_delete", "arguments"),
    "queues": ("name", "vhost", "durable", "auto_delete", "arguments"),
    "bindings": ("source", "vhost", "destination", "destination_type", "routing_key", "arguments"),
}


def _topology_part(document: dict) -> dict[str, list]:
    """Exchanges, queues and bindings of a definitions document (without the built-in
    amq.* exchanges), reduced to :data:`FIELDS` and sorted."""
    return {
        kind: sorted(({k: item[k] for k in fields} for item in document.get(kind, [])
                      if not item.get("name", "").startswith("amq.")), key=json.dumps)
        for kind, fields in FIELDS.items()
    }


def _exported(node: RabbitNode) -> dict[str, list]:
    """The node's topology as ``rabbitmqctl export_definitions`` reports it."""
    return _topology_part(json.loads(node.rabbitmqctl("export_definitions", "-", "--format", "json")))


@pytest.mark.rabbitmq
@pytest.mark.slow
def test_the_forwarder_and_the_router_declare_exactly_the_committed_definitions(
    node: RabbitNode, spool: Spool, tmp_path: Path
) -> None:
    config = TopologyConfig()
    Forwarder(spool, BrokerConfig(**documented_broker(node.url))).declare_topology()
    rules = load_rules()
    router = Router(rules, config, dedup_factory=lambda: open_dedup_store(None, tmp_path / "dedup.db"))
    consumer = RouterConsumer(node.url, config, router)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert consumer.ready.wait(30), "the router did not start consuming"
    finally:
        stop.set()
        thread.join(15)
    committed = json.loads(COMMITTED_DEFINITIONS.read_text())
    assert not any(e["internal"] for e in committed["exchanges"])
    expected = _topology_part(committed)
    assert _exported(node) == expected
    # and an ops import of the committed file into that node agrees (no PRECONDITION_FAILED)
    node.rabbitmqctl("import_definitions", str(COMMITTED_DEFINITIONS))
    assert _exported(node) == expected
