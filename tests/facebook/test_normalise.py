"""Pure normalisation of Facebook envelopes (no network)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.base import Drop, RawMessage
from connectors.errors import NormaliseError
from connectors.facebook.normalise import PageIdentity, normalise_item, parse_time
from connectors.facebook.payloads import envelope
from normalizer.complaint import ChannelRef, Complaint

PAGE = PageIdentity(ChannelRef(type="facebook", name="facebook-pemprov-dki", account="100000000000001"),
                    "100000000000001", "17841400000000001")
NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def raw(kind: str, data, **context) -> RawMessage:
    return RawMessage(f"test:{kind}", envelope(context.pop("source", "poll"), kind, PAGE.page_id, data, **context), NOW)


def test_graph_times_in_every_form_become_wib():
    expected = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    for value in ("2026-11-27T10:00:00+0000", 1795773600, 1795773600000, "1795773600"):
        parsed = parse_time(value)
        assert parsed == expected and parsed.utcoffset().total_seconds() == 7 * 3600
    with pytest.raises(NormaliseError):
        parse_time("kemarin sore")
    assert parse_time(None, NOW) == NOW


def test_post_with_photo_place_and_long_text():
    post = {"id": "100000000000001_5", "message": "Trotoar rusak " * 1000, "created_time": "2026-11-27T02:00:00+0000",
            "from": {"id": "5550001", "name": "Siti\u00a0Warga"},
            "place": {"name": "Monas", "location": {"latitude": -6.1754, "longitude": 106.8272}},
            "attachments": {"data": [{"type": "album", "subattachments": {"data": [
                {"type": "photo", "media": {"image": {"src": "https://scontent.example.com/a.jpg"}}},
                {"type": "photo", "media": {"image": {"src": "https://scontent.example.com/b.jpg"}}}]}}]}}
    result = normalise_item(raw("post", post), PAGE)

    assert isinstance(result, Complaint)
    assert result.description_truncated and len(result.description) == 10_000
    assert result.reporter.name == "Siti Warga"
    assert [a.url for a in result.attachments] == ["https://scontent.example.com/a.jpg",
                                                   "https://scontent.example.com/b.jpg"]
    assert all(a.omitted_reason == "reference_only" and a.content_type == "image/*" for a in result.attachments)
    assert (result.location.lat, result.location.long, result.location.method) == (-6.1754, 106.8272, "place")


def test_messenger_location_and_image_attachments():
    event = {"sender": {"id": "7770001"}, "recipient": {"id": PAGE.page_id}, "timestamp": 1795773600000,
             "message": {"mid": "m_1", "attachments": [
                 {"type": "image", "payload": {"url": "https://lookaside.example.com/img"}},
                 {"type": "location", "payload": {"coordinates": {"lat": -6.2, "long": 106.8}}}]}}
    result = normalise_item(raw("messaging", event, source="webhook", object="page", entry_id=PAGE.page_id), PAGE)

    assert isinstance(result, Complaint)
    assert result.description == ""
    assert result.attachments[0].url == "https://lookaside.example.com/img"
    assert (result.location.lat, result.location.method) == (-6.2, "gps")


def test_a_sticker_alone_is_dropped():
    event = {"sender": {"id": "7770001"}, "timestamp": 1795773600000,
             "message": {"mid": "m_9", "sticker_id": 369239263222822, "attachments": [
                 {"type": "image",
                  "payload": {"url": "https://lookaside.example.com/s", "sticker_id": 369239263222822}}]}}
    data = raw("messaging", event, source="webhook", object="page", entry_id=PAGE.page_id)
    assert normalise_item(data, PAGE) == Drop("sticker")


def test_reply_to_a_messenger_message_points_at_its_complaint():
    event = {"sender": {"id": "7770001"}, "timestamp": 1795773600000,
             "message": {"mid": "m_2", "text": "ini fotonya", "reply_to": {"mid": "m_1"}}}
    result = normalise_item(raw("messaging", event, source="webhook", object="page", entry_id=PAGE.page_id), PAGE)
    first = normalise_item(raw("messaging", dict(event, message={"mid": "m_1", "text": "lapor"}),
                               source="webhook", object="page", entry_id=PAGE.page_id), PAGE)
    assert result.in_reply_to == first.id


@pytest.mark.parametrize(("kind", "data", "reason"), [
    ("post", {"id": "1_2", "created_time": 1795773600, "from": {"id": PAGE.page_id}}, "own_post"),
    ("post", {"id": "1_3", "created_time": 1795773600, "from": {"id": "5"}}, "no_content"),
    ("comment", {"id": "2_3", "message": "ok", "created_time": 1795773600, "from": {"id": PAGE.page_id}}, "own_reply"),
    ("message", {"id": "m_3", "message": "ok", "created_time": 1795773600, "from": {"id": PAGE.page_id}},
     "own_message"),
])
def test_the_pages_own_items_and_empty_ones_are_dropped(kind, data, reason):
    assert normalise_item(raw(kind, data, post_id="1_2"), PAGE) == Drop(reason)


def test_instagram_reply_by_the_governors_account_is_dropped():
    change = {"field": "comments", "value": {"id": "179", "text": "Terima kasih", "from": {"id": "17841400000000001"}}}
    data = raw("change", change, source="webhook", object="instagram", entry_id="17841400000000001")
    assert normalise_item(data, PAGE) == Drop("own_reply")


@pytest.mark.parametrize("payload", [b"", b"{}", b'{"kind": "post", "data": []}', b"\xff\xfe"])
def test_malformed_payloads_raise_normalise_error(payload):
    with pytest.raises(NormaliseError):
        normalise_item(RawMessage("test", payload, NOW), PAGE)


def test_an_item_without_id_is_malformed():
    with pytest.raises(NormaliseError, match="no id"):
        normalise_item(raw("post", {"message": "x", "created_time": 1795773600, "from": {"id": "5"}}), PAGE)
