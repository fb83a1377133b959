"""No silent death, and `kanal status` tells the truth about the process.

A thread of `kanal run` that dies from an unexpected exception fails the whole
process (exit 1, so systemd restarts it) instead of leaving it half-alive, and the
spool keeps what was taken in. `kanal status` reads only the spool, needs none of
the service's secrets, and shows a process that was killed as dead.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from config.models import TopologyConfig
from kanal.local_router import LocalRouterLoop
from kanal.spool import Spool
from router.consumer import RouterConsumer
from router.engine import Router
from router.rules import load_rules
from tests.core.broker_kit import (
    desk_payload,
    desk_raw,
    documented_broker,
    listen_port,
    read_queue,
    wait_for,
)
from tests.core.conftest import make_walkin

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "made-up-desk-token-for-tests"

#: ``kanal run`` with a fault injected into the outbox read the forwarder does, once
#: there is something to forward: a bug of the kind the supervisor exists for (it is
#: not a broker or database error).
FAULTY_RUN = """
import sys
from kanal.spool import Spool
read = Spool.pending
def pending(self, *args, **kwargs):
    if read(self, *args, **kwargs):
        raise RuntimeError("injected fault: a bug in reading the outbox")
    return []
Spool.pending = pending
from kanal.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _config(tmp_path: Path, port: int, broker: dict | None = None) -> Path:
    config = {
        "spool": {"path": str(tmp_path / "spool.db")},
        "webhooks": {"host": "127.0.0.1", "port": port, "threads": 4},
        "log": {"level": "info", "format": "json"},
        "metrics": {"port": 0},  # the default 8091 may be taken by another kanal run on the machine
        "channels": [{
            "name": "walkin-sv", "type": "walkin", "poll_interval": 0.2,
            "options": {"desk": "Balai Kota", "inbox": str(tmp_path / "inbox"), "done": str(tmp_path / "done"),
                        "token": "${KANAL_TEST_WALKIN_TOKEN}"},
        }],
    }
    if broker:
        config["broker"] = broker
    path = tmp_path / "kanal.yaml"
    path.write_text(json.dumps(config))
    return path


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "KANAL_TEST_WALKIN_TOKEN": TOKEN, **extra}


def _post(port: int, ref: str) -> requests.Response:
    return requests.post(f"http://127.0.0.1:{port}/webhooks/walkin-sv", data=desk_payload(ref), timeout=10,
                         headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})


def _status(config: Path, env: dict[str, str]) -> tuple[int, dict]:
    out = subprocess.run([sys.executable, "-m", "kanal", "status", "--json", "--config", str(config)],
                         cwd=config.parent, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert out.stdout, out.stderr
    return out.returncode, json.loads(out.stdout)


def _wait_healthy(port: int, process: subprocess.Popen) -> None:
    def healthy() -> bool:
        assert process.poll() is None, f"kanal run exited with {process.returncode}"
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    wait_for(healthy, timeout=60, what="kanal run to answer /healthz")


@pytest.mark.rabbitmq
def test_a_forwarder_that_keeps_crashing_stops_kanal_run_with_exit_1_and_loses_nothing(
    tmp_path: Path, amqp_url: str, topology: TopologyConfig
) -> None:
    port = listen_port()
    config = _config(tmp_path, port, {**documented_broker(amqp_url), "heartbeat": 5,
                                      "topology": topology.model_dump()})
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", FAULTY_RUN, "run", "--config", str(config)],
                                   cwd=tmp_path, env=_env(), stdout=out, stderr=out)
    try:
        _wait_healthy(port, process)
        answer = _post(port, "BK-SV-0001")
        assert answer.status_code == 202, answer.text
        complaint_id = answer.json()["complaint_id"]
        assert process.wait(timeout=60) == 1
    finally:
        if process.poll() is None:
            process.kill()
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    died = [e for e in lines if e.get("event", "").startswith("thread died")]
    assert died and died[0]["thread"] == "kanal-output", text[-3000:]
    assert "injected fault" in died[0]["exception"], "the traceback is in the log"
    assert "kanal run: stopped because thread kanal-output died" in text
    code, status = _status(config, _env())
    assert status["spool_depth"] == 1, "what was taken in stays in the spool"
    assert status["process"]["state"] == "failed" and code == 3

    # Restarted without the fault (as systemd would), the complaint goes on to RabbitMQ.
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "kanal", "run", "--config", str(config)],
                                   cwd=tmp_path, env=_env(), stdout=out, stderr=out)
    try:
        _wait_healthy(port, process)
        delivered: list = []
        wait_for(lambda: delivered.extend(read_queue(amqp_url, topology.intake_queue, settle=0.2)) or delivered,
                 timeout=30, what="the kept complaint on the intake queue")
        assert [m.message_id for m in delivered] == [complaint_id]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_status_shows_a_killed_kanal_run_as_dead_and_needs_no_secrets(tmp_path: Path) -> None:
    port = listen_port()
    config = _config(tmp_path, port)
    with (tmp_path / "run.log").open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "kanal", "run", "--config", str(config)],
                                   cwd=tmp_path, env=_env(), stdout=out, stderr=out)
    try:
        _wait_healthy(port, process)
        no_secrets = {k: v for k, v in _env().items() if k != "KANAL_TEST_WALKIN_TOKEN"}
        wait_for(lambda: _status(config, no_secrets)[1]["channels"][0]["state"] == "running",
                 timeout=30, what="the channel to say running")
        code, status = _status(config, no_secrets)
        assert code == 0
        assert status["process"]["state"] == "running" and status["process"]["pid"] == process.pid
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        code, status = _status(config, no_secrets)
        assert code == 3
        assert status["process"]["state"] == "dead"
        [channel] = status["channels"]
        assert channel["state"] == "dead" and channel["recorded_state"] == "running"
        assert f"pid {process.pid}" in channel["detail"]
        human = subprocess.run([sys.executable, "-m", "kanal", "status", "--config", str(config)], cwd=tmp_path,
                               env=no_secrets, capture_output=True, text=True, timeout=60, check=False)
        assert human.returncode == 3
        assert "kanal run: DEAD" in human.stdout and "walkin-sv (walkin): DEAD" in human.stdout
    finally:
        if process.poll() is None:
            process.kill()

    with (tmp_path / "run.log").open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "kanal", "run", "--config", str(config)],
                                   cwd=tmp_path, env=_env(), stdout=out, stderr=out)
    _wait_healthy(port, process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    code, status = _status(config, _env())
    assert (code, status["process"]["state"]) == (0, "stopped")


def test_the_embedded_router_sends_a_damaged_row_to_triage_and_goes_on(tmp_path: Path, spool: Spool) -> None:
    runner_spool = spool
    walkin = make_walkin(tmp_path)
    from connectors.attachments import LocalAttachmentStore
    from connectors.runner import ChannelRunner

    runner = ChannelRunner(walkin, runner_spool, LocalAttachmentStore(tmp_path / "att"))
    runner.ingest([desk_raw("BK-DMG-1"), desk_raw("BK-DMG-2")])
    first = runner_spool.pending(1)[0]
    with sqlite3.connect(runner_spool.path) as conn:  # a damaged page: the body is no longer JSON
        conn.execute("UPDATE outbox SET body = ? WHERE seq = ?", (b"\x00\xffnot json", first.seq))
    topology = TopologyConfig()
    loop = LocalRouterLoop(runner_spool, Router(load_rules(), topology), topology.triage_queue)
    assert loop.drain_once() == 2
    assert runner_spool.depth() == 0
    routed = {cid: (agency, json.loads(body)) for cid, agency, _q, body, _at in runner_spool.routed(10)}
    agency, body = routed[first.id]
    assert agency == "triage"
    assert body["routing"]["triage"] is True and "raw_body" in body
    assert len(routed) == 2


class _BuggyRouter(Router):
    """A router with a programming error where the consumer starts (a stand-in for any bug)."""

    def agency_codes(self) -> list[str]:
        return [None.upper()]  # type: ignore[attr-defined]


@pytest.mark.rabbitmq
def test_a_bug_in_the_router_stops_it_instead_of_looping(amqp_url: str) -> None:
    topology = TopologyConfig(intake_queue="kanaltest.sv.missing")
    consumer = RouterConsumer(amqp_url, topology, _BuggyRouter(load_rules(), topology))
    stop = threading.Event()
    raised: list[BaseException] = []

    def run() -> None:
        try:
            consumer.run(stop)
        except AttributeError as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(timeout=20)
    stop.set()
    assert not thread.is_alive(), "the router kept retrying a bug"
    assert raised and time.monotonic() - started < 20
