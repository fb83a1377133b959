"""Gammu SMSD files backend, end to end: real files in SMSD's naming and encodings,
through the runner into the spool, files moved only after the commit."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from connectors.sms.message import INCOMPLETE
from kanal.spool import Spool
from normalizer.identity import complaint_id
from tests.sms.kit import FakeSmsdFiles, complaints, counters, make_connector, make_runner, send_acks

WHEN = datetime(2026, 11, 27, 9, 15, 30)


def files_connector(tmp_path: Path, **overrides):
    block = {"inbox_path": str(tmp_path / "inbox"), "done_path": str(tmp_path / "done"), "settle_seconds": 0}
    block.update(overrides.pop("block", {}))
    (tmp_path / "inbox").mkdir(exist_ok=True)
    return make_connector(backend="gammu_files", gammu_files=block, **overrides)


def test_standard_and_unicode_files_become_complaints_and_move_to_done(tmp_path: Path, spool: Spool) -> None:
    smsd = FakeSmsdFiles(tmp_path / "inbox")
    first = smsd.write("+6281200001111", "Jalan berlubang di Jl. Contoh Raya, mohon diperbaiki", WHEN, fmt="standard")
    second = smsd.write("081200002222", "Sampah menumpuk di kali 🙏", WHEN, serial=1, fmt="unicode")
    connector = files_connector(tmp_path)
    handled = make_runner(connector, spool, tmp_path).poll_once()

    assert handled == 2
    found = {c["provider_message_id"]: c for c in complaints(spool)}
    assert set(found) == {first, second}
    a, b = found[first], found[second]
    assert a["description"] == "Jalan berlubang di Jl. Contoh Raya, mohon diperbaiki"
    assert b["description"] == "Sampah menumpuk di kali 🙏"
    assert a["reporter"]["phone"] == "+6281200001111"
    assert b["reporter"]["phone"] == "+6281200002222"
    assert b["conversation_key"] == "+6281200002222"
    assert a["channel"] == {"type": "sms", "name": "sms-08111272206", "account": "+628111272206"}
    assert a["requested_datetime"] == "2026-11-27T09:15:30+07:00"
    assert a["id"] == str(complaint_id("sms", "+628111272206", first))
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == sorted([first, second])
    assert list((tmp_path / "inbox").iterdir()) == []


def test_three_part_ucs2_message_written_out_of_order_is_one_complaint_in_order(tmp_path: Path, spool: Spool) -> None:
    smsd = FakeSmsdFiles(tmp_path / "inbox")
    parts = ["Lampu jalan di RT 05 ", "Kelurahan Gambir mati sejak ", "tiga hari 😡💡 tolong segera."]
    names = [smsd.write("6281200003333", parts[i], WHEN, part=i) for i in (2, 0, 1)]
    connector = files_connector(tmp_path)
    make_runner(connector, spool, tmp_path).poll_once()

    [complaint] = complaints(spool)
    assert complaint["description"] == "".join(parts).strip()
    assert complaint["flags"] == []
    assert complaint["provider_message_id"] == f"{min(names)}#3"
    assert len(list((tmp_path / "done").iterdir())) == 3


def test_missing_part_waits_then_each_part_is_taken_alone_marked_incomplete(tmp_path: Path, spool: Spool) -> None:
    smsd = FakeSmsdFiles(tmp_path / "inbox")
    smsd.write("6281200004444", "Banjir setinggi lutut ", WHEN, part=0)
    smsd.write("6281200004444", "mohon bantuan pompa.", WHEN, part=2)  # part 01 never comes
    connector = files_connector(tmp_path, block={"multipart_timeout": 0.3})
    runner = make_runner(connector, spool, tmp_path)

    assert runner.poll_once() == 0, "an incomplete message is waited for"
    assert complaints(spool) == []
    time.sleep(0.35)
    assert runner.poll_once() == 2
    taken = complaints(spool)
    assert [c["description"] for c in taken] == ["Banjir setinggi lutut", "mohon bantuan pompa."]
    assert all(c["flags"] == [INCOMPLETE] for c in taken)
    assert list((tmp_path / "inbox").iterdir()) == []


def test_a_late_part_within_the_timeout_completes_the_message(tmp_path: Path, spool: Spool) -> None:
    smsd = FakeSmsdFiles(tmp_path / "inbox")
    smsd.write("6281200005555", "Pohon tumbang ", WHEN, part=0)
    smsd.write("6281200005555", "di depan sekolah.", WHEN, part=2)
    connector = files_connector(tmp_path, block={"multipart_timeout": 30})
    runner = make_runner(connector, spool, tmp_path)
    assert runner.poll_once() == 0
    smsd.write("6281200005555", "menutup jalan ", WHEN, part=1)
    assert runner.poll_once() == 1
    assert [c["description"] for c in complaints(spool)] == ["Pohon tumbang menutup jalan di depan sekolah."]


def test_a_file_still_being_written_is_left_until_it_settles(tmp_path: Path, spool: Spool) -> None:
    smsd = FakeSmsdFiles(tmp_path / "inbox")
    smsd.write("6281200006666", "Baru saja ditulis", WHEN, age=0)
    connector = files_connector(tmp_path, block={"settle_seconds": 30})
    assert make_runner(connector, spool, tmp_path).poll_once() == 0
    assert len(list((tmp_path / "inbox").iterdir())) == 1


def test_operator_senders_are_dropped_and_counted_not_quarantined(tmp_path: Path, spool: Spool) -> None:
    smsd = FakeSmsdFiles(tmp_path / "inbox")
    smsd.write("TELKOMSEL", "Promo kuota 10GB hanya Rp10rb!", WHEN, fmt="standard")
    smsd.write("3636", "Pulsa Anda tinggal Rp500", WHEN, serial=1, fmt="standard")
    smsd.write("+6281299990000", "Menangkan hadiah!", WHEN, serial=2, fmt="standard")
    connector = files_connector(tmp_path, drop_sender_patterns=[r"^\+?62812999"])
    make_runner(connector, spool, tmp_path).poll_once()

    assert complaints(spool) == []
    assert spool.quarantined() == []
    assert counters(spool, "sms-08111272206") == {
        "dropped.alphanumeric_sender": 1, "dropped.short_code_sender": 1, "dropped.blocked_sender": 1,
    }
    assert len(list((tmp_path / "done").iterdir())) == 3


def test_empty_and_undecodable_messages_are_quarantined_with_their_bytes(tmp_path: Path, spool: Spool) -> None:
    smsd = FakeSmsdFiles(tmp_path / "inbox")
    smsd.write("081200007777", "", WHEN, fmt="standard")
    binary = b"\x00\x01\x02\xff\xfe binary ringtone"
    smsd.write("081200008888", binary, WHEN, serial=1, ext="bin")
    smsd.write("081200009999", b"Teks 8-bit yang sah", WHEN, serial=2, ext="bin")
    connector = files_connector(tmp_path)
    make_runner(connector, spool, tmp_path).poll_once()

    assert [c["description"] for c in complaints(spool)] == ["Teks 8-bit yang sah"]
    entries = {e.error.split(":")[0]: e for e in spool.quarantined("sms-08111272206")}
    reasons = " | ".join(e.error for e in entries.values())
    assert "message is empty" in reasons
    assert "binary data" in reasons
    assert {e.payload for e in entries.values()} == {b"", binary}
    assert len(list((tmp_path / "done").iterdir())) == 3


def test_crash_between_commit_and_move_gives_no_second_complaint_after_restart(tmp_path: Path, spool: Spool) -> None:
    smsd = FakeSmsdFiles(tmp_path / "inbox")
    name = smsd.write("081200001212", "Saluran air mampet", WHEN)
    connector = files_connector(tmp_path)
    (tmp_path / "done").rmdir()
    (tmp_path / "done").write_text("not a folder")  # moving into it fails: the 'crash'
    make_runner(connector, spool, tmp_path).poll_once()
    assert len(complaints(spool)) == 1
    assert (tmp_path / "inbox" / name).exists(), "the file stays until it can be moved"

    (tmp_path / "done").unlink()
    restarted = files_connector(tmp_path)
    make_runner(restarted, spool, tmp_path).poll_once()
    assert len(complaints(spool)) == 1
    [channel] = {r.channel for r in spool.pending(10)}
    status = spool.channel_status(channel)
    assert (status["accepted"], status["duplicates"]) == (1, 1)
    assert (tmp_path / "done" / name).exists()


def test_acknowledgement_goes_to_the_outbox_once_per_sender_window(tmp_path: Path, spool: Spool) -> None:
    smsd = FakeSmsdFiles(tmp_path / "inbox")
    for serial in range(3):
        smsd.write("081200003434", f"Aduan ke-{serial}", WHEN, serial=serial)
    smsd.write("081200005656", "Aduan lain", WHEN, serial=5)
    outbox = tmp_path / "outbox"
    connector = files_connector(tmp_path, block={"outbox_path": str(outbox)}, ack={"enabled": True})
    make_runner(connector, spool, tmp_path).poll_once()
    assert not outbox.exists(), "the poll only queues acknowledgements in the spool"
    assert send_acks(spool, connector) == 2

    files = sorted(outbox.iterdir())
    assert len(complaints(spool)) == 4
    assert len(files) == 2, "one acknowledgement per sender"
    assert {f.name.split("_")[3] for f in files} == {"+6281200003434", "+6281200005656"}
    text = files[0].read_bytes()
    assert text.startswith(b"\xfe\xff")
    body = text[2:].decode("utf-16-be")
    assert body.startswith("Terima kasih, aduan Anda sudah kami terima dengan nomor KNL-")
    refs = {"KNL-" + c["id"].replace("-", "")[:8].upper() for c in complaints(spool)}
    assert any(ref in body for ref in refs)


def test_a_badly_named_inbox_file_is_quarantined_not_left_behind(tmp_path: Path, spool: Spool) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "IN-garbled.txt").write_bytes(b"Aduan tanpa nama berkas yang benar")
    (inbox / "notes.tmp").write_bytes(b"not SMSD's")
    connector = files_connector(tmp_path)
    make_runner(connector, spool, tmp_path).poll_once()
    [entry] = spool.quarantined()
    assert "not a Gammu inbox file name" in entry.error
    assert entry.payload == b"Aduan tanpa nama berkas yang benar"
    assert (tmp_path / "done" / "IN-garbled.txt").exists()
    assert (inbox / "notes.tmp").exists(), "files that are not SMSD's are left alone"


def test_a_missing_inbox_folder_is_a_transient_channel_error(tmp_path: Path) -> None:
    import pytest

    from connectors.errors import TransientError

    with pytest.raises(TransientError, match="does not exist"):
        make_connector(backend="gammu_files", gammu_files={
            "inbox_path": str(tmp_path / "nowhere"), "done_path": str(tmp_path / "done")})


def test_an_unreadable_file_is_quarantined_alone_and_the_rest_is_taken(tmp_path: Path, spool: Spool) -> None:
    smsd = FakeSmsdFiles(tmp_path / "inbox")
    first = smsd.write("6281200005555", "Trotoar ambles di depan sekolah, ", WHEN, part=0)
    broken = f"IN{WHEN:%Y%m%d}_{WHEN:%H%M%S}_00_6281200005555_01.txt"
    (tmp_path / "inbox" / broken).symlink_to("/proc/self/mem")  # a read fails with EIO, even as root
    other = smsd.write("081200006666", "Lampu taman mati", WHEN, serial=1)
    connector = files_connector(tmp_path)
    make_runner(connector, spool, tmp_path).poll_once()

    taken = {c["provider_message_id"]: c for c in complaints(spool)}
    assert set(taken) == {first, other}
    assert taken[first]["flags"] == [INCOMPLETE]
    [entry] = spool.quarantined()
    assert entry.source_id == broken
    assert "Input/output error" in entry.error
    assert broken.encode() in entry.payload
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == sorted([first, broken, other])


def test_an_emoji_cut_between_two_part_files_is_joined(tmp_path: Path, spool: Spool) -> None:
    """SMSD writes each part's UCS-2 on its own: a surrogate pair can straddle two files."""
    smsd = FakeSmsdFiles(tmp_path / "inbox")
    text = "Jalan rusak parah 🚧 mohon segera"
    units = text.encode("utf-16-be")
    cut = len("Jalan rusak parah ".encode("utf-16-be")) + 2
    smsd.write("6281200007777", b"\xfe\xff" + units[:cut], WHEN, part=0)
    standard = units[cut:].decode("utf-16-be", "surrogatepass").encode("utf-8", "surrogatepass")
    smsd.write("6281200007777", standard, WHEN, part=1)  # InboxFormat=auto: this part has no BOM
    make_runner(files_connector(tmp_path), spool, tmp_path).poll_once()

    assert [c["description"] for c in complaints(spool)] == [text]
    assert spool.quarantined() == []
