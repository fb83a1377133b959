"""The forwarder's broker connection: its pika parameters, a safe label, short error
descriptions for logs, and what becomes of a connection whose broker does not answer
our close.

pika has no public way to abort a connection. A session that gets no reply to its
close within :data:`CLOSE_GRACE` therefore stops waiting and hands the connection to
:func:`finish_closing`, which runs the connection's own IO loop on a thread of its
own until pika completes the close: the broker's Close-Ok, a socket error, or pika's
heartbeat checker, which drops a link that has been silent for the negotiated
heartbeat (``broker.heartbeat``; at most about 2 x (heartbeat + 5) s).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import pika
import pika.exceptions
from pika.adapters.select_connection import SelectConnection

from config.models import BrokerConfig

#: How long the broker gets to answer a connection close before the session stops waiting.
CLOSE_GRACE = 2.0
#: Longest time a connection handed to :func:`finish_closing` may take to close, seconds
#: (a bound for heartbeats turned off: the connection is then left to the garbage collector).
CLOSE_GIVE_UP = 120.0


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


def finish_closing(connection: SelectConnection, log: Any, give_up: float = CLOSE_GIVE_UP) -> threading.Thread:
    """Let ``connection``, whose close the broker has not answered, finish closing on a
    daemon thread that runs its IO loop, so the caller can go on (start a new session).

    The loop stops when the connection is closed (its ``on_close_callback`` stops
    it) or after ``give_up`` seconds. Returns the thread.
    """
    ioloop = connection.ioloop

    def wait() -> None:
        ioloop.call_later(give_up, ioloop.stop)
        with contextlib.suppress(pika.exceptions.ConnectionWrongStateError):
            if connection.is_open:
                connection.close()
        try:
            ioloop.start()
        except (pika.exceptions.AMQPError, OSError) as exc:  # the link is gone, which is what we waited for
            log.debug("broker connection closed with an error", reason=describe(exc))
        if not connection.is_closed:
            log.warning("broker connection still not closed; left to the garbage collector", waited=give_up)

    thread = threading.Thread(target=wait, name="kanal-forwarder-closing", daemon=True)
    thread.start()
    return thread
