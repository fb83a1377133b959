"""Metrics and readiness of real ``kanal run`` and ``kanal router`` processes against a
throwaway RabbitMQ node: counters move as complaints pass (taken, confirmed, routed per
agency), ``kanal_*_broker_connected`` drops to 0 when the node is stopped, ``/readyz``
stays ready while the outage is younger than the budget and fails once it is spent,
and everything recovers when the node is back.

Broker settings are in the documented shape (the URL names the user; the password is
a ``${VAR}`` reference).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

import pytest
import requests

from tests.core.broker_kit import PASSWORD_VAR, desk_payload, documented_broker, listen_port, wait_for
from tests.core.rabbit_node import RabbitNode
from tests.ops.kit import scrape
from tests.pipeline.kit import KanalProcess
from tests.router.helpers import AGENCY_SAMPLES

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

TOKEN = "made-up-desk-token-for-the-ops-broker-test"
OPS_TOKEN = "made-up-ops-token-for-the-ops-broker-test"
CHANNEL = "walkin-ops"
BUDGET = 8.0


def _config(tmp_path: Path, amqp_url: str, metrics_port: int, router_port: int, webhook_port: int) -> Path:
    config = {
        "spool": {"path": str(tmp_path / "spool.db")},
        "attachments": {"path": str(tmp_path / "attachments")},
        "broker": {**documented_broker(amqp_url), "heartbeat": 5, "blocked_connection_timeout": 5},
        "webhooks": {"host": "127.0.0.1", "port": webhook_port, "threads": 4},
        "metrics": {"port": metrics_port, "router_port": router_port, "broker_outage_budget_seconds": BUDGET,
                    "ops_token": "${KANAL_TEST_OPS_TOKEN}"},
        "log": {"level": "info", "format": "json"},
        "channels": [{
            "name": CHANNEL, "type": "walkin", "poll_interval": 1,
            "options": {"desk": "Balai Kota", "token": "${KANAL_TEST_WALKIN_TOKEN}"},
        }],
    }
    path = tmp_path / "kanal.yaml"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def _ready(base: str) -> tuple[int, dict]:
    answer = requests.get(f"{base}/readyz", timeout=5)
    return answer.status_code, answer.json()


def _status_page(base: str) -> str:
    answer = requests.get(f"{base}/ops/", headers={"Authorization": f"Bearer {OPS_TOKEN}"}, timeout=5)
    assert answer.status_code == 200
    return answer.text


def _routed_rows(base: str) -> dict[str, list[int]]:
    """The router's status page: agency -> [last hour, last day, since start]."""
    section = _status_page(base).split('id="routed"', 1)[1].split("</section>", 1)[0]
    return {agency: [int(n) for n in numbers.split(",")] for agency, numbers in (
        (m[0], ",".join(re.findall(r'class="num">(\d+)<', m[1])))
        for m in re.findall(r"<tr><td>([a-z_]+)</td>(.*?)</tr>", section))}


def test_metrics_and_readiness_follow_complaints_and_a_broker_outage(tmp_path: Path) -> None:
    node = RabbitNode()
    node.start()
    ports = [listen_port() for _ in range(3)]
    run_ops, router_ops = (f"http://127.0.0.1:{p}" for p in ports[:2])
    config = _config(tmp_path, node.url, *ports)
    env = {PASSWORD_VAR: os.environ[PASSWORD_VAR], "KANAL_TEST_WALKIN_TOKEN": TOKEN, "KANAL_TEST_OPS_TOKEN": OPS_TOKEN}
    run = KanalProcess(["run", "--config", str(config)], env, tmp_path / "run.log", health_url=f"{run_ops}/healthz")
    router = KanalProcess(["router", "--config", str(config)], env, tmp_path / "router.log",
                          health_url=f"{router_ops}/healthz")
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(node.destroy)
        run.start()
        cleanup.callback(run.kill9)
        router.start()
        cleanup.callback(router.kill9)

        def post(ref: str, text: str) -> None:
            answer = requests.post(f"http://127.0.0.1:{ports[2]}/webhooks/{CHANNEL}", data=desk_payload(ref, text),
                                   headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
            assert answer.ok, answer.text

        wait_for(lambda: scrape(router_ops).value("kanal_router_broker_connected") == 1, timeout=60,
                 what="the router to consume")
        post("BM-1", AGENCY_SAMPLES["binamarga"])
        post("DH-1", AGENCY_SAMPLES["dishub"])
        post("BM-2", AGENCY_SAMPLES["binamarga"] + " lagi")
        wait_for(lambda: scrape(router_ops).total("kanal_router_routed_total") == 3, timeout=60,
                 what="three complaints routed")
        taken = scrape(run_ops)
        assert taken.value("kanal_channel_messages_taken_total", channel=CHANNEL) == 3
        assert taken.value("kanal_forwarder_confirmed_total") == 3
        assert taken.value("kanal_forwarder_published_total") >= 3
        assert taken.value("kanal_forwarder_broker_connected") == 1
        assert taken.value("kanal_forwarder_last_confirm_timestamp_seconds") is not None
        routed = scrape(router_ops)
        assert routed.total("kanal_router_routed_total", agency="binamarga") == 2
        assert routed.total("kanal_router_routed_total", agency="dishub") == 1
        assert routed.value("kanal_router_decision_duration_seconds_count") == 3
        assert routed.value("kanal_router_redelivered_routed_total") == 0, "no router had them before"
        assert routed.value("kanal_router_model_info", rules="rules.yaml") == 1
        assert _ready(run_ops)[0] == 200 and _ready(router_ops)[0] == 200
        # The status pages: the router counts per agency; kanal run says where to look.
        wait_for(lambda: _routed_rows(router_ops) == {"binamarga": [2, 2, 2], "dishub": [1, 1, 1]}, timeout=10,
                 what="the routed counts on the router's status page")
        assert "status page of kanal router" in _status_page(run_ops)
        assert requests.get(f"{router_ops}/ops/", timeout=5, allow_redirects=False).status_code == 303

        node.stop()
        wait_for(lambda: scrape(run_ops).value("kanal_forwarder_broker_connected") == 0, timeout=30,
                 what="kanal run to see the broker gone")
        wait_for(lambda: scrape(router_ops).value("kanal_router_broker_connected") == 0, timeout=30,
                 what="the router to see the broker gone")
        for base in (run_ops, router_ops):
            status, report = _ready(base)
            assert report["broker_connected"] is False
            # Ready while the outage is younger than the budget: the spool takes complaints meanwhile.
            assert (status == 200) == (report["broker_outage_seconds"] <= BUDGET), report
        post("DH-2", AGENCY_SAMPLES["dishub"] + " (saat broker mati)")
        during = scrape(run_ops)
        assert during.value("kanal_channel_messages_taken_total", channel=CHANNEL) == 4
        assert during.value("kanal_spool_waiting_complaints") == 1
        assert during.value("kanal_forwarder_broker_disconnected_since_timestamp_seconds") is not None
        for base in (run_ops, router_ops):
            wait_for(lambda b=base: _ready(b)[0] == 503, timeout=BUDGET + 20, what=f"{base}/readyz to fail")
            status, report = _ready(base)
            assert any("broker unreachable" in r for r in report["reasons"]), report
            assert requests.get(f"{base}/healthz", timeout=5).status_code == 200  # alive, just not ready

        node.start()
        wait_for(lambda: _ready(run_ops)[0] == 200 and _ready(router_ops)[0] == 200, timeout=90,
                 what="both processes ready again")
        wait_for(lambda: scrape(router_ops).total("kanal_router_routed_total", agency="dishub") == 2, timeout=60,
                 what="the complaint taken during the outage routed")
        # A confirmed row leaves the outbox in the forwarder's next batched removal, which can
        # come a moment after the router has already routed the message.
        wait_for(lambda: scrape(run_ops).value("kanal_spool_waiting_complaints") == 0, timeout=30,
                 what="the confirmed row removed from the spool")
        after = scrape(run_ops)
        assert after.value("kanal_forwarder_broker_connected") == 1
        assert after.value("kanal_forwarder_confirmed_total") == 4
        assert run.terminate() == 0 and router.terminate() == 0
