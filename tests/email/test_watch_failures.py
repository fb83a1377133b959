"""A folder watcher's failures in a real `kanal run` against a real Dovecot.

The watcher of a further folder (``imap-watch-<folder>``) is the one thread of
`kanal run` that a bug does not stop the process for (connectors/email/watch.py says
why): the bug must still never be silent. As in tests/core/test_supervision*.py, the
bug is injected *in the child process* and strikes when the test says "now" (the
file ``$KANAL_TEST_FAULT``), here only in the watcher's thread. The watcher must log
it at ``error`` with its thread and traceback, `kanal status` must show it as the
channel's error, mail in that folder must still be taken in, and the process must
stay up. A transient IMAP error (the link dropped) is retried by the watcher itself
and never reaches the channel.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from tests.core.broker_kit import listen_port, wait_for
from tests.core.test_supervision import _config, _env, _status, _wait_healthy
from tests.core.test_supervision_threads import _start
from tests.email.conftest import ADDRESS, PASSWORD_ENV, Harness
from tests.email.dovecot import PASSWORD
from tests.email.mail import complaint_mail

FOLDER = "Pengaduan"
WATCHER = f"imap-watch-{FOLDER}"

#: A bug in the watcher's SELECT, in the watcher's thread only. Watchers start again
#: 1 s after such a death instead of 30 s, and the pause doubles up to 4 s instead of
#: 15 min: the watcher dies again at every restart while the fault lasts, and under
#: load that took long enough for the pause to outgrow the test's wait (a CI run).
WATCHER_BUG = """
import threading
import connectors.email.watch
from connectors.email.client import MailboxClient
connectors.email.watch.WATCHERS_AFTER_BUG = 1.0
connectors.email.watch.WATCHERS_AFTER_BUG_MAX = 4.0
select = MailboxClient.select
def faulty_select(self, *args, **kwargs):
    if threading.current_thread().name.startswith("imap-watch-") and os.path.exists(os.environ["KANAL_TEST_FAULT"]):
        raise RuntimeError("injected fault: a bug in the folder watcher")
    return select(self, *args, **kwargs)
MailboxClient.select = faulty_select
"""

#: The watcher's link drops once (what imaplib raises when the server hangs up), in the
#: watcher's thread only; the fault file is used up.
WATCHER_LINK_DROP = """
import imaplib
import threading
from imapclient import IMAPClient
select_folder = IMAPClient.select_folder
def dropping_select_folder(self, *args, **kwargs):
    fault = os.environ["KANAL_TEST_FAULT"]
    if threading.current_thread().name.startswith("imap-watch-") and os.path.exists(fault):
        os.remove(fault)
        raise imaplib.IMAP4.abort("socket error: EOF (injected: the link dropped)")
    return select_folder(self, *args, **kwargs)
IMAPClient.select_folder = dropping_select_folder
"""


def _email_config(tmp_path: Path, port: int, mailbox: Harness) -> Path:
    """The walk-in desk of test_supervision.py plus an e-mail channel reading INBOX and
    a further folder (watched by ``imap-watch-Pengaduan``); polls only every minute."""
    run = tmp_path / "run"  # the harness has a spool of its own in tmp_path
    run.mkdir()
    config = _config(run, port)
    settings = json.loads(config.read_text())
    settings["channels"].append({
        "name": "email-dki", "type": "email", "poll_interval": 60,
        "options": {"address": ADDRESS, "host": "127.0.0.1", "port": mailbox.server.port, "tls": False,
                    "username": mailbox.login, "password": "${" + PASSWORD_ENV + "}", "timeout": 10,
                    "folders": ["INBOX", FOLDER]},
    })
    config.write_text(json.dumps(settings))
    return config


def _channel(config: Path) -> dict[str, Any]:
    """The e-mail channel's entry in `kanal status --json`."""
    _code, status = _status(config, _env())
    return next(c for c in status["channels"] if c["name"] == "email-dki")


def _log_events(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def _taken_in(config: Path, count: int, what: str, timeout: float = 30) -> None:
    wait_for(lambda: _channel(config)["accepted"] == count, timeout=timeout, what=what)


def test_a_folder_watcher_bug_is_logged_shown_in_status_and_loses_no_mail(tmp_path: Path, mailbox: Harness) -> None:
    with mailbox.imap() as client:
        client.create_folder(FOLDER)
    port = listen_port()
    config = _email_config(tmp_path, port, mailbox)
    process, log = _start(tmp_path, config, WATCHER_BUG, **{PASSWORD_ENV: PASSWORD})
    try:
        _wait_healthy(port, process)
        wait_for(lambda: _channel(config)["state"] == "running", timeout=30, what="the e-mail channel to run")
        mailbox.append(complaint_mail(1, tag="before"), folder=FOLDER)
        _taken_in(config, 1, "the watched folder's mail (well before the next poll)")

        (tmp_path / "fault-now").touch()
        mailbox.append(complaint_mail(2, tag="bug"), folder=FOLDER)  # wakes the watcher: its SELECT raises

        def watcher_died() -> list[dict[str, Any]]:
            return [e for e in _log_events(log) if e.get("thread") == WATCHER and e.get("level") == "error"]

        wait_for(watcher_died, timeout=30, what="the watcher's death in the log")
        died = watcher_died()[0]
        assert died["event"].startswith("folder watcher died"), died
        assert "injected fault" in died["exception"], "the traceback is in the log"
        shown = f"thread {WATCHER} died: RuntimeError: injected fault"
        wait_for(lambda: shown in (_channel(config)["last_error"] or ""), timeout=30,
                 what="kanal status to show the watcher's death")
        _taken_in(config, 2, "the mail that arrived as the watcher died (the channel's next poll)")
        assert process.poll() is None, "kanal run stays up: only the e-mail channel backed off"

        (tmp_path / "fault-now").unlink()
        # The watchers come back (within 4 s here): mail in the folder is again
        # taken in well before the minute-long poll.
        mailbox.append(complaint_mail(3, tag="after"), folder=FOLDER)
        _taken_in(config, 3, "mail in the watched folder after the fault went away", timeout=45)
        _stop(process)
    finally:
        if process.poll() is None:
            process.kill()


def test_a_dropped_folder_watcher_link_is_retried_and_the_folder_is_watched_again(
    tmp_path: Path, mailbox: Harness
) -> None:
    with mailbox.imap() as client:
        client.create_folder(FOLDER)
    port = listen_port()
    config = _email_config(tmp_path, port, mailbox)
    process, log = _start(tmp_path, config, WATCHER_LINK_DROP, **{PASSWORD_ENV: PASSWORD})
    try:
        _wait_healthy(port, process)
        wait_for(lambda: _channel(config)["state"] == "running", timeout=30, what="the e-mail channel to run")
        (tmp_path / "fault-now").touch()
        mailbox.append(complaint_mail(1, tag="drop"), folder=FOLDER)  # wakes the watcher: its SELECT fails
        wait_for(lambda: not os.path.exists(tmp_path / "fault-now"), timeout=30, what="the link to drop")
        # Retried by the watcher 2 s later on a new connection: the mail is in long before
        # the minute-long poll, and the channel itself never failed.
        _taken_in(config, 1, "the mail, through the reconnected watcher", timeout=20)
        retried = [e for e in _log_events(log)
                   if e.get("thread") == WATCHER and e.get("event") == "folder watch failed; retrying"]
        assert retried and "the link dropped" in retried[0]["error"], retried
        assert not [e for e in _log_events(log) if e.get("level") in ("error", "critical")]
        channel = _channel(config)
        assert channel["state"] == "running" and channel["last_error"] is None, channel
        _stop(process)
    finally:
        if process.poll() is None:
            process.kill()
