"""Generated hostile input straight into every normaliser: e-mail MIME from bytes, Gammu
inbox files, Graph API items and webhook events, X API v2 mentions.

The property: ``normalise`` is pure and total over garbage. It returns a complaint (that
encodes), an accept or a counted drop, or raises one of the errors the runner turns into
a quarantine entry with a reason (``NormaliseError``, ``InvalidField``, pydantic's
``ValidationError``); nothing else. The same raw message gives the same result twice.

Examples per test: ``KANAL_FUZZ_EXAMPLES`` (see tests/conftest.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from connectors.base import Accept, Connector, Drop, RawMessage
from connectors.email.config import EmailOptions
from connectors.email.connector import EmailConnector
from connectors.errors import NormaliseError
from connectors.facebook.payloads import envelope
from connectors.push import UnreadableBody, load_json
from normalizer.complaint import Complaint
from normalizer.fields import InvalidField
from normalizer.timeutil import utc_now
from normalizer.wire import encode_complaint
from tests.fuzz.kit import PAGE_ID, REF, SECRET_ENV, context, push_connectors
from tests.fuzz.strategies import field_bytes, json_bodies, sized_text, text
from tests.fuzz.test_push_endpoints import FEED, MESSAGING
from tests.sms.kit import make_connector as make_sms

FUZZ = settings.get_profile("kanal-fuzz")
RECEIVED = utc_now()


@pytest.fixture(scope="module", name="connectors")
def _connectors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Connector]]:
    tmp: Path = tmp_path_factory.mktemp("normalisers")
    with pytest.MonkeyPatch.context() as patch:
        for key, value in SECRET_ENV.items():
            patch.setenv(key, value)
        found = {c.name: c for c in push_connectors()}
        found["email"] = EmailConnector(context("email", "email"), EmailOptions.model_validate(
            {"address": "dki@jakarta.example", "host": "127.0.0.1", "password": REF}))
        found["gammu"] = make_sms("sms-gammu", open_now=False, backend="gammu_files", gammu_files={
            "inbox_path": str(tmp / "inbox"), "done_path": str(tmp / "done")})
        yield found


def check(connector: Connector, raw: RawMessage) -> str:
    """Normalise ``raw`` twice; the property above. Returns the outcome's kind."""
    outcomes = []
    for _ in range(2):
        try:
            result = connector.normalise(raw)
        except (NormaliseError, InvalidField, ValidationError) as exc:
            outcomes.append(("quarantined", type(exc).__name__, str(exc)))
            continue
        if isinstance(result, Drop):
            outcomes.append(("dropped", result.reason))
            continue
        complaint = result.complaint if isinstance(result, Accept) else result
        assert isinstance(complaint, Complaint), type(result)
        try:
            body = encode_complaint(complaint)
        except Exception as exc:  # noqa: BLE001 - the runner quarantines this one; say so
            outcomes.append(("quarantined at encoding", type(exc).__name__))
            continue
        outcomes.append(("accepted", str(complaint.id), body))
    assert outcomes[0] == outcomes[1], "normalise is not deterministic"
    return outcomes[0][0]


# -- e-mail --------------------------------------------------------------------------

HEADER_NAMES = ["From", "To", "Subject", "Message-ID", "Date", "In-Reply-To", "References", "Reply-To",
                "Auto-Submitted", "Content-Type", "Content-Transfer-Encoding", "MIME-Version"]


@st.composite
def mails(draw: st.DrawFn) -> bytes:
    """A mail: headers kept or garbled, a multipart body with parts in any charset and
    transfer encoding, cut anywhere; or arbitrary bytes."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=500))
    headers = {"From": b"Budi <budi@example.org>", "To": b"dki@jakarta.example", "Subject": b"Jalan rusak",
               "Message-ID": b"<a1@example.org>", "Date": b"Fri, 27 Nov 2026 09:15:00 +0700",
               "MIME-Version": b"1.0", "Content-Type": b'multipart/mixed; boundary="b1"'}
    for name in HEADER_NAMES:
        choice = draw(st.sampled_from(["keep", "keep", "change", "drop"]))
        if choice == "change":
            headers[name] = draw(st.one_of(field_bytes, st.sampled_from(
                [b"=?utf-8?b?////?=", b"=?x-unknown?q?a?=", b"<>", b"multipart/alternative", b"text/html",
                 b"multipart/mixed; boundary=", b"\xff\xfe", b"base64", b"quoted-printable"])))
        elif choice == "drop":
            headers.pop(name, None)
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        charset = draw(st.sampled_from([b"utf-8", b"iso-8859-1", b"windows-1252", b"utf-16", b"x-nope", b""]))
        cte = draw(st.sampled_from([b"8bit", b"base64", b"quoted-printable", b"7bit", b"x-uuencode", b"binary"]))
        kind = draw(st.sampled_from([b"text/plain", b"text/html", b"image/jpeg", b"application/pdf",
                                     b"message/rfc822"]))
        body = draw(st.one_of(st.binary(max_size=200), sized_text.map(lambda t: t.encode("utf-8", "surrogatepass"))))
        parts.append(b"--b1\r\nContent-Type: " + kind + b"; charset=" + charset + b"; name=\"f.bin\"\r\n"
                     b"Content-Transfer-Encoding: " + cte + b"\r\n\r\n" + body + b"\r\n")
    closing = draw(st.sampled_from([b"--b1--\r\n", b""]))
    head = b"".join(name.encode() + b": " + value.replace(b"\n", b" ") + b"\r\n" for name, value in headers.items())
    return head + b"\r\n" + b"".join(parts) + closing


@FUZZ
@given(mail=mails())
def test_email_mime(connectors: dict[str, Connector], mail: bytes) -> None:
    check(connectors["email"], RawMessage("INBOX:1", mail, RECEIVED, {"folder": "INBOX", "uid": 1}))


# -- Gammu files -------------------------------------------------------------------


@FUZZ
@given(sender=st.one_of(st.just("081200001111"), st.just("+6281200001111"), text),
       stamp=st.one_of(st.just("20261127_091500"), text),
       ext=st.sampled_from(["txt", "bin", "sms", "TXT", ""]),
       data=st.one_of(st.binary(max_size=300), text.map(lambda t: b"\xfe\xff" + t.encode("utf-16-be", "surrogatepass")),
                      text.map(lambda t: t.encode("utf-8", "surrogatepass"))),
       parts=st.integers(1, 3), complete=st.booleans())
def test_gammu_files(connectors: dict[str, Connector], sender: str, stamp: str, ext: str, data: bytes, parts: int,
                     complete: bool) -> None:
    names = [f"IN{stamp}_00_{sender}_{n:02d}.{ext}" for n in range(parts)]
    if parts == 1:
        payload = data
    else:
        payload = json.dumps({"parts": [{"file": n, "data": base64.b64encode(data[i::parts]).decode()}
                                        for i, n in enumerate(names)]}).encode()
    raw = RawMessage(names[0], payload, RECEIVED, {"backend": "gammu_files", "files": names, "complete": complete})
    check(connectors["gammu"], raw)


# -- Graph API items and webhook events ------------------------------------------------

POST = {"id": f"{PAGE_ID}_1", "message": "Jalan rusak", "created_time": "2026-11-27T02:15:00+0000",
        "from": {"id": "7001", "name": "Warga"}, "permalink_url": "https://www.facebook.com/x/posts/1",
        "attachments": {"data": [{"type": "photo", "url": "https://www.facebook.com/photo/1",
                                  "media": {"image": {"src": "https://scontent.example/1.jpg"}},
                                  "subattachments": {"data": [{"media": {"image": {"src": "https://s.example/2"}}}]}}]},
        "place": {"name": "Monas", "location": {"latitude": -6.17, "longitude": 106.82}}}
COMMENT = {"id": "1_2", "message": "Belum diperbaiki", "created_time": "2026-11-27T02:15:00+0000",
           "from": {"id": "7002", "name": "Warga"}, "parent": {"id": "1_1"},
           "attachment": {"type": "photo", "media": {"image": {"src": "https://scontent.example/3.jpg"}}}}
MESSAGE = {"id": "m_1", "message": "Lampu mati", "created_time": "2026-11-27T02:15:00+0000",
           "from": {"id": "7003", "name": "Warga", "email": "7003@facebook.com"},
           "attachments": {"data": [{"mime_type": "image/jpeg", "name": "x.jpg",
                                     "image_data": {"url": "https://cdn.example/x.jpg"}}]}}
GRAPH = {"post": (POST, {}), "comment": (COMMENT, {"post_id": f"{PAGE_ID}_1"}),
         "message": (MESSAGE, {"conversation_id": "t_1"}),
         "messaging": (MESSAGING, {"object": "page", "entry_id": PAGE_ID, "entry_time": 1764200000}),
         "change": (FEED, {"object": "page", "entry_id": PAGE_ID, "entry_time": 1764200000})}


@FUZZ
@given(kind=st.sampled_from(sorted(GRAPH)), data=st.data())
def test_graph_items_and_events(connectors: dict[str, Connector], kind: str, data: st.DataObject) -> None:
    template, context_ = GRAPH[kind]
    body = data.draw(json_bodies(template))
    try:  # the webhook reads bodies with the depth limit; Graph responses are never deeper
        item = load_json(body)
    except UnreadableBody:
        item = body.decode("utf-8", "replace")
    source = "webhook" if kind in ("messaging", "change") else "poll"
    payload = envelope(source, kind, PAGE_ID, item, **context_)
    check(connectors["facebook"], RawMessage(f"{source}:{kind}", payload, RECEIVED, {"source": source}))



@pytest.mark.parametrize(("kind", "field", "value"), [
    ("messaging", "attachments", True),  # found by a 1,000-example run: 'bool' object is not iterable
    ("message", "attachments", {"data": 1}),  # found by the same run: 'int' object is not iterable
    ("post", "attachments", {"data": "x"}),
])
def test_graph_attachments_of_the_wrong_type_are_ignored(connectors: dict[str, Connector], kind: str, field: str,
                                                         value: object) -> None:
    template, context_ = GRAPH[kind]
    item = json.loads(json.dumps(template))
    (item["message"] if kind == "messaging" else item)[field] = value
    source = "webhook" if kind in ("messaging", "change") else "poll"
    payload = envelope(source, kind, PAGE_ID, item, **context_)
    assert check(connectors["facebook"], RawMessage(f"{source}:{kind}", payload, RECEIVED, {"source": source})) \
        == "accepted"

# -- X API v2 mentions --------------------------------------------------------------------

V2_MENTION = {
    "data": {"id": "1862000000000000001", "text": "@dkijakarta Jalan rusak https://t.co/a https://t.co/m",
             "author_id": "5001", "conversation_id": "1862000000000000001", "lang": "in",
             "created_at": "2026-11-27T02:15:00.000Z",
             "entities": {"urls": [{"url": "https://t.co/a", "expanded_url": "https://example.org/x",
                                    "unwound_url": "https://example.org/y"},
                                   {"url": "https://t.co/m", "expanded_url": "https://x.com/w/status/1/photo/1",
                                    "media_key": "3_1"}]},
             "attachments": {"media_keys": ["3_1"]},
             "referenced_tweets": [{"type": "quoted", "id": "1862000000000000000"}],
             "geo": {"place_id": "p1", "coordinates": {"type": "Point", "coordinates": [106.8, -6.2]}}},
    "includes": {"users": [{"id": "5001", "username": "warga", "name": "Budi"}],
                 "media": [{"media_key": "3_1", "type": "photo", "url": "https://pbs.twimg.com/media/x.jpg"}],
                 "places": [{"id": "p1", "full_name": "Jakarta", "geo": {"bbox": [106.7, -6.3, 106.9, -6.1]}}],
                 "tweets": [{"id": "1862000000000000000", "text": "Kutipan", "author_id": "5001"}]},
}


@FUZZ
@given(data=st.data())
def test_x_mentions(connectors: dict[str, Connector], data: st.DataObject) -> None:
    payload = data.draw(json_bodies(V2_MENTION))
    raw = RawMessage("1862000000000000001", payload, RECEIVED, {"account": "dkijakarta", "own_ids": ["1000"]})
    check(connectors["twitter"], raw)


def test_an_id_with_a_lone_surrogate_is_quarantined_with_its_reason(connectors: dict[str, Connector]) -> None:
    """JSON may write "\\ud83d" alone; no complaint id can be made of it (found by a
    1,000-example run: the parent id of a comment, the id of a mention)."""
    comment, context_ = GRAPH["comment"]
    item = {**comment, "parent": {"id": "\ud83d" * 3}}
    payload = envelope("poll", "comment", PAGE_ID, item, **context_)
    assert check(connectors["facebook"], RawMessage("poll:comment", payload, RECEIVED, {"source": "poll"})) \
        == "quarantined"
    mention = json.loads(json.dumps(V2_MENTION))
    mention["data"]["id"] = "\ud83d" * 3
    raw = RawMessage("1862000000000000001", json.dumps(mention).encode(), RECEIVED,
                     {"account": "dkijakarta", "own_ids": ["1000"]})
    assert check(connectors["twitter"], raw) == "quarantined"
