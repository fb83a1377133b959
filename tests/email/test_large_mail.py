"""Large mail against the real Dovecot: the text is taken, big files are listed as
omitted, and the raw archive does not keep the bytes that were omitted anyway; mail
over ``max_download_bytes`` is taken without downloading its big parts at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.email.conftest import Harness
from tests.email.corpus.build import fake_jpeg, message, multipart, part
from tests.email.mail import complaint_mail
from tests.email.proxy import CuttingProxy

MIB = 1024 * 1024


def spool_bytes(path: Path) -> int:
    """Size of the spool on disk: the database and its write-ahead log."""
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def test_a_mail_with_a_12_mb_photo_grows_the_spool_by_kilobytes_not_megabytes(mailbox: Harness):
    mail = complaint_mail(1, photo_bytes=12 * MIB, tag="besar")
    small = complaint_mail(2, photo_bytes=20_000, tag="kecil")
    mailbox.append(mail, small)
    connector = mailbox.make(max_file_bytes=10 * MIB, max_message_bytes=25 * MIB)
    connector.open()
    runner = mailbox.runner(connector)
    before = spool_bytes(mailbox.spool.path)

    assert runner.poll_once() == 2

    grown = spool_bytes(mailbox.spool.path) - before
    print(f"\nspool growth for a {len(mail) / MIB:.1f} MiB mail with an omitted 12 MiB photo "
          f"(+ one small mail): {grown / 1024:.0f} KiB")
    assert grown < 1 * MIB, f"the spool grew by {grown} bytes"
    big, kept = sorted((json.loads(r.body) for r in mailbox.spool.pending(10)), key=lambda c: c["title"])
    [photo] = big["attachments"]
    assert photo["omitted_reason"] == "too_large" and photo["size"] == 12 * MIB
    assert "tersumbat" in big["description"]
    archived, meta = mailbox.spool.raw(big["raw_ref"])
    assert b"Saluran air di RT" in archived and b"X-Kanal-Omitted: too_large; size=12582912" in archived
    assert meta["archived"] == "reduced" and meta["original_bytes"] > 16 * MIB
    assert mailbox.count("Processed") == 2
    _, small_meta = mailbox.spool.raw(kept["raw_ref"])
    assert "archived" not in small_meta, "a mail whose files were all kept is archived as it came"
    assert kept["attachments"][0]["stored_ref"]


def _with_photos(n: int, photos: list[tuple[str, int]], extra: list[tuple[str, str]] = ()) -> bytes:
    """Complaint ``n`` with a text and the named made-up photos (name, bytes)."""
    items = [
        ("From", f"Warga {n} <warga{n}@example.org>"), ("To", "dki@jakarta.go.id"),
        ("Subject", f"Laporan besar-{n}: jalan berlubang"), ("Date", "Tue, 24 Nov 2026 07:30:00 +0700"),
        ("Message-ID", f"<besar-{n}@warga.example.org>"), ("MIME-Version", "1.0"),
    ]
    parts = [part("text/plain; charset=utf-8", b"Jalan berlubang besar di depan sekolah, RT 03.\n")]
    for i, (name, size) in enumerate(photos):
        parts.append(part(
            f'image/jpeg; name="{name}"', fake_jpeg(n * 10 + i, size),
            [("Content-Disposition", f'attachment; filename="{name}"'), *extra], encoding="base64",
        ))
    return message([*items, ("Content-Type", f'multipart/mixed; boundary="b-{n}"')], multipart(f"b-{n}", parts))


class TestMailOverTheDownloadLimit:
    def test_a_50_mb_mail_is_taken_with_its_text_without_downloading_it(self, mailbox: Harness) -> None:
        mail = _with_photos(1, [("denah.jpg", 200_000), ("video-jalan.jpg", 36 * MIB)])
        assert len(mail) > 49_000_000
        mailbox.append(mail)
        proxy = CuttingProxy(mailbox.server.port)
        try:
            connector = mailbox.make(port=proxy.port, max_file_bytes=10 * MIB, max_message_bytes=25 * MIB)
            connector.open()
            assert mailbox.runner(connector).poll_once() == 1
            connector.close()
        finally:
            proxy.close()
        print(f"\nbytes from the server for a {len(mail) / 1e6:.1f} MB mail: {proxy.server_bytes / 1e3:.0f} kB")
        assert proxy.server_bytes < 1 * MIB, "the mail was downloaded whole"
        [row] = mailbox.spool.pending(10)
        complaint = json.loads(row.body)
        assert "Jalan berlubang besar" in complaint["description"]
        small, big = complaint["attachments"]
        assert small["filename"] == "denah.jpg" and small["stored_ref"] and small["size"] == 200_000
        assert big["filename"] == "video-jalan.jpg" and big["omitted_reason"] == "too_large"
        assert abs(big["size"] - 36 * MIB) < 0.01 * 36 * MIB  # estimated from the encoded size
        archived, meta = mailbox.spool.raw(complaint["raw_ref"])
        assert meta["fetched"] == "partial" and meta["original_bytes"] == len(mail)
        assert len(archived) < 1 * MIB and b"X-Kanal-Omitted: too_large" in archived
        assert mailbox.count("Processed") == 1 and mailbox.count("INBOX") == 0

    @pytest.mark.parametrize("message_id", [True, False])
    def test_the_same_large_mail_found_twice_is_one_complaint(self, mailbox: Harness, message_id: bool) -> None:
        mail = _with_photos(2, [("a.jpg", 3 * MIB)])
        if not message_id:
            mail = mail.replace(b"Message-ID: <besar-2@warga.example.org>\r\n", b"")
            assert b"Message-ID" not in mail
        mailbox.append(mail, folder="INBOX")
        with mailbox.imap() as client:
            client.create_folder("Lain")
        mailbox.append(mail, folder="Lain")
        connector = mailbox.make(folders=["INBOX", "Lain"], max_download_bytes=1 * MIB, max_file_bytes=2 * MIB)
        connector.open()
        assert mailbox.runner(connector).poll_once() == 2
        assert mailbox.spool.depth() == 1

    def test_a_sender_cannot_fake_the_omitted_marker(self, mailbox: Harness) -> None:
        fake = [("X-Kanal-Omitted", "too_large; size=1; mark=")]
        small = _with_photos(3, [("bukti.jpg", 30_000)], extra=fake)
        large = _with_photos(4, [("bukti.jpg", 30_000), ("besar.jpg", 3 * MIB)], extra=fake)
        mailbox.append(small, large)
        connector = mailbox.make(max_download_bytes=1 * MIB, max_file_bytes=2 * MIB)
        connector.open()
        assert mailbox.runner(connector).poll_once() == 2
        complaints = sorted((json.loads(r.body) for r in mailbox.spool.pending(10)), key=lambda c: c["title"])
        for complaint in complaints:
            proof = complaint["attachments"][0]
            assert proof["filename"] == "bukti.jpg" and proof["stored_ref"] and not proof["omitted_reason"]
        assert complaints[1]["attachments"][1]["omitted_reason"] == "too_large"
