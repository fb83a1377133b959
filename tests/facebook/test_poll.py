"""Polling a Page with the real facebook-sdk over HTTP against the fake Graph API."""

from __future__ import annotations

import time

import pytest

from connectors.errors import TransientError
from connectors.runner import ChannelRunner
from normalizer.identity import complaint_id
from tests.facebook.conftest import by_message_id, counters, make_connector, make_options, status

CITIZEN = ("5550001", "Siti Warga")
OTHER = ("5550002", "Budi Contoh")
PAGE_ACCOUNT = "100000000000001"


def seed_page(graph) -> dict[str, str]:
    """A Page with visitor posts, comments (with a reply) and Messenger threads."""
    now = time.time()
    ids = {}
    ids["post1"] = graph.add_post("Jalan berlubang di Jl. Kemang Raya", now - 3000, CITIZEN)
    ids["post2"] = graph.add_post("Sampah menumpuk di Kel. Cempaka Putih", now - 2900, OTHER)
    ids["post3"] = graph.add_post("Lampu jalan mati", now - 2800, CITIZEN)
    ids["page_post"] = graph.add_post("Info banjir hari ini", now - 2700)
    ids["c1"] = graph.add_comment(ids["page_post"], "Di Kel. Kapuk masih banjir", now - 2600, CITIZEN)
    ids["c2"] = graph.add_comment(ids["page_post"], "Terima kasih, kami teruskan", now - 2500, parent=ids["c1"])
    ids["c3"] = graph.add_comment(ids["page_post"], "Got di Jl. Daan Mogot mampet", now - 2400, OTHER)
    ids["c4"] = graph.add_comment(ids["page_post"], "Airnya sudah setinggi lutut", now - 2300, CITIZEN,
                                  parent=ids["c1"])
    ids["m1"] = graph.add_message("7770001", "Siti Warga", "Mau lapor parkir liar", now - 2200)
    ids["m2"] = graph.add_message("7770001", "Siti Warga", "Di depan pasar", now - 2100)
    ids["m3"] = graph.add_message("7770001", "Siti Warga", "Baik, laporan diterima", now - 2000, from_page=True)
    ids["m4"] = graph.add_message("7770002", "Budi Contoh", "Pohon tumbang", now - 1900)
    return ids


def test_poll_reads_feed_comments_and_conversations_across_pages(graph, runner, spool):
    ids = seed_page(graph)

    handled = runner.poll_once()

    taken = by_message_id(spool)
    expected = {ids[k] for k in ("post1", "post2", "post3", "c1", "c3", "c4", "m1", "m2", "m4")}
    assert set(taken) == expected
    assert handled == len(expected) + 3  # the Page's own post, reply and message were read and dropped
    assert counters(spool, runner.name) == {
        "dropped.own_post": 1, "dropped.own_reply": 1, "dropped.own_message": 1}
    # page_size 2: every edge needed several pages, followed through paging.next
    assert sum(1 for path, params in graph.requests if path.endswith("/feed") and "after" in params) >= 1
    assert sum(1 for path, params in graph.requests if "/comments" in path and "after" in params) >= 1
    assert sum(1 for path, params in graph.requests if path.endswith("/messages") and "after" in params) >= 1
    assert all(path.startswith("/v21.0/") for path in graph.paths())


def test_polled_items_carry_author_link_thread_and_reply(graph, runner, spool):
    ids = seed_page(graph)
    runner.poll_once()
    taken = by_message_id(spool)

    post = taken[ids["post1"]]
    assert post.id == complaint_id("facebook", PAGE_ACCOUNT, ids["post1"])
    assert post.reporter.name == "Siti Warga" and post.reporter.provider_user_id == CITIZEN[0]
    assert post.url == f"https://www.facebook.com/{ids['post1']}"
    assert post.conversation_key == ids["post1"]
    assert post.description == "Jalan berlubang di Jl. Kemang Raya"
    assert post.requested_datetime.utcoffset().total_seconds() == 7 * 3600

    comment = taken[ids["c1"]]
    assert comment.conversation_key == ids["page_post"]
    assert comment.in_reply_to is None  # the Page's own post is not a complaint
    reply = taken[ids["c4"]]
    assert reply.in_reply_to == taken[ids["c1"]].id  # a comment under a complaint we took in

    message = taken[ids["m1"]]
    assert message.conversation_key == "messenger:7770001"
    assert message.reporter.provider_user_id == "7770001"
    assert message.channel.account == PAGE_ACCOUNT and message.channel.name == "facebook-pemprov-dki"


def test_second_poll_takes_only_new_items_including_a_comment_on_an_old_post(graph, runner, spool):
    now = time.time()
    old_post = graph.add_post("Trotoar rusak", now - 5 * 86400, CITIZEN)  # before the first poll's window
    seed_page(graph)
    runner.poll_once()
    before = by_message_id(spool)
    assert old_post not in before

    new_comment = graph.add_comment(old_post, "Sudah seminggu belum diperbaiki", time.time(), OTHER)
    new_message = graph.add_message("7770002", "Budi Contoh", "Sudah ada petugas?", time.time())
    handled = runner.poll_once()

    after = by_message_id(spool)
    assert set(after) - set(before) == {new_comment, new_message}
    assert handled == 2  # nothing before the marks was read again
    assert status(spool, runner.name)["duplicates"] == 0


def test_poll_after_a_crash_rereads_without_doubles(graph, spool, attachments, secrets_env):
    ids = seed_page(graph)
    graph.fail(2, message="An unexpected error has occurred. Please retry your request later.",
               path_contains="/conversations")
    first = ChannelRunner(make_connector(make_options(graph)), spool, attachments, batch_size=2)

    with pytest.raises(TransientError):
        first.poll_once()  # the process "dies" mid-poll: conversations never read

    committed = by_message_id(spool)
    checkpoint = spool.load_checkpoint(first.name)
    assert committed, "batches before the failure are durable"
    assert checkpoint is None or "messages" not in checkpoint or checkpoint["messages"]["ids"] == []
    first.connector.close()

    # a new process: new connector and runner on the same spool file
    second = ChannelRunner(make_connector(make_options(graph)), spool, attachments, batch_size=2)
    second.poll_once()

    taken = by_message_id(spool)  # fails if any id was stored twice
    assert set(taken) == {ids[k] for k in ("post1", "post2", "post3", "c1", "c3", "c4", "m1", "m2", "m4")}
    assert set(committed) <= set(taken)
    second.connector.close()


def test_checkpoint_moves_only_in_the_spool_commit(graph, connector, spool):
    seed_page(graph)
    items = list(connector.fetch(None))  # fetching alone never stores anything

    assert spool.load_checkpoint("facebook-pemprov-dki") is None
    advances = [i for i in items if type(i).__name__ == "CheckpointAdvance"]
    assert len(advances) == 2  # one after the feed (with comments), one after conversations
    assert set(advances[-1].value) == {"v", "feed", "comments", "messages", "retry"}


def test_disabled_edges_are_not_requested(graph, spool, attachments, secrets_env):
    seed_page(graph)
    conn = make_connector(make_options(graph, poll_comments=False, poll_conversations=False))
    ChannelRunner(conn, spool, attachments).poll_once()

    assert all(path.endswith("/feed") for path in graph.paths())
    assert {c.provider_message_id for c in by_message_id(spool).values()} == {
        p["id"] for p in graph.posts if p["from"]["id"] != graph.page_id}
    conn.close()


def test_a_comment_added_mid_poll_to_a_post_already_read_is_taken_next_poll(graph, runner, spool):
    now = time.time()
    older = graph.add_post("Info pemadaman listrik", now - 4000)
    newer = graph.add_post("Info banjir hari ini", now - 3000)  # listed first, so its comments are read first
    graph.add_comment(newer, "Air masuk rumah di Kel. Kapuk", now - 300, CITIZEN)
    graph.add_comment(older, "Listrik padam di Kel. Rawa Buaya", now - 200, OTHER)
    late = {}

    def while_the_older_post_is_read() -> None:
        # X lands on the post already read; Y, a second later, on the post about to be read
        late["x"] = graph.add_comment(newer, "Sekarang setinggi pinggang", time.time(), CITIZEN)
        late["y"] = graph.add_comment(older, "Sudah tiga jam", time.time() + 1, OTHER)

    graph.on_request(f"/{older}/comments", while_the_older_post_is_read)
    runner.poll_once()
    assert late["y"] in by_message_id(spool) and late["x"] not in by_message_id(spool)

    runner.poll_once()
    assert late["x"] in by_message_id(spool)
    assert runner.poll_once() == 0, "the window read again takes nothing twice"
    assert status(spool, runner.name)["duplicates"] == 0


def test_a_failing_conversation_is_skipped_counted_and_read_again_later(graph, runner, spool):
    from structlog.testing import capture_logs

    now = time.time()
    failing = graph.add_message("7770001", "Siti Warga", "Mau lapor parkir liar", now - 600)
    graph.add_message("7770001", "Siti Warga", "Di depan pasar", now - 500)
    other = graph.add_message("7770002", "Budi Contoh", "Pohon tumbang", now - 100)  # newer than the failing ones
    failing_thread = next(c.id for c in graph.conversations.values() if c.psid == "7770001")
    graph.fail(1, message="An unknown error occurred", path_contains=f"/{failing_thread}/messages", times=2)

    with capture_logs() as logs:
        runner.poll_once()  # no exception: the channel keeps running
        taken = by_message_id(spool)
        assert other in taken and failing not in taken
        runner.poll_once()  # still failing: skipped again, the mark stays behind its messages

    later = graph.add_message("7770002", "Budi Contoh", "Sudah ada petugas?", time.time())
    runner.poll_once()  # it answers again

    taken = by_message_id(spool)
    assert failing in taken and later in taken
    assert len([m for m in taken if m.startswith("m_")]) == 4
    assert counters(spool, runner.name)["poll.conversation_failed"] == 2
    skipped = [e for e in logs if e["event"].startswith("conversation skipped")]
    assert len(skipped) == 2 and skipped[0]["conversation_id"] == failing_thread and "error" in skipped[0]
    assert status(spool, runner.name)["duplicates"] == 0
