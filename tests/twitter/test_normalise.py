"""What is and is not a complaint, and what a complaint carries, through the whole poll path."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from connectors.attachments import LocalAttachmentStore
from connectors.base import RawMessage
from connectors.twitter.normalise import tweet_complaint_id
from kanal.spool import Spool
from tests.twitter.conftest import counters, make_connector, spooled
from tests.twitter.fake_x_api import FakeXApi


def by_tweet(spool: Spool) -> dict[str, dict]:
    return {c["provider_message_id"]: c for c in spooled(spool)}


def test_own_tweets_retweets_deleted_and_withheld_are_skipped_and_counted(
    fake_x: FakeXApi, spool: Spool, make_runner
) -> None:
    citizen = fake_x.add_user("warga_asli")
    city = fake_x.accounts["dkijakarta"]["id"]
    governor = fake_x.accounts["gubernur_contoh"]["id"]
    complaint = fake_x.mention("dkijakarta", citizen, "@dkijakarta lampu jalan mati di RT 03")
    fake_x.mention("dkijakarta", city, "@dkijakarta Terima kasih, laporan diteruskan ke Dinas terkait.")
    fake_x.mention("dkijakarta", governor, "@dkijakarta rapat koordinasi banjir hari ini")
    fake_x.mention("dkijakarta", citizen, f"RT @warga_asli: {complaint['text']}",
                   referenced_tweets=[{"type": "retweeted", "id": complaint["id"]}])
    fake_x.unavailable("dkijakarta", "deleted")
    fake_x.unavailable("dkijakarta", "withheld")
    fake_x.unavailable("dkijakarta", "withheld")
    make_runner().poll_once()
    assert list(by_tweet(spool)) == [complaint["id"]]
    assert counters(spool, "twitter-dkijakarta") == {
        "dropped.own_tweet": 2, "dropped.retweet": 1, "dropped.deleted_tweet": 1, "dropped.withheld_tweet": 2,
    }


def test_a_complaint_carries_expanded_text_reporter_url_time_language_and_thread(
    fake_x: FakeXApi, spool: Spool, make_runner
) -> None:
    citizen = fake_x.add_user("warga_lapor", name="Siti Contoh")
    fake_x.media["3_900"] = {"media_key": "3_900", "type": "photo",
                             "url": "https://pbs.twimg.example.com/media/AbCdEf.jpg"}
    fake_x.media["7_901"] = {"media_key": "7_901", "type": "video",
                             "preview_image_url": "https://pbs.twimg.example.com/thumb/v.jpg",
                             "variants": [{"content_type": "application/x-mpegURL",
                                           "url": "https://video.twimg.example.com/v.m3u8"},
                                          {"bit_rate": 256000, "content_type": "video/mp4",
                                           "url": "https://video.twimg.example.com/low.mp4"},
                                          {"bit_rate": 2176000, "content_type": "video/mp4",
                                           "url": "https://video.twimg.example.com/high.mp4"}]}
    tweet = fake_x.mention(
        "dkijakarta", citizen,
        "@dkijakarta Trotoar rusak &amp; berlubang &lt;bahaya&gt; https://t.co/aaaa1111 https://t.co/pic00001",
        lang="in", conversation_id="1700000000000000001",
        entities={"urls": [
            {"start": 60, "end": 83, "url": "https://t.co/aaaa1111", "expanded_url": "https://example.org/laporan/17",
             "display_url": "example.org/laporan/17"},
            {"start": 84, "end": 107, "url": "https://t.co/pic00001", "media_key": "3_900",
             "expanded_url": "https://x.com/warga_lapor/status/1/photo/1", "display_url": "pic.x.com/pic00001"}]},
        attachments={"media_keys": ["3_900", "7_901"]},
    )
    make_runner().poll_once()
    c = by_tweet(spool)[tweet["id"]]
    assert c["description"] == "@dkijakarta Trotoar rusak & berlubang <bahaya> https://example.org/laporan/17"
    assert c["reporter"] == {"name": "Siti Contoh", "handle": "@warga_lapor", "provider_user_id": citizen,
                             "phone": None, "email": None, "anonymous": False, "confidential": False}
    assert c["url"] == f"https://x.com/warga_lapor/status/{tweet['id']}"
    assert c["channel"] == {"type": "twitter", "name": "twitter-dkijakarta", "account": "@dkijakarta"}
    assert c["id"] == str(tweet_complaint_id(tweet["id"]))
    assert c["language"] == "in"
    assert c["conversation_key"] == "1700000000000000001"
    sent = datetime.fromisoformat(tweet["created_at"])
    requested = datetime.fromisoformat(c["requested_datetime"])
    assert requested == sent and requested.utcoffset().total_seconds() == 7 * 3600
    assert [(a["url"], a["content_type"], a["omitted_reason"]) for a in c["attachments"]] == [
        ("https://pbs.twimg.example.com/media/AbCdEf.jpg", "image/jpeg", "reference_only"),
        ("https://video.twimg.example.com/high.mp4", "video/mp4", "reference_only"),
    ]
    assert c["location"]["method"] == "none"


def test_a_quote_tweet_keeps_the_quoted_text_as_context(fake_x: FakeXApi, spool: Spool, make_runner) -> None:
    other = fake_x.add_user("warga_lain")
    citizen = fake_x.add_user("warga_kutip")
    quoted = fake_x.tweet(other, "Got air di Jl. Contoh Raya mampet lagi https://t.co/q1q1q1q1",
                          entities={"urls": [{"url": "https://t.co/q1q1q1q1",
                                              "expanded_url": "https://example.com/foto"}]})
    tweet = fake_x.mention("dkijakarta", citizen, "@dkijakarta ini sudah seminggu, mohon ditindak",
                           referenced_tweets=[{"type": "quoted", "id": quoted["id"]}])
    make_runner().poll_once()
    c = by_tweet(spool)[tweet["id"]]
    assert c["context"] == "@warga_lain: Got air di Jl. Contoh Raya mampet lagi https://example.com/foto"
    assert c["description"] == "@dkijakarta ini sudah seminggu, mohon ditindak"


def test_coordinates_and_places_become_the_location(fake_x: FakeXApi, spool: Spool, make_runner) -> None:
    citizen = fake_x.add_user("warga_peta")
    fake_x.places["p-menteng"] = {"id": "p-menteng", "full_name": "Menteng, Jakarta Pusat", "name": "Menteng",
                                  "country_code": "ID", "place_type": "neighborhood",
                                  "geo": {"type": "Feature", "bbox": [106.82, -6.21, 106.85, -6.18], "properties": {}}}
    fake_x.places["p-jakarta"] = {"id": "p-jakarta", "full_name": "Jakarta, Indonesia", "name": "Jakarta",
                                  "country_code": "ID", "place_type": "city",
                                  "geo": {"type": "Feature", "bbox": [106.68, -6.37, 106.97, -6.08], "properties": {}}}
    point = {"type": "Point", "coordinates": [106.8272, -6.1754]}
    gps = fake_x.mention("dkijakarta", citizen, geo={"place_id": "p-jakarta", "coordinates": point})
    small = fake_x.mention("dkijakarta", citizen, geo={"place_id": "p-menteng"})
    city = fake_x.mention("dkijakarta", citizen, geo={"place_id": "p-jakarta"})
    make_runner().poll_once()
    got = by_tweet(spool)
    assert (got[gps["id"]]["location"]["lat"], got[gps["id"]]["location"]["long"]) == (-6.1754, 106.8272)
    assert got[gps["id"]]["location"]["method"] == "gps"
    assert got[small["id"]]["location"]["method"] == "place"
    assert round(got[small["id"]]["location"]["lat"], 3) == -6.195
    assert got[small["id"]]["location"]["address_string"] == "Menteng, Jakarta Pusat"
    assert got[city["id"]]["location"]["lat"] is None
    assert got[city["id"]]["location"]["address_string"] == "Jakarta, Indonesia"


def test_a_reply_links_to_the_complaint_it_answers_only_when_that_was_taken_in(
    fake_x: FakeXApi, spool: Spool, make_runner
) -> None:
    citizen = fake_x.add_user("warga_balas")
    first = fake_x.mention("dkijakarta", citizen, "@dkijakarta pohon tumbang di Jl. Contoh")
    runner = make_runner()
    runner.poll_once()
    follow_up = fake_x.mention("dkijakarta", citizen, "@dkijakarta belum ada petugas datang",
                               conversation_id=first["id"],
                               referenced_tweets=[{"type": "replied_to", "id": first["id"]}])
    stranger = fake_x.mention("dkijakarta", citizen, "@dkijakarta setuju",
                              referenced_tweets=[{"type": "replied_to", "id": "1234567890123456789"}])
    runner.poll_once()
    got = by_tweet(spool)
    assert got[follow_up["id"]]["in_reply_to"] == str(tweet_complaint_id(first["id"]))
    assert got[follow_up["id"]]["conversation_key"] == first["id"]
    assert got[stranger["id"]]["in_reply_to"] is None


def test_a_malformed_mention_goes_to_quarantine_with_its_bytes(fake_x: FakeXApi, spool: Spool, make_runner) -> None:
    runner = make_runner()
    now = datetime.now(UTC)
    broken = RawMessage("1", b'{"data": {"id": "1"}}', now, {"account": "dkijakarta"})
    not_json = RawMessage("2", b"\xff<html>", now, {"account": "dkijakarta"})
    results = runner.ingest([broken, not_json])
    assert [r.status for r in results] == ["quarantined", "quarantined"]
    entries = spool.quarantined("twitter-dkijakarta")
    assert {e.payload for e in entries} == {broken.payload, not_json.payload}
    assert any("no tweet with an id and a text" in e.error for e in entries)
    assert any("not JSON" in e.error for e in entries)


def test_the_same_mention_fetched_twice_gives_the_same_bytes_and_id(fake_x: FakeXApi) -> None:
    citizen = fake_x.add_user("warga_ulang")
    fake_x.mention("dkijakarta", citizen)
    first = [m for m in make_connector(fake_x.url, accounts=["dkijakarta"]).fetch(None) if isinstance(m, RawMessage)]
    again = [m for m in make_connector(fake_x.url, accounts=["dkijakarta"]).fetch(None) if isinstance(m, RawMessage)]
    assert [m.payload for m in first] == [m.payload for m in again]
    connector = make_connector(fake_x.url)
    assert connector.normalise(first[0]).id == connector.normalise(again[0]).id
    assert json.loads(first[0].payload)["includes"]["users"][0]["username"] == "warga_ulang"


def test_downloaded_photos_are_kept_within_the_attachment_caps(fake_x: FakeXApi, spool: Spool, make_runner,
                                                                tmp_path) -> None:
    citizen = fake_x.add_user("warga_foto")
    small, big = b"\xff\xd8\xff\xe0 foto lubang jalan" * 20, b"\xff\xd8" + b"x" * 5000
    fake_x.files["/media/kecil.jpg"], fake_x.files["/media/besar.jpg"] = small, big
    for key, name in (("3_1", "kecil.jpg"), ("3_2", "besar.jpg"), ("3_3", "hilang.jpg")):
        fake_x.media[key] = {"media_key": key, "type": "photo", "url": f"{fake_x.url}/media/{name}"}
    tweet = fake_x.mention("dkijakarta", citizen, "@dkijakarta lubang besar",
                           attachments={"media_keys": ["3_1", "3_2", "3_3"]})
    make_runner(download_media=True, max_file_bytes=4096).poll_once()
    kept, too_big, missing = by_tweet(spool)[tweet["id"]]["attachments"]
    digest = hashlib.sha256(small).hexdigest()
    assert kept["sha256"] == digest and kept["size"] == len(small) and kept["omitted_reason"] is None
    assert kept["stored_ref"] == f"attachment:sha256:{digest}" and kept["url"].endswith("/media/kecil.jpg")
    assert LocalAttachmentStore(tmp_path / "att").get(digest) == small
    assert (too_big["omitted_reason"], too_big["stored_ref"]) == ("too_large", None)
    assert (missing["omitted_reason"], missing["stored_ref"]) == ("download_failed", None)


def test_link_targets_are_not_read_as_html_entities_and_long_text_is_capped() -> None:
    from connectors.twitter.normalise import describe

    tweet = {"id": "1", "text": "Cek &amp;para; di https://t.co/x1 lalu\nhttps://t.co/m1",
             "entities": {"urls": [{"url": "https://t.co/x1", "expanded_url": "https://example.org/?a=1&para=2&not=3"},
                                   {"url": "https://t.co/m1", "media_key": "3_1"}]}}
    assert describe(tweet, ["3_1"]) == ("Cek &para; di https://example.org/?a=1&para=2&not=3 lalu", False)
    long = {"id": "2", "text": "x" * 9_990 + " https://t.co/x2",
            "entities": {"urls": [{"url": "https://t.co/x2", "expanded_url": "https://example.org/panjang"}]}}
    text, truncated = describe(long)
    assert truncated and "\ue000" not in text and "\ue001" not in text and len(text) <= 10_000
