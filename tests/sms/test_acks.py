"""Acknowledgement SMS through the spool's ack outbox: granted in the complaint's own
transaction, sent by the ack sender thread after the webhook answer, retried with
backoff, and limited per sender per window across restarts. Real HTTP for Kannel's
sendsms, real SQLite files for the spool, a real ``kanal run`` child for the kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

import requests
import structlog

from config.loader import load_config
from connectors.registry import options_model
from connectors.webhooks import WebhookApp, WebhookServer
from kanal.ack_sender import AckSender
from kanal.app import KanalProcess
from kanal.spool import Spool
from tests.core.broker_kit import listen_port, wait_for
from tests.sms.kit import (
    SECRET,
    FakeSendsms,
    FakeSmsdFiles,
    ack_rows,
    complaints,
    counters,
    make_connector,
    make_runner,
    send_acks,
)
from tests.sms.test_http_backends import post_json

SECRET_REF = "${KANAL_TEST_SMS_SECRET}"


def kannel_with_sendsms(sendsms: FakeSendsms, name: str = "sms-1708", **ack):
    return make_connector(name, account="1708", backend="kannel", kannel={"token": SECRET_REF},
                          ack={"enabled": True, "kannel_sendsms_url": sendsms.url, "kannel_username": "kanal",
                               "kannel_password": SECRET_REF, **ack})


def kannel_get(url: str, sender: str, text: str, timeout: float = 10) -> requests.Response:
    query = urlencode({"token": SECRET, "from": sender, "to": "1708", "text": text, "time": str(int(time.time()))})
    return requests.get(f"{url}/kannel?{query}", timeout=timeout)


def states(spool: Spool) -> list[str]:
    return [r["state"] for r in ack_rows(spool)]


def test_the_webhook_answers_while_sendsms_hangs_and_the_ack_follows(spool: Spool, serve, sending, sendsms) -> None:
    connector = kannel_with_sendsms(sendsms)
    url = serve(connector)
    sending(connector)
    sendsms.mode = "hang"

    started = time.monotonic()
    response = kannel_get(url, "081200002121", "Lampu jalan mati", timeout=5)
    answered_in = time.monotonic() - started

    assert (response.status_code, response.text) == (200, ""), "the ack is not the reply body"
    assert answered_in < 2, "the answer does not wait for Kannel"
    wait_for(lambda: len(sendsms.requests) == 1, timeout=10, what="the sender to call sendsms")
    assert states(spool) == ["pending"], "in flight: not yet delivered"

    sendsms.release()
    wait_for(lambda: states(spool) == ["sent"], timeout=10, what="the ack to be recorded as sent")
    [sent] = sendsms.requests
    assert (sent["to"], sent["from"], sent["username"], sent["password"]) == ("+6281200002121", "1708", "kanal", SECRET)
    ref = "KNL-" + complaints(spool)[0]["id"].replace("-", "")[:8].upper()
    assert sent["text"] == f"Terima kasih, aduan Anda sudah kami terima dengan nomor {ref}. Pemprov DKI Jakarta."
    assert counters(spool, connector.name)["ack.sent"] == 1


def test_a_failing_sendsms_is_retried_then_given_up_and_the_sender_gets_a_later_ack(
    spool: Spool, serve, sending, sendsms
) -> None:
    sendsms.mode = "fail"
    with structlog.testing.capture_logs() as logs:
        connector = kannel_with_sendsms(sendsms)  # its logger is bound inside the capture
        url = serve(connector)
        sending(connector, max_attempts=3, base_delay=0.01, max_delay=0.05)
        assert kannel_get(url, "081200002222", "Got mampet").status_code == 200
        wait_for(lambda: states(spool) == ["failed"], timeout=10, what="the ack to be given up")

    [row] = ack_rows(spool)
    assert row["attempts"] == 3 and len(sendsms.requests) == 3
    port = sendsms.server.server_address[1]
    assert row["last_error"] == f"Kannel sendsms at 127.0.0.1:{port}/cgi-bin/sendsms: HTTP 503"
    assert [e["attempts"] for e in logs if e["event"] == "acknowledgement not delivered; will retry"] == [1, 2]
    [given_up] = [e for e in logs if e["event"] == "acknowledgement given up"]
    assert given_up["error"] == row["last_error"]
    assert SECRET not in repr(logs), "the sendsms password is never logged"
    assert counters(spool, connector.name)["ack.failed"] == 1

    sendsms.mode = "answer"
    assert kannel_get(url, "081200002222", "Masih mampet").status_code == 200
    wait_for(lambda: states(spool) == ["failed", "sent"], timeout=10, what="the later ack")
    assert sendsms.requests[-1]["to"] == "+6281200002222"


def test_a_failing_gateway_holds_its_channel_not_every_queued_ack(spool: Spool, serve, sendsms) -> None:
    connector = kannel_with_sendsms(sendsms)
    url = serve(connector)
    for n in range(3):
        assert kannel_get(url, f"08120000300{n}", f"Aduan {n}").status_code == 200
    sendsms.mode = "fail"
    sender = AckSender(spool, {connector.name: connector}, base_delay=60)
    assert sender.send_due() == 0
    assert len(sendsms.requests) == 1, "one failed try holds the channel until its backoff ends"
    assert [r["attempts"] for r in ack_rows(spool)] == [1, 0, 0]
    sender.outbox.close()


def test_a_restart_within_the_window_gives_no_second_reply_body(spool: Spool, serve, tmp_path: Path) -> None:
    def connector():
        return make_connector("sms-1708", account="1708", backend="kannel", kannel={"token": SECRET_REF},
                              ack={"enabled": True})

    first = kannel_get(serve(connector()), "081200002323", "Aduan pertama")
    assert first.text.startswith("Terima kasih")

    restarted = Spool(spool.path)  # a new process: new spool object, new connector, new server
    try:
        again = connector()
        app = WebhookApp()
        app.add_channel(make_runner(again, restarted, tmp_path), again.webhook_routes())
        server = WebhookServer(app, port=0, threads=2)
        server.start()
        try:
            second = kannel_get(f"{server.url}/webhooks/{again.name}", "081200002323", "Aduan kedua")
        finally:
            server.stop(timeout=5)
    finally:
        restarted.close()
    assert (second.status_code, second.text) == (200, "")
    assert len(complaints(spool)) == 2


KANAL_CONFIG = """\
spool: {{path: {tmp}/spool.db}}
attachments: {{path: {tmp}/attachments}}
webhooks: {{host: 127.0.0.1, port: {port}, threads: 2}}
metrics: {{port: 0}}  # the default 8091 may be taken by another kanal run on the machine
log: {{level: warning}}
channels:
  - name: sms-1708
    type: sms
    options:
      account: "1708"
      backend: kannel
      kannel: {{token: "${{KANAL_TEST_SMS_SECRET}}"}}
      ack:
        enabled: true
        kannel_sendsms_url: {sendsms}
        kannel_username: kanal
        kannel_password: "${{KANAL_TEST_SMS_SECRET}}"
"""


def write_config(tmp_path: Path, sendsms: FakeSendsms, port: int = 0) -> Path:
    path = tmp_path / "kanal.yaml"
    path.write_text(KANAL_CONFIG.format(tmp=tmp_path, port=port, sendsms=sendsms.url), encoding="utf-8")
    return path


def test_a_restarted_kanal_sends_no_second_ack_within_the_window(tmp_path: Path, sendsms) -> None:
    config = load_config(write_config(tmp_path, sendsms), options_model)
    for n in range(2):
        process = KanalProcess(config)
        process.start()
        try:
            url = f"{process.webhook_server.url}/webhooks/sms-1708"
            assert kannel_get(url, "081200002424", f"Aduan ke-{n}").status_code == 200
            if n == 0:
                wait_for(lambda: len(sendsms.requests) == 1, timeout=10, what="the first ack")
            rows = ack_rows(process.spool)
        finally:
            process.stop(drain_seconds=1)
    # The grant is decided in the commit the 200 waited for: no row, no second SMS ever.
    assert [r["state"] for r in rows] == ["sent"]
    assert len(sendsms.requests) == 1


def test_an_ack_in_flight_when_kanal_is_killed_is_sent_after_the_restart(tmp_path: Path, sendsms) -> None:
    port = listen_port()
    config = write_config(tmp_path, sendsms, port)
    log = tmp_path / "kanal.log"
    sendsms.mode = "hang"

    def start() -> subprocess.Popen:
        with log.open("ab") as out:
            child = subprocess.Popen([sys.executable, "-m", "kanal", "run", "--config", str(config)],
                                     cwd=tmp_path, env=dict(os.environ), stdout=out, stderr=out)
        wait_for(lambda: healthy(child), timeout=30, what="kanal run to answer /healthz")
        return child

    def healthy(child: subprocess.Popen) -> bool:
        assert child.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    child = start()
    try:
        answer = kannel_get(f"http://127.0.0.1:{port}/webhooks/sms-1708", "081200002525", "Pohon tumbang")
        assert answer.status_code == 200
        wait_for(lambda: len(sendsms.requests) == 1, timeout=10, what="the ack to be in flight")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    sendsms.release()  # Kannel answers the dead connection; Kanal never learned of it

    child = start()
    try:
        wait_for(lambda: len(sendsms.requests) == 2, timeout=15, what="the ack to be sent again")
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=30)
    assert sendsms.requests[0] == sendsms.requests[1]
    assert sendsms.requests[1]["to"] == "+6281200002525"
    spool = Spool(tmp_path / "spool.db")
    try:
        assert states(spool) == ["sent"]
    finally:
        spool.close()


def test_the_window_is_per_sender_and_reopens_after_it_passes(spool: Spool, serve) -> None:
    connector = make_connector(backend="json", json={"secret": SECRET_REF},
                               ack={"enabled": True, "window_seconds": 0.5})
    url = serve(connector) + "/json"
    batch = [{"id": f"w{i}", "from": "081200002626", "text": f"Aduan {i}"} for i in range(3)]
    batch.append({"id": "w9", "from": "081200002727", "text": "Aduan lain"})
    replies = [r["reply"] for r in post_json(url, {"messages": batch}).json()["results"]]
    assert [bool(r) for r in replies] == [True, False, False, True]
    time.sleep(0.6)  # let the window pass
    [later] = post_json(url, {"id": "w10", "from": "081200002626", "text": "Aduan lagi"}).json()["results"]
    assert later["reply"].startswith("Terima kasih")
    assert states(spool) == ["answered"] * 3


def test_finished_acks_are_pruned_after_the_retention_and_pending_ones_kept(spool: Spool, tmp_path: Path) -> None:
    smsd = FakeSmsdFiles(tmp_path / "inbox")
    connector = make_connector(backend="gammu_files", ack={"enabled": True}, gammu_files={
        "inbox_path": str(tmp_path / "inbox"), "done_path": str(tmp_path / "done"),
        "outbox_path": str(tmp_path / "outbox"), "settle_seconds": 0})
    smsd.write("081200002828", "Aduan satu", datetime(2026, 11, 27, 8), serial=1)
    make_runner(connector, spool, tmp_path).poll_once()
    assert send_acks(spool, connector) == 1
    smsd.write("081200002929", "Aduan dua", datetime(2026, 11, 27, 8), serial=2)
    make_runner(connector, spool, tmp_path).poll_once()
    assert states(spool) == ["sent", "pending"]

    later = AckSender(spool, {connector.name: connector}, clock=lambda: time.time() + spool.retention_seconds + 60)
    assert later.prune() == 1
    later.outbox.close()
    assert states(spool) == ["pending"]
    assert json.dumps(ack_rows(spool)).count("+6281200002929") == 1
