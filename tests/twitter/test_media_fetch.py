"""X photos are downloaded after the commit by default (``fetch_media``): the fake X API
serves the mentions, a local HTTPS server plays pbs.twimg.com. The bearer token never
goes to the media host (all data made up)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from config.models import AttachmentStoreConfig
from connectors.attachments import LocalAttachmentStore
from connectors.runner import ChannelRunner
from kanal.fetcher import Fetcher
from kanal.spool import Spool
from tests.core.fake_media import Answer, FakeMedia, jpeg, self_signed_cert
from tests.twitter.conftest import BEARER, make_connector, spooled
from tests.twitter.fake_x_api import FakeXApi


@pytest.fixture(name="pbs", scope="module")
def _pbs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeMedia]:
    cert, key = self_signed_cert(tmp_path_factory.mktemp("tls"))
    fake = FakeMedia(cert, key)
    fake.cert = cert  # type: ignore[attr-defined]
    yield fake
    fake.close()


def test_x_photos_are_fetched_by_default_into_the_store_without_the_bearer_token(
    fake_x: FakeXApi, pbs: FakeMedia, tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "spool.db", fetch_hold_seconds=60)
    store = LocalAttachmentStore(tmp_path / "attachments")
    connector = make_connector(fake_x.url)  # no fetch_media option: on by default
    photo = jpeg(color="orange")
    pbs.answers["/media/GdKx1.jpg"] = Answer(photo, headers={"Content-Type": "image/jpeg"})
    fake_x.media["3_77"] = {"media_key": "3_77", "type": "photo", "url": pbs.url("/media/GdKx1.jpg")}
    citizen = fake_x.add_user("warga_foto")
    tweet = fake_x.mention("dkijakarta", citizen, "@dkijakarta got mampet di Jl. Contoh",
                           attachments={"media_keys": ["3_77"]})
    runner = ChannelRunner(connector, spool, store, fetch_attachments=True)
    fetcher = Fetcher(spool, store, {connector.name: connector},
                      AttachmentStoreConfig(path=tmp_path / "attachments", fetch_ca_bundle=pbs.cert))  # type: ignore[attr-defined]
    try:
        runner.poll_once()
        assert spool.depth() == 1 and spool.pending(10) == [], "held while the photo is fetched"
        assert fetcher.fetch_due() == 1
        [complaint] = spooled(spool)
    finally:
        fetcher.queue.close()
        fetcher.downloader.close()
        spool.close()
    assert complaint["provider_message_id"].endswith(tweet["id"])
    [attachment] = complaint["attachments"]
    digest = hashlib.sha256(photo).hexdigest()
    assert (attachment["sha256"], attachment["stored_ref"], attachment["omitted_reason"]) == (
        digest, f"attachment:sha256:{digest}", None)
    assert store.get(digest) == photo
    assert pbs.requests == [("/media/GdKx1.jpg", None)], "the media host got no Authorization"
    assert all(not r.path.startswith("/media/") for r in fake_x.requests), "the API host served no media"


def test_the_bearer_token_goes_only_to_the_api_host(fake_x: FakeXApi) -> None:
    connector = make_connector("https://api.x.com")
    assert connector.fetch_auth("https://api.x.com/2/media/3_77").headers == {"Authorization": f"Bearer {BEARER}"}
    for url in ("https://pbs.twimg.com/media/GdKx1.jpg", "https://api.x.com.example.net/2/media/3_77",
                "http://api.x.com/2/media/3_77"):
        auth = connector.fetch_auth(url)
        assert auth is not None and not auth.headers and auth.basic is None, url
    assert make_connector("https://api.x.com", fetch_media=False).fetch_auth("https://pbs.twimg.com/m.jpg") is None
