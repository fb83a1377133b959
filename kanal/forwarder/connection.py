"""The forwarder's broker connection: its pika parameters, a safe label and short
error descriptions for logs."""

from __future__ import annotations

import pika

from config.models import BrokerConfig

#: How long the broker gets to answer a connection close before the socket is dropped.
CLOSE_GRACE = 2.0


def connection_parameters(broker: BrokerConfig) -> pika.URLParameters:
    """pika parameters for ``broker``: its URL with the ``password`` secret, and the
    configured heartbeat and blocked-connection timeout.

    Raises:
        ValueError: no broker URL is configured (the embedded default has no broker).
    """
    params = pika.URLParameters(broker.connection_url())
    params.heartbeat = broker.heartbeat
    params.blocked_connection_timeout = broker.blocked_connection_timeout
    params.connection_attempts = 1
    params.socket_timeout = 10
    params.client_properties = {"connection_name": "kanal-forwarder"}
    return params


def broker_label(broker: BrokerConfig) -> str:
    """``host:port/vhost`` of the broker, safe to log (no user, no password)."""
    return broker.label()


def describe(error: BaseException | str) -> str:
    """A short, password-free description of a pika error."""
    if isinstance(error, str):
        return error
    text = str(error) or repr(error)
    return f"{type(error).__name__}: {text}"
