"""One AMQP channel in transaction mode, as the router uses it: publish, ack, commit.

The router's delivery semantics rest on one property of ``tx.commit``: the broker
answers ``tx.commit-ok`` only once it has applied what the transaction holds. It does
not apply a transaction that spans several quorum queues atomically when the publisher
dies meanwhile, so the router commits its publishes and its acks apart
(router/consumer.py says what that guarantees). This module is the only place that
speaks to the channel for it, through py-amqp's public channel API:

* :meth:`TxChannel.publish` sends a ``basic.publish`` (persistent, ``mandatory`` when
  asked) straight on the channel. kombu's ``Producer.publish`` would add its serializer,
  compression and retry layers, which the router does not use: measured, the direct
  call takes 46–64 µs per message against 62–76 µs through kombu (the contract's
  headers, 1.5 KB body, one process on a quiet 2-core machine).
* :meth:`TxChannel.ack_through` acks every delivery up to a tag with one
  ``basic.ack multiple``: a batch is acked whole in its own transaction, and deliveries
  on one channel arrive in tag order, so one frame does what one per message did.
* :meth:`TxChannel.commit` sends ``tx.commit`` and returns what the broker handed back
  with ``basic.return`` while executing it (those frames precede ``tx.commit-ok``).

:func:`router_connection` opens the router's kombu connection without RabbitMQ's
``connection.blocked`` notices: with them on, py-amqp polls the socket before every
publish to run an ``on_blocked`` callback, which the router does not have (a blocked
broker stops reading; the router's next commit then waits, as it would anyway). The
poll was about a tenth of the router's CPU (py-spy, GIL samples). py-amqp documents
``negotiate_capabilities`` for this, and kombu takes a transport class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

import amqp
import kombu
from kombu.transport import pyamqp


class _WithoutBlockedNotices(pyamqp.Connection):
    """kombu's py-amqp connection, telling the broker it does not take ``connection.blocked``."""

    negotiate_capabilities: ClassVar[dict[str, bool]] = {
        **pyamqp.Connection.negotiate_capabilities, "connection.blocked": False,
    }


class _Transport(pyamqp.Transport):
    Connection = _WithoutBlockedNotices


class _SSLTransport(pyamqp.SSLTransport):
    Connection = _WithoutBlockedNotices


def router_connection(url: str, **options: Any) -> kombu.Connection:
    """A kombu connection (``amqp://`` or ``amqps://``) for the router; see the module docstring."""
    transport = _SSLTransport if urlsplit(url).scheme == "amqps" else _Transport
    return kombu.Connection(url, transport=transport, **options)


@dataclass(slots=True)
class Returned:
    """What the broker returned (``basic.return``) during one commit, by ``message_id``."""

    #: Routed messages, complaint id -> reason.
    routed: dict[str, str] = field(default_factory=dict)
    #: Integrity copies, copy message id -> reason (their complaints did reach an agency).
    copies: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.routed or self.copies)


class TxChannel:
    """A py-amqp channel put in transaction mode (``tx.select``) for the router.

    Args:
        channel: an open py-amqp channel (kombu's ``Connection.channel()`` on the
            ``pyamqp`` transport is one). Not shared with another thread.
    """

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self._returned = Returned()
        channel.events["basic_return"].add(self._on_return)
        channel.tx_select()

    def publish(self, body: bytes, exchange: str, routing_key: str, *, mandatory: bool = False,
                **properties: Any) -> None:
        """Publish in the open transaction; ``properties`` are AMQP basic properties
        (``application_headers`` for the headers). Persistent unless ``delivery_mode`` says."""
        properties.setdefault("delivery_mode", 2)
        self.channel.basic_publish(amqp.Message(body, **properties), exchange=exchange, routing_key=routing_key,
                                   mandatory=mandatory)

    def ack_through(self, delivery_tag: int) -> None:
        """Ack every unacked delivery of this channel up to ``delivery_tag``, in the open transaction."""
        self.channel.basic_ack(delivery_tag, multiple=True)

    def commit(self) -> Returned:
        """Commit the open transaction; returns once the broker answered ``tx.commit-ok``,
        with what it returned while executing the commit."""
        self._returned = Returned()
        self.channel.tx_commit()
        returned, self._returned = self._returned, Returned()
        return returned

    def _on_return(self, exc: Any, exchange: str, routing_key: str, message: Any) -> None:
        props = message.properties or {}
        mid = str(props.get("message_id") or "")
        code, text = getattr(exc, "reply_code", ""), getattr(exc, "reply_text", "") or str(exc)
        reason = f"unroutable: no queue bound for {routing_key!r} on {exchange!r} ({code} {text})"
        if (props.get("application_headers") or {}).get("kanal_copy_of"):
            self._returned.copies[mid] = reason
        else:
            self._returned.routed[mid] = reason
