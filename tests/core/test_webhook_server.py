"""The shared webhook server: 2xx only after the commit, 503 when it fails, 403 counted."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import select
import socket
import sqlite3
import threading
import time

import pytest
import requests

from connectors.attachments import LocalAttachmentStore
from connectors.push import WebhookRoute, text_response
from connectors.queue_warnings import QueueWarningThrottle
from connectors.runner import ChannelRunner
from connectors.webhooks import WebhookApp, WebhookServer
from kanal.spool import Spool
from tests.core.conftest import make_walkin


@pytest.fixture(name="served")
def _served(tmp_path, monkeypatch, request):
    """A walk-in channel behind a real webhook server; param: the spool's busy timeout."""
    monkeypatch.setenv("KANAL_TEST_DESK_TOKEN", "s3cret-desk-token")
    connector = make_walkin(tmp_path, token="${KANAL_TEST_DESK_TOKEN}")
    spool = Spool(tmp_path / "spool.db", busy_timeout=getattr(request, "param", 0.3))
    runner = ChannelRunner(connector, spool, LocalAttachmentStore(tmp_path / "att"))
    app = WebhookApp("/webhooks")
    app.add_channel(runner, connector.webhook_routes())
    server = WebhookServer(app, port=0, threads=4)
    server.start()
    yield server, spool, runner
    server.stop()
    spool.close()


AUTH = {"Authorization": "Bearer s3cret-desk-token"}


@pytest.mark.parametrize("served", [10.0], indirect=True)
def test_the_answer_comes_only_after_the_complaint_is_in_the_spool(served):
    server, spool, _ = served
    blocker = sqlite3.connect(spool.path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # the commit cannot complete while this is held
    answers: list[requests.Response] = []
    body = {"id": "WEB-1", "description": "Genangan air setinggi lutut di Jl. Casablanca"}
    sender = threading.Thread(target=lambda: answers.append(
        requests.post(f"{server.url}/webhooks/walkin-test", json=body, headers=AUTH, timeout=10)))
    sender.start()
    sender.join(1.0)
    assert answers == [], "the sender must not get an answer before the commit"
    blocker.execute("ROLLBACK")
    sender.join(10)
    [answer] = answers
    assert answer.status_code == 202
    assert answer.json()["status"] == "accepted"
    assert spool.pending(5)[0].id == answer.json()["complaint_id"]
    again = requests.post(f"{server.url}/webhooks/walkin-test", json=body, headers=AUTH, timeout=5)
    assert again.json() == {"status": "duplicate", "complaint_id": answer.json()["complaint_id"]}
    assert spool.depth() == 1


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-desk-token"}])
def test_forged_or_unsigned_requests_get_403_store_nothing_and_are_counted(served, headers):
    server, spool, _ = served
    answer = requests.post(f"{server.url}/webhooks/walkin-test", json={"id": "X", "description": "x"},
                           headers=headers, timeout=5)
    assert answer.status_code == 403
    assert spool.depth() == 0
    count = sqlite3.connect(spool.path).execute(
        "SELECT count FROM counters WHERE name = 'webhook.forbidden'").fetchone()[0]
    assert count == 1


@pytest.mark.parametrize("served", [30.0], indirect=True)  # the spool's production busy timeout
def test_a_failed_commit_answers_503_so_the_sender_retries(served):
    server, spool, _ = served
    blocker = sqlite3.connect(spool.path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    body = {"id": "WEB-2", "description": "Pohon tumbang menutup jalan"}
    started = time.monotonic()
    try:
        answer = requests.post(f"{server.url}/webhooks/walkin-test", json=body, headers=AUTH, timeout=60)
    finally:
        blocker.execute("ROLLBACK")
    waited = time.monotonic() - started
    assert answer.status_code == 503
    assert waited < 10, f"answered after {waited:.1f}s; Twilio gives up after 15s"
    assert 1 <= int(answer.headers["Retry-After"]) <= 10
    assert spool.depth() == 0
    retry = requests.post(f"{server.url}/webhooks/walkin-test", json=body, headers=AUTH, timeout=5)
    assert retry.status_code == 202 and spool.depth() == 1


def test_unknown_routes_and_methods(served):
    server, _, _ = served
    assert requests.post(f"{server.url}/webhooks/nope", data=b"x", timeout=5).status_code == 404
    assert requests.get(f"{server.url}/webhooks/walkin-test", timeout=5).status_code == 405


def test_concurrent_posts_are_each_committed_once(served):
    server, spool, _ = served
    statuses: list[int] = []

    def post(i: int) -> None:
        r = requests.post(f"{server.url}/webhooks/walkin-test", headers=AUTH, timeout=10,
                          data=json.dumps({"id": f"C-{i % 20}", "description": f"keluhan {i % 20}"}))
        statuses.append(r.status_code)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(202) == 60
    assert spool.depth() == 20


def _status_line(sock: socket.socket) -> bytes:
    """The first line the server answers on ``sock`` (waits at most the socket's timeout)."""
    answer = b""
    while b"\r\n" not in answer:
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer.split(b"\r\n", 1)[0]


def test_a_declared_oversize_body_gets_413_before_it_is_sent(served):
    server, spool, _ = served
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /webhooks/walkin-test HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-desk-token\r\n"
            b"Content-Type: application/json\r\nContent-Length: 67108864\r\n\r\n" + b"{" * 1024
        )
        # The server must answer without waiting for the 64 MiB it was promised.
        assert _status_line(sock).startswith(b"HTTP/1.1 413")
    assert spool.depth() == 0


def test_a_chunked_body_is_cut_off_at_the_limit_not_read_whole(tmp_path, monkeypatch):
    monkeypatch.setenv("KANAL_TEST_DESK_TOKEN", "s3cret-desk-token")
    connector = make_walkin(tmp_path, token="${KANAL_TEST_DESK_TOKEN}")
    spool = Spool(tmp_path / "spool.db")
    app = WebhookApp("/webhooks", max_body_bytes=256 * 1024)
    app.add_channel(ChannelRunner(connector, spool, LocalAttachmentStore(tmp_path / "att")), connector.webhook_routes())
    server = WebhookServer(app, port=0, threads=2)
    server.start()
    sent = 0
    host, port = server.url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"POST /webhooks/walkin-test HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"%x\r\n" % 65536 + b"x" * 65536 + b"\r\n"
            with contextlib.suppress(OSError):  # the server closes the connection once it has answered
                for _ in range(1024):  # 64 MiB if nobody stops us
                    sock.sendall(chunk)
                    sent += 65536
                    readable, _, _ = select.select([sock], [], [], 0)
                    if readable:
                        break
            status = _status_line(sock)
        assert status.startswith(b"HTTP/1.1 413")
        assert sent < 8 * 1024 * 1024, f"the server read {sent} bytes before answering"
        assert spool.depth() == 0
    finally:
        server.stop()
        spool.close()


def test_a_route_can_declare_a_smaller_limit_than_the_server(tmp_path, monkeypatch):
    monkeypatch.setenv("KANAL_TEST_DESK_TOKEN", "s3cret-desk-token")
    connector = make_walkin(tmp_path, token="${KANAL_TEST_DESK_TOKEN}")
    spool = Spool(tmp_path / "spool.db")
    runner = ChannelRunner(connector, spool, LocalAttachmentStore(tmp_path / "att"))
    [route] = connector.webhook_routes()
    app = WebhookApp("/webhooks", max_body_bytes=1024 * 1024)
    app.add_channel(runner, [WebhookRoute(route.method, route.path, route.handler, max_body_bytes=4096)])
    body = {"id": "WEB-9", "description": "Lampu jalan mati " + "x" * 5000}
    answer = app.handle(_environ("/webhooks/walkin-test", json.dumps(body).encode()))
    assert answer.status_code == 413
    assert spool.depth() == 0
    body["description"] = "Lampu jalan mati di Jl. Sudirman"
    assert app.handle(_environ("/webhooks/walkin-test", json.dumps(body).encode())).status_code == 202
    spool.close()


def test_a_route_limit_holds_for_a_body_that_declares_no_length(tmp_path, monkeypatch):
    """A WSGI server that de-chunks on the fly passes the body as a terminated stream
    without ``Content-Length``: it is read, and cut at the route's limit."""
    monkeypatch.setenv("KANAL_TEST_DESK_TOKEN", "s3cret-desk-token")
    connector = make_walkin(tmp_path, token="${KANAL_TEST_DESK_TOKEN}")
    spool = Spool(tmp_path / "spool.db")
    runner = ChannelRunner(connector, spool, LocalAttachmentStore(tmp_path / "att"))
    [route] = connector.webhook_routes()
    app = WebhookApp("/webhooks", max_body_bytes=32 * 1024 * 1024)
    app.add_channel(runner, [WebhookRoute(route.method, route.path, route.handler, max_body_bytes=4096)])
    try:
        body = {"id": "WEB-10", "description": "Lampu jalan mati " + "x" * 5000}
        assert _status(app, _streamed("/webhooks/walkin-test", json.dumps(body).encode())) == 413
        assert spool.depth() == 0
        body["description"] = "Lampu jalan mati di Jl. Sudirman"
        assert _status(app, _streamed("/webhooks/walkin-test", json.dumps(body).encode())) == 202
        assert spool.depth() == 1
    finally:
        spool.close()


def _streamed(path: str, body: bytes) -> dict:
    environ = _environ(path, body)
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True
    return environ


def _status(app, environ: dict) -> int:
    started: list[str] = []
    b"".join(app(environ, lambda status, headers, exc_info=None: started.append(status)))
    return int(started[0].split()[0])


def _environ(path: str, body: bytes) -> dict:
    return {"REQUEST_METHOD": "POST", "PATH_INFO": path, "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": "Bearer s3cret-desk-token",
            "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http", "HTTP_HOST": "localhost"}


def test_waitress_queue_warnings_are_throttled_not_one_per_request(tmp_path, monkeypatch, caplog):
    """With every thread busy waitress warns "Task queue depth" for each new request, on
    the thread that does all the socket I/O; only one such line per period is logged."""
    monkeypatch.setenv("KANAL_TEST_DESK_TOKEN", "s3cret-desk-token")
    connector = make_walkin(tmp_path, token="${KANAL_TEST_DESK_TOKEN}")
    spool = Spool(tmp_path / "spool.db")
    runner = ChannelRunner(connector, spool, LocalAttachmentStore(tmp_path / "att"))
    release = threading.Event()

    def slow(_request):
        release.wait(10)
        return text_response(200, "ok\n")

    app = WebhookApp("/webhooks")
    app.add_channel(runner, [WebhookRoute("GET", "/slow", slow)])
    server = WebhookServer(app, port=0, threads=1)
    server.start()
    # A throttle of this test's own in place of the process's (whose period other tests started).
    queue_log = logging.getLogger("waitress.queue")
    monkeypatch.setattr(queue_log, "filters", [])
    throttle = QueueWarningThrottle(every=60)
    queue_log.addFilter(throttle)
    answers: list[int] = []
    caplog.set_level(logging.WARNING, logger="waitress.queue")

    def warned() -> int:
        return len([r for r in caplog.records if r.name == "waitress.queue"]) + throttle.held

    try:
        senders = [threading.Thread(target=lambda: answers.append(
            requests.get(f"{server.url}/webhooks/walkin-test/slow", timeout=15).status_code)) for _ in range(6)]
        for sender in senders:
            sender.start()
            time.sleep(0.05)
        deadline = time.monotonic() + 5
        while warned() < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        release.set()
        for sender in senders:
            sender.join(15)
    finally:
        release.set()
        server.stop()
        spool.close()
    assert answers == [200] * 6
    queue_lines = [r for r in caplog.records if r.name == "waitress.queue"]
    # Five requests waited for the one thread: five warnings, one logged, four counted.
    assert (len(queue_lines), throttle.held) == (1, 4)
    assert "4 more" not in queue_lines[0].getMessage(), "the first line of a period has nothing held yet"
