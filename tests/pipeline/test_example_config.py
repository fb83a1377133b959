"""The shipped production example, run as ops would run it.

``config/kanal.example.yaml`` is copied with only its hosts, ports and paths
rewritten to this machine's services, and its secrets given in the environment,
exactly as the comments in it tell an operator to do. ``kanal run`` (two of its
channels: the Balai Kota desk and the 1708 Kannel link) and ``kanal router`` then
run as real processes, and a complaint sent the way Kannel sends it must reach an
agency's queue. The first round's example config (the password as a reference)
silently killed the forwarder; this test is the guard against that class of bug.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import pika.exceptions
import pytest
import requests
import yaml

from config.models import TopologyConfig
from router.topology import agency_queue_names
from tests.core.broker_kit import desk_payload, listen_port, read_queue, wait_for
from tests.pipeline.kit import KanalProcess, delete_queues, fresh_database, routed_side_queues
from tests.router.helpers import AGENCY_SAMPLES
from tests.services import require_postgres, require_rabbitmq

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "kanal.example.yaml"


def site_copy(tmp_path: Path, amqp_port: int, dedup_dsn: str, webhook_port: int) -> tuple[Path, dict[str, str]]:
    """The example config as a site would adapt it: hosts, ports and paths only.

    Returns the file and the environment holding its secrets.
    """
    config = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    text = EXAMPLE.read_text(encoding="utf-8")
    var = tmp_path / "var"
    config["spool"]["path"] = str(var / "spool.db")
    config["attachments"]["path"] = str(var / "attachments")

    broker = config["broker"]
    assert "password" in broker and "@" in broker["url"], "the example keeps its password out of the URL"
    parts = urlsplit(broker["url"])
    # This machine's broker has the guest user on the default vhost; the shape stays
    # the documented one: a user in the URL, the password as a ${VAR} reference.
    broker["url"] = urlunsplit((parts.scheme, f"guest@127.0.0.1:{amqp_port}", "/%2F", "", ""))
    tag = uuid.uuid4().hex[:8]
    topology = TopologyConfig(
        intake_exchange=f"ex{tag}.intake", intake_queue=f"ex{tag}.intake.q", dead_letter_exchange=f"ex{tag}.dlx",
        dead_letter_queue=f"ex{tag}.dead", routed_exchange=f"ex{tag}.routed", triage_queue=f"ex{tag}.agency.triage",
        confidential_queue=f"ex{tag}.confidential", feedback_exchange=f"ex{tag}.feedback",
        feedback_queue=f"ex{tag}.router.feedback", delivery_limit=broker["topology"]["delivery_limit"],
    )
    broker["topology"] = topology.model_dump()
    config["webhooks"].update(host="127.0.0.1", port=webhook_port)
    # "One port per config on a host", as the example says: 0 picks a free one, since
    # another kanal run on this machine may hold the shipped 8091/8092.
    config["metrics"].update(port=0, router_port=0)

    for channel in config["channels"]:
        options = channel["options"]
        for key in ("inbox", "done"):
            if key in options:
                options[key] = str(var / "walkin" / key)

    env = {name: f"made-up-{name.lower()}" for name in set(re.findall(r"\$\{([A-Z0-9_]+)\}", text))}
    env["KANAL_AMQP_PASSWORD"] = "guest"
    env["KANAL_ROUTER_DEDUP_DSN"] = dedup_dsn
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for path in set(re.findall(r"file:(/\S+)", text)):
        (secrets / Path(path).name).write_text("made-up-secret\n", encoding="utf-8")
    dumped = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    dumped = re.sub(r"file:/\S*/", f"file:{secrets}/", dumped)
    path = tmp_path / "kanal.yaml"
    path.write_text(dumped, encoding="utf-8")
    return path, env


def test_the_shipped_example_config_carries_a_complaint_to_an_agency_queue(tmp_path: Path) -> None:
    amqp_url = require_rabbitmq()
    amqp_port = urlsplit(amqp_url).port or 5672
    webhook_port = listen_port()
    with fresh_database(require_postgres()) as dedup_dsn:
        path, env = site_copy(tmp_path, amqp_port, dedup_dsn, webhook_port)
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        topology = TopologyConfig(**config["broker"]["topology"])
        check = KanalProcess(["check-config", str(path)], env, tmp_path / "check.log")
        check.start(wait=False)
        assert check.process.wait(timeout=60) == 0, check.tail()

        run = KanalProcess(["run", "--config", str(path), "walkin-balaikota", "sms-1708"], env,
                           tmp_path / "run.log", health_url=f"http://127.0.0.1:{webhook_port}/healthz")
        router = KanalProcess(["router", "--config", str(path)], env, tmp_path / "router.log")
        try:
            run.start()
            router.start()
            message_id = str(uuid.uuid4())
            query = urlencode({
                "token": env["KANAL_SMS_1708_KANNEL_TOKEN"], "from": "081200001111", "to": "1708",
                "text": AGENCY_SAMPLES["binamarga"], "time": str(int(time.time()) - 5), "id": message_id,
                "coding": "0", "charset": "UTF-8", "udh": "", "smsc": "telkomsel",
            })
            answer = requests.get(
                f"http://127.0.0.1:{webhook_port}/webhooks/sms-1708/kannel?{query}", timeout=10)
            assert answer.status_code == 200, answer.text
            inbox = Path(config["channels"][0]["options"]["inbox"])
            inbox.mkdir(parents=True, exist_ok=True)
            (inbox / "BK-EXAMPLE.json").write_bytes(desk_payload(f"BK-EX-{message_id[:8]}", AGENCY_SAMPLES["sda"]))

            agency = agency_queue_names(topology)
            arrived: dict[str, list] = {"binamarga": [], "sda": []}

            def both_arrived() -> bool:
                assert not run.exited(), run.tail()
                assert not router.exited(), router.tail()
                for code in arrived:
                    try:
                        arrived[code] += read_queue(amqp_url, agency[code], settle=0.2, timeout=5)
                    except pika.exceptions.ChannelClosedByBroker:  # the router has not declared it yet
                        return False
                return all(arrived.values())

            wait_for(both_arrived, timeout=60, interval=0.5, what="both complaints on their agency queues")
            [sms] = arrived["binamarga"]
            assert sms.json["provider_message_id"] == f"kannel:{message_id}"
            assert sms.json["routing"]["agency_code"] == "binamarga"
            [desk] = arrived["sda"]
            assert desk.json["channel"]["name"] == "walkin-balaikota"
            assert run.terminate() == 0, run.tail()
            assert router.terminate() == 0, router.tail()
            logs = run.tail(200_000) + router.tail(200_000)
            assert "Traceback" not in logs, logs[-3000:]
            assert ":guest@" not in logs, "no password in any log line"
            assert env["KANAL_SMS_1708_KANNEL_TOKEN"] not in logs
        finally:
            run.kill9()
            router.kill9()
            delete_queues(amqp_url, [*routed_side_queues(topology), topology.intake_queue, topology.feedback_queue],
                          [topology.intake_exchange, topology.dead_letter_exchange, topology.routed_exchange,
                           topology.feedback_exchange])
