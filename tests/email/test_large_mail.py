"""Large mail against the real Dovecot: the text is taken, big files are listed as
omitted, and the raw archive does not keep the bytes that were omitted anyway."""

from __future__ import annotations

import json
from pathlib import Path

from tests.email.conftest import Harness
from tests.email.mail import complaint_mail

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
