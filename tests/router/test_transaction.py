"""The router's AMQP connection and channel (router/transaction.py)."""

from __future__ import annotations

import pytest

from router.transaction import router_connection


def test_an_amqps_url_keeps_tls_and_an_amqp_url_has_none():
    secure = router_connection("amqps://kanal@rabbit.example.org:5671/dki")
    plain = router_connection("amqp://kanal@rabbit.example.org:5672/dki")
    for conn in (secure, plain):
        assert conn.transport is not None  # made now: the TLS transport sets ssl when it is made
    assert secure.ssl
    assert not plain.ssl
    assert (secure.hostname, secure.port, secure.virtual_host) == ("rabbit.example.org", 5671, "dki")


@pytest.mark.rabbitmq
def test_the_router_tells_the_broker_it_takes_no_blocked_notices(amqp_url):
    """With them on, py-amqp reads the socket before every publish; the router has no use for them."""
    with router_connection(amqp_url) as conn:
        conn.ensure_connection(max_retries=1)
        capabilities = conn.connection.client_properties["capabilities"]
        assert capabilities["connection.blocked"] is False
        assert capabilities["consumer_cancel_notify"] is True  # the others as py-amqp negotiates them
