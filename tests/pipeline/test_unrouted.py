"""``kanal router unrouted`` finds a complaint that left the spool but reached no agency.

Run as ops would after a router crash, from the shipped example config: a complaint
routed by a real ``kanal router`` is not listed; one that the forwarder delivered to
the intake queue and that then vanished from it without being routed (what a router
killed during its ``tx.commit`` can cause, docs/router.md) is listed, with its
provider id, and the command exits 1 so a timer or a check can alert on it.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pika
import pytest
import requests
import yaml

from config.models import TopologyConfig
from router.topology import agency_queue_names
from tests.core.broker_kit import listen_port, read_queue, wait_for
from tests.pipeline.kit import KanalProcess, delete_queues, fresh_database, routed_side_queues
from tests.pipeline.test_example_config import site_copy
from tests.router.helpers import AGENCY_SAMPLES
from tests.services import require_postgres, require_rabbitmq

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres, pytest.mark.slow]


def _send_sms(port: int, token: str, text: str) -> str:
    message_id = str(uuid.uuid4())
    query = urlencode({"token": token, "from": "081200001111", "to": "1708", "text": text,
                       "time": str(int(time.time()) - 5), "id": message_id, "coding": "0", "charset": "UTF-8",
                       "udh": "", "smsc": "telkomsel"})
    answer = requests.get(f"http://127.0.0.1:{port}/webhooks/sms-1708/kannel?{query}", timeout=10)
    assert answer.status_code == 200, answer.text
    return f"kannel:{message_id}"


def _intake_depth(amqp_url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    except pika.exceptions.ChannelClosedByBroker:
        return 0
    finally:
        if connection.is_open:
            connection.close()


def _unrouted(path: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kanal", "router", "unrouted", "--config", str(path),
                           "--settle", "0s", *extra], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def test_a_forwarded_complaint_that_no_router_routed_is_listed(tmp_path: Path) -> None:
    amqp_url = require_rabbitmq()
    webhook_port = listen_port()
    with fresh_database(require_postgres()) as dedup_dsn:
        path, env = site_copy(tmp_path, urlsplit(amqp_url).port or 5672, dedup_dsn, webhook_port)
        site = yaml.safe_load(path.read_text(encoding="utf-8"))
        site.setdefault("metrics", {}).update(port=listen_port(), router_port=listen_port())  # beside other runs
        path.write_text(yaml.safe_dump(site, sort_keys=False, allow_unicode=True), encoding="utf-8")
        full_env = {**os.environ, **env}
        topology = TopologyConfig(**yaml.safe_load(path.read_text(encoding="utf-8"))["broker"]["topology"])
        token = env["KANAL_SMS_1708_KANNEL_TOKEN"]
        health = f"http://127.0.0.1:{webhook_port}/healthz"
        run = KanalProcess(["run", "--config", str(path), "sms-1708"], env, tmp_path / "run.log", health_url=health)
        router = KanalProcess(["router", "--config", str(path)], env, tmp_path / "router.log")
        try:
            run.start()
            router.start()
            routed_id = _send_sms(webhook_port, token, AGENCY_SAMPLES["binamarga"])
            binamarga = agency_queue_names(topology)["binamarga"]
            arrived: list = []

            def routed() -> bool:
                try:
                    arrived.extend(read_queue(amqp_url, binamarga, settle=0.2, timeout=5))
                except pika.exceptions.ChannelClosedByBroker:  # the router has not declared it yet
                    return False
                return bool(arrived)

            wait_for(routed, timeout=60, interval=0.5, what="the first SMS on Bina Marga's queue")
            assert router.terminate() == 0, router.tail()

            clean = _unrouted(path, full_env)
            assert clean.returncode == 0, clean.stdout + clean.stderr
            assert "1 routed, 0 not routed" in clean.stdout

            # No router now: the next SMS reaches the intake queue, and something other than a
            # router takes it off (a stray consumer, a purge) without a routed publish.
            lost_id = _send_sms(webhook_port, token, AGENCY_SAMPLES["sda"])
            wait_for(lambda: _intake_depth(amqp_url, topology.intake_queue) == 1, timeout=30,
                     what="the second SMS on the intake queue")
            wait_for(lambda: _all_forwarded(path), timeout=10, what="the spool's ledger to say forwarded")
            read_queue(amqp_url, topology.intake_queue, settle=0.2, timeout=5)  # consumed and acked: gone

            found = _unrouted(path, full_env)
            assert found.returncode == 1, found.stdout + found.stderr
            [line] = [ln for ln in found.stdout.splitlines() if "provider id" in ln]
            assert lost_id in line and routed_id not in found.stdout
            assert "2 complaints forwarded" in found.stdout and "1 routed, 1 not routed" in found.stdout
            assert "dead-letter" in found.stderr, "the output says where to look"
            lost_cid = line.split()[0]

            # Put it back: only a listed id is taken; then `kanal run` forwards it again and a
            # router routes it, once.
            refused = _unrouted(path, full_env, "--replay", "not-a-listed-id")
            assert refused.returncode == 2 and "not in the list" in refused.stderr
            replayed = _unrouted(path, full_env, "--replay", lost_cid)
            assert replayed.returncode == 0, replayed.stdout + replayed.stderr
            assert "1 put back in the outbox" in replayed.stdout
            router = KanalProcess(["router", "--config", str(path)], env, tmp_path / "router2.log")
            router.start()
            sda = agency_queue_names(topology)["sda"]
            again: list = []
            wait_for(lambda: bool(again.extend(read_queue(amqp_url, sda, settle=0.2, timeout=5)) or again),
                     timeout=60, interval=0.5, what="the replayed SMS on Dinas SDA's queue")
            time.sleep(1.0)
            again.extend(read_queue(amqp_url, sda, settle=0.5, timeout=5))
            assert [d.message_id for d in again] == [lost_cid]
            wait_for(lambda: _unrouted(path, full_env).returncode == 0, timeout=30, interval=1,
                     what="the replayed complaint to be claimed")
        finally:
            run.kill9()
            router.kill9()
            delete_queues(amqp_url, [*routed_side_queues(topology), topology.intake_queue, topology.feedback_queue],
                          [topology.intake_exchange, topology.dead_letter_exchange, topology.routed_exchange,
                           topology.feedback_exchange])


def _all_forwarded(config: Path) -> bool:
    """True once the broker has confirmed every complaint of the spool's ledger."""
    spool = yaml.safe_load(config.read_text(encoding="utf-8"))["spool"]["path"]
    with sqlite3.connect(f"file:{spool}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM ledger WHERE forwarded_at IS NULL").fetchone()[0] == 0
