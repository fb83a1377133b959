"""Contract samples of every built-in channel type, and the discovery of types.

Every type in :func:`connectors.registry.known_types` (built-ins and plugins) is a
parameter of the contract suite. A type provides its samples as a fixture named
``contract_<type>`` returning a list of :class:`tests.contract.kit.ContractCase`;
a type without one fails the suite (see ``test_connector_contract.py``). A plugin
type adds its fixture here or in a conftest of its own that this directory sees.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml

from connectors.email.config import EmailOptions
from connectors.email.connector import EmailConnector
from connectors.facebook.config import FacebookOptions
from connectors.facebook.connector import FacebookConnector
from connectors.facebook.payloads import envelope
from connectors.http_json.connector import HttpJsonConnector
from connectors.http_json.webhook import record_message
from connectors.registry import known_types
from connectors.sms.config import SmsOptions
from connectors.sms.connector import SmsConnector
from connectors.twitter.connector import TwitterConnector
from connectors.walkin.config import WalkInOptions
from connectors.walkin.connector import WalkInConnector
from tests.contract.kit import RECEIVED, ContractCase, channel_context, raw

SECRET_REF = "${KANAL_CONTRACT_SECRET}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every contract test once per registered channel type."""
    if "channel_type" in metafunc.fixturenames:
        types = sorted(known_types())
        metafunc.parametrize("channel_type", types, ids=types)


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KANAL_CONTRACT_SECRET", "contract-secret-not-real")


# -- sms: one case per backend ---------------------------------------------------------


def _sms(name: str, **options: object) -> SmsConnector:
    options.setdefault("account", "+628111272206")
    return SmsConnector(channel_context(name, "sms"), SmsOptions.model_validate(options))


def _http(method: str, path: str, query: str = "", headers: dict[str, str] | None = None,
          body: bytes = b"") -> bytes:
    """The archived form of an HTTP request (what the HTTP backends' ``decode`` reads)."""
    head = [f"{method} {path}{'?' + query if query else ''} HTTP/1.1"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _gammu_name(n: int) -> str:
    return f"IN20261127_0915{n:02d}_00_081200001111_00.txt"


@pytest.fixture
def contract_sms(tmp_path: Path) -> list[ContractCase]:
    """Kannel, Twilio, aggregator, JSON and Gammu files."""
    stamp = str(int(time.time()))
    form = "application/x-www-form-urlencoded"
    return [
        ContractCase("sms/kannel", lambda: _sms("sms-kannel", backend="kannel", kannel={"token": SECRET_REF}),
                     tuple(raw(f"kannel:{n}", _http("GET", "/kannel", urlencode(
                         {"from": "081200001111", "to": "08111272206", "text": f"Jalan rusak {n}", "time": stamp,
                          "id": f"k-{n}"}))) for n in range(3)),
                     raw("kannel:bad", _http("GET", "/kannel", "to=08111272206&text=tanpa+pengirim"))),
        ContractCase("sms/twilio", lambda: _sms("sms-twilio", backend="twilio", twilio={"auth_token": SECRET_REF}),
                     tuple(raw(f"twilio:{n}", _http("POST", "/twilio", headers={"Content-Type": form}, body=urlencode(
                         {"MessageSid": f"SM{n:032d}", "From": "+6281200001111", "To": "+628111272206",
                          "Body": f"Banjir {n}", "SmsStatus": "received"}).encode())) for n in range(3)),
                     raw("twilio:bad", _http("POST", "/twilio", body=b"Body=tanpa+sid"))),
        ContractCase("sms/aggregator",
                     lambda: _sms("sms-aggregator", backend="aggregator", aggregator={"token": SECRET_REF}),
                     tuple(raw(f"aggregator:{n}", _http("POST", "/aggregator", headers={"Content-Type": form},
                                                        body=urlencode({"id": f"a{n}", "originator": "081200001111",
                                                                        "msg": f"Sampah {n}"}).encode()))
                           for n in range(3)),
                     raw("aggregator:bad", b"no request line at all")),
        ContractCase("sms/json", lambda: _sms("sms-json", backend="json", json={"secret": SECRET_REF}),
                     tuple(raw(f"json:j{n}", json.dumps({"id": f"j{n}", "from": "081200001111",
                                                         "text": f"Got mampet {n}"}).encode(), backend="json")
                           for n in range(3)),
                     raw("json:bad", b'{"id": {"not": "an id"}, "from": "081200001111"}', backend="json")),
        ContractCase("sms/gammu_files",
                     lambda: _sms("sms-gammu", backend="gammu_files", gammu_files={
                         "inbox_path": str(tmp_path / "inbox"), "done_path": str(tmp_path / "done")}),
                     tuple(raw(_gammu_name(n), f"Pohon tumbang {n}".encode(), backend="gammu_files",
                               files=[_gammu_name(n)], complete=True) for n in range(3)),
                     raw("not-a-gammu-name.txt", b"x", backend="gammu_files", files=["not-a-gammu-name.txt"],
                         complete=True)),
    ]


# -- the other built-ins -------------------------------------------------------------------


def _mail(n: int) -> bytes:
    return (f"From: Budi <budi{n}@example.org>\r\nTo: dki@jakarta.example\r\nSubject: Jalan rusak {n}\r\n"
            f"Message-ID: <m{n}@example.org>\r\nDate: Fri, 27 Nov 2026 09:15:00 +0700\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\nLubang besar di Jl. Merdeka {n}.\r\n").encode()


@pytest.fixture
def contract_email() -> list[ContractCase]:
    """An IMAP mailbox's messages as fetched (no server needed to normalise)."""
    options = EmailOptions.model_validate({"address": "dki@jakarta.example", "host": "127.0.0.1",
                                           "password": SECRET_REF})
    return [ContractCase("email", lambda: EmailConnector(channel_context("email-dki", "email"), options),
                         tuple(raw(f"INBOX:{n}", _mail(n), folder="INBOX", uid=n) for n in range(3)),
                         raw("INBOX:99", b"", folder="INBOX", uid=99))]


@pytest.fixture
def contract_twitter() -> list[ContractCase]:
    """Mentions in the payload shape the poller and the webhook both produce."""
    options = TwitterConnector.config_model.model_validate({
        "accounts": ["dkijakarta"], "bearer_token": SECRET_REF, "api_base_url": "http://127.0.0.1:9"})

    def mention(n: int) -> bytes:
        return json.dumps({"data": {"id": f"18620000000000000{n:02d}", "text": f"@dkijakarta Lampu mati {n}",
                                    "author_id": "5001", "created_at": "2026-11-27T02:15:00.000Z"},
                           "includes": {"users": [{"id": "5001", "username": "warga", "name": "Budi"}]}},
                          sort_keys=True).encode()

    return [ContractCase("twitter", lambda: TwitterConnector(channel_context("twitter-dki", "twitter"), options),
                         tuple(raw(f"18620000000000000{n:02d}", mention(n), account="dkijakarta") for n in range(3)),
                         raw("1", b'{"data": {"id": "1", "text": ["not text"]}}', account="dkijakarta"))]


@pytest.fixture
def contract_facebook() -> list[ContractCase]:
    """Graph items as the poller wraps them."""
    options = FacebookOptions.model_validate({"page_id": "100000000000001", "page_access_token": SECRET_REF,
                                              "graph_api_base_url": "http://127.0.0.1:9"})

    def post(n: int) -> bytes:
        return envelope("poll", "post", "100000000000001",
                        {"id": f"100000000000001_{n}", "message": f"Trotoar rusak {n}",
                         "created_time": "2026-11-27T02:15:00+0000", "from": {"id": "7001", "name": "Warga"}})

    return [ContractCase("facebook", lambda: FacebookConnector(channel_context("facebook-dki", "facebook"), options),
                         tuple(raw(f"poll:post:{n}", post(n), source="poll") for n in range(3)),
                         raw("webhook:body", b"\xff\xfe not an envelope", source="webhook"))]


@pytest.fixture
def contract_walkin(tmp_path: Path) -> Iterator[list[ContractCase]]:
    """Desk JSON as the drop folder and the HTTP endpoint hand it over."""
    options = WalkInOptions(desk="Balai Kota", inbox=tmp_path / "walkin-inbox")

    def desk(n: int) -> bytes:
        return json.dumps({"id": f"BK-2026-{n:06d}", "description": f"Saluran mampet {n}",
                           "submitted_at": RECEIVED.isoformat()}).encode()

    yield [ContractCase("walkin", lambda: WalkInConnector(channel_context("walkin-dki", "walkin"), options),
                        tuple(raw(f"BK-{n}.json", desk(n), file=f"BK-{n}.json") for n in range(3)),
                        raw("broken.json", b"{not json", file="broken.json"))]


@pytest.fixture
def contract_http_json(monkeypatch: pytest.MonkeyPatch) -> list[ContractCase]:
    """Records of the shipped Qlue example block, as its poller and push route hand them over."""
    block = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "examples" / "qlue.yaml").read_text())[0]
    monkeypatch.setenv("KANAL_QLUE_CLIENT_SECRET", "contract-secret-not-real")
    monkeypatch.setenv("KANAL_QLUE_PUSH_KEY", "contract-secret-not-real")
    options = HttpJsonConnector.config_model.model_validate(block["options"])

    def report(n: int) -> dict:
        return {"post_id": 5000 + n, "created_at": "2026-11-27T09:15:00+07:00", "title": "Jalan berlubang",
                "text": f"Jalan berlubang besar di depan pasar {n}", "status": "wait",
                "location": {"lat": -6.1754, "lng": 106.8272}}

    def make() -> HttpJsonConnector:
        return HttpJsonConnector(channel_context("qlue", "http_json"), options)

    good = tuple(record_message(report(n), options.mapping.provider_id, RECEIVED, "poll") for n in range(3))
    bad = record_message({"post_id": 6000, "created_at": "not a time", "status": "wait"},
                         options.mapping.provider_id, RECEIVED, "poll")
    return [ContractCase("http_json/qlue", make, good, bad)]
