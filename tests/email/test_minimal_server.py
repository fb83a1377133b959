"""A server without MOVE and IDLE (COPY + UID EXPUNGE, plain polling); a reply in a
later poll still points at its complaint."""

from __future__ import annotations

import threading
import time

from normalizer.complaint import Complaint
from tests.email.conftest import Harness
from tests.email.mail import complaint_mail
from tests.email.proxy import CuttingProxy
from tests.email.test_idle import _idle_commands


class TestWithoutMoveAndIdle:
    def test_mail_is_copied_and_expunged_instead_of_moved(self, plain_mailbox: Harness) -> None:
        plain_mailbox.append(*(complaint_mail(n) for n in range(3)))
        connector = plain_mailbox.make()
        connector.open()
        assert not connector.client.has("MOVE")
        assert plain_mailbox.runner(connector).poll_once() == 3
        assert plain_mailbox.count("Processed") == 3
        assert plain_mailbox.count("INBOX") == 0
        assert sorted(plain_mailbox.ledger_ids()) == [f"t-{n}@warga.example.org" for n in range(3)]

    def test_the_channel_polls_when_idle_is_not_offered(self, plain_mailbox: Harness) -> None:
        proxy = CuttingProxy(plain_mailbox.server.port)
        try:
            connector = plain_mailbox.make(port=proxy.port)
            connector.open()
            plain_mailbox.runner(connector).poll_once()
            started = time.monotonic()
            connector.wait(threading.Event(), 0.8)
            assert time.monotonic() - started >= 0.75
            assert _idle_commands(proxy) == 0
        finally:
            proxy.close()


class TestRepliesAcrossPolls:
    def test_a_reply_points_at_the_complaint_taken_in_earlier(self, mailbox: Harness) -> None:
        mailbox.append(complaint_mail(1))
        connector = mailbox.make()
        connector.open()
        runner = mailbox.runner(connector)
        assert runner.poll_once() == 1
        reply = (
            b"From: Warga 1 <warga1@example.org>\r\nTo: dki@jakarta.go.id\r\n"
            b"Subject: Re: Laporan t-1\r\nMessage-ID: <reply-1@warga.example.org>\r\n"
            b"In-Reply-To: <t-1@warga.example.org>\r\nReferences: <t-1@warga.example.org>\r\n"
            b"\r\nBelum ada tindak lanjut.\r\n"
        )
        unknown = reply.replace(b"reply-1@", b"reply-2@").replace(b"t-1@", b"never-seen@")
        mailbox.append(reply, unknown)
        assert runner.poll_once() == 2
        bodies = {c.provider_message_id: c for c in map(_complaint, mailbox.spool.pending(10))}
        first = bodies["t-1@warga.example.org"].id
        assert bodies["reply-1@warga.example.org"].in_reply_to == first
        assert bodies["reply-1@warga.example.org"].conversation_key == "t-1@warga.example.org"
        assert bodies["reply-2@warga.example.org"].in_reply_to is None
        assert len(set(mailbox.ledger_ids())) == 3


def _complaint(row: object) -> Complaint:
    return Complaint.model_validate_json(row.body)  # type: ignore[attr-defined]
