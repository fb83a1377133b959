"""The forwarder: spool outbox -> RabbitMQ, with streaming publisher confirms.

It drains the outbox in ``seq`` order and publishes each complaint as a
persistent, mandatory message (the contract of :mod:`normalizer.wire`) on a pika
``SelectConnection`` in confirm mode, with up to ``confirm_window`` messages in
flight. A row leaves the outbox (``Spool.mark_forwarded``) only once the broker
acked it. Anything else - a nack, a ``basic.return`` (unroutable), a closed
channel or connection, a blocked connection past ``blocked_connection_timeout``,
confirms that stop coming - ends the session: every unconfirmed row counts as
unsent and is published again on the next session, after a tenacity backoff
(exponential, full jitter, capped). A message in doubt may therefore reach the
queue twice, always with the same ``message_id``; consumers drop repeats.

While the broker is away the channels go on committing into the spool; the
forwarder catches up when it returns.

The package, one responsibility per module:

* :mod:`kanal.forwarder.service` - :class:`Forwarder`: sessions one after another,
  backoff, crash counting, running totals;
* :mod:`kanal.forwarder.session` - one connection's life on the pika IO loop;
* :mod:`kanal.forwarder.connection` - connection parameters, error descriptions,
  and closing a connection whose broker does not answer;
* :mod:`kanal.forwarder.window` - the confirm window: what is in flight, what the
  broker confirmed or returned;
* :mod:`kanal.forwarder.outbox` - the outbox side: what to publish next, as which
  AMQP message, and removing confirmed rows.
"""

from kanal.forwarder.connection import broker_label, connection_parameters
from kanal.forwarder.outbox import basic_properties, wire_message
from kanal.forwarder.service import Forwarder, ForwarderCrashed, ForwarderStats, SessionFailed

__all__ = [
    "Forwarder",
    "ForwarderCrashed",
    "ForwarderStats",
    "SessionFailed",
    "basic_properties",
    "broker_label",
    "connection_parameters",
    "wire_message",
]
