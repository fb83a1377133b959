"""The corpus of made-up mail: every message becomes exactly one complaint, one
intentional drop with its reason, or one quarantine entry — never nothing."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from connectors.base import Accept, Drop, RawMessage
from connectors.errors import NormaliseError
from normalizer.complaint import Complaint
from tests.email.conftest import ADDRESS, Harness
from tests.email.corpus import CORPUS, CorpusMail
from tests.email.corpus.messages import MAX_FILE_BYTES, MAX_MESSAGE_BYTES

BY_NAME = {mail.name: mail for mail in CORPUS}
RECEIVED = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def _id_of(name: str) -> str:
    mid = BY_NAME[name].message_id
    assert mid is not None
    return mid


def check_complaint(mail: CorpusMail, complaint: Complaint, linked: dict[str, Complaint] | None) -> None:
    """Assert what the corpus entry expects of its complaint; ``linked`` (the complaints by
    Message-ID) when it went through the runner, which resolves ``in_reply_to``."""
    expect = mail.expect
    assert complaint.channel.account == ADDRESS
    assert complaint.requested_datetime.tzinfo is not None
    if expect.title is not None or mail.name == "no_subject":
        assert complaint.title == expect.title
    for text in expect.contains:
        assert text in complaint.description, (mail.name, complaint.description)
    for text in expect.absent:
        assert text not in complaint.description, (mail.name, complaint.description)
    kept = [a for a in complaint.attachments if a.stored_ref]
    assert len(kept) == expect.kept, (mail.name, complaint.attachments)
    omitted = tuple(a.omitted_reason for a in complaint.attachments if a.omitted_reason)
    assert omitted == expect.omitted, (mail.name, complaint.attachments)
    names = [a.filename for a in complaint.attachments]
    for name in expect.filenames:
        assert name in names, (mail.name, names)
    for item in complaint.attachments:
        assert item.sha256 and item.size is not None and item.content_type
        assert item.filename is None or "/" not in item.filename
    if expect.context:
        assert complaint.context and expect.context in complaint.context
    for flag in expect.flags:
        assert flag in complaint.flags
    if expect.reporter:
        assert complaint.reporter.email == expect.reporter
    assert complaint.description_truncated is expect.truncated
    if expect.hashed_id:
        assert complaint.provider_message_id.startswith("sha256:")
    else:
        assert complaint.provider_message_id == mail.message_id
    if expect.conversation:
        assert complaint.conversation_key == _id_of(expect.conversation)
    if linked is None:
        assert complaint.in_reply_to is None, "the runner resolves it"
    elif expect.in_reply_to:
        assert complaint.in_reply_to == linked[_id_of(expect.in_reply_to)].id
    else:
        assert complaint.in_reply_to is None


class TestCorpusNormalise:
    """Each corpus message through the pure normaliser."""

    def test_corpus_is_big_and_varied_enough(self) -> None:
        kinds = Counter(mail.expect.kind for mail in CORPUS)
        assert len(CORPUS) >= 40
        assert kinds["complaint"] and kinds["drop"] and kinds["quarantine"]

    @pytest.mark.parametrize("mail", CORPUS, ids=lambda m: m.name)
    def test_message_normalises_as_expected(self, mail: CorpusMail, mailbox: Harness) -> None:
        connector = mailbox.make(max_file_bytes=MAX_FILE_BYTES, max_message_bytes=MAX_MESSAGE_BYTES)
        raw = RawMessage("INBOX/1/1", mail.raw, RECEIVED)
        if mail.expect.kind == "quarantine":
            with pytest.raises(NormaliseError):
                connector.normalise(raw)
            return
        result = connector.normalise(raw)
        if mail.expect.kind == "drop":
            assert result == Drop(mail.expect.reason)
            return
        assert isinstance(result, Accept)
        check_complaint(mail, result.complaint, linked=None)
        if mail.expect.in_reply_to:
            assert result.replies_to == _id_of(mail.expect.in_reply_to)
        assert set(result.blobs) == {a.sha256 for a in result.complaint.attachments if a.stored_ref}


class TestCorpusThroughDovecot:
    """The whole corpus delivered to a real Dovecot and read by the channel."""

    def test_every_message_ends_exactly_once(self, mailbox: Harness) -> None:
        mailbox.append(*(mail.raw for mail in CORPUS))
        connector = mailbox.make(
            max_file_bytes=MAX_FILE_BYTES, max_message_bytes=MAX_MESSAGE_BYTES, fetch_chunk=7
        )
        runner = mailbox.runner(connector, batch_size=10)
        connector.open()
        assert runner.poll_once() == len(CORPUS)

        expected = Counter(m.expect.kind for m in CORPUS)
        bodies = [json.loads(row.body) for row in mailbox.spool.pending(1000)]
        assert len(bodies) == expected["complaint"]
        by_pmid = {b["provider_message_id"]: Complaint.model_validate(b) for b in bodies}
        assert len(by_pmid) == len(bodies)
        for mail in CORPUS:
            if mail.expect.kind != "complaint":
                continue
            key = mail.message_id or next(  # of the mail without a usable Message-ID, the one with its text
                k for k, c in by_pmid.items() if k.startswith("sha256:") and mail.expect.contains[0] in c.description)
            complaint = by_pmid[key]
            check_complaint(mail, complaint, linked=by_pmid)
            archived = mailbox.spool.raw(complaint.raw_ref)
            served = mail.raw.replace(b"\x00", b"\x80")  # as Dovecot serves a NUL
            assert archived is not None
            if any(a.omitted_reason in ("too_large", "message_cap") for a in complaint.attachments):
                # Files left out for their size are left out of the archive too (markers instead).
                assert archived[1]["archived"] == "reduced" and b"X-Kanal-Omitted: " in archived[0]
                assert len(archived[0]) < len(mail.raw)
            else:
                assert archived[0].replace(b"\r\n", b"\n") == served.replace(b"\r\n", b"\n")
            for item in complaint.attachments:
                if item.stored_ref:
                    assert mailbox.store.get(item.sha256) != b""

        counters = mailbox.spool.counters("email-dki")
        drops = Counter(f"dropped.{m.expect.reason}" for m in CORPUS if m.expect.kind == "drop")
        assert counters == dict(drops)
        quarantined = mailbox.spool.quarantined("email-dki")
        assert len(quarantined) == expected["quarantine"]
        assert (
            quarantined[0].payload.startswith(b"\xff\xfe")
            and "no header fields" in quarantined[0].error
        )

        assert mailbox.count("INBOX") == 0
        assert mailbox.count("Processed") == expected["complaint"] + expected["drop"]
        assert mailbox.count("Quarantine") == expected["quarantine"]

    def test_every_message_taken_in_parts_reads_as_when_downloaded_whole(self, mailbox: Harness) -> None:
        """``max_download_bytes: 1``: every mail is taken as header, texts and stubs."""
        mailbox.append(*(mail.raw for mail in CORPUS))
        caps = {"max_file_bytes": MAX_FILE_BYTES, "max_message_bytes": MAX_MESSAGE_BYTES}
        connector = mailbox.make(max_download_bytes=1, **caps)
        connector.open()
        assert mailbox.runner(connector).poll_once() == len(CORPUS)

        taken = {c.provider_message_id: c for c in map(Complaint.model_validate_json, (
            row.body for row in mailbox.spool.pending(1000)))}
        whole = mailbox.make(**caps)
        expected = Counter(m.expect.kind for m in CORPUS)
        assert len(taken) == expected["complaint"]
        for mail in CORPUS:
            if mail.expect.kind != "complaint":
                continue
            result = whole.normalise(RawMessage("INBOX/1/1", mail.raw.replace(b"\x00", b"\x80"), RECEIVED))
            assert isinstance(result, Accept)
            want = result.complaint
            got = taken[want.provider_message_id] if mail.message_id else next(
                c for k, c in taken.items() if k.startswith("sha256:") and c.description == want.description)
            assert (got.title, got.description, got.context, got.reporter) == (
                want.title, want.description, want.context, want.reporter), mail.name
            assert [a.filename for a in got.attachments] == [a.filename for a in want.attachments], mail.name
            assert all(a.omitted_reason for a in got.attachments), "no file was downloaded"
        assert dict(mailbox.spool.counters("email-dki")) == dict(
            Counter(f"dropped.{m.expect.reason}" for m in CORPUS if m.expect.kind == "drop"))
        assert len(mailbox.spool.quarantined("email-dki")) == expected["quarantine"]
