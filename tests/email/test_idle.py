"""Push with IMAP IDLE against a real Dovecot: latency (every folder), renewal, stop, fallback."""

from __future__ import annotations

import threading
import time

from tests.email.conftest import Harness
from tests.email.mail import complaint_mail
from tests.email.proxy import CuttingProxy
from tests.email.test_delivery import wait_for


def _idle_commands(proxy: CuttingProxy) -> int:
    return sum(1 for line in bytes(proxy.client_bytes).split(b"\r\n") if line.endswith(b" IDLE"))


class TestIdle:
    def test_appended_mail_is_in_the_spool_within_two_seconds(self, mailbox: Harness) -> None:
        stop = threading.Event()
        proxy = CuttingProxy(mailbox.server.port)  # to see the IDLE go out
        connector = mailbox.make(port=proxy.port)
        connector.context = type(connector.context)(
            **{**connector.context.__dict__, "poll_interval": 60}
        )
        runner = mailbox.runner(connector, stop=stop)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        try:
            assert wait_for(lambda: mailbox.spool.load_checkpoint("email-dki") is not None, 5)
            # The channel is in IDLE now; the next poll is a minute away.
            assert wait_for(lambda: _idle_commands(proxy) >= 1, 10), "the channel never sent IDLE"
            latencies = []
            for n in range(3):
                started = time.monotonic()
                mailbox.append(complaint_mail(n))
                assert wait_for(lambda n=n: mailbox.spool.depth() == n + 1, 2.0), (
                    f"message {n} not in 2 s"
                )
                latencies.append(time.monotonic() - started)
            assert max(latencies) < 2.0
        finally:
            stop.set()
            thread.join(5)
            proxy.close()
        assert not thread.is_alive()

    def test_mail_in_every_configured_folder_is_in_the_spool_within_two_seconds(self, mailbox: Harness) -> None:
        folders = ["INBOX", "Pengaduan", "Dinas Tata Air"]
        with mailbox.imap() as client:
            for folder in folders[1:]:
                client.create_folder(folder)
        stop = threading.Event()
        proxy = CuttingProxy(mailbox.server.port)  # to see the IDLEs go out
        connector = mailbox.make(folders=folders, port=proxy.port)  # poll_interval 30 s: only push is fast enough
        runner = mailbox.runner(connector, stop=stop)
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        try:
            assert wait_for(lambda: mailbox.spool.load_checkpoint("email-dki") is not None, 5)
            # The channel and the watchers of the other folders are in IDLE now (one each).
            assert wait_for(lambda: _idle_commands(proxy) >= len(folders), 10), "not every folder is watched"
            for n, folder in enumerate([*reversed(folders), *folders]):
                mailbox.append(complaint_mail(n, tag=f"f{n}"), folder=folder)
                assert wait_for(lambda n=n: mailbox.spool.depth() == n + 1, 2.0), f"mail in {folder} not in 2 s"
        finally:
            stop.set()
            thread.join(5)
            proxy.close()
        assert not thread.is_alive()
        assert not [t for t in threading.enumerate() if t.name.startswith("imap-watch-")], "watchers left running"
        assert mailbox.count("Processed") == 6

    def test_stop_wakes_the_idle_promptly(self, mailbox: Harness) -> None:
        connector = mailbox.make()
        connector.open()
        mailbox.runner(connector).poll_once()
        stop = threading.Event()
        threading.Timer(0.3, stop.set).start()
        started = time.monotonic()
        connector.wait(stop, 30)
        assert time.monotonic() - started < 1.5
        connector.close()

    def test_idle_is_renewed_and_still_sees_new_mail(self, mailbox: Harness) -> None:
        proxy = CuttingProxy(mailbox.server.port)
        try:
            connector = mailbox.make(port=proxy.port, idle_renew_seconds=0.4)
            connector.open()
            mailbox.runner(connector).poll_once()
            threading.Timer(1.5, lambda: mailbox.append(complaint_mail(1))).start()
            started = time.monotonic()
            connector.wait(threading.Event(), 10)
            waited = time.monotonic() - started
            assert 1.4 < waited < 3.0  # woken by the new mail, not by the timeout
            assert _idle_commands(proxy) >= 3  # renewed every 0.4 s
            connector.close()
        finally:
            proxy.close()

    def test_mail_that_arrived_before_the_idle_is_not_waited_for(self, mailbox: Harness) -> None:
        connector = mailbox.make()
        connector.open()
        mailbox.runner(connector).poll_once()
        mailbox.append(complaint_mail(1))
        started = time.monotonic()
        connector.wait(threading.Event(), 10)
        assert time.monotonic() - started < 1.0
        connector.close()

    def test_without_idle_the_channel_sleeps_until_the_next_poll(self, mailbox: Harness) -> None:
        proxy = CuttingProxy(mailbox.server.port)
        try:
            connector = mailbox.make(port=proxy.port, idle=False)
            connector.open()
            mailbox.runner(connector).poll_once()
            threading.Timer(0.2, lambda: mailbox.append(complaint_mail(1))).start()
            started = time.monotonic()
            connector.wait(threading.Event(), 1.0)
            assert time.monotonic() - started >= 0.95
            assert _idle_commands(proxy) == 0
            connector.close()
        finally:
            proxy.close()

    def test_idle_on_a_dead_connection_does_not_raise(self, mailbox: Harness) -> None:
        proxy = CuttingProxy(mailbox.server.port)
        connector = mailbox.make(port=proxy.port)
        connector.open()
        mailbox.runner(connector).poll_once()
        threading.Timer(0.3, proxy.close).start()  # the link dies while the channel IDLEs
        started = time.monotonic()
        connector.wait(threading.Event(), 5)
        assert time.monotonic() - started < 2
        assert not connector.client.connected
