"""kill -9 of a router process between publishing and acking: restarted, nothing is lost,
and only a kill between a batch's publish commit and its claims' commit routes that batch
twice (real RabbitMQ, real PostgreSQL dedup store)."""

from __future__ import annotations

import os
import queue as queue_mod
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from router.decision import integrity_copy_id
from router.dedup import PostgresDedupStore
from router.engine import DEFAULT_BATCH_MAX
from router.unrouted import find_unrouted
from tests.router.conftest import agency_queue_names, wait_for
from tests.router.helpers import AGENCY_SAMPLES, make_complaint

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
#: Router processes killed in the random-kill test, and complaints sent (raise them for a stress run).
KILLS = int(os.environ.get("KANAL_ROUTER_KILLS", "4"))
COMPLAINTS = int(os.environ.get("KANAL_ROUTER_KILL_COMPLAINTS", "1500"))
#: The consumer's batch_max (tests/router/router_proc.py keeps the default).
BATCH_MAX = DEFAULT_BATCH_MAX


class RouterProcess:
    """A router subprocess that can be SIGKILLed."""

    def __init__(self, url, topology, dsn, table, pause=None, log: Path | None = None):
        cmd = [sys.executable, "-m", "tests.router.router_proc", "--url", url, "--topology",
               topology.model_dump_json(), "--dsn", dsn, "--table", table]
        if pause:
            cmd += ["--pause", pause]
        with open(log or os.devnull, "ab") as err:  # the router's own log lines, for diagnosis
            self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=err, text=True,
                                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
        # Read by a thread: a readline() in wait_line would block past its deadline.
        self._lines: queue_mod.Queue[str | None] = queue_mod.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_line(self, prefix: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)  # None: the process closed its output
            except queue_mod.Empty:
                break
            if line is None:
                break
            if line.startswith(prefix):
                return line.strip()
        raise AssertionError(f"router process never printed {prefix!r}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


def _routed_ids(broker, queues) -> list[str]:
    """AMQP message ids on the routed queues (what tests/pipeline/test_faults.py counts)."""
    ids = []
    for queue in [*queues.values(), broker.topology.confidential_queue]:
        ids += [props.message_id for props, _ in broker.drain(queue)]
    return ids


def _routed_depth(broker, queues) -> int:
    return sum(broker.depth(q) for q in [*queues.values(), broker.topology.confidential_queue])


@pytest.fixture
def topology(topology):
    """A high delivery limit: each kill returns every prefetched message to the queue,
    and the quorum queue counts that as a delivery (a crash loop ends in the DLQ)."""
    return topology.model_copy(update={"delivery_limit": 50})


@pytest.fixture
def procs():
    started: list[RouterProcess] = []
    yield started
    for p in started:
        if p.proc.poll() is None:
            p.kill()


class TestKillNine:
    @pytest.mark.parametrize(("point", "copies"), [
        ("before-publish-commit", 1),  # nothing published, nothing claimed: routed once after the restart
        ("after-publish-commit", 2),  # published, not claimed, not acked: the one window that routes twice
        ("before-ack-commit", 1),  # published and claimed: the redelivered copy is acked as a duplicate
    ])
    def test_killed_between_publish_and_ack_then_restarted(self, point, copies, broker, amqp_url, postgres_dsn,
                                                           dedup_table, rules, procs):
        queues = agency_queue_names(broker.topology, rules)
        complaint = make_complaint(AGENCY_SAMPLES["binamarga"])
        first = RouterProcess(amqp_url, broker.topology, postgres_dsn, dedup_table, pause=point)
        procs.append(first)
        first.wait_line("READY")
        broker.publish(complaint)
        assert first.wait_line("PAUSED") == f"PAUSED {point} {complaint.id}"
        first.kill()
        second = RouterProcess(amqp_url, broker.topology, postgres_dsn, dedup_table)
        procs.append(second)
        second.wait_line("READY")
        broker.publish(complaint)  # the forwarder may send it again too
        assert wait_for(lambda: broker.depth(broker.topology.intake_queue) == 0
                        and _routed_depth(broker, queues) >= copies)
        time.sleep(0.5)
        drained = [(queue, props) for queue in queues.values() for props, _ in broker.drain(queue)]
        expected = [(queues["binamarga"], str(complaint.id))] * copies
        assert [(queue, props.message_id) for queue, props in drained] == expected
        if copies == 2:  # the repeat says it may be one; the first copy does not
            assert [bool((props.headers or {}).get("kanal_redelivered")) for _, props in drained] == [False, True]
        # What `kanal router unrouted` would say of it afterwards: claimed, whatever the kill.
        store = PostgresDedupStore(postgres_dsn, table=dedup_table)
        try:
            cid = str(complaint.id)
            assert find_unrouted([(cid, "sms", complaint.provider_message_id, 0.0)], store) == []
        finally:
            store.close()

    def test_random_kills_under_load_lose_nothing_and_repeat_at_most_a_batch_per_kill(
            self, broker, amqp_url, postgres_dsn, dedup_table, rules, procs, tmp_path):
        queues = agency_queue_names(broker.topology, rules)
        log = tmp_path / "routers.log"
        texts = list(AGENCY_SAMPLES.values())  # with the pungli sample: its integrity copy has its own id
        complaints = [make_complaint(f"{texts[i % len(texts)]} #{i}") for i in range(COMPLAINTS)]
        pungli = {str(c.id) for c in complaints if "pungli" in c.description.lower()}
        rng = random.Random()
        broker.channel.confirm_delivery()  # every complaint surely on the intake queue before the kills
        for c in complaints:
            broker.publish(c)
        kills = 0
        while kills < KILLS and broker.depth(broker.topology.intake_queue) > 0:
            p = RouterProcess(amqp_url, broker.topology, postgres_dsn, dedup_table, log=log)
            procs.append(p)
            p.wait_line("READY")
            time.sleep(rng.uniform(0.05, 0.3))
            p.kill()
            kills += 1
        final = RouterProcess(amqp_url, broker.topology, postgres_dsn, dedup_table, log=log)
        procs.append(final)
        final.wait_line("READY")
        done = wait_for(lambda: broker.depth(broker.topology.intake_queue) == 0
                        and _routed_depth(broker, queues) >= len(complaints) + len(pungli), timeout=60)
        if not done:
            final.kill()
        assert done, _where_missing(broker, queues, postgres_dsn, dedup_table, complaints, pungli, log)
        assert wait_for(lambda: _settled(broker, queues), timeout=30)  # redelivered repeats still coming in
        assert broker.depth(broker.topology.dead_letter_queue) == 0
        counts = Counter(_routed_ids(broker, queues))
        assert pungli and set(counts) == {str(c.id) for c in complaints} | {integrity_copy_id(c) for c in pungli}
        repeats = sum(n - 1 for n in counts.values())
        unclaimed = _unclaimed(postgres_dsn, dedup_table, [str(c.id) for c in complaints])
        print(f"\nrandom kills: {kills} kills, {len(counts)} routed ids, {repeats} repeated routed messages "
              f"(killed after a publish commit, before its claims committed)")
        assert unclaimed == set(), "every routed complaint is claimed before its intake message is acked"
        # A kill repeats at most the batch in its hands (each complaint with its integrity copy).
        assert repeats <= kills * BATCH_MAX * 2
        assert kills >= 1


def _unclaimed(dsn: str, table: str, ids: list[str]) -> set[str]:
    """Of ``ids``: those with no dedup claim."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        claimed = {r[0] for r in conn.execute(f"SELECT id FROM {table} WHERE id = ANY(%s)", (ids,))}
    return set(ids) - claimed


def _settled(broker, queues) -> bool:
    """True when the routed queues' depth stayed the same for a second."""
    before = _routed_depth(broker, queues)
    time.sleep(1.0)
    return _routed_depth(broker, queues) == before


def _where_missing(broker, queues, dsn, table, complaints, pungli, log: Path) -> str:
    """Where the complaints that never reached a routed queue are (to tell a loss from a stall)."""
    expected = {str(c.id) for c in complaints} | {integrity_copy_id(c) for c in pungli}
    missing = expected - set(_routed_ids(broker, queues))
    time.sleep(1.0)  # the killed router's unacked deliveries return to the intake queue
    intake = {props.message_id for props, _ in broker.drain(broker.topology.intake_queue)}
    dead = {props.message_id for props, _ in broker.drain(broker.topology.dead_letter_queue)}
    with psycopg.connect(dsn, autocommit=True) as conn:
        claims = dict(conn.execute(f"SELECT id, queue FROM {table} WHERE id = ANY(%s)", (list(missing),)).fetchall())
    logged = log.read_text(errors="replace").splitlines()
    lines = [f"{len(missing)} of {len(expected)} not routed (router logs: {log}):"]
    for cid in sorted(missing):
        place = "intake" if cid in intake else "dead-letter" if cid in dead else "nowhere"
        said = [line.split(" ", 3)[-1][:160] for line in logged if cid in line]
        lines.append(f"  {cid} on {place}, dedup claim {claims.get(cid, 'none')}; router logs: {said}")
    return "\n".join(lines)
