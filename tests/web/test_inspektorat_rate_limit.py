"""The Inspektorat form's rate limit counts the client, also behind a trusted proxy."""

from __future__ import annotations

import re

import pytest
from werkzeug.test import Client

from connectors.attachments import LocalAttachmentStore
from connectors.proxies import TrustedProxies
from connectors.runner import ChannelRunner
from kanal.inspektorat.app import InspektoratApp
from kanal.spool import Spool
from tests.core.conftest import make_walkin

PROXY = "10.0.0.5"


@pytest.fixture(name="form")
def _form(tmp_path):
    """report(peer, forwarded_for=None) -> HTTP status of one report sent from ``peer``."""
    connector = make_walkin(tmp_path, name="inspektorat", confidential=True, inspektorat_form=True)
    spool = Spool(tmp_path / "spool.db")
    runner = ChannelRunner(connector, spool, LocalAttachmentStore(tmp_path / "att"))
    client = Client(InspektoratApp(runner, 200_000, 600_000, reports_per_hour=2,
                                   trusted_proxies=TrustedProxies([PROXY])))

    def report(peer: str, forwarded_for: str | None = None) -> int:
        environ = {"REMOTE_ADDR": peer}
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        page = client.get("/", environ_overrides=environ, headers=headers).text
        fields = dict(re.findall(r'name="(csrf|key)" value="([^"]+)"', page))
        data = {**fields, "what": "Pungutan liar saat mengurus surat keterangan."}
        return client.post("/", data=data, environ_overrides=environ, headers=headers).status_code

    yield report, spool
    spool.close()


def test_two_citizens_behind_the_trusted_proxy_each_have_their_own_limit(form):
    report, spool = form
    assert [report(PROXY, "198.51.100.7") for _ in range(3)] == [200, 200, 429]
    # The proxy appends the peer it got the request from; what the client wrote before it counts for nothing.
    assert report(PROXY, "198.51.100.7, 198.51.100.8") == 200
    assert spool.depth() == 3


def test_a_client_that_is_no_trusted_proxy_cannot_name_another_address(form):
    report, spool = form
    assert [report("203.0.113.9", f"198.51.100.{i}") for i in range(3)] == [200, 200, 429]
    assert spool.depth() == 2
