"""Complaints that left a ``kanal run`` spool but that no router ever routed.

The forwarder marks a complaint ``forwarded_at`` in the spool's ledger once the broker
confirmed it on the intake queue; every router claims a complaint id in the shared
dedup store before it acks the intake message. A forwarded id with no claim after a
settling time is still on the intake queue (a router backlog or outage), on the
dead-letter queue (poison or unroutable), or was taken off the intake queue by
something other than a router. A router crash cannot leave one acked and unclaimed
(router/consumer.py).

Ops look them up with ``kanal router unrouted`` (kanal/commands/router.py) and can put
them back in the spool's outbox with ``--replay``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from router.dedup import DedupStore


@dataclass(frozen=True)
class Unrouted:
    """One forwarded complaint the dedup store has no claim for."""

    complaint_id: str
    channel: str
    provider_message_id: str
    forwarded_at: float


def find_unrouted(forwarded: Iterable[tuple[str, str, str, float]], dedup: DedupStore) -> list[Unrouted]:
    """The rows of ``forwarded`` (id, channel, provider id, forwarded_at; from
    :meth:`kanal.spool.Spool.forwarded_between`) whose id the dedup store never claimed."""
    rows = list(forwarded)
    routed = dedup.routed_among([row[0] for row in rows]) if rows else set()
    return [Unrouted(cid, channel, provider_id, at) for cid, channel, provider_id, at in rows if cid not in routed]
