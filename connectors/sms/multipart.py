"""Reassembly of multipart SMS: which parts make one message, and when to stop waiting.

Both Gammu backends see each physical part separately (a file or a row). Parts of
one message share a group key; they are ordered by their sequence number. A group
is complete when every part is there; an incomplete group is waited for up to
``timeout`` seconds from when Kanal first saw it, then each part present is taken
on its own and flagged incomplete, as Gammu SMSD does with its MultipartTimeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Part(Generic[T]):
    """One physical part.

    Attributes:
        key: what the parts of one message share.
        sequence: 1-based position in the message.
        total: number of parts when the part says so (a UDH); None when unknown
            (Gammu files: then the parts present must run 1..n without a gap).
        item: the backend's own record (file, row).
    """

    key: Hashable
    sequence: int
    total: int | None
    item: T


@dataclass(frozen=True, slots=True)
class Assembled(Generic[T]):
    """Parts to take as one message, in order; ``complete`` is False for a part taken
    alone after the timeout."""

    parts: tuple[T, ...]
    complete: bool


def is_complete(parts: list[Part[T]]) -> bool:
    """True when ``parts`` (sorted, distinct sequences) make a whole message."""
    sequences = [p.sequence for p in parts]
    totals = {p.total for p in parts if p.total is not None}
    if totals:
        return len(totals) == 1 and sequences == list(range(1, totals.pop() + 1))
    return sequences == list(range(1, len(sequences) + 1))


class MultipartWaiter:
    """Decides, poll after poll, which groups of parts are ready to take.

    Parameters:
        timeout: seconds to wait for missing parts from when a group is first seen.
        clock: monotonic seconds (tests may pass their own).
    """

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.clock = clock
        self._first_seen: dict[Hashable, float] = {}

    def ready(self, parts: Iterable[Part[T]]) -> list[Assembled[T]]:
        """Group ``parts`` and return what can be taken now, oldest group first."""
        now = self.clock()
        groups: dict[Hashable, list[Part[T]]] = {}
        for part in parts:
            groups.setdefault(part.key, []).append(part)
        self._first_seen = {k: self._first_seen.get(k, now) for k in groups}
        out: list[Assembled[T]] = []
        for key, members in groups.items():
            members.sort(key=lambda p: p.sequence)
            distinct: list[Part[T]] = []
            for part in members:
                if not distinct or distinct[-1].sequence != part.sequence:
                    distinct.append(part)
            if is_complete(distinct):
                out.append(Assembled(tuple(p.item for p in distinct), complete=True))
            elif now - self._first_seen[key] >= self.timeout:
                out.extend(Assembled((p.item,), complete=False) for p in distinct)
        return out

    def waiting(self) -> int:
        """How many groups are being waited for (or were seen in the last poll)."""
        return len(self._first_seen)
