"""The ``hmac_sha1`` push signature (the ``X-Hub-Signature: sha1=<hex>`` style of older
partner webhooks) on a real webhook server: a body signed with the shared secret is
taken in; an unsigned, forged, tampered or SHA-256-signed body gets 403, is counted as
``webhook.forbidden`` and stores nothing. The test signs with hashlib/hmac itself, not
with Kanal's own signer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests

from kanal.spool import Spool
from tests.http_json.conftest import spooled
from tests.http_json.test_push import serving

SECRET = "made-up-sha1-webhook-secret"


def sha1_block(encoding: str = "hex", prefix: str = "sha1=") -> dict[str, Any]:
    return {
        "name": "kel-sha1",
        "type": "http_json",
        "options": {
            "account": "sha1.kelurahan.example",
            "push": {
                "path": "/aduan",
                "signature": {"scheme": "hmac_sha1", "secret": "${KANAL_TEST_SHA1_SECRET}",
                              "header": "X-Hub-Signature", "prefix": prefix, "encoding": encoding},
                "record_selector": "aduan || @",
            },
            "mapping": {"provider_id": "nomor", "description": "isi"},
        },
    }


def _sig(body: bytes, secret: str = SECRET, digest: Any = hashlib.sha1, encoding: str = "hex") -> bytes:
    mac = hmac.new(secret.encode(), body, digest).digest()
    return mac.hex().encode() if encoding == "hex" else base64.b64encode(mac)


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KANAL_TEST_SHA1_SECRET", SECRET)


def test_hmac_sha1_signed_body_is_taken_in_and_forgeries_are_refused(spool: Spool, make_runner: Callable) -> None:
    body = json.dumps({"aduan": [{"nomor": "S1-1", "isi": "Pohon tumbang menutup jalan."}]}).encode()
    other = json.dumps({"aduan": [{"nomor": "S1-2", "isi": "Pohon tumbang menutup jalan."}]}).encode()
    good = "sha1=" + _sig(body).decode()
    refused_headers = [
        {},                                                        # unsigned
        {"X-Hub-Signature": ""},                                   # empty
        {"X-Hub-Signature": "sha1=" + _sig(body, "guessed").decode()},   # another secret
        {"X-Hub-Signature": "sha1=" + _sig(body, digest=hashlib.sha256).decode()},  # the other scheme
        {"X-Hub-Signature": _sig(body).decode()},                  # without the prefix
        {"X-Hub-Signature": good[:-1] + ("0" if good[-1] != "0" else "1")},  # one hex digit off
        {"X-Signature": good},                                     # the wrong header
    ]
    runner = make_runner(sha1_block())
    with serving(runner) as base:
        url = base + "/aduan"
        refused = [requests.post(url, data=body, headers=h, timeout=5) for h in refused_headers]
        # A valid signature of one body does not carry over to another (tampering).
        tampered = requests.post(url, data=other, headers={"X-Hub-Signature": good}, timeout=5)
        accepted = requests.post(url, data=body, headers={"X-Hub-Signature": good}, timeout=5)
        upper = requests.post(url, data=body, headers={"X-Hub-Signature": "sha1=" + _sig(body).decode().upper()},
                              timeout=5)
    assert [a.status_code for a in refused] == [403] * len(refused_headers)
    assert tampered.status_code == 403
    assert all(a.text == "forbidden\n" for a in [*refused, tampered]), "a forged request learns nothing more"
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["accepted"] == 1 and len(accepted.json()["complaint_ids"]) == 1
    assert upper.status_code == 200 and upper.json()["duplicate"] == 1, "hex is compared without case"
    assert spool.counters("kel-sha1")["webhook.forbidden"] == len(refused_headers) + 1
    [complaint] = spooled(spool)
    assert complaint["provider_message_id"] == "S1-1"
    assert spool.quarantined("kel-sha1") == []


def test_hmac_sha1_in_base64_without_a_prefix(spool: Spool, make_runner: Callable) -> None:
    body = json.dumps({"nomor": "S1-9", "isi": "Got mampet di gang buntu."}).encode()
    runner = make_runner(sha1_block(encoding="base64", prefix=""))
    with serving(runner) as base:
        url = base + "/aduan"
        good = requests.post(url, data=body, headers={"X-Hub-Signature": _sig(body, encoding="base64").decode()},
                             timeout=5)
        hexed = requests.post(url, data=body, headers={"X-Hub-Signature": _sig(body).decode()}, timeout=5)
    assert good.status_code == 200 and good.json()["accepted"] == 1
    assert hexed.status_code == 403
    assert spool.counters("kel-sha1")["webhook.forbidden"] == 1
    assert [c["provider_message_id"] for c in spooled(spool)] == ["S1-9"]
