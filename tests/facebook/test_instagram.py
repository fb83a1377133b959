"""The Instagram account linked to the Page: comments polled as a safety net under the
webhook (one complaint per comment whichever finds it first), and @mentions read
from the Graph API when their webhook arrives. Real facebook-sdk over HTTP against
the fake Graph API; real webhook server."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from connectors.runner import ChannelRunner
from connectors.webhooks import WebhookApp, WebhookServer
from tests.facebook.conftest import Hook, by_message_id, counters, make_connector, make_options

IG_ACCOUNT = "17841400000000001"
CITIZEN = ("17800000000000009", "warga.contoh")
OTHER = ("17800000000000010", "budi.contoh")
OWN = (IG_ACCOUNT, "pemprovdki")


@pytest.fixture(name="ig")
def _ig(graph, spool, attachments, secrets_env) -> Iterator[tuple[ChannelRunner, Hook]]:
    """The Page channel with its Instagram account, polled only for Instagram, and its webhook."""
    options = make_options(graph, instagram_account_id=IG_ACCOUNT, poll_feed=False, poll_comments=False,
                           poll_conversations=False)
    connector = make_connector(options, name="facebook-gubernur")
    runner = ChannelRunner(connector, spool, attachments, batch_size=3)
    app = WebhookApp()
    app.add_channel(runner, connector.webhook_routes())
    server = WebhookServer(app, port=0, threads=2)
    server.start()
    yield runner, Hook(f"{server.url}/webhooks/facebook-gubernur")
    server.stop()
    connector.close()


def comment_event(comment_id: str, text: str, media_id: str, author: tuple[str, str]) -> dict:
    value = {"id": comment_id, "text": text, "from": {"id": author[0], "username": author[1]},
             "media": {"id": media_id, "media_product_type": "FEED"}}
    return {"object": "instagram", "entry": [{"id": IG_ACCOUNT, "time": int(time.time()),
                                              "changes": [{"field": "comments", "value": value}]}]}


def mention_event(media_id: str, comment_id: str | None) -> dict:
    value = {"media_id": media_id, **({"comment_id": comment_id} if comment_id else {})}
    return {"object": "instagram", "entry": [{"id": IG_ACCOUNT, "time": int(time.time()),
                                              "changes": [{"field": "mentions", "value": value}]}]}


def test_poll_takes_comments_and_replies_under_recent_posts_once(graph, spool, ig) -> None:
    runner, _hook = ig
    now = time.time()
    old = graph.add_ig_media("Kegiatan bulan lalu", now - 40 * 86400)
    graph.add_ig_comment(old, "komentar di pos lama", now - 39 * 86400, CITIZEN)
    post = graph.add_ig_media("Info banjir hari ini", now - 3600)
    c1 = graph.add_ig_comment(post, "Di Kel. Kapuk masih banjir", now - 3000, CITIZEN)
    graph.add_ig_comment(post, "Terima kasih, kami teruskan", now - 2900, OWN, parent=c1)
    c3 = graph.add_ig_comment(post, "Airnya setinggi lutut", now - 2800, OTHER, parent=c1)
    c4 = graph.add_ig_comment(post, "Got di Jl. Daan Mogot mampet", now - 2700, OTHER)
    c5 = graph.add_ig_comment(post, "Lampu jalan mati", now - 2600, CITIZEN)

    runner.poll_once()
    runner.poll_once()  # nothing new: nothing taken twice

    taken = by_message_id(spool)
    assert set(taken) == {c1, c3, c4, c5}, "the month-old post is past comment_lookback_days"
    assert taken[c3].in_reply_to == taken[c1].id
    assert taken[c1].reporter.handle == "warga.contoh"
    assert taken[c1].conversation_key == f"instagram-media:{post}"
    assert counters(spool, runner.name) == {"dropped.own_reply": 1}
    assert any("/comments" in path and "after" in params for path, params in graph.requests), "paged (size 2)"

    c6 = graph.add_ig_comment(post, "Sampah belum diangkut", time.time(), OTHER)
    runner.poll_once()
    assert c6 in by_message_id(spool)


def test_a_comment_found_by_webhook_and_poll_is_one_complaint(graph, spool, ig) -> None:
    runner, hook = ig
    now = time.time()
    post = graph.add_ig_media("Info banjir hari ini", now - 3600)
    first = graph.add_ig_comment(post, "Di Kel. Kapuk masih banjir", now - 60, CITIZEN)
    second = graph.add_ig_comment(post, "Got mampet di Jl. Contoh", now - 30, OTHER)

    assert hook.post(comment_event(first, "Di Kel. Kapuk masih banjir", post, CITIZEN)).status_code == 200
    runner.poll_once()  # finds both; the first is already in
    assert hook.post(comment_event(second, "Got mampet di Jl. Contoh", post, OTHER)).status_code == 200

    taken = by_message_id(spool)  # fails on a second complaint for one comment
    assert set(taken) == {first, second}
    assert spool.channel_status(runner.name)["duplicates"] == 2


def test_a_mention_in_a_comment_is_taken_with_its_text(graph, spool, ig) -> None:
    _runner, hook = ig
    media_id, comment_id = graph.add_ig_mention("@pemprovdki trotoar di Jl. Contoh rusak parah", time.time() - 120,
                                                "warga.contoh")

    assert hook.post(mention_event(media_id, comment_id)).status_code == 200

    mention = by_message_id(spool)[comment_id]
    assert mention.description == "@pemprovdki trotoar di Jl. Contoh rusak parah"
    assert mention.flags == ("instagram_mention",)
    assert mention.conversation_key == f"instagram-media:{media_id}"
    assert any(params.get("fields", [""])[0].startswith(f"mentioned_comment.comment_id({comment_id})")
               for _path, params in graph.requests)


def test_a_mention_in_a_caption_is_taken_with_the_caption_and_the_picture(graph, spool, ig) -> None:
    _runner, hook = ig
    media_id, _ = graph.add_ig_mention("Banjir lagi di Kel. Contoh @pemprovdki", time.time() - 120,
                                       "budi.contoh", in_caption=True)

    assert hook.post(mention_event(media_id, None)).status_code == 200

    mention = by_message_id(spool)[media_id]
    assert mention.description == "Banjir lagi di Kel. Contoh @pemprovdki"
    assert mention.reporter.handle == "budi.contoh"
    assert [a.url for a in mention.attachments] == [f"https://scontent.cdninstagram.com/v/{media_id}.jpg"]
    assert mention.url == f"https://www.instagram.com/p/{media_id}/"


def test_a_mention_that_cannot_be_read_is_kept_flagged_incomplete(graph, spool, ig) -> None:
    runner, hook = ig
    media_id, comment_id = graph.add_ig_mention("@pemprovdki tolong", time.time() - 120, "warga.contoh")
    graph.fail(4, message="Application request limit reached", path_contains=IG_ACCOUNT)

    assert hook.post(mention_event(media_id, comment_id)).status_code == 200

    mention = by_message_id(spool)[comment_id]
    assert mention.flags == ("instagram_mention", "incomplete")
    assert counters(spool, runner.name)["instagram.mention_unread"] == 1
