"""``kanal quarantine retry`` for e-mail against the real Dovecot: a retry that succeeds
moves the mail from the Quarantine folder to Processed; one that still fails, and
other mail in Quarantine, stay where they are."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

from config.loader import LoadedConfig, load_config
from connectors.base import Outcome, RawMessage
from connectors.registry import options_model
from kanal.quarantine import retry_entries
from tests.email.conftest import ADDRESS, PASSWORD_ENV, Harness
from tests.email.mail import complaint_mail

NOT_MAIL = b"\xff\xfe\x00garbage this is not mail at all\r\n"


def _config(mailbox: Harness, tmp_path: Path) -> LoadedConfig:
    path = tmp_path / "kanal.yaml"
    path.write_text(textwrap.dedent(f"""\
        spool: {{path: {mailbox.spool.path}}}
        attachments: {{path: {tmp_path / "attachments"}}}
        channels:
          - name: email-dki
            type: email
            options:
              address: {ADDRESS}
              host: 127.0.0.1
              port: {mailbox.server.port}
              tls: false
              username: {mailbox.login}
              password: ${{{PASSWORD_ENV}}}
        """), encoding="utf-8")
    return load_config(path, options_model)


def _left_behind_by_a_bug(mailbox: Harness, uid: int, payload: bytes) -> None:
    """What an older Kanal with a normaliser bug left: the entry in the spool's quarantine
    and the mail in the Quarantine folder."""
    raw = RawMessage(f"INBOX/1/{uid}", payload, datetime.now(UTC), {"folder": "INBOX", "uidvalidity": 1, "uid": uid})
    mailbox.spool.commit("email-dki", "email", [Outcome(raw, "quarantined", reason="KeyError: fixed since")])
    with mailbox.imap() as client:
        client.create_folder("Quarantine") if not client.folder_exists("Quarantine") else None
        client.append("Quarantine", payload)


def _messages(mailbox: Harness, folder: str) -> list[bytes]:
    with mailbox.imap() as client:
        if not client.folder_exists(folder):
            return []
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        return [item[b"BODY[]"] for item in client.fetch(uids, [b"BODY.PEEK[]"]).values()] if uids else []


class TestQuarantineRetry:
    def test_a_successful_retry_moves_the_mail_from_quarantine_to_processed(
        self, mailbox: Harness, tmp_path: Path
    ) -> None:
        fixed, unrelated = complaint_mail(1), complaint_mail(2)
        _left_behind_by_a_bug(mailbox, 7, fixed)
        mailbox.append(unrelated, folder="Quarantine")  # some other mail an operator put there
        loaded = _config(mailbox, tmp_path)
        [entry] = mailbox.spool.quarantined("email-dki")

        assert retry_entries(loaded, [entry.qid], None) == 0

        assert _messages(mailbox, "Processed") == [fixed]
        assert _messages(mailbox, "Quarantine") == [unrelated]
        assert mailbox.spool.depth() == 1

    def test_a_retry_of_mail_without_message_id_finds_it_by_its_bytes(
        self, mailbox: Harness, tmp_path: Path
    ) -> None:
        fixed = complaint_mail(3).replace(b"Message-ID: <t-3@warga.example.org>\r\n", b"")
        assert b"Message-ID" not in fixed
        _left_behind_by_a_bug(mailbox, 8, fixed)
        mailbox.append(complaint_mail(4), folder="Quarantine")

        assert retry_entries(_config(mailbox, tmp_path), [], "email-dki") == 0

        assert _messages(mailbox, "Processed") == [fixed]
        assert len(_messages(mailbox, "Quarantine")) == 1

    def test_a_retry_that_still_fails_leaves_the_mail_in_quarantine(self, mailbox: Harness, tmp_path: Path) -> None:
        mailbox.append(NOT_MAIL)
        connector = mailbox.make()
        connector.open()
        assert mailbox.runner(connector).poll_once() == 1
        connector.close()
        assert mailbox.count("Quarantine") == 1

        assert retry_entries(_config(mailbox, tmp_path), [], "email-dki") == 1

        assert mailbox.count("Quarantine") == 1
        assert mailbox.count("Processed") == 0
