"""Nothing lost, nothing twice: cursor, moves, crashes, dropped connections,
Dovecot restarts and UIDVALIDITY changes, all against a real Dovecot."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from connectors.backoff import Backoff
from connectors.base import IngestResult
from connectors.email.connector import EmailConnector
from connectors.errors import AuthFailed, TransientError
from connectors.runner import ChannelRunner
from tests.email.conftest import PASSWORD_ENV, Harness
from tests.email.mail import complaint_mail
from tests.email.proxy import CuttingProxy


class DiesBeforeMove(EmailConnector):
    """The process dies right after the spool commit, before it moves any mail."""

    def acknowledge(self, results: Sequence[IngestResult]) -> None:
        """Do nothing: the move never happens."""


def dies_before_move(mailbox: Harness) -> DiesBeforeMove:
    """A connector for ``mailbox`` whose process dies before each move."""
    template = mailbox.make()
    return DiesBeforeMove(template.context, template.options)


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    """Poll ``condition`` every 50 ms for up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def assert_each_once(mailbox: Harness, tags: Sequence[str]) -> None:
    """Every tagged message is in the spool exactly once, and nothing else is."""
    ids = Counter(mailbox.ledger_ids())
    assert set(ids) == {f"{tag}@warga.example.org" for tag in tags}
    assert all(count == 1 for count in ids.values())
    assert mailbox.spool.depth() == len(tags)


class TestCursorAndMove:
    def test_new_mail_is_taken_in_moved_and_checkpointed(self, mailbox: Harness) -> None:
        mailbox.append(*(complaint_mail(n) for n in range(5)))
        runner = mailbox.runner()
        runner.connector.open()
        assert runner.poll_once() == 5
        assert mailbox.count("INBOX") == 0
        assert mailbox.count("Processed") == 5
        cursor = mailbox.spool.load_checkpoint("email-dki")
        assert cursor["INBOX"]["last_uid"] == 5
        assert runner.poll_once() == 0
        mailbox.append(complaint_mail(5))
        assert runner.poll_once() == 1
        assert mailbox.spool.load_checkpoint("email-dki")["INBOX"]["last_uid"] == 6
        assert_each_once(mailbox, [f"t-{n}" for n in range(6)])

    def test_several_folders_each_keep_their_own_cursor(self, mailbox: Harness) -> None:
        with mailbox.imap() as client:
            client.create_folder("Pengaduan-Web")
        mailbox.append(complaint_mail(1), complaint_mail(2))
        mailbox.append(complaint_mail(3), folder="Pengaduan-Web")
        connector = mailbox.make(folders=["INBOX", "Pengaduan-Web"], processed_folder="Selesai")
        runner = mailbox.runner(connector)
        connector.open()
        assert runner.poll_once() == 3
        cursor = mailbox.spool.load_checkpoint("email-dki")
        assert cursor["INBOX"]["last_uid"] == 2 and cursor["Pengaduan-Web"]["last_uid"] == 1
        assert cursor["INBOX"]["uidvalidity"] != cursor["Pengaduan-Web"]["uidvalidity"]
        assert mailbox.count("Selesai") == 3
        assert_each_once(mailbox, ["t-1", "t-2", "t-3"])

    def test_processed_and_quarantine_folders_are_created(self, mailbox: Harness) -> None:
        connector = mailbox.make(processed_folder="Diproses", quarantine_folder="Karantina")
        connector.open()
        with mailbox.imap() as client:
            assert client.folder_exists("Diproses") and client.folder_exists("Karantina")
        connector.close()

    def test_wrong_password_is_auth_failed(
        self, own_mailbox: Harness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # own Dovecot: failed logins make Dovecot slow down later logins from the same IP
        monkeypatch.setenv("KANAL_TEST_WRONG_PASSWORD", "bukan-ini")
        connector = own_mailbox.make(password="${KANAL_TEST_WRONG_PASSWORD}")
        with pytest.raises(AuthFailed):
            connector.open()

    def test_nothing_listening_is_transient(self, mailbox: Harness) -> None:
        from tests.email.dovecot import free_port

        with pytest.raises(TransientError):
            mailbox.make(port=free_port()).open()


class TestCrashes:
    def test_crash_between_commit_and_move_gives_no_second_complaint(
        self, mailbox: Harness
    ) -> None:
        mailbox.append(*(complaint_mail(n) for n in range(4)))
        crashed = dies_before_move(mailbox)
        crashed_runner = mailbox.runner(crashed)
        crashed.open()
        assert crashed_runner.poll_once() == 4
        assert mailbox.count("INBOX") == 4  # committed, never moved
        crashed.client.drop()

        mailbox.append(complaint_mail(4))
        restarted = mailbox.make()
        restarted.open()
        assert mailbox.runner(restarted).poll_once() == 5  # 4 leftovers re-offered + 1 new
        assert mailbox.count("INBOX") == 0
        assert mailbox.count("Processed") == 5
        assert_each_once(mailbox, [f"t-{n}" for n in range(5)])
        status = mailbox.spool.channel_status("email-dki")
        assert (status["accepted"], status["duplicates"]) == (5, 4)

    def test_connection_dropped_in_the_middle_of_a_fetch(self, mailbox: Harness) -> None:
        mailbox.append(*(complaint_mail(n, photo_bytes=3000) for n in range(20)))
        proxy = CuttingProxy(mailbox.server.port)
        try:
            connector = mailbox.make(port=proxy.port, fetch_chunk=4)
            runner = mailbox.runner(connector, batch_size=4)
            connector.open()
            proxy.cut_after(0)  # the next connection is cut as soon as the server speaks
            connector.client.drop()
            with pytest.raises(TransientError):
                runner.poll_once()
            proxy.cut_after(35_000)  # about half-way through the mailbox
            with pytest.raises(TransientError):
                runner.poll_once()
            assert proxy.cuts == 2
            partial = mailbox.spool.depth()
            assert 0 < partial < 20
            assert runner.poll_once() >= 20 - partial
        finally:
            proxy.close()
        assert mailbox.count("INBOX") == 0
        assert mailbox.count("Processed") == 20
        assert_each_once(mailbox, [f"t-{n}" for n in range(20)])

    def test_dovecot_restart_in_the_middle_of_a_fetch(self, own_mailbox: Harness) -> None:
        mailbox = own_mailbox
        mailbox.append(*(complaint_mail(n, photo_bytes=2000) for n in range(20)))
        connector = mailbox.make(fetch_chunk=5)
        runner = mailbox.runner(connector)
        connector.open()
        fetched = connector.fetch(mailbox.spool.load_checkpoint("email-dki"))
        first = [next(fetched) for _ in range(5)]  # one FETCH of five, as the runner would
        runner.ingest(first, first[-1].checkpoint)
        assert mailbox.spool.depth() == 5
        mailbox.server.stop()  # the server goes away before the next FETCH
        with pytest.raises(TransientError):
            next(fetched)
        mailbox.server.start()
        assert runner.poll_once() == 15
        assert mailbox.spool.load_checkpoint("email-dki")["INBOX"]["last_uid"] == 20
        assert mailbox.count("INBOX") == 0
        assert_each_once(mailbox, [f"t-{n}" for n in range(20)])

    def test_dovecot_restart_while_the_channel_runs(self, own_mailbox: Harness) -> None:
        mailbox = own_mailbox
        stop = threading.Event()
        # The subject is what survives a restart, not how long the backoff waits: the
        # shipped policy scaled down so that a slow machine cannot outwait the test.
        runner = mailbox.runner(stop=stop, backoff=Backoff(base=0.05, transient_cap=0.5))
        thread = threading.Thread(target=runner.run, daemon=True)
        mailbox.append(*(complaint_mail(n) for n in range(3)))
        thread.start()
        try:
            assert wait_for(lambda: mailbox.spool.depth() == 3, 10)
            mailbox.server.stop()
            time.sleep(0.5)
            mailbox.server.start()
            mailbox.append(*(complaint_mail(n) for n in range(3, 8)))
            assert wait_for(lambda: mailbox.spool.depth() == 8, 20), mailbox.spool.depth()
        finally:
            stop.set()
            thread.join(10)
        assert not thread.is_alive()
        last_error = mailbox.spool.channel_status("email-dki")["last_error"]
        assert last_error and "IMAP" in last_error  # the restart really cut the channel off
        assert mailbox.count("INBOX") == 0
        assert_each_once(mailbox, [f"t-{n}" for n in range(8)])


class TestUidValidity:
    def _set_uidvalidity(self, mailbox: Harness, folder: str, value: int) -> None:
        subprocess.run(
            [
                "doveadm",
                "-c",
                str(mailbox.server.base / "dovecot.conf"),
                "mailbox",
                "update",
                "-u",
                mailbox.login,
                "--uid-validity",
                str(value),
                folder,
            ],
            check=True,
            capture_output=True,
        )

    def test_changed_uidvalidity_rescans_without_doubles(self, mailbox: Harness) -> None:
        mailbox.append(*(complaint_mail(n) for n in range(3)))
        crashed = dies_before_move(mailbox)
        crashed.open()
        assert mailbox.runner(crashed).poll_once() == 3
        crashed.close()
        old = mailbox.spool.load_checkpoint("email-dki")["INBOX"]["uidvalidity"]
        self._set_uidvalidity(mailbox, "INBOX", old + 1000)
        mailbox.append(complaint_mail(3))

        connector = mailbox.make()
        connector.open()
        assert mailbox.runner(connector).poll_once() == 4
        assert mailbox.spool.load_checkpoint("email-dki")["INBOX"] == {
            "uidvalidity": old + 1000,
            "last_uid": 4,
        }
        assert mailbox.count("INBOX") == 0
        assert_each_once(mailbox, [f"t-{n}" for n in range(4)])

    def test_recreated_folder_with_lower_uids_is_not_missed(self, mailbox: Harness) -> None:
        with mailbox.imap() as client:
            client.create_folder("Pengaduan")
        mailbox.append(*(complaint_mail(n) for n in range(3)), folder="Pengaduan")
        connector = mailbox.make(folders=["Pengaduan"])
        connector.open()
        runner = mailbox.runner(connector)
        assert runner.poll_once() == 3
        with mailbox.imap() as client:  # the folder is restored on a new server: UIDs start again
            client.delete_folder("Pengaduan")
            client.create_folder("Pengaduan")
        mailbox.append(complaint_mail(0), complaint_mail(9), folder="Pengaduan")
        assert runner.poll_once() == 2
        cursor = mailbox.spool.load_checkpoint("email-dki")["Pengaduan"]
        assert cursor["last_uid"] == 2
        assert_each_once(mailbox, ["t-0", "t-1", "t-2", "t-9"])


class TestFetchBatches:
    def test_fetches_are_bounded_by_bytes_as_well_as_count(self, mailbox: Harness) -> None:
        mailbox.append(*(complaint_mail(n, photo_bytes=20_000) for n in range(6)))
        proxy = CuttingProxy(mailbox.server.port)
        try:
            connector = mailbox.make(port=proxy.port, fetch_chunk=50, fetch_max_bytes=60_000)
            connector.open()
            assert mailbox.runner(connector).poll_once() == 6
        finally:
            proxy.close()
        body_fetches = bytes(proxy.client_bytes).count(b"BODY.PEEK[]")
        assert body_fetches == 3  # two ~28 kB messages per FETCH
        assert_each_once(mailbox, [f"t-{n}" for n in range(6)])


class TestStatusAndBackoff:
    def _run_until(self, runner_of: Callable[[threading.Event], ChannelRunner], state: str, mailbox: Harness) -> None:
        stop = threading.Event()
        thread = threading.Thread(target=runner_of(stop).run, daemon=True)
        thread.start()
        try:
            assert wait_for(lambda: (mailbox.spool.channel_status("email-dki") or {}).get("state") == state, 20)
        finally:
            stop.set()
            thread.join(10)
        assert not thread.is_alive()

    def _status(self, mailbox: Harness, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
        config = tmp_path / "kanal.yaml"
        config.write_text(
            f"spool: {{path: {mailbox.spool.path}}}\n"
            "channels:\n"
            "  - name: email-dki\n"
            "    type: email\n"
            f"    options: {{address: dki@jakarta.go.id, host: 127.0.0.1, port: {mailbox.server.port},"
            f" tls: false, username: {mailbox.login}, password: '${{{PASSWORD_ENV}}}'}}\n",
            encoding="utf-8",
        )
        return subprocess.run(
            [sys.executable, "-m", "kanal", "status", "--config", str(config), *args],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True,
        )

    def test_status_shows_the_login_error_as_text_and_as_past_once_recovered(
        self, own_mailbox: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        mailbox = own_mailbox
        monkeypatch.setenv("KANAL_TEST_WRONG_PASSWORD", "bukan-ini")
        wrong = mailbox.make(password="${KANAL_TEST_WRONG_PASSWORD}")
        self._run_until(lambda stop: mailbox.runner(wrong, stop=stop), "auth_failed", mailbox)

        failing = json.loads(self._status(mailbox, tmp_path, "--json").stdout)["channels"][0]
        assert failing["last_error"] == "IMAP login refused: [AUTHENTICATIONFAILED] Authentication failed."
        assert failing["last_error_past"] is False
        assert failing["last_error_at"] > time.time() - 60

        self._run_until(lambda stop: mailbox.runner(stop=stop), "running", mailbox)  # the password was fixed
        recovered = json.loads(self._status(mailbox, tmp_path, "--json").stdout)["channels"][0]
        assert recovered["last_error_past"] is True  # a poll succeeded after the error
        text = self._status(mailbox, tmp_path).stdout
        [line] = [line for line in text.splitlines() if "last error" in line]
        assert "(recovered)" in line and "[AUTHENTICATIONFAILED] Authentication failed." in line
        assert "b'" not in line
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ", line)

    def test_a_stopped_server_is_noticed_within_the_transient_cap_after_many_failures(
        self, own_mailbox: Harness
    ) -> None:
        mailbox = own_mailbox
        # The shipped policy scaled down 120 times: 60 s cap -> 0.5 s, 300 s auth wait -> 2.5 s.
        policy = Backoff(base=1 / 120, transient_cap=0.5, auth_retry=2.5, rng=random.Random(1))
        mailbox.server.stop()
        stop = threading.Event()
        runner = ChannelRunner(mailbox.make(), mailbox.spool, mailbox.store, stop=stop, backoff=policy)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        try:
            # about 7 s of outage (14 caps): the growing waits have long reached the cap
            assert wait_for(lambda: _attempts(mailbox) >= 20, 30), mailbox.spool.channel_status("email-dki")
            mailbox.server.start()
            mailbox.append(complaint_mail(1))
            started = time.monotonic()
            assert wait_for(lambda: mailbox.spool.depth() == 1, 10)
            assert time.monotonic() - started < 0.5 + 2.0  # the cap plus a connect, a fetch and a commit
        finally:
            stop.set()
            thread.join(10)
        assert not thread.is_alive()


def _attempts(mailbox: Harness) -> int:
    detail = (mailbox.spool.channel_status("email-dki") or {}).get("detail") or ""
    found = re.match(r"attempt (\d+),", detail)
    return int(found.group(1)) if found else 0


class TestSharedMessageId:
    """The complaint id rests on the Message-ID *and* a digest of the mail itself: the same
    mail found twice is one complaint, two mails that share a Message-ID are two."""

    def test_the_same_mail_in_two_folders_or_relayed_again_is_one_complaint(self, mailbox: Harness) -> None:
        with mailbox.imap() as client:
            client.create_folder("Pengaduan-Web")
        mail = complaint_mail(1, photo_bytes=2_000)
        relayed = b"Received: from relay.example.net by mx.jakarta.go.id; Tue, 24 Nov 2026 08:01:00 +0700\r\n" + mail
        mailbox.append(mail)
        mailbox.append(mail, relayed, folder="Pengaduan-Web")
        connector = mailbox.make(folders=["INBOX", "Pengaduan-Web"])
        runner = mailbox.runner(connector)
        connector.open()
        assert runner.poll_once() == 3

        assert_each_once(mailbox, ["t-1"])
        status = mailbox.spool.channel_status("email-dki")
        assert (status["accepted"], status["duplicates"]) == (1, 2)

    def test_two_different_mails_with_one_message_id_are_two_complaints(self, mailbox: Harness) -> None:
        first = complaint_mail(1)
        second = first.replace(b"tersumbat sejak kemarin", b"meluap ke jalan pagi ini")
        assert second != first
        mailbox.append(first)
        runner = mailbox.runner()
        runner.connector.open()
        assert runner.poll_once() == 1
        mailbox.append(second, first)  # the second mail, and the first one fetched again
        assert runner.poll_once() == 2

        assert mailbox.ledger_ids() == ["t-1@warga.example.org"] * 2
        bodies = [json.loads(row.body) for row in mailbox.spool.pending(10)]
        assert ["meluap" in b["description"] for b in bodies] == [False, True]
        assert bodies[0]["id"] != bodies[1]["id"]
        assert {b["conversation_key"] for b in bodies} == {"t-1@warga.example.org"}
