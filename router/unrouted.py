"""Complaints that left a ``kanal run`` spool but that no router ever routed.

The forwarder marks a complaint ``forwarded_at`` in the spool's ledger once the broker
confirmed it on the intake queue; every router claims a complaint id in the shared
dedup store when it routes it. A forwarded id with no claim after a settling time is
one of two kinds, told apart by the dedup store's in-doubt journal (router/dedup.py):

* **not claimed**: no router ever had it in a commit. It is still on the intake queue
  (a router backlog or outage), on the dead-letter queue (poison or unroutable), or was
  taken off the intake queue by something other than a router. No router crash can
  have lost it.
* **in doubt**: a router had it in an AMQP commit and died before it saw the end of it.
  Usually the broker applied that commit and the complaint is on its agency queue; a
  router killed while RabbitMQ applied its ``tx.commit`` can also leave the intake ack
  applied and the routed publish dropped (docs/router.md, *Cross-queue transactions*).
  Only the CRM can tell which.

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
    #: True when a router had it in an AMQP commit it did not see the end of.
    in_doubt: bool = False


def find_unrouted(forwarded: Iterable[tuple[str, str, str, float]], dedup: DedupStore) -> list[Unrouted]:
    """The rows of ``forwarded`` (id, channel, provider id, forwarded_at; from
    :meth:`kanal.spool.Spool.forwarded_between`) whose id the dedup store never claimed,
    each marked in doubt or not."""
    rows = list(forwarded)
    routed = dedup.routed_among([row[0] for row in rows]) if rows else set()
    missing = [row for row in rows if row[0] not in routed]
    noted = dedup.noted_in_doubt([row[0] for row in missing]) if missing else set()
    return [Unrouted(cid, channel, provider_id, at, cid in noted) for cid, channel, provider_id, at in missing]
