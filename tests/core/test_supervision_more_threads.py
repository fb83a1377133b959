"""No silent death for the side threads of `kanal run` too.

The same proof as test_supervision_threads.py, for the threads that take no
complaint in and pass none on, so that their death would go unnoticed longest: the
acknowledgement sender (``kanal-acks``), the heartbeat (``kanal-heartbeat``, the
spool's ``processes`` row), the attachment fetcher (``kanal-fetcher``), the systemd
watchdog feeder (``kanal-watchdog``) and the operations listener (``kanal-ops``,
``/metrics``). Each case runs a real `kanal run` with one bug injected *in the child
process*, lets it take a complaint in, then says "now" (the file
``$KANAL_TEST_FAULT``): the bug strikes in that one thread at its next pass. The
process must exit 1 within a bounded time, log the thread and the exception, show
as failed in `kanal status`, and keep the complaint it took in. Were that thread
started without the supervisor, the process would stay up half-alive and the test
would fail waiting for the exit.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.core.broker_kit import listen_port, wait_for
from tests.core.test_supervision import _config, _post, _wait_healthy
from tests.core.test_supervision_threads import _assert_failed_with, _kept, _start

#: A bug in reading the ack outbox (every pass of the sender reads it).
ACKS_FAULT = """
from kanal.ack_outbox import AckOutbox
due = AckOutbox.due
def faulty_due(self, *args, **kwargs):
    if os.path.exists(os.environ["KANAL_TEST_FAULT"]):
        raise RuntimeError("injected fault: a bug in reading the ack outbox")
    return due(self, *args, **kwargs)
AckOutbox.due = faulty_due
"""

#: A bug in writing the heartbeat, in the heartbeat thread only (the beats at start and
#: at the stop, from the main thread, still work: they record the failure). The beat
#: comes every 0.5 s instead of 5 s, so that the test need not wait.
HEARTBEAT_FAULT = """
import threading
import kanal.app
from kanal.spool import Spool
kanal.app.HEARTBEAT_EVERY = 0.5
heartbeat = Spool.heartbeat
def faulty_heartbeat(self, *args, **kwargs):
    if threading.current_thread().name == "kanal-heartbeat" and os.path.exists(os.environ["KANAL_TEST_FAULT"]):
        raise RuntimeError("injected fault: a bug in writing the heartbeat")
    return heartbeat(self, *args, **kwargs)
Spool.heartbeat = faulty_heartbeat
"""

#: A bug in reading the attachment fetch queue (every pass of the fetcher reads it).
FETCHER_FAULT = """
from kanal.fetch_queue import FetchQueue
due = FetchQueue.due
def faulty_due(self, *args, **kwargs):
    if os.path.exists(os.environ["KANAL_TEST_FAULT"]):
        raise RuntimeError("injected fault: a bug in reading the fetch queue")
    return due(self, *args, **kwargs)
FetchQueue.due = faulty_due
"""

#: A bug in sending ``WATCHDOG=1`` to systemd (the other notifications still work).
WATCHDOG_FAULT = """
from kanal import sdnotify
notify = sdnotify.notify
def faulty_notify(*states):
    if "WATCHDOG=1" in states and os.path.exists(os.environ["KANAL_TEST_FAULT"]):
        raise RuntimeError("injected fault: a bug in feeding the watchdog")
    return notify(*states)
sdnotify.notify = faulty_notify
"""

#: A bug in accepting a connection on the operations port. waitress's loop would catch
#: it and close the listener; WebhookServer re-raises it, so the thread ends.
OPS_FAULT = """
import threading
from waitress.server import BaseWSGIServer
accept = BaseWSGIServer.handle_accept
def handle_accept(self):
    if threading.current_thread().name == "kanal-ops" and os.path.exists(os.environ["KANAL_TEST_FAULT"]):
        raise RuntimeError("injected fault: a bug in accepting an operations connection")
    return accept(self)
BaseWSGIServer.handle_accept = handle_accept
"""


@dataclass(frozen=True)
class Case:
    thread: str
    fault: str
    #: Wait for systemd's watchdog to be fed before the fault (a live watchdog thread).
    watchdog: bool = False
    #: Connect to the operations port after the fault (the accept bug needs a connection).
    knock: bool = False
    env: dict[str, str] = field(default_factory=dict)


CASES = [
    Case("kanal-acks", ACKS_FAULT),
    Case("kanal-heartbeat", HEARTBEAT_FAULT),
    Case("kanal-fetcher", FETCHER_FAULT),
    # WATCHDOG_USEC as systemd sets it with WatchdogSec=: fed every 0.2 s.
    Case("kanal-watchdog", WATCHDOG_FAULT, watchdog=True, env={"WATCHDOG_USEC": "400000"}),
    Case("kanal-ops", OPS_FAULT, knock=True),
]


@contextmanager
def _notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing in for systemd's ``$NOTIFY_SOCKET`` (an abstract one:
    a path under pytest's tmp_path can be longer than a Unix socket address allows)."""
    name = f"kanal-test-notify-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(0.2)
        yield sock, "@" + name


def _received(sock: socket.socket) -> list[str]:
    """The notifications waiting on ``sock``."""
    states: list[str] = []
    while True:
        try:
            states.extend(sock.recv(4096).decode().splitlines())
        except TimeoutError:
            return states


@pytest.mark.parametrize("case", CASES, ids=[c.thread for c in CASES])
def test_a_side_thread_that_dies_stops_kanal_run_with_exit_1_and_loses_nothing(tmp_path: Path, case: Case) -> None:
    port, ops_port = listen_port(), listen_port()
    config = _config(tmp_path, port)
    settings = json.loads(config.read_text())
    settings["metrics"]["port"] = ops_port
    config.write_text(json.dumps(settings))
    with _notify_socket() as (notify, address):
        process, log = _start(tmp_path, config, case.fault, NOTIFY_SOCKET=address, **case.env)
        try:
            _wait_healthy(port, process)
            assert requests.get(f"http://127.0.0.1:{ops_port}/healthz", timeout=5).ok, "the operations listener"
            answer = _post(port, "BK-SD-0001")
            assert answer.status_code == 202, answer.text
            complaint_id = answer.json()["complaint_id"]
            if case.watchdog:
                seen: list[str] = []
                wait_for(lambda: "WATCHDOG=1" in seen or seen.extend(_received(notify)), timeout=30,
                         what="systemd's watchdog to be fed")
            assert process.poll() is None, "kanal run is up before the fault"
            (tmp_path / "fault-now").touch()
            if case.knock:
                try:
                    requests.get(f"http://127.0.0.1:{ops_port}/metrics", timeout=2)
                except requests.RequestException:
                    pass
            _assert_failed_with(process, log, config, case.thread)
        finally:
            if process.poll() is None:
                process.kill()
        if case.watchdog:
            assert "STOPPING=1" in _received(notify), "systemd was told that the process stops"
    assert list(_kept(config)) == [complaint_id], "the answered webhook's complaint is in the spool"
