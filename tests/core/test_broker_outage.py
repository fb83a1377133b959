"""The broker goes away under load and comes back: intake goes on into the spool, the
forwarder drains it afterwards, nothing is lost, and a repeat on the queue is only
ever the same message_id.

The broker is taken away two ways, never touching the shared RabbitMQ: a TCP relay
the test controls in front of it (tests/core/tcp_proxy.py: cut mid-stream, silent
stall), and a throwaway RabbitMQ node of our own on other ports
(tests/core/rabbit_node.py) whose Erlang VM is killed with SIGKILL and restarted.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from config.models import TopologyConfig
from connectors.attachments import LocalAttachmentStore
from connectors.runner import ChannelRunner
from kanal.forwarder import Forwarder
from kanal.spool import Spool
from tests.core.broker_kit import (
    broker_config,
    check_delivery,
    desk_raw,
    read_queue,
    running,
    unique_topology,
    wait_for,
)
from tests.core.conftest import make_walkin
from tests.core.rabbit_node import RabbitNode
from tests.core.tcp_proxy import TcpProxy

pytestmark = pytest.mark.rabbitmq


@pytest.fixture(name="proxy")
def _proxy(amqp_url: str) -> TcpProxy:
    proxy = TcpProxy(("127.0.0.1", 5672))
    yield proxy
    proxy.close()


class Load:
    """Commits walk-in complaints through a real runner at a steady pace in a thread,
    recording the id of every complaint the spool took (what its source was told)."""

    def __init__(self, runner: ChannelRunner, total: int, batch: int = 40, pause: float = 0.01) -> None:
        self.runner = runner
        self.total = total
        self.batch = batch
        self.pause = pause
        self.acknowledged: list[str] = []
        self.commit_times: list[float] = []
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)

    def start(self) -> Load:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for start in range(0, self.total, self.batch):
                raws = [desk_raw(f"BK-OUT-{i:06d}") for i in range(start, min(start + self.batch, self.total))]
                results = self.runner.ingest(raws)
                self.acknowledged.extend(str(r.complaint_id) for r in results if r.status == "accepted")
                self.commit_times.append(time.monotonic())
                time.sleep(self.pause)
        finally:
            self.done.set()

    def committed_between(self, start: float, end: float) -> int:
        """Batches committed in [start, end]."""
        return sum(1 for t in self.commit_times if start <= t <= end)


def test_intake_goes_on_while_the_broker_is_cut_mid_stream_and_everything_arrives_after(
    amqp_url: str, topology: TopologyConfig, proxy: TcpProxy, spool: Spool, tmp_path: Path
) -> None:
    runner = ChannelRunner(make_walkin(tmp_path), spool, LocalAttachmentStore(tmp_path / "att"), batch_size=100)
    forwarder = Forwarder(spool, broker_config(proxy.url(), topology, confirm_window=300, heartbeat=5))
    total = 6000
    with running(forwarder):
        load = Load(runner, total).start()
        wait_for(lambda: forwarder.stats.confirmed >= 1000, what="traffic to flow")
        in_flight_at_cut = forwarder.stats.published - forwarder.stats.confirmed
        cut_at = time.monotonic()
        proxy.cut()
        wait_for(lambda: forwarder.stats.failures >= 2, what="the forwarder to notice the outage and retry")
        confirmed_during = forwarder.stats.confirmed
        depth_early = spool.depth()
        time.sleep(1.0)
        assert forwarder.stats.confirmed == confirmed_during, "nothing can be confirmed while the broker is away"
        assert spool.depth() > depth_early or load.done.is_set(), "intake keeps filling the spool"
        restored_at = time.monotonic()
        assert load.committed_between(cut_at, restored_at) > 0, "the channel kept committing during the outage"
        proxy.restore()
        assert load.done.wait(60)
        wait_for(lambda: spool.depth() == 0, timeout=60, what="the spool to drain after the broker came back")

    messages = read_queue(amqp_url, topology.intake_queue)
    report = check_delivery(load.acknowledged, messages)
    assert len(load.acknowledged) == total
    assert not report.lost, f"{len(report.lost)} acknowledged complaints never reached the queue"
    assert not report.conflicting
    assert not report.inconsistent
    assert set(report.seen) == set(load.acknowledged)
    assert report.duplicated <= in_flight_at_cut + forwarder.broker.confirm_window
    assert forwarder.stats.sessions >= 2


def test_a_silent_network_stall_is_noticed_and_the_spool_drains_once_it_clears(
    amqp_url: str, topology: TopologyConfig, proxy: TcpProxy, spool: Spool, tmp_path: Path
) -> None:
    runner = ChannelRunner(make_walkin(tmp_path), spool, LocalAttachmentStore(tmp_path / "att"), batch_size=100)
    forwarder = Forwarder(spool, broker_config(proxy.url(), topology, heartbeat=1), confirm_timeout=3)
    refs = [f"BK-STALL-{i}" for i in range(200)]
    acknowledged: list[str] = []
    with running(forwarder):
        first = runner.ingest([desk_raw(r) for r in refs[:100]])
        acknowledged += [str(r.complaint_id) for r in first]
        wait_for(lambda: spool.depth() == 0, what="the first half to go out")
        proxy.stall()
        second = runner.ingest([desk_raw(r) for r in refs[100:]])
        acknowledged += [str(r.complaint_id) for r in second]
        wait_for(lambda: forwarder.stats.failures >= 1, timeout=15, what="the stall to be detected")
        assert spool.depth() > 0
        proxy.cut()  # the stalled sockets go; new connections are refused until restore
        proxy.restore()
        wait_for(lambda: spool.depth() == 0, timeout=60, what="the spool to drain after the stall")
    report = check_delivery(acknowledged, read_queue(amqp_url, topology.intake_queue))
    assert not report.lost
    assert not report.conflicting


def test_stop_is_prompt_even_while_the_connection_hangs_in_its_handshake(
    topology: TopologyConfig, proxy: TcpProxy, spool: Spool
) -> None:
    proxy.stall()
    forwarder = Forwarder(spool, broker_config(proxy.url(), topology))
    stop = threading.Event()
    thread = threading.Thread(target=forwarder.run, args=(stop,), daemon=True)
    thread.start()
    wait_for(lambda: proxy.connections >= 1, what="the forwarder to connect")
    time.sleep(0.3)
    started = time.monotonic()
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert time.monotonic() - started < 3.0


def test_stop_with_confirms_outstanding_waits_briefly_then_leaves_the_rows_in_the_spool(
    amqp_url: str, topology: TopologyConfig, proxy: TcpProxy, spool: Spool, tmp_path: Path
) -> None:
    runner = ChannelRunner(make_walkin(tmp_path), spool, LocalAttachmentStore(tmp_path / "att"), batch_size=100)
    forwarder = Forwarder(spool, broker_config(proxy.url(), topology), drain_timeout=1.0)
    stop = threading.Event()
    thread = threading.Thread(target=forwarder.run, args=(stop,), daemon=True)
    thread.start()
    wait_for(lambda: forwarder.stats.sessions >= 1 and spool.depth() == 0 and proxy.connections >= 1,
             what="a session to open")
    time.sleep(0.3)
    proxy.stall()
    runner.ingest([desk_raw(f"BK-DRAIN-{i}") for i in range(20)])
    wait_for(lambda: forwarder.stats.published >= 20, what="the rows to be published into the stall")
    started = time.monotonic()
    stop.set()
    thread.join(timeout=15)
    assert not thread.is_alive()
    # drain_timeout (1 s) + the close grace (2 s) for a broker that never answers
    assert time.monotonic() - started < 5.0
    assert forwarder.stats.confirmed == 0
    assert spool.depth() == 20, "unconfirmed rows stay in the spool for the next start"
    proxy.restore()
    proxy.cut()  # drop the stalled sockets
    # The connection whose close went unanswered finishes closing in the background.
    wait_for(lambda: not any(t.name == "kanal-forwarder-closing" for t in threading.enumerate()),
             what="the unanswered connection to be closed once its socket is dropped")
    proxy.restore()
    with running(Forwarder(spool, broker_config(proxy.url(), topology))):
        wait_for(lambda: spool.depth() == 0, what="the next start to send them")
    refs = sorted(m.json["provider_message_id"] for m in read_queue(amqp_url, topology.intake_queue))
    assert set(refs) == {f"BK-DRAIN-{i}" for i in range(20)}


# -- a throwaway RabbitMQ node of our own: crash it, import definitions into it -------


@pytest.fixture(name="node", scope="module")
def _node() -> RabbitNode:
    node = RabbitNode()
    node.start()
    yield node
    node.destroy()


@pytest.mark.slow
def test_a_broker_crash_under_load_loses_no_confirmed_or_acknowledged_complaint(
    node: RabbitNode, spool: Spool, tmp_path: Path
) -> None:
    topology = unique_topology("kanaltest.crash")
    runner = ChannelRunner(make_walkin(tmp_path), spool, LocalAttachmentStore(tmp_path / "att"), batch_size=100)
    forwarder = Forwarder(spool, broker_config(node.url, topology, confirm_window=300, heartbeat=5))
    total = 4000
    with running(forwarder):
        load = Load(runner, total).start()
        wait_for(lambda: forwarder.stats.confirmed >= 800, what="traffic to flow")
        node.kill9()
        confirmed_before_crash = forwarder.stats.confirmed
        wait_for(lambda: forwarder.stats.failures >= 1, what="the forwarder to notice the crash")
        time.sleep(0.5)
        node.start()
        assert load.done.wait(60)
        wait_for(lambda: spool.depth() == 0, timeout=60, what="the spool to drain after the restart")
    messages = read_queue(node.url, topology.intake_queue)
    report = check_delivery(load.acknowledged, messages)
    assert confirmed_before_crash >= 800
    assert not report.lost, f"{len(report.lost)} complaints lost across a broker crash"
    assert not report.conflicting
    assert not report.inconsistent
    assert set(report.seen) == set(load.acknowledged)


@pytest.mark.slow
def test_a_blocked_broker_is_given_up_after_the_blocked_timeout_and_drained_when_the_alarm_clears(
    node: RabbitNode, spool: Spool, tmp_path: Path
) -> None:
    topology = unique_topology("kanaltest.blocked")
    runner = ChannelRunner(make_walkin(tmp_path), spool, LocalAttachmentStore(tmp_path / "att"), batch_size=100)
    forwarder = Forwarder(spool, broker_config(node.url, topology, blocked_connection_timeout=1.5))
    acknowledged = [str(r.complaint_id) for r in runner.ingest([desk_raw(f"BK-BLK-{i}") for i in range(50)])]
    try:
        with running(forwarder):
            wait_for(lambda: spool.depth() == 0, what="the first batch to go out")
            node.rabbitmqctl("set_vm_memory_high_watermark", "0")  # memory alarm: publishers blocked
            acknowledged += [
                str(r.complaint_id) for r in runner.ingest([desk_raw(f"BK-BLK-{i}") for i in range(50, 150)])
            ]
            wait_for(lambda: forwarder.stats.failures >= 1, timeout=20, what="the blocked connection to be given up")
            assert spool.depth() > 0, "nothing leaves the spool while the broker is blocked"
            node.rabbitmqctl("set_vm_memory_high_watermark", "0.4")
            wait_for(lambda: spool.depth() == 0, timeout=60, what="the spool to drain once the alarm cleared")
    finally:
        node.rabbitmqctl("set_vm_memory_high_watermark", "0.4")
    report = check_delivery(acknowledged, read_queue(node.url, topology.intake_queue))
    assert not report.lost
    assert not report.conflicting
