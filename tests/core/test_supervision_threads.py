"""No silent death for every thread of `kanal run`, not only the forwarder.

Each test runs a real `kanal run` whose code has one bug injected *in the child
process* (a short Python preamble before `kanal.cli.main`, as in
test_supervision.py), lets it take a complaint in, then lets the bug strike in one
thread: a channel runner, the embedded router loop, the webhook server's main loop
or its listening socket. The process must exit 1 within a bounded time, log the
thread and the exception, show as failed in `kanal status`, and keep in its spool
every complaint it took in. Were the supervision of that thread removed, the
process would stay up half-alive and the test would time out waiting for the exit.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

import requests

from connectors.webhooks import WebhookApp, WebhookServer
from tests.core.broker_kit import desk_payload, listen_port, wait_for
from tests.core.test_supervision import _config, _env, _post, _status, _wait_healthy

#: Seconds a faulty `kanal run` gets to notice its dead thread, stop in order and exit.
EXIT_WITHIN = 60

#: Injects ``FAULT`` (the body of the preamble) and then runs the CLI. A fault that
#: waits for the test to say "now" checks whether the file ``$KANAL_TEST_FAULT`` exists.
PREAMBLE = """
import os, sys
{fault}
from kanal.cli import main
sys.exit(main(sys.argv[1:]))
"""

#: A bug in the channel runner's own loop: computing the backoff after a failed poll
#: raises. The runner turns failures of a poll into channel states; this one escapes it.
CHANNEL_FAULT = """
from connectors.backoff import Backoff
def delay(self, *args, **kwargs):
    raise RuntimeError("injected fault: a bug in the channel's backoff")
Backoff.delay = delay
"""

#: A bug in the embedded router loop, once there is something to route.
ROUTER_FAULT = """
from kanal.spool import Spool
def route_locally(self, *args, **kwargs):
    raise RuntimeError("injected fault: a bug in storing routed complaints")
Spool.route_locally = route_locally
"""

#: A bug in the webhook server's main loop (waitress's poll), once the test says so.
WEBHOOK_LOOP_FAULT = """
import threading
import waitress.wasyncore as wasyncore
poll2 = wasyncore.poll2
def faulty_poll2(*args, **kwargs):
    if threading.current_thread().name == "kanal-webhooks" and os.path.exists(os.environ["KANAL_TEST_FAULT"]):
        raise RuntimeError("injected fault: a bug in the webhook server's main loop")
    return poll2(*args, **kwargs)
wasyncore.poll2 = faulty_poll2
"""

#: A bug in accepting a connection on the webhook port, once the test says so.
#: waitress's loop catches it and closes the listening socket.
WEBHOOK_ACCEPT_FAULT = """
from waitress.server import BaseWSGIServer
accept = BaseWSGIServer.handle_accept
def handle_accept(self):
    if os.path.exists(os.environ["KANAL_TEST_FAULT"]):
        raise RuntimeError("injected fault: a bug in accepting a webhook connection")
    return accept(self)
BaseWSGIServer.handle_accept = handle_accept
"""


def _start(tmp_path: Path, config: Path, fault: str, **env: str) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / "run.log"
    env = _env(KANAL_TEST_FAULT=str(tmp_path / "fault-now"), **env)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", PREAMBLE.format(fault=fault), "run", "--config", str(config)],
            cwd=tmp_path, env=env, stdout=out, stderr=out,
        )
    return process, log


def _assert_failed_with(process: subprocess.Popen, log: Path, config: Path, thread: str) -> None:
    """The process exited 1 in time, said which thread died of what, and status says failed."""
    try:
        code = process.wait(timeout=EXIT_WITHIN)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"kanal run is still up {EXIT_WITHIN}s after {thread} died (half-alive)") from None
    text = log.read_text()
    assert code == 1, text[-3000:]
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    died = [e for e in lines if e.get("event", "").startswith("thread died")]
    assert died and died[0]["thread"] == thread, text[-3000:]
    assert "injected fault" in died[0]["exception"], "the traceback is in the log"
    assert f"kanal run: stopped because thread {thread} died: RuntimeError: injected fault" in text
    code, status = _status(config, _env())
    assert (code, status["process"]["state"]) == (3, "failed"), status
    assert f"thread {thread} died" in status["process"]["detail"]


def _kept(config: Path) -> dict[str, str]:
    """Every complaint in the spool, by id: ``"outbox"`` (waiting) or ``"routed"`` (the embedded router's store).

    Read-only, as `kanal status` reads it, after the process has ended.
    """
    spool = json.loads(config.read_text())["spool"]["path"]
    with closing(sqlite3.connect(f"file:{spool}?mode=ro", uri=True)) as conn:
        kept = {cid: "outbox" for (cid,) in conn.execute("SELECT id FROM outbox")}
        kept.update({cid: "routed" for (cid,) in conn.execute("SELECT id FROM routed")})
    return kept


def _descriptions(config: Path) -> list[str]:
    """The descriptions of the complaints in the spool (outbox and routed)."""
    spool = json.loads(config.read_text())["spool"]["path"]
    with closing(sqlite3.connect(f"file:{spool}?mode=ro", uri=True)) as conn:
        bodies = [b for (b,) in conn.execute("SELECT body FROM outbox UNION ALL SELECT body FROM routed")]
    return [json.loads(b)["description"] for b in bodies]


def _restart_and_stop(tmp_path: Path, config: Path, port: int) -> None:
    """Run `kanal run` again without the fault (as systemd would) and stop it cleanly."""
    with (tmp_path / "run.log").open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "kanal", "run", "--config", str(config)],
                                   cwd=tmp_path, env=_env(), stdout=out, stderr=out)
    try:
        _wait_healthy(port, process)
        wait_for(lambda: _status(config, _env())[1]["spool_depth"] == 0, timeout=30,
                 what="the kept complaints to be routed")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_a_channel_runner_that_dies_stops_kanal_run_with_exit_1_and_loses_nothing(tmp_path: Path) -> None:
    port = listen_port()
    config = _config(tmp_path, port)
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    process, log = _start(tmp_path, config, CHANNEL_FAULT)
    try:
        _wait_healthy(port, process)
        # The runner creates the folder when it opens, which can come after the webhook
        # server answers; on a real share the folder is there anyway.
        inbox.mkdir(parents=True, exist_ok=True)
        (inbox / "BK-CH-0001.json").write_bytes(desk_payload("BK-CH-0001"))
        # The drop folder's file moves to done/ once its complaint is committed.
        wait_for(lambda: (done / "BK-CH-0001.json").exists(), timeout=30, what="the file to be taken in")
        assert process.poll() is None
        shutil.rmtree(inbox)  # the folder vanishes (an unmounted share): the next poll fails, the bug strikes
        _assert_failed_with(process, log, config, "channel-walkin-sv")
    finally:
        if process.poll() is None:
            process.kill()
    assert _descriptions(config) == [json.loads(desk_payload("BK-CH-0001"))["description"]], "the taken-in file"


def test_an_embedded_router_that_dies_stops_kanal_run_with_exit_1_and_loses_nothing(tmp_path: Path) -> None:
    port = listen_port()
    config = _config(tmp_path, port)  # no broker: the embedded router runs as kanal-output
    process, log = _start(tmp_path, config, ROUTER_FAULT)
    try:
        _wait_healthy(port, process)
        answer = _post(port, "BK-RT-0001")
        assert answer.status_code == 202, answer.text
        complaint_id = answer.json()["complaint_id"]
        _assert_failed_with(process, log, config, "kanal-output")
    finally:
        if process.poll() is None:
            process.kill()
    assert _kept(config) == {complaint_id: "outbox"}, "the complaint waits in the spool's outbox"
    _restart_and_stop(tmp_path, config, port)
    assert _kept(config) == {complaint_id: "routed"}, "routed after the restart"


def _webhook_dies(tmp_path: Path, fault: str) -> None:
    port = listen_port()
    config = _config(tmp_path, port)
    process, log = _start(tmp_path, config, fault)
    try:
        _wait_healthy(port, process)
        answer = _post(port, "BK-WH-0001")
        assert answer.status_code == 202, answer.text
        complaint_id = answer.json()["complaint_id"]
        (tmp_path / "fault-now").touch()
        try:  # the next connection makes the accept bug strike (the loop bug strikes by itself)
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        except requests.RequestException:
            pass
        _assert_failed_with(process, log, config, "kanal-webhooks")
    finally:
        if process.poll() is None:
            process.kill()
    assert list(_kept(config)) == [complaint_id], "the answered webhook's complaint is in the spool"


def test_a_webhook_server_whose_main_loop_dies_stops_kanal_run_with_exit_1_and_loses_nothing(
    tmp_path: Path,
) -> None:
    _webhook_dies(tmp_path, WEBHOOK_LOOP_FAULT)


def test_a_webhook_listener_that_fails_stops_kanal_run_with_exit_1_instead_of_running_deaf(tmp_path: Path) -> None:
    # waitress closes a listener whose handler raised and loops on; before the fix in
    # WebhookServer the thread lived on, deaf, and kanal run stayed up (healthy by its probes).
    _webhook_dies(tmp_path, WEBHOOK_ACCEPT_FAULT)


def test_a_webhook_server_whose_listener_was_closed_under_it_raises_instead_of_serving_nothing() -> None:
    # The other way waitress closes a listener (a hang-up or error event on its socket):
    # the serving loop notices and raises, so the supervisor fails the process.
    server = WebhookServer(WebhookApp("/webhooks"), port=0, threads=1)
    raised: list[BaseException] = []

    def serve() -> None:
        try:
            server.serve()
        except RuntimeError as exc:
            raised.append(exc)

    server._server.close()  # as waitress's handle_close does
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive(), "the server went on serving without its listener"
    server.stop(timeout=5)
    assert raised and "stopped listening" in str(raised[0])
