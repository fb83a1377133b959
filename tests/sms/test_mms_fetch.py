"""Twilio MMS media are downloaded after the commit, with the account's basic auth,
into the attachment store; bad links are listed with their reason; a photo's EXIF
GPS places the complaint (all data made up)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import pytest

from kanal.spool import Spool
from normalizer.timeutil import WIB
from normalizer.wire import decode_complaint
from router.location import LocationResolver
from tests.core.fake_media import Answer, FakeMedia, jpeg
from tests.sms.mms_kit import MEDIA, send_mms

GAMBIR = (-6.1754, 106.8272)
BANDUNG = (-6.9175, 107.6191)


def _send(mms: dict, sid: str, links: list[tuple[str, str]]) -> None:
    send_mms(mms["url"], sid, links)


def wait_for(predicate, timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.005)
    return predicate()


def _now_exif() -> str:
    return datetime.now(WIB).strftime("%Y:%m:%d %H:%M:%S")


def test_mms_photos_are_stored_and_bad_links_listed_with_their_reason(mms: dict, media: FakeMedia) -> None:
    photo = jpeg(GAMBIR, _now_exif())
    media.answers.update({
        f"{MEDIA}/ME1": Answer(photo, headers={"Content-Type": "image/jpeg"}),
        f"{MEDIA}/ME3": Answer(b"", 403),
        f"{MEDIA}/ME4": Answer(b"", 302, headers={"Location": "http://127.0.0.1:9/ME4.jpg"}),
        f"{MEDIA}/ME5": Answer(jpeg(color="blue") + b"\0" * 60_000, headers={"Content-Type": "image/jpeg"}),
        f"{MEDIA}/ME6": Answer(b"<!DOCTYPE html><html><body>Error 500</body></html>",
                               headers={"Content-Type": "image/jpeg"}),
    })
    links = [(media.url(f"{MEDIA}/ME{i}"), "image/jpeg") for i in range(1, 7)]  # ME2 is not there: 404
    _send(mms, "SM00000000000000000000000000000001", links)
    spool: Spool = mms["spool"]

    assert spool.depth() == 1
    assert spool.pending(10) == [], "held while its media are fetched"

    assert mms["fetcher"].fetch_due() == 1
    rows = spool.pending(10)
    assert len(rows) == 1
    complaint = decode_complaint(rows[0].body)
    got = complaint.attachments
    digest = hashlib.sha256(photo).hexdigest()
    assert (got[0].sha256, got[0].size, got[0].content_type, got[0].omitted_reason) == (
        digest, len(photo), "image/jpeg", None)
    assert got[0].stored_ref == f"attachment:sha256:{digest}"
    assert mms["store"].get(digest) == photo
    assert [a.omitted_reason for a in got[1:]] == [
        "not_found", "expired", "insecure_redirect", "too_large", "content_mismatch"]
    assert all(a.stored_ref is None for a in got[1:])
    # Twilio's credentials went with the request; the photo placed the complaint.
    assert any(p == f"{MEDIA}/ME1" and (auth or "").startswith("Basic ") for p, auth in media.requests)
    assert complaint.location.method == "exif"
    assert complaint.location.kelurahan == "Gambir"
    resolved = LocationResolver().resolve(complaint)
    assert (resolved.method, resolved.kelurahan) == ("exif", "Gambir")
    # Fetching again changes nothing: the complaint is complete.
    assert mms["fetcher"].fetch_due() == 0


def test_a_stop_ends_the_pass_after_the_complaint_in_hand(mms: dict, media: FakeMedia) -> None:
    """A shutdown does not wait for every due complaint's downloads, only the one in hand's;
    the rest are fetched by the next pass (after a restart)."""
    photo = jpeg(GAMBIR, _now_exif())
    for n in range(3):
        media.answers[f"{MEDIA}/SLOW{n}"] = Answer(photo, headers={"Content-Type": "image/jpeg"},
                                                   delay_per_chunk=0.1, chunks=3)
        _send(mms, f"SM0000000000000000000000000000009{n}", [(media.url(f"{MEDIA}/SLOW{n}"), "image/jpeg")])
    stop = threading.Event()
    before = len(media.requests)
    watcher = threading.Thread(target=lambda: (wait_for(lambda: len(media.requests) > before), stop.set()))
    watcher.start()
    assert mms["fetcher"].fetch_due(stop) == 1  # the first download was under way when stop came
    watcher.join(5)
    assert len(media.requests) == before + 1
    assert mms["fetcher"].fetch_due() == 2


@pytest.mark.parametrize(("gps", "taken"), [(BANDUNG, "now"), (None, None), (GAMBIR, "old")])
def test_photo_outside_jakarta_or_without_exif_or_old_does_not_place(
    mms: dict, media: FakeMedia, gps: tuple[float, float] | None, taken: str | None
) -> None:
    when = {"now": _now_exif(), "old": (datetime.now(WIB) - timedelta(days=30)).strftime("%Y:%m:%d %H:%M:%S"),
            None: None}[taken]
    tag = f"{'bandung' if gps == BANDUNG else 'gambir' if gps else 'noexif'}{taken or ''}"
    path = f"{MEDIA}/{tag}"
    media.answers[path] = Answer(jpeg(gps, when), headers={"Content-Type": "image/jpeg"})
    _send(mms, f"SM{hashlib.sha256(tag.encode()).hexdigest()[:32]}", [(media.url(path), "image/jpeg")])
    mms["fetcher"].fetch_due()
    complaint = decode_complaint(mms["spool"].pending(10)[0].body)
    assert complaint.attachments[0].stored_ref is not None
    assert complaint.location.method == "none"
    assert complaint.location.lat is None


def test_a_complaint_whose_fetch_never_ends_is_released_after_the_hold(mms: dict, media: FakeMedia) -> None:
    spool: Spool = mms["spool"]
    _send(mms, "SM00000000000000000000000000000009", [(media.url(f"{MEDIA}/never"), "image/jpeg")])
    assert spool.pending(10) == []
    spool.fetch_hold_seconds = 0.0  # the hold is over (no fetcher ran: a dead provider looks the same)
    rows = spool.pending(10)
    assert len(rows) == 1
    assert decode_complaint(rows[0].body).attachments[0].omitted_reason == "kept_by_reference"


def test_a_file_shared_by_two_complaints_is_pruned_only_when_neither_is_retained(
    mms: dict, media: FakeMedia, tmp_path
) -> None:
    spool: Spool = mms["spool"]
    photo = jpeg(color="purple")
    digest = hashlib.sha256(photo).hexdigest()
    for name in ("shared-a", "shared-b"):  # the same photo, sent twice
        media.answers[f"{MEDIA}/{name}"] = Answer(photo, headers={"Content-Type": "image/jpeg"})
        sid = f"SM{hashlib.sha256(name.encode()).hexdigest()[:32]}"
        _send(mms, sid, [(media.url(f"{MEDIA}/{name}"), "image/jpeg")])
    assert mms["fetcher"].fetch_due() == 2
    rows = spool.pending(10)
    assert [decode_complaint(r.body).attachments[0].sha256 for r in rows] == [digest, digest]
    spool.mark_forwarded([r.seq for r in rows])
    assert _status(tmp_path)["attachments"] | {"path": None} == {
        "path": None, "files": 1, "bytes": len(photo), "fetch_pending": 0}

    with sqlite3.connect(spool.path) as conn:
        first, second = [t for (t,) in conn.execute("SELECT taken_at FROM ledger ORDER BY taken_at")]
    retention = spool.retention_seconds
    later = 10 * retention + second  # every file is older than the retention by then
    assert spool.prune(now=first + retention + (second - first) / 2) == 1, "the first complaint is forgotten"
    assert mms["fetcher"].prune_store(now=later) == 0
    assert mms["store"].get(digest) == photo, "the second complaint still refers to it"

    assert spool.prune(now=later) == 1
    assert mms["fetcher"].prune_store(now=later) == 1
    assert not mms["store"].path_for(digest).exists()
    assert _status(tmp_path)["attachments"]["files"] == 0


def _status(tmp_path) -> dict:
    """``kanal status --json`` on the fixture's spool and store."""
    config = tmp_path / "status.yaml"
    config.write_text(f"spool: {{path: {tmp_path / 'spool.db'}}}\nattachments: {{path: {tmp_path / 'attachments'}}}\n"
                      "channels: []\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "kanal", "status", "--json", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path)
    assert done.stdout, done.stderr
    return json.loads(done.stdout)
