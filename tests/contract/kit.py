"""What a channel type hands the contract suite: a :class:`ContractCase` per variant."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from connectors.base import ChannelContext, Connector, RawMessage

#: One fixed receipt time, so a raw message built twice is the same raw message.
RECEIVED = datetime(2026, 11, 27, 2, 15, tzinfo=UTC)


@dataclass(frozen=True)
class ContractCase:
    """One variant of a channel type, as the contract suite exercises it.

    Attributes:
        name: the variant, for messages (``sms/kannel``).
        make: builds a fresh connector (the suite builds two to show ``normalise``
            depends on the raw message only, not on an instance's state).
        good: raw messages exactly as the connector's ``fetch`` or webhook handler
            makes them, each a distinct complaint.
        bad: a raw message the connector cannot read (it must be quarantined).
    """

    name: str
    make: Callable[[], Connector]
    good: tuple[RawMessage, ...]
    bad: RawMessage


def channel_context(name: str, type_name: str) -> ChannelContext:
    """The context the daemon gives a channel."""
    return ChannelContext(name, type_name, 60, 10_000_000, 25_000_000,
                          structlog.get_logger("kanal.contract").bind(channel=name))


def raw(source_id: str, payload: bytes, **metadata: object) -> RawMessage:
    """A raw message received at :data:`RECEIVED`."""
    return RawMessage(source_id, payload, RECEIVED, metadata)
