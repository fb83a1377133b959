"""Cross-channel duplicates: the same complaint sent twice, linked instead of dispatched twice.

Two complaints are linked (``duplicate_of`` = the earlier one) when, within the
window, either

* the same person (same phone, e-mail or handle, whatever the channel) reports the
  same category again, or
* the texts are nearly the same (Jaccard similarity of their normalised word sets at
  or above ``min_similarity``) about the same kelurahan (or kecamatan when that is all
  that is known).

This index lives in the router's memory (the embedded default, tests, a single
router); with a PostgreSQL dedup store the routers share
:class:`router.shared_duplicates.PostgresDuplicateIndex` instead.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from normalizer.complaint import Complaint


@dataclass(slots=True)
class _Seen:
    complaint_id: str
    at: datetime
    category: str | None
    place: str | None
    words: frozenset[str]
    identities: tuple[str, ...] = field(default=())


def identities(complaint: Complaint) -> tuple[str, ...]:
    """Channel-independent keys of the reporter (phone, e-mail, provider handle)."""
    r = complaint.reporter
    keys = []
    if r.phone:
        keys.append(f"phone:{r.phone}")
    if r.email:
        keys.append(f"email:{r.email.lower()}")
    if r.handle:
        keys.append(f"handle:{complaint.channel.type}:{r.handle.lower().lstrip('@')}")
    return tuple(keys)


class DuplicateIndex:
    """Recent complaints, for near-duplicate linking.

    Args:
        window: how far back a complaint can be the original.
        min_similarity: Jaccard threshold for "nearly the same text".
        max_entries: memory cap; the oldest entries go first.
    """

    def __init__(self, window: timedelta = timedelta(hours=72), min_similarity: float = 0.7,
                 max_entries: int = 100_000) -> None:
        self.window = window
        self.min_similarity = min_similarity
        self.max_entries = max_entries
        self._recent: deque[_Seen] = deque()
        self._by_identity: dict[str, list[_Seen]] = {}
        self._by_place: dict[str, list[_Seen]] = {}

    def check_and_add(self, complaint: Complaint, words: frozenset[str], category: str | None,
                      place: str | None) -> str | None:
        """Return the id of the earlier complaint this one duplicates (or None), and remember it."""
        now = complaint.received_at
        self._expire(now)
        cid = str(complaint.id)
        seen = _Seen(cid, now, category, place, words, identities(complaint))
        original = self._find(seen)
        self._add(seen)
        return original

    def check_and_add_many(self, items: list[tuple[Complaint, frozenset[str], str | None, str | None]]
                           ) -> list[str | None]:
        """:meth:`check_and_add` for ``(complaint, words, category, place)`` items, in order."""
        return [self.check_and_add(*item) for item in items]

    def _find(self, seen: _Seen) -> str | None:
        for key in seen.identities if seen.category else ():  # a same-reporter link needs a category
            for old in self._by_identity.get(key, ()):
                if old.complaint_id != seen.complaint_id and old.category == seen.category:
                    return old.complaint_id
        if seen.place and seen.words:
            for old in self._by_place.get(seen.place, ()):
                if old.complaint_id != seen.complaint_id and jaccard(old.words, seen.words) >= self.min_similarity:
                    return old.complaint_id
        return None

    def _add(self, seen: _Seen) -> None:
        self._recent.append(seen)
        for key in seen.identities:
            self._by_identity.setdefault(key, []).append(seen)
        if seen.place:
            self._by_place.setdefault(seen.place, []).append(seen)
        while len(self._recent) > self.max_entries:
            self._forget(self._recent.popleft())

    def _expire(self, now: datetime) -> None:
        horizon = now - self.window
        while self._recent and self._recent[0].at < horizon:
            self._forget(self._recent.popleft())

    def _forget(self, seen: _Seen) -> None:
        for bucket, key in [(self._by_identity, k) for k in seen.identities] + (
            [(self._by_place, seen.place)] if seen.place else []
        ):
            entries = bucket.get(key)
            if entries and seen in entries:
                entries.remove(seen)
                if not entries:
                    del bucket[key]


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two word sets (0 when either is empty)."""
    return len(a & b) / len(a | b) if a and b else 0.0
