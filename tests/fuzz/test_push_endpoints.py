"""Generated hostile requests against every push endpoint, over real HTTP on the shared
webhook server, each properly authenticated (token, Twilio signature, Kanal JSON
signature, Meta's X-Hub-Signature-256, X's webhook signature, walk-in bearer).

The property (:meth:`tests.fuzz.kit.Harness.send`): a 2xx that left a mark in the spool
(stored, duplicate, counted drop or quarantined), or a 4xx with a reason; never a 5xx,
never a quarantine reason naming a Python bug, and /healthz keeps answering. Each
request is sometimes sent twice: a redelivery must leave a mark too (a duplicate).

Examples per test: ``KANAL_FUZZ_EXAMPLES`` (see tests/conftest.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.twitter.webhook import hmac_sha256_b64
from tests.fuzz.kit import (
    PAGE_ID,
    SECRET,
    Harness,
    json_headers,
    meta_headers,
    running_harness,
    twilio_headers,
    x_headers,
)
from tests.fuzz.strategies import form_fields, header_values, json_bodies, text, urlencoded

FUZZ = settings.get_profile("kanal-fuzz")


@pytest.fixture(scope="module", name="harness")
def _harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with running_harness(tmp_path_factory.mktemp("fuzz")) as harness:
        yield harness


def now_epoch() -> str:
    return str(int(time.time()))


def now_wib() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 7 * 3600))


def send(harness: Harness, endpoint: str, channel: str, twice: bool, method: str, url: str, **kw: Any) -> None:
    harness.send(endpoint, channel, method, url, **kw)
    if twice:
        harness.send(endpoint, channel, method, url, **kw)


serials = st.integers(0, 10**9).map(str)


# -- SMS ------------------------------------------------------------------------------


@FUZZ
@given(serial=serials, data=st.data(), twice=st.booleans())
def test_kannel_get_url(harness: Harness, serial: str, data: st.DataObject, twice: bool) -> None:
    good = {"token": SECRET, "from": "081200001111", "to": "08111272206", "text": "Jalan rusak " + serial,
            "time": now_epoch(), "id": f"6b1f7c3e-{serial}", "coding": "0", "charset": "UTF-8", "udh": "",
            "smsc": "telkomsel"}
    query = urlencoded(data.draw(form_fields(good, fixed=("token",))))
    send(harness, "sms kannel get-url", "sms-kannel", twice, "GET", harness.url("sms-kannel", "/kannel") + "?" + query)


@FUZZ
@given(serial=serials, data=st.data(), body=st.binary(max_size=400), twice=st.booleans())
def test_kannel_post_url(harness: Harness, serial: str, data: st.DataObject, body: bytes, twice: bool) -> None:
    headers = {"X-Kannel-From": "081200001111", "X-Kannel-To": "08111272206",
               "X-Kannel-Time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
               "X-Kannel-UDH": "", "X-Kannel-Coding": "0", "Content-Type": "text/plain; charset=utf-8"}
    for key in list(headers):
        choice = data.draw(st.sampled_from(["keep", "keep", "change", "drop"]), label=key)
        if choice == "change":
            headers[key] = data.draw(st.one_of(header_values, st.sampled_from(
                ["2", "3", "1", "text/plain; charset=UTF-16BE", "application/octet-stream", "text/plain; charset=x"])))
        elif choice == "drop":
            del headers[key]
    body = data.draw(st.one_of(st.just(f"Banjir {serial}".encode()), st.just(body),
                               text.map(lambda t: t.encode("utf-16-be", "surrogatepass"))))
    url = harness.url("sms-kannel", "/kannel") + f"?token={SECRET}"
    send(harness, "sms kannel post-url", "sms-kannel", twice, "POST", url, data=body, headers=headers)


@FUZZ
@given(serial=serials, data=st.data(), twice=st.booleans())
def test_twilio(harness: Harness, serial: str, data: st.DataObject, twice: bool) -> None:
    good = {"MessageSid": f"SM{serial:0>32}", "AccountSid": "AC" + "0" * 32, "From": "+6281200001111",
            "To": "+628111272206", "Body": "Lampu jalan mati " + serial, "NumMedia": "1",
            "MediaUrl0": "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM0/Media/ME0",
            "MediaContentType0": "image/jpeg", "SmsStatus": "received"}
    body = urlencoded(data.draw(form_fields(good))).encode()
    url = harness.url("sms-twilio", "/twilio")
    send(harness, "sms twilio", "sms-twilio", twice, "POST", url, data=body, headers=twilio_headers(url, body))


@FUZZ
@given(serial=serials, data=st.data(), twice=st.booleans())
def test_aggregator(harness: Harness, serial: str, data: st.DataObject, twice: bool) -> None:
    good = {"id": f"a{serial}", "gateway_number": "628111272206", "originator": "081200001111",
            "receive_date": now_wib(), "msg": "Sampah menumpuk " + serial}
    body = urlencoded(data.draw(form_fields(good))).encode()
    url = harness.url("sms-aggregator", "/aggregator") + f"?token={SECRET}"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    send(harness, "sms aggregator", "sms-aggregator", twice, "POST", url, data=body, headers=headers)


SMS_JSON = {"id": "j1", "from": "081200001111", "to": "08111272206", "text": "Got mampet",
            "received_at": "2026-11-27T09:15:00+07:00", "incomplete": False, "type": "sms"}


@FUZZ
@given(data=st.data(), twice=st.booleans())
def test_sms_json(harness: Harness, data: st.DataObject, twice: bool) -> None:
    template = data.draw(st.sampled_from([SMS_JSON, {"messages": [SMS_JSON]}]))
    body = data.draw(json_bodies(template))
    url = harness.url("sms-json", "/json")
    send(harness, "sms json", "sms-json", twice, "POST", url, data=body, headers=json_headers(body))


# -- Facebook, X, walk-in ---------------------------------------------------------------------

MESSAGING = {"sender": {"id": "7001"}, "recipient": {"id": PAGE_ID}, "timestamp": 1764200000000,
             "message": {"mid": "m_1", "text": "Banjir di Kampung Melayu",
                         "attachments": [{"type": "image", "payload": {"url": "https://scontent.example/x.jpg",
                                                                       "coordinates": {"lat": -6.2, "long": 106.8}}}],
                         "reply_to": {"mid": "m_0"}}}
FEED = {"field": "feed", "value": {"item": "comment", "verb": "add", "comment_id": "1_2", "post_id": "1",
                                   "message": "Pohon tumbang", "from": {"id": "7002", "name": "Warga"},
                                   "created_time": 1764200000, "photo": "https://scontent.example/y.jpg"}}
PAGE_BODY = {"object": "page", "entry": [{"id": PAGE_ID, "time": 1764200000, "messaging": [MESSAGING],
                                          "changes": [FEED]}]}
IG_COMMENT = {"field": "comments", "value": {"id": "18000000000000001", "text": "Jalan rusak",
                                            "from": {"id": "9", "username": "w"}, "media": {"id": "18000000000000000"}}}
INSTAGRAM_BODY = {"object": "instagram", "entry": [{"id": "17841400000000001", "time": 1764200000,
                                                    "changes": [IG_COMMENT]}]}


@FUZZ
@given(data=st.data(), twice=st.booleans())
def test_facebook_webhook(harness: Harness, data: st.DataObject, twice: bool) -> None:
    body = data.draw(json_bodies(data.draw(st.sampled_from([PAGE_BODY, INSTAGRAM_BODY]))))
    send(harness, "facebook webhook", "facebook", twice, "POST", harness.url("facebook"), data=body,
         headers=meta_headers(body))


V1_TWEET = {"id_str": "1862000000000000001", "created_at": "Fri Nov 27 03:15:00 +0000 2026",
            "text": "@dkijakarta Jalan berlubang", "lang": "in",
            "user": {"id_str": "5001", "screen_name": "warga", "name": "Budi Contoh"},
            "entities": {"urls": [{"url": "https://t.co/a", "expanded_url": "https://example.org"}]},
            "extended_entities": {"media": [{"id_str": "7", "type": "photo", "url": "https://t.co/b",
                                             "media_url_https": "https://pbs.twimg.com/media/x.jpg"}]},
            "coordinates": {"coordinates": [106.8, -6.2]},
            "place": {"id": "p1", "full_name": "Jakarta", "bounding_box": {"coordinates": [[[106.7, -6.3],
                                                                                          [106.9, -6.1]]]}},
            "in_reply_to_status_id_str": "1862000000000000000"}
X_BODY = {"for_user_id": "1000", "tweet_create_events": [V1_TWEET]}


@FUZZ
@given(data=st.data(), twice=st.booleans())
def test_x_webhook_events(harness: Harness, data: st.DataObject, twice: bool) -> None:
    body = data.draw(json_bodies(X_BODY))
    send(harness, "x webhook events", "twitter", twice, "POST", harness.url("twitter"), data=body,
         headers=x_headers(body))


@FUZZ
@given(token=st.one_of(text, st.binary(max_size=80).map(lambda b: b.decode("latin-1"))))
@example(token="\ud800")
def test_x_webhook_crc(harness: Harness, token: str) -> None:
    # As bytes: a lone surrogate has no UTF-8 form, so requests cannot encode it as text; on the
    # wire it is the percent-encoded bytes a hostile client can send (a long run found it).
    answer = harness.send("x webhook crc", "twitter", "GET", harness.url("twitter"), stores=False,
                          params={"crc_token": token.encode("utf-8", "surrogatepass")})
    if answer.status_code == 200:
        assert answer.json()["response_token"] == hmac_sha256_b64(SECRET, token.encode("utf-8", "surrogatepass"))


WALKIN = {"id": "BK-2026-000123", "description": "Jalan berlubang di depan kantor kelurahan",
          "title": "Jalan rusak", "address": "Jl. Merdeka 1",
          "reporter": {"name": "Siti", "phone": "081200003333", "email": "siti@example.org", "anonymous": False},
          "submitted_at": "2026-11-27T09:15:00+07:00", "test": False}


@FUZZ
@given(data=st.data(), twice=st.booleans())
def test_walkin_post(harness: Harness, data: st.DataObject, twice: bool) -> None:
    body = data.draw(json_bodies(WALKIN))
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {SECRET}"}
    send(harness, "walk-in POST", "walkin", twice, "POST", harness.url("walkin"), data=body, headers=headers)

