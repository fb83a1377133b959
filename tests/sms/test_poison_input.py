"""Poison and garbage on the SMS HTTP backends, over real HTTP: never a 5xx, garbage
quarantined with its raw bytes (not dropped uncounted, not stored as mojibake),
operator promos still counted drops."""

from __future__ import annotations

import json
import time
from urllib.parse import quote, urlencode

import pytest
import requests

from connectors.sms.json_inbound import json_signature
from connectors.sms.twilio import twilio_signature
from kanal.spool import Spool
from tests.sms.kit import SECRET, complaints, counters, make_connector
from tests.sms.test_http_backends import SECRET_REF, kannel_connector, post_json, post_twilio, twilio_form

CHANNEL = "sms-08111272206"


def json_url(serve) -> str:
    return serve(make_connector(backend="json", json={"secret": SECRET_REF})) + "/json"


def post_signed(url: str, body: bytes, stamp: str) -> requests.Response:
    headers = {"Content-Type": "application/json", "X-Kanal-Timestamp": stamp,
               "X-Kanal-Signature": json_signature(SECRET, stamp, body)}
    return requests.post(url, data=body, headers=headers, timeout=30)


def test_json_nested_100000_deep_gets_a_4xx_not_a_5xx(spool: Spool, serve) -> None:
    url = json_url(serve)
    for body in (b"[" * 100_000 + b"]" * 100_000,
                 b'{"messages": [{"id": "d1", "from": "081200001111", "text": ' + b"[" * 900 + b"]" * 900 + b"}]}"):
        answer = post_signed(url, body, str(int(time.time())))
        assert 400 <= answer.status_code < 500, answer.text
    assert post_json(url, {"id": "after", "from": "081200001111", "text": "Halte rusak"}).status_code == 200


@pytest.mark.parametrize("stamp", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_json_timestamp_that_is_not_finite_is_refused(spool: Spool, serve, stamp: str) -> None:
    url = json_url(serve)
    body = json.dumps({"id": "n1", "from": "081200001111", "text": "Tes"}).encode()
    assert post_signed(url, body, stamp).status_code == 403
    assert complaints(spool) == []


def test_json_garbage_fields_are_quarantined_and_promos_stay_counted_drops(spool: Spool, serve) -> None:
    url = json_url(serve)
    messages = [
        {"id": {"oops": 1}, "from": "081200001111", "text": "Jalan rusak"},
        {"id": "g2", "from": ["081200001111"], "text": "Jalan rusak"},
        {"id": "g3", "from": "081234'; DROP TABLE ledger; --", "text": "Jalan rusak"},
        {"id": "g4", "from": "../../etc/passwd", "text": "Jalan rusak"},
        {"id": "g5", "from": "0812" + "1" * 100_000, "text": "Jalan rusak"},  # under the route's 1 MiB body cap
        {"id": "g6" * 50_000, "from": "081200001111", "text": "Jalan rusak"},
        {"id": "g7", "from": "081200001111", "text": "banjir \ud83d"},
        {"id": "p1", "from": "TELKOMSEL", "text": "Promo kuota"},
        {"id": "p2", "from": "BY.U", "text": "Promo kuota"},
        {"id": "ok", "from": "081200001111", "text": "jalan\u0000\u0000rusak"},
    ]
    answer = post_json(url, {"messages": messages})

    assert answer.status_code == 200
    statuses = [r["status"] for r in answer.json()["results"]]
    assert statuses == ["quarantined"] * 7 + ["dropped", "dropped", "accepted"]
    [complaint] = complaints(spool)
    assert complaint["description"] == "jalan rusak", "a NUL separates words: it becomes a space"
    assert counters(spool, CHANNEL)["dropped.alphanumeric_sender"] == 2
    entries = spool.quarantined(CHANNEL)
    assert len(entries) == 7
    assert any(b"DROP TABLE" in e.payload for e in entries), "the raw bytes are kept"
    assert any(b"../../etc/passwd" in e.payload for e in entries)


def test_invalid_utf8_is_quarantined_not_stored_as_mojibake(spool: Spool, serve) -> None:
    kannel = serve(kannel_connector(name="sms-kannel")) + "/kannel"
    aggregator = serve(make_connector("sms-aggregator", backend="aggregator", aggregator={"token": SECRET_REF}))
    twilio = serve(make_connector("sms-twilio", backend="twilio", twilio={"auth_token": SECRET_REF})) + "/twilio"

    query = (f"token={quote(SECRET)}&from=081200001111&to=08111272206&text=jalan%FF%FErusak"
             f"&time={int(time.time())}&coding=0&charset=UTF-8")
    assert requests.get(f"{kannel}?{query}", timeout=10).status_code == 200

    now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 7 * 3600))
    form = urlencode({"id": "a1", "gateway_number": "628111272206", "originator": "081200001111",
                      "receive_date": now}) + "&msg=jalan%FFrusak"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    assert requests.post(f"{aggregator}/aggregator?token={SECRET}", data=form, headers=headers,
                         timeout=10).status_code == 200

    fields = twilio_form("SM000000000000000000000000000000aa")
    body = urlencode({k: v for k, v in fields.items() if k != "Body"}) + "&Body=jalan%FFrusak"
    signed = {k: [v] for k, v in fields.items()} | {"Body": ["jalan\ufffdrusak"]}
    signature = twilio_signature(SECRET, twilio, signed)
    assert requests.post(twilio, data=body, headers={**headers, "X-Twilio-Signature": signature},
                         timeout=10).status_code == 200

    assert complaints(spool) == []
    for channel, raw in (("sms-kannel", b"%FF%FE"), ("sms-aggregator", b"%FF"), ("sms-twilio", b"%FF")):
        [entry] = spool.quarantined(channel)
        assert "UTF-8" in entry.error
        assert raw in entry.payload


def test_twilio_media_urls_must_be_https(spool: Spool, serve) -> None:
    url = serve(make_connector(backend="twilio", twilio={"auth_token": SECRET_REF})) + "/twilio"
    for n, media in enumerate(("javascript:alert(1)", "file:///etc/passwd", "data:image/png;base64,AAAA",
                               "ftp://media.example.com/x")):
        form = twilio_form(f"MM0000000000000000000000000000000{n}", NumMedia="1", MediaUrl0=media,
                           MediaContentType0="image/png")
        assert post_twilio(url, form).status_code == 200
    assert complaints(spool) == []
    entries = spool.quarantined(CHANNEL)
    assert len(entries) == 4 and all("https" in e.error for e in entries)


def test_kannel_udh_as_raw_url_encoded_bytes_is_read(spool: Spool, serve) -> None:
    url = serve(kannel_connector())
    for udh in ("%05%00%03%2A%02%01", "0500032A0202"):  # %u sends raw bytes; some setups send hex
        query = (f"token={quote(SECRET)}&from=081200001111&to=08111272206&text=Bagian+{udh[-1]}"
                 f"&time={int(time.time())}&udh={udh}")
        assert requests.get(f"{url}/kannel?{query}", timeout=10).status_code == 200
    assert spool.quarantined(CHANNEL) == []
    [joined] = complaints(spool)
    assert joined["description"] == "Bagian 1Bagian 2", "both read as parts 1 and 2 of reference 0x2A"
    assert joined["flags"] == []


def test_twilio_forwarded_host_is_trusted_only_from_a_configured_proxy(spool: Spool, serve) -> None:
    connector = make_connector(backend="twilio", twilio={"auth_token": SECRET_REF})
    direct = serve(connector) + "/twilio"
    path = direct.split("/", 3)[3]
    elsewhere = f"https://other.example.org/{path}"
    forged = {"X-Forwarded-Host": "other.example.org", "X-Forwarded-Proto": "https"}

    def post(url: str, sid: str) -> int:
        form = twilio_form(sid)
        signature = twilio_signature(SECRET, elsewhere, {k: [v] for k, v in form.items()})
        return requests.post(url, data=form, headers={"X-Twilio-Signature": signature, **forged},
                             timeout=10).status_code

    assert post(direct, "SM000000000000000000000000000000b1") == 403
    behind_proxy = serve(make_connector("sms-proxied", backend="twilio", twilio={"auth_token": SECRET_REF}),
                         trusted_proxies=["127.0.0.1/32"]) + "/twilio"
    elsewhere = elsewhere.replace(CHANNEL, "sms-proxied")
    assert post(behind_proxy, "SM000000000000000000000000000000b2") == 200
    assert [c["channel"]["name"] for c in complaints(spool)] == ["sms-proxied"]


def test_kannel_charset_that_is_no_codec_name_is_quarantined_with_a_reason(spool: Spool, serve) -> None:
    """Found by tests/fuzz: a charset holding a NUL made str.decode raise a bare ValueError."""
    url = serve(kannel_connector())
    for n, charset in enumerate(("utf-8%00", "base64", "x" * 40)):
        query = (f"token={quote(SECRET)}&from=081200001111&to=08111272206&text=Jalan+rusak&id=c{n}"
                 f"&time={int(time.time())}&charset={charset}")
        assert requests.get(f"{url}/kannel?{query}", timeout=10).status_code == 200
    entries = spool.quarantined(CHANNEL)
    assert len(entries) == 3
    assert all(e.error.startswith("Kannel message cannot be decoded: unknown charset") for e in entries), \
        [e.error for e in entries]
