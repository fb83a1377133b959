"""The push route: signatures (shared key, HMAC over body, HMAC over timestamp + body with
a replay window), batches, poison bodies, and push + poll of one report = one complaint."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests

from connectors.http_json.config import Signature
from connectors.http_json.webhook import sign
from connectors.runner import ChannelRunner
from connectors.webhooks import WebhookApp, WebhookServer
from kanal.spool import Spool
from tests.http_json.conftest import QLUE_PUSH_KEY, qlue_block, spooled
from tests.http_json.fakes import FakeQlue

HMAC_SECRET = "made-up-form-signing-secret"


@contextmanager
def serving(runner: ChannelRunner) -> Iterator[str]:
    """The channel's routes on a real webhook server; yields the channel's URL."""
    app = WebhookApp("/webhooks")
    app.add_channel(runner, runner.connector.webhook_routes())
    server = WebhookServer(app, port=0, threads=2)
    server.start()
    try:
        yield f"{server.url}/webhooks/{runner.name}"
    finally:
        server.stop(timeout=2)


def petabencana_style(report: dict[str, Any]) -> dict[str, Any]:
    """A Qlue report as the push precedent sends it (post_id, ISO created_at, title, text...)."""
    return {"post_id": report["post_id"], "created_at": report["post_date"].replace(" ", "T") + "+07:00",
            "title": report["post_title"], "text": report["post_desc"], "image_url": report["post_images"][0],
            "location": {"lat": report["loc_lat"], "lng": report["loc_lng"]}}


def test_qlue_push_and_poll_of_the_same_report_are_one_complaint(spool: Spool, make_runner: Callable) -> None:
    with FakeQlue() as fake:
        reports = [fake.add_report(n) for n in range(5)]
        runner = make_runner(qlue_block(fake))
        runner.poll_once()
        late = fake.add_report(5)
        with serving(runner) as url:
            again = requests.post(url, json=petabencana_style(reports[2]), headers={"X-Api-Key": QLUE_PUSH_KEY},
                                  timeout=5)
            batch = {"reports": [petabencana_style(late), petabencana_style(reports[0])]}
            both = requests.post(url, json=batch, headers={"X-Api-Key": QLUE_PUSH_KEY}, timeout=5)
        runner.poll_once()  # the poll finds the pushed report too
    assert again.status_code == 200 and again.json()["duplicate"] == 1
    assert both.json()["accepted"] == 1 and both.json()["duplicate"] == 1
    ids = sorted(c["provider_message_id"] for c in spooled(spool))
    assert ids == [str(r["post_id"]) for r in [*reports, late]]
    assert spool.counters("qlue").get("webhook.forbidden") is None


def test_forged_or_unsigned_pushes_get_403_and_store_nothing(spool: Spool, make_runner: Callable) -> None:
    with FakeQlue() as fake:
        runner = make_runner(qlue_block(fake))
        body = json.dumps(petabencana_style(fake.add_report(1))).encode()
        with serving(runner) as url:
            answers = [
                requests.post(url, data=body, timeout=5),
                requests.post(url, data=body, headers={"X-Api-Key": "guessed"}, timeout=5),
                requests.post(url, data=body, headers={"X-Api-Key": QLUE_PUSH_KEY[:-1]}, timeout=5),
            ]
    assert [a.status_code for a in answers] == [403, 403, 403]
    assert spooled(spool) == [] and spool.quarantined("qlue") == []
    assert spool.counters("qlue")["webhook.forbidden"] == 3


def _form_block() -> dict[str, Any]:
    return {
        "name": "kel-form",
        "type": "http_json",
        "options": {
            "account": "form.kelurahan.example",
            "push": {
                "path": "/aduan",
                "signature": {"scheme": "hmac_sha256", "secret": "${KANAL_TEST_FORM_SECRET}",
                              "header": "X-Signature", "prefix": "sha256=", "encoding": "base64",
                              "signed": "timestamp_body", "timestamp_header": "X-Timestamp",
                              "replay_window_seconds": 60},
                "record_selector": "aduan",
            },
            "mapping": {"provider_id": "nomor", "description": "isi",
                        "created": {"path": "waktu", "format": "epoch"}},
        },
    }


def test_hmac_over_timestamp_and_body_with_a_replay_window(spool: Spool, make_runner: Callable,
                                                           monkeypatch) -> None:
    monkeypatch.setenv("KANAL_TEST_FORM_SECRET", HMAC_SECRET)
    block = _form_block()
    signature = Signature.model_validate(block["options"]["push"]["signature"])
    body = json.dumps({"aduan": [{"nomor": "KEL-1", "isi": "Got mampet", "waktu": 1772413200},
                                 {"nomor": "KEL-2", "waktu": 1772413200}]}).encode()

    def post(url: str, data: bytes, at: float, secret: str = HMAC_SECRET, signed: bytes | None = None
             ) -> requests.Response:
        stamp = str(int(at))
        headers = {"X-Timestamp": stamp, "X-Signature": sign(signature, secret, signed or data, stamp)}
        return requests.post(url, data=data, headers=headers, timeout=5)

    runner = make_runner(block)
    with serving(runner) as base:
        url = base + "/aduan"
        stale = post(url, body, time.time() - 120)
        forged = post(url, body, time.time(), secret="not-the-secret")
        tampered = post(url, body.replace(b"Got", b"Kali"), time.time(), signed=body)
        good = post(url, body, time.time())
        poison = post(url, b"{not json", time.time())
    assert [stale.status_code, forged.status_code, tampered.status_code] == [403, 403, 403]
    assert good.status_code == 200 and good.json()["accepted"] == 1 and good.json()["quarantined"] == 1
    assert poison.status_code == 200 and poison.json()["quarantined"] == 1
    errors = sorted(e.error for e in spool.quarantined("kel-form"))
    assert any("mapping.description" in e for e in errors)
    assert any("push body is not JSON" in e for e in errors)
    assert [e.payload for e in spool.quarantined("kel-form") if "not JSON" in e.error] == [b"{not json"]
    [complaint] = spooled(spool)
    assert complaint["provider_message_id"] == "KEL-1"
    assert complaint["requested_datetime"].endswith("+07:00")
