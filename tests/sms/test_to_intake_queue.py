"""Every SMS backend end to end into the real RabbitMQ intake queue: gateway ->
spool -> forwarder (publisher confirms) -> queue, each complaint exactly once."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from config.models import TopologyConfig
from connectors.sms.gammu_schema import SQLITE_DDL
from connectors.sms.json_inbound import json_signature
from connectors.sms.twilio import twilio_signature
from connectors.sms.udh import encode_hex_ucs2
from kanal.forwarder import Forwarder
from kanal.spool import Spool
from normalizer.timeutil import WIB
from tests.core.broker_kit import (
    broker_config,
    check_delivery,
    queue_depth,
    read_queue,
    running,
    wait_for,
)
from tests.sms.kit import SECRET, FakeSmsdFiles, complaints, make_connector, make_runner

pytestmark = pytest.mark.rabbitmq
SECRET_REF = "${KANAL_TEST_SMS_SECRET}"




def test_every_backend_delivers_into_the_intake_queue_once(
    amqp_url: str, topology: TopologyConfig, spool: Spool, serve, tmp_path: Path
) -> None:
    now = datetime.now(WIB).replace(microsecond=0)
    # Gammu files
    files = tmp_path / "gammu"
    FakeSmsdFiles(files / "inbox").write("081200002001", "Via Gammu files", now - timedelta(minutes=1))
    gammu_files = make_connector("sms-files", backend="gammu_files", gammu_files={
        "inbox_path": str(files / "inbox"), "done_path": str(files / "done"), "settle_seconds": 0})
    # Gammu SQL (SQLite)
    db = tmp_path / "smsd.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.executescript(SQLITE_DDL)
    conn.execute(
        'INSERT INTO inbox ("Text", "SenderNumber", "UDH", "TextDecoded", "RecipientID") VALUES (?, ?, ?, ?, ?)',
        (encode_hex_ucs2("Via Gammu SQL"), "081200002002", "", "Via Gammu SQL", "modem1"),
    )
    conn.close()
    gammu_sql = make_connector("sms-sql", backend="gammu_sql", gammu_sql={"dsn": f"sqlite:///{db}"})
    for connector in (gammu_files, gammu_sql):
        assert make_runner(connector, spool, tmp_path).poll_once() == 1

    # HTTP backends
    kannel = serve(make_connector("sms-kannel", backend="kannel", kannel={"token": SECRET_REF}))
    query = urlencode({"token": SECRET, "from": "081200002003", "to": "08111272206", "text": "Via Kannel",
                       "time": str(int(time.time()))})
    assert requests.get(f"{kannel}/kannel?{query}", timeout=10).status_code == 200

    twilio = serve(make_connector("sms-twilio", account="1708", backend="twilio",
                                  twilio={"auth_token": SECRET_REF})) + "/twilio"
    form = {"MessageSid": "SM00000000000000000000000000000777", "From": "+6281200002004", "To": "1708",
            "Body": "Via Twilio", "SmsStatus": "received", "NumMedia": "0"}
    signature = twilio_signature(SECRET, twilio, {k: [v] for k, v in form.items()})
    assert requests.post(twilio, data=form, headers={"X-Twilio-Signature": signature}, timeout=10).status_code == 200

    aggregator = serve(make_connector("sms-agg", backend="aggregator", aggregator={"token": SECRET_REF}))
    form = {"id": "A-1", "gateway_number": "628111272206", "originator": "6281200002005", "msg": "Via aggregator",
            "receive_date": now.strftime("%Y-%m-%d %H:%M:%S")}
    assert requests.post(f"{aggregator}/aggregator?token={SECRET}", data=form, timeout=10).status_code == 200

    json_url = serve(make_connector("sms-json", backend="json", json={"secret": SECRET_REF})) + "/json"
    body = json.dumps({"id": "J-1", "from": "081200002006", "text": "Via JSON"}).encode()
    stamp = str(int(time.time()))
    headers = {"X-Kanal-Timestamp": stamp, "X-Kanal-Signature": json_signature(SECRET, stamp, body),
               "Content-Type": "application/json"}
    assert requests.post(json_url, data=body, headers=headers, timeout=10).status_code == 200

    taken = complaints(spool)
    assert len(taken) == 6
    forwarder = Forwarder(spool, broker_config(amqp_url, topology))
    with running(forwarder):
        wait_for(lambda: spool.depth() == 0, what="the outbox to drain")
        wait_for(lambda: queue_depth(amqp_url, topology.intake_queue) >= 6, what="six messages in the queue")
    messages = read_queue(amqp_url, topology.intake_queue)

    report = check_delivery({c["id"] for c in taken}, messages)
    assert report.lost == set()
    assert report.duplicated == 0
    texts = sorted(m.json["description"] for m in messages)
    assert texts == sorted(
        ["Via Gammu files", "Via Gammu SQL", "Via Kannel", "Via Twilio", "Via aggregator", "Via JSON"]
    )
    assert {m.json["channel"]["type"] for m in messages} == {"sms"}
