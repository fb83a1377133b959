"""The declarative HTTP/JSON channel's photo URLs are downloaded after the commit; the
pull's credentials go only to the pull's own host (the shipped LAPOR! and Qlue
blocks against the local fakes; a local HTTPS server plays the photo host). All data
is made up."""

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
from tests.http_json.conftest import connector_for, lapor_block, qlue_block, spooled
from tests.http_json.fakes import LAPOR_BEARER, LAPOR_TOKEN, FakeLapor, FakeQlue


@pytest.fixture(name="photos", scope="module")
def _photos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeMedia]:
    cert, key = self_signed_cert(tmp_path_factory.mktemp("tls"))
    fake = FakeMedia(cert, key)
    fake.cert = cert  # type: ignore[attr-defined]
    yield fake
    fake.close()


def test_lapor_photos_are_fetched_into_the_store_without_the_channel_credentials(
    photos: FakeMedia, tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "spool.db", fetch_hold_seconds=60)
    store = LocalAttachmentStore(tmp_path / "attachments")
    photo = jpeg(color="gray")
    photos.answers["/berkas/500001.jpg"] = Answer(photo, headers={"Content-Type": "image/jpeg"})
    with FakeLapor() as lapor:
        lapor.add_report(1, attachments=[{"path": photos.url("/berkas/500001.jpg")}])
        connector = connector_for(lapor_block(lapor))
        runner = ChannelRunner(connector, spool, store, fetch_attachments=True)
        fetcher = Fetcher(spool, store, {connector.name: connector},
                          AttachmentStoreConfig(path=tmp_path / "attachments", fetch_ca_bundle=photos.cert))  # type: ignore[attr-defined]
        try:
            runner.poll_once()
            assert spool.pending(10) == [], "held while the photo is fetched"
            assert fetcher.fetch_due() == 1
            [complaint] = spooled(spool)
        finally:
            fetcher.queue.close()
            fetcher.downloader.close()
            connector.close()
            spool.close()
        assert all(path == lapor.PATH for path, _q, _s in lapor.requests), "the partner API served no photo"
    [attachment] = complaint["attachments"]
    digest = hashlib.sha256(photo).hexdigest()
    assert (attachment["sha256"], attachment["stored_ref"], attachment["omitted_reason"]) == (
        digest, f"attachment:sha256:{digest}", None)
    assert store.get(digest) == photo
    [(_path, headers)] = [h for h in photos.headers if h[0] == "/berkas/500001.jpg"]
    assert not {"auth", "token", "authorization"} & set(headers), "LAPOR!'s headers stay with LAPOR!"


def test_the_pull_credentials_go_only_to_the_pull_origin() -> None:
    block = lapor_block(FakeLapor())  # not started: no request is made here
    block["options"]["pull"]["base_url"] = "https://api-splp.layanan.go.id/lapor/3.0.0"
    connector = connector_for(block)
    connector.open()
    try:
        own = connector.fetch_auth("https://api-splp.layanan.go.id/lapor/berkas/1.jpg")
        assert own is not None
        expected = {"auth": f"Bearer {LAPOR_BEARER}", "token": LAPOR_TOKEN}
        assert {k: own.headers[k] for k in ("auth", "token")} == expected
        for url in ("https://lapor.example/berkas/1.jpg", "https://api-splp.layanan.go.id:8443/lapor/berkas/1.jpg",
                    "http://api-splp.layanan.go.id/lapor/berkas/1.jpg", "https://api-splp.layanan.go.id.example.net/x"):
            other = connector.fetch_auth(url)
            assert other is not None and not dict(other.headers) and other.basic is None, url
    finally:
        connector.close()
    block["options"]["fetch_photos"] = False
    assert connector_for(block).fetch_auth("https://lapor.example/berkas/1.jpg") is None


def test_an_oauth2_token_is_requested_only_when_a_photo_is_downloaded() -> None:
    with FakeQlue() as qlue:
        block = qlue_block(qlue)
        block["options"]["pull"]["base_url"] = "https://partner.qlue.example"
        connector = connector_for(block)
        connector.open()
        try:
            auth = connector.fetch_auth("https://partner.qlue.example/foto/1.jpg")
            assert auth is not None and qlue.tokens_issued == 0, "deciding to fetch costs no token request"
            assert dict(auth.headers)["Authorization"].startswith("Bearer ")
            assert qlue.tokens_issued == 1
        finally:
            connector.close()
