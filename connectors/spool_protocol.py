"""What the runner needs from the spool, as a :class:`typing.Protocol`.

:class:`kanal.spool.Spool` implements it; the runner and its helpers depend only on
this, so connectors/ never imports kanal/ (imports point down only).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from connectors.base import UNCHANGED, IngestResult, Outcome

if TYPE_CHECKING:
    import uuid


class SpoolWriter(Protocol):
    """What the runner needs from the spool (implemented by :class:`kanal.spool.Spool`)."""

    def commit(
        self, channel: str, channel_type: str, outcomes: Sequence[Outcome], checkpoint: Any = UNCHANGED,
        wait: float | None = None,
    ) -> list[IngestResult]:
        """Store outcomes and the checkpoint in one transaction, waiting at most ``wait``
        seconds for a lock (None: the spool's own timeout)."""
        ...

    def load_checkpoint(self, channel: str) -> Any:
        """The last committed checkpoint of a channel instance."""
        ...

    def known_ids(self, ids: Iterable[uuid.UUID | str]) -> set[str]:
        """Which complaint ids were already taken in."""
        ...

    def ids_by_provider_id(self, channel: str, provider_ids: Iterable[str]) -> dict[str, str]:
        """The complaint id first taken in under each provider message id of a channel."""
        ...

    def set_state(
        self, channel: str, channel_type: str, state: str, detail: str | None = None, error: str | None = None
    ) -> None:
        """Record a channel's state."""
        ...

    def mark_success(self, channel: str, channel_type: str) -> None:
        """Record a successful empty poll."""
        ...

    def count(self, channel: str, name: str, by: int = 1) -> None:
        """Add to a named counter."""
        ...

    def save_state(self, channel: str, key: str, value: Any) -> None:
        """Store a channel's state value durably, at once."""
        ...

    def load_state(self, channel: str, key: str) -> Any:
        """A channel's state value, or None."""
        ...

    def held_ready(self, channel: str, timeout: float) -> Sequence[Any]:
        """Held parts to take now: groups with ``key``, ``parts`` (each with ``pid``
        and ``raw``) and ``complete`` (see :mod:`kanal.held_parts`)."""
        ...
