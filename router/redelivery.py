"""Where an intake message goes when it cannot be routed now: retried, then dead-lettered.

A message whose body is not a valid complaint, whose routing raised, or whose routed
message the broker returned (no queue bound) is retried: a copy goes to the tail of the
intake queue with the attempt counted in ``kanal_attempts`` (a requeueing reject is
refused inside an AMQP transaction on RabbitMQ, so the retry is a copy). After
``delivery_limit`` tries it goes to the dead-letter exchange with the reason in its
headers: ``kanal_dead_reason``, ``kanal_error``, ``kanal_deliveries``, ``kanal_dead_at``.
A returned integrity copy goes to the dead-letter exchange at once, with
``kanal_copy_of`` naming its complaint (which did reach its agency).

Everything here publishes in the caller's open transaction (router/transaction.py);
the caller commits it, and acks the original afterwards, with its batch, in the next one.
"""

from __future__ import annotations

import time
from typing import Any

import structlog

from config.models import TopologyConfig
from router.decision import Copy
from router.transaction import TxChannel

log = structlog.get_logger("kanal.router")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Redelivery:
    """Retries and dead-letters for one router channel.

    Args:
        tx: the router's channel in transaction mode.
        topology: the intake queue, dead-letter exchange and ``delivery_limit``.
    """

    def __init__(self, tx: TxChannel, topology: TopologyConfig) -> None:
        self.tx = tx
        self.topology = topology

    def retry_or_dead_letter(self, message: Any, reason: str, dead_reason: str = "poison") -> bool:
        """Retry ``message`` (a kombu delivery) or, at its last try, dead-letter it with
        ``reason``; returns True when it was dead-lettered."""
        headers = dict(message.headers or {})
        delivery = max(int(headers.get("x-delivery-count") or 0), int(headers.get("kanal_attempts") or 0)) + 1
        if delivery < self.topology.delivery_limit:
            headers["kanal_attempts"] = delivery
            self._republish(message, "", self.topology.intake_queue, headers)
            return False
        headers.update({"kanal_dead_reason": dead_reason, "kanal_error": reason[:1000], "kanal_deliveries": delivery,
                        "kanal_dead_at": _now()})
        key = message.delivery_info.get("routing_key") or self.topology.intake_routing_key
        self._republish(message, self.topology.dead_letter_exchange, key, headers)
        log.error("message dead-lettered", message_id=message.properties.get("message_id"),
                  reason=dead_reason, deliveries=delivery)
        return True

    def dead_letter_copy(self, copy: Copy, copy_of: str, reason: str) -> None:
        """Dead-letter a returned integrity copy of complaint ``copy_of`` with ``reason``."""
        log.error("integrity copy returned by the broker; dead-lettered", message_id=copy.message_id,
                  copy_of=copy_of, reason=reason[:300])
        headers = {"kanal_dead_reason": "unroutable", "kanal_error": reason[:1000], "kanal_deliveries": 1,
                   "kanal_copy_of": copy_of, "kanal_dead_at": _now()}
        self.tx.publish(copy.body, self.topology.dead_letter_exchange, copy.routing_key,
                        application_headers=headers, message_id=copy.message_id,
                        content_type="application/json", content_encoding="utf-8")

    def _republish(self, message: Any, exchange: str, routing_key: str, headers: dict[str, Any]) -> None:
        """Publish a copy of ``message`` with ``headers``: same body and properties, persistent."""
        props = message.properties
        optional = {k: props[k] for k in ("message_id", "type", "timestamp") if props.get(k) is not None}
        self.tx.publish(message.body, exchange, routing_key, application_headers=headers,
                        content_type=message.content_type or "application/octet-stream",
                        content_encoding=message.content_encoding or "binary", **optional)
