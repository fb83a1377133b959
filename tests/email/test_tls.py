"""TLS against a real Dovecot with a self-signed certificate for ``localhost``:
certificates are checked by default, a configured CA is trusted, the host name
must match, and STARTTLS works on the plain port."""

from __future__ import annotations

import pytest

from connectors.errors import TransientError
from tests.email.conftest import Harness
from tests.email.mail import complaint_mail


class TestTls:
    def test_an_untrusted_certificate_is_refused_by_default(self, tls_mailbox: Harness) -> None:
        connector = tls_mailbox.make(host="localhost", port=tls_mailbox.server.imaps_port, tls=True)
        with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED"):
            connector.open()

    def test_a_configured_ca_is_trusted_and_mail_flows(self, tls_mailbox: Harness) -> None:
        tls_mailbox.append(complaint_mail(1))
        connector = tls_mailbox.make(
            host="localhost",
            port=tls_mailbox.server.imaps_port,
            tls=True,
            ca_file=str(tls_mailbox.server.cert_file),
        )
        connector.open()
        assert tls_mailbox.runner(connector).poll_once() == 1
        connector.close()

    def test_a_host_name_the_certificate_does_not_name_is_refused(
        self, tls_mailbox: Harness
    ) -> None:
        connector = tls_mailbox.make(
            host="127.0.0.1",
            port=tls_mailbox.server.imaps_port,
            tls=True,
            ca_file=str(tls_mailbox.server.cert_file),
        )
        with pytest.raises(TransientError, match="CERTIFICATE_VERIFY_FAILED|match"):
            connector.open()

    def test_starttls_on_the_plain_port(self, tls_mailbox: Harness) -> None:
        tls_mailbox.append(complaint_mail(2))
        connector = tls_mailbox.make(
            host="localhost", tls=False, starttls=True, ca_file=str(tls_mailbox.server.cert_file)
        )
        connector.open()
        assert tls_mailbox.runner(connector).poll_once() == 1
        connector.close()
