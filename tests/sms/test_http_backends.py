"""HTTP backends over real HTTP on the shared webhook server: requests shaped like
Kannel's get-url / post-url, Twilio's signed form posts, an Indonesian aggregator's
form post and Kanal's signed JSON. Forged, unsigned and replayed requests store
nothing; a 2xx is only sent once the message is in the spool."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, quote_from_bytes, urlencode

import requests

from connectors.sms.json_inbound import json_signature
from connectors.sms.twilio import twilio_signature
from kanal.spool import Spool
from normalizer.timeutil import WIB
from tests.sms.kit import SECRET, complaints, counters, make_connector

SECRET_REF = "${KANAL_TEST_SMS_SECRET}"


def forbidden_count(spool: Spool, channel: str) -> int:
    return counters(spool, channel).get("webhook.forbidden", 0)


def stored_nothing(spool: Spool) -> bool:
    reader = sqlite3.connect(spool.path)
    tables = ("ledger", "outbox", "quarantine", "raw_archive")
    return all(reader.execute(f"SELECT count(*) FROM {t}").fetchone()[0] == 0 for t in tables)


# -- Kannel ------------------------------------------------------------------------------


def kannel_connector(**extra):
    return make_connector(backend="kannel", kannel={"token": SECRET_REF}, **extra)


def test_kannel_get_url_message_is_committed(spool: Spool, serve) -> None:
    url = serve(kannel_connector())
    query = urlencode({"token": SECRET, "from": "081200001111", "to": "08111272206",
                       "text": "Jalan rusak di depan pasar", "time": str(int(time.time()) - 60),
                       "id": "6b1f7c3e-0000-4000-8000-000000000001", "coding": "0", "charset": "UTF-8",
                       "udh": "", "smsc": "telkomsel"})
    response = requests.get(f"{url}/kannel?{query}", timeout=10)

    assert response.status_code == 200
    assert response.text == "", "an empty body: Kannel sends no reply SMS"
    [complaint] = complaints(spool)
    assert complaint["description"] == "Jalan rusak di depan pasar"
    assert complaint["reporter"]["phone"] == "+6281200001111"
    assert complaint["provider_message_id"] == "kannel:6b1f7c3e-0000-4000-8000-000000000001"
    raw, _meta = spool.raw(complaint["raw_ref"])
    assert SECRET.encode() not in raw, "the shared secret is never archived"


def test_a_kannel_post_far_larger_than_an_sms_gets_413_and_stores_nothing(spool: Spool, serve) -> None:
    url = serve(kannel_connector())
    query = urlencode({"token": SECRET, "from": "081200001111", "to": "08111272206", "time": str(int(time.time()))})
    response = requests.post(f"{url}/kannel?{query}", data=b"x" * 200_000, timeout=10,
                             headers={"Content-Type": "text/plain; charset=utf-8"})

    assert response.status_code == 413, "an SMS gateway route takes far less than the server's 5 MiB"
    assert stored_nothing(spool)


def test_a_chunked_kannel_post_over_the_route_limit_gets_413_and_stores_nothing(spool: Spool, serve) -> None:
    # The server's own limit is far larger (as when the desk app is mounted): the
    # route's limit must hold for a body that declares no length.
    url = serve(kannel_connector(), max_body_bytes=32 * 1024 * 1024)
    query = urlencode({"token": SECRET, "from": "081200001111", "to": "08111272206", "time": str(int(time.time()))})
    chunks = (b"x" * 20_000 for _ in range(10))  # a generator: requests sends it chunked
    response = requests.post(f"{url}/kannel?{query}", data=chunks, timeout=10,
                             headers={"Content-Type": "text/plain; charset=utf-8"})

    assert response.status_code == 413
    assert stored_nothing(spool)


def test_a_chunked_kannel_post_within_the_limit_is_read_whole(spool: Spool, serve) -> None:
    url = serve(kannel_connector(), max_body_bytes=32 * 1024 * 1024)
    chunks = (part.encode() for part in ("Got mampet ", "di Jl. Kenari"))
    response = requests.post(f"{url}/kannel?token={SECRET}", data=chunks, timeout=10, headers={
        "Content-Type": "text/plain; charset=utf-8", "X-Kannel-From": "6281200003333", "X-Kannel-To": "08111272206"})

    assert response.status_code == 200, response.text
    [complaint] = complaints(spool)
    assert complaint["description"] == "Got mampet di Jl. Kenari"


def test_kannel_get_url_ucs2_text_is_decoded(spool: Spool, serve) -> None:
    url = serve(kannel_connector())
    text = "Banjir lagi 😭 di RW 03, tolong!"
    query = (f"token={quote(SECRET)}&from=%2B6281200002222&to=1708&text={quote_from_bytes(text.encode('utf-16-be'))}"
             f"&time={int(time.time())}&coding=2&charset=UTF-16BE")
    assert requests.get(f"{url}/kannel?{query}", timeout=10).status_code == 200
    [complaint] = complaints(spool)
    assert complaint["description"] == text


def test_kannel_post_url_ucs2_body_with_headers_is_committed(spool: Spool, serve) -> None:
    url = serve(kannel_connector())
    sent = datetime.now(WIB).replace(microsecond=0) - timedelta(minutes=2)
    headers = {
        "Content-Type": "text/plain; charset=UTF-16BE",
        "X-Kannel-From": "6281200003333",
        "X-Kannel-To": "08111272206",
        "X-Kannel-Time": sent.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),  # smsbox: gw_gmtime
        "X-Kannel-SMSC": "modem-0811",
        "X-Kannel-Coding": "3",
    }
    text = "Sampah belum diangkut seminggu 🗑️ di Kelurahan Cempaka Putih"
    response = requests.post(f"{url}/kannel?token={SECRET}", data=text.encode("utf-16-be"), headers=headers, timeout=10)

    assert response.status_code == 200
    [complaint] = complaints(spool)
    assert complaint["description"] == text
    assert complaint["requested_datetime"] == sent.isoformat()
    assert complaint["provider_message_id"].startswith("kannel:sha256:")


def test_kannel_times_are_utc_as_smsbox_writes_them(spool: Spool, serve) -> None:
    """smsbox formats X-Kannel-Time and %t with gw_gmtime (UTC); %T is a Unix time. A
    message 47 hours old is inside the 48-hour window only when its time is read as UTC."""
    url = serve(kannel_connector())
    sent = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=47)
    post = requests.post(f"{url}/kannel?token={SECRET}", data=b"Got mampet di Jl. Sawo", timeout=10, headers={
        "X-Kannel-From": "6281200001212", "X-Kannel-To": "08111272206",
        "X-Kannel-Time": sent.strftime("%Y-%m-%d %H:%M:%S")})
    get_t = urlencode({"token": SECRET, "from": "6281200003434", "to": "08111272206", "text": "Pohon tumbang",
                       "time": sent.strftime("%Y-%m-%d %H:%M:%S")})  # time=%t
    get_epoch = urlencode({"token": SECRET, "from": "6281200005656", "to": "08111272206", "text": "Lampu mati",
                           "time": str(int(sent.timestamp()))})  # time=%T

    assert post.status_code == 200
    assert requests.get(f"{url}/kannel?{get_t}", timeout=10).status_code == 200
    assert requests.get(f"{url}/kannel?{get_epoch}", timeout=10).status_code == 200
    assert [c["requested_datetime"] for c in complaints(spool)] == [sent.astimezone(WIB).isoformat()] * 3


def test_kannel_sending_local_time_is_read_with_its_offset(spool: Spool, serve) -> None:
    url = serve(make_connector(backend="kannel", kannel={"token": SECRET_REF, "time_utc_offset_hours": 7}))
    sent = datetime.now(WIB).replace(microsecond=0) - timedelta(minutes=5)
    response = requests.post(f"{url}/kannel?token={SECRET}", data=b"Parkir liar", timeout=10, headers={
        "X-Kannel-From": "6281200007878", "X-Kannel-To": "08111272206",
        "X-Kannel-Time": sent.strftime("%Y-%m-%d %H:%M:%S")})

    assert response.status_code == 200
    assert [c["requested_datetime"] for c in complaints(spool)] == [sent.isoformat()]


def test_kannel_forged_unsigned_and_stale_requests_get_403_and_store_nothing(spool: Spool, serve) -> None:
    url = serve(kannel_connector())
    base = {"from": "081200004444", "to": "08111272206", "text": "Tes", "id": "x1"}
    fresh, stale = str(int(time.time())), str(int(time.time()) - 3 * 86400)
    attempts = [
        {**base, "time": fresh, "token": "wrong-token"},
        {**base, "time": fresh},
        {**base, "time": stale, "token": SECRET},
    ]
    for params in attempts:
        assert requests.get(f"{url}/kannel?{urlencode(params)}", timeout=10).status_code == 403
    assert stored_nothing(spool)
    assert forbidden_count(spool, "sms-08111272206") == 3


def test_kannel_replay_within_the_window_is_a_duplicate(spool: Spool, serve) -> None:
    url = serve(kannel_connector())
    query = urlencode({"token": SECRET, "from": "081200005555", "to": "08111272206", "text": "Halo",
                       "time": str(int(time.time()))})
    assert requests.get(f"{url}/kannel?{query}", timeout=10).status_code == 200
    assert requests.get(f"{url}/kannel?{query}", timeout=10).status_code == 200
    assert len(complaints(spool)) == 1
    [channel] = {r.channel for r in spool.pending(10)}
    status = spool.channel_status(channel)
    assert (status["accepted"], status["duplicates"]) == (1, 1)


def test_kannel_acknowledgement_is_the_reply_body_once_per_window(spool: Spool, serve) -> None:
    url = serve(kannel_connector(ack={"enabled": True}))
    replies = []
    for n in range(2):
        query = urlencode({"token": SECRET, "from": "081200006666", "to": "08111272206",
                           "text": f"Aduan {n}", "time": str(int(time.time()))})
        replies.append(requests.get(f"{url}/kannel?{query}", timeout=10).text)
    ref = "KNL-" + complaints(spool)[0]["id"].replace("-", "")[:8].upper()
    assert replies[0] == f"Terima kasih, aduan Anda sudah kami terima dengan nomor {ref}. Pemprov DKI Jakarta."
    assert replies[1] == ""


# -- Twilio --------------------------------------------------------------------------------


def twilio_form(sid: str, sender: str = "+6281200007777", body: str = "Ada kabel listrik putus", **extra) -> dict:
    form = {
        "ToCountry": "ID", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "",
        "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received", "FromCity": "",
        "Body": body, "FromCountry": "ID", "To": "1708", "ToZip": "", "NumSegments": "1",
        "MessageSid": sid, "AccountSid": "AC00000000000000000000000000000000", "From": sender,
        "ApiVersion": "2010-04-01",
    }
    form.update(extra)
    return form


def post_twilio(url: str, form: dict, token: str = SECRET, signed_url: str | None = None) -> requests.Response:
    signature = twilio_signature(token, signed_url or url, {k: [v] for k, v in form.items()})
    return requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)


def test_twilio_signed_post_is_committed_and_answered_with_twiml(spool: Spool, serve) -> None:
    connector = make_connector("sms-1708", account="1708", backend="twilio", twilio={"auth_token": SECRET_REF})
    url = serve(connector) + "/twilio"
    response = post_twilio(url, twilio_form("SM0000000000000000000000000000000a"))

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    [complaint] = complaints(spool)
    assert complaint["channel"] == {"type": "sms", "name": "sms-1708", "account": "1708"}
    assert complaint["provider_message_id"] == "twilio:SM0000000000000000000000000000000a"
    assert complaint["reporter"]["phone"] == "+6281200007777"


def test_twilio_forged_unsigned_and_tampered_posts_are_refused(spool: Spool, serve) -> None:
    url = serve(make_connector(backend="twilio", twilio={"auth_token": SECRET_REF})) + "/twilio"
    form = twilio_form("SM0000000000000000000000000000000b")
    assert post_twilio(url, form, token="not-the-token").status_code == 403
    assert requests.post(url, data=form, timeout=10).status_code == 403
    signature = twilio_signature(SECRET, url, {k: [v] for k, v in form.items()})
    tampered = {**form, "Body": "Isi yang diubah"}
    assert requests.post(url, data=tampered, headers={"X-Twilio-Signature": signature}, timeout=10).status_code == 403
    assert stored_nothing(spool)
    assert forbidden_count(spool, "sms-08111272206") == 3


def test_twilio_replayed_post_stores_nothing_new(spool: Spool, serve) -> None:
    url = serve(make_connector(backend="twilio", twilio={"auth_token": SECRET_REF})) + "/twilio"
    form = twilio_form("SM0000000000000000000000000000000c")
    assert post_twilio(url, form).status_code == 200
    assert post_twilio(url, form).status_code == 200
    assert len(complaints(spool)) == 1


def test_twilio_behind_a_proxy_verifies_against_the_public_url(spool: Spool, serve) -> None:
    public = "https://kanal.example.org/sms/1708"
    connector = make_connector(backend="twilio", twilio={"auth_token": SECRET_REF, "public_url": public})
    url = serve(connector) + "/twilio"
    assert post_twilio(url, twilio_form("SM0000000000000000000000000000000d"), signed_url=public).status_code == 200
    assert post_twilio(url, twilio_form("SM0000000000000000000000000000000e")).status_code == 403
    assert len(complaints(spool)) == 1


def test_twilio_status_callback_is_a_dropped_delivery_report(spool: Spool, serve) -> None:
    url = serve(make_connector(backend="twilio", twilio={"auth_token": SECRET_REF})) + "/twilio"
    form = twilio_form("SM0000000000000000000000000000000f", SmsStatus="delivered", MessageStatus="delivered")
    assert post_twilio(url, form).status_code == 200
    assert complaints(spool) == []
    assert counters(spool, "sms-08111272206")["dropped.delivery_report"] == 1


# -- aggregator ------------------------------------------------------------------------------


def aggregator_form(msg_id: str, when: datetime, sender: str = "6281200008888") -> dict:
    return {"id": msg_id, "gateway_number": "628111272206", "originator": sender,
            "msg": "Mohon razia PKL di trotoar", "receive_date": when.strftime("%Y-%m-%d %H:%M:%S")}


def test_aggregator_post_is_committed_and_stale_or_forged_ones_refused(spool: Spool, serve) -> None:
    url = serve(make_connector(backend="aggregator", aggregator={"token": SECRET_REF})) + "/aggregator"
    now = datetime.now(WIB).replace(microsecond=0)
    ok = requests.post(f"{url}?token={SECRET}", data=aggregator_form("778899", now - timedelta(minutes=1)), timeout=10)
    assert ok.status_code == 200
    header = requests.post(url, data=aggregator_form("778900", now), headers={"X-Kanal-Token": SECRET}, timeout=10)
    assert header.status_code == 200
    stale = requests.post(f"{url}?token={SECRET}", data=aggregator_form("778901", now - timedelta(days=3)), timeout=10)
    forged = requests.post(f"{url}?token=guess", data=aggregator_form("778902", now), timeout=10)
    unsigned = requests.post(url, data=aggregator_form("778903", now), timeout=10)
    assert (stale.status_code, forged.status_code, unsigned.status_code) == (403, 403, 403)

    taken = complaints(spool)
    assert [c["provider_message_id"] for c in taken] == ["aggregator:778899", "aggregator:778900"]
    assert taken[0]["requested_datetime"] == (now - timedelta(minutes=1)).isoformat()
    assert forbidden_count(spool, "sms-08111272206") == 3


# -- JSON -------------------------------------------------------------------------------------


def post_json(url: str, document: object, stamp: float | None = None, secret: str = SECRET) -> requests.Response:
    body = json.dumps(document).encode()
    ts = str(int(stamp if stamp is not None else time.time()))
    headers = {"Content-Type": "application/json", "X-Kanal-Timestamp": ts,
               "X-Kanal-Signature": json_signature(secret, ts, body)}
    return requests.post(url, data=body, headers=headers, timeout=10)


def test_json_batch_is_committed_with_per_message_results(spool: Spool, serve) -> None:
    url = serve(make_connector(backend="json", json={"secret": SECRET_REF})) + "/json"
    document = {"messages": [
        {"id": "gw-1", "from": "0812 0000 9999", "text": "Drainase tersumbat",
         "received_at": "2026-11-27T08:00:00+07:00"},
        {"id": "gw-2", "from": "081200009999", "text": ""},
        {"id": "gw-3", "from": "081200009998", "type": "delivery_report"},
    ]}
    response = post_json(url, document)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "quarantined", "dropped"]
    assert results[0]["reference"].startswith("KNL-")
    [complaint] = complaints(spool)
    assert complaint["requested_datetime"] == "2026-11-27T08:00:00+07:00"
    assert len(spool.quarantined()) == 1


def test_json_forged_unsigned_and_replayed_requests_are_refused(spool: Spool, serve) -> None:
    url = serve(make_connector(backend="json", json={"secret": SECRET_REF})) + "/json"
    message = {"id": "gw-9", "from": "081200001010", "text": "Tes"}
    assert post_json(url, message, secret="wrong").status_code == 403
    assert requests.post(url, json=message, timeout=10).status_code == 403
    assert post_json(url, message, stamp=time.time() - 3600).status_code == 403, "a replay after the window"
    assert stored_nothing(spool)
    assert post_json(url, message).status_code == 200
    assert post_json(url, message).status_code == 200
    assert len(complaints(spool)) == 1, "a replay inside the window is a duplicate"


# -- shared guarantees ---------------------------------------------------------------------------


def test_numbers_in_every_indonesian_form_give_the_same_reporter(spool: Spool, serve) -> None:
    url = serve(make_connector(backend="json", json={"secret": SECRET_REF})) + "/json"
    forms = ["0812-0000-1234", "6281200001234", "+62 812 0000 1234"]
    document = {"messages": [{"id": f"n{i}", "from": f, "text": f"Aduan {i}"} for i, f in enumerate(forms)]}
    assert post_json(url, document).status_code == 200
    taken = complaints(spool)
    assert {c["reporter"]["phone"] for c in taken} == {"+6281200001234"}
    assert {c["conversation_key"] for c in taken} == {"+6281200001234"}


def test_a_2xx_means_the_message_is_already_durable(spool: Spool, serve) -> None:
    url = serve(make_connector(backend="json", json={"secret": SECRET_REF})) + "/json"
    assert post_json(url, {"id": "d-1", "from": "081200001313", "text": "Halte rusak"}).status_code == 200
    other = sqlite3.connect(spool.path)  # a separate reader sees it: it is committed, not in flight
    assert other.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1
    other.close()


def test_when_the_spool_cannot_commit_the_gateway_gets_503_and_no_ack(spool: Spool, serve) -> None:
    url = serve(make_connector(backend="kannel", kannel={"token": SECRET_REF}, ack={"enabled": True}))
    saboteur = sqlite3.connect(spool.path, isolation_level=None)
    saboteur.execute("ALTER TABLE ledger RENAME TO ledger_away")
    query = urlencode({"token": SECRET, "from": "081200001414", "to": "08111272206", "text": "Aduan",
                       "time": str(int(time.time()))})
    failed = requests.get(f"{url}/kannel?{query}", timeout=10)
    assert failed.status_code == 503
    assert "Terima kasih" not in failed.text
    saboteur.execute("ALTER TABLE ledger_away RENAME TO ledger")
    saboteur.close()
    retried = requests.get(f"{url}/kannel?{query}", timeout=10)
    assert retried.status_code == 200
    assert "Terima kasih" in retried.text, "the acknowledgement is sent for the retry that was stored"
    assert len(complaints(spool)) == 1


def test_twilio_mms_media_are_listed_by_reference(spool: Spool, serve) -> None:
    url = serve(make_connector(backend="twilio", twilio={"auth_token": SECRET_REF})) + "/twilio"
    form = twilio_form("MM00000000000000000000000000000001", body="Foto jalan rusak", NumMedia="1",
                       MediaUrl0="https://media.example.com/photo-1", MediaContentType0="image/jpeg")
    assert post_twilio(url, form).status_code == 200
    [complaint] = complaints(spool)
    assert complaint["attachments"] == [{
        "filename": None, "content_type": "image/jpeg", "size": None, "sha256": None, "stored_ref": None,
        "url": "https://media.example.com/photo-1", "omitted_reason": "kept_by_reference"}]


def test_twilio_get_webhooks_are_verified_over_the_url(spool: Spool, serve) -> None:
    url = serve(make_connector(backend="twilio", twilio={"auth_token": SECRET_REF})) + "/twilio"
    full = f"{url}?{urlencode(twilio_form('SM00000000000000000000000000000010', body='Lewat GET'))}"
    good = requests.get(full, headers={"X-Twilio-Signature": twilio_signature(SECRET, full, {})}, timeout=10)
    signed = {"X-Twilio-Signature": twilio_signature(SECRET, full, {})}
    bad = requests.get(full.replace("Lewat", "Palsu"), headers=signed, timeout=10)
    assert (good.status_code, bad.status_code) == (200, 403)
    [complaint] = complaints(spool)
    assert complaint["description"] == "Lewat GET"


def test_json_reply_carries_one_acknowledgement_per_sender(spool: Spool, serve) -> None:
    url = serve(make_connector(backend="json", json={"secret": SECRET_REF}, ack={"enabled": True})) + "/json"
    document = {"messages": [{"id": f"a{i}", "from": "081200001616", "text": f"Aduan {i}"} for i in range(3)]}
    replies = [r["reply"] for r in post_json(url, document).json()["results"]]
    assert replies[0].startswith("Terima kasih") and replies[1:] == [None, None]
