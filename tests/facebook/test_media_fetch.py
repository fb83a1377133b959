"""Photos of a Page post, a Messenger message and an Instagram @mention are downloaded
after the commit into the attachment store: the Graph fake serves the items, a local
HTTPS server plays Meta's CDN. The Page token never goes to the CDN (all data made up)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.models import AttachmentStoreConfig
from connectors.attachments import LocalAttachmentStore
from connectors.runner import ChannelRunner
from connectors.webhooks import WebhookApp, WebhookServer
from kanal.fetcher import Fetcher
from kanal.spool import Spool
from tests.core.fake_media import Answer, FakeMedia, jpeg, self_signed_cert
from tests.facebook.conftest import Hook, by_message_id, make_connector, make_options
from tests.facebook.fake_graph_api import FakeGraphAPI

IG_ACCOUNT = "17841400000000001"
CITIZEN = ("7770009", "Siti Warga")


@pytest.fixture(name="cdn", scope="module")
def _cdn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeMedia]:
    cert, key = self_signed_cert(tmp_path_factory.mktemp("tls"))
    fake = FakeMedia(cert, key)
    fake.cert = cert  # type: ignore[attr-defined]
    yield fake
    fake.close()


@pytest.fixture(name="page")
def _page(graph: FakeGraphAPI, tmp_path: Path, cdn: FakeMedia, secrets_env: None) -> Iterator[dict]:
    """The Page channel (with its Instagram account) fetching media, its webhook, spool, store and fetcher."""
    spool = Spool(tmp_path / "spool.db", fetch_hold_seconds=60)
    store = LocalAttachmentStore(tmp_path / "attachments")
    connector = make_connector(make_options(graph, instagram_account_id=IG_ACCOUNT, poll_instagram=False))
    runner = ChannelRunner(connector, spool, store, batch_size=10, fetch_attachments=True)
    app = WebhookApp()
    app.add_channel(runner, connector.webhook_routes())
    server = WebhookServer(app, port=0, threads=2)
    server.start()
    fetcher = Fetcher(spool, store, {connector.name: connector},
                      AttachmentStoreConfig(path=tmp_path / "attachments", fetch_ca_bundle=cdn.cert))  # type: ignore[attr-defined]
    yield {"spool": spool, "store": store, "runner": runner, "fetcher": fetcher,
           "hook": Hook(f"{server.url}/webhooks/{connector.name}")}
    server.stop()
    fetcher.queue.close()
    fetcher.downloader.close()
    connector.close()
    spool.close()


def _serve(cdn: FakeMedia, path: str, color: str) -> tuple[str, str]:
    photo = jpeg(color=color)
    cdn.answers[path] = Answer(photo, headers={"Content-Type": "image/jpeg"})
    return cdn.url(path), hashlib.sha256(photo).hexdigest()


def test_post_message_and_instagram_mention_photos_are_stored_without_the_page_token(
    graph: FakeGraphAPI, cdn: FakeMedia, page: dict
) -> None:
    now = time.time()
    post_url, post_digest = _serve(cdn, "/v/t39.30808-6/post.jpg?oh=00_sig&oe=6750A1B2", "red")
    message_url, message_digest = _serve(cdn, "/v/t1.15752-9/message.jpg?oh=03_sig", "blue")
    mention_url, mention_digest = _serve(cdn, "/v/t51.29350-15/mention.jpg?oh=00_ig", "green")
    post = graph.add_post("Jalan berlubang di depan rumah saya", now - 600, author=CITIZEN,
                          attachments=[{"type": "photo", "media_type": "photo",
                                        "media": {"image": {"src": post_url, "height": 16, "width": 24}}}])
    message = graph.add_message(CITIZEN[0], CITIZEN[1], "Ini fotonya", now - 500,
                                attachments=[{"id": "9001", "mime_type": "image/jpeg", "name": "foto.jpg",
                                              "image_data": {"url": message_url, "width": 24, "height": 16}}])
    media_id, _ = graph.add_ig_mention("@pemprovdki sampah menumpuk", now - 400, "warga.contoh", in_caption=True)
    graph.ig_mentioned_media[media_id]["media_url"] = mention_url
    page["runner"].poll_once()
    mention = {"object": "instagram", "entry": [{"id": IG_ACCOUNT, "time": int(now),
                                                 "changes": [{"field": "mentions", "value": {"media_id": media_id}}]}]}
    assert page["hook"].post(mention).status_code == 200
    spool: Spool = page["spool"]
    assert spool.pending(10) == [], "held while the photos are fetched"

    assert page["fetcher"].fetch_due() == 3
    taken = by_message_id(spool)
    for key, digest in ((post, post_digest), (message, message_digest), (media_id, mention_digest)):
        [attachment] = taken[key].attachments
        assert (attachment.sha256, attachment.stored_ref, attachment.omitted_reason) == (
            digest, f"attachment:sha256:{digest}", None), key
        assert hashlib.sha256(page["store"].get(digest)).hexdigest() == digest
    # The CDN got no credentials; the Graph API saw no media request.
    fetched = [(p, auth) for p, auth in cdn.requests if p.startswith("/v/")]
    assert len(fetched) == 3 and all(auth is None for _p, auth in fetched)
    assert not any(graph.token in p for p, _auth in cdn.requests)
    assert not any("/v/t" in path for path in graph.paths())


def test_the_page_token_goes_only_to_the_graph_api_host(graph: FakeGraphAPI, secrets_env: None) -> None:
    connector = make_connector(make_options(graph, graph_api_base_url="https://graph.facebook.com/"))
    token = f"Bearer {graph.token}"
    assert connector.fetch_auth("https://graph.facebook.com/v21.0/9001/picture").headers == {"Authorization": token}
    for url in ("https://scontent.xx.fbcdn.net/v/t39/post.jpg", "https://graph.facebook.com.example.net/v21.0/1",
                "http://graph.facebook.com/v21.0/9001/picture", "https://graph.facebook.com:8443/v21.0/1"):
        auth = connector.fetch_auth(url)
        assert auth is not None and not auth.headers and auth.basic is None, url
    assert make_connector(make_options(graph, fetch_media=False)).fetch_auth(
        "https://scontent.xx.fbcdn.net/v/t39/post.jpg") is None
