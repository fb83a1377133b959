"""Poison in a signed Meta delivery, over real HTTP: never a 5xx (Meta would retry it
for hours), one bad event quarantined on its own with its bytes, the good events of
the same delivery stored."""

from __future__ import annotations

import json
import time

from tests.facebook.conftest import by_message_id, counters
from tests.facebook.test_webhook import PAGE


def event(mid, text, psid: str = "7770001", **message_extra) -> dict:
    """One Messenger event; ``mid`` and ``text`` may be any JSON value."""
    return {"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": int(time.time() * 1000),
            "message": {"mid": mid, "text": text, **message_extra}}


def delivery(*events: dict) -> dict:
    return {"object": "page", "entry": [{"id": PAGE, "time": int(time.time() * 1000), "messaging": list(events)}]}


def test_json_nested_100000_deep_is_not_answered_5xx(hook, spool, runner):
    deep = b'{"object":"page","entry":' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    answer = hook.post(deep)

    assert answer.status_code < 500
    assert spool.depth() == 0
    if answer.status_code < 300:  # kept: it must be in the quarantine with its bytes
        [entry] = spool.quarantined(runner.name)
        assert "deep" in entry.error
    assert hook.post(delivery(event("m_AFTER", "Lampu jalan mati"))).status_code == 200


def test_one_bad_event_is_quarantined_alone_and_the_others_are_stored(hook, spool, runner):
    body = delivery(
        event("m_GOOD1", "Got mampet di Jl. Kramat"),
        event("m_SURROGATE", "banjir \ud83d"),
        event("m_GOOD2", "Pohon tumbang di Jl. Salemba"),
    )
    raw = json.dumps(body).encode()  # \ud83d travels as a JSON escape, as Meta would send it

    answer = hook.post(raw)

    assert answer.status_code == 200
    assert sorted(by_message_id(spool)) == ["m_GOOD1", "m_GOOD2"]
    [entry] = spool.quarantined(runner.name)
    assert "surrogate" in entry.error
    assert b"m_SURROGATE" in entry.payload and b"\\ud83d" in entry.payload


def test_fields_of_the_wrong_type_are_quarantined_not_dropped_or_stored(hook, spool, runner):
    as_string = event("m_STRMSG", "x")
    as_string["message"] = "Jalan rusak"
    body = delivery(
        event("m_NUMBER", 12345),
        event("m_LIST", ["Jalan", "rusak"]),
        as_string,
        event({"oops": 1}, "Jalan rusak di Jl. Pemuda"),
        event("m_OK", "Trotoar rusak di Jl. Pemuda"),
    )

    assert hook.post(body).status_code == 200

    assert list(by_message_id(spool)) == ["m_OK"]
    reasons = [e.error for e in spool.quarantined(runner.name)]
    assert len(reasons) == 4, reasons
    assert sum("text must be a string" in r for r in reasons) == 2
    assert any("message must be an object" in r for r in reasons)
    assert any("mid" in r and "must be a string" in r for r in reasons)
    assert not any(k.startswith("dropped.") for k in counters(spool, runner.name))


def test_attachment_urls_must_be_https(hook, spool, runner):
    def with_url(mid: str, url: str) -> dict:
        return event(mid, "Foto jalan rusak", attachments=[{"type": "image", "payload": {"url": url}}])

    body = delivery(
        with_url("m_JS", "javascript:alert(1)"),
        with_url("m_FILE", "file:///etc/passwd"),
        with_url("m_DATA", "data:text/html;base64,PHNjcmlwdD4="),
        with_url("m_HTTPS", "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"),
    )

    assert hook.post(body).status_code == 200

    assert [a.url for a in by_message_id(spool)["m_HTTPS"].attachments] == [
        "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"]
    reasons = [e.error for e in spool.quarantined(runner.name)]
    assert len(reasons) == 3 and all("https" in r for r in reasons), reasons


def test_oversized_ids_are_quarantined(hook, spool, runner):
    body = delivery(event("m_" + "A" * 100_000, "Jalan rusak"), event("m_OK2", "Jalan rusak", psid="9" * 100_000))

    assert hook.post(body).status_code == 200

    assert spool.depth() == 0
    reasons = [e.error for e in spool.quarantined(runner.name)]
    assert len(reasons) == 2 and all("characters" in r for r in reasons), reasons


def test_a_feed_change_whose_item_or_verb_is_not_text_is_quarantined_with_a_reason(hook, spool, runner):
    """Found by tests/fuzz: ``item: []`` raised ``TypeError: unhashable type`` in the normaliser."""
    base = {"verb": "add", "item": "comment", "comment_id": "1_2", "post_id": "1", "message": "Pohon tumbang",
            "from": {"id": "7002", "name": "Warga"}, "created_time": 1764200000}
    changes = [{"field": "feed", "value": {**base, "item": []}},
               {"field": "feed", "value": {**base, "comment_id": "1_3", "verb": {"a": 1}}},
               {"field": "feed", "value": {**base, "comment_id": "1_4"}}]
    body = {"object": "page", "entry": [{"id": PAGE, "time": 1764200000, "changes": changes}]}
    assert hook.post(body).status_code == 200
    assert list(by_message_id(spool)) == ["1_4"]
    reasons = sorted(e.error for e in spool.quarantined(runner.name))
    assert reasons == ["value.item must be a string, not a list", "value.verb must be a string, not an object"]
