"""Meta webhooks on the real shared webhook server (waitress), over real HTTP."""

from __future__ import annotations

import json
import time

from normalizer.identity import complaint_id
from tests.facebook.conftest import APP_SECRET, VERIFY_TOKEN, by_message_id, counters, status

PAGE = "100000000000001"


def messenger_body(mid: str, text: str, psid: str = "7770001", **message_extra) -> dict:
    """A Messenger ``messages`` event as Meta sends it."""
    message = {"mid": mid, "text": text, **message_extra}
    event = {"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": int(time.time() * 1000),
             "message": message}
    return {"object": "page", "entry": [{"id": PAGE, "time": int(time.time() * 1000), "messaging": [event]}]}


def feed_body(value: dict, page: str = PAGE) -> dict:
    """A Page ``feed`` change event."""
    return {"object": "page", "entry": [{"id": page, "time": int(time.time()),
                                          "changes": [{"field": "feed", "value": value}]}]}


def test_verification_handshake_echoes_the_challenge_for_our_token_only(hook):
    ok = hook.handshake(VERIFY_TOKEN, challenge="1158201444")
    assert ok.status_code == 200 and ok.text == "1158201444"

    assert hook.handshake("someone-elses-token").status_code == 403
    assert hook.handshake(VERIFY_TOKEN, mode="unsubscribe").status_code == 403


def test_signed_messenger_message_is_committed_before_the_200(hook, spool):
    response = hook.post(messenger_body("m_AAA1", "Ada parkir liar di depan Pasar Minggu"))

    assert response.status_code == 200 and response.text == "EVENT_RECEIVED"
    (complaint,) = by_message_id(spool).values()
    assert complaint.provider_message_id == "m_AAA1"
    assert complaint.id == complaint_id("facebook", PAGE, "m_AAA1")
    assert complaint.reporter.provider_user_id == "7770001"
    assert complaint.conversation_key == "messenger:7770001"
    assert complaint.description == "Ada parkir liar di depan Pasar Minggu"


def test_forged_and_unsigned_requests_get_403_and_store_nothing(hook, spool, runner):
    body = messenger_body("m_FORGED", "palsu")

    assert hook.post(body, secret="not-the-app-secret").status_code == 403
    assert hook.post(body, secret=None).status_code == 403
    assert hook.post(body, signature="sha1=" + "0" * 40).status_code == 403
    assert hook.post(body, signature="sha256=").status_code == 403

    assert spool.depth() == 0
    assert counters(spool, runner.name)["webhook.forbidden"] == 4


def test_signature_is_checked_over_the_raw_bytes_not_reserialised_json(hook, spool):
    # Meta signs its own serialisation, with non-ASCII escaped as \\u00e4.
    raw = (b'{"object":"page","entry":[{"id":"' + PAGE.encode() + b'","time":1764200000000,"messaging":['
           b'{"sender":{"id":"7770003"},"recipient":{"id":"' + PAGE.encode() + b'"},"timestamp":1764200000000,'
           b'"message":{"mid":"m_RAW1","text":"Got mampet di Jl. Sud\\u00edrman \\ud83d\\ude21"}}]}]}')
    from connectors.facebook.webhook import sign

    signature = sign(raw, APP_SECRET)
    reserialised = json.dumps(json.loads(raw), ensure_ascii=False).encode()

    assert hook.post(reserialised, signature=signature).status_code == 403
    assert spool.depth() == 0
    assert hook.post(raw, signature=signature).status_code == 200
    assert by_message_id(spool)["m_RAW1"].description == "Got mampet di Jl. Sud\u00edrman \U0001F621"


def test_messenger_echo_and_receipts_are_dropped_and_counted(hook, spool, runner):
    echo = messenger_body("m_ECHO", "Terima kasih, laporan Anda kami teruskan", is_echo=True, app_id=123)
    receipt = messenger_body("m_X", "x")
    del receipt["entry"][0]["messaging"][0]["message"]
    receipt["entry"][0]["messaging"][0]["read"] = {"watermark": 1764200000000}

    assert hook.post(echo).status_code == 200
    assert hook.post(receipt).status_code == 200

    assert spool.depth() == 0
    assert counters(spool, runner.name) == {"dropped.echo": 1, "dropped.messenger_read": 1}


def test_redelivered_event_is_one_complaint(hook, spool):
    body = json.dumps(messenger_body("m_TWICE", "Pohon tumbang di Jl. Panglima Polim")).encode()
    assert hook.post(body).status_code == 200
    assert hook.post(body).status_code == 200

    assert list(by_message_id(spool)) == ["m_TWICE"]
    assert status(spool, "facebook-pemprov-dki")["duplicates"] == 1


def test_same_comment_message_and_post_by_webhook_and_by_poll_are_one_complaint_each(graph, hook, runner, spool):
    now = time.time()
    post_id = graph.add_post("Info layanan", now - 600)
    comment_id = graph.add_comment(post_id, "Saluran air di RT 05 tersumbat", now - 300, ("5550009", "Rina Contoh"))
    message_id = graph.add_message("7770009", "Rina Contoh", "Halo, mau lapor", now - 200)
    webhook = feed_body({"item": "comment", "verb": "add", "comment_id": comment_id, "post_id": post_id,
                         "parent_id": post_id, "from": {"id": "5550009", "name": "Rina Contoh"},
                         "message": "Saluran air di RT 05 tersumbat", "created_time": int(now - 300)})
    assert hook.post(webhook).status_code == 200
    assert hook.post(messenger_body(message_id, "Halo, mau lapor", psid="7770009")).status_code == 200
    visitor_post = graph.add_post("Pohon tumbang di Jl. Contoh", now - 100, ("5550009", "Rina Contoh"))
    post_event = feed_body({"item": "status", "verb": "add", "post_id": visitor_post, "published": 1,
                            "from": {"id": "5550009", "name": "Rina Contoh"},
                            "message": "Pohon tumbang di Jl. Contoh", "created_time": int(now - 100)})
    assert hook.post(post_event).status_code == 200

    runner.poll_once()

    taken = by_message_id(spool)  # fails on a repeat
    assert set(taken) == {comment_id, message_id, visitor_post}
    assert status(spool, runner.name)["duplicates"] == 3
    assert taken[comment_id].conversation_key == post_id
    assert taken[message_id].conversation_key == "messenger:7770009"


def test_feed_changes_posts_comments_edits_removals_and_reactions(hook, spool, runner):
    post = {"item": "status", "verb": "add", "post_id": f"{PAGE}_901", "from": {"id": "5550010", "name": "Andi"},
            "message": "Banjir di Kel. Kampung Melayu", "created_time": 1764200000, "published": 1}
    edited = dict(post, verb="edited", message="Banjir di Kel. Kampung Melayu, setinggi pinggang")
    reply = {"item": "comment", "verb": "add", "comment_id": "901_555", "post_id": f"{PAGE}_901",
             "parent_id": f"{PAGE}_901", "from": {"id": "5550011", "name": "Dewi"},
             "message": "Di Bukit Duri juga", "created_time": 1764200100}
    own = dict(reply, comment_id="901_556", **{"from": {"id": PAGE, "name": "Pemprov DKI"}})
    removed = {"item": "comment", "verb": "remove", "comment_id": "901_555", "post_id": f"{PAGE}_901"}
    reaction = {"item": "reaction", "verb": "add", "post_id": f"{PAGE}_901", "reaction_type": "like",
                "from": {"id": "5550012"}}
    for value in (post, edited, reply, own, removed, reaction):
        assert hook.post(feed_body(value)).status_code == 200

    taken = by_message_id(spool)
    assert set(taken) == {f"{PAGE}_901", "901_555"}
    assert taken[f"{PAGE}_901"].description == "Banjir di Kel. Kampung Melayu"  # the edit is the same complaint
    assert taken["901_555"].in_reply_to == taken[f"{PAGE}_901"].id
    assert counters(spool, runner.name) == {"dropped.own_reply": 1, "dropped.feed_remove": 1, "dropped.reaction": 1}


def test_instagram_comment_and_mention_on_the_page_instance(graph, spool, attachments, secrets_env):
    from connectors.runner import ChannelRunner
    from connectors.webhooks import WebhookApp, WebhookServer
    from tests.facebook.conftest import Hook, make_connector, make_options

    connector = make_connector(make_options(graph, instagram_account_id="17841400000000001"), name="facebook-gubernur")
    runner = ChannelRunner(connector, spool, attachments)
    app = WebhookApp()
    app.add_channel(runner, connector.webhook_routes())
    server = WebhookServer(app, port=0, threads=2)
    server.start()
    try:
        hook = Hook(f"{server.url}/webhooks/facebook-gubernur")
        body = {"object": "instagram", "entry": [{"id": "17841400000000001", "time": 1764200000, "changes": [
            {"field": "comments", "value": {"id": "17900000000000001", "text": "Pak, jalan di Cilincing rusak",
                                             "from": {"id": "17800000000000009", "username": "warga.contoh"},
                                             "media": {"id": "18000000000000001", "media_product_type": "FEED"}}},
            {"field": "mentions", "value": {"media_id": "18000000000000002", "comment_id": "17900000000000002"}},
        ]}]}
        assert hook.post(body).status_code == 200
    finally:
        server.stop()
        connector.close()

    taken = by_message_id(spool)
    comment = taken["17900000000000001"]
    assert comment.reporter.handle == "warga.contoh"
    assert comment.conversation_key == "instagram-media:18000000000000001"
    assert comment.channel.name == "facebook-gubernur"
    mention = taken["17900000000000002"]
    assert mention.flags == ("instagram_mention", "incomplete")


def test_events_this_channel_cannot_own_are_quarantined_not_lost(hook, spool, runner):
    other_page = feed_body({"item": "status", "verb": "add", "post_id": "999_1", "message": "x",
                            "from": {"id": "5550013"}, "created_time": 1764200000}, page="999")
    instagram = {"object": "instagram", "entry": [{"id": "17841400000000001", "time": 1764200000, "changes": [
        {"field": "comments", "value": {"id": "1790", "text": "halo"}}]}]}
    garbage = b"this is not json"
    mixed = messenger_body("m_GOOD", "Lampu jalan mati di Jl. Contoh")
    mixed["entry"].append({"id": PAGE, "time": 1795773600000, "unknown_array": [{"x": 1}]})

    for body in (other_page, instagram, garbage, mixed):
        assert hook.post(body).status_code == 200  # signed by Meta: keep it, do not make Meta retry forever

    assert list(by_message_id(spool)) == ["m_GOOD"]
    reasons = sorted(entry.error for entry in spool.quarantined(runner.name))
    assert len(reasons) == 4
    assert any("entry without messaging, standby or changes" in r for r in reasons)
    assert any("Page 999" in r for r in reasons)
    assert any("no instagram_account_id" in r for r in reasons)
    assert any("not a Meta event batch" in r for r in reasons)
    (garbage_entry,) = [e for e in spool.quarantined(runner.name) if "JSONDecodeError" in e.error]
    assert b"this is not json" in garbage_entry.payload


def test_webhooks_are_off_without_app_secret(graph, secrets_env):
    from tests.facebook.conftest import make_connector, make_options

    connector = make_connector(make_options(graph, app_secret=None, verify_token=None))
    assert connector.webhook_routes() == ()
